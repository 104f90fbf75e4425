"""napari-zarr-tiles: open, view and process images too big for memory as zarr tiles in napari.

Importing the package is cheap: no Qt, no napari, no zarr until a function that needs them is called.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-zarr-tiles")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "__version__", "apply_chain", "apply_filter", "edit_labels", "filters", "measure", "new_labels", "process", "read_table",
    "tile_maps",
]


def __getattr__(name: str):
    # The public API is imported on first use, so that importing the package stays cheap.
    if name in ("apply_filter", "apply_chain"):
        from . import tiles

        return getattr(tiles, name)
    if name == "filters":  # one typed function per filter: napari_zarr_tiles.filters.gaussian(data, sigma=2.0)
        from importlib import import_module

        return import_module(f"{__name__}.filters")  # not `from . import`, which asks this __getattr__ again
    if name == "process":
        from ._jobs import process

        return process
    if name == "tile_maps":
        from ._tile_maps import tile_maps

        return tile_maps
    if name in ("edit_labels", "new_labels"):
        from . import _editing

        return getattr(_editing, name)
    if name in ("measure", "read_table"):
        from . import _measure

        return getattr(_measure, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
