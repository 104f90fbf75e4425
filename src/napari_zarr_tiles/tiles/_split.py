"""Touching nuclei split by Voronoi-Otsu labelling, tile by tile, with a halo of a stated largest object size.

Voronoi-Otsu labelling as napari-segment-blobs-and-things-with-membranes writes it with scikit-image (the
notebooks' way of splitting touching nuclei):

1. seeds: the local maxima (``skimage.morphology.local_maxima``) of the image smoothed by a Gaussian of
   ``spot_sigma``, kept where the mask is, each connected group of them one seed (``skimage.measure.label``);
2. the mask: the image smoothed by a Gaussian of ``outline_sigma``, above its Otsu threshold;
3. each mask pixel joins the seed it is reached from first when flooding the mask from every seed at once
   (``skimage.segmentation.watershed(mask, seeds, mask=mask)``); mask pixels no seed reaches stay 0.

Tiled: both smoothings are the engine's exact Gaussians; the Otsu threshold is taken from the whole smoothed
image (``whole_image_threshold``, never per tile). The Gaussians equal scipy's to float32 rounding, and so the
threshold scikit-image's, but for one case: where Otsu's criterion is as good at two neighbouring bins (random
noise), the rounding may pick the other one (``test_tiles``: 5 of 1537 pixels of a noise image then differ). Each tile is then split on the tile grown by a halo of
``max_object_size`` + 1 pixels, and each pixel of the tile keeps the seed it joined, known by the position of
the seed's first pixel in the whole image: a seed names its object in every tile the object reaches, so the
tile holding the seed owns the object. Objects are then numbered 1..N in raster order of each object's first
pixel, as scikit-image numbers labels (``_label.numbered_objects``).

What equals the whole-image result: every object whose region of the mask (its connected part of the mask,
pixels joined across faces, edges and corners) spans at most ``max_object_size`` pixels along each axis, so
that the region and the pixels around it lie within every tile's halo that reaches it. An exception, rare in
smoothed images: a plateau of the seed-smoothed image (neighbouring pixels of exactly equal value, as flat
saturated patches give) that reaches beyond the halo. Larger regions are still labelled, tile by tile: a tile
sees only the seeds within its halo, so such a region may be split along tile borders or have pixels left
at 0 where no seed is within reach. Nothing is ever held for the whole image: the first pass keeps of each tile
its seeds' positions and first pixels, and its labelled pixels (positions and seeds) where they fit its
share of label's FOREGROUND_BUDGET; the result of a tile whose pixels were not kept is split again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from math import prod

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _label
from ._apply import _nested_keys, _run_with_halo, apply_chain, chunked_for_halo
from ._label import label_dtype, label_pyramid, numbered_objects, plane_number, spatial_plane
from ._threshold import whole_image_threshold
from ._tile_pass import over_tiles


def voronoi_otsu_in_memory(image: np.ndarray, *, spot_sigma: float = 2.0, outline_sigma: float = 2.0) -> np.ndarray:
    """Voronoi-Otsu labels of an image held in memory, all its axes spatial: the tiled split on one tile."""
    image = np.asarray(image)
    level0, = voronoi_otsu_levels(da.from_array(image, chunks=-1), spot_sigma=spot_sigma, outline_sigma=outline_sigma,
                                  max_object_size=0, spatial_axes=range(image.ndim))
    return level0.compute()


def voronoi_otsu_levels(data, *, spot_sigma: float = 2.0, outline_sigma: float = 2.0, max_object_size: int = 50,
                        spatial_axes: Sequence[int], shapes: Sequence[tuple[int, ...]] | None = None) -> list[da.Array]:
    """The lazy Voronoi-Otsu labels of ``data``, tile by tile, equal to the whole-image result for objects up
    to ``max_object_size`` pixels across (see the module's docstring for exactly which).

    Parameters
    ----------
    data : array
        The image (numpy or dask); planes along non-spatial axes are split each on its own, numbered from 1.
    spot_sigma, outline_sigma : float
        The Gaussians' standard deviations, in pixels, for the seeds and for the mask.
    max_object_size : int
        The largest object, in pixels along any axis, whose labels equal the whole image's: each tile reads
        this many pixels (plus one) beyond its edges, on top of the Gaussians' halos.
    spatial_axes : sequence of int
        The axes split (two or three).
    shapes : sequence of tuple, optional
        The shapes of a pyramid's levels: coarser levels are taken from level 0 by the label-safe rule.

    Returns
    -------
    list of dask.array.Array
        One lazy labels array per shape (level 0 alone by default), of the narrowest unsigned dtype.
    """
    data = da.asarray(data)
    spatial = list(spatial_axes)
    spots = apply_chain(data, [("gaussian", {"sigma": spot_sigma})], spatial_axes=spatial)
    outline = apply_chain(data, [("gaussian", {"sigma": outline_sigma})], spatial_axes=spatial)
    mask = outline > whole_image_threshold(outline, "otsu")
    halo = int(max_object_size) + 1
    # seed-smoothed image and mask side by side on a first axis, so that one task reads both of a tile
    both = da.stack([spots, mask.astype(spots.dtype)])
    axes = [axis + 1 for axis in spatial]
    both = both.rechunk({0: 2, **{axis: 1 for axis in range(1, both.ndim) if axis not in axes}})
    both, depth = chunked_for_halo(both, {axis: halo for axis in axes})
    keys = _seed_key_tiles(both, depth, axes)
    plane_shape = tuple(keys.shape[axis] for axis in spatial)
    budget = _label.FOREGROUND_BUDGET // max(1, prod(keys.numblocks))
    by_tile = over_tiles(_tile_objects, keys, spatial, plane_shape, budget)
    indices, parts = list(by_tile), list(by_tile.values())
    plane_numbers = [plane_number(index, keys.numblocks, spatial) for index in indices]
    seeds = np.concatenate([part.present for part in parts])
    planes = np.repeat(plane_numbers, [len(part.present) for part in parts])
    # an object is a seed of a plane: (plane, seed position) pairs numbered 0..count - 1
    objects, object_of_part = np.unique(np.stack([planes, seeds]), axis=1, return_inverse=True)
    ids, dtype = numbered_objects(object_of_part.ravel(), objects.shape[1],
                                  np.concatenate([part.firsts for part in parts]), planes)
    graph, start = {}, 0
    name = f"voronoi-otsu-{tokenize(keys.name)}"
    for index, part in zip(indices, parts):
        table = np.concatenate([[0], ids[object_of_part.ravel()[start:start + len(part.present)]]]).astype(dtype)
        start += len(part.present)
        shape = tuple(sizes[i] for sizes, i in zip(keys.chunks, index))
        graph[(name, *index)] = (
            (_label._from_foreground, shape, part.foreground, part.ids, table) if part.ids is not None
            else (_looked_up, (keys.name, *index), np.concatenate([[0], part.present]), table)
        )
    level0 = da.Array(HighLevelGraph.from_collections(name, graph, dependencies=[keys]), name, chunks=keys.chunks,
                      dtype=dtype, meta=np.empty((0,) * keys.ndim, dtype))
    return label_pyramid(level0.rechunk(data.chunks) if level0.chunks != data.chunks else level0, shapes)


def _seed_key_tiles(both: da.Array, depth: dict[int, int], axes: list[int]) -> da.Array:
    """Each tile's seed keys (the raster index + 1 of each pixel's seed's first pixel in its plane; 0 where
    no seed reaches), split on the tile grown by ``depth``: ``map_with_halo``, with each tile's origin."""
    depths = tuple(depth.get(axis, 0) for axis in range(both.ndim))
    starts = [np.cumsum((0, *sizes[:-1])) for sizes in both.chunks]
    plane_shape = tuple(both.shape[axis] for axis in axes)
    name = f"voronoi-otsu-seeds-{tokenize(both.name, depths)}"
    graph = {}
    for index in np.ndindex(*both.numblocks):
        around = [[offset for offset in ((-1, 0, 1) if d else (0,)) if 0 <= i + offset < count]
                  for i, count, d in zip(index, both.numblocks, depths)]
        grown_starts = [d if -1 in axis_around else 0 for d, axis_around in zip(depths, around)]
        core = tuple(slice(start, start + sizes[i]) for start, i, sizes in zip(grown_starts, index, both.chunks))
        origin = tuple(int(starts[axis][index[axis]]) - grown_starts[axis] for axis in axes)
        graph[(name, *index[1:])] = (_first_plane, (
            _run_with_halo, partial(_tile_seed_keys, axes=axes, origin=origin, plane_shape=plane_shape),
            _nested_keys(both.name, index, around), around, depths, core,
        ))
    layer = HighLevelGraph.from_collections(name, graph, dependencies=[both])
    return da.Array(layer, name, chunks=both.chunks[1:], dtype=np.int64, meta=np.empty((0,) * (both.ndim - 1), np.int64))


