"""Connected components across tiles, numbered as scikit-image numbers them on the whole image.

Two passes over the tiles, never a whole-image array in memory:

1. Each tile is labelled on its own (connected-components-3d). A tile keeps only its count of parts, the
   raster index of each part's first pixel in the whole image, and its border faces (its first and last
   slice along each axis). Within one tile, the tile's raster order agrees with the whole image's, so a
   part's first pixel is known from its tile alone.
2. The faces of the tiles on either side of each tile border, laid side by side over the whole border
   (so that pixels meeting across a tile corner are seen too), give the pairs of parts that touch; the
   connected components of that graph (scipy's union-find, ``csgraph.connected_components``) are the
   objects. Each object's first pixel is the smallest of its parts'; objects are numbered 1..N in that
   order, which is scikit-image's numbering. Each tile gets a lookup table from its local ids to these.

The result is lazy. A tile whose foreground is small (its share of FOREGROUND_BUDGET) keeps it from the
first pass, as pixel positions and local ids, and its result is made from them without reading or labelling
it again; any other tile is read and labelled again and looked up in its table (never every tile's labels
in memory). Planes along non-spatial axes (time, channel) are labelled each on
its own, each numbered from 1. Foreground is any non-zero pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from math import prod

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from scipy import ndimage as ndi

from ._tile_pass import over_tiles

# Memory for the foregrounds kept between the passes (6 bytes a foreground pixel, at most 8), shared evenly
# by the tiles: on the 16384² benchmark image (2% foreground, 256 tiles), every tile keeps its own.
FOREGROUND_BUDGET = 128 * 2**20


def label_structure(ndim: int, connectivity: int = 0) -> np.ndarray:
    """scikit-image's neighbourhood: pixels at most ``connectivity`` steps apart (0: all ``ndim``) touch."""
    connectivity = connectivity or ndim
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"label: connectivity must be from 1 to {ndim} for an image of {ndim} spatial axes, not {connectivity}")
    return ndi.generate_binary_structure(ndim, connectivity)


def label_in_memory(mask: np.ndarray, *, connectivity: int = 0) -> np.ndarray:
    """Labels of an array in memory (equal to ``skimage.measure.label(mask != 0, connectivity=...)``)."""
    labels, _ = ndi.label(mask != 0, label_structure(mask.ndim, connectivity), output=np.int32)
    return labels


def label_dtype(count: int) -> np.dtype:
    """The narrowest unsigned integer dtype that holds ids up to ``count``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


@dataclass(frozen=True)
class _TileParts:
    """What the first pass keeps of one tile."""

    count: int
    firsts: np.ndarray  # int64: the raster index, in its plane of the whole image, of each part's first pixel
    faces: tuple[tuple[np.ndarray | None, np.ndarray | None], ...]  # per spatial axis: first, last slice (None: empty)
    # the tile's foreground, kept where it fits the tile's share of the budget: flat positions and local ids
    foreground: np.ndarray | None = None
    ids: np.ndarray | None = None


def _tile_parts(block: np.ndarray, start: tuple[int, ...], connectivity: int, spatial: list[int],
                plane_shape: tuple[int, ...], budget: int) -> _TileParts:
    mask = _mask(spatial_plane(block, spatial))
    local, count = _tile_labels(mask, connectivity)
    foreground = np.flatnonzero(mask).astype(np.int32 if mask.size < 2**31 else np.int64)
    ids = local.ravel()[foreground].astype(label_dtype(count))
    kept = {"foreground": foreground, "ids": ids} if foreground.nbytes + ids.nbytes <= budget else {}
    if count == 0:
        return _TileParts(0, np.zeros(0, np.int64), ((None, None),) * mask.ndim, **kept)
    # each part's first pixel: the first of its id in raster order (ids run 1..count, every one present)
    _, first = np.unique(ids, return_index=True)
    at = np.unravel_index(foreground[first], mask.shape)
    firsts = np.ravel_multi_index(tuple(a + start[axis] for a, axis in zip(at, spatial)), plane_shape).astype(np.int64)
    faces = tuple(
        tuple(_or_none(np.take(local, index, axis=axis)) for index in (0, -1)) for axis in range(mask.ndim)
    )
    return _TileParts(count, firsts, faces, **kept)


def plane_number(index: tuple[int, ...], numblocks: tuple[int, ...], spatial: list[int]) -> int:
    """The number, in raster order, of the plane of block ``index``: its place along the non-spatial axes
    (one block long each), each plane labelled on its own."""
    others = [axis for axis in range(len(index)) if axis not in spatial]
    return int(np.ravel_multi_index([index[axis] for axis in others], [numblocks[axis] for axis in others]))


def spatial_plane(block: np.ndarray, spatial: list[int]) -> np.ndarray:
    """A block's spatial axes (its other axes are one plane long)."""
    return block.reshape([block.shape[axis] for axis in spatial])


