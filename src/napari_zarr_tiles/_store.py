"""Open zarr stores read-only and tell zarr from not-zarr by content.

Everything that touches the store layout lives here, so that the reader, the ``info`` command and the later
writers agree on what a zarr store is. Where a store lives (a folder, a zip file, a URL) and how to reach it
is :mod:`._location`'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from math import prod
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr
from numcodecs.errors import UnknownCodecError
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

if TYPE_CHECKING:
    import dask.array as da

from ._errors import NotZarrError, RemoteStoreError, UnreadableChunkError, UnreadableStoreError
from ._location import (
    Location,
    RemoteCache,
    locate,
    open_store,
    refuse_misplaced_options,
    remote_error,
    signing_helps,
    zip_advice,
)

logger = logging.getLogger(__name__)

# A zarr store announces itself with one of these at its root (zarr v3: zarr.json; v2: .zarray / .zgroup).
ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


# The metadata documents of a node of each zarr format, and at a store's root (any format, consolidated
# metadata too): a remote node is opened with one concurrent request for each.
METADATA_KEYS = {3: ("zarr.json",), 2: (".zarray", ".zgroup", ".zattrs"), None: (*ZARR_MARKERS, ".zattrs", ".zmetadata")}


def is_zarr_path(path: str | PathLike) -> bool:
    """Whether ``path`` is a zarr store: a local folder holding zarr metadata at its root, a ``.zarr.zip``
    file, or a URL whose path names a ``.zarr`` store (a URL is not asked: cheap, never raises)."""
    try:
        location = locate(path)
        if location.remote:
            return ".zarr" in location.text.split("?")[0].lower()
        root = location.path
        if location.scheme == "zip":
            return root.is_file() and root.name.lower().endswith(".zarr.zip")
        return root.is_dir() and any((root / marker).is_file() for marker in ZARR_MARKERS)
    except (OSError, TypeError, ValueError):
        return False


def is_remote(node: zarr.Array | zarr.Group) -> bool:
    """Whether ``node`` is read over a network (listing it, or stat-ing its files, is not cheap there)."""
    return isinstance(node.store, RemoteCache)


def source_provenance(path: str | PathLike, storage_options: dict | None = None) -> dict:
    """What a store written from ``path`` records of it: the path, and a digest of the names, sizes and
    modification times of its files, which changes when the data there is rewritten (so that a resumed write
    never mixes tiles of the old data with tiles of the new). Stats every file of a zarr folder: cheap next
    to reading one tile of each. A remote store is not listed (one request per chunk): its digest is of its
    root metadata only, and says so (``source_state_of``)."""
    location = locate(path)
    if location.remote:
        root = open_readonly(path, storage_options=storage_options)
        metadata = json.dumps(root.metadata.to_dict(), sort_keys=True, default=str)
        digest = hashlib.sha1(metadata.encode()).hexdigest()[:16]
        return {"source": location.text, "source_state": digest, "source_state_of": "root metadata (remote)"}
    root = location.path
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


def open_readonly(
    path: str | PathLike, subpath: str = "", *, storage_options: dict | None = None
) -> zarr.Array | zarr.Group:
    """Open the array or group at ``path``/``subpath`` read-only; nothing is ever created.

    ``path`` is a local folder, a ``.zarr.zip`` file, or a URL (``https://``, ``s3://``, ``gs://``,
    ``file://``); ``storage_options`` are the remote store's (:func:`._location.open_store`). A public
    bucket is read anonymously; one that refuses anonymous reading is tried again with the standard
    credentials. zarr's own warnings while opening (a codec outside the zarr v3 specification, say) go to
    the log, not to the person: they say nothing about whether the data can be shown.

    Raises
    ------
    FileNotFoundError
        If nothing is stored there.
    NotZarrError
        If ``path`` is a folder without zarr metadata at its root.
    UnreadableStoreError
        If metadata is there but zarr cannot make sense of it (malformed JSON, unknown codec or dtype);
        :class:`RemoteStoreError` if a remote store does not answer (forbidden, timed out, unreachable).
    """
    location = locate(path)
    refuse_misplaced_options(location, storage_options)
    where = f"{location.text}/{subpath}" if subpath else location.text
    if location.scheme != "local":
        return _open_remote_or_zip(location, subpath, where, storage_options)
    path = location.path
    if path.is_file():
        raise NotZarrError(f"not a zarr store: {path} (a file; zarr stores are folders, or .zarr.zip files)")
    if not path.is_dir():
        raise FileNotFoundError(f"no zarr store at {path}")
    if not subpath and not is_zarr_path(path):
        raise NotZarrError(f"not a zarr store: {path} (no zarr.json, .zarray or .zgroup in it)")
    return _open_node(LocalStore(path, read_only=True), subpath, where)


def _open_remote_or_zip(location: Location, subpath: str, where: str, storage_options: dict | None):
    if location.scheme == "zip":
        if not location.path.is_file():
            raise FileNotFoundError(f"no zarr store at {location.path} (no such zip file)")
        inside = "/".join(part for part in (location.inside, subpath) if part)
        try:
            return _open_node(open_store(location), "/".join(part for part in (zip_root(location.path), inside) if part), where)
        except FileNotFoundError:
            raise FileNotFoundError(f"no zarr store at {where} (the zip file holds nothing at {inside!r})") from None
    store = open_store(location, storage_options)
    try:
        return _open_node(store, subpath, where)
    except RemoteStoreError as error:
        if not (error.refused and signing_helps(location, storage_options)):
            raise
    # refused anonymously: the standard credentials next
    return _open_node(open_store(location, storage_options, signed=True), subpath, where)


def zip_root(path: Path) -> str:
    """Where in the zip file at ``path`` the zarr store is: ``""`` at its root; or the one folder at its root,
    where that is all it holds and it is a zarr store (``zip -r x.zarr.zip x.zarr``, the usual way to zip one).

    Raises
    ------
    UnreadableStoreError
        If ``path`` is not a readable zip file (cut short, damaged, not a zip at all).
    NotZarrError
        If neither its root nor its one folder holds zarr metadata.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError) as error:
        reason = f"not a readable zip file ({error})"
        failure = UnreadableStoreError(
            f"{path}: {reason}: it may be cut short or damaged; make it again from the store's folder: "
            f"{zip_advice(path.name.removesuffix('.zip'))}")
        failure.reason = reason
        raise failure from None
    if names & set(ZARR_MARKERS):
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1:
        [top] = tops
        if any(f"{top}/{marker}" in names for marker in ZARR_MARKERS):
            return top
    raise NotZarrError(
        f"not a zarr store: {path} (no zarr.json, .zarray or .zgroup at the zip's root, nor in one folder that "
        f"holds all the rest): zip a store from inside its folder: {zip_advice(path.name.removesuffix('.zip'))}")


