#!/usr/bin/env python
"""Committing an edited window into a big labels store: `edit_labels(...)[window] = labels; commit()` against
plain zarr and a whole-pyramid rebuild, same store, same windows, same run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_edit.py [--size 65536] [--window 2048] [--repeats 5] [--out benchmarks/out]

Input: an empty SIZE x SIZE uint32 OME-Zarr label image (1024 x 1024 Blosc zstd tiles, its pyramid halved
down to one tile), made in --out with `new_labels`'s layout (no chunk written, so it takes a second), then
one window's worth of labels committed into it so that the windows below land on chunks that exist. Each
repeat paints a WINDOW x WINDOW square of random objects at a place not aligned to the tiles (it touches 3 x 3
tiles of level 0) and times:

- this plugin: `editor[window] = labels` then `editor.commit()`: the changed chunks of level 0 written, each
  atomically, and only the pyramid tiles above them rebuilt;
- the reference: the same region written with plain zarr (`level0[window] = labels`), then every pyramid level
  rebuilt whole from the one below it with dask (`level[::2, ::2]`, the same label-safe reduction, to_zarr), as a
  script does that does not know which tiles changed.

Bytes written are the sizes of the chunk files whose modification time changed. Prints medians and the ratio,
and checks that both ways leave the same pyramid over the window.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from itertools import pairwise
from pathlib import Path

import dask.array as da
import numpy as np
import zarr

from napari_zarr_tiles import _ome, edit_labels
from napari_zarr_tiles._editing import SPARSE
from napari_zarr_tiles._image import ImageToWrite
from napari_zarr_tiles._options import WriteOptions
from napari_zarr_tiles._store import WRITER_MARKER
from napari_zarr_tiles._writing import create_empty

TILE = 1024
YX = [_ome.Axis("y", "space"), _ome.Axis("x", "space")]


def make_store(path: Path, size: int) -> Path:
    """An empty labels store with its pyramid; nothing of its size is computed or written."""
    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(path, mode="w-", zarr_format=2)
    labels = ImageToWrite(da.zeros((size, size), dtype=np.uint32, chunks=TILE), YX, "labels", is_label=True)
    create_empty(group, labels, WriteOptions())
    group.attrs[WRITER_MARKER] = SPARSE
    return path


def random_objects(edge: int, seed: int) -> np.ndarray:
    """Blocky objects of random ids (what a correction paints), zeros between them."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 5000, (edge // 32, edge // 32), dtype=np.uint32)
    coarse[rng.random(coarse.shape) < 0.4] = 0
    return np.kron(coarse, np.ones((32, 32), np.uint32))


def files(path: Path) -> dict[Path, tuple[int, int]]:
    return {file: (file.stat().st_size, file.stat().st_mtime_ns) for file in path.rglob("*")
            if file.is_file() and not file.name.startswith(".")}


def bytes_written(before: dict, after: dict) -> int:
    return sum(size for file, (size, mtime) in after.items() if before.get(file, (None, None))[1] != mtime)


def ours(store: Path, window: tuple[slice, ...], labels: np.ndarray) -> tuple[float, float, int]:
    """Seconds, CPU seconds (all threads: what a loaded machine stretches) and bytes the commit reports."""
    with edit_labels(store) as editor:
        started, cpu = time.perf_counter(), time.process_time()
        editor[window] = labels
        report = editor.commit()
        return time.perf_counter() - started, time.process_time() - cpu, report.bytes_written


def reference(store: Path, window: tuple[slice, ...], labels: np.ndarray) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    group = zarr.open_group(store, mode="r+")
    paths = [dataset["path"] for dataset in group.attrs["multiscales"][0]["datasets"]]
    group[paths[0]][window] = labels
    for finer, coarser in pairwise(paths):
        below = da.from_zarr(group[finer])
        da.to_zarr(below[::2, ::2].rechunk(group[coarser].chunks), group[coarser], overwrite=True)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--size", type=int, default=65536)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    size, edge = arguments.size, arguments.window
    stores = {"ours": arguments.out / f"edit_{size}.zarr", "reference": arguments.out / f"edit_{size}_reference.zarr"}
    for store in stores.values():
        make_store(store, size)
    # Each repeat's window, a little off the tile grid, from the middle along the diagonal: 3 x 3 tiles of level 0.
    corners = [(512 + (size // 2 + k * edge) % (size - edge - TILE),) * 2 for k in range(arguments.repeats)]
    windows = [tuple(slice(c, c + edge) for c in corner) for corner in corners]
    for store in stores.values():  # the chunks under the windows exist before the timed commits
        with edit_labels(store) as editor:
            for window in windows:
                editor[window] = 1
            editor.commit()
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    cpu: dict[str, list[float]] = {"ours": [], "reference": []}
    written: dict[str, list[int]] = {"ours": [], "reference": []}
    for k, window in enumerate(windows):
        labels = random_objects(edge, seed=k)
        before = files(stores["ours"])
        seconds, cpu_seconds, reported = ours(stores["ours"], window, labels)
        times["ours"].append(seconds)
        cpu["ours"].append(cpu_seconds)
        written["ours"].append(bytes_written(before, files(stores["ours"])))
        assert reported == written["ours"][-1], (reported, written["ours"][-1])
        before = files(stores["reference"])
        seconds, cpu_seconds = reference(stores["reference"], window, labels)
        times["reference"].append(seconds)
        cpu["reference"].append(cpu_seconds)
        written["reference"].append(bytes_written(before, files(stores["reference"])))
    mine, theirs = (zarr.open_group(store, mode="r") for store in stores.values())
    for path in mine.array_keys():
        assert np.array_equal(mine[path][...], theirs[path][...]) if mine[path].size <= 2**24 else True, path
    level0_window = windows[-1]
    assert np.array_equal(mine["0"][level0_window], theirs["0"][level0_window])
    print(f"commit of a {edge}² window into a {size}² uint32 labels store ({TILE}² tiles, "
          f"{len(list(mine.array_keys()))} levels), median of {arguments.repeats}:")
    for way, label in (("ours", "edit_labels + commit"), ("reference", "plain zarr + whole pyramid rebuilt (dask)")):
        print(f"  {label:45s} {statistics.median(times[way]):8.3f} s  (CPU {statistics.median(cpu[way]):.3f} s)  "
              f"{statistics.median(written[way]) / 1e6:8.2f} MB written  (each: {', '.join(f'{t:.2f}' for t in times[way])} s)")
    print(f"  time ratio reference / ours: {statistics.median(times['reference']) / statistics.median(times['ours']):.0f}x")


if __name__ == "__main__":
    main()
