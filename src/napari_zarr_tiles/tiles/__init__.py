"""The Qt-free tile engine: filters applied lazily with exact halos, cached, saved back to zarr; objects
labelled across tiles and measured from per-tile sums."""

from ._apply import apply_chain, apply_filter, total_halo
from ._filters import FILTERS, get_filter
from ._label import label_levels
from ._measure import object_table

__all__ = ["FILTERS", "apply_chain", "apply_filter", "get_filter", "label_levels", "object_table", "total_halo"]
