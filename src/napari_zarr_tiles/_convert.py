"""Streaming conversion of big files to tiled OME-Zarr: TIFF (through tifffile's zarr view) and zarr stores.

Nothing is loaded whole: the source is wrapped as a lazy dask array read tile by tile, and the writer
streams it into the new store with its pyramid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from os import PathLike, fspath
from pathlib import Path

import dask.array as da

from . import _ome
from ._display import sample, sample_problem
from ._errors import DamagedStoreError, InvalidOptionError, UnreadableStoreError, ZarrTilesError
from ._image import ImageToWrite
from ._location import locate, refuse_misplaced_options, refuse_read_only_target
from ._store import (
    BAD_CHUNK_MODES,
    WRITER_MARKER,
    BadChunks,
    fill_value,
    is_remote,
    is_zarr_path,
    missing_chunks,
    open_readonly,
    source_provenance,
    to_dask,
)
from ._writing import DEFAULT_TILE_2D, refuse_target_of_source, write_ome_zarr

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".ome.tif", ".ome.tiff")
# OME-NGFF orders axes time, channel, then space; tifffile's letters map onto those kinds.
TIFF_AXIS_ORDER = "TCZYX"
TIFF_AXIS_KINDS = {"T": ("t", "time"), "C": ("c", "channel"), "Z": ("z", "space"), "Y": ("y", "space"), "X": ("x", "space")}


def convert(source: str | PathLike, target: str | PathLike, *, bad_chunks: str = "raise", axes: str | None = None,
            storage_options: dict | None = None, **options) -> str:
    """Convert ``source`` (TIFF, BigTIFF, OME-TIFF, ImageJ hyperstack, or a zarr store: a folder, a
    ``.zarr.zip`` file or a URL) to OME-Zarr at the local ``target``.

    ``options`` are :func:`napari_zarr_tiles._writing.write_ome_zarr`'s: tile, compressor, compression_level,
    ome_version, shards, with_pyramid, overwrite, progress, resumable. The store records its source.
    ``bad_chunks`` is what a chunk of the source that cannot be read does, ``axes`` overrides the axes a TIFF
    declares, ``storage_options`` are a remote source's (:func:`open_source`).
    """
    refuse_read_only_target(target)
    refuse_target_of_source(source, target)
    opened = open_source(source, bad_chunks=bad_chunks, axes=axes, storage_options=storage_options)
    return write_ome_zarr(target, opened.image, labels=opened.labels, provenance=opened.provenance,
                          findings=opened.findings, **options)


@dataclass
class OpenedSource:
    """A source opened for a write: its first image, lazy, and what its store records of it.

    ``provenance`` is known before the write (the source, the state of its files, chunks missing from it);
    ``findings()`` adds, once the write is done, the chunks that could not be read and were written as the
    fill value, which make the result not a clean copy.
    """

    image: ImageToWrite
    provenance: dict
    filled: list[BadChunks] = field(default_factory=list)
    labels: list[ImageToWrite] = field(default_factory=list)  # the image's label images (a zarr source's)

    def tell(self, bad: BadChunks) -> None:
        self.filled.append(bad)

    def findings(self) -> dict:
        if not self.filled:
            return {}
        keys: dict[str, set[str]] = {}
        for bad in self.filled:  # the same chunk may be met twice (a halo, a region read again)
            keys.setdefault(bad.array, set()).update(bad.keys)
        return {"clean": False, "bad_chunks_filled": {array: sorted(found) for array, found in keys.items()}}


def open_source(source: str | PathLike, *, bad_chunks: str = "raise", axes: str | None = None,
                storage_options: dict | None = None) -> OpenedSource:
    """The first image of ``source`` as a lazy :class:`ImageToWrite`, with its axes and pixel size.

    ``bad_chunks``: a chunk that is stored but cannot be read stops the write with
    :class:`UnreadableChunkError` (``"raise"``), or is written as the fill value (``"fill"``) and recorded.
    Chunks missing from a zarr source (legal: they read as the fill value) are told in a warning and
    recorded; missing from a store this plugin wrote complete, they make it damaged
    (:class:`DamagedStoreError`) unless ``bad_chunks="fill"`` accepts the fill value. A source whose
    sample (its coarsest level) is all NaN, infinite or one value is told in a warning. A remote source
    (a URL, read with ``storage_options``) is not listed: its missing chunks are not counted, and that is
    recorded.

    ``axes`` (``"ZYX"``, ``"tczyx"``: any order, one letter of T, C, Z, Y, X per dimension, Y and X among
    them) replaces the axes a TIFF declares: an ImageJ stack whose planes are z, not time, say. A zarr source
    gives its own axes; ``axes`` is refused for it (:class:`InvalidOptionError`), as letters that do not fit
    the TIFF's dimensions are.
    """
    if bad_chunks not in BAD_CHUNK_MODES:
        raise InvalidOptionError("bad_chunks", f"{{bad_chunks}} must be one of {', '.join(BAD_CHUNK_MODES)}, not {bad_chunks!r}")
    location = locate(source)
    refuse_misplaced_options(location, storage_options)
    path = location.path
    if path is not None and not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    opened = OpenedSource(None, source_provenance(source, storage_options))
    if location.remote or is_zarr_path(path):
        if axes is not None:
            raise InvalidOptionError(
                "axes", f"{{axes}} replaces the axes of a TIFF; {source} is a zarr store, whose metadata gives its axes"
            )
        opened.image, coarsest = _from_zarr(location.text if location.remote else path, bad_chunks, opened,
                                            storage_options)
    elif path.name.lower().endswith(TIFF_SUFFIXES):
        opened.image, coarsest = _from_tiff(path, bad_chunks, opened.tell, axes)
    else:
        raise ZarrTilesError(f"{path}: not a TIFF or a zarr store; convert takes those")
    try:
        problem = sample_problem(sample(coarsest))
    except UnreadableStoreError:  # a bad chunk in the sample: the write meets it, or not, and says so
        problem = None
    if problem is not None:
        warnings.warn(f"{location.text}: {problem}; writing it all the same", UserWarning, stacklevel=2)
    return opened


def _from_zarr(path: Path | str, bad_chunks: str, opened: OpenedSource,
               storage_options: dict | None) -> tuple[ImageToWrite, da.Array]:
    from ._reader import image_sources

    found = image_sources(path, storage_options=storage_options)
    sources = [source for source in found if not source.labels]
    if not sources:
        raise ZarrTilesError(f"{path}: the store holds no image to convert")
    source = sources[0]
    # the image's own labels (its labels/ group) go with it; other images' labels are not this image's
    labels = [found_labels for found_labels in found
              if found_labels.labels and found_labels.where.startswith(f"{source.where}/labels/")]
    for written in [source, *labels]:
        _check_missing(path, written.levels[0], bad_chunks, opened.provenance)
    image, *opened.labels = (
        ImageToWrite(
            to_dask(written.levels[0], bad_chunks=bad_chunks, on_bad_chunks=opened.tell), axes=written.axes,
            name=written.name, scale=written.scale, translate=written.translate, channels=written.channels,
            label_colors=dict(written.label_colors), is_label=written.labels,
        )
        for written in [source, *labels]
    )
    return image, to_dask(source.levels[-1])


def _check_missing(path: Path | str, array, bad_chunks: str, provenance: dict) -> None:
    """Tell and record the chunks ``array`` lacks; refuse a store written complete that has lost some. A
    remote store is not listed (one request per thousand keys, at best): recorded as not counted."""
    if is_remote(array):
        provenance["missing_chunks"] = "not counted (a remote store is not listed)"
        return
    missing = missing_chunks(array)
    if not missing.missing:
        return
    marker = open_readonly(path).attrs.get(WRITER_MARKER)
    damaged = isinstance(marker, dict) and marker.get("complete") is True
    what = f"{path}: array {array.path or '/'!r}: {missing.describe()}"
    if damaged and bad_chunks != "fill":
        raise DamagedStoreError(
            f"{what}, in a store napari-zarr-tiles wrote complete: it is damaged. Restore it from a copy, or accept "
            "the fill value in their place: bad_chunks='fill' (--fill-bad-chunks)"
        )
    warnings.warn(
        f"{what}; they read as the fill value {fill_value(array)}" + (" (the store is damaged)" if damaged else ""),
        UserWarning, stacklevel=3,
    )
    provenance.setdefault("missing_chunks", {})[array.path or "/"] = {
        "missing": missing.missing, "expected": missing.expected, "unit": missing.unit, "first": list(missing.first_keys),
    }
    if damaged:
        provenance["clean"] = False


def _from_tiff(path: Path, bad_chunks: str, tell, axes: str | None = None) -> tuple[ImageToWrite, da.Array]:
    import tifffile
    import zarr

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        if axes is not None:
            letters = _given_axes(axes, series, path)
        else:
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
    array = to_dask(tiff_view, min_task_edge=DEFAULT_TILE_2D, bad_chunks=bad_chunks, on_bad_chunks=tell)
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
    return ImageToWrite(array, axes=axes, name=name, scale=scale, channels=channels), array


def _given_axes(axes: str, series, path: Path) -> str:
    """``axes`` in capitals, where it names each of ``series``' dimensions once with letters of TCZYX,
    Y and X among them; else :class:`InvalidOptionError` naming ``axes`` and what the TIFF holds."""
    letters = str(axes).upper()
    holds = f"{path.name} has {len(series.shape)} dimensions, shape {series.shape}, declared {series.axes!r}"
    wrong = sorted(set(letters) - set(TIFF_AXIS_ORDER))
    if wrong:
        raise _axes_error(axes, f"letters {', '.join(wrong)} are not axes: use T, C, Z, Y, X ({holds})")
    if len(set(letters)) != len(letters):
        raise _axes_error(axes, f"names an axis twice ({holds})")
    if len(letters) != len(series.shape):
        raise _axes_error(axes, f"names {len(letters)} axes: give one letter per dimension ({holds})")
    if not {"Y", "X"} <= set(letters):
        raise _axes_error(axes, f"must name Y and X, the plane ({holds})")
    return letters


def _axes_error(axes: str, why: str) -> InvalidOptionError:
    return InvalidOptionError("axes", f"{{axes}} {axes!r} {why}")


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
