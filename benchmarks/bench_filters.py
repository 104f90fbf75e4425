#!/usr/bin/env python
"""Filters saved zarr to zarr: `napari-zarr-tiles process` against dask-image and scipy, same input, same run.

    bash scripts/with-display.sh .venv/bin/python benchmarks/bench_filters.py [--size 16384] [--repeats 3]
        [--filters gaussian median] [--no-first-frame] [--out benchmarks/out]

Input: the 16384 x 16384 uint16 single-scale zarr (1024 x 1024 Blosc zstd tiles) that bench_reader.py makes.
gaussian sigma=2 (float32 result): scipy on the whole image in memory and dask-image (../shared/bench/anchors.py)
against this plugin with its pyramid and with level 0 only (what the references write), with the references'
codec and with Blosc lz4; median size=5 (uint16): the same with filter_references.py. Each way runs in its own process, interleaved; prints median
seconds, peak resident memory, the ratios, and whether this plugin's level 0 equals scipy's result. Then the
first frame of a lazy gaussian layer over the OME-Zarr pyramid of the input, in a real window (first_frame_filter.py):
this plugin's Tile filter widget against dask-image per level.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import zarr
from bench_convert import CLI, compile_package, measure, size_mb
from bench_reader import HERE, SHARED_BENCH, make_inputs

REFERENCES = HERE / "filter_references.py"
FILTERS = {
    "gaussian": (["gaussian", "sigma=2"], {"scipy (whole image)": (SHARED_BENCH / "anchors.py", "scipy_gauss"),
                                           "dask-image": (SHARED_BENCH / "anchors.py", "daskimage_gauss")}),
    "median": (["median", "size=5"], {"scipy (whole image)": (REFERENCES, "scipy_median"),
                                      "dask-image": (REFERENCES, "daskimage_median")}),
}


def difference(ours: Path, reference: Path, rows: int = 128) -> str:
    """How level 0 of our store differs from the reference array, compared a band of rows at a time."""
    a, b = zarr.open_array(ours / "0", mode="r"), zarr.open_array(reference, mode="r")
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"different arrays: {a.shape} {a.dtype} against {b.shape} {b.dtype}"
    largest = biggest = 0.0
    for start in range(0, a.shape[0], rows):
        x, y = a[start:start + rows].astype(np.float64), b[start:start + rows].astype(np.float64)
        largest, biggest = max(largest, float(np.abs(x - y).max())), max(biggest, float(np.abs(y).max()))
    if largest == 0:
        return "equal, bit for bit"
    return f"largest difference {largest:.3g} on values up to {biggest:.3g} ({largest / biggest:.2g} relative)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--filters", nargs="*", default=list(FILTERS), choices=list(FILTERS))
    parser.add_argument("--no-first-frame", action="store_true", help="skip the first-frame runs (they need a display)")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    compile_package()
    source = make_inputs(args.out, args.size)["single-scale zarr"]
    for name in args.filters:
        step, references = FILTERS[name]
        outputs = {way: args.out / f"bench-{name}-{index}.zarr" for index, way in enumerate(references)}
        ways = {way: [sys.executable, str(script), mode, str(source), str(outputs[way])]
                for way, (script, mode) in references.items()}
        # The same codec as the references (Blosc zstd 3, bit shuffle: the default), then Blosc lz4 for scale.
        ours = {"this plugin (pyramid)": [], "this plugin (level 0 only)": ["--no-pyramid"],
                "this plugin (level 0, lz4)": ["--no-pyramid", "--compressor", "blosc-lz4"]}
        for index, (way, extra) in enumerate(ours.items()):
            outputs[way] = args.out / f"bench-{name}-ours{index}.zarr"
            ways[way] = [str(CLI), "process", str(source), str(outputs[way]), *step, "--overwrite", *extra]
        runs: dict[str, list] = {way: [] for way in ways}
        print(f"\n{' '.join(step)} on {source.name} ({args.size}x{args.size} uint16), median of {args.repeats}")
        for _ in range(args.repeats):
            for way, command in ways.items():  # interleaved, so that a noisy moment hurts every way alike
                runs[way].append(measure(command))
        medians = {way: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for way, rs in runs.items()}
        for way, (seconds, peak) in medians.items():
            print(f"  {way:28s} {seconds:7.2f} s  peak {peak:6.0f} MB  output {size_mb(outputs[way]):6.0f} MB")
        for way in ours:
            for reference in references:
                ratio_time = medians[way][0] / medians[reference][0]
                ratio_peak = medians[way][1] / medians[reference][1]
                print(f"  {way} / {reference}: time {ratio_time:.2f}x, peak memory {ratio_peak:.2f}x")
        print(f"  level 0 against scipy's whole-image result: {difference(outputs['this plugin (pyramid)'], outputs['scipy (whole image)'])}")
    if args.no_first_frame:
        return
    pyramid = make_inputs(args.out, args.size)["OME-Zarr pyramid (ome-zarr-py)"]
    print(f"\nfirst frame of a lazy gaussian sigma=2 layer over {pyramid.name}, median of {args.repeats}")
    frames: dict[str, list] = {"plugin": [], "dask-image": []}
    for _ in range(args.repeats):
        for mode, results in frames.items():
            # not check=True: Qt may crash while the child exits, after it has printed its figures
            output = subprocess.run([sys.executable, str(HERE / "first_frame_filter.py"), str(pyramid), mode],
                                    check=False, capture_output=True, text=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
    for mode, results in frames.items():
        seconds = statistics.median(r["seconds"] for r in results)
        peak = statistics.median(r["peak_mb"] for r in results)
        print(f"  {mode:12s} {seconds:6.2f} s  peak {peak:6.0f} MB  pixel spread {results[0]['pixel_std']:.1f}")


if __name__ == "__main__":
    main()
