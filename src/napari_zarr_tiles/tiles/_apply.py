"""Apply registered filters lazily to a dask array, or to each level of a pyramid, with exact halos.

Each tile is extended by the halo from its neighbours (``map_with_halo``: what dask's ``map_overlap`` with
``boundary="none"`` does, in one task per tile), and at the true image edge the function's own ``mode``
applies, so the result equals the whole-image function for any chunking, including chunks that do not divide
the shape. A chain of filters runs in one overlap whose halo is the sum of the steps' halos: step k is exact
on the tile grown by the halos of the steps after it, so the last step is exact on the tile itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import dask.array as da
import numpy as np
from dask.array.overlap import ensure_minimum_chunksize
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ._filters import Filter, get_filter

Steps = Iterable[tuple[str, dict]]


class ChainResult(NamedTuple):
    """A chain's lazy result, and its steps as run: every parameter given, whole-image values computed (a
    threshold's ``value`` from Otsu's or Li's method), so that running these steps again gives this result."""

    data: object
    steps: list[tuple[str, dict]]


def apply_filter(data, name: str, *, spatial_axes: Sequence[int] | None = None, preview: bool = False, **params):
    """The lazy result of filter ``name`` on the spatial axes of ``data`` (by default its last two).

    ``data`` is an array, or a sequence of pyramid levels, finest first (a list, a tuple, napari's
    ``MultiScaleData``: any sequence that is not itself an array): then the result is a list, each level
    computed from the same level of the input with lengths scaled to it. Whole-image statistics (a
    threshold) come from level 0, tile by tile, or from the coarsest level when ``preview`` is set.
    """
    return apply_chain(data, [(name, params)], spatial_axes=spatial_axes, preview=preview)


def apply_chain(data, steps: Steps, *, spatial_axes: Sequence[int] | None = None, preview: bool = False):
    """The lazy result of ``steps``, ``[(filter name, parameters), ...]``, applied one after the other."""
    return run_chain(data, steps, spatial_axes=spatial_axes, preview=preview).data


def run_chain(data, steps: Steps, *, spatial_axes: Sequence[int] | None = None, preview: bool = False) -> ChainResult:
    """:func:`apply_chain`, with the steps as run (the values it computed from the whole image)."""
    multiscale = is_levels(data)
    levels = [da.asarray(level) for level in (data if multiscale else [data])]
    spatial = list(spatial_axes) if spatial_axes is not None else list(range(max(0, levels[0].ndim - 2), levels[0].ndim))
    checked = []
    for name, params in steps:
        flt = get_filter(name)
        checked.append((flt, flt.checked(**params)))
    if not checked:
        raise ValueError("no filter to apply")
    # A whole-image step (label) splits the chain: the steps before it run on level 0, its own pass over the
    # tiles makes every level of its result, and the steps after it run on those levels.
    run: list[tuple[str, dict]] = []
    while (split := next((i for i, (flt, _) in enumerate(checked) if flt.whole_image is not None), None)) is not None:
        before, (flt, values), checked = checked[:split], checked[split], checked[split + 1:]
        level0 = levels[0]
        if before:
            statistics = _statistics(levels[-1] if preview else levels[0], levels[0].shape, before, spatial)
            level0 = _apply_level(levels[0], levels[0].shape, before, statistics, spatial)
            run += _as_run(before, statistics)
        levels = flt.whole_image(level0, values, spatial, [level.shape for level in levels])
        run.append((flt.name, values))
    if checked:
        statistics = _statistics(levels[-1] if preview else levels[0], levels[0].shape, checked, spatial)
        levels = [_apply_level(level, levels[0].shape, checked, statistics, spatial) for level in levels]
        run += _as_run(checked, statistics)
    return ChainResult(levels if multiscale else levels[0], run)


def _as_run(checked: list[tuple[Filter, dict]], statistics: list[dict]) -> list[tuple[str, dict]]:
    """Steps with the whole-image values they computed, as a save records them."""
    return [(flt.name, {**values, **extra}) for (flt, values), extra in zip(checked, statistics)]