def _tile_seed_keys(grown: np.ndarray, axes: list[int], origin: tuple[int, ...], plane_shape: tuple[int, ...]):
    """A grown tile's seed keys, on a first axis of one (``_run_with_halo`` cuts the core on every axis)."""
    shape = [grown.shape[axis] for axis in axes]  # other axes are one plane: dropped
    keys = _seed_keys(grown[0].reshape(shape), grown[1].reshape(shape) > 0, origin, plane_shape)
    return keys.reshape((1, *grown.shape[1:]))


def _first_plane(block: np.ndarray) -> np.ndarray:
    return block[0]


def _seed_keys(spots: np.ndarray, mask: np.ndarray, origin: tuple[int, ...], plane_shape: tuple[int, ...]) -> np.ndarray:
    """Each mask pixel's seed, as the raster index + 1 in the whole plane of the seed's first pixel (0 where
    no seed reaches): the seeds, then the mask flooded from them, on this part of the image at ``origin``."""
    from skimage.measure import label
    from skimage.morphology import local_maxima

    seeds = label(local_maxima(spots) & mask)
    count = int(seeds.max())
    keys = np.zeros(count + 1, np.int64)
    if count:
        flat = seeds.ravel()
        at = np.flatnonzero(flat)
        ids, first = np.unique(flat[at], return_index=True)
        where = np.unravel_index(at[first], seeds.shape)
        keys[ids] = np.ravel_multi_index(tuple(w + o for w, o in zip(where, origin)), plane_shape) + 1
    return _flooded(keys[seeds], mask)


