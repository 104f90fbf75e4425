"""How a store is to be written, as every interface describes and checks it: the write options, the
compressors and their levels. Light on purpose (no zarr, no dask), so that the command line can describe its
options without importing the writing core."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from os import PathLike
from pathlib import Path

from . import _ome
from ._errors import InvalidOptionError

MIN_TILE = 16
COMPRESSORS = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", "none")
# Each codec's compression levels (inclusive) and its default: the notebook's blosc-zstd 3, zlib's usual 6.
LEVELS = {"blosc-zstd": (0, 9, 3), "blosc-lz4": (0, 9, 3), "zstd": (1, 22, 3), "gzip": (0, 9, 6)}
# Measured on filter results (benchmarks/README.md): what a user weighs in choosing.
COMPRESSOR_ADVICE = (
    "blosc-zstd (the default for images) makes the smallest files; zstd (the default for labels) writes label "
    "images, mostly zeros, in a third of blosc-zstd's time and in smaller files; blosc-lz4 writes float results, "
    "such as a Gaussian's, about three times faster and reads them faster, in files 1 to 8 percent bigger (up to 3 "
    "times on sparse images)"
)


@dataclass(frozen=True)
class WriteOptions:
    """How a store is written; checked when made, so that a bad option fails before any work.

    Field names are the Python keywords of :func:`write_ome_zarr`, ``convert`` and ``process``; an
    :class:`InvalidOptionError` says which option is at fault, and each interface names it in its own words
    (``InvalidOptionError.in_words``: ``--chunks`` on the command line, "tile edge" in a widget).
    """

    tile: int | None = None
    compressor: str | None = None  # None: each image's default (compressor_for)
    compression_level: int | None = None
    ome_version: str = "0.4"
    shards: int | None = None
    with_pyramid: bool = True
    overwrite: bool = False
    resumable: bool = False

    def __post_init__(self) -> None:
        if self.tile is not None and (not _is_whole(self.tile) or self.tile < MIN_TILE):
            raise InvalidOptionError("tile", f"{{tile}} must be a whole number of at least {MIN_TILE} pixels, not {self.tile!r}")
        if self.tile is not None and self.with_pyramid and self.tile % 2:
            # Each pyramid task halves one tile: with an odd edge a 2 x 2 box would straddle two tiles.
            raise InvalidOptionError(
                "tile", f"{{tile}} must be even when a pyramid is written (each level halves a tile), not {self.tile} "
                "(or turn the pyramid off: {with_pyramid})"
            )
        if self.compressor is not None and self.compressor not in COMPRESSORS:
            raise InvalidOptionError("compressor", f"{{compressor}} {self.compressor!r} is not one of {', '.join(COMPRESSORS)}")
        if self.compression_level is not None:
            if self.compressor == "none":
                raise InvalidOptionError("compression_level", "{compression_level} has no meaning without a compressor")
            compressor = self.compressor_for(labels=False)
            low, high, _ = LEVELS[compressor]
            if not _is_whole(self.compression_level) or not low <= self.compression_level <= high:
                raise InvalidOptionError(
                    "compression_level",
                    f"{{compression_level}} of {compressor} runs from {low} to {high}, not {self.compression_level!r}",
                )
        if str(self.ome_version) not in _ome.SUPPORTED_VERSIONS:
            raise InvalidOptionError(
                "ome_version", f"{{ome_version}} {self.ome_version!r} is not one of {', '.join(_ome.SUPPORTED_VERSIONS)}"
            )
        if self.shards is not None:
            if not _is_whole(self.shards) or self.shards < 1:
                raise InvalidOptionError("shards", f"{{shards}} must be a whole number of tiles, at least 1, not {self.shards!r}")
            if self.zarr_format == 2:
                raise InvalidOptionError(
                    "shards", "{shards} needs {ome_version} 0.5 (zarr v3): OME-Zarr 0.4 is stored as zarr v2, which has no shards"
                )

    @classmethod
    def of(cls, options: WriteOptions | None = None, **values) -> WriteOptions:
        """``options`` with ``values`` replacing some of its fields (keywords left None keep the default)."""
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise TypeError(f"unknown write option(s): {', '.join(sorted(unknown))}")
        return replace(options or cls(), **values)

    def compressor_for(self, *, labels: bool) -> str:
        """The compressor of an image: the one chosen, else blosc-zstd, and zstd for a label image (mostly
        zeros: a third of blosc-zstd's time a 1024² tile, smaller files). A level given alone is blosc-zstd's."""
        if self.compressor is not None:
            return self.compressor
        return "zstd" if labels and self.compression_level is None else "blosc-zstd"

    @property
    def zarr_format(self) -> int:
        return _ome.zarr_format(self.ome_version)

    def as_dict(self) -> dict:
        return asdict(self)


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def partial_path(target: str | PathLike) -> Path:
    """Where a resumable write into ``target`` keeps its unfinished store: ``.NAME.partial`` beside it."""
    target = Path(target)
    return target.with_name(f".{target.name}.partial")
