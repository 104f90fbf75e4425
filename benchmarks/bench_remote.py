#!/usr/bin/env python
"""First frame of the 16384² OME-Zarr pyramid over HTTP with 100 ms per request: this plugin against
napari-ome-zarr on the same URL; and zarr's two remote stores (obstore, fsspec) on the same server.

    python benchmarks/bench_remote.py [--size 16384] [--repeats 5] [--delay-ms 100] [--backlog 128]

The pyramid is bench_reader.py's (ome-zarr-py's writing of the streamed copy of the shared big TIFF), served by
the shared ../shared/bench/slow_http.py, which sleeps DELAY-MS before each answer (a remote archive's round
trip). The server is run with a listen backlog of BACKLOG: socketserver's default of 5 drops the 7th
connection that arrives at once (each request is a connection: HTTP/1.0), and the client tries it again
only after a second, which no web server in front of an archive does; ``--backlog 5`` measures that too.
The server counts the requests and the bytes it sends. Each reader opens the URL in its own fresh process
with a shown window, the readers interleaved, REPEATS times; medians and ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_BENCH = HERE.parent.parent / "shared" / "bench"
READERS = {"this plugin": "napari-zarr-tiles", "napari-ome-zarr": "napari-ome-zarr"}


def serve(folder: str, port: int, delay_ms: float, backlog: int, counts: str) -> None:
    """Child process: slow_http.py serving ``folder``, with the requests and bytes counted into ``counts``."""
    import http.server
    import runpy
    import socketserver
    import threading

    socketserver.TCPServer.request_queue_size = backlog
    lock, served = threading.Lock(), {"requests": 0, "bytes": 0}
    handle = http.server.SimpleHTTPRequestHandler.handle_one_request

    def save() -> None:
        Path(counts).write_text(json.dumps(served))

    def handle_one_request(self):
        with lock:
            served["requests"] += 1
            save()
        handle(self)

    def copyfile(self, source, target):
        data = source.read()
        target.write(data)
        with lock:
            served["bytes"] += len(data)
            save()

    http.server.SimpleHTTPRequestHandler.handle_one_request = handle_one_request
    http.server.SimpleHTTPRequestHandler.copyfile = copyfile
    sys.argv = ["slow_http.py", folder, "--port", str(port), "--delay-ms", str(delay_ms)]
    runpy.run_path(str(SHARED_BENCH / "slow_http.py"), run_name="__main__")


def store_child(kind: str, url: str) -> None:
    """Child process: open the pyramid at ``url`` through one of zarr's remote stores, read the coarsest level
    (1 chunk), then 8192² of level 0 (64 chunks); print the seconds of each (imports included in the first)."""
    start = time.perf_counter()
    import zarr

    if kind == "obstore":
        from obstore.store import HTTPStore
        from zarr.storage import ObjectStore

        store = ObjectStore(HTTPStore.from_url(url, client_options={"allow_http": True}), read_only=True)
    else:
        from zarr.storage import FsspecStore

        store = FsspecStore.from_url(url, read_only=True)
    zarr.open_group(store, mode="r")
    zarr.open_array(store, path="s4", mode="r")[...]
    first = time.perf_counter() - start
    level0 = zarr.open_array(store, path="s0", mode="r")
    start = time.perf_counter()
    level0[:8192, :8192]
    print(json.dumps({"first": first, "chunks64": time.perf_counter() - start}))


def reader_child(plugin: str, url: str) -> None:
    """Child process: the reader alone, its modules imported before the clock starts: the layer data for
    ``url`` and the coarsest level's pixels (what the first frame draws); print the seconds."""
    import numpy as np

    if plugin == "napari-zarr-tiles":
        from napari_zarr_tiles._reader import napari_get_reader
    else:
        import fsspec.implementations.http  # noqa: F401 - ome-zarr-py reads URLs through it, imported when first asked
        import ome_zarr.io
        import ome_zarr.reader  # noqa: F401
        from napari_ome_zarr import napari_get_reader
    start = time.perf_counter()
    layers = napari_get_reader(url)(url)
    data = layers[0][0]
    np.asarray(data[-1] if isinstance(data, list | tuple) else data)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def counted(counts: Path) -> dict:
    return json.loads(counts.read_text()) if counts.exists() and counts.read_text() else {"requests": 0, "bytes": 0}