def _flooded(keys: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``keys`` (0: none yet) spread over ``mask`` one step at a time, across pixels' faces: each mask pixel
    takes the key of the seed fewest steps away, of the smallest key where several are as few.

    A breadth-first flood, as the watershed of a flat image floods, but with its ties settled by the seeds'
    own positions: scikit-image's heap settles them by the order of everything pushed before, which
    depends on the part of the image it is given, so that no two tilings would agree. Each step looks only
    at the pixels next to the last step's, on flat indices of the image padded by one pixel (no wrapping
    from one row's end to the next row's start)."""
    inner = tuple(slice(1, -1) for _ in keys.shape)
    work = np.zeros([n + 2 for n in keys.shape], np.int64)
    work[inner] = keys
    free = np.zeros(work.shape, bool)
    free[inner] = mask & (keys == 0)
    flat, flat_free = work.reshape(-1), free.reshape(-1)
    steps = [sign * stride // work.itemsize for stride in work.strides for sign in (-1, 1)]
    frontier = np.flatnonzero(flat)
    unset = np.iinfo(np.int64).max
    while frontier.size:
        reached = np.unique(np.concatenate([frontier + step for step in steps]))
        reached = reached[flat_free[reached]]
        if not reached.size:
            break
        nearest = np.full(reached.size, unset)
        for step in steps:
            around = flat[reached + step]
            np.minimum(nearest, np.where(around > 0, around, unset), out=nearest)
        flat[reached] = nearest
        flat_free[reached] = False
        frontier = reached
    return work[inner]


@dataclass(frozen=True)
class _TileSeeds:
    """What the first pass keeps of one tile: its seeds, and its foreground where it fits its budget."""

    present: np.ndarray  # the seed keys in the tile, sorted, without 0
    firsts: np.ndarray  # the raster index, in the whole plane, of each one's first pixel in the tile
    foreground: np.ndarray | None = None  # flat positions of the tile's labelled pixels
    ids: np.ndarray | None = None  # each one's seed, as 1 + its place in ``present``


def _tile_objects(keys: np.ndarray, start: tuple[int, ...], spatial: list[int], plane_shape: tuple[int, ...],
                  budget: int) -> _TileSeeds:
    """The seeds of a tile of seed keys starting at ``start``, and its foreground if it fits ``budget``
    bytes (then its result is made from it, without splitting the tile again)."""
    tile = spatial_plane(keys, spatial)
    flat = tile.ravel()
    at = np.flatnonzero(flat)
    present, first, local = np.unique(flat[at], return_index=True, return_inverse=True)
    where = np.unravel_index(at[first], tile.shape)
    firsts = np.ravel_multi_index(tuple(w + start[axis] for w, axis in zip(where, spatial)), plane_shape).astype(np.int64)
    ids = (local.ravel() + 1).astype(label_dtype(len(present)))
    foreground = at.astype(np.int32 if tile.size < 2**31 else np.int64)
    if foreground.nbytes + ids.nbytes > budget:
        return _TileSeeds(present, firsts)
    return _TileSeeds(present, firsts, foreground, ids)


def _looked_up(keys: np.ndarray, present: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[np.searchsorted(present, keys)]
