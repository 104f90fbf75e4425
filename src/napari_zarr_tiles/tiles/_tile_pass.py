"""One pass over an array's tiles: a function of each tile and where it starts, run through dask, its results
gathered by tile. The first pass of labelling, splitting and measuring; a save reports its progress."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import dask
import dask.array as da
import dask.threaded
import numpy as np

Progress = Callable[[int, int], None]

_progress: ContextVar[Progress | None] = ContextVar("first pass progress", default=None)


@contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Passes over the tiles run within report ``progress(done, total)`` in tiles, from (0, total); an
    exception raised from it (a cancel) stops the pass. On this process's threads only: a pass on a
    dask.distributed cluster reports nothing."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


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

    tasks = [task(index) for index in indices]
    if _on_a_cluster():
        return dict(zip(indices, dask.compute(*tasks)))
    return dict(zip(indices, dask.compute(*tasks, scheduler=dask.threaded.get, callbacks=_counting(tasks))))


def _on_a_cluster() -> bool:
    """Whether a dask.distributed client is the default: only once dask.distributed is imported (dask's own
    lookup of a client imports it, a quarter of a second, only to find none)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_client

    try:
        get_client()
    except ValueError:
        return False
    return True


def _counting(tasks: list) -> list:
    """dask's callbacks that report each of ``tasks`` done to the progress being reported (none if none is)."""
    progress = _progress.get()
    if progress is None:
        return []
    keys, done = {task.key for task in tasks}, [0]

    def finished(key, result, dsk, state, worker_id):
        if key in keys:
            done[0] += 1
            progress(done[0], len(keys))

    progress(0, len(keys))
    return [(None, None, None, finished, None)]