def _unparsable_metadata(store, subpath: str) -> str | None:
    """The metadata file of the node at ``subpath`` of a local store that is not valid JSON, or None."""
    root = getattr(store, "root", None)
    if root is None:
        return None
    for name in (*ZARR_MARKERS, ".zattrs"):
        file = Path(root) / subpath / name
        try:
            json.loads(file.read_bytes())
        except FileNotFoundError:
            continue
        except (ValueError, OSError):
            return str(file)
    return None


def open_member(group: zarr.Group, key: str, where: str) -> zarr.Array | zarr.Group:
    """The array or group ``key`` of ``group``, opened on its own (see :func:`open_readonly` for errors);
    ``where`` names it in messages."""
    subpath = f"{group.path}/{key}" if group.path else key
    consolidated = _consolidated(group)
    if consolidated is not None and is_remote(group):
        # a remote group's consolidated metadata holds its members' own: opened from it, without a request
        if key not in consolidated:
            raise FileNotFoundError(f"no zarr array or group at {where}")
        return _open_node(group.store, subpath, where, opener=lambda: group[key])
    return _open_node(group.store, subpath, where)


def _consolidated(group: zarr.Group) -> dict | None:
    """The consolidated metadata of ``group``'s members, by path (None where it has none)."""
    consolidated = getattr(group.metadata, "consolidated_metadata", None)
    return None if consolidated is None else consolidated.metadata