def _mask(tile: np.ndarray) -> np.ndarray:
    """Foreground: the non-zero pixels (a mask as it is)."""
    return tile if tile.dtype == bool else tile != 0


def _tile_labels(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """A tile's connected parts (of its ``mask``), numbered 1..count in no particular order, and their count.

    connected-components-3d: two to three times faster than ``scipy.ndimage.label`` on a 1024² tile (it
    holds the interpreter lock as scipy does). It names connectivities by their count of neighbours, and
    labels 1D as 3D: a 1D tile is labelled as a row. The mask goes in as bytes: its path for bool images
    (4.1) mislabels some, such as a 4 x 5 image with pixels in its last row only, 8-connected.
    """
    import cc3d

    planar = (mask.reshape(1, -1) if mask.ndim == 1 else mask).view(np.uint8)
    neighbours = {1: 4, 2: 8} if planar.ndim == 2 else {1: 6, 2: 18, 3: 26}
    local, count = cc3d.connected_components(planar, connectivity=neighbours[connectivity], return_N=True)
    return local.reshape(mask.shape), int(count)


def _or_none(face: np.ndarray) -> np.ndarray | None:
    return face.copy() if face.any() else None


def label_levels(data: da.Array, *, connectivity: int = 0, spatial_axes: Sequence[int],
                 shapes: Sequence[tuple[int, ...]] | None = None) -> list[da.Array]:
    """The lazy labels of ``data``'s non-zero pixels, tile by tile, equal to scikit-image's on the whole image.

    The first pass runs here, over every tile (through dask: on a dask.distributed cluster where a client is
    the default). ``shapes``, the shapes of the levels of a pyramid, give coarser levels too: each is taken
    from level 0's labels by the label-safe rule of the written pyramid (a box's first pixel), so that every
    level shows the same ids. Returns one lazy array per shape (by default level 0 alone).
    """
    data = da.asarray(data)
    spatial = list(spatial_axes)
    structure = label_structure(len(spatial), connectivity)
    connectivity = connectivity or len(spatial)
    data = data.rechunk({axis: 1 for axis in range(data.ndim) if axis not in spatial})
    plane_shape = tuple(data.shape[axis] for axis in spatial)
    budget = FOREGROUND_BUDGET // max(1, prod(data.numblocks))
    parts = over_tiles(_tile_parts, data, connectivity, spatial, plane_shape, budget)
    tables, dtype = _lookup_tables(parts, data, spatial, structure)
    name = f"label-{tokenize(data.name, structure)}"
    graph = {}
    for index, kept in parts.items():
        shape = tuple(sizes[i] for sizes, i in zip(data.chunks, index))
        graph[(name, *index)] = (
            (_from_foreground, shape, kept.foreground, kept.ids, tables[index]) if kept.ids is not None
            else (_relabelled, (data.name, *index), connectivity, spatial, tables[index])
        )
    level0 = da.Array(HighLevelGraph.from_collections(name, graph, dependencies=[data]), name, chunks=data.chunks,
                      dtype=dtype, meta=np.empty((0,) * data.ndim, dtype))
    return label_pyramid(level0, shapes)


def label_pyramid(level0: da.Array, shapes: Sequence[tuple[int, ...]] | None) -> list[da.Array]:
    """``level0`` and, for each further shape of ``shapes`` (the shapes of a pyramid's levels), a coarser
    level taken from it by the label-safe rule of the written pyramid (a box's first pixel), so that every
    level shows the same ids."""
    from .._pyramid import downsample

    levels = [level0]
    for shape in list(shapes or [])[1:]:
        factors = [max(1, round(level0.shape[axis] / size)) for axis, size in enumerate(shape)]
        levels.append(downsample(level0, factors, labels=True)[tuple(slice(0, size) for size in shape)])
    return levels


def _from_foreground(shape: tuple[int, ...], foreground: np.ndarray, ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    result = np.zeros(shape, table.dtype)
    result.reshape(-1)[foreground] = table[ids]
    return result


def _relabelled(block: np.ndarray, connectivity: int, spatial: list[int], table: np.ndarray) -> np.ndarray:
    local, _ = _tile_labels(_mask(spatial_plane(block, spatial)), connectivity)
    return table[local].reshape(block.shape)


def _lookup_tables(parts: dict[tuple, _TileParts], data: da.Array, spatial: list[int],
                   structure: np.ndarray) -> tuple[dict[tuple, np.ndarray], np.dtype]:
    """Each tile's table from its local ids to the whole image's, and the dtype that holds them."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    indices = list(parts)
    counts = np.array([parts[index].count for index in indices], np.int64)
    bases = dict(zip(indices, np.cumsum(np.concatenate([[0], counts[:-1]]))))  # a tile's first part's node
    total = int(counts.sum())
    firsts = np.concatenate([parts[index].firsts for index in indices]) if total else np.zeros(0, np.int64)
    plane_of_part = np.repeat([plane_number(index, data.numblocks, spatial) for index in indices], counts)
    pairs = list(_touching_parts(parts, bases, data, spatial, structure))
    above = np.concatenate([pair[0] for pair in pairs]) if pairs else np.zeros(0, np.int64)
    below = np.concatenate([pair[1] for pair in pairs]) if pairs else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(above), np.int8), (above, below)), shape=(total, total))
    object_count, object_of_part = connected_components(graph, directed=False)
    ids, dtype = numbered_objects(object_of_part, object_count, firsts, plane_of_part)
    tables = {}
    for index, count in zip(indices, counts):
        table = np.zeros(count + 1, dtype)
        table[1:] = ids[object_of_part[bases[index]:bases[index] + count]]
        tables[index] = table
    return tables, dtype


def numbered_objects(object_of_part: np.ndarray, object_count: int, firsts: np.ndarray,
                     plane_of_part: np.ndarray) -> tuple[np.ndarray, np.dtype]:
    """Objects numbered as scikit-image numbers them: from 1 in each plane, in raster order of each
    object's first pixel.

    Each part (a piece of an object in one tile) has its object (``object_of_part``, 0 ..
    ``object_count`` - 1), the raster index of its first pixel in its plane (``firsts``) and its plane's
    number (``plane_of_part``). Returns each object's id and the narrowest dtype that holds them.
    """
    first_of_object = np.full(object_count, np.iinfo(np.int64).max)
    np.minimum.at(first_of_object, object_of_part, firsts)
    plane_of_object = np.zeros(object_count, np.int64)
    plane_of_object[object_of_part] = plane_of_part
    order = np.lexsort((first_of_object, plane_of_object))
    per_plane = np.bincount(plane_of_object, minlength=1)
    plane_starts = np.concatenate([[0], np.cumsum(per_plane)[:-1]])
    ids = np.empty(object_count, np.int64)
    ids[order] = np.arange(object_count) - plane_starts[plane_of_object[order]] + 1
    return ids, label_dtype(int(per_plane.max()) if object_count else 0)


def _touching_parts(parts: dict[tuple, _TileParts], bases: dict[tuple, int], data: da.Array, spatial: list[int],
                    structure: np.ndarray):
    """Pairs of parts (as node numbers) that touch across a tile border, one tile's face at a time.

    Across each tile border, the first slice of each tile after it meets the last slices of the tile before
    it and of that tile's neighbours along the border, one pixel beyond its edges: so parts meeting across a
    tile corner meet too, and no more than a few faces are in memory at once. Pixels touch where the
    structure's offset of +1 across the border, and -1, 0 or +1 along it, allows.
    """
    planes = [data.numblocks[axis] if axis not in spatial else 1 for axis in range(data.ndim)]
    edges = [np.cumsum((0, *sizes)) for sizes in data.chunks]  # where each tile starts, and the last ends
    for position, axis in enumerate(spatial):
        along = [other for other in spatial if other != axis]
        # the offsets along the border at which a pixel touches the pixel one step across it
        offsets = [np.array(offset) - 1 for offset in zip(*np.nonzero(np.take(structure, 2, axis=position)))]
        grids = list(np.ndindex(*[data.numblocks[other] for other in along]))
        for row, plane, grid in product(range(1, data.numblocks[axis]), np.ndindex(*planes), grids):
            after = _face(parts, bases, _tile_at(plane, axis, row, along, grid), position, last=False)
            if after is None:
                continue
            before, low = _grown_face(parts, bases, data, edges, (plane, axis, row - 1), along, grid, position)
            if before is None:
                continue
            starts = [int(edges[other][i]) for other, i in zip(along, grid)]
            for offset in offsets:
                # the pixels p of ``after`` whose neighbour p + offset lies in ``before``
                spans = [
                    (max(start, first - d), min(start + n, first + m - d))
                    for start, n, first, m, d in zip(starts, after.shape, low, before.shape, offset)
                ]
                if any(stop <= begin for begin, stop in spans):
                    continue
                a = after[tuple(slice(begin - start, stop - start) for (begin, stop), start in zip(spans, starts))]
                b = before[tuple(slice(begin + d - first, stop + d - first)
                                 for (begin, stop), d, first in zip(spans, offset, low))]
                both = (a >= 0) & (b >= 0)
                if both.any():
                    yield b[both], a[both]


def _tile_at(plane: tuple, axis: int, row: int, along: list[int], grid: tuple) -> tuple:
    """The block index of the tile at ``row`` along ``axis`` and ``grid`` along the other spatial axes."""
    index = list(plane)
    index[axis] = row
    for other, i in zip(along, grid):
        index[other] = i
    return tuple(index)


def _face(parts: dict[tuple, _TileParts], bases: dict[tuple, int], index: tuple, position: int, *,
          last: bool) -> np.ndarray | None:
    """A tile's first or ``last`` slice along its ``position``-th spatial axis as node numbers (-1 for
    background); None where it is all background."""
    face = parts[index].faces[position][1 if last else 0]
    return None if face is None else np.where(face > 0, face.astype(np.int64) + (bases[index] - 1), -1)


def _grown_face(parts: dict[tuple, _TileParts], bases: dict[tuple, int], data: da.Array, edges: list[np.ndarray],
                row: tuple, along: list[int], grid: tuple, position: int) -> tuple[np.ndarray | None, list[int]]:
    """The last slices of the tile at ``grid`` in ``row`` (the tiles' index on the non-spatial axes, the
    axis, their index along it) and of its neighbours along the border, laid side by side and cut to one
    pixel beyond the tile's edges; and where it starts along each of the ``along`` axes (``edges``: where
    the tiles start along each axis)."""
    plane, axis, at = row
    around = [[i + step for step in (-1, 0, 1) if 0 <= i + step < data.numblocks[other]] for other, i in zip(along, grid)]
    faces = {near: _face(parts, bases, _tile_at(plane, axis, at, along, near), position, last=True)
             for near in product(*around)}
    if all(face is None for face in faces.values()):
        return None, []

    def nested(near: tuple = ()):
        if len(near) == len(along):
            face = faces[near]
            sizes = [data.chunks[other][i] for other, i in zip(along, near)]
            return np.full(sizes, -1, np.int64) if face is None else face
        return [nested((*near, i)) for i in around[len(near)]]

    grown = np.block(nested())
    cut, low = [], []
    for other, i, neighbours in zip(along, grid, around):
        first, start, stop = int(edges[other][neighbours[0]]), int(edges[other][i]), int(edges[other][i + 1])
        begin, end = max(first, start - 1), min(stop + 1, first + grown.shape[len(cut)])
        cut.append(slice(begin - first, end - first))
        low.append(begin)
    return grown[tuple(cut)], low
