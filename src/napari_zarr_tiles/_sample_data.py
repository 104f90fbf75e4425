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


def cells_ome_zarr():
    """The BBBC022 crop, read back through this plugin's reader like any OME-Zarr folder."""
    from ._reader import read_zarr

    return read_zarr(cells_ome_zarr_path())
