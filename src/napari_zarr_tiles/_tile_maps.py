"""Per-tile maps as napari layers: object count, area fraction and mean intensity, one pixel per tile, laid
over the image (the engine's ``tiles._tile_maps`` computes them; this module reads stores and names layers)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np

# how each map is shown: its layer's name and colormap
LAYER_LOOKS = {
    "object_count": ("object count", "magma"),
    "area_fraction": ("area fraction", "viridis"),
    "mean_intensity": ("mean intensity", "inferno"),
}


def tile_maps(labels, intensity=None, *, tile: int | Sequence[int] | None = None,
              scale: Sequence[float] | None = None, translate: Sequence[float] | None = None) -> list[tuple]:
    """Per-tile maps of ``labels`` as napari image layers lying over the image.

    Parameters
    ----------
    labels : path or array
        A zarr store (an OME-Zarr label image, an image whose ``labels/`` hold one, a plain integer array) or
        an array (numpy or dask).
    intensity : path or array, optional
        An image of the labels' shape (zarr or TIFF, or an array): adds the mean intensity map, the mean of
        the intensity over the objects' pixels in each tile.
    tile : int or sequence of int, optional
        The tile's size in pixels (one for every axis, or one per axis); by default the labels' chunk.
    scale, translate : sequence of float, optional
        The image's pixel size and first pixel's position, for arrays; a store gives its own.

    Returns
    -------
    list of tuple
        napari layer data tuples ``(map, {"name", "scale", "translate", "colormap", ...}, "image")``: the
        object count (each object counted in the tile holding its centroid), the area fraction (foreground
        pixels over the tile's pixels) and, with an intensity image, the mean intensity. A map pixel is a
        tile wide and centred on the tile's centre.
    """
    from ._measure import _intensity, _label_source
    from .tiles._tile_maps import tile_maps as engine_tile_maps

    data = labels
    if isinstance(labels, str | PathLike):
        from ._store import to_dask

        source = _label_source(labels)
        data, scale, translate = to_dask(source.levels[0]), source.scale, source.translate
    maps = engine_tile_maps(data, _intensity(intensity, data.shape), tile=tile, scale=scale, translate=translate)
    layers = []
    for key, (values, map_scale, map_translate) in maps.items():
        name, colormap = LAYER_LOOKS[key]
        finite = values[~np.isnan(values)]  # NaN (a mean over no pixels) left out of the contrast
        high = float(finite.max()) if finite.size else 1.0
        layers.append((values, {
            "name": name, "scale": map_scale, "translate": map_translate, "colormap": colormap,
            "contrast_limits": (0.0, high if high > 0 else 1.0), "opacity": 0.6, "blending": "additive",
        }, "image"))
    return layers
