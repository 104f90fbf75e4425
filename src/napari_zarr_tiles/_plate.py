"""HCS plates (OME-Zarr ``plate`` and ``well`` metadata): a plate opens as a low-resolution mosaic of its wells.

The mosaic shows one field per well, its first, from one pyramid level: the finest at which the whole plate
is at most :data:`MOSAIC_EDGE` pixels wide and high, about a screen. Wells lie on the plate's grid with a gap
between them; wells the plate does not hold are blank. It is a lazy view (``_lazy``, no dask) whose reads
fetch the wells under the view at once, each well's level opened when first drawn, so opening a plate reads
the metadata of the plate, of its first well and of that well's first field, and the tiles of at most
:data:`SAMPLE_WELLS` wells for the contrast (kept for the first frame).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from math import ceil
from os import PathLike, fspath

import numpy as np
import zarr
from zarr import AsyncArray
from zarr.api.asynchronous import open_array as open_array_async
from zarr.core.sync import sync
from zarr.storage import StorePath

from . import _display, _ome
from ._chunk_prefix import read_by_prefixes
from ._errors import OmeMetadataError, UnreadableStoreError, ZarrTilesError
from ._lazy import LazyView
from ._store import BadChunks, NamedReads, open_member, open_readonly, stored_bytes, unreadable_reason

logger = logging.getLogger(__name__)

# The mosaic is at most this many pixels along Y and X (about a screen), where the plate's levels allow it.
MOSAIC_EDGE = 2048
# The gap between wells, as a fraction of a well's edge at the mosaic's level.
GAP_FRACTION = 0.1
# The mosaic's tiles kept once read (a 96-well plate's mosaic is a few MB a channel): napari slices a new
# layer several times before its first frame, and reads it again at every pan and zoom.
TILE_CACHE_BYTES = 256 * 2**20
# The wells, spread over the plate, whose tiles are the mosaic's contrast sample: one well's range is not the
# plate's (wells brighter than the first showed solid white).
SAMPLE_WELLS = 8
# The wells read at once (each two or three requests). Python's own HTTP server met a 96-well plate's 300
# requests at once with a listen queue of 5: the dropped connections waited for obstore's 30 s timeout, and
# the first frame took 16 s; 8 wells at once 2.0 s, 16 2.8 s. Over 100 ms round trips, 16 cost 6 rounds.
WELLS_AT_ONCE = 16


@dataclass(frozen=True)
class Plate:
    """An opened plate: its group, where it is, and its layout (rows, columns, wells)."""

    group: zarr.Group
    where: str
    layout: _ome.PlateLayout

    def well(self, name: str) -> _ome.WellPlace:
        """The well called ``name`` (``"B3"``); KeyError where the plate holds none."""
        for well in self.layout.wells:
            if well.name == name:
                return well
        raise KeyError(f"{self.where}: the plate holds no well {name!r}")

    def well_at(self, row: int, column: int) -> _ome.WellPlace | None:
        return next((well for well in self.layout.wells if (well.row, well.column) == (row, column)), None)

    def fields(self, well: _ome.WellPlace) -> list[str]:
        """The paths of ``well``'s fields, from its ``well`` metadata (one small read)."""
        group = self._group(well.path)
        found = _ome.ome_block(group.attrs.asdict())
        if found is None or "well" not in found[1]:
            raise OmeMetadataError(f"{self.where}/{well.path}: the plate lists this well, but it has no well metadata")
        return _ome.well_fields(found[1], f"{self.where}/{well.path}")

    def field_path(self, well: _ome.WellPlace, field: str) -> str:
        """Where the image of ``field`` of ``well`` is, as the reader opens it."""
        return f"{self.where}/{well.path}/{field}"

    def _group(self, path: str) -> zarr.Group:
        try:
            node = open_member(self.group, path, f"{self.where}/{path}")
        except FileNotFoundError:
            node = None
        if not isinstance(node, zarr.Group):
            raise OmeMetadataError(f"{self.where}: the plate lists {path!r}, but there is no such group")
        return node


