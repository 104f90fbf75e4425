"""Write images and labels as tiled OME-Zarr with pyramids, streamed chunk by chunk.

Each task writes one output unit (a chunk, or a shard) and hands its halving on to the next level's task
(see ``_write_levels``): every input tile is read once, writes are unit-aligned (no two tasks write the
same chunk), each tile is dropped once its unit is written, and nothing is ever held whole. The store is
written under a temporary sibling name and moved into place when complete; a failure removes it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import product
from math import prod
from os import PathLike
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize
from zarr.storage import LocalStore

from . import _ome
from ._display import contrast_limits, sample
from ._errors import ZarrTilesError
from ._pyramid import downsample_block
from ._store import WRITER_MARKER, codec_names, to_dask

DEFAULT_TILE_2D = 1024
DEFAULT_TILE_3D = (64, 256, 256)
COMPRESSORS = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", "none")
# Measured on filter results (benchmarks/README.md): what a user weighs in choosing.
COMPRESSOR_ADVICE = (
    "blosc-zstd (default) makes the smallest files; blosc-lz4 writes float results, such as a Gaussian's, "
    "about three times faster and reads them faster, in files 1 to 8 percent bigger (up to 3 times on sparse images)"
)

Progress = Callable[[int, int], None]


@dataclass
class ImageToWrite:
    """One image (or label image) and how to describe it: the layer's data and metadata, OME-shaped."""

    data: object
    axes: Sequence[_ome.Axis]
    name: str
    scale: Sequence[float] | None = None
    translate: Sequence[float] | None = None
    channels: Sequence[_ome.Channel] = ()
    label_colors: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    is_label: bool = False


def make_compressor(name: str, zarr_format: int, level: int | None = None):
    """A compressor by name for the zarr format; the default, blosc-zstd level 3 with bit shuffle, is the
    notebook's own choice."""
    if name not in COMPRESSORS:
        raise ValueError(f"unknown compressor {name!r}; choose one of {', '.join(COMPRESSORS)}")
    if name == "none":
        return None
    if zarr_format == 2:
        import numcodecs

        if name.startswith("blosc"):
            cname = name.split("-")[1]
            return numcodecs.Blosc(cname=cname, clevel=3 if level is None else level, shuffle=numcodecs.Blosc.BITSHUFFLE)
        return numcodecs.Zstd(level=3 if level is None else level) if name == "zstd" else numcodecs.GZip(
            level=6 if level is None else level
        )
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if name.startswith("blosc"):
        return BloscCodec(cname=name.split("-")[1], clevel=3 if level is None else level, shuffle="bitshuffle")
    return ZstdCodec(level=3 if level is None else level) if name == "zstd" else GzipCodec(level=6 if level is None else level)


def default_chunks(axes: Sequence[_ome.Axis], shape: Sequence[int], tile: int | None = None) -> tuple[int, ...]:
    """Tiles of ``tile`` (default 1024) over Y and X in 2D; 64 x 256 x 256 over Z, Y, X in 3D; 1 elsewhere."""
    spatial = [index for index, axis in enumerate(axes) if axis.type == "space"]
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
    tile: int | None = None,
    compressor: str = "blosc-zstd",
    compression_level: int | None = None,
    ome_version: str = "0.4",
    shards: int | None = None,
    with_pyramid: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    resumable: bool = False,
    provenance: dict | None = None,
    client=None,
) -> str:
    """Write ``image`` (and ``labels`` under its ``labels/`` group) as OME-Zarr at ``path``; return the path.

    ``progress(done, total)`` is called as output chunks are written; an exception raised from it cancels
    the write. The store is written under a hidden sibling name and moved to ``path`` only when complete,
    marked complete in its attributes (``napari-zarr-tiles.complete``) with ``provenance``.

    A failed or cancelled write leaves nothing, unless ``resumable``: then its unfinished store stays beside
    the target (``.NAME.partial``), and the next resumable write of the same plan to the same path continues
    it, computing only the chunks not yet on disk. ``client``, a dask.distributed Client, runs the write on
    its cluster: each worker writes its own chunks straight into the store, which must be on a file system
    the workers share.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it")
    _ome.check_version(ome_version, str(target))
    zarr_format = 2 if ome_version == "0.4" else 3
    partial = target.with_name(f".{target.name}.partial" + ("" if resumable else f"-{uuid.uuid4().hex[:8]}"))
    resuming = resumable and partial.exists()
    try:
        root = zarr.open_group(LocalStore(partial), mode="r+" if resuming else "w-", zarr_format=zarr_format)
        plans = [_plan(root, image, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming)]
        if labels:
            labels_group = root["labels"] if resuming else root.create_group("labels")
            for label in labels:
                group = labels_group[label.name] if resuming else labels_group.create_group(label.name)
                plans.append(
                    _plan(group, label, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming)
                )
            _set_ome(labels_group, {"labels": [label.name for label in labels]}, ome_version)
        recipe = {"complete": False, "provenance": provenance or {}, "arrays": _describe(plans)}
        if resuming and root.attrs.get(WRITER_MARKER) != recipe:
            raise ZarrTilesError(
                f"the unfinished write at {partial} was of something else "
                f"({_what_differs(root.attrs.get(WRITER_MARKER) or {}, recipe)}); remove it to start over"
            )
        root.attrs[WRITER_MARKER] = recipe
        _store(plans, progress, client)
        for plan in plans:
            plan.write_metadata()
        root.attrs[WRITER_MARKER] = {"complete": True, "provenance": provenance or {}}
        _move_into_place(partial, target, overwrite=overwrite)
    except BaseException:
        if not resumable:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    return str(target)


def _what_differs(unfinished: dict, recipe: dict) -> str:
    before, now = unfinished.get("provenance") or {}, recipe["provenance"]
    if before.get("source") != now.get("source"):
        return f"another source: {before.get('source')}"
    if before.get("source_state") != now.get("source_state"):
        return f"the files of {now.get('source')} have changed since"
    if before.get("steps") != now.get("steps"):
        return f"other filter steps: {before.get('steps')}"
    return "another layout: tiles, shards, compressor or levels"


def _describe(plans: list[_Plan]) -> list[dict]:
    """What a resumed write must match: every array's path, shape, dtype, chunks, shards and codecs."""
    return [
        {
            "path": target.path, "shape": list(target.shape), "dtype": str(target.dtype),
            "chunks": list(target.chunks), "shards": list(target.shards or []), "codecs": codec_names(target),
        }
        for plan in plans
        for target in plan.targets
    ]


