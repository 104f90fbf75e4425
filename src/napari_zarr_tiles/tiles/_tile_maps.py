"""Per-tile maps of a label image, as the notebooks make them: one small image per measure, one pixel per tile.

- ``object_count``: the objects whose centroid lies in the tile, so that each object is counted once, in
  one tile (centroids from the object table's per-object sums, ``_measure.object_table``);
- ``area_fraction``: the tile's foreground (non-zero) pixels over its pixels; a ragged tile at the image's
  far edge over the pixels it has;
- ``mean_intensity``, with an intensity image: the mean of the intensity over the tile's foreground pixels
  (the objects' pixels in the tile, whichever object they belong to); NaN where the tile has none.

Each map comes with the scale and translation that lay it over the image: a map pixel is a tile wide
(``scale`` = tile size x pixel size) and its centre is the tile's centre (``translate`` = the image's
translation + pixel size x (tile size - 1) / 2, napari placing a pixel's centre at its position).
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np

from ._measure import object_table

MAP_NAMES = ("object_count", "area_fraction", "mean_intensity")


def tile_maps(labels, intensity=None, *, tile: int | Sequence[int] | None = None,
              scale: Sequence[float] | None = None, translate: Sequence[float] | None = None, table=None
              ) -> dict[str, tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]]:
    """Object count, area fraction and (with ``intensity``) mean intensity per tile of ``labels``.

    Parameters
    ----------
    labels : array
        A label image (numpy or dask), every axis spatial; 0 is background.
    intensity : array, optional
        An image of the labels' shape: adds ``mean_intensity``.
    tile : int or sequence of int, optional
        The tile's size in pixels, one for every axis or one per axis; by default the labels' first chunk.
    scale, translate : sequence of float, optional
        The image's pixel size and its first pixel's position per axis (default 1 and 0).
    table : mapping, optional
        The labels' object table, if already made (``object_table``'s, or ``measure``'s DataFrame): its
        ``centroid-<axis>`` columns, in pixels, place the objects; by default it is computed here.

    Returns
    -------
    dict
        ``name -> (map, scale, translate)`` for ``object_count`` (int64), ``area_fraction`` (float64) and
        ``mean_intensity`` (float64, with an intensity image), each map one pixel per tile.
    """
    labels = da.asarray(labels)
    ndim = labels.ndim
    if labels.dtype.kind not in "iu":
        raise ValueError(f"tile maps: labels must be integers, not {labels.dtype}")
    sizes = tuple(chunks[0] for chunks in labels.chunks) if tile is None else (
        (int(tile),) * ndim if np.isscalar(tile) else tuple(int(t) for t in tile))
    if len(sizes) != ndim or min(sizes) < 1:
        raise ValueError(f"tile maps: the tile must be one size of at least 1 per axis of the labels ({ndim}), "
                         f"not {tile}")
    if intensity is not None:
        intensity = da.asarray(intensity)
        if intensity.shape != labels.shape:
            raise ValueError(f"tile maps: the intensity image has shape {intensity.shape}, the labels {labels.shape}; "
                             "they must have the same shape")
    scale = np.ones(ndim) if scale is None else np.asarray(scale, np.float64)
    translate = np.zeros(ndim) if translate is None else np.asarray(translate, np.float64)
    grid = tuple(-(-n // t) for n, t in zip(labels.shape, sizes))
    table = object_table(labels) if table is None else table
    counts = np.zeros(grid, np.int64)
    if len(table[f"centroid-{ndim - 1}"]):
        # the pixel holding the centroid (a centroid half-way between pixels rounds to the pixel after it)
        at = tuple(np.floor(np.asarray(table[f"centroid-{axis}"]) + 0.5).astype(np.int64) // sizes[axis] for axis in range(ndim))
        np.add.at(counts, at, 1)
    chunks = tuple(tuple(min(t, n - start) for start in range(0, n, t)) for n, t in zip(labels.shape, sizes))
    foreground = _per_tile_sum((labels != 0).rechunk(chunks))
    pixels = np.ones(grid, np.int64)
    for axis, axis_chunks in enumerate(chunks):
        pixels = pixels * np.asarray(axis_chunks).reshape([-1 if a == axis else 1 for a in range(ndim)])
    if intensity is not None:
        summed = _per_tile_sum(da.where(labels != 0, intensity.astype(np.float64), 0).rechunk(chunks))
        foreground, summed = dask.compute(foreground, summed)
    else:
        (foreground,), summed = dask.compute(foreground), None
    placement = (tuple(map(float, scale * sizes)), tuple(map(float, translate + scale * (np.asarray(sizes) - 1) / 2)))
    maps = {"object_count": (counts, *placement), "area_fraction": (foreground / pixels, *placement)}
    if summed is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            maps["mean_intensity"] = (np.where(foreground > 0, summed / np.maximum(foreground, 1), np.nan), *placement)
    return maps


def _per_tile_sum(data: da.Array) -> da.Array:
    """The sum of each block, as an array of one pixel per block (float64 or int64)."""
    dtype = np.float64 if data.dtype.kind == "f" else np.int64

    def summed(block: np.ndarray) -> np.ndarray:
        return np.asarray(block.sum(dtype=dtype)).reshape((1,) * block.ndim)

    return data.map_blocks(summed, chunks=tuple((1,) * n for n in data.numblocks), dtype=dtype)