def open_plate(path: str | PathLike) -> Plate:
    """The plate stored at ``path``.

    Raises
    ------
    OmeMetadataError
        If ``path`` holds no plate, or its plate metadata is malformed (naming the field).
    """
    where = fspath(path)
    group = open_readonly(path)
    found = _ome.ome_block(group.attrs.asdict()) if isinstance(group, zarr.Group) else None
    if found is None or "plate" not in found[1]:
        raise OmeMetadataError(f"{where}: not an OME-Zarr plate (no plate metadata)")
    return plate_of(group, where, found[1])


def plate_of(group: zarr.Group, where: str, block) -> Plate:
    """The plate of a group whose OME metadata ``block`` holds ``plate``."""
    return Plate(group, where, _ome.parse_plate(block, where))


@dataclass(frozen=True)
class Mosaic:
    """A plate's wells side by side at one pyramid level: lazy pixels, and how to place and show them.

    ``scale`` and ``translate`` are those of the field's level, in its physical units; ``cell`` is the
    world size of one well with its gap along Y and X (a well of row r and column c starts at
    ``translate + (r, c) * cell``). ``sample`` is the first well's level (its array, nothing read).
    """

    plate: Plate
    data: LazyView
    axes: tuple[_ome.Axis, ...]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    channels: tuple[_ome.Channel, ...]
    cell: tuple[float, float]
    level: int
    field: str
    sample: zarr.Array
    tiles: _MosaicTiles

    def contrast_sample(self) -> np.ndarray:
        """The pixels of up to :data:`SAMPLE_WELLS` wells spread over the plate, as the mosaic shows them (its
        tiles, which keep them for the first frame), side by side along Y: every channel, other axes at their
        middle, at most :data:`._display.SAMPLE_BYTES` a channel. Wells that cannot be read are left out."""
        wells = sampled_wells(self.plate)
        y, x = _ome.yx_axes(self.axes)
        shape = self.sample.shape
        plane_bytes = len(wells) * shape[y] * shape[x] * self.data.dtype.itemsize
        stride = max(1, ceil((plane_bytes / _display.SAMPLE_BYTES) ** 0.5))  # every stride-th pixel along Y and X

        cut = [slice(None)] * self.data.ndim
        cut[y], cut[x] = slice(0, shape[y], stride), slice(0, shape[x], stride)
        read_wells = [tile[tuple(cut)] for tile in self.tiles.tiles_of(wells, self.tiles.first_reads()) if tile is not None]
        if not read_wells:
            empty = [1] * self.data.ndim
            empty[y] = empty[x] = 0
            return np.zeros(empty, self.data.dtype)
        return np.concatenate(read_wells, axis=y)



def mosaic(
    plate: Plate,
    *,
    edge: int | None = None,
    on_problem: Callable[[str], None] | None = None,
    on_bad_chunks: Callable[[BadChunks], None] | None = None,
) -> Mosaic:
    """The lazy mosaic of ``plate``'s wells (see the module's description), at most ``edge`` pixels wide
    and high where its levels allow (:data:`MOSAIC_EDGE` by default).

    The first well's first field gives the axes, levels, dtype and placement of all; a well whose image
    differs in size is cut or padded to the first's. A well the plate lists that cannot be read shows blank,
    and is told to ``on_problem`` (once, from the thread that drew it), as is a well stored in another dtype
    than the first's (shown in the first's); chunks that cannot be read show the fill value and are told to
    ``on_bad_chunks``. ``on_problem`` gets the well's name, what is wrong and what is shown
    (``"B3 is not stored: shown blank"``).
    """
    field, field_where, field_group, found = _first_field(plate)
    arrays: dict[str, zarr.Array] = {}

    def ndim(path: str) -> int | None:
        try:
            node = open_member(field_group, path, f"{field_where}/{path}")
        except FileNotFoundError:
            return None
        if isinstance(node, zarr.Array):
            arrays[path] = node
            return node.ndim
        return None

    multiscale = _ome.parse_multiscale(found[1], found[0], field_where, ndim)
    y, x = _ome.yx_axes(multiscale.axes)
    rows, columns = len(plate.layout.rows), len(plate.layout.columns)
    shapes = [arrays[path].shape for path in multiscale.paths]
    level = _mosaic_level([(shape[y], shape[x]) for shape in shapes], rows, columns, edge or MOSAIC_EDGE)
    level_array = arrays[multiscale.paths[level]]
    height, width = level_array.shape[y], level_array.shape[x]
    gap = _gap(height, width)
    tiles = _MosaicTiles(
        plate, field, multiscale.paths[level], level_array, _ome.channel_axis(multiscale.axes), gap,
        on_problem, on_bad_chunks,
    )
    sampled = sampled_wells(plate)
    tiles.fetch_ahead(sampled + [well for well in plate.layout.wells if well not in sampled])
    data = LazyView(tiles)
    factor = [shapes[0][axis] / level_array.shape[axis] if axis in (y, x) else 1.0 for axis in range(len(shapes[0]))]
    scale = tuple(s * f for s, f in zip(multiscale.scale, factor))
    return Mosaic(
        plate=plate, data=data, axes=multiscale.axes, scale=scale, translate=multiscale.translate,
        channels=multiscale.channels, cell=((height + gap) * scale[y], (width + gap) * scale[x]), level=level,
        field=field, sample=level_array, tiles=tiles,
    )


