"""The Qt-free tile engine: filters applied lazily with exact halos, cached, saved back to zarr; objects
labelled across tiles (touching nuclei split by Voronoi-Otsu) and measured from per-tile sums, per object or
per tile."""

from ._apply import apply_chain, apply_filter, total_halo
from ._filters import FILTERS, get_filter
from ._label import label_levels
from ._measure import object_table
from ._split import voronoi_otsu_levels
from ._tile_maps import tile_maps

__all__ = ["FILTERS", "apply_chain", "apply_filter", "get_filter", "label_levels", "object_table", "tile_maps", "total_halo",
           "voronoi_otsu_levels"]
