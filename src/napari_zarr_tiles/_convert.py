"""Streaming conversion of big files to tiled OME-Zarr: TIFF (through tifffile's zarr view) and zarr stores.

Nothing is loaded whole: the source is wrapped as a lazy dask array read tile by tile, and the writer
streams it into the new store with its pyramid.
"""

from __future__ import annotations

from os import PathLike, fspath
from pathlib import Path

from . import _ome
from ._errors import ZarrTilesError
from ._image import ImageToWrite
from ._store import is_zarr_path, source_provenance, to_dask
from ._writing import DEFAULT_TILE_2D, write_ome_zarr

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".ome.tif", ".ome.tiff")
# OME-NGFF orders axes time, channel, then space; tifffile's letters map onto those kinds.
TIFF_AXIS_ORDER = "TCZYX"
TIFF_AXIS_KINDS = {"T": ("t", "time"), "C": ("c", "channel"), "Z": ("z", "space"), "Y": ("y", "space"), "X": ("x", "space")}


def convert(source: str | PathLike, target: str | PathLike, **options) -> str:
    """Convert ``source`` (TIFF, BigTIFF, OME-TIFF, ImageJ hyperstack, or a zarr store) to OME-Zarr.

    ``options`` are :func:`napari_zarr_tiles._writing.write_ome_zarr`'s: tile, compressor, compression_level,
    ome_version, shards, with_pyramid, overwrite, progress, resumable. The store records its source.
    """
    image = open_source(source)
    return write_ome_zarr(target, image, provenance=source_provenance(source), **options)


def open_source(source: str | PathLike) -> ImageToWrite:
    """The first image of ``source`` as a lazy :class:`ImageToWrite`, with its axes and pixel size."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if is_zarr_path(path):
        return _from_zarr(path)
    if path.name.lower().endswith(TIFF_SUFFIXES):
        return _from_tiff(path)
    raise ZarrTilesError(f"{path}: not a TIFF or a zarr store; convert takes those")


def _from_zarr(path: Path) -> ImageToWrite:
    from ._reader import image_sources

    sources = [source for source in image_sources(path) if not source.labels]
    if not sources:
        raise ZarrTilesError(f"{path}: the store holds no image to convert")
    source = sources[0]
    return ImageToWrite(
        to_dask(source.levels[0]), axes=source.axes, name=source.name, scale=source.scale,
        translate=source.translate, channels=source.channels,
    )


def _from_tiff(path: Path) -> ImageToWrite:
    import tifffile
    import zarr

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        letters = series.axes.replace("S", "C") if "C" not in series.axes else series.axes
        if "T" not in letters and len([letter for letter in letters if letter in "QI"]) == 1:
            # tifffile's generic sequence axis (an ImageJ stack of unknown kind): kept as a slider, over time.
            letters = letters.replace("Q", "T").replace("I", "T")
        unknown = [letter for letter in letters if letter not in TIFF_AXIS_KINDS]
        if unknown or len(set(letters)) != len(letters):
            raise ZarrTilesError(f"{path}: TIFF axes {series.axes!r} cannot be mapped to OME-Zarr axes (t, c, z, y, x)")
        spacing = _tiff_spacing(tiff)
        name = path.name.split(".")[0]
    # Tasks of whole output tiles: zarr then reads the TIFF tiles of one task concurrently, and no rechunk
    # step stands between reading and writing.
    tiff_view = zarr.open(tifffile.imread(fspath(path), aszarr=True, series=0, level=0), mode="r")
    array = to_dask(tiff_view, min_task_edge=DEFAULT_TILE_2D)
    order = sorted(range(len(letters)), key=lambda index: TIFF_AXIS_ORDER.index(letters[index]))
    array = array.transpose(order)
    letters = "".join(letters[index] for index in order)
    unit = spacing.get("unit")
    axes = [
        _ome.Axis(TIFF_AXIS_KINDS[letter][0], TIFF_AXIS_KINDS[letter][1], unit if letter in spacing else None)
        for letter in letters
    ]
    scale = [spacing.get(letter, 1.0) for letter in letters]
    channels = ()
    if "C" in letters and series.axes.endswith("S") and array.shape[letters.index("C")] == 3:
        channels = tuple(_ome.Channel(label=c, color=h) for c, h in zip("RGB", ("FF0000", "00FF00", "0000FF")))
    return ImageToWrite(array, axes=axes, name=name, scale=scale, channels=channels)


def _tiff_spacing(tiff) -> dict:
    """Pixel size per tifffile axis letter, and its unit, from OME-XML or ImageJ metadata and resolution tags."""
    if tiff.is_ome and tiff.ome_metadata:
        import tifffile

        pixels = tifffile.xml2dict(tiff.ome_metadata).get("OME", {}).get("Image", {})
        pixels = (pixels[0] if isinstance(pixels, list) else pixels).get("Pixels", {})
        spacing = {letter: float(pixels[f"PhysicalSize{letter}"]) for letter in "XYZ" if f"PhysicalSize{letter}" in pixels}
        if spacing:
            return {**spacing, "unit": _unit_name(pixels.get("PhysicalSizeXUnit", "µm"))}
        return {}
    page = tiff.pages.first
    resolution = page.tags.get("XResolution")
    imagej = tiff.imagej_metadata or {}
    if resolution is None or not imagej.get("unit"):
        return {}
    numerator, denominator = resolution.value
    if not numerator:
        return {}
    size = denominator / numerator
    spacing = {"X": size, "Y": size}
    if imagej.get("spacing"):
        spacing["Z"] = float(imagej["spacing"])
    return {**spacing, "unit": _unit_name(imagej["unit"])}


def _unit_name(unit: str) -> str | None:
    """OME-NGFF wants UDUNITS names: micrometer, not µm."""
    unit = unit.encode().decode("unicode_escape") if "\\u" in unit else unit
    names = {"µm": "micrometer", "um": "micrometer", "micron": "micrometer", "nm": "nanometer", "mm": "millimeter"}
    return names.get(unit, unit if unit.isalpha() else None)