@dataclass
class _Plan:
    """One image's lazy levels, the arrays they go to, and the metadata to set once they are written."""

    group: object
    image: ImageToWrite
    level0: da.Array
    yx: list[int]
    targets: list
    datasets: list
    ome_version: str

    def write_metadata(self) -> None:
        """Set the OME metadata; channels with no window get one from the coarsest level just written."""
        channels = list(self.image.channels)
        channel_axis = next((i for i, axis in enumerate(self.image.axes) if axis.type == "channel"), None)
        for index, channel in enumerate(channels):
            if channel.window is None:
                fixed = {channel_axis: index} if channel_axis is not None else {}
                window = contrast_limits(sample(self.targets[-1], fixed))
                channels[index] = replace(channel, window=window)
        attributes = _ome.image_attributes(
            version=self.ome_version, axes=self.image.axes, datasets=self.datasets, name=self.image.name,
            channels=channels,
        )
        if self.image.is_label:
            attributes = _with_label_colors(attributes, self.image.label_colors, self.ome_version)
        self.group.attrs.update(attributes)


def _plan(
    group, image: ImageToWrite, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming
) -> _Plan:
    """Create the arrays of one image (open them, when resuming); return its lazy levels, their targets and
    its metadata to come."""
    array = da.asarray(image.data)
    if len(image.axes) != array.ndim:
        raise ZarrTilesError(f"{image.name}: {len(image.axes)} axes given for an array of {array.ndim} dimensions")
    zarr_format = 2 if ome_version == "0.4" else 3
    chunks = default_chunks(image.axes, array.shape, tile)
    array = array.rechunk(chunks)
    yx = [index for index, axis in enumerate(image.axes) if axis.type == "space"][-2:]
    shapes = level_shapes(array.shape, yx, chunks) if with_pyramid else [array.shape]
    odd = [axis for axis in yx if chunks[axis] % 2 and array.shape[axis] > chunks[axis]]
    if len(shapes) > 1 and odd:
        # Each pyramid task halves one tile: with an odd edge a 2 x 2 box would straddle two tiles.
        raise ZarrTilesError(f"{image.name}: tiles of {chunks[odd[0]]} pixels cannot be halved for the pyramid; "
                             "choose an even tile size")
    scale = list(image.scale or [1.0] * array.ndim)
    translate = list(image.translate or [0.0] * array.ndim)
    datasets, targets = [], []
    for index, level_shape in enumerate(shapes):
        factor = [array.shape[axis] / level_shape[axis] for axis in range(array.ndim)]
        # A coarse pixel's centre sits half a box in from the fine pixels it covers.
        datasets.append(
            (str(index), [s * f for s, f in zip(scale, factor)], [t + s * (f - 1) / 2 for t, s, f in zip(translate, scale, factor)])
        )
        if resuming and str(index) in group:
            targets.append(group[str(index)])
            continue
        level_chunks = tuple(min(c, s) for c, s in zip(chunks, level_shape))
        shard_shape = None
        if shards and zarr_format == 3:
            # A shard must hold whole chunks; the last shard along an axis may run past the array's edge.
            shard_shape = tuple(c * shards if c > 1 else c for c in level_chunks)
        targets.append(
            group.create_array(
                str(index),
                shape=level_shape,
                dtype=array.dtype,
                chunks=level_chunks,
                shards=shard_shape,
                compressors=make_compressor(compressor, zarr_format, compression_level),
                fill_value=0,
                # Every chunk is written, zeros too: no scan per chunk, and a complete store counts complete.
                config={"write_empty_chunks": True},
                dimension_names=[axis.name for axis in image.axes] if zarr_format == 3 else None,
                **({"chunk_key_encoding": {"name": "v2", "separator": "/"}} if zarr_format == 2 else {}),
            )
        )
    return _Plan(group, image, array, yx, targets, datasets, ome_version)


