"""How a layer should look at the first frame: contrast from a bounded sample, colours from OME metadata."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

import numpy as np
import zarr

if TYPE_CHECKING:
    import dask.array as da

# What the reader may read to choose contrast limits, uncompressed: a whole small level, or this many bytes
# of whole chunks spread over a big one. Reading a chunk is the smallest read zarr can do.
SAMPLE_BYTES = 4 * 2**20
MAX_SAMPLE_CHUNKS = 9
CONTRAST_PERCENTILES = (0.5, 99.5)

NAPARI_COLORMAPS = {
    "FF0000": "red",
    "00FF00": "green",
    "0000FF": "blue",
    "FFFF00": "yellow",
    "FF00FF": "magenta",
    "00FFFF": "cyan",
    "FFFFFF": "gray",
}


def sample(array: zarr.Array | da.Array, fixed: dict[int, int] | None = None) -> np.ndarray:
    """A bounded sample of ``array``: all of it when small, else a few whole chunks spread over the last two axes.

    ``fixed`` pins axes to one index (a channel); other leading axes are taken at their middle.
    """
    fixed = fixed or {}
    selection = [slice(None)] * array.ndim
    for axis in range(array.ndim - 2):
        selection[axis] = fixed.get(axis, array.shape[axis] // 2)
    for axis in range(max(0, array.ndim - 2), array.ndim):
        if axis in fixed:
            selection[axis] = fixed[axis]
    plane_shape = [array.shape[axis] for axis, sel in enumerate(selection) if isinstance(sel, slice)]
    if prod(plane_shape) * array.dtype.itemsize <= SAMPLE_BYTES:
        return _read(array[tuple(selection)])
    chunks = [c[0] if isinstance(c, tuple) else c for c in array.chunks]  # zarr's chunk shape, or dask's first
    chunk_bytes = prod(chunks[-2:]) * array.dtype.itemsize
    count = int(min(MAX_SAMPLE_CHUNKS, max(1, SAMPLE_BYTES // chunk_bytes)))
    grid = [max(1, -(-array.shape[axis] // chunks[axis])) for axis in (-2, -1)]
    pieces = []
    for index in range(count):
        # Spread the chunks along the diagonal of the chunk grid, away from the (often empty) corners.
        row = int((index + 0.5) / count * grid[0])
        col = int((index + 0.5) / count * grid[1])
        piece = list(selection)
        piece[-2] = slice(row * chunks[-2], (row + 1) * chunks[-2])
        piece[-1] = slice(col * chunks[-1], (col + 1) * chunks[-1])
        pieces.append(_read(array[tuple(piece)]).ravel())
    return np.concatenate(pieces)


def _read(part) -> np.ndarray:
    """The values of a zarr or numpy selection, or of a lazy dask one computed on dask's threads: named by
    its function, since a scheduler left to dask, or given by name, makes dask import dask.distributed to
    look for a cluster (0.6 s, more than the sample's reads)."""
    if hasattr(part, "dask"):
        import dask.threaded

        return np.asarray(part.compute(scheduler=dask.threaded.get))
    return np.asarray(part)


def contrast_limits(values: np.ndarray) -> tuple[float, float]:
    """Robust limits of ``values`` (percentiles, so a few hot pixels do not wash the image out)."""
    values = np.asarray(values)
    if values.dtype == bool:
        return (0.0, 1.0)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(finite, CONTRAST_PERCENTILES))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low + 1.0
    return (low, high)


def sample_problem(values: np.ndarray) -> str | None:
    """Why a sample of an image cannot show anything meaningful, in a person's words, or None.

    All NaN, infinite values (the contrast then comes from the finite ones) or a single value: each would
    otherwise show as a flat or black layer with no word.
    """
    values = np.asarray(values)
    if values.size == 0 or values.dtype == bool:
        return None
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.any():
            kinds = "NaN" if np.isnan(values).all() else "NaN or infinite"
            return f"every pixel read is {kinds}: there is nothing to show"
        if np.isinf(values).any():
            return "it holds infinite values: the contrast is set from the finite ones"
        values = values[finite]
    low, high = values.min(), values.max()
    if low == high:
        return f"every pixel read is {low.item()}: the layer shows one flat colour"
    return None


def colormap_from_hex(color: str | None) -> str | dict | None:
    """A napari colormap for an OME colour such as ``"FF8000"``: a named one when it exists, else a ramp."""
    if not color:
        return None
    color = color.lstrip("#").upper()
    if color in NAPARI_COLORMAPS:
        return NAPARI_COLORMAPS[color]
    try:
        rgb = [int(color[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    except ValueError:
        return None
    return {"name": f"#{color}", "colors": [[0.0, 0.0, 0.0, 1.0], [*rgb, 1.0]]}
