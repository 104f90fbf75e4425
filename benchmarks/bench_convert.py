#!/usr/bin/env python
"""TIFF to tiled zarr: this plugin's `convert` (with the full pyramid) against the reference ways.

    python benchmarks/bench_convert.py [--sizes 16384 32768] [--repeats 3] [--out benchmarks/out]

Same input, same run, each way in its own process: the notebook's way (load whole, zarr.array), the streaming
tifffile -> dask -> zarr copy (no pyramid), ome-zarr-py's pyramid writer (from the streaming copy's zarr),
and `napari-zarr-tiles convert`. Prints the median time, the peak resident memory of each process, the
output size, and the ratios of this plugin to each reference.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHORS = HERE.parent.parent / "shared" / "bench" / "anchors.py"
MAKE_TIFF = HERE.parent.parent / "shared" / "bench" / "make_big_tiff.py"
CLI = Path(sys.executable).with_name("napari-zarr-tiles")


# Linux counts, in a child's peak memory, the memory of the process that forked it (the high-water mark is
# carried across fork and exec): once this harness has grown (comparing outputs), every child it starts
# would seem at least as big. So each child is started by a small launcher, which reports its figures.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""


def compile_package() -> None:
    """Compile this package's modules once, as installing it would: an editable install under
    PYTHONDONTWRITEBYTECODE (set on these machines) otherwise compiles them in every run, which the
    references, installed as usual, never do."""
    import compileall

    import napari_zarr_tiles

    compileall.compile_dir(Path(napari_zarr_tiles.__file__).parent, quiet=1)


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one child process."""
    report = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *map(str, command)], check=True,
                            capture_output=True, text=True).stdout.split()
    seconds, peak, status = float(report[0]), float(report[1]), int(report[2])
    if status != 0:
        raise RuntimeError(f"{command} failed with status {status}")
    return seconds, peak


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16384, 32768])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    compile_package()
    args.out.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        tiff = args.out / f"big{size}.tif"
        if not tiff.exists():
            subprocess.run([sys.executable, str(MAKE_TIFF), str(tiff), str(size)], check=True, capture_output=True)
        stream_dst = args.out / f"bench-stream{size}.zarr"
        ways = {
            "notebook (load whole)": [sys.executable, str(ANCHORS), "seed_convert", str(tiff), str(args.out / "bench-seed.zarr")],
            "streaming copy": [sys.executable, str(ANCHORS), "stream_convert", str(tiff), str(stream_dst)],
            "ome-zarr-py pyramid": [sys.executable, str(ANCHORS), "omezarr_pyramid", str(stream_dst), str(args.out / "bench-omezarr.zarr")],
            "this plugin convert": [str(CLI), "convert", str(tiff), str(args.out / "bench-ours.zarr"), "--overwrite"],
        }
        outputs = {"notebook (load whole)": "bench-seed.zarr", "streaming copy": stream_dst.name,
                   "ome-zarr-py pyramid": "bench-omezarr.zarr", "this plugin convert": "bench-ours.zarr"}
        results = {}
        print(f"\n{size}x{size} uint16 tiled TIFF ({tiff.stat().st_size / 1e6:.0f} MB), median of {args.repeats}")
        for _ in range(args.repeats):
            for name, command in ways.items():  # interleaved, so that a noisy moment hurts every way alike
                results.setdefault(name, []).append(measure(command))
        for name, runs in results.items():
            seconds = statistics.median(run[0] for run in runs)
            peak = statistics.median(run[1] for run in runs)
            results[name] = (seconds, peak)
            print(f"  {name:22s} {seconds:7.2f} s  peak {peak:6.0f} MB  output {size_mb(args.out / outputs[name]):7.0f} MB")
        ours = results["this plugin convert"]
        for name, (seconds, peak) in results.items():
            if name != "this plugin convert":
                print(f"  this plugin / {name}: time {ours[0] / seconds:.2f}x, peak memory {ours[1] / peak:.2f}x")
        for name in outputs.values():
            shutil.rmtree(args.out / name, ignore_errors=True)


if __name__ == "__main__":
    main()
