#!/usr/bin/env python
"""First frame of a 96-well plate in a real napari window: this plugin's mosaic against napari-ome-zarr's plate.

    python benchmarks/bench_plate.py [--edge 2048] [--repeats 3] [--out benchmarks/out]

Input, made once: an OME-Zarr 0.4 plate (zarr v2) of 96 wells (rows A-H, columns 1-12), 2 fields per well,
2 channels, EDGE x EDGE uint16 per field with a pyramid halving down to 128 pixels (1024 x 1024 Blosc zstd
tiles), written with zarr. The fields are the blobs test image tiled, shifted per well, field and channel.
Each reader opens the plate in its own fresh process (run on Xvfb where there is no display) until the first
frame is drawn, REPEATS times, interleaved; medians and the ratio are printed. Goal: the mosaic in under 2 s.

Two floors run in the same loop, on the mosaic's own pixels (read once by this plugin): napari alone, opening
them as two .npy files (napari's reader, no zarr), and this plugin opening them as a plain two-channel
OME-Zarr image. What the plate costs beyond them is its metadata and its wells' chunks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import tifffile
import zarr
from bench_convert import compile_package
from bench_reader import first_frame, reader_medians
from numcodecs import Blosc

HERE = Path(__file__).resolve().parent
BLOBS = HERE.parent / "tests" / "data" / "blobs.tif"
ROWS, COLUMNS, FIELDS, CHANNELS = "ABCDEFGH", [str(n) for n in range(1, 13)], 2, 2
READERS = {"this plugin": "napari-zarr-tiles", "napari-ome-zarr": "napari-ome-zarr"}
GOAL_SECONDS = 2.0


def make_plate(path: Path, edge: int) -> Path:
    """The plate at ``path`` (kept between runs: a ``done`` file marks it complete)."""
    if (path / "done").exists():
        return path
    base = np.tile(tifffile.imread(BLOBS).astype(np.uint16) * 8, (edge // 254 + 1, edge // 256 + 1))[:edge, :edge]
    root = zarr.open_group(path, mode="w", zarr_format=2)
    wells = [(row, column) for row in range(len(ROWS)) for column in range(len(COLUMNS))]
    root.attrs["plate"] = {
        "version": "0.4", "name": "bench", "field_count": FIELDS,
        "rows": [{"name": row} for row in ROWS], "columns": [{"name": column} for column in COLUMNS],
        "wells": [{"path": f"{ROWS[r]}/{COLUMNS[c]}", "rowIndex": r, "columnIndex": c} for r, c in wells],
    }
    compressor = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)
    for row, column in wells:
        well = root.require_group(ROWS[row]).require_group(COLUMNS[column])
        well.attrs["well"] = {"version": "0.4", "images": [{"path": str(field)} for field in range(FIELDS)]}
        for field in range(FIELDS):
            image = well.create_group(str(field))
            level = np.stack([base + 50 * (row * 12 + column) + 7 * field + 1000 * c for c in range(CHANNELS)])
            datasets, index = [], 0
            while True:
                array = image.create_array(
                    str(index), shape=level.shape, dtype=level.dtype, chunks=(1, 1024, 1024), compressors=compressor,
                    chunk_key_encoding={"name": "v2", "separator": "/"},
                )
                array[...] = level
                datasets.append({"path": str(index), "coordinateTransformations": [
                    {"type": "scale", "scale": [1.0, 0.65 * 2**index, 0.65 * 2**index]}]})
                if level.shape[-1] <= 128:
                    break
                level, index = level[:, ::2, ::2], index + 1
            image.attrs["multiscales"] = [{
                "version": "0.4", "name": f"{ROWS[row]}{COLUMNS[column]} field {field}", "datasets": datasets,
                "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
                         {"name": "x", "type": "space", "unit": "micrometer"}],
            }]
        print(f"\rwriting the plate: well {ROWS[row]}{COLUMNS[column]}", end="", file=sys.stderr)
    print(file=sys.stderr)
    (path / "done").write_text("complete\n")
    return path


def make_floors(plate: Path, out: Path) -> dict[str, tuple[str, Path | list[Path]]]:
    """The mosaic's pixels as two .npy files and as a plain two-channel OME-Zarr image (kept between runs);
    for each floor, its plugin and path."""
    npys, image = [out / f"mosaic-{channel}.npy" for channel in range(CHANNELS)], out / "mosaic-image.ome.zarr"
    if not (image / "done").exists():
        from napari_zarr_tiles._reader import napari_get_reader

        channels = np.stack([np.asarray(data) for data, _, _ in napari_get_reader(str(plate))(str(plate))])
        for npy, channel in zip(npys, channels):
            np.save(npy, channel)
        root = zarr.open_group(image, mode="w", zarr_format=2)
        array = root.create_array("0", shape=channels.shape, dtype=channels.dtype, chunks=(1, 1024, 1024),
                                  compressors=Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE),
                                  chunk_key_encoding={"name": "v2", "separator": "/"})
        array[...] = channels
        root.attrs["multiscales"] = [{
            "version": "0.4", "name": "mosaic", "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [1.0, 10.4, 10.4]}]}],
            "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
                     {"name": "x", "type": "space", "unit": "micrometer"}],
        }]
        (image / "done").write_text("complete\n")
    return {
        "floor: napari alone, the mosaic as two .npy": ("napari", npys),
        "floor: this plugin, the mosaic as an image": ("napari-zarr-tiles", image),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edge", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    compile_package()
    args.out.mkdir(parents=True, exist_ok=True)
    plate = make_plate(args.out / f"plate96_{args.edge}.ome.zarr", args.edge)
    print(f"first frame of a 96-well plate ({FIELDS} fields, {CHANNELS} channels, {args.edge}^2 uint16 per field), "
          f"median of {args.repeats} fresh processes, readers interleaved: {plate}")
    runs = {name: (plugin, plate) for name, plugin in READERS.items()} | make_floors(plate, args.out)
    all_runs = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so that a noisy moment hurts every reader alike
        for name, (plugin, path) in runs.items():
            all_runs[name].append(first_frame(path, plugin))
    medians = reader_medians(all_runs, ("seconds", "read_mb", "peak_mb"))
    for name, m in medians.items():
        seconds = [run["seconds"] for run in all_runs[name]]
        print(f"  {name:44s} {m['seconds']:5.2f} s  read {m['read_mb']:6.1f} MB  peak {m['peak_mb']:5.0f} MB  "
              f"pixel std {all_runs[name][0]['pixel_std']:5.1f}  runs {[round(value, 2) for value in seconds]}")
    if "this plugin" in medians and "napari-ome-zarr" in medians:
        ours, theirs = medians["this plugin"]["seconds"], medians["napari-ome-zarr"]["seconds"]
        over_image = statistics.median(
            plate_run["seconds"] - image_run["seconds"]
            for plate_run, image_run in zip(all_runs["this plugin"], all_runs["floor: this plugin, the mosaic as an image"])
        )
        print(f"  this plugin / napari-ome-zarr: {ours / theirs:.2f}x the time; the plate over the same pixels as an "
              f"image: {over_image:+.2f} s (median of the runs' differences); goal under {GOAL_SECONDS} s: "
              f"{'met' if ours < GOAL_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