def _key_reads(reads: list[slice], shape: tuple) -> tuple:
    """``reads`` (of the axes but Y and X) as a key of the tile cache."""
    return tuple((r.start, r.stop, r.step) for r in (slice(*read.indices(size)) for read, size in zip(reads, shape)))


def sampled_wells(plate: Plate) -> list[_ome.WellPlace]:
    """The wells, spread over ``plate``, whose tiles are the mosaic's contrast sample."""
    wells = plate.layout.wells
    return list(wells[:: ceil(len(wells) / SAMPLE_WELLS)])


def _first_field(plate: Plate) -> tuple[str, str, zarr.Group, tuple]:
    """The first field of the first well that has one (a well listed but not stored, or without metadata, is
    passed over: the tiles show it blank and say why): its path, where it is, its group and OME block."""
    first_error = None
    for well in plate.layout.wells:
        try:
            field = plate.fields(well)[0]
            group = plate._group(f"{well.path}/{field}")
        except ZarrTilesError as error:
            first_error = first_error or error
            continue
        where = f"{plate.where}/{well.path}/{field}"
        found = _ome.ome_block(group.attrs.asdict())
        if found is None:
            raise OmeMetadataError(f"{where}: a field of the plate with no OME multiscales metadata")
        return field, where, group, found
    raise first_error


def _mosaic_level(shapes: list[tuple[int, int]], rows: int, columns: int, edge: int) -> int:
    """The finest level at which ``rows`` x ``columns`` wells (with their gaps) fit in ``edge`` pixels, else
    the coarsest."""
    for level, (height, width) in enumerate(shapes):
        gap = _gap(height, width)
        if rows * (height + gap) - gap <= edge and columns * (width + gap) - gap <= edge:
            return level
    return len(shapes) - 1


def _gap(height: int, width: int) -> int:
    return max(1, round(GAP_FRACTION * max(height, width)))