def is_levels(data) -> bool:
    """Whether ``data`` is pyramid levels rather than one array: a sequence (list, tuple, napari's
    MultiScaleData) that is not itself an array (MultiScaleData has a shape too, its first level's)."""
    return isinstance(data, Sequence) and not isinstance(data, (str, bytes))


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
    level, depth = chunked_for_halo(level, halo)
    squeeze = tuple(axis for axis in range(level.ndim) if axis not in spatial)

    def run(tile: np.ndarray) -> np.ndarray:
        plane = tile.squeeze(axis=squeeze) if squeeze else tile
        for flt, values in steps:
            plane = flt.function(plane, **values)
        return plane.reshape(tile.shape)

    token = tokenize(level.name, depth, [(flt.name, values) for flt, values in steps])
    return map_with_halo(run, level, depth, dtype, name=f"{steps[-1][0].name}-{token}")


def chunked_for_halo(array: da.Array, halo: dict[int, int]) -> tuple[da.Array, dict[int, int]]:
    """``array`` rechunked for a halo of ``halo[axis]`` pixels, and the depth of halo it then needs per axis.

    A halo wider than a chunk would need more than the next neighbour: such chunks are merged into their
    neighbours first (as map_overlap does); where the halo spans the whole axis, the axis is one chunk and
    needs no halo at all.
    """
    whole = [axis for axis, width in halo.items() if width >= array.shape[axis]]
    array = array.rechunk({
        axis: -1 if axis in whole else ensure_minimum_chunksize(width, array.chunks[axis])
        for axis, width in halo.items() if width
    })
    return array, {axis: 0 if axis in whole else halo.get(axis, 0) for axis in range(array.ndim)}


def map_with_halo(function, array: da.Array, depth: dict[int, int], dtype, name: str) -> da.Array:
    """``function`` on each block of ``array`` grown by ``depth`` pixels per axis from its neighbours (none
    beyond the true edges), the result cut back to the block: ``map_overlap`` with ``boundary="none"``.

    Written here rather than with ``map_overlap``, for the number of tasks: dask's overlap makes a task for
    every halo slice of every neighbour and for their concatenation (some 11 tasks per tile in 2D), and on
    two cores its scheduler's Python work held the interpreter for a fifth of a filter save. Here each block
    is one task that slices its neighbours itself. ``depth`` must not exceed a neighbour's size (the caller
    grows narrower chunks first).
    """
    depths = tuple(depth.get(axis, 0) for axis in range(array.ndim))
    offsets = [(-1, 0, 1) if d else (0,) for d in depths]
    graph = {}
    for index in np.ndindex(*array.numblocks):
        around = [
            [offset for offset in axis_offsets if 0 <= i + offset < count]
            for i, count, axis_offsets in zip(index, array.numblocks, offsets)
        ]
        starts = [d if -1 in axis_around else 0 for d, axis_around in zip(depths, around)]
        core = tuple(slice(start, start + sizes[i]) for start, i, sizes in zip(starts, index, array.chunks))
        graph[(name, *index)] = (_run_with_halo, function, _nested_keys(array.name, index, around), around, depths, core)
    layer = HighLevelGraph.from_collections(name, graph, dependencies=[array])
    return da.Array(layer, name, chunks=array.chunks, dtype=dtype, meta=np.empty((0,) * array.ndim, dtype))


def _nested_keys(name: str, index: tuple[int, ...], around: list[list[int]], at: tuple = ()):
    """The keys of the neighbours of block ``index`` at the offsets ``around``, one list level per axis."""
    axis = len(at)
    if axis == len(index):
        return (name, *at)
    return [_nested_keys(name, index, around, (*at, index[axis] + offset)) for offset in around[axis]]


def _run_with_halo(function, neighbours, around: list[list[int]], depth: tuple[int, ...], core: tuple[slice, ...]):
    """Assemble a block and its halo from its neighbours (one copy, by np.block), run ``function``, and keep
    the ``core``: the block's own place in the grown block."""

    def cut(blocks, at: tuple = ()):
        if len(at) == len(around):
            return blocks[tuple(_halo_slice(offset, d) for offset, d in zip(at, depth))]
        return [cut(block, (*at, offset)) for block, offset in zip(blocks, around[len(at)])]

    return function(np.block(cut(neighbours)))[core]


def _halo_slice(offset: int, depth: int) -> slice:
    """What a block takes from its neighbour at ``offset`` (-1 before, 0 itself, 1 after) along one axis."""
    return slice(-depth, None) if offset < 0 else slice(0, depth) if offset > 0 else slice(None)