def _with_label_colors(attributes: dict, colors: dict, ome_version: str) -> dict:
    image_label = {
        "colors": [
            {"label-value": int(value), "rgba": [round(c * 255) for c in rgba]} for value, rgba in sorted(colors.items())
        ]
    }
    if ome_version == "0.4":
        return {**attributes, "image-label": {**image_label, "version": "0.4"}}
    return {"ome": {**attributes["ome"], "image-label": image_label}}


def _set_ome(group, block: dict, ome_version: str) -> None:
    group.attrs.update(block if ome_version == "0.4" else {"ome": {"version": ome_version, **block}})


def _store(plans: list[_Plan], progress: Progress | None, client=None) -> None:
    """Write every plan's levels, skipping units already on disk, reporting written units to ``progress``."""
    from dask.callbacks import Callback

    written = {id(target): written_units(target) for plan in plans for target in plan.targets}
    total = sum(prod(_unit_grid(target)) for plan in plans for target in plan.targets)
    done = sum(len(keys) for keys in written.values())

    def report(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(done, total), total)

    writing: set = set()  # the keys of the tasks that write a unit (the others only reduce one already written)

    def count(key, result, dsk, state, worker_id):
        if key in writing:
            report(1)

    report(0)
    if client is None:
        # More threads than cores: zarr's synchronous API blocks the calling thread while its own event loop
        # reads, writes and (de)compresses, so one thread per core left a core idle a third of the time.
        pool = ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1))
        run = _ThreadedRun(pool)
    else:
        def on_disk() -> int:
            return sum(len(written_units(target)) for plan in plans for target in plan.targets)

        pool, run = None, _DistributedRun(client, on_disk, report)
    try:
        with Callback(posttask=count) if pool is not None else nullcontext():
            for plan in plans:
                _write_levels(plan.level0, plan.targets, plan.yx, labels=plan.image.is_label, run=run,
                              written=written, writing=writing)
    finally:
        if pool is not None:
            # A failure or a cancel waits for the tasks already running before the caller removes the partial
            # store (with dask's shared pool a straggler could write a chunk after the clean-up).
            pool.shutdown(wait=True, cancel_futures=True)
    missing = {target.path: prod(_unit_grid(target)) - len(written_units(target)) for plan in plans for target in plan.targets}
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
    """Computes write tasks on the write's own thread pool."""

    def __init__(self, pool):
        self.pool = pool

    def __call__(self, tasks: list[da.Array]) -> None:
        dask.compute(*tasks, scheduler="threads", pool=self.pool)


class _DistributedRun:
    """Computes write tasks on a dask.distributed cluster, reporting the units on disk as they appear
    (workers write straight into the store; the scheduler's task names say nothing of which are writes)."""

    POLL_SECONDS = 0.5

    def __init__(self, client, on_disk: Callable[[], int], report: Callable[[int], None]):
        self.client, self.on_disk, self.report = client, on_disk, report

    def __call__(self, tasks: list[da.Array]) -> None:
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
        run([level] if len(missing[depth]) == prod(level.numblocks) else [level.blocks[i] for i in missing[depth]])
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


def _move_into_place(partial: Path, target: Path, *, overwrite: bool) -> None:
    if target.exists():
        if not overwrite:
            raise ZarrTilesError(f"{target} appeared while writing; the result is left at {partial}")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, target)


# --- napari writer contributions -----------------------------------------------------------------------------

CONVENTIONAL_AXES = ("t", "c", "z", "y", "x")
AXIS_TYPES = {"t": "time", "time": "time", "c": "channel", "ch": "channel", "channel": "channel"}


def napari_write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one image layer to OME-Zarr (RGB becomes three channels)."""
    return [write_ome_zarr(path, image_from_layer(data, meta))]


def napari_write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one labels layer to OME-Zarr, with a label-safe pyramid."""
    return [write_ome_zarr(path, image_from_layer(data, meta, is_label=True))]


