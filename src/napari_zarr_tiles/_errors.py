"""The project's exception types, in one place so that callers can catch them."""


class ZarrTilesError(Exception):
    """Base class of every error this plugin raises on purpose."""


class UnreadableStoreError(ZarrTilesError, OSError):
    """A zarr store or array that exists but cannot be opened (bad metadata, unknown codec)."""


class OmeMetadataError(ZarrTilesError, ValueError):
    """OME-NGFF metadata that does not describe the arrays beside it."""
