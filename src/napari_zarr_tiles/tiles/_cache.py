"""Computed tiles kept within a memory budget, so that panning back over a lazy result does not recompute it.

napari asks dask for the visible part of a layer on every pan and zoom; dask forgets each result as soon as
it is handed over. ``cached(array, cache)`` wraps a lazy result so that each of its blocks is computed once,
then served from ``cache`` until the budget pushes it out (least recently used first). Written here rather
than taken from ``dask.cache``/cachey, whose caches are global to the process and keyed by task, because a
layer's cache must be its own: bounded per result, cleared when the layer goes, and counted in tests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import dask.array as da
import numpy as np

DEFAULT_BUDGET = 512 * 2**20


class TileCache:
    """A least-recently-used map of computed tiles, bounded by their total size in bytes."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.nbytes = 0
        self.hits = 0
        self._tiles: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.budget = budget

    def __len__(self) -> int:
        return len(self._tiles)

    @property
    def budget(self) -> int:
        """The most bytes of tiles kept; lowering it drops the least recently used tiles at once."""
        return self._budget

    @budget.setter
    def budget(self, value: int) -> None:
        with self._lock:
            self._budget = value
            self._evict()

    def _evict(self) -> None:
        while self.nbytes > self._budget:
            _, dropped = self._tiles.popitem(last=False)
            self.nbytes -= dropped.nbytes

    def get_or_compute(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            if key in self._tiles:
                self.hits += 1
                self._tiles.move_to_end(key)
                return self._tiles[key]
        tile = compute()  # outside the lock: tiles compute in parallel
        with self._lock:
            if key not in self._tiles and tile.nbytes <= self._budget:
                self._tiles[key] = tile
                self.nbytes += tile.nbytes
                self._evict()
        return tile


def cached(array: da.Array, cache: TileCache) -> da.Array:
    """``array`` with each block computed once and then served from ``cache``."""

    def block(block_id=None):
        # each block is computed on the calling worker thread; napari asks for several blocks at once
        return cache.get_or_compute(
            (array.name, block_id), lambda: array.blocks[block_id].compute(scheduler="synchronous")
        )

    return da.map_blocks(
        block, chunks=array.chunks, dtype=array.dtype, meta=np.empty((0,) * array.ndim, array.dtype),
        name=f"cached-{array.name}",
    )
