#!/usr/bin/env python
"""Labelling and measuring zarr to zarr: `process ... threshold + label` and `measure` against scikit-image,
connected-components-3d and dask-image, same input, same run.

    .venv/bin/python benchmarks/bench_label.py [--size 16384] [--repeats 3] [--out benchmarks/out] [--limit 300]

Input: the SIZE x SIZE uint16 single-scale zarr (1024 x 1024 Blosc zstd tiles) that bench_reader.py makes,
thresholded at 200, and its top-left 4096 x 4096 crop (the crop the issue timed dask-image on), stored the
same way. Labelling, on each: scikit-image's label and connected-components-3d on the whole image in memory
(read + label, nothing written) and dask-image's label zarr to zarr (../shared/bench/anchors.py), against
this plugin's `process SRC DST threshold method=value value=200 + label`, zarr to labels zarr with its
pyramid and with level 0 only. A way that runs past --limit seconds is stopped, said as "did not finish", and
not run again. The table: scikit-image's regionprops_table of the labels and the image read whole (label,
area, centroid, bbox, intensity mean/min/max) against `measure LABELS --intensity SRC --csv` (the same
columns and intensity_std). Each way runs in its own fresh process, interleaved; prints median seconds, peak
resident memory and the ratios, then checks this plugin's labels against scikit-image's (the same ids) and
its table against regionprops_table, column by column. A reference whose package is not installed is named
and skipped.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import zarr
from bench_convert import CLI, LAUNCHER, compile_package, size_mb
from bench_reader import SHARED_BENCH, make_inputs, size_arguments

ANCHORS = SHARED_BENCH / "anchors.py"
# reference way -> (anchor mode, the package it needs)
LABEL_REFERENCES = {
    "scikit-image (read + label in memory)": ("skimage_label", "skimage"),
    "connected-components-3d (read + label in memory)": ("cc3d_label", "cc3d"),
    "dask-image (zarr to zarr)": ("daskimage_label", "dask_image"),
}
PROPERTIES = ("label", "area", "centroid", "bbox", "intensity_mean", "intensity_min", "intensity_max", "intensity_std")


CROP = 4096


def measure_within(command: list[str], limit: float) -> tuple[float, float] | None:
    """Wall seconds and peak resident MB of one child process (bench_convert's launcher); None if it ran past
    ``limit`` seconds, when it is stopped with the launcher (their own process group)."""
    launcher = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, *map(str, command)], stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        report = launcher.communicate(timeout=limit)[0].split()
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        return None
    if int(report[2]) != 0:
        raise RuntimeError(f"{command} failed with status {report[2]}")
    return float(report[0]), float(report[1])


def run_ways(ways: dict[str, list], repeats: int, limit: float) -> dict[str, tuple[float, float] | None]:
    """Median seconds and peak MB of each way, the ways interleaved so that a noisy moment hurts all alike;
    None for a way that did not finish within ``limit`` seconds (run once only)."""
    runs: dict[str, list] = {way: [] for way in ways}
    unfinished: set[str] = set()
    for _ in range(repeats):
        for way, command in ways.items():
            if way in unfinished:
                continue
            result = measure_within(command, limit)
            if result is None:
                unfinished.add(way)
            else:
                runs[way].append(result)
    return {way: None if way in unfinished else (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
            for way, rs in runs.items()}


def report(medians: dict[str, tuple[float, float] | None], ours: list[str], references: list[str], outputs: dict,
           limit: float) -> None:
    for way, figures in medians.items():
        if figures is None:
            print(f"  {way:50s} did not finish in {limit:.0f} s")
            continue
        written = f"  output {size_mb(outputs[way]):6.1f} MB" if way in outputs and outputs[way].exists() else ""
        print(f"  {way:50s} {figures[0]:7.2f} s  peak {figures[1]:6.0f} MB{written}")
    for way in ours:
        for reference in references:
            if medians[way] is None or medians[reference] is None:
                continue
            print(f"  {way} / {reference}: time {medians[way][0] / medians[reference][0]:.2f}x, "
                  f"peak memory {medians[way][1] / medians[reference][1]:.2f}x")


def crop_input(source: Path, out: Path, size: int = CROP) -> Path:
    """The top-left ``size`` x ``size`` of ``source``, stored as it is (zarr v2, its tiles and compressor)."""
    crop = out / f"crop{size}.zarr"
    if not crop.exists():
        whole = zarr.open_array(source, mode="r")
        stored = zarr.create_array(crop, shape=(size, size), chunks=whole.chunks, dtype=whole.dtype,
                                   compressors=whole.compressors, zarr_format=2, fill_value=0)
        stored[:] = whole[:size, :size]
    return crop


def label_ways(source: Path, out: Path, tag: str) -> tuple[dict, dict, list[str], list[str]]:
    """The labelling ways on ``source``: their commands, outputs, this plugin's ways and the references."""
    step = ["threshold", "method=value", "value=200", "+", "label"]
    ways, outputs, references = {}, {}, []
    for way, (mode, package) in LABEL_REFERENCES.items():
        if importlib.util.find_spec(package) is None:
            print(f"  {way}: not run, {package} is not installed")
            continue
        outputs[way] = out / f"bench-label-{mode}-{tag}.zarr"
        ways[way] = [sys.executable, str(ANCHORS), mode, str(source), str(outputs[way])]
        references.append(way)
    ours = {"this plugin (labels zarr with pyramid)": [], "this plugin (level 0 only)": ["--no-pyramid"]}
    for index, (way, extra) in enumerate(ours.items()):
        outputs[way] = out / f"bench-label-ours{index}-{tag}.zarr"
        ways[way] = [str(CLI), "process", str(source), str(outputs[way]), *step, "--overwrite", *extra]
    return ways, outputs, list(ours), references


def same_labels(ours: Path, source: Path) -> str:
    from skimage.measure import label

    expected = label(zarr.open_array(source, mode="r")[:] > 200)
    actual = zarr.open_array(ours / "0", mode="r")[:]
    if np.array_equal(actual, expected):
        return f"identical ids ({int(expected.max())} objects, stored as {actual.dtype})"
    return f"DIFFERENT: {int((actual != expected).sum())} pixels differ"


def same_table(csv: Path, labels: Path, source: Path) -> str:
    import pandas as pd
    from skimage.measure import regionprops_table

    ours = pd.read_csv(csv)
    expected = regionprops_table(zarr.open_array(labels / "0", mode="r")[:], zarr.open_array(source, mode="r")[:],
                                 properties=PROPERTIES)
    differences = []
    for column, values in expected.items():
        if column == "intensity_std":
            close = np.allclose(ours[column], values, rtol=1e-12, atol=0)
        else:
            close = np.array_equal(ours[column].to_numpy(), values)
        if not close:
            differences.append(column)
    # the CSV holds each float to its shortest exact text (pandas writes repr), so equality is exact
    return f"{len(ours)} rows, every column equal" if not differences else f"DIFFERENT columns: {differences}"


def main() -> None:
    args = size_arguments(__doc__, limit=300.0)
    compile_package()
    whole = make_inputs(args.out, args.size)["single-scale zarr"]
    for source, size in [(crop_input(whole, args.out), CROP), (whole, args.size)]:
        ways, outputs, ours, references = label_ways(source, args.out, str(size))
        print(f"\nlabel {source.name} > 200 ({size}x{size} uint16), median of {args.repeats}")
        report(run_ways(ways, args.repeats, args.limit), ours, references, outputs, args.limit)
        labels = outputs["this plugin (labels zarr with pyramid)"]
        print(f"  this plugin's labels against scikit-image's: {same_labels(labels, source)}")

    csv = args.out / "bench-table.csv"
    table_ways = {
        "scikit-image regionprops_table (read + measure)": [sys.executable, str(ANCHORS), "skimage_table",
                                                            str(labels / "0"), str(whole)],
        "this plugin (measure, CSV and stored table)": [str(CLI), "measure", str(labels), "--intensity", str(whole),
                                                        "--csv", str(csv), "--overwrite"],
    }
    print(f"\ntable of those labels with {whole.name} as intensity, median of {args.repeats}")
    report(run_ways(table_ways, args.repeats, args.limit), list(table_ways)[1:], list(table_ways)[:1], {}, args.limit)
    print(f"  this plugin's table against regionprops_table: {same_table(csv, labels, whole)}")


if __name__ == "__main__":
    main()
