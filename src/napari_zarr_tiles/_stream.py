"""Stream lazy images into zarr arrays with their pyramid levels: resumable, with progress, on threads or a cluster.

Each task writes one output unit (a chunk, or a shard) and hands its halving on to the next level's task
(see ``_write_levels``): every input tile is read once, writes are unit-aligned (no two tasks write the
same chunk), each tile is dropped once its unit is written, and nothing is ever held whole. Units already
on disk (zarr writes each key atomically) are read back instead of computed, so an interrupted write
resumes where it stopped.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from itertools import product
from math import prod
from pathlib import Path

import dask
import dask.array as da
import dask.threaded
import numpy as np
from dask.base import tokenize

from ._errors import WriteCancelled, ZarrTilesError
from ._pyramid import downsample_block
from ._store import to_dask

Progress = Callable[[int, int], None]


@dataclass
class Levels:
    """One image to stream: its lazy level 0, the arrays of its levels (finest first, each halving the
    ``yx`` axes of the one before), and whether it holds labels (halved label-safe)."""

    level0: da.Array
    targets: list
    yx: list[int]
    labels: bool


def stream(images: Sequence[Levels], progress: Progress | None = None, client=None) -> None:
    """Write each image's level 0 and its halvings into its ``targets``, skipping units already on disk,
    reporting written units to ``progress(done, total)`` (an exception raised from it stops the write).

    On this machine's threads, or on the cluster of ``client`` (a dask.distributed Client): each worker then
    writes its own units straight into the store, which must be on a file system the workers share.
    """
    targets = [target for image in images for target in image.targets]
    written = {id(target): written_units(target) for target in targets}
    total = sum(prod(_unit_grid(target)) for target in targets)
    done = sum(len(keys) for keys in written.values())

    def report(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(done, total), total)

    writing: set = set()  # the keys of the tasks that write a unit (the others only reduce one already written)
    stopping = threading.Event()

    def count(key, result, dsk, state, worker_id):
        if key in writing:
            report(1)

    def halt(key, dsk, state):
        if stopping.is_set():
            raise WriteCancelled("the write was stopped")

    report(0)
    if client is None:
        # More threads than cores: zarr's synchronous API blocks the calling thread while its own event loop
        # reads, writes and (de)compresses, so one thread per core left a core idle a third of the time.
        pool = ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1))
        # dask's (start, start_state, pretask, posttask, finish) hooks, given to each computation: a region still
        # running when the write fails or is interrupted (Ctrl-C) then stops before its next task.
        run = _ThreadedRun(pool, (None, None, halt, count, None))
    else:
        def on_disk() -> int:
            return sum(len(written_units(target)) for target in targets)

        pool, run = None, _DistributedRun(client, on_disk, report)
    try:
        for image in images:
            _write_levels(image.level0, image.targets, image.yx, labels=image.labels, run=run,
                          written=written, writing=writing)
    except BaseException:
        stopping.set()
        raise
    finally:
        run.close()
        if pool is not None:
            # A failure or a cancel waits for the tasks already running before the caller removes the partial
            # store (with dask's shared pool a straggler could write a chunk after the clean-up).
            pool.shutdown(wait=True, cancel_futures=True)
    missing = {target.path: prod(_unit_grid(target)) - len(written_units(target)) for target in targets}
    unwritten = [f"{path}: {count}" for path, count in missing.items() if count]
    if unwritten:  # e.g. cluster workers writing to a file system this machine does not see
        raise ZarrTilesError(f"tiles missing after the write, per array: {', '.join(unwritten)}")
    if done < total:  # dask may fuse a write task into another; all are written now
        report(total - done)


WRITE_TASK = "write-tile-"
# A region, written in one computation, spans 2**3 x 2**3 level-0 units and reduces its own pyramid levels.
# dask works through a region about a row of tiles at a time, holding some three rows of input tiles for
# their halos: wider regions cost memory with the image's width (16 x 16 tiles of the 16384² benchmark took
# 480 MB against 300 MB); narrower ones read more tiles twice, at region borders, and wait more often for a
# region's last tasks (4 x 4: 0.3 s slower of 4.5 s).
REGION_HALVINGS = 3


def write_unit(array) -> tuple[int, ...]:
    return tuple(array.shards or array.chunks)


def _unit_grid(array) -> tuple[int, ...]:
    return tuple(-(-size // unit) for size, unit in zip(array.shape, write_unit(array)))


def written_units(array) -> set[str]:
    """The keys of the write units (chunks, or shards) of ``array`` that are on disk.

    zarr writes each key atomically (a ``KEY.<hex>.partial`` file renamed into place), so a key on disk is
    complete; a killed write can leave such temporary files, which are not keys.
    """
    directory = Path(array.store.root) / array.path
    keys = set()
    for folder, _, files in os.walk(directory):
        relative = Path(folder).relative_to(directory).as_posix()
        keys.update(
            name if relative == "." else f"{relative}/{name}"
            for name in files
            if not name.startswith(".") and not name.endswith(".partial")
        )
    return keys - {".zarray", ".zattrs", "zarr.json"}


class _ThreadedRun:
    """Computes write tasks on the write's own thread pool, a region while the one before it finishes.

    A region's last tasks (its coarsest tiles, and the stragglers of its rows) leave cores idle; with the
    next region under way they do not (the 16384² gaussian save with its pyramid: 7% faster, 80 MB more).
    """

    IN_FLIGHT = 2

    def __init__(self, pool, callbacks: tuple):
        self.pool, self.callbacks = pool, callbacks
        self.regions = ThreadPoolExecutor(max_workers=self.IN_FLIGHT)
        self.pending: deque = deque()

    def submit(self, tasks: list[da.Array]) -> None:
        if len(self.pending) >= self.IN_FLIGHT:
            _result(self.pending.popleft())
        self.pending.append(self.regions.submit(self._compute, tasks))

    def wait(self) -> None:
        """Until every region submitted is written; raises the first failure."""
        while self.pending:
            _result(self.pending.popleft())

    def close(self) -> None:
        """Cancel the regions not started, wait for the others (a failure leaves nothing running)."""
        self.regions.shutdown(wait=True, cancel_futures=True)

    def _compute(self, tasks: list[da.Array]) -> None:
        # dask.threaded.get itself rather than the name "threads": a name makes dask look for a
        # dask.distributed client first, importing distributed (a quarter of a second) when it is installed.
        # The callbacks given to each computation, not registered globally: dask takes the global ones away
        # while a computation runs, so the other region in flight would run without them.
        dask.compute(*tasks, scheduler=dask.threaded.get, pool=self.pool, callbacks=[self.callbacks])


def _result(future: Future, poll_seconds: float = 0.1):
    """``future.result()``, waking every ``poll_seconds``: Ctrl-C is then raised at once in this (the main)
    thread, even when the system delivered the signal to another thread and left this one blocked."""
    while not future.done():
        wait_for([future], timeout=poll_seconds)
    return future.result()


class _DistributedRun:
    """Computes write tasks on a dask.distributed cluster, reporting the units on disk as they appear
    (workers write straight into the store; the scheduler's task names say nothing of which are writes)."""

    POLL_SECONDS = 0.5

    def __init__(self, client, on_disk: Callable[[], int], report: Callable[[int], None]):
        self.client, self.on_disk, self.report = client, on_disk, report

    def submit(self, tasks: list[da.Array]) -> None:
        """Compute ``tasks`` on the cluster and wait for them, counting units as they reach the disk (one region
        at a time: two regions polling at once would count the same units twice)."""
        from distributed import wait

        futures = self.client.compute(tasks)
        seen = self.on_disk()
        try:
            while True:
                try:
                    wait(futures, timeout=self.POLL_SECONDS)
                    break
                except TimeoutError:
                    pass
                finally:
                    now = self.on_disk()
                    self.report(now - seen)
                    seen = now
            for future in futures:
                future.result()  # raises the first failure
        except BaseException:
            self.client.cancel(futures)
            raise

    def wait(self) -> None:
        """Nothing to wait for: ``submit`` returns once its region is written."""

    def close(self) -> None:
        """Nothing left running: ``submit`` cancels its tasks when it fails."""


def _write_levels(level0: da.Array, targets: list, yx: list[int], *, labels: bool, run, written: dict,
                  writing: set, first_written: bool = False) -> None:
    """Write ``level0`` and its halvings into ``targets``, skipping units in ``written``.

    Each task writes one unit (a chunk, or a shard) and hands on its halving, which the next level's tasks
    gather into their units: a tree, so every level-0 tile is computed and read once, kept in memory only
    until its unit is written, and never held whole. The image is written region by region, each region a
    tree at most ``REGION_HALVINGS`` levels deep; coarser levels are then made the same way from the deepest
    level just written, a small fraction of the data. Since a unit is written only after its children, a unit on
    disk means its subtree is too: resuming reads such units back instead of computing them.
    ``first_written``: the first target is ``level0`` itself, already on disk.
    """
    units = [write_unit(target) for target in targets]
    depth = min(REGION_HALVINGS, len(targets) - 1)
    edges = [unit * 2**REGION_HALVINGS if axis in yx else unit for axis, unit in enumerate(units[0])]
    factors = tuple(2 if axis in yx else 1 for axis in range(level0.ndim))
    for corner in product(*(range(0, size, edge) for size, edge in zip(level0.shape, edges))):
        region = tuple(slice(c, min(c + e, s)) for c, e, s in zip(corner, edges, level0.shape))
        regions = [
            tuple(
                slice(r.start // 2**k, -(-r.stop // 2**k)) if axis in yx else r for axis, r in enumerate(region)
            )
            for k in range(depth + 1)
        ]
        missing = [_missing_units(targets[k], regions[k], written[id(targets[k])]) for k in range(depth + 1)]
        if first_written:
            missing[0] = []
        if not missing[depth]:  # its top is on disk, so is the whole region
            continue
        level = level0[region]
        for k in range(depth + 1):
            level = level.rechunk(units[k])
            if len(missing[k]) < prod(level.numblocks) and not (first_written and k == 0):
                level = _reuse_written(level, targets[k], regions[k], missing[k])
            level = _write_tasks(level, targets[k], regions[k], missing[k], reduce=None if k == depth else factors,
                                 labels=labels)
            writing.update((level.name, *index) for index in missing[k])
        run.submit([level] if len(missing[depth]) == prod(level.numblocks) else [level.blocks[i] for i in missing[depth]])
    run.wait()
    if depth + 1 < len(targets):
        _write_levels(to_dask(targets[depth]), targets[depth:], yx, labels=labels, run=run, written=written,
                      writing=writing, first_written=True)


def _missing_units(target, region: tuple[slice, ...], written: set[str]) -> list[tuple[int, ...]]:
    """Indices, within ``region``, of the write units of ``target`` that are not on disk."""
    unit = write_unit(target)
    counts = [-(-(r.stop - r.start) // u) for r, u in zip(region, unit)]
    missing = []
    for index in product(*(range(n) for n in counts)):
        coords = tuple(r.start // u + i for r, u, i in zip(region, unit, index))
        if target.metadata.encode_chunk_key(coords) not in written:
            missing.append(index)
    return missing


def _reuse_written(source: da.Array, target, region: tuple[slice, ...], missing: list[tuple[int, ...]]) -> da.Array:
    """``source`` with the blocks that are already written to ``target`` read back from it instead."""
    on_disk = da.from_zarr(target, chunks=write_unit(target))[region]
    missing = set(missing)
    blocks = np.empty(source.numblocks, dtype=object)
    for index in np.ndindex(*source.numblocks):
        blocks[index] = (source if index in missing else on_disk).blocks[index]
    return da.block(blocks.tolist())


def _write_tasks(source: da.Array, target, region: tuple[slice, ...], missing: list[tuple[int, ...]], *,
                 reduce: tuple[int, ...] | None, labels: bool) -> da.Array:
    """One task per block of ``source``: write it into ``target`` at its place in ``region`` if it is
    ``missing``, and return its halving by ``reduce`` for the next level (a placeholder when None).

    Our own task rather than ``dask.array.store``: a resumed write runs only the missing blocks, the next
    level is reduced from the block while it is at hand, and a distributed worker writes its own chunks.
    """
    offset = [r.start for r in region]
    to_write = frozenset(missing)

    def write(block, block_info=None):
        info = block_info[0]
        if tuple(info["chunk-location"]) in to_write:
            start = [o + low for o, (low, _) in zip(offset, info["array-location"])]
            target[tuple(slice(a, a + n) for a, n in zip(start, block.shape))] = block
        if reduce is None:
            return np.ones((1,) * block.ndim, dtype=np.int8)
        return downsample_block(block, reduce, labels=labels)

    if reduce is None:
        chunks, dtype = tuple((1,) * n for n in source.numblocks), np.int8
    else:
        chunks, dtype = tuple(tuple(-(-c // f) for c in axis) for axis, f in zip(source.chunks, reduce)), source.dtype
    return source.map_blocks(
        write, chunks=chunks, dtype=dtype, meta=np.empty((0,) * source.ndim, dtype),
        name=WRITE_TASK + tokenize(source.name, target.store_path, offset, to_write, reduce),
    )
