"""HCS plates (OME-Zarr ``plate`` and ``well`` metadata): a plate opens as a low-resolution mosaic of its wells.

The mosaic shows one field per well, its first, from one pyramid level: the finest at which the whole plate
is at most :data:`MOSAIC_EDGE` pixels wide and high, about a screen. Wells lie on the plate's grid with a gap
between them; wells the plate does not hold are blank. It is a dask array whose tiles each read one well's
level when napari draws them, so opening a plate reads the metadata of the plate, of its first well and of
that well's first field, and the tiles of at most :data:`SAMPLE_WELLS` wells for the contrast (kept for the
first frame).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import ceil
from os import PathLike, fspath

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from . import _display, _ome
from ._errors import OmeMetadataError, UnreadableStoreError, ZarrTilesError
from ._store import BadChunks, NamedReads, open_member, open_readonly, unreadable_reason

logger = logging.getLogger(__name__)

# The mosaic is at most this many pixels along Y and X (about a screen), where the plate's levels allow it.
MOSAIC_EDGE = 2048
# The gap between wells, as a fraction of a well's edge at the mosaic's level.
GAP_FRACTION = 0.1
# The mosaic's tiles kept once read (a 96-well plate's mosaic is a few MB a channel): napari slices a new
# layer several times before its first frame, and dask's own cache keeps none of these small, quick tasks.
TILE_CACHE_BYTES = 256 * 2**20
# The wells, spread over the plate, whose tiles are the mosaic's contrast sample: one well's range is not the
# plate's (wells brighter than the first showed solid white).
SAMPLE_WELLS = 8


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
    data: da.Array
    axes: tuple[_ome.Axis, ...]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    channels: tuple[_ome.Channel, ...]
    cell: tuple[float, float]
    level: int
    field: str
    sample: zarr.Array
    tiles: _WellTiles

    def contrast_sample(self) -> np.ndarray:
        """The pixels of up to :data:`SAMPLE_WELLS` wells spread over the plate, as the mosaic shows them (its
        tiles, which keep them for the first frame), side by side along Y: every channel, other axes at their
        middle, at most :data:`._display.SAMPLE_BYTES` a channel. Wells that cannot be read are left out."""
        wells = self.plate.layout.wells
        wells = wells[:: ceil(len(wells) / SAMPLE_WELLS)]
        y, x = _ome.yx_axes(self.axes)
        channel = _ome.channel_axis(self.axes)
        shape = self.sample.shape
        plane_bytes = len(wells) * shape[y] * shape[x] * self.data.dtype.itemsize
        stride = max(1, ceil((plane_bytes / _display.SAMPLE_BYTES) ** 0.5))  # every stride-th pixel along Y and X

        def read(well: _ome.WellPlace) -> np.ndarray | None:
            planes = []
            for index in range(self.data.shape[channel]) if channel is not None else [None]:
                block = [index if axis == channel else size // 2 for axis, size in enumerate(self.data.shape)]
                block[y], block[x] = well.row, well.column
                chunk_shape = [1] * self.data.ndim
                chunk_shape[y], chunk_shape[x] = self.data.chunks[y][well.row], self.data.chunks[x][well.column]
                tile = self.tiles(block_id=block, block_info={None: {"chunk-shape": chunk_shape}})
                if not self.tiles.readable(well):
                    return None
                cut = [slice(None)] * self.data.ndim
                cut[y], cut[x] = slice(0, shape[y], stride), slice(0, shape[x], stride)
                planes.append(tile[tuple(cut)])
            return np.concatenate(planes, axis=channel) if channel is not None else planes[0]

        with ThreadPoolExecutor(max_workers=len(wells)) as pool:
            read_wells = [pixels for pixels in pool.map(read, wells) if pixels is not None]
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
    and is told to ``on_problem`` (once, from the thread that drew it); chunks that cannot be read show the
    fill value and are told to ``on_bad_chunks``. ``on_problem`` gets the well's name and what is wrong
    (``"B3 is not stored"``).
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
    # Every axis but Y and X one index per tile, so that a channel, a plane or a time point reads alone.
    chunks = [(1,) * size for size in level_array.shape]
    chunks[y] = (height + gap,) * (rows - 1) + (height,)
    chunks[x] = (width + gap,) * (columns - 1) + (width,)
    tiles = _WellTiles(
        plate.group, plate.where, {(w.row, w.column): w for w in plate.layout.wells}, field, multiscale.paths[level],
        (y, x), level_array.ndim, level_array.dtype, on_problem, on_bad_chunks,
    )
    data = da.map_blocks(
        tiles, dtype=level_array.dtype, chunks=tuple(chunks), meta=np.empty((0,) * level_array.ndim, level_array.dtype),
        name="plate-mosaic-" + tokenize(plate.where, multiscale.paths[level], tuple(chunks), str(level_array.dtype)),
    )
    factor = [shapes[0][axis] / level_array.shape[axis] if axis in (y, x) else 1.0 for axis in range(len(shapes[0]))]
    scale = tuple(s * f for s, f in zip(multiscale.scale, factor))
    return Mosaic(
        plate=plate, data=data, axes=multiscale.axes, scale=scale, translate=multiscale.translate,
        channels=multiscale.channels, cell=((height + gap) * scale[y], (width + gap) * scale[x]), level=level,
        field=field, sample=level_array, tiles=tiles,
    )


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


class _WellTiles:
    """One tile of the mosaic: a well's field at the mosaic's level, cut or padded to its cell (blank where
    there is no well, or it cannot be read)."""

    def __init__(self, group, where, wells, field, level_path, yx, ndim, dtype, on_problem, on_bad_chunks) -> None:
        self.group, self.where, self.wells, self.field, self.level_path = group, where, wells, field, level_path
        self.yx, self.ndim, self.dtype = yx, ndim, np.dtype(dtype)
        self.on_problem, self.on_bad_chunks = on_problem, on_bad_chunks
        self._arrays: dict[str, NamedReads | str] = {}  # a well's path -> its level, or why it cannot be read
        self._tiles: dict[tuple, np.ndarray] = {}  # block index -> tile, oldest first
        self._tile_bytes = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {key: value for key, value in vars(self).items() if key != "_lock"} | {
            "_arrays": {}, "_tiles": {}, "_tile_bytes": 0,
        }

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state, _lock=threading.Lock())

    def __call__(self, block_id=None, block_info=None) -> np.ndarray:
        key = tuple(block_id)
        with self._lock:
            tile = self._tiles.get(key)
        if tile is None:
            tile = self._read(key, block_info[None]["chunk-shape"])
            with self._lock:
                self._tiles[key] = tile
                self._tile_bytes += tile.nbytes
                while self._tile_bytes > TILE_CACHE_BYTES:
                    self._tile_bytes -= self._tiles.pop(next(iter(self._tiles))).nbytes
        return tile

    def _read(self, block_id: tuple, shape) -> np.ndarray:
        y, x = self.yx
        tile = np.zeros(shape, self.dtype)
        well = self.wells.get((block_id[y], block_id[x]))
        array = self._level(well) if well is not None else None
        if array is None:
            return tile
        selection = tuple(
            slice(0, min(tile.shape[axis], array.shape[axis])) if axis in (y, x)
            else slice(index, index + 1) if index < array.shape[axis] else slice(0, 0)
            for axis, index in enumerate(block_id)
        )
        values = array[selection]
        tile[tuple(slice(0, size) for size in values.shape)] = values
        return tile

    def readable(self, well: _ome.WellPlace) -> bool:
        """Whether ``well``'s level was opened (False where it cannot be read, or is not opened yet)."""
        return isinstance(self._arrays.get(well.path), NamedReads)

    def _level(self, well: _ome.WellPlace) -> NamedReads | None:
        known = self._arrays.get(well.path)
        if known is None:
            known = self._arrays[well.path] = self._open(well)
            if isinstance(known, str):
                logger.debug("%s: well %s", self.where, known)
                if self.on_problem is not None:
                    self.on_problem(known)
        return known if isinstance(known, NamedReads) else None

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
                array = self._member(f"{well.path}/{field}/{self.level_path}")
        except FileNotFoundError:
            return f"{well.name} is not stored"
        except ZarrTilesError as error:
            return f"{well.name} cannot be read ({error})"
        if array.ndim != self.ndim:
            return f"{well.name}: {array.path!r} has {array.ndim} dimensions, the first well's {self.ndim}"
        return NamedReads(array, bad_chunks="fill", on_bad_chunks=self.on_bad_chunks)

    def _member(self, path: str) -> zarr.Array:
        # An array of the plate's zarr format, opened as such: zarr.open would first look for a group and for
        # the other format's files, four times the reads (0.3 s of a 96-well plate's first frame).
        try:
            return zarr.open_array(
                self.group.store, path=f"{self.group.path}/{path}".lstrip("/"), mode="r",
                zarr_format=self.group.metadata.zarr_format,
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