def napari_write_layers(path: str, layer_data: list[tuple]) -> list[str]:
    """npe2 writer: image layers (as channels of one image) and labels layers under its ``labels/`` group."""
    images = [(data, meta) for data, meta, kind in layer_data if kind == "image"]
    labels = [image_from_layer(data, meta, is_label=True) for data, meta, kind in layer_data if kind == "labels"]
    if len(images) == 1:
        image = image_from_layer(*images[0])
    else:
        image = _channels_from_layers(images)
    return [write_ome_zarr(path, image, labels=labels)]


def image_from_layer(data, meta: dict, *, is_label: bool = False) -> ImageToWrite:
    """An :class:`ImageToWrite` from a napari layer's data and metadata (finest level of a multiscale)."""
    array = da.asarray(data[0] if meta.get("multiscale") or isinstance(data, list) else data)
    channels = ()
    scale, translate = _per_axis(meta.get("scale"), array.ndim, 1.0), _per_axis(meta.get("translate"), array.ndim, 0.0)
    names = _axis_names(meta.get("axis_labels"), array.ndim - (1 if meta.get("rgb") else 0))
    units = _units(meta.get("units"), len(names))
    axes = [_ome.Axis(name, AXIS_TYPES.get(name.lower(), "space"), unit) for name, unit in zip(names, units)]
    if meta.get("rgb"):
        array = da.moveaxis(array, -1, 0)
        axes = [_ome.Axis("c", "channel"), *axes]
        scale, translate = [1.0, *scale[:-1]], [0.0, *translate[:-1]]
        channels = tuple(_ome.Channel(label=c, color=h) for c, h in zip("RGB", ("FF0000", "00FF00", "0000FF")))
    elif not is_label:
        channels = (_channel_from_meta(meta),)
    return ImageToWrite(
        array, axes=axes, name=meta.get("name") or "image", scale=scale, translate=translate,
        channels=channels, is_label=is_label, label_colors=_label_colors(meta) if is_label else {},
    )


def _channels_from_layers(images: list[tuple]) -> ImageToWrite:
    firsts = [image_from_layer(data, meta) for data, meta in images]
    shapes = {image.data.shape for image in firsts}
    if len(shapes) != 1:
        names = [image.name for image in firsts]
        raise ZarrTilesError(f"image layers {names} have different shapes {sorted(shapes)}; save them one by one")
    first = firsts[0]
    return ImageToWrite(
        da.stack([image.data for image in firsts]),
        axes=[_ome.Axis("c", "channel"), *first.axes],
        name=first.name,
        scale=[1.0, *first.scale],
        translate=[0.0, *first.translate],
        channels=tuple(image.channels[0] for image in firsts),
    )


def _per_axis(values, ndim: int, default: float) -> list[float]:
    values = list(values) if values is not None else []
    return [float(v) for v in values[-ndim:]] if len(values) >= ndim else [default] * ndim


def _axis_names(labels, ndim: int) -> list[str]:
    """The layer's axis labels, unless they are napari's placeholders (numbers), then t, c, z, y, x."""
    labels = [str(label) for label in labels or ()][-ndim:] if labels else []
    if len(labels) == ndim and len(set(labels)) == ndim and not any(label.lstrip("-").isdigit() for label in labels):
        return labels
    return list(CONVENTIONAL_AXES[-ndim:]) if ndim <= 5 else [f"dim_{i}" for i in range(ndim)]


def _units(units, ndim: int) -> list[str | None]:
    names = [str(unit) for unit in units][-ndim:] if units else []
    if len(names) != ndim:
        return [None] * ndim
    return [None if name in ("pixel", "dimensionless", "") else name for name in names]


def _channel_from_meta(meta: dict) -> _ome.Channel:
    window = meta.get("contrast_limits")
    return _ome.Channel(
        label=meta.get("name"),
        color=_hex_color(meta.get("colormap")),
        window=(float(window[0]), float(window[1])) if window is not None and len(window) == 2 else None,
        visible=bool(meta.get("visible", True)),
    )


def _hex_color(colormap) -> str | None:
    """The brightest colour of a napari colormap (name or object), as OME's RRGGBB."""
    if colormap is None:
        return None
    from napari.utils.colormaps import ensure_colormap

    rgb = ensure_colormap(colormap).colors[-1][:3]
    return "".join(f"{round(float(c) * 255):02X}" for c in rgb)


def _label_colors(meta: dict) -> dict:
    colormap = meta.get("colormap")
    color_dict = getattr(colormap, "color_dict", None) or (colormap if isinstance(colormap, dict) else {})
    return {
        int(value): tuple(float(c) for c in rgba)
        for value, rgba in color_dict.items()
        if value is not None and int(value) != 0 and rgba is not None and len(rgba) == 4
    }