def _open_node(store, subpath: str, where: str, opener=None) -> zarr.Array | zarr.Group:
    try:
        zarr_format = None
        if isinstance(store, RemoteCache) and opener is None:
            # every metadata document of the node in one round trip; zarr then reads them from the cache,
            # asking only for those of the store's format (a zarr hierarchy holds nodes of one format)
            zarr_format = store.zarr_format
            sync(store.fetch(f"{subpath}/{key}" if subpath else key for key in METADATA_KEYS[zarr_format]))
            if not subpath:
                if all(key in store.absent for key in ZARR_MARKERS):
                    raise FileNotFoundError(f"no zarr store at {where}: not found (HTTP 404) for its zarr.json, "
                                            ".zgroup and .zarray; check the URL")
                zarr_format = store.zarr_format = 2 if "zarr.json" in store.absent else 3
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            node = opener() if opener is not None else zarr.open(store, path=subpath, mode="r", zarr_format=zarr_format)
    except FileNotFoundError:
        raise
    except Exception as error:  # a failed request: said in network terms; anything else as before
        failure = remote_error(error, where, store=store)
        if failure is not None:
            raise failure from error
        if not isinstance(error, ValueError | KeyError | TypeError | NotImplementedError):
            raise
        # zarr reports an unknown codec or dtype and malformed metadata with these types, from deep inside.
        reason = unreadable_reason(error)
        if isinstance(error, json.JSONDecodeError):  # zarr's message does not say which file
            reason = f"{_unparsable_metadata(store, subpath) or 'its metadata'} is not valid JSON ({error})"
        failure = UnreadableStoreError(f"cannot open zarr at {where}: {reason}")
        failure.reason = reason
        raise failure from error
    for warning in caught:
        logger.debug("zarr, opening %s: %s", where, warning.message)
    return node


def unreadable_reason(error: BaseException) -> str:
    """Why zarr could not open an array, in a person's words (zarr's are written for its developers)."""
    if isinstance(error, UnknownCodecError):
        # numcodecs quotes the codec's name in its message, and again in codec_id.
        codec = str(error.codec_id).strip("'")
        return f"its codec {codec!r} is not available here (install the package that provides it)"
    text = str(error)
    if "Expected a base64-encoded string" in text:
        # zarr-python 2 wrote fixed-length bytes arrays with an integer fill value, which zarr 3 refuses.
        return f"a fixed-length bytes array with a fill value zarr 3 does not accept ({text})"
    if "object_codec_id" in text or "'|O'" in text:
        return f"an array of Python objects (zarr-python 2's object arrays), not pixels ({text})"
    return text if isinstance(error, ValueError) else f"{type(error).__name__}: {text}"


def read_chunks(array: zarr.Array) -> tuple[int, ...]:
    """The unit of reading: the shard where the array is sharded, else the chunk."""
    return tuple(array.shards or array.chunks)


@dataclass(frozen=True)
class MissingChunks:
    """What a directory listing tells of an array's stored objects (no chunk is read).

    The stored objects are shards where the array is sharded, else chunks: ``unit`` says which.
    """

    expected: int
    missing: int
    first_keys: tuple[str, ...]
    unit: str
    chunks_per_shard: int = 1

    @property
    def present(self) -> int:
        return self.expected - self.missing

    def describe(self) -> str:
        """``"3 of 100 chunks missing (first: 0.1, 0.2, 0.3)"``, or ``"all 100 chunks present"``."""
        if not self.missing:
            return f"all {self.expected} {self.unit}s present"
        return f"{self.missing} of {self.expected} {self.unit}s missing (first: {', '.join(self.first_keys)})"


