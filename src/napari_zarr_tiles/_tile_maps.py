"""Per-tile maps as napari layers: object count, area fraction and mean intensity, one pixel per tile, laid
over the image (the engine's ``tiles._tile_maps`` computes them; this module reads stores and names layers)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np

from ._image import finest

# how each map is shown: its layer's name and colormap
LAYER_LOOKS = {
    "object_count": ("object count", "magma"),
    "area_fraction": ("area fraction", "viridis"),
    "mean_intensity": ("mean intensity", "inferno"),
}


def tile_maps(labels, intensity=None, *, tile: int | Sequence[int] | None = None,
              scale: Sequence[float] | None = None, translate: Sequence[float] | None = None, table=None
              ) -> list[tuple]:
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
    table : mapping, optional
        The labels' object table if already made (``measure``'s DataFrame): its centroids are used.

    Returns
    -------
    list of tuple
        napari layer data tuples ``(map, {"name", "scale", "translate", "colormap", ...}, "image")``: the
        object count (each object counted in the tile holding its centroid), the area fraction (foreground
        pixels over the tile's pixels) and, with an intensity image, the mean intensity. A map pixel is a
        tile wide and centred on the tile's centre.
    """
    maps, _ = _maps(labels, intensity, tile, scale, translate, table)
    layers = []
    for key, (values, map_scale, map_translate) in maps.items():
        name, colormap = LAYER_LOOKS[key]
        layers.append((values, {
            "name": name, "scale": map_scale, "translate": map_translate, "colormap": colormap,
            "contrast_limits": _window(values), "opacity": 0.6, "blending": "additive",
        }, "image"))
    return layers


def write_tile_maps(target: str | PathLike, labels, intensity=None, *, tile: int | Sequence[int] | None = None,
                    table=None, overwrite: bool = False) -> str:
    """Write the per-tile maps of the zarr label image ``labels`` as one small OME-Zarr image at ``target``:
    one channel per map (named as its layer), scaled and translated to lie over the labels, in their units.
    Returns the path written; an existing ``target`` is refused unless ``overwrite``."""
    from . import _ome
    from ._writing import ImageToWrite, write_ome_zarr

    maps, axes = _maps(labels, intensity, tile, None, None, table)
    stacked = np.stack([values.astype(np.float64) for values, _, _ in maps.values()])
    _, scale, translate = next(iter(maps.values()))
    image = ImageToWrite(
        stacked, axes=[_ome.Axis("c", "channel"), *axes], name="tile maps", scale=(1.0, *scale),
        translate=(0.0, *translate),
        channels=[_ome.Channel(label=LAYER_LOOKS[key][0], window=_window(values)) for key, (values, _, _) in maps.items()],
    )
    return write_ome_zarr(target, image, with_pyramid=False, overwrite=overwrite)


def _maps(labels, intensity, tile, scale, translate, table) -> tuple[dict, tuple]:
    """The engine's maps of ``labels`` (a path: read with its own scale and translation), and its axes."""
    from . import _ome
    from ._measure import _intensity, _label_source
    from .tiles._tile_maps import tile_maps as engine_tile_maps

    data = finest(labels)
    if isinstance(labels, str | PathLike):
        from ._store import to_dask

        source = _label_source(labels)
        data, scale, translate, axes = to_dask(source.levels[0]), source.scale, source.translate, source.axes
    else:
        axes = tuple(_ome.Axis(name, "space") for name in "zyx"[-len(data.shape):])
    maps = engine_tile_maps(data, _intensity(intensity, data.shape), tile=tile, scale=scale, translate=translate,
                            table=table)
    return maps, axes


def _window(values: np.ndarray) -> tuple[float, float]:
    """Contrast limits from 0 to the map's largest value (NaN, a mean over no pixels, left out)."""
    finite = values[~np.isnan(values)]
    high = float(finite.max()) if finite.size else 1.0
    return 0.0, high if high > 0 else 1.0
