"""The writing core: what is written and where, for every write (convert, napari's Save, filter saves).

An :class:`ImageToWrite` and its :class:`WriteOptions` become a layout (tiles, pyramid shapes, codecs),
arrays in a temporary sibling of the target, OME metadata, and a store moved into place when complete; a
failure removes the sibling unless the write is resumable. ``_stream`` writes the pixels. No napari here:
``_writer`` adapts napari's layers to this module.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

import dask.array as da
import zarr
from zarr.storage import LocalStore, MemoryStore

from . import _ome
from ._display import contrast_limits, sample
from ._errors import (
    ResumeMismatchError,
    TargetExistsError,
    TargetLockedError,
    TargetNotWritableError,
    UnfinishedWriteKept,
    UnreadableChunkError,
    ZarrTilesError,
)
from ._image import ImageToWrite
from ._location import refuse_read_only_target
from ._options import LEVELS, WriteOptions, partial_path
from ._store import WRITER_MARKER, codec_names
from ._stream import Levels, Progress, stream

__all__ = ["ImageToWrite", "create_empty", "default_chunks", "move_into_place", "write_ome_zarr"]

DEFAULT_TILE_2D = 1024
DEFAULT_TILE_3D = (64, 256, 256)


def make_compressor(name: str, zarr_format: int, level: int | None = None):
    """A compressor by name for the zarr format; the default, blosc-zstd level 3 with bit shuffle, is the
    notebook's own choice."""
    if name == "none":
        return None
    level = LEVELS[name][2] if level is None else level
    if zarr_format == 2:
        import numcodecs

        if name.startswith("blosc"):
            return numcodecs.Blosc(cname=name.split("-")[1], clevel=level, shuffle=numcodecs.Blosc.BITSHUFFLE)
        return numcodecs.Zstd(level=level) if name == "zstd" else numcodecs.GZip(level=level)
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if name.startswith("blosc"):
        return BloscCodec(cname=name.split("-")[1], clevel=level, shuffle="bitshuffle")
    return ZstdCodec(level=level) if name == "zstd" else GzipCodec(level=level)


def default_chunks(axes: Sequence[_ome.Axis], shape: Sequence[int], tile: int | None = None) -> tuple[int, ...]:
    """Tiles of ``tile`` (default 1024) over Y and X in 2D; 64 x 256 x 256 over Z, Y, X in 3D; 1 elsewhere."""
    spatial = _ome.space_axes(axes)
    if tile is not None:
        edges = {axis: tile for axis in spatial[-2:]} | ({spatial[-3]: min(tile, 64)} if len(spatial) > 2 else {})
    elif len(spatial) >= 3:
        edges = dict(zip(spatial[-3:], DEFAULT_TILE_3D))
    else:
        edges = {axis: DEFAULT_TILE_2D for axis in spatial}
    return tuple(min(edges.get(axis, 1), size) for axis, size in enumerate(shape))


