"""The Qt-free tile engine: filters applied lazily with exact halos, cached, saved back to zarr."""

from ._apply import apply_chain, apply_filter, total_halo
from ._filters import FILTERS, get_filter

__all__ = ["FILTERS", "apply_chain", "apply_filter", "get_filter", "total_halo"]
