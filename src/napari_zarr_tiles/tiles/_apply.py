"""Apply registered filters lazily to a dask array, or to each level of a pyramid, with exact halos.

Each tile is extended by the halo from its neighbours (``map_overlap`` with ``boundary="none"``), and at the
true image edge the function's own ``mode`` applies, so the result equals the whole-image function for any
chunking, including chunks that do not divide the shape. A chain of filters runs in one overlap whose halo
is the sum of the steps' halos: step k is exact on the tile grown by the halos of the steps after it, so the
last step is exact on the tile itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dask.array as da
import numpy as np

from ._filters import Filter, get_filter

Steps = Iterable[tuple[str, dict]]


def apply_filter(data, name: str, *, spatial_axes: Sequence[int] | None = None, preview: bool = False, **params):
    """The lazy result of filter ``name`` on the spatial axes of ``data`` (by default its last two).

    ``data`` is an array, or a list of pyramid levels (finest first): then the result is a list too, each
    level computed from the same level of the input with lengths scaled to it. Whole-image statistics (a
    threshold) come from level 0, tile by tile, or from the coarsest level when ``preview`` is set.
    """
    return apply_chain(data, [(name, params)], spatial_axes=spatial_axes, preview=preview)


def apply_chain(data, steps: Steps, *, spatial_axes: Sequence[int] | None = None, preview: bool = False):
    """The lazy result of ``steps``, ``[(filter name, parameters), ...]``, applied one after the other."""
    multiscale = isinstance(data, (list, tuple))
    levels = [da.asarray(level) for level in (data if multiscale else [data])]
    spatial = list(spatial_axes) if spatial_axes is not None else list(range(max(0, levels[0].ndim - 2), levels[0].ndim))
    checked = []
    for name, params in steps:
        flt = get_filter(name)
        checked.append((flt, flt.checked(**params)))
    if not checked:
        raise ValueError("no filter to apply")
    statistics = _statistics(levels[-1] if preview else levels[0], levels[0].shape, checked, spatial)
    results = [_apply_level(level, levels[0].shape, checked, statistics, spatial) for level in levels]
    return results if multiscale else results[0]


def total_halo(steps: Steps, ndim: int = 2) -> list[int]:
    """The halo, per spatial axis, of a chain of steps at full resolution: the sum of the steps' halos."""
    halo = [0] * ndim
    for name, params in steps:
        flt = get_filter(name)
        values = flt.at_scale(flt.checked(**params), [1.0] * ndim)
        halo = [a + b for a, b in zip(halo, flt.halos(values, ndim))]
    return halo


def _statistics(level: da.Array, full_shape, checked: list[tuple[Filter, dict]], spatial) -> list[dict]:
    """Each step's whole-image values (a threshold), computed on the result of the steps before it."""
    statistics: list[dict] = []
    for index, (flt, values) in enumerate(checked):
        if flt.statistic is None:
            statistics.append({})
            continue
        before = _apply_level(level, full_shape, checked[:index], statistics, spatial) if index else level
        statistics.append(flt.statistic(before, values))
    return statistics


def _apply_level(level: da.Array, full_shape, checked, statistics, spatial) -> da.Array:
    # Pyramid levels halve with the edge rounded up (254 -> 127 -> 64): the factor is the whole number nearest
    # the ratio of the shapes.
    factors = [max(1, round(full_shape[axis] / level.shape[axis])) for axis in spatial]
    steps = [(flt, {**flt.at_scale(values, factors), **extra}) for (flt, values), extra in zip(checked, statistics)]
    halo_per_axis = [0] * len(spatial)
    dtype = level.dtype
    for flt, values in steps:
        halo_per_axis = [a + b for a, b in zip(halo_per_axis, flt.halos(values, len(spatial)))]
        dtype = flt.output_dtype(dtype)
    halo = dict(zip(spatial, halo_per_axis))
    # Non-spatial axes (channel, time) are filtered one plane at a time: chunk them by 1, no halo.
    level = level.rechunk({axis: 1 for axis in range(level.ndim) if axis not in spatial})
    # A halo wider than a chunk would need more than the next neighbour: grow such chunks first; where the
    # halo spans the whole axis, the axis is one chunk and needs no halo at all.
    whole = [axis for axis in spatial if halo[axis] >= level.shape[axis]]
    grow = {axis: max(halo[axis], level.chunksize[axis]) for axis in spatial if level.chunksize[axis] < halo[axis]}
    level = level.rechunk({**grow, **{axis: -1 for axis in whole}})
    depth = {axis: (halo[axis] if axis in spatial and axis not in whole else 0) for axis in range(level.ndim)}
    squeeze = tuple(axis for axis in range(level.ndim) if axis not in spatial)

    def run(tile: np.ndarray) -> np.ndarray:
        plane = tile.squeeze(axis=squeeze) if squeeze else tile
        for flt, values in steps:
            plane = flt.function(plane, **values)
        return plane.reshape(tile.shape)

    return level.map_overlap(run, depth=depth, boundary="none", dtype=dtype, meta=np.empty((0,) * level.ndim, dtype))