class _MosaicTiles:
    """The mosaic's pixels (the source of its :class:`LazyView`): a read fetches the wells under it at once,
    each well's field at the mosaic's level cut or padded to its cell, blank where there is no well or it
    cannot be read. Y and X are the last two axes (as OME-Zarr orders them). A read of one channel reads
    every channel of its wells, kept for the other channels' layers."""

    def __init__(self, plate, field, level_path, level_array, channel, gap, on_problem, on_bad_chunks) -> None:
        self.group, self.where, self.field, self.level_path = plate.group, plate.where, field, level_path
        self.wells = {(well.row, well.column): well for well in plate.layout.wells}
        self.channel, self.on_problem, self.on_bad_chunks = channel, on_problem, on_bad_chunks
        self.dtype = np.dtype(level_array.dtype)
        self.first_level = level_array._async_array  # the first well's level: its metadata is shared (_open_level)
        *others, self.height, self.width = level_array.shape
        rows, columns = len(plate.layout.rows), len(plate.layout.columns)
        self.pitch = (self.height + gap, self.width + gap)
        self.shape = (*others, rows * self.pitch[0] - gap, columns * self.pitch[1] - gap)
        self.chunks = (*[1] * len(others), *self.pitch)  # a well a chunk; one index of the other axes
        self.ndim = len(self.shape)
        self.name = f"plate-mosaic-{self.where}/{level_path}"
        self._arrays: dict[str, NamedReads | str] = {}  # a well's path -> its level, or why it cannot be read
        self._tiles: dict[tuple, np.ndarray] = {}  # (well path, its other axes' reads) -> tile, oldest first
        self._tile_bytes = 0
        self._pending: dict[tuple, Future] = {}  # tiles being fetched ahead (fetch_ahead)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {key: value for key, value in vars(self).items() if key != "_lock"} | {
            "_arrays": {}, "_tiles": {}, "_tile_bytes": 0, "_pending": {},
        }

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state, _lock=threading.Lock())

    def __repr__(self) -> str:
        return f"<{self.where}: the plate's mosaic at level {self.level_path!r}>"

    def to_dask(self):
        """The mosaic as a dask array, a task per well (and per index of the other axes)."""
        import dask.array as da

        chunks = [(1,) * size for size in self.shape[:-2]]
        for axis, pitch in zip((-2, -1), self.pitch):
            count = -(-self.shape[axis] // pitch)
            chunks.append((pitch,) * (count - 1) + (self.shape[axis] - pitch * (count - 1),))
        return da.from_array(self, chunks=tuple(chunks), name=self.name, asarray=True, fancy=False,
                             meta=np.empty((0,) * self.ndim, self.dtype))

    def __getitem__(self, selection: tuple) -> np.ndarray:
        parts = list(selection) + [slice(None)] * (self.ndim - len(selection))
        # What is read: every axis kept (an index as a one-wide slice), a channel whole.
        reads = [
            slice(None) if axis == self.channel else part if isinstance(part, slice)
            else slice(int(part) % size, int(part) % size + 1)
            for axis, (part, size) in enumerate(zip(parts[:-2], self.shape))
        ]
        reads = [slice(*read.indices(size)) for read, size in zip(reads, self.shape)]
        boxes = []  # (Y, X) region read, at step 1
        for part, size in zip(parts[-2:], self.shape[-2:]):
            if isinstance(part, slice):
                start, stop, _ = part.indices(size)
                boxes.append((start, max(start, stop)))
            else:
                index = int(part) % size
                boxes.append((index, index + 1))
        (top, bottom), (left, right) = boxes
        region = np.zeros([len(range(r.start, r.stop, r.step)) for r in reads] + [bottom - top, right - left], self.dtype)
        cells = [
            (row, column)
            for row in range(top // self.pitch[0], -(-bottom // self.pitch[0]))
            for column in range(left // self.pitch[1], -(-right // self.pitch[1]))
            if (row, column) in self.wells
        ]
        tiles = self.tiles_of([self.wells[cell] for cell in cells], reads)
        for (row, column), tile in zip(cells, tiles):
            if tile is None:
                continue
            y0, x0 = row * self.pitch[0], column * self.pitch[1]
            ys = slice(max(top, y0), min(bottom, y0 + self.height))
            xs = slice(max(left, x0), min(right, x0 + self.width))
            if ys.start < ys.stop and xs.start < xs.stop:
                region[..., ys.start - top : ys.stop - top, xs.start - left : xs.stop - left] = tile[
                    ..., ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0
                ]
        # The region read to what was asked: the channel's own index or slice of the whole channel axis, a
        # one-wide read's index, Y's and X's steps or indices.
        after = [
            part if axis == self.channel else slice(None) if isinstance(part, slice) else 0
            for axis, part in enumerate(parts[:-2])
        ]
        after += [slice(None, None, part.step) if isinstance(part, slice) else 0 for part in parts[-2:]]
        return region[tuple(after)]

    def first_reads(self) -> list[slice]:
        """The reads of the axes but Y and X that the first frame (and the contrast sample) takes: each
        channel, every other axis at its middle."""
        return [
            slice(0, size, 1) if axis == self.channel else slice(size // 2, size // 2 + 1, 1)
            for axis, size in enumerate(self.shape[:-2])
        ]

    def fetch_ahead(self, wells: list[_ome.WellPlace]) -> None:
        """Start reading ``wells``' tiles as the first frame shows them (:meth:`first_reads`), in the
        background: the first :data:`SAMPLE_WELLS` (the contrast's), then the others. The mosaic fits a
        screen, so the first frame reads every well: fetched while napari builds its layers.

        They are opened and read by zarr's asynchronous calls, :data:`WELLS_AT_ONCE` at a time (:meth:`_read_batch`:
        before partial decoding, 96 wells took 0.35 s so, against 0.55 s one after another and 0.5 s from 16
        threads, whose hand-offs also slowed napari's own work). A well that fails here (not stored, another
        field's path, a bad chunk) is read the usual way when drawn, which says what is wrong."""
        reads = self.first_reads()
        key_reads = _key_reads(reads, self.shape)
        waiting = []
        with self._lock:
            for well in wells:
                key = (well.path, key_reads)
                if key not in self._tiles and key not in self._pending:
                    self._pending[key] = Future()
                    waiting.append((well, key))
        if waiting:
            # the wells the contrast is sampled from first: the reader waits for those alone
            batches = [waiting[:SAMPLE_WELLS], waiting[SAMPLE_WELLS:]]
            threading.Thread(
                target=self._read_batch, args=(batches, reads), name="plate-mosaic-ahead", daemon=True
            ).start()

    def tiles_of(self, wells: list[_ome.WellPlace], reads: list[slice]) -> list[np.ndarray | None]:
        """The tiles of ``wells`` (see :meth:`well_tile`): those neither kept nor being fetched are read in one
        batch first; a well that fails there is read alone."""
        key_reads = _key_reads(reads, self.shape)
        with self._lock:
            missing = [(well, (well.path, key_reads)) for well in wells
                       if (well.path, key_reads) not in self._tiles and (well.path, key_reads) not in self._pending]
        if missing:
            self._read_batch([missing], reads)
        return [self.well_tile(well, reads) for well in wells]  # kept, waited for, or read alone

    def _read_batch(self, batches: list[list[tuple[_ome.WellPlace, tuple]]], reads: list[slice]) -> None:
        """Read the tiles of ``batches`` of (well, cache key), one batch after the other, each by zarr's
        asynchronous calls, :data:`WELLS_AT_ONCE` wells at a time (a well opened where it is not yet), and keep
        them; a well that fails here is left to :meth:`well_tile`, which reads it alone and says what is
        wrong."""

        async def one(well: _ome.WellPlace, key: tuple, first_document: asyncio.Future) -> None:
            tile = None
            try:
                known = self._arrays.get(well.path)
                if isinstance(known, NamedReads):
                    array = known.array._async_array
                elif known is None:
                    array = await self._open_level(f"{well.path}/{self.field}/{self.level_path}", first_document)
                else:  # known not to open: well_tile says so, once
                    array = None
                if array is not None and array.ndim == self.ndim:
                    selection = self._selection(reads, array.shape)
                    values = None
                    if selection is not None:
                        # a coarse level stored padded to big chunks: only its start decoded (_chunk_prefix)
                        values = await read_by_prefixes(array, selection)
                        if values is None:
                            values = await array.getitem(selection)
                    tile = self._tile_of(reads, values)
                    if known is None:
                        with self._lock:
                            self._arrays.setdefault(well.path, NamedReads(
                                zarr.Array(array), bad_chunks="fill", on_bad_chunks=self.on_bad_chunks))
                        self._tell_cast(well, array)
                    self._keep(key, tile)
            except Exception:  # noqa: BLE001 - any failure: the well is read alone, which says what is wrong
                tile = None
            self._settle(key, tile)

        async def every() -> None:
            first_document = asyncio.ensure_future(self._metadata_document(self.first_level.store_path.path))
            at_once = asyncio.Semaphore(WELLS_AT_ONCE)

            async def bounded(well: _ome.WellPlace, key: tuple) -> None:
                async with at_once:
                    await one(well, key, first_document)

            for batch in batches:
                await asyncio.gather(*(bounded(well, key) for well, key in batch))

        try:
            sync(every())
        except Exception:  # as above, for the wells not yet settled
            logger.debug("%s: reading the mosaic's wells failed", self.where, exc_info=True)
        for batch in batches:
            for _, key in batch:
                self._settle(key, None)

    async def _open_level(self, path: str, first_document: asyncio.Future) -> AsyncArray:
        """The level at ``path`` (from the plate) opened. Where its metadata document is the first well's,
        byte for byte, the first well's parsed metadata is taken: a plate's wells are stored alike, and
        parsing each well's metadata was a third of reading a 96-well mosaic."""
        key = self._array_path(path)
        document, first = await asyncio.gather(self._metadata_document(key), first_document)
        if document is not None and document == first:
            return AsyncArray(self.first_level.metadata, StorePath(self.group.store, key))
        return await open_array_async(store=self.group.store, path=key, mode="r", zarr_format=self.group.metadata.zarr_format)

    async def _metadata_document(self, key: str) -> bytes | None:
        """The stored metadata document of the array at ``key`` (``.zarray``, or ``zarr.json``), or None."""
        name = ".zarray" if self.group.metadata.zarr_format == 2 else "zarr.json"
        return await stored_bytes(self.group.store, f"{key}/{name}".lstrip("/"))

    def _settle(self, key: tuple, tile: np.ndarray | None) -> None:
        """The fetch ahead of ``key`` is over: its tile, or None (read it the usual way)."""
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is not None:
            pending.set_result(tile)

    def _selection(self, reads: list[slice], shape: tuple) -> tuple | None:
        """What to read of a well's level of ``shape`` for a tile of ``reads``; None where nothing is in it."""
        selection = [slice(r.start, min(r.stop, size), r.step) for r, size in zip(reads, shape)]
        selection += [slice(0, min(self.height, shape[-2])), slice(0, min(self.width, shape[-1]))]
        return tuple(selection) if all(part.start < part.stop for part in selection) else None

    def _tile_of(self, reads: list[slice], values: np.ndarray | None) -> np.ndarray:
        """A well's ``values`` (or nothing) in a tile of ``reads`` and the cell's size, padded with zeros."""
        tile = np.zeros([len(range(r.start, r.stop, r.step)) for r in reads] + [self.height, self.width], self.dtype)
        if values is not None:
            tile[tuple(slice(0, size) for size in values.shape)] = values
        return tile

    def _keep(self, key: tuple, tile: np.ndarray) -> None:
        with self._lock:
            self._tiles[key] = tile
            self._tile_bytes += tile.nbytes
            while self._tile_bytes > TILE_CACHE_BYTES:
                self._tile_bytes -= self._tiles.pop(next(iter(self._tiles))).nbytes

    def well_tile(self, well: _ome.WellPlace, reads: list[slice]) -> np.ndarray | None:
        """``well``'s cell at the mosaic's level, its axes but Y and X read as ``reads`` (slices of the
        mosaic's axes; Y and X, if given, are ignored): cut or padded to the cell; None where it cannot be
        read. Kept once read."""
        reads = [slice(*read.indices(size)) for read, size in zip(reads[: self.ndim - 2], self.shape)]
        key = (well.path, _key_reads(reads, self.shape))
        with self._lock:
            tile = self._tiles.get(key)
            pending = None if tile is not None else self._pending.get(key)
        if tile is None and pending is not None:
            tile = pending.result()  # None: the fetch ahead failed, read it here
        if tile is not None:
            return tile
        array = self._level(well)
        if array is None:
            return None
        selection = self._selection(reads, array.shape)
        tile = self._tile_of(reads, array[selection] if selection is not None else None)
        self._keep(key, tile)
        return tile

    def _level(self, well: _ome.WellPlace) -> NamedReads | None:
        known = self._arrays.get(well.path)
        if known is None:
            known = self._arrays[well.path] = self._open(well)
            if isinstance(known, str):
                self._tell(f"{known}: shown blank")
            else:
                self._tell_cast(well, known.array)
        return known if isinstance(known, NamedReads) else None

    def _tell(self, problem: str) -> None:
        logger.debug("%s: well %s", self.where, problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _tell_cast(self, well: _ome.WellPlace, array) -> None:
        """Tell a well stored in another dtype than the first's: the mosaic shows it in the first's."""
        if np.dtype(array.dtype) != self.dtype:
            self._tell(f"{well.name} is stored as {np.dtype(array.dtype)}: shown as {self.dtype}, the first well's")

    def _open(self, well: _ome.WellPlace) -> NamedReads | str:
        """The well's level in its first field; where the plate's first well's first field path is there, its
        metadata is not read (one read less per well: plates name their fields alike)."""
        where = f"{self.where}/{well.path}"
        try:
            try:
                array = self._member(f"{well.path}/{self.field}/{self.level_path}")
            except FileNotFoundError:
                found = _ome.ome_block(open_member(self.group, well.path, where).attrs.asdict())
                if found is None or "well" not in found[1]:
                    return f"{well.name} has no well metadata"
                field = _ome.well_fields(found[1], where)[0]
                try:
                    array = self._member(f"{well.path}/{field}/{self.level_path}")
                except FileNotFoundError:
                    return f"{well.name}: its field {field!r} has no level {self.level_path!r} (the mosaic's)"
        except FileNotFoundError:
            return f"{well.name} is not stored"
        except ZarrTilesError as error:
            return f"{well.name} cannot be read ({error})"
        if array.ndim != self.ndim:
            return f"{well.name}: {array.path!r} has {array.ndim} dimensions, the first well's {self.ndim}"
        return NamedReads(array, bad_chunks="fill", on_bad_chunks=self.on_bad_chunks)

    def _array_path(self, path: str) -> str:
        """``path`` (from the plate) as a key of the plate's store."""
        return f"{self.group.path}/{path}".lstrip("/")

    def _member(self, path: str) -> zarr.Array:
        # An array of the plate's zarr format, opened as such: zarr.open would first look for a group and for
        # the other format's files, four times the reads (0.3 s of a 96-well plate's first frame).
        try:
            return zarr.open_array(
                self.group.store, path=self._array_path(path), mode="r", zarr_format=self.group.metadata.zarr_format
            )
        except FileNotFoundError:  # zarr's ArrayNotFoundError is one, and a ValueError too
            raise
        except (ValueError, KeyError, TypeError, NotImplementedError) as error:
            raise UnreadableStoreError(f"cannot open zarr at {self.where}/{path}: {unreadable_reason(error)}") from error

def well_names(plate: Plate, origin: tuple[float, float], cell: tuple[float, float], name: str) -> tuple[
    np.ndarray, dict
]:
    """Points on the wells of ``plate``, whose mosaic starts at ``origin`` and places a well every ``cell``
    (Y and X, world units), and the keyword arguments of a napari Points layer ``name`` that writes the wells'
    names (``A1``, ...) at their top left corners."""
    wells = plate.layout.wells
    # a point as big as a cell, centred on it, so that its text's upper-left anchor is the cell's corner
    points = np.array([
        [origin[0] + (well.row + 0.5) * cell[0], origin[1] + (well.column + 0.5) * cell[1]] for well in wells
    ])
    return points, {
        "name": name,
        "features": {
            "well": [well.name for well in wells],
            "row": [plate.layout.rows[well.row] for well in wells],
            "column": [plate.layout.columns[well.column] for well in wells],
        },
        "text": {"string": "{well}", "anchor": "upper_left", "color": "white", "size": 10},
        "size": min(cell),
        "face_color": "transparent",
        "border_color": "transparent",
        "border_width": 0,
        "metadata": {"zarr_path": plate.where},
    }
