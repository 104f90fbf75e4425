"""One pass over an array's tiles: a function of each tile and where it starts, run through dask, its results
gathered by tile. The first pass of labelling, splitting and measuring."""

from __future__ import annotations

import sys
from collections.abc import Callable

import dask
import dask.array as da
import dask.threaded
import numpy as np


def over_tiles(function: Callable, data: da.Array, *args, beside: da.Array | None = None) -> dict[tuple, object]:
    """``function(block, start, *args)`` for each block of ``data``, by block index; ``start`` is the index of
    the block's first pixel along each axis of ``data``.

    ``beside``, an array tiled as ``data`` on its last axes with one more axis first held in one block (the
    channels of an intensity image), gives its block of the same index as a last argument.
    On a dask.distributed cluster where a client is the default, else on this process's threads.
    """
    starts = [np.cumsum((0, *sizes[:-1])) for sizes in data.chunks]
    indices = list(np.ndindex(*data.numblocks))
    blocks = data.to_delayed()
    companions = None if beside is None else beside.to_delayed()[0]

    def task(index: tuple):
        start = tuple(int(starts[axis][i]) for axis, i in enumerate(index))
        tail = () if companions is None else (companions[index],)
        return dask.delayed(function)(blocks[index], start, *args, *tail)

    # A client can only be the default once dask.distributed is imported; dask's own lookup of one imports
    # it (a quarter of a second) only to find none.
    scheduler = None if "distributed" in sys.modules else dask.threaded.get
    return dict(zip(indices, dask.compute(*[task(index) for index in indices], scheduler=scheduler)))