def level_shapes(shape: Sequence[int], yx: Sequence[int], chunks: Sequence[int]) -> list[tuple[int, ...]]:
    """Level 0's shape, then halvings of the ``yx`` axes (rounded up) until one tile holds the level."""
    shapes = [tuple(shape)]
    while any(shapes[-1][axis] > chunks[axis] for axis in yx):
        shapes.append(tuple(-(-size // 2) if axis in yx else size for axis, size in enumerate(shapes[-1])))
    return shapes


def write_ome_zarr(
    path: str | PathLike,
    image: ImageToWrite,
    *,
    labels: Sequence[ImageToWrite] = (),
    options: WriteOptions | None = None,
    progress: Progress | None = None,
    provenance: dict | None = None,
    findings: Callable[[], dict] | None = None,
    client=None,
    **option_values,
) -> str:
    """Write ``image`` (and ``labels`` under its ``labels/`` group) as OME-Zarr at ``path``; return the path.

    ``options`` (or its fields as keywords: tile, compressor, compression_level, ome_version, shards,
    with_pyramid, overwrite, resumable) say how. ``progress(done, total)`` is called as output chunks are
    written; an exception raised from it cancels the write. The store is written under a hidden sibling name
    and moved to ``path`` only when complete, marked complete in its attributes
    (``napari-zarr-tiles.complete``) with ``provenance``, and what ``findings()`` then returns (what reading
    the source met on the way, such as chunks written as the fill value).

    A failed or cancelled write leaves nothing, unless ``resumable``: then its unfinished store stays beside
    the target (``.NAME.partial``), and the next resumable write of the same plan to the same path continues
    it, computing only the chunks not yet on disk. ``client``, a dask.distributed Client, runs the write on
    its cluster: each worker writes its own chunks straight into the store, which must be on a file system
    the workers share.
    """
    options = WriteOptions.of(options, **option_values)
    target = Path(path)
    refuse_target(target, options)
    if not options.resumable and partial_path(target).exists():
        warnings.warn(UnfinishedWriteKept(str(partial_path(target)), str(target)), stacklevel=2)
    layouts = [_layout(image, options), *(_layout(label, options) for label in labels)]
    partial = partial_path(target) if options.resumable else target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    with _target_lock(target):
        refuse_target(target, options)  # again, under the lock: the write that held it may just have finished
        resuming = options.resumable and _resumable(partial)
        try:
            root = zarr.open_group(LocalStore(partial), mode="r+" if resuming else "w-", zarr_format=options.zarr_format)
            groups = [root]
            if labels:
                labels_group = root["labels"] if resuming else root.create_group("labels")
                groups += [labels_group[label.name] if resuming else labels_group.create_group(label.name) for label in labels]
                labels_group.attrs.update(_ome.wrap({"labels": [label.name for label in labels]}, options.ome_version))
            plans = [_Plan(group, layout, *_arrays(group, layout, options, resuming)) for group, layout in zip(groups, layouts)]
            recipe = {"complete": False, "provenance": provenance or {},
                      "arrays": [described for plan in plans for described in plan.planned]}
            if resuming and root.attrs.get(WRITER_MARKER) != recipe:
                raise ResumeMismatchError(
                    f"the unfinished write at {partial} was of something else "
                    f"({_what_differs(root.attrs.get(WRITER_MARKER) or {}, recipe)}); remove it to start over"
                )
            root.attrs[WRITER_MARKER] = recipe
            stream([Levels(plan.layout.level0, plan.targets, plan.layout.yx, plan.layout.image.is_label) for plan in plans],
                   progress, client)
            for plan in plans:
                plan.write_metadata(options.ome_version)
            root.attrs[WRITER_MARKER] = {"complete": True, "provenance": {**(provenance or {}), **(findings() if findings else {})}}
            move_into_place(partial, target, overwrite=options.overwrite)
        except BaseException as error:
            if not options.resumable:
                shutil.rmtree(partial, ignore_errors=True)
            left = (f"the unfinished store is kept at {partial}: write again to the same target to resume"
                    if options.resumable and partial.exists() else f"nothing was written to {target}")
            if isinstance(error, OSError) and _refused(error, partial):
                raise TargetNotWritableError(f"cannot write {target}: {error.strerror}; {left}") from error
            if isinstance(error, UnreadableChunkError):  # the source's: the write stopped there
                raise UnreadableChunkError(f"{error}; {left}") from error
            raise
    return str(target)


def _resumable(partial: Path) -> bool:
    """Whether ``partial`` holds a write to continue. A write stopped before it recorded what it writes (its
    first step, before any tile) left nothing worth keeping: that is removed, to start again."""
    try:
        marker = zarr.open_group(LocalStore(partial, read_only=True), mode="r").attrs.get(WRITER_MARKER)
    except FileNotFoundError:  # zarr: no group there (GroupNotFoundError is one)
        marker = None
    if marker is None:
        shutil.rmtree(partial, ignore_errors=True)
    return marker is not None


def refuse_target(target: str | PathLike, options: WriteOptions) -> None:
    """Refuse, before any work, a target that is a file (even with overwrite: it is not a store to replace),
    or a store that exists when overwrite was not asked for; and a URL or a zip file (stores only read)."""
    refuse_read_only_target(target)
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise TargetExistsError(f"{target} is a file, not a zarr store: choose another target")
    if target.exists() and not options.overwrite:
        raise TargetExistsError(f"{target} exists", replaced_by="overwrite")


def refuse_target_of_source(source: str | PathLike, target: str | PathLike) -> None:
    """Refuse, before any work, a target that is the source, lies inside it or holds it: writing there would
    replace (or write into) the source it reads."""
    source_path, target_path = Path(source).resolve(), Path(target).resolve()
    if target_path == source_path:
        raise TargetExistsError(f"{target}: the target is the source: choose another target")
    if source_path in target_path.parents:
        raise TargetExistsError(f"{target}: the target is inside the source {source}: choose another target")
    if target_path in source_path.parents:
        raise TargetExistsError(f"{target}: the target holds the source {source}: choose another target")


# What a full or read-only disk, or a folder without permission, raises on writing.
REFUSED_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _refused(error: OSError, partial: Path) -> bool:
    """Whether ``error`` is the target's disk or folder refusing the write (not, say, the source failing a read)."""
    if error.errno in REFUSED_WRITES:
        return True
    return error.errno in (errno.EACCES, errno.EPERM) and str(error.filename or "").startswith(str(partial))


@contextmanager
def _target_lock(target: Path, activity: str = "write") -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``target`` while writing it: a second write into the same target, from this
    process or another, is refused with :class:`TargetLockedError`. The lock is the operating system's
    (``flock``): it dies with its process, so a killed write leaves no lock behind that blocks the next.
    ``activity`` ("write", or "edit" for a labels editor) is recorded in the lock, for the refusal to say."""
    lock = target.with_name(f".{target.name}.lock")
    while True:
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise TargetNotWritableError(
                f"cannot write in {target.parent}: {error.strerror}; choose a target in a folder you can write to"
            ) from error
        try:
            _lock_now(descriptor)
        except OSError:
            try:
                holder = os.read(descriptor, 32).decode(errors="replace").strip()
            except OSError:  # Windows: a locked byte cannot be read
                holder = ""
            os.close(descriptor)
            process, _, held_for = holder.partition(" ")
            if held_for == "edit":
                raise TargetLockedError(
                    f"{target} is open in a labels editor (process {process}, lock {lock}); commit and close "
                    "that editor first"
                ) from None
            raise TargetLockedError(
                f"{target} is being written by another write (process {process or 'unknown'}, lock {lock}); "
                "wait for it to finish, or choose another target"
            ) from None
        # The writer before may have removed the file between our open and our lock: a lock on a removed
        # file guards nothing, so take the one now at that name.
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} {activity}\n".encode())
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held, so that no one locks the file on its way out
        os.close(descriptor)


def _lock_now(descriptor: int) -> None:
    """Lock the open file ``descriptor`` for this process, or raise OSError at once if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _what_differs(unfinished: dict, recipe: dict) -> str:
    before, now = unfinished.get("provenance") or {}, recipe["provenance"]
    if before.get("source") != now.get("source"):
        return f"another source: {before.get('source')}"
    if before.get("source_state") != now.get("source_state"):
        return f"the files of {now.get('source')} have changed since"
    if before.get("steps") != now.get("steps"):
        return f"other filter steps: {before.get('steps')}"
    return f"another layout: {_layout_difference(unfinished.get('arrays') or [], recipe['arrays'])}"


def _shown(key: str, value) -> str:
    if key == "codecs" and isinstance(value, list):
        return f"[{', '.join(value)}]"
    return str(tuple(value)) if isinstance(value, list) else str(value)


def _layout_difference(before: list[dict], now: list[dict]) -> str:
    """The first setting in which two writes' array descriptions (:func:`_describe`) differ, in words."""
    for old, new in zip(before, now):
        for key in ("shape", "dtype", "chunks", "shards", "codecs"):
            if old.get(key) != new.get(key):
                return f"array {new['path']}: {key} {_shown(key, old.get(key))} then, {_shown(key, new.get(key))} now"
    if len(before) != len(now):
        return f"{len(before)} arrays (pyramid levels) then, {len(now)} now"
    return "tiles, shards, compressor or levels"


@dataclass(frozen=True)
class _Layout:
    """One image's level 0 cut into its output tiles, the shapes of its levels, and where each level lies."""

    image: ImageToWrite
    level0: da.Array
    yx: list[int]
    shapes: list[tuple[int, ...]]
    # (path, scale, translation) per level, in physical units
    datasets: list[tuple[str, list[float], list[float]]]


def _layout(image: ImageToWrite, options: WriteOptions) -> _Layout:
    """Check ``image`` against ``options`` and lay it out; nothing is written yet."""
    array = da.asarray(image.data)
    if len(image.axes) != array.ndim:
        raise ZarrTilesError(f"{image.name}: {len(image.axes)} axes given for an array of {array.ndim} dimensions")
    chunks = default_chunks(image.axes, array.shape, options.tile)
    array = array.rechunk(chunks)
    yx = _ome.yx_axes(image.axes)
    shapes = level_shapes(array.shape, yx, chunks) if options.with_pyramid else [array.shape]
    return _Layout(image, array, yx, shapes, _datasets(image, array.shape, shapes))


def create_empty(group, image: ImageToWrite, options: WriteOptions) -> None:
    """Create the arrays of ``image`` (its pyramid's too, in the chunks of its lazy level 0) and its OME
    metadata in ``group``, writing no pixels: every chunk is absent, so reads as the fill value, 0."""
    level0 = da.asarray(image.level0)
    yx = _ome.yx_axes(image.axes)
    shapes = level_shapes(level0.shape, yx, level0.chunksize) if options.with_pyramid else [level0.shape]
    layout = _Layout(image, level0, yx, shapes, _datasets(image, level0.shape, shapes))
    _Plan(group, layout, *_arrays(group, layout, options, resuming=False)).write_metadata(options.ome_version)


def _datasets(image: ImageToWrite, shape, shapes) -> list[tuple[str, list[float], list[float]]]:
    """Each level's path, scale and translation: a coarse pixel's centre sits half a box in from the fine
    pixels it covers."""
    ndim = len(shape)
    scale = list(image.scale or [1.0] * ndim)
    translate = list(image.translate or [0.0] * ndim)
    datasets = []
    for index, level_shape in enumerate(shapes):
        factor = [shape[axis] / level_shape[axis] for axis in range(ndim)]
        datasets.append(
            (str(index), [s * f for s, f in zip(scale, factor)], [t + s * (f - 1) / 2 for t, s, f in zip(translate, scale, factor)])
        )
    return datasets


def _arrays(group, layout: _Layout, options: WriteOptions, resuming: bool) -> tuple[list, list[dict]]:
    """The arrays of the levels of ``layout`` in ``group``: created, or opened where a resume finds them; and
    each one's description as ``options`` plan it (:func:`_describe`), which a resume must match."""
    chunks = layout.level0.chunksize
    zarr_format = options.zarr_format
    arrays, planned = [], []
    for index, level_shape in enumerate(layout.shapes):
        level_chunks = tuple(min(c, s) for c, s in zip(chunks, level_shape))
        # A shard must hold whole chunks; the last shard along an axis may run past the array's edge.
        shard_shape = tuple(c * options.shards if c > 1 else c for c in level_chunks) if options.shards else None
        spec = dict(
            shape=level_shape,
            dtype=layout.level0.dtype,
            chunks=level_chunks,
            shards=shard_shape,
            compressors=make_compressor(options.compressor_for(labels=layout.image.is_label), zarr_format,
                                        options.compression_level),
            fill_value=0,
            config=WRITE_CONFIG,
            dimension_names=[axis.name for axis in layout.image.axes] if zarr_format == 3 else None,
            **({"chunk_key_encoding": {"name": "v2", "separator": "/"}} if zarr_format == 2 else {}),
        )
        if resuming and str(index) in group:
            # Opened with the config it was created with: zarr's default skips a tile equal to the fill value
            # (all zeros), which a resumed write would then find missing.
            arrays.append(group[str(index)].with_config(WRITE_CONFIG))
            # The array as these options would make it, in memory, to describe: the one on disk is as it was.
            twin = zarr.create_array(MemoryStore(), zarr_format=zarr_format, **spec)
            planned.append(_describe(twin, arrays[-1].path))
            continue
        arrays.append(group.create_array(str(index), **spec))
        planned.append(_describe(arrays[-1], arrays[-1].path))
    return arrays, planned


# Every chunk is written, zeros too: no scan per chunk, and a complete store counts complete.
WRITE_CONFIG = {"write_empty_chunks": True}


def _describe(array, path: str) -> dict:
    """What a resumed write must match: the array's path, shape, dtype, chunks, shards and codecs."""
    return {
        "path": path, "shape": list(array.shape), "dtype": str(array.dtype),
        "chunks": list(array.chunks), "shards": list(array.shards or []), "codecs": codec_names(array),
    }


@dataclass
class _Plan:
    """One image's layout, the group it goes to and the arrays of its levels."""

    group: object
    layout: _Layout
    targets: list
    planned: list[dict]  # each target as the options plan it (_arrays)

    def write_metadata(self, ome_version: str) -> None:
        """Set the OME metadata; channels with no window get one from the coarsest level just written."""
        image = self.layout.image
        channels = list(image.channels)
        channel_axis = _ome.channel_axis(image.axes)
        for index, channel in enumerate(channels):
            if channel.window is None:
                fixed = {channel_axis: index} if channel_axis is not None else {}
                channels[index] = replace(channel, window=contrast_limits(sample(self.targets[-1], fixed)))
        attributes = _ome.image_attributes(
            version=ome_version, axes=image.axes, datasets=self.layout.datasets, name=image.name, channels=channels,
        )
        if image.is_label:
            attributes = _ome.label_attributes(attributes, image.label_colors, ome_version)
        self.group.attrs.update(attributes)


def _remove(path: Path) -> None:
    """Remove ``path``, a store (a folder) or a file."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def move_into_place(partial: Path, target: Path, *, overwrite: bool) -> None:
    """Move the finished store ``partial`` to ``target``; with ``overwrite``, what was there is removed."""
    if target.exists():
        if not overwrite:
            raise TargetExistsError(f"{target} appeared while writing; the result is left at {partial}")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(partial, target)
        _remove(old)
    else:
        os.replace(partial, target)