def missing_chunks(array: zarr.Array, most: int = 5) -> MissingChunks:
    """The stored objects (shards where sharded, else chunks) ``array``'s shape calls for and does not have.

    Cheap: one listing of the array's keys, compared with the keys its grid calls for; nothing is read.
    ``first_keys`` holds the first ``most`` missing keys in grid order. A missing chunk is legal zarr (it
    reads as the fill value), so this is for telling people, never a reason to fail by itself.
    """
    grid = [-(-size // edge) for size, edge in zip(array.shape, read_chunks(array))]
    stored = set(_listed_keys(array))
    missing, first = 0, []
    for index in product(*map(range, grid)):
        key = array.metadata.encode_chunk_key(index)
        if key not in stored:
            missing += 1
            if len(first) < most:
                first.append(key)
    per_shard = prod(s // c for s, c in zip(array.shards, array.chunks)) if array.shards else 1
    return MissingChunks(prod(grid), missing, tuple(first), "shard" if array.shards else "chunk", per_shard)


def _listed_keys(array: zarr.Array) -> list[str]:
    """The keys stored under ``array``, relative to it."""
    if isinstance(array.store, zarr.storage.LocalStore):
        # os.walk: 0.1 s for 100000 chunk files, where zarr's own listing takes 4.5 s.
        base = os.path.join(array.store.root, array.path)
        keys = []
        for folder, _, names in os.walk(base):
            inside = os.path.relpath(folder, base).replace(os.sep, "/")
            keys += names if inside == "." else [f"{inside}/{name}" for name in names]
        return keys
    prefix = f"{array.path}/" if array.path else ""

    async def listing() -> list[str]:
        return [key async for key in array.store.list_prefix(prefix)]

    return [key[len(prefix) :] for key in sync(listing())]


def codec_names(array: zarr.Array) -> list[str]:
    """The array's codecs in the order they are applied on write, as zarr itself prints them."""
    return [repr(codec) for codec in (*array.filters, array.serializer, *array.compressors) if codec is not None]


@dataclass
class GroupMembers:
    """The arrays and groups directly in a group, by name in natural order (``2`` before ``10``), and the
    members that could not be opened, each with the reason, in a person's words."""

    arrays: list[tuple[str, zarr.Array]] = field(default_factory=list)
    groups: list[tuple[str, zarr.Group]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def group_members(group: zarr.Group, names: list[str] | None = None) -> GroupMembers:
    """Open every member of ``group`` on its own, so that one bad array never hides the others.

    zarr's ``Group.members()`` opens them all at once and fails as a whole on the first it cannot read (an
    object array of zarr-python 2, a fixed-length bytes array with an integer fill value), leaving its other
    tasks' errors to asyncio ("Task exception was never retrieved"). The names come from the consolidated
    metadata where the group has it (no listing: over a network, no request at all), else from a listing,
    unless ``names`` are given (the members an OME image's metadata names, say): those that exist are opened.

    Raises
    ------
    UnreadableStoreError
        If the group has no consolidated metadata and its store cannot be listed (a plain web server).
    """
    members = GroupMembers()
    names = _member_names(group) if names is None else names
    prefetch_members(group, names)
    for name in sorted(names, key=_natural_key):
        if name in ZARR_MARKERS or name in (".zattrs", ".zmetadata"):
            continue
        try:
            node = open_member(group, name, f"{group.store}/{name}")
        except FileNotFoundError:
            continue  # a file or folder that is no zarr node (a stray file, a chunk folder): not a member
        except UnreadableStoreError as error:
            members.unreadable.append((name, error.reason))
            continue
        if isinstance(node, zarr.Array):
            members.arrays.append((name, node))
        else:
            members.groups.append((name, node))
    return members


def prefetch_members(group: zarr.Group, names: list[str], *, first_chunk_of: tuple[str, int] | None = None) -> None:
    """Where ``group`` is remote, fetch the metadata of its members ``names`` in one round trip, so that
    opening them one after the other then costs none; nothing for a local store.

    ``first_chunk_of`` (a member array's name and number of axes) adds that array's first chunk, its key
    guessed from zarr's default encoding (``c/0/0`` in zarr v3; ``0/0`` in v2, OME-Zarr's separator): the
    reader asks for the coarsest level's chunks next, and this saves the first frame a round trip. A wrong
    guess costs one absent key, asked for at the same time.
    """
    if is_remote(group) and names:
        prefix = f"{group.path}/" if group.path else ""
        # a group's consolidated metadata holds its members' (and names every member): none to ask for
        consolidated = _consolidated(group) is not None
        keys = [] if consolidated else [f"{prefix}{name}/{key}" for name in names
                                        for key in METADATA_KEYS[group.store.zarr_format]]
        if first_chunk_of is not None:
            name, ndim = first_chunk_of
            origin = "/".join("0" * ndim)
            keys.append(f"{prefix}{name}/c/{origin}" if group.store.zarr_format == 3 else f"{prefix}{name}/{origin}")
        sync(group.store.fetch(keys))


def _member_names(group: zarr.Group) -> list[str]:
    consolidated = _consolidated(group)
    if consolidated is not None:
        return sorted({key.split("/")[0] for key in consolidated})
    prefix = group.path

    async def listing() -> list[str]:
        return [key async for key in group.store.list_dir(prefix)]

    try:
        return sync(listing())
    except Exception as error:  # a store that cannot list (plain HTTP): said, not raised raw
        if not is_remote(group):
            raise
        reason = (f"the group's members cannot be listed over {locate(str(group.store)).scheme} and it has no "
                  "consolidated metadata: open its images by their own URLs, or consolidate the store's metadata "
                  "(zarr.consolidate_metadata)")
        failure = UnreadableStoreError(f"{group.store}/{prefix}: {reason}")
        failure.reason = reason
        raise failure from error


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


# The root attribute a napari-zarr-tiles write sets: {"complete": false} until every chunk is written.
WRITER_MARKER = "napari-zarr-tiles"

# Dask tasks of at least this many pixels along each of the last two axes: a store of small chunks
# (the notebook's 100x100) would otherwise cost tens of thousands of tasks per screenful.
MIN_TASK_EDGE = 512
# Over a network, tasks of 4 x 4 chunks of 512 (2 x 2 of 1024): zarr asks for the chunks of one task at once,
# while dask runs only as many tasks at a time as there are cores (napari's 2 here would mean 2 requests).
REMOTE_TASK_EDGE = 2048


@dataclass(frozen=True)
class BadChunks:
    """Chunks of one array that are stored but cannot be read or decoded (truncated, corrupt, an I/O error),
    or that a remote store did not send.

    ``keys`` are the stored objects' keys (shards where the array is sharded), as a file listing shows them.
    """

    store: str
    array: str
    keys: tuple[str, ...]
    reason: str
    network: bool = False  # the store did not answer (a remote store), rather than the chunks being damaged

    def describe(self, most: int = 8) -> str:
        """One line naming the store, the array and the first ``most`` keys."""
        keys = ", ".join(self.keys[:most]) + (f" and {len(self.keys) - most} more" if len(self.keys) > most else "")
        return f"{self.store}: array {self.array!r}: chunk(s) {keys} cannot be read ({self.reason})"


# What a lazy view does with a chunk it cannot read: raise UnreadableChunkError, or show the fill value.
BAD_CHUNK_MODES = ("raise", "fill")


def to_dask(
    array: zarr.Array,
    min_task_edge: int | None = None,
    *,
    bad_chunks: str = "raise",
    on_bad_chunks: Callable[[BadChunks], None] | None = None,
) -> da.Array:
    """A lazy dask view of ``array``, one task per read unit (whole chunks or shards, grouped when small).

    Parameters
    ----------
    array
        The zarr array to view.
    min_task_edge
        A larger value groups more chunks per task; zarr then reads and decodes them concurrently, which
        is faster where every chunk is wanted anyway (an overview). By default MIN_TASK_EDGE, and
        REMOTE_TASK_EDGE for a remote store.
    bad_chunks
        What a chunk that is stored but cannot be read (corrupt on disk) does: ``"raise"`` (the default)
        raises :class:`UnreadableChunkError` naming the store, the array and the chunk keys; ``"fill"``
        reads it as the array's fill value and reports it to ``on_bad_chunks``.
    on_bad_chunks
        With ``"fill"``: called with a :class:`BadChunks` for every read that met bad chunks (from dask's
        worker threads; the same key may come again when a region is read again), in the process that reads:
        on a dask.distributed cluster, on the workers, so it must pickle. A viewer tells the person once per
        array; a writer records that its output is not a clean copy.
    """
    import dask.array as da  # here, not at the top: the reader imports this module, and draws without dask
    from dask.base import tokenize

    if bad_chunks not in BAD_CHUNK_MODES:
        raise ValueError(f"bad_chunks must be one of {BAD_CHUNK_MODES}, not {bad_chunks!r}")
    if min_task_edge is None:
        min_task_edge = REMOTE_TASK_EDGE if is_remote(array) else MIN_TASK_EDGE
    chunks = list(read_chunks(array))
    for axis in range(max(0, array.ndim - 2), array.ndim):
        chunks[axis] *= max(1, min_task_edge // chunks[axis])
    name = "from-zarr-" + tokenize(
        str(array.store), array.path, array.shape, str(array.dtype), tuple(chunks), bad_chunks
    )
    return da.from_array(
        NamedReads(array, bad_chunks=bad_chunks, on_bad_chunks=on_bad_chunks), chunks=tuple(chunks), name=name,
        asarray=False, fancy=False, meta=np.empty((0,) * array.ndim, dtype=array.dtype),
    )


def reading_bad_chunks(data: da.Array, bad_chunks: str, on_bad_chunks: Callable[[BadChunks], None] | None = None) -> da.Array:
    """``data`` with every lazy zarr view in its graph (made by :func:`to_dask`) meeting bad chunks in the
    ``bad_chunks`` mode, reported to ``on_bad_chunks``.

    A layer the viewer holds reads bad chunks as the fill value (napari must keep drawing); a save made from
    it must stop on them, or record them, as ``convert`` and ``process`` do. The views sit in the graph as
    the values of dask's ``original-`` keys (``from_array`` with ``asarray=False``); only those are replaced.
    """
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    data = da.asarray(data)  # a layer's lazy view (``_lazy``) becomes the dask view of its pixels
    graph = data.__dask_graph__()
    layers = {}
    for name, layer in graph.layers.items():
        if any(isinstance(value, NamedReads) for value in layer.values()):
            layer = {
                key: NamedReads(value.array, bad_chunks=bad_chunks, on_bad_chunks=on_bad_chunks)
                if isinstance(value, NamedReads) else value
                for key, value in layer.items()
            }
        layers[name] = layer
    return da.Array(HighLevelGraph(layers, graph.dependencies), data.name, data.chunks, meta=data._meta)


class NamedReads:
    """A zarr array whose failed reads say which store, array and chunks failed, or read as the fill value.

    zarr's own error from a corrupt chunk (a codec's "decompression error") names none of them, and reaches
    the person from deep inside a dask task, possibly long after the store was opened. ``bad_chunks`` and
    ``on_bad_chunks`` are those of :func:`to_dask`.
    """

    def __init__(
        self, array: zarr.Array, *, bad_chunks: str = "raise", on_bad_chunks: Callable[[BadChunks], None] | None = None
    ):
        self.array = array
        self.shape, self.dtype, self.ndim, self.chunks = array.shape, array.dtype, array.ndim, array.chunks
        self.bad_chunks, self.on_bad_chunks = bad_chunks, on_bad_chunks

    def __repr__(self) -> str:
        return f"<{store_name(self.array)}: array {self.array.path or '/'!r}>"

    def to_dask(self) -> da.Array:
        """The lazy dask view of this array (:func:`to_dask`), meeting bad chunks as this does."""
        return to_dask(self.array, bad_chunks=self.bad_chunks, on_bad_chunks=self.on_bad_chunks)

    def __getitem__(self, selection):
        try:
            values = self.array[selection]
        except Exception as error:  # noqa: BLE001 - any codec or I/O failure: found chunk by chunk below
            first_error = error
        else:
            if not _store_gone(self.array):
                return values
            # zarr reads a chunk file that is not there as the fill value, a whole store deleted too: say so
            gone = f"the store is no longer at {store_name(self.array)} (deleted or moved)"
            if self.bad_chunks == "raise":
                raise UnreadableStoreError(f"{store_name(self.array)}: {gone}") from None
            _, keys = _fill_region(self.array, selection)
            self._tell(keys, gone)
            return values
        where = f"array {self.array.path or '/'!r}"
        failure = remote_error(first_error, store_name(self.array), where, store=self.array.store)
        if failure is not None:  # the network failed, not a chunk: no chunk-by-chunk retry, each would wait
            if self.bad_chunks == "raise":
                raise failure from first_error
            values, keys = _fill_region(self.array, selection)
            self._tell(keys, failure.reason, network=True)
            return values
        values, bad = _read_chunk_by_chunk(self.array, selection, stop_at_first=self.bad_chunks == "raise")
        if not bad:  # the failure was not one chunk's (the store went away, say): zarr's error, with its place
            raise UnreadableStoreError(
                f"{store_name(self.array)}: array {self.array.path or '/'!r} cannot be read: "
                f"{type(first_error).__name__}: {first_error}"
            ) from first_error
        reason = f"{type(first_error).__name__}: {first_error}"
        if self.bad_chunks == "raise":
            raise UnreadableChunkError(BadChunks(store_name(self.array), self.array.path or "/", tuple(bad), reason).describe()) from first_error
        self._tell(bad, reason)
        return values

    def _tell(self, keys, reason: str, *, network: bool = False) -> None:
        """Say that ``keys`` are shown as the fill value: to the log (the command line prints its warnings),
        and to ``on_bad_chunks``."""
        report = BadChunks(store_name(self.array), self.array.path or "/", tuple(keys), reason, network)
        logger.warning("%s; shown as the fill value", report.describe())
        if self.on_bad_chunks is not None:
            self.on_bad_chunks(report)


def _store_gone(array: zarr.Array) -> bool:
    """Whether ``array``'s local store folder is gone (one stat: a read of a missing chunk is legal zarr)."""
    return isinstance(array.store, zarr.storage.LocalStore) and not os.path.isdir(array.store.root)


async def stored_bytes(store: zarr.abc.store.Store, key: str) -> bytes | None:
    """The object stored at ``key``, or None where there is none. A local store's file is read at once:
    zarr's LocalStore hands every read to a thread pool, which for the 300 small reads of a plate's mosaic
    was a third of their time (more while napari's start-up held the interpreter)."""
    if isinstance(store, zarr.storage.LocalStore):
        try:
            return (Path(store.root) / key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
    stored = await store.get(key, prototype=default_buffer_prototype())
    return None if stored is None else stored.to_bytes()


def store_name(array: zarr.Array) -> str:
    """The store of ``array`` as people name it: a local folder's or zip file's path, a remote store's URL."""
    root = getattr(array.store, "root", None) or getattr(array.store, "path", None)
    return str(root) if root is not None else str(array.store)


def fill_value(array: zarr.Array | zarr.AsyncArray):
    """The value zarr shows where there is no chunk (0 where the metadata gives none)."""
    return 0 if array.metadata.fill_value is None else array.metadata.fill_value


def _fill_region(array: zarr.Array, selection) -> tuple[np.ndarray, list[str]]:
    """``array[selection]`` all fill value, and the keys of the stored objects it covers, in grid order."""
    region, steps, bounds = _empty_region(array, selection)
    ranges = [range(start // edge, -(-stop // edge)) for (start, stop), edge in zip(bounds, read_chunks(array))]
    keys = [array.metadata.encode_chunk_key(index) for index in product(*ranges)]
    return region[tuple(steps)], keys


def _empty_region(array: zarr.Array, selection) -> tuple[np.ndarray, list, list[tuple[int, int]]]:
    """The region ``selection`` covers, filled with the fill value; the steps to take of it; its bounds."""
    selection = selection if isinstance(selection, tuple) else (selection,)
    selection = selection + (slice(None),) * (array.ndim - len(selection))
    bounds, steps = [], []
    for part, size in zip(selection, array.shape):
        if isinstance(part, slice):
            start, stop, step = part.indices(size)
            bounds.append((start, max(start, stop)))
            steps.append(slice(None, None, step))
        else:
            index = int(part) % size
            bounds.append((index, index + 1))
            steps.append(0)
    return np.full([stop - start for start, stop in bounds], fill_value(array), dtype=array.dtype), steps, bounds


def _read_chunk_by_chunk(array: zarr.Array, selection, stop_at_first: bool) -> tuple[np.ndarray, list[str]]:
    """``array[selection]`` read one chunk at a time, the fill value where a chunk fails; and the keys of
    the stored objects (shards where sharded) that failed, in grid order. A rare path, taken only once a
    read has failed."""
    region, steps, bounds = _empty_region(array, selection)
    per_unit = [unit // chunk for unit, chunk in zip(read_chunks(array), array.chunks)]
    bad: list[str] = []
    ranges = [range(start // edge, -(-stop // edge)) for (start, stop), edge in zip(bounds, array.chunks)]
    for index in product(*ranges):
        key = array.metadata.encode_chunk_key(tuple(i // n for i, n in zip(index, per_unit)))
        if key in bad:
            continue  # its shard already failed
        wanted = tuple(
            slice(max(start, i * edge), min(stop, (i + 1) * edge))
            for i, edge, (start, stop) in zip(index, array.chunks, bounds)
        )
        try:
            region[tuple(slice(w.start - start, w.stop - start) for w, (start, _) in zip(wanted, bounds))] = array[wanted]
        except Exception:  # noqa: BLE001 - finding which chunks fail is the point
            bad.append(key)
            if stop_at_first:
                break
    return region[tuple(steps)], bad
