#!/usr/bin/env python
"""First frame in a real napari window: this plugin against napari's own reader and napari-ome-zarr.

    python benchmarks/bench_reader.py [--size 16384] [--repeats 3] [--out benchmarks/out]

Inputs, made once with the shared generator and reference scripts (../shared/bench): a SIZE x SIZE uint16 tiled
TIFF, copied to a single-scale zarr v2 array (1024 x 1024 Blosc zstd tiles, the streaming copy), and an
OME-Zarr pyramid of that array written by ome-zarr-py. Each reader opens each input in its own fresh process
(run on Xvfb where there is no display), REPEATS times; the medians and the ratios to this plugin are printed.
The page cache is warm for every run alike (the inputs were just written or read).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench_convert import compile_package

HERE = Path(__file__).resolve().parent
SHARED_BENCH = HERE.parent.parent / "shared" / "bench"
READERS = {"this plugin": "napari-zarr-tiles", "napari builtins": "napari", "napari-ome-zarr": "napari-ome-zarr"}


def run(*command: str | Path) -> str:
    return subprocess.run([str(part) for part in command], check=True, capture_output=True, text=True).stdout


def make_inputs(out: Path, size: int) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    tiff, single, pyramid = out / f"big{size}.tif", out / f"single{size}.zarr", out / f"pyramid{size}.ome.zarr"
    if not tiff.exists():
        run(sys.executable, SHARED_BENCH / "make_big_tiff.py", tiff, str(size))
    if not single.exists():
        run(sys.executable, SHARED_BENCH / "anchors.py", "stream_convert", tiff, single)
    if not pyramid.exists():
        run(sys.executable, SHARED_BENCH / "anchors.py", "omezarr_pyramid", single, pyramid)
    return {"single-scale zarr": single, "OME-Zarr pyramid (ome-zarr-py)": pyramid}


def first_frame(path: Path | list[Path], plugin: str) -> dict:
    """``path`` (or several paths, opened together) in a fresh process's shown window, to the first frame."""
    first, *more = path if isinstance(path, list) else [path]
    command = [sys.executable, str(HERE / "first_frame.py"), str(first), plugin, *map(str, more)]
    if not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", *command]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return json.loads(lines[-1])


def first_frames(path: Path, readers: dict[str, str], repeats: int) -> dict[str, dict]:
    """Each reader's first frame of ``path``, ``repeats`` times, interleaved; one line of medians each
    printed; the medians (seconds, read_mb, peak_mb) of the readers that took ``path``."""
    all_runs = {name: [] for name in readers}
    for _ in range(repeats):  # interleaved, so that a noisy moment hurts every reader alike
        for name, plugin in readers.items():
            all_runs[name].append(first_frame(path, plugin))
    medians = reader_medians(all_runs, ("seconds", "read_mb", "peak_mb"))
    for name, m in medians.items():
        runs = all_runs[name]
        print(
            f"  {name:16s} {m['seconds']:6.2f} s  read {m['read_mb']:8.1f} MB  peak {m['peak_mb']:7.0f} MB  "
            f"pixel std {runs[0]['pixel_std']:5.1f}  multiscale {runs[0]['multiscale']}  "
            f"contrast {runs[0]['contrast_limits']}  runs {[round(run['seconds'], 2) for run in runs]}"
        )
    return medians


def size_arguments(description: str, **more: float) -> argparse.Namespace:
    """The options the benchmarks on the synthetic image share: its size, the repeats, where inputs go; and
    ``more`` of a benchmark's own, numbers with their defaults (``limit=300.0``: ``--limit``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    for name, default in more.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    return parser.parse_args()


def reader_medians(all_runs: dict[str, list[dict]], keys: tuple[str, ...]) -> dict[str, dict]:
    """Each reader's medians of ``keys`` over its runs; a reader that refused the input is said and left out."""
    medians = {}
    for name, runs in all_runs.items():
        if "error" in runs[0]:
            print(f"  {name:16s} refused: {runs[0]['error']}")
            continue
        medians[name] = {key: statistics.median(run[key] for run in runs) for key in keys}
    return medians


def main() -> None:
    args = size_arguments(__doc__)
    compile_package()
    inputs = make_inputs(args.out, args.size)
    print(f"first frame, {args.size}x{args.size} uint16, median of {args.repeats} fresh processes, readers interleaved")
    for label, path in inputs.items():
        print(f"\n{label}: {path}")
        medians = first_frames(path, READERS, args.repeats)
        ours = medians.get("this plugin")
        for name, m in medians.items():
            if ours and name != "this plugin":
                print(
                    f"  this plugin / {name}: time {ours['seconds'] / m['seconds']:.2f}x, "
                    f"peak memory {ours['peak_mb'] / m['peak_mb']:.2f}x, read {ours['read_mb'] / max(m['read_mb'], 0.1):.2f}x"
                )


if __name__ == "__main__":
    main()
