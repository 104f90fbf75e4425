"""Chunk-wise downsampling: mean for images, label-safe (nearest, no invented values) for labels.

A level is reduced one chunk at a time (a ``map_blocks``), so it never holds more than a tile in memory: the
reader reduces each lazy overview level straight from level 0, the writer halves each level from the one
above it within one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil, prod

import dask.array as da
import numpy as np

# Boxes of at most this many pixels are averaged by summing strided views (see downsample_block).
SMALL_BOX = 16


def downsample_block(block: np.ndarray, factors: Sequence[int], *, labels: bool = False) -> np.ndarray:
    """Reduce ``block`` by an integer factor per axis.

    Images take the mean of each ``factors``-sized box, edge boxes averaging only the pixels they hold (so a
    ragged edge does not darken), rounded half up back to an integer dtype. Labels take the box's first pixel, which
    never invents a label value.
    """
    if labels:
        return block[tuple(slice(None, None, factor) for factor in factors)]
    if all(size % factor == 0 for size, factor in zip(block.shape, factors)):
        # The common case (every chunk but the last). Small boxes (the 2x2 of a written pyramid) are summed
        # one axis at a time, outermost first, from strided views: each sum then adds whole contiguous rows,
        # ten times faster than a reshape-mean there; big boxes (an overview) reshape.
        if prod(factors) <= SMALL_BOX:
            if block.dtype == np.float32:
                # Float32 sums of a few values: the mean to float32 rounding, fifteen times faster than summing
                # in float64 (0.3 ms against 5 ms for a 1024² tile, the halving of every tile of a float result).
                # A sum beyond float32's range falls back to float64.
                total = _box_sums(block, factors, np.dtype(np.float32))
                if not np.isinf(total).any():
                    return _mean(total, prod(factors), block.dtype)
            total = _box_sums(block, factors, _accumulator(block, prod(factors)))
            return _mean(total, prod(factors), block.dtype)
        boxes = [dim for size, factor in zip(block.shape, factors) for dim in (size // factor, factor)]
        total = block.reshape(boxes)
        accumulator = _accumulator(block, prod(factors))
        # One box axis at a time, the outermost first: each sum then adds whole contiguous rows, five times
        # faster than reducing all box axes at once (an overview's 16 x 16 boxes of a 2048² task: 1.6 ms).
        for axis in range(block.ndim):
            total = total.sum(axis=axis + 1, dtype=accumulator)
        return _mean(total, prod(factors), block.dtype)
    total = block.astype(_accumulator(block, prod(factors)), copy=False)
    counts = np.ones((1,) * block.ndim, dtype=np.int64 if total.dtype.kind in "iuO" else np.float64)
    for axis, factor in enumerate(factors):
        if factor == 1:
            continue
        starts = np.arange(0, block.shape[axis], factor)
        total = np.add.reduceat(total, starts, axis=axis)
        sizes = np.diff(np.append(starts, block.shape[axis])).astype(counts.dtype)
        counts = counts * sizes.reshape([-1 if i == axis else 1 for i in range(block.ndim)])
    return _mean(total, counts, block.dtype)


def _box_sums(block: np.ndarray, factors: Sequence[int], accumulator: np.dtype) -> np.ndarray:
    """The sum of each ``factors``-sized box of ``block`` (which they divide), from strided views."""
    total = block
    for axis, factor in enumerate(factors):
        if factor == 1:
            continue
        views = [total[(slice(None),) * axis + (slice(offset, None, factor),)] for offset in range(factor)]
        total = np.add(views[0], views[1], dtype=accumulator)
        for view in views[2:]:
            total += view
    return total


def _accumulator(block: np.ndarray, count: int) -> np.dtype:
    """A dtype that holds the exact sum of ``count`` values of ``block``, with room for the rounding offset
    ``_mean`` adds: 32-bit integers where they are enough (twice as fast as 64-bit), else 64-bit integers;
    Python integers for 64-bit values too big for a 64-bit sum (float64 would round them); float64 for floats."""
    dtype = block.dtype
    if not np.issubdtype(dtype, np.integer):
        return np.dtype(np.float64)
    info = np.iinfo(dtype)
    for wide in ((np.int32 if info.min < 0 else np.uint32), np.int64):
        limits = np.iinfo(wide)
        lowest = (info.min - 1) * count if info.min < 0 else 0
        if (info.max + 1) * count <= limits.max and lowest >= limits.min:
            return np.dtype(wide)
    # 64-bit values: a 64-bit sum where this block's own values allow it, else exact Python integers.
    if block.size and (int(block.max()) + 1) * count <= np.iinfo(np.int64).max and (int(block.min()) - 1) * count >= np.iinfo(np.int64).min:
        return np.dtype(np.int64)
    return np.dtype(object)


def _mean(total: np.ndarray, count, dtype: np.dtype) -> np.ndarray:
    """``total / count`` in ``dtype``; integers round half up, the same way on every path, and so do masks
    (True where at least half the box is: a cast would make any True pixel spread over its whole box)."""
    if dtype == np.bool_:
        return total / count >= 0.5
    if not np.issubdtype(dtype, np.integer):
        return (total / count).astype(dtype, copy=False)
    if total.dtype.kind in "iuO":  # integer sums, Python integers among them
        # Integer arithmetic: four times faster than dividing, rounding and casting floats.
        return ((total + count // 2) // count).astype(dtype)
    return np.floor(total / count + 0.5).astype(dtype)


def _aligned(array: da.Array, factors: Sequence[int]) -> da.Array:
    """Rechunk where needed so that every chunk but the last along an axis is a multiple of its factor.

    Otherwise a box would straddle two chunks and the level would be stretched at each chunk border.
    """
    chunks = []
    for axis_chunks, factor in zip(array.chunks, factors):
        if all(size % factor == 0 for size in axis_chunks[:-1]):
            chunks.append(axis_chunks)
        else:
            chunks.append(ceil(max(axis_chunks) / factor) * factor)
    return array.rechunk(tuple(chunks))


def downsample(array: da.Array, factors: Sequence[int], *, labels: bool = False) -> da.Array:
    """A lazy level of ``array`` reduced by ``factors``, one task per chunk."""
    array = _aligned(array, factors)
    chunks = tuple(
        tuple(ceil(size / factor) for size in axis_chunks) for axis_chunks, factor in zip(array.chunks, factors)
    )
    return array.map_blocks(downsample_block, factors=tuple(factors), labels=labels, chunks=chunks, dtype=array.dtype)


def lazy_levels(
    array: da.Array,
    spatial_axes: Sequence[int],
    *,
    labels: bool = False,
    coarsest: int = 1024,
    overview_source: da.Array | None = None,
) -> list[da.Array]:
    """``array`` followed by lazy levels halving ``spatial_axes`` until the largest fits in ``coarsest``.

    Levels reduced by 4 or more are read from ``overview_source`` where given: the same pixels in larger
    tasks, since such a level needs every tile anyway.
    """
    levels = [array]
    factor = 1
    while max(array.shape[axis] for axis in spatial_axes) / factor > coarsest:
        factor *= 2
        factors = [factor if axis in spatial_axes else 1 for axis in range(array.ndim)]
        source = overview_source if overview_source is not None and factor >= 4 else array
        levels.append(downsample(source, factors, labels=labels))
    return levels
