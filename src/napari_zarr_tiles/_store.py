"""Open zarr stores read-only and tell zarr from not-zarr by content.

Everything that touches the store layout lives here, so that the reader, the ``info`` command and the later
writers agree on what a zarr store is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from itertools import product
from os import PathLike
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize
from zarr.storage import LocalStore

from ._errors import UnreadableStoreError

# A zarr store announces itself with one of these at its root (zarr v3: zarr.json; v2: .zarray / .zgroup).
ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


def is_zarr_path(path: str | PathLike) -> bool:
    """Whether ``path`` is a local folder holding zarr metadata at its root; cheap, never raises."""
    try:
        root = Path(path)
        return root.is_dir() and any((root / marker).is_file() for marker in ZARR_MARKERS)
    except (OSError, TypeError, ValueError):
        return False


def source_provenance(path: str | PathLike) -> dict:
    """What a store written from ``path`` records of it: the path, and a digest of the names, sizes and
    modification times of its files, which changes when the data there is rewritten (so that a resumed write
    never mixes tiles of the old data with tiles of the new). Stats every file of a zarr folder: cheap next
    to reading one tile of each."""
    root = Path(path)
    if root.is_file():
        state = root.stat()
        entries = [("", state.st_size, state.st_mtime_ns)]
    else:
        entries = []
        for folder, _, files in os.walk(root):
            for name in files:
                state = os.stat(os.path.join(folder, name))
                entries.append((os.path.relpath(os.path.join(folder, name), root), state.st_size, state.st_mtime_ns))
    digest = hashlib.sha1(repr(sorted(entries)).encode()).hexdigest()[:16]
    return {"source": str(path), "source_state": digest}


def open_readonly(path: str | PathLike, subpath: str = "") -> zarr.Array | zarr.Group:
    """Open the array or group at ``path``/``subpath`` read-only; nothing is ever created.

    Raises
    ------
    FileNotFoundError
        If nothing is stored there.
    UnreadableStoreError
        If metadata is there but zarr cannot make sense of it (malformed JSON, unknown codec or dtype).
    """
    where = f"{path}/{subpath}" if subpath else str(path)
    if not Path(path).is_dir():
        raise FileNotFoundError(f"no zarr store at {path}")
    store = LocalStore(path, read_only=True)
    try:
        return zarr.open(store, path=subpath, mode="r")
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError, NotImplementedError) as error:
        # zarr reports an unknown codec or dtype and malformed metadata with these types, from deep inside.
        raise UnreadableStoreError(f"cannot open zarr at {where}: {error}") from error


def read_chunks(array: zarr.Array) -> tuple[int, ...]:
    """The unit of reading: the shard where the array is sharded, else the chunk."""
    return tuple(array.shards or array.chunks)


def chunk_counts(array: zarr.Array) -> tuple[int, int]:
    """How many chunks are stored and how many the array's shape calls for (inner chunks where sharded)."""
    return array.nchunks_initialized, array.nchunks


def codec_names(array: zarr.Array) -> list[str]:
    """The array's codecs in the order they are applied on write, as zarr itself prints them."""
    return [repr(codec) for codec in (*array.filters, array.serializer, *array.compressors) if codec is not None]


def iter_arrays(group: zarr.Group) -> Iterator[tuple[str, zarr.Array]]:
    """The arrays directly in ``group``, by name, in natural order (``2`` before ``10``)."""
    arrays = [(name, node) for name, node in group.members() if isinstance(node, zarr.Array)]
    yield from sorted(arrays, key=lambda item: _natural_key(item[0]))


def iter_groups(group: zarr.Group) -> Iterator[tuple[str, zarr.Group]]:
    """The groups directly in ``group``, by name, in natural order."""
    groups = [(name, node) for name, node in group.members() if isinstance(node, zarr.Group)]
    yield from sorted(groups, key=lambda item: _natural_key(item[0]))


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


# The root attribute a napari-zarr-tiles write sets: {"complete": false} until every chunk is written.
WRITER_MARKER = "napari-zarr-tiles"

# Dask tasks of at least this many pixels along each of the last two axes: a store of small chunks
# (the notebook's 100x100) would otherwise cost tens of thousands of tasks per screenful.
MIN_TASK_EDGE = 512


def to_dask(array: zarr.Array, min_task_edge: int = MIN_TASK_EDGE) -> da.Array:
    """A lazy dask view of ``array``, one task per read unit (whole chunks or shards, grouped when small).

    A larger ``min_task_edge`` groups more chunks per task; zarr then reads and decodes them concurrently,
    which is faster where every chunk is wanted anyway (an overview). A chunk that cannot be read (corrupt
    on disk) raises :class:`UnreadableStoreError` naming the store, the array and the chunk.
    """
    chunks = list(read_chunks(array))
    for axis in range(max(0, array.ndim - 2), array.ndim):
        chunks[axis] *= max(1, min_task_edge // chunks[axis])
    name = "from-zarr-" + tokenize(str(array.store), array.path, array.shape, str(array.dtype), tuple(chunks))
    return da.from_array(
        NamedReads(array), chunks=tuple(chunks), name=name, asarray=False, fancy=False,
        meta=np.empty((0,) * array.ndim, dtype=array.dtype),
    )


class NamedReads:
    """A zarr array whose failed reads say which store, array and chunks failed.

    zarr's own error from a corrupt chunk (a codec's "decompression error") names none of them, and reaches
    the person from deep inside a dask task, possibly long after the store was opened.
    """

    def __init__(self, array: zarr.Array):
        self.array = array
        self.shape, self.dtype, self.ndim, self.chunks = array.shape, array.dtype, array.ndim, array.chunks

    def __getitem__(self, selection):
        try:
            return self.array[selection]
        except Exception as error:  # re-raised with its place: any codec or I/O failure of this read
            bad = _failing_chunks(self.array, selection)
            raise UnreadableStoreError(
                f"{self.array.store}: array {self.array.path or '/'!r}: chunk(s) at index {', '.join(map(str, bad))} "
                f"of {self.array.chunks} pixels cannot be read: {type(error).__name__}: {error}"
            ) from error


def _failing_chunks(array: zarr.Array, selection, most: int = 3) -> list[tuple[int, ...]]:
    """The chunks under ``selection`` that fail to read on their own (the first ``most``); a rare path,
    taken only once a read has failed, so it may read again chunk by chunk."""
    selection = selection if isinstance(selection, tuple) else (selection,)
    selection = selection + (slice(None),) * (array.ndim - len(selection))
    ranges = []
    for part, size, edge in zip(selection, array.shape, array.chunks):
        if isinstance(part, slice):
            start, stop, _ = part.indices(size)
            ranges.append(range(start // edge, -(-stop // edge)))
        else:
            ranges.append(range(part // edge, part // edge + 1))
    bad = []
    for index in product(*ranges):
        try:
            array[tuple(slice(i * edge, (i + 1) * edge) for i, edge in zip(index, array.chunks))]
        except Exception:  # noqa: BLE001 - finding which chunks fail is the point
            bad.append(index)
            if len(bad) == most:
                break
    return bad
