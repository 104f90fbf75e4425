"""Sample data contributions: a big lazy synthetic image, and a small real one written as OME-Zarr."""

from __future__ import annotations

import os
import tempfile
from importlib.resources import files
from pathlib import Path

from ._ome import Axis, Channel
from ._synthetic import CONTRAST_LIMITS, SIZE, synthetic_pyramid

CELLS_TIFF = "IXMtest_A02_s9.tif"
# BBBC022 (Cell Painting): w1 Hoechst (DNA), w2 concanavalin A (ER), w3 SYTO 14 (RNA).
CELLS_CHANNELS = (("DNA (Hoechst)", "0000FF"), ("ER (ConA)", "00FF00"), ("RNA (SYTO 14)", "FF00FF"))
# The demo plate: rows x columns of wells, each with FIELDS fields cut from the BBBC022 image (itself site 9 of
# well A02 of a Cell Painting plate), FIELD_EDGE pixels square, at places spread over it.
PLATE_ROWS, PLATE_COLUMNS, PLATE_FIELDS, FIELD_EDGE = "ABC", ("1", "2", "3", "4"), 2, 192


def big_synthetic():
    """A 65536 x 65536 uint16 fluorescence image, every pyramid level generated lazily tile by tile."""
    kwargs = {
        "name": f"synthetic {SIZE}x{SIZE}",
        "contrast_limits": CONTRAST_LIMITS,
        "multiscale": True,
        "axis_labels": ["y", "x"],
    }
    return [(synthetic_pyramid(), kwargs, "image")]


def sample_dir() -> Path:
    """Where sample stores are written once and reused: NAPARI_ZARR_TILES_SAMPLES, else the temp folder."""
    return Path(os.environ.get("NAPARI_ZARR_TILES_SAMPLES") or Path(tempfile.gettempdir()) / "napari-zarr-tiles")


def cells_ome_zarr_path() -> Path:
    """The three-channel BBBC022 crop as OME-Zarr 0.4 (written on first use), with its omero look."""
    import tifffile

    from ._display import contrast_limits
    from ._image import ImageToWrite
    from ._writing import write_ome_zarr

    target = sample_dir() / "cells.ome.zarr"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pixels = tifffile.imread(files("napari_zarr_tiles") / "data" / CELLS_TIFF)
        channels = [
            Channel(label=label, color=color, window=contrast_limits(plane))
            for (label, color), plane in zip(CELLS_CHANNELS, pixels)
        ]
        axes = [Axis("c", "channel"), Axis("y", "space"), Axis("x", "space")]
        image = ImageToWrite(pixels, axes=axes, name="BBBC022 cells", channels=channels)
        write_ome_zarr(target, image, tile=256)
    return target


def cells_plate_path() -> Path:
    """A small HCS plate as OME-Zarr 0.4 (written on first use, under a hidden name until complete): rows
    :data:`PLATE_ROWS`, columns :data:`PLATE_COLUMNS`, every well but the last, each with :data:`PLATE_FIELDS`
    fields cut from the BBBC022 image, with its channels' look; two levels a field, the second every other
    pixel (written with zarr: the plate's 22 fields in a second, where the writer takes several)."""
    import shutil

    import numpy as np
    import zarr

    from ._ome import image_attributes
    from ._reader import image_sources

    target = sample_dir() / "cells-plate.ome.zarr"
    if target.exists():
        return target
    [cells] = image_sources(cells_ome_zarr_path())
    pixels = cells.levels[0][...]
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    wells = [(row, column) for row in PLATE_ROWS for column in PLATE_COLUMNS][:-1]  # the last well left empty
    root = zarr.open_group(partial, mode="w", zarr_format=2)
    root.attrs["plate"] = {
        "version": "0.4", "name": "BBBC022 crops", "field_count": PLATE_FIELDS,
        "rows": [{"name": row} for row in PLATE_ROWS], "columns": [{"name": column} for column in PLATE_COLUMNS],
        "wells": [{"path": f"{row}/{column}", "rowIndex": PLATE_ROWS.index(row),
                   "columnIndex": PLATE_COLUMNS.index(column)} for row, column in wells],
    }
    places = np.random.default_rng(22).integers(0, [pixels.shape[1] - FIELD_EDGE, pixels.shape[2] - FIELD_EDGE],
                                                 size=(len(wells) * PLATE_FIELDS, 2))
    for index, (row, column) in enumerate(wells):
        well = root.require_group(row).require_group(column)
        well.attrs["well"] = {"version": "0.4", "images": [{"path": str(field)} for field in range(PLATE_FIELDS)]}
        for field in range(PLATE_FIELDS):
            top, left = places[index * PLATE_FIELDS + field]
            field_group = well.create_group(str(field))
            level = pixels[:, top : top + FIELD_EDGE, left : left + FIELD_EDGE]
            for number in range(2):
                field_group.create_array(str(number), data=level, chunks=(1, *level.shape[1:]))
                level = level[:, ::2, ::2]
            field_group.attrs.update(image_attributes(
                version="0.4", axes=cells.axes, name=f"{row}{column} field {field}", channels=cells.channels,
                datasets=[(str(number), (1.0, 2.0**number, 2.0**number), (0.0, 0.0, 0.0)) for number in range(2)],
            ))
    partial.rename(target)
    return target


def cells_ome_zarr():
    """The BBBC022 crop, read back through this plugin's reader like any OME-Zarr folder."""
    from ._reader import read_zarr

    return read_zarr(cells_ome_zarr_path())