def first_frame(url: str, plugin: str) -> dict:
    command = [sys.executable, str(HERE / "first_frame.py"), url, plugin]
    if not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", *command]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--backlog", type=int, default=128)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--serve", nargs=2, metavar=("FOLDER", "COUNTS"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store-child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--reader-child", nargs=2, metavar=("PLUGIN", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.port, args.delay_ms, args.backlog, args.serve[1])
        return
    if args.store_child:
        store_child(*args.store_child)
        return
    if args.reader_child:
        reader_child(*args.reader_child)
        return

    from bench_convert import compile_package
    from bench_reader import make_inputs, reader_medians

    compile_package()
    pyramid = make_inputs(args.out, args.size)["OME-Zarr pyramid (ome-zarr-py)"]
    port, counts = free_port(), Path(tempfile.mkdtemp()) / "counts.json"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(pyramid.parent), str(counts), "--port", str(port),
         "--delay-ms", str(args.delay_ms), "--backlog", str(args.backlog)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        server.stdout.readline()  # "serving ..." once it listens
        url = f"http://127.0.0.1:{port}/{pyramid.name}"
        print(f"{url}: {args.size}² uint16 pyramid, {args.delay_ms:g} ms per request, listen backlog {args.backlog}")
        runs: dict[str, list[dict]] = {name: [] for name in READERS}
        for _ in range(args.repeats):  # interleaved, so that a noisy moment hurts every reader alike
            for name, plugin in READERS.items():
                before = counted(counts)
                result = first_frame(url, plugin)
                after = counted(counts)
                result.update(requests=after["requests"] - before["requests"], mb=(after["bytes"] - before["bytes"]) / 1e6)
                runs[name].append(result)
        print(f"\nfirst frame in a shown window, median of {args.repeats} fresh processes")
        medians = reader_medians(runs, ("seconds", "requests", "mb"))
        for name, m in medians.items():
            results = runs[name]
            print(f"  {name:16s} {m['seconds']:6.2f} s  {m['requests']:5.0f} requests  {m['mb']:7.2f} MB  "
                  f"pixel std {results[0]['pixel_std']:5.1f}  contrast {results[0]['contrast_limits']}")
        if len(medians) == 2:
            ours, theirs = medians["this plugin"], medians["napari-ome-zarr"]
            print(f"  this plugin / napari-ome-zarr: time {ours['seconds'] / theirs['seconds']:.2f}x, "
                  f"requests {ours['requests'] / theirs['requests']:.2f}x, bytes {ours['mb'] / theirs['mb']:.2f}x")
        print("\nthe reader alone (its modules imported first): layer data and the coarsest level's pixels")
        alone: dict[str, list[float]] = {name: [] for name in READERS}
        for _ in range(args.repeats):
            for name, plugin in READERS.items():
                out = subprocess.run([sys.executable, __file__, "--reader-child", plugin, url], check=True,
                                     capture_output=True, text=True).stdout
                alone[name].append(json.loads(out.strip().splitlines()[-1])["seconds"])
        for name, seconds in alone.items():
            print(f"  {name:16s} {statistics.median(seconds):6.2f} s")
        print(f"  this plugin / napari-ome-zarr: {statistics.median(alone['this plugin']) / statistics.median(alone['napari-ome-zarr']):.2f}x")
        print(f"\nzarr's remote stores, open + coarsest level, then 8192² of level 0 (64 chunks), median of {args.repeats}")
        stores: dict[str, list[dict]] = {"obstore": [], "fsspec": []}
        for _ in range(args.repeats):
            for kind, results in stores.items():
                out = subprocess.run([sys.executable, __file__, "--store-child", kind, url], check=True,
                                     capture_output=True, text=True).stdout
                results.append(json.loads(out.strip().splitlines()[-1]))
        for kind, results in stores.items():
            print(f"  {kind:8s} first level {statistics.median(r['first'] for r in results):5.2f} s (imports included)"
                  f"  64 chunks {statistics.median(r['chunks64'] for r in results):5.2f} s")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
