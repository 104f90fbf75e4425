"""napari reader: a zarr folder (plain array, group, OME-Zarr 0.1 to 0.5, an HCS plate or well) to lazy
dask-backed layers.

The reader opens read-only, reads metadata plus at most a bounded sample for contrast, and returns one dask
array per pyramid level, with explicit layer type, scale, translation, axis labels, units, name, colormap
and contrast limits, so the first frame looks right.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise
from os import PathLike, fspath
from pathlib import Path

import numpy as np
import zarr

from . import _display, _ome, _plate
from ._errors import NotZarrError, OmeMetadataError, UnreadableStoreError, ZarrTilesError
from ._lazy import LazyView
from ._location import is_url, locate
from ._store import (
    WRITER_MARKER,
    BadChunks,
    NamedReads,
    fill_value,
    group_members,
    is_remote,
    is_zarr_path,
    missing_chunks,
    open_member,
    open_readonly,
    prefetch_members,
)

logger = logging.getLogger(__name__)

# Above this many pixels along Y or X, a single-scale array gets lazy coarser levels (halving down to
# OVERVIEW_EDGE): napari would otherwise read a whole plane before the first frame.
LAZY_PYRAMID_EDGE = 4096
OVERVIEW_EDGE = 1024
# Overview levels read tiles in tasks of this edge: measured on a 16384^2 uint16 array of 1024^2 chunks,
# 2048 took 0.8 s where one chunk per task took 1.2-1.7 s (zarr decodes the chunks of one call concurrently).
OVERVIEW_TASK_EDGE = 2048
# The contrast is sampled from a level of at least this many pixels a plane where the image has one (64²): a
# coarser one is a few pixels averaged almost flat. Not more: a remote image's coarsest level comes with its
# metadata (its first chunk is asked for with them), a finer one would cost the first frame a round trip.
MIN_SAMPLE_PIXELS = 64 * 64
# How deep to look for arrays inside plain (non-OME) groups.
MAX_GROUP_DEPTH = 3

LayerData = tuple
# The name napari knows this plugin by (napari.yaml).
PLUGIN_NAME = "napari-zarr-tiles"


@dataclass(frozen=True)
class ImageSource:
    """What the reader found: the levels of one image (finest first) and how to place and show them."""

    where: str
    name: str
    levels: tuple[zarr.Array, ...]
    axes: tuple[_ome.Axis, ...]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    channels: tuple[_ome.Channel, ...] = ()
    labels: bool = False
    label_colors: Mapping[int, tuple] = field(default_factory=dict)
    # A plate's mosaic: its pixels (``levels`` then holds the first well's level, sampled for the contrast).
    mosaic: _plate.Mosaic | None = None

    @property
    def channel_axis(self) -> int | None:
        return _ome.channel_axis(self.axes)


def napari_get_reader(path: str | PathLike | Sequence[str | PathLike]):
    """Return :func:`read_zarr` for zarr folders, None for anything else (quietly, creating nothing).

    Where this plugin was chosen by name for something else (``viewer.open("x.tif", plugin=...)``, the
    reader dialog), a reader that explains the refusal instead: napari would otherwise only say that the
    plugin "refused the file".
    """
    paths = path if isinstance(path, list | tuple) else [path]
    if paths and all(is_zarr_path(item) for item in paths):
        return read_zarr
    chosen = bool(paths) and _chosen_by_name()
    if chosen and all(is_url(item) for item in paths):  # a URL not named .zarr, given to this plugin by name
        return read_zarr
    if chosen:
        return _explain_refusal
    return None


def _chosen_by_name() -> bool:
    """Whether napari asked for this plugin by name rather than trying every reader on a path.

    npe2 gives get_reader no such flag; its reading function holds the name asked for as ``plugin_name``.
    When trying every reader, a refusal must stay quiet (the next reader takes the file).
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "npe2.io_utils" and "plugin_name" in frame.f_locals:
            return str(frame.f_locals["plugin_name"] or "").split(".")[0] == PLUGIN_NAME
        frame = frame.f_back
    return False


def _explain_refusal(path: str | PathLike | Sequence[str | PathLike]) -> list[LayerData]:
    """Raise :class:`NotZarrError` saying why ``path`` is not for this reader and what to do instead."""
    from ._convert import TIFF_SUFFIXES

    paths = path if isinstance(path, list | tuple) else [path]
    [where] = [fspath(item) for item in paths if not is_zarr_path(item)][:1]
    convert = f"Plugins > Convert to zarr tiles, or on a command line: napari-zarr-tiles convert {where} OUT.zarr"
    if Path(where).is_file() and where.lower().endswith(TIFF_SUFFIXES):
        raise NotZarrError(f"{where} is a TIFF, not a zarr store: to view it as zarr tiles, convert it first ({convert})")
    if Path(where).is_file():
        raise NotZarrError(
            f"{where} is not a zarr store: Zarr Tiles opens zarr folders, and converts TIFF files ({convert}); "
            "open this file with another reader"
        )
    if Path(where).is_dir():
        raise NotZarrError(f"not a zarr store: {where} (no zarr.json, .zarray or .zgroup in it)")
    raise NotZarrError(f"no such file or folder: {where}")


def read_zarr(path: str | PathLike | Sequence[str | PathLike]) -> list[LayerData]:
    """Read one or more zarr stores into napari layer data (lazy views, see ``_lazy``)."""
    paths = path if isinstance(path, list | tuple) else [path]
    with _first_layer_prepared(while_waiting=any(is_url(item) for item in paths)):
        return [layer for item in paths for layer in layer_data(item)]


@contextmanager
def _first_layer_prepared(*, while_waiting: bool) -> Iterator[None]:
    """While a remote store answers (the first frame's two round trips: 0.2 s where each takes 0.1 s), Python
    is idle: load what napari's first layer then costs most, pint's unit registry (napari gives every layer
    units; 0.4 s) and scipy.ndimage (its thumbnails; 0.35 s), in a thread that is joined before napari goes
    on, so that napari never meets either half-loaded. Nothing is done for local stores, which answer at once."""
    if not while_waiting:
        yield
        return
    thread = threading.Thread(target=_load_first_layer_needs, name="napari-first-layer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _load_first_layer_needs() -> None:
    try:
        import pint
        import scipy.ndimage  # noqa: F401 - loaded, not used here

        pint.get_application_registry().pixel  # noqa: B018 - the registry loads its units on first use
    except Exception:  # only a head start: napari loads them itself where this failed
        logger.debug("loading napari's first-layer modules ahead failed", exc_info=True)


def layer_data(path: str | PathLike, *, storage_options: dict | None = None) -> list[LayerData]:
    """Layer data for every image and label image found at ``path``.

    What the person should know before looking (arrays skipped and why, chunks missing, a store damaged
    since it was written) is said in one notification each; chunks that turn out corrupt when napari draws
    them show the fill value, with one notification per array naming their keys.
    """
    found = find_images(path, storage_options=storage_options)
    if found.skipped:
        _warn(_skipped_message(fspath(path), found.skipped))
    missing = [line for source in found.sources for line in _missing_lines(source)]
    if missing and found.complete:
        _warn(
            f"{fspath(path)} is DAMAGED: it was written complete by napari-zarr-tiles and has since lost chunks; "
            "they show the fill value (restore them from a copy, or write the store again). " + "; ".join(missing)
        )
    elif missing:
        _notify(f"{fspath(path)}: chunks not stored, shown as the fill value: " + "; ".join(missing))
    return [layer for source in found.sources for layer in _layers(source)]


@dataclass
class FoundImages:
    """What a store holds to show: its images, the arrays or images skipped (a line each, naming it and
    saying why), and whether this
    plugin marked the store complete (so that a missing chunk means damage)."""

    sources: list[ImageSource]
    skipped: list[str]
    complete: bool = False


def image_sources(path: str | PathLike, *, storage_options: dict | None = None) -> list[ImageSource]:
    """Every image and label image found at ``path``, with its levels and metadata (nothing read yet);
    arrays that cannot be shown are skipped, and logged."""
    found = find_images(path, storage_options=storage_options)
    if found.skipped:
        logger.warning(_skipped_message(fspath(path), found.skipped))
    return found.sources


def find_images(path: str | PathLike, *, storage_options: dict | None = None) -> FoundImages:
    """Every image and label image found at ``path`` (a folder, a ``.zarr.zip`` file or a URL, with the
    remote store's ``storage_options``), and what was skipped, and why.

    Raises
    ------
    ZarrTilesError
        If there is nothing to show: the error of the store's one image, or every array's reason.
    """
    location = locate(path)
    where, name = location.text, _display_name(location.text)
    with slow_store_notice(location):
        node = open_readonly(path, storage_options=storage_options)
    if isinstance(node, zarr.Array):
        reason = _not_an_image(node)
        if reason:
            raise UnreadableStoreError(f"{where}: {reason}")
        return FoundImages([_plain_source(node, where, name)], [])
    marker = node.attrs.get(WRITER_MARKER)
    if isinstance(marker, dict) and marker.get("complete") is False:
        warnings.warn(
            f"{where} is an unfinished write (napari-zarr-tiles marks it incomplete): tiles not yet written "
            "show as zeros; run the save again to finish it", UserWarning, stacklevel=2,
        )
    skipped: list[str] = []
    with slow_store_notice(location):
        sources = _group_sources(node, where, name, depth=0, skipped=skipped)
    if not sources:
        if skipped:
            raise UnreadableStoreError(_skipped_message(where, skipped, nothing_else=True))
        raise ZarrTilesError(f"{where}: the zarr group holds no arrays to show")
    return FoundImages(sources, skipped, complete=isinstance(marker, dict) and marker.get("complete") is True)


def _skipped_message(where: str, skipped: list[str], nothing_else: bool = False) -> str:
    """One message for everything skipped in the store at ``where``, its places named inside the store."""
    what = "nothing can be shown" if nothing_else else f"{len(skipped)} not opened"
    return f"{where}: {what}: " + "; ".join(line.replace(f"{where}/", "") for line in skipped)


def _display_name(where: str) -> str:
    return locate(where).name


def _not_an_image(array: zarr.Array) -> str | None:
    """Why ``array`` cannot be an image layer (text, objects, records; fewer than two axes; no pixels), or None."""
    if np.dtype(array.dtype).kind not in "biuf":
        return f"its data type {array.dtype} is not pixels (napari shows numbers)"
    if array.ndim < 2:
        return f"it has {array.ndim} dimension(s), shape {array.shape}: napari shows images of two or more"
    if 0 in array.shape:
        return f"it holds no pixels (shape {array.shape})"
    return None


# --- finding images in a store -------------------------------------------------------------------------------


def _group_sources(
    group: zarr.Group, where: str, name: str, depth: int, skipped: list[str]
) -> list[ImageSource]:
    found = _ome.ome_block(group.attrs.asdict())
    if found is not None:
        return _ome_sources(group, where, name, *found, skipped)
    members = group_members(group)
    skipped += [f"{where}/{key}: {why}" for key, why in members.unreadable]
    arrays = []
    for key, array in members.arrays:
        reason = _not_an_image(array)
        if reason:
            skipped.append(f"{where}/{key}: {reason}")
        else:
            arrays.append((key, array))
    sources = []
    if _is_pyramid([array for _, array in arrays]):
        sources.append(_plain_source(arrays[0][1], where, name, levels=tuple(array for _, array in arrays)))
    else:
        sources += [_plain_source(array, f"{where}/{key}", key) for key, array in arrays]
    if depth < MAX_GROUP_DEPTH:
        for key, subgroup in members.groups:
            try:
                sources += _group_sources(subgroup, f"{where}/{key}", key, depth + 1, skipped)
            except ZarrTilesError as error:  # one bad image in a group of several: the others still open
                skipped.append(str(error))
    return sources


def _is_pyramid(arrays: Sequence[zarr.Array]) -> bool:
    """Arrays of one ndim and dtype whose shapes shrink from one to the next (in natural name order)."""
    if len(arrays) < 2 or len({(a.ndim, a.dtype) for a in arrays}) != 1:
        return False
    pairs = pairwise(arrays)
    return all(
        all(c <= f for c, f in zip(coarse.shape, fine.shape)) and coarse.shape != fine.shape
        for fine, coarse in pairs
    )


def _ome_sources(
    group: zarr.Group, where: str, name: str, version: str | None, block: Mapping, skipped: list[str]
) -> list[ImageSource]:
    if "plate" in block:
        return [_mosaic_source(group, where, name, block)]
    if "well" in block:
        return _well_sources(group, where, name, block, skipped)
    paths = dataset_paths(block)
    axes = block["multiscales"][0].get("axes") if paths else None
    coarsest = (paths[-1], len(axes)) if paths and isinstance(axes, list) else None
    prefetch_members(group, ["OME", "labels", *paths], first_chunk_of=coarsest)
    series = bioformats2raw_series(group, where, block)
    if series is not None:
        first, *others = series
        if others:
            _notify(f"{where} holds {len(others) + 1} images (bioformats2raw); opened {first!r}, not {others}")
        subgroup = _child(group, first, where)
        found = _ome.ome_block(subgroup.attrs.asdict())
        if found is None:
            raise OmeMetadataError(f"{where}/{first}: bioformats2raw series has no OME multiscales metadata")
        return _ome_sources(subgroup, f"{where}/{first}", name, *found, skipped)
    if "multiscales" not in block and "labels" in block:
        return _label_sources(group, where, version, skipped)
    sources = [_multiscale_source(group, where, name, version, block)]
    labels_group = _member(group, "labels", where)
    if isinstance(labels_group, zarr.Group):
        labels_found = _ome.ome_block(labels_group.attrs.asdict())
        if labels_found is not None:
            sources += _label_sources(labels_group, f"{where}/labels", labels_found[0] or version, skipped)
    return sources


def dataset_paths(block: Mapping) -> list[str]:
    """The dataset paths an OME block names (to fetch their metadata at once); none where it is malformed."""
    multiscales = block.get("multiscales")
    if not (isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict)):
        return []
    return [d["path"] for d in multiscales[0].get("datasets") or () if isinstance(d, dict) and isinstance(d.get("path"), str)]


def bioformats2raw_series(group: zarr.Group, where: str, block: Mapping) -> list[str] | None:
    """The series of a bioformats2raw store (its group ``OME`` lists them; else its numbered groups), None
    for a group of another layout."""
    if block.get("bioformats2raw.layout") is None:
        return None
    series_group = _member(group, "OME", where)
    series_attrs = series_group.attrs.asdict() if isinstance(series_group, zarr.Group) else None
    series = _ome.bioformats2raw_series(block, series_attrs)
    return series or [key for key, _ in group_members(group).groups if key.isdigit()] or ["0"]


def _mosaic_source(group: zarr.Group, where: str, name: str, block: Mapping) -> ImageSource:
    """A plate as the mosaic of its wells (:mod:`._plate`); wells that cannot be read, or their chunks, are
    told once per draw."""
    mosaic = _plate.mosaic(
        _plate.plate_of(group, where, block), on_problem=_ProblemsTeller(f"{where}: wells not shown as stored"),
        on_bad_chunks=_BadChunksTeller(),
    )
    return ImageSource(
        where=where, name=mosaic.plate.layout.name or name, levels=(mosaic.sample,), axes=mosaic.axes,
        scale=mosaic.scale, translate=mosaic.translate, channels=mosaic.channels, mosaic=mosaic,
    )


def _well_sources(group: zarr.Group, where: str, name: str, block: Mapping, skipped: list[str]) -> list[ImageSource]:
    """A well opened on its own: each of its fields (with its labels), side by side along X in their order,
    a gap between them. Wells lie in their row's group: ``A/1`` is called A1."""
    name = Path(where).parent.name + name
    sources: list[ImageSource] = []
    offset = 0.0
    for field_path in _ome.well_fields(block, where):
        field_group = _child(group, field_path, where)
        found = _ome.ome_block(field_group.attrs.asdict())
        if found is None:
            raise OmeMetadataError(f"{where}/{field_path}: a field of the well with no OME multiscales metadata")
        image, *labels = _ome_sources(field_group, f"{where}/{field_path}", name, *found, skipped)
        x = _ome.yx_axes(image.axes)[1]
        for source in (image, *labels):
            translate = list(source.translate)
            translate[_ome.yx_axes(source.axes)[1]] += offset
            label = f"{source.name} (field {field_path})" if source.labels else f"{name} field {field_path}"
            sources.append(replace(source, translate=tuple(translate), name=label))
        offset += image.levels[0].shape[x] * image.scale[x] * (1 + _plate.GAP_FRACTION)
    return sources


def _label_sources(
    labels_group: zarr.Group, where: str, version: str | None, skipped: list[str]
) -> list[ImageSource]:
    """The label images a ``labels`` group lists; one that cannot be read is skipped (the image and the
    other label images still open)."""
    found = _ome.ome_block(labels_group.attrs.asdict())
    block = found[1] if found else {}
    sources = []
    for label in _ome.label_names(block):
        try:
            sources.append(_label_source(labels_group, where, label, version))
        except ZarrTilesError as error:
            skipped.append(str(error))
    return sources


def _label_source(labels_group: zarr.Group, where: str, label: str, version: str | None) -> ImageSource:
    group = _child(labels_group, label, where)
    found = _ome.ome_block(group.attrs.asdict())
    if found is None:
        raise OmeMetadataError(f"{where}/{label}: label image has no OME multiscales metadata")
    source = _multiscale_source(group, f"{where}/{label}", label, found[0] or version, found[1])
    return replace(source, name=label)  # the key is what names a label image to people


def _child(group: zarr.Group, key: str, where: str) -> zarr.Group:
    node = _member(group, key, where)
    if not isinstance(node, zarr.Group):
        raise OmeMetadataError(f"{where}: metadata names {key!r} but there is no such group")
    return node


def _member(group: zarr.Group, key: str, where: str) -> zarr.Array | zarr.Group | None:
    """The node at ``key`` in ``group``, None where there is none; unreadable metadata is the project's error."""
    try:
        return open_member(group, key, f"{where}/{key}")
    except FileNotFoundError:
        return None


def _multiscale_source(group: zarr.Group, where: str, name: str, version: str | None, block: Mapping) -> ImageSource:
    arrays: dict[str, zarr.Array] = {}

    def ndim(path: str) -> int | None:
        node = _member(group, path, where)
        if not isinstance(node, zarr.Array):
            return None
        reason = _not_an_image(node)
        if reason:
            raise UnreadableStoreError(f"{where}/{path}: {reason}")
        arrays[path] = node
        return node.ndim

    multiscale = _ome.parse_multiscale(block, version, where, ndim)
    return ImageSource(
        where=where,
        name=multiscale.name if multiscale.name and multiscale.name != "/" else name,
        levels=tuple(arrays[path] for path in multiscale.paths),
        axes=multiscale.axes,
        scale=multiscale.scale,
        translate=multiscale.translate,
        channels=multiscale.channels,
        labels="image-label" in block,
        label_colors=_ome.label_colors(block),
    )


def _plain_source(array: zarr.Array, where: str, name: str, levels: tuple[zarr.Array, ...] = ()) -> ImageSource:
    names = _dimension_names(array)
    axes = tuple(_ome.Axis(name=axis, type="space" if axis in _ome.SPACE_NAMES else None) for axis in names)
    channels: tuple[_ome.Channel, ...] = ()
    if _is_rgb(array):
        # red, green and blue channel layers, added: the colour image napari would show, each channel a layer
        # the tools take; alpha, which adding cannot show, as a hidden fourth
        axes = (*(_ome.Axis(name=axis, type="space") for axis in _ome.conventional_names(array.ndim - 1)[-2:]),
                _ome.Axis(name="c", type="channel"))
        window = (0.0, 255.0) if array.dtype == np.uint8 else None
        channels = tuple(
            _ome.Channel(label=f"{name} [{label}]", color=color, window=window, visible=label != "alpha")
            for label, color in zip(("red", "green", "blue", "alpha"), ("FF0000", "00FF00", "0000FF", "FFFFFF"))
        )[: array.shape[-1]]
    return ImageSource(
        where=where,
        name=name,
        levels=levels or (array,),
        axes=axes,
        scale=(1.0,) * array.ndim,
        translate=(0.0,) * array.ndim,
        channels=channels,
    )


def _is_rgb(array: zarr.Array) -> bool:
    """A colour image as image libraries store it: Y, X and 3 or 4 values a pixel (RGB, RGBA), no axis names."""
    return array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4 and not _stored_names(array)


def _stored_names(array: zarr.Array):
    """The axis names ``array`` stores (zarr v3 dimension_names, xarray's _ARRAY_DIMENSIONS), as stored."""
    return getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")


def _dimension_names(array: zarr.Array) -> list[str]:
    """Names from the array itself (zarr v3 dimension_names, xarray's _ARRAY_DIMENSIONS), else by convention."""
    names = _stored_names(array)
    if names and len(names) == array.ndim and all(isinstance(n, str) for n in names):
        return list(names)
    return _ome.conventional_names(array.ndim)


# --- building layers -----------------------------------------------------------------------------------------


def display_levels(level0, yx: list[int], *, labels: bool = False, overview_source=None) -> list:
    """``[level0]``, or ``level0`` with lazy coarser levels down to OVERVIEW_EDGE when it is too big
    (beyond LAZY_PYRAMID_EDGE) for napari to hold a whole plane of it."""
    if max(level0.shape[axis] for axis in yx) <= LAZY_PYRAMID_EDGE:
        return [level0]
    from ._pyramid import lazy_levels  # dask: imported only where an image needs overview levels

    return lazy_levels(level0, yx, labels=labels, coarsest=OVERVIEW_EDGE, overview_source=overview_source)


def _layers(source: ImageSource) -> list[LayerData]:
    # A corrupt chunk met while napari draws shows the fill value (an exception there would leave napari
    # half-way through adding the layer), and the person is told once per array which chunks they are.
    tell = _BadChunksTeller()
    levels = [source.mosaic.data] if source.mosaic is not None else _stored_levels(source, tell)
    common = {
        "scale": list(source.scale),
        "translate": list(source.translate),
        "axis_labels": [axis.name for axis in source.axes],
        "multiscale": len(levels) > 1,
        "metadata": {"zarr_path": source.where},
    }
    if not source.labels:
        common["rgb"] = False  # the axes are the store's: napari's guess from a last axis of 3 or 4 would be wrong
    if source.mosaic is not None:
        common["metadata"]["plate"] = _plate_placement(source.mosaic)
    if any(axis.unit for axis in source.axes):
        # Only where the store has units: napari parses them with pint, whose start-up costs most of a second.
        common["units"] = [axis.unit or "pixel" for axis in source.axes]
    data = levels if len(levels) > 1 else levels[0]
    # The coarsest level to sample for contrast: the one already in memory, else the stored one; a plate's
    # mosaic, the tiles of wells spread over it.
    if source.mosaic is not None:
        coarsest = source.mosaic.contrast_sample()
    else:
        index = _contrast_level(source)
        coarsest = levels[-1] if index == len(levels) - 1 and isinstance(levels[-1], np.ndarray) else NamedReads(
            source.levels[index], bad_chunks="fill", on_bad_chunks=tell
        )
    if source.labels:
        kwargs = {**common, "name": source.name}
        features = _stored_features(source)
        if features is not None:
            kwargs["features"] = features
        if source.label_colors:
            kwargs["colormap"] = {0: (0.0, 0.0, 0.0, 0.0), None: (1.0, 1.0, 1.0, 1.0), **source.label_colors}
        return [_squeeze_channel(data, kwargs, source)]
    channel_axis = source.channel_axis
    if channel_axis is None:
        kwargs = {**common, "name": source.name, "contrast_limits": _contrast(source, coarsest, None, source.name)}
        if source.channels:
            kwargs.update(_channel_look(source.channels[0]))
        return [(data, kwargs, "image")]
    layers = [
        _channel_layer(source, levels, coarsest, common, index) for index in range(levels[0].shape[channel_axis])
    ]
    return layers


def _contrast_level(source: ImageSource) -> int:
    """The stored level the contrast is sampled from: the coarsest with at least MIN_SAMPLE_PIXELS a plane,
    else the finest. A coarsest level of a few pixels (a plate's field: 16 x 16) is averaged almost flat, and
    its percentiles gave a window a quarter of the image's."""
    y, x = _ome.yx_axes(source.axes)
    for index in range(len(source.levels) - 1, -1, -1):
        shape = source.levels[index].shape
        if shape[y] * shape[x] >= MIN_SAMPLE_PIXELS:
            return index
    return 0


def _plate_placement(mosaic: _plate.Mosaic) -> dict:
    """What the Plate widget needs of a mosaic layer to place wells opened at full resolution on it."""
    yx = _ome.yx_axes(mosaic.axes)
    return {
        "level": mosaic.level, "field": mosaic.field, "cell": list(mosaic.cell),
        "origin": [mosaic.translate[axis] for axis in yx],
    }


def _stored_levels(source: ImageSource, tell: _BadChunksTeller) -> list:
    """The levels of ``source`` as napari gets them: lazy views (no dask, see ``_lazy``), lazy overview levels
    (dask) where a big image has no pyramid, a small stored coarsest level read at once."""
    levels = [LazyView(NamedReads(level, bad_chunks="fill", on_bad_chunks=tell)) for level in source.levels]
    yx = _ome.yx_axes(source.axes)
    if len(levels) == 1 and max(source.levels[0].shape[axis] for axis in yx) > LAZY_PYRAMID_EDGE:
        from ._store import to_dask

        level0 = to_dask(source.levels[0], bad_chunks="fill", on_bad_chunks=tell)
        overview_source = to_dask(
            source.levels[0], min_task_edge=OVERVIEW_TASK_EDGE, bad_chunks="fill", on_bad_chunks=tell
        )
        levels = display_levels(level0, yx, labels=source.labels, overview_source=overview_source)
        _notify(
            f"{source.where} has no pyramid: coarser levels are computed from the tiles as you zoom out. "
            "Saving it with a pyramid (napari-zarr-tiles convert) makes the overview instant."
        )
    elif len(levels) > 1 and not source.labels and source.levels[-1].nbytes <= _display.SAMPLE_BYTES:
        # A small stored coarsest level is read once, here: for contrast, and for napari's thumbnail and
        # overview, which would otherwise read it again.
        levels[-1] = np.asarray(levels[-1])
    return levels


STORED_TABLE = "objects"  # the table a label image opens with as its features (``measure --table``'s default)


def labels_features(frame):
    """An object table (scikit-image's columns, ``label`` first) as a napari labels layer's ``features``:
    napari finds a label's row by the ``index`` column, so it is added, holding the labels."""
    return frame.assign(index=frame["label"].to_numpy())[["index", *frame.columns]]


def _stored_features(source: ImageSource):
    """The features of a label image holding a stored table ``tables/objects``; None without one, or,
    with a warning naming it, where it cannot be read."""
    if is_remote(source.levels[0]) or not (Path(source.where) / "tables" / STORED_TABLE).is_dir():
        return None  # a remote label image's table is not looked for (tables are read from local stores)
    from ._measure import read_table

    try:
        return labels_features(read_table(source.where, STORED_TABLE))
    except (ZarrTilesError, OSError, KeyError, ValueError) as error:
        reason = f"its column {error.args[0]!r} is missing" if isinstance(error, KeyError) else str(error)
        _warn(
            f"{source.where}/tables/{STORED_TABLE} cannot be read ({reason}): the labels open without their "
            "table; measure them again (napari-zarr-tiles measure --table objects --overwrite)"
        )
        return None


def _channel_layer(source: ImageSource, levels: list, coarsest, common: dict, index: int) -> LayerData:
    axis = source.channel_axis
    channel = source.channels[index] if index < len(source.channels) else _ome.Channel()
    name = channel.label or f"{source.name} [{index}]"
    kwargs = {
        **{key: _drop(value, axis) if isinstance(value, list) else value for key, value in common.items()},
        "name": name,
        "contrast_limits": channel.window or _contrast(source, coarsest, index, name),
        "blending": "additive",
        **_channel_look(channel),
    }
    kwargs.setdefault("colormap", ["magenta", "green", "cyan", "yellow", "red", "blue"][index % 6])
    sliced = [_take(level, axis, index) for level in levels]
    return (sliced if len(sliced) > 1 else sliced[0], kwargs, "image")


def _take(level, axis: int, index: int):
    """``level`` at ``index`` of ``axis``, lazily where it is lazy."""
    return level.fix(axis, index) if isinstance(level, LazyView) else level[(slice(None),) * axis + (index,)]


def _channel_look(channel: _ome.Channel) -> dict:
    look = {"visible": channel.visible}
    colormap = _display.colormap_from_hex(channel.color)
    if colormap is not None:
        look["colormap"] = colormap
    if channel.window is not None:
        look["contrast_limits"] = channel.window
    return look


def _squeeze_channel(data, kwargs: dict, source: ImageSource) -> LayerData:
    """Label images of OME 0.4 keep a channel axis of length 1; napari labels have none."""
    axis = source.channel_axis
    if axis is None:
        return (data, kwargs, "labels")
    levels = data if isinstance(data, list) else [data]
    levels = [_take(level, axis, 0) for level in levels]
    kwargs = {key: _drop(value, axis) if isinstance(value, list) else value for key, value in kwargs.items()}
    return (levels if len(levels) > 1 else levels[0], kwargs, "labels")


def _drop(values: list, axis: int) -> list:
    return values[:axis] + values[axis + 1 :]


def _contrast(source: ImageSource, coarsest, channel: int | None, layer_name: str) -> tuple[float, float]:
    """Contrast from the coarsest level (a bounded sample of it when it is big); a sample that cannot show
    anything meaningful (all NaN, one value, infinite values) is said, naming the layer."""
    fixed = {source.channel_axis: channel} if channel is not None else {}
    values = _display.sample(coarsest, fixed)
    problem = _display.sample_problem(values)
    # The sample takes time points and planes at their middle; where that one is blank (a time series whose
    # middle frame is empty), the first and last are sampled too before the image is called flat.
    others = [axis for axis in range(coarsest.ndim - 2) if axis not in fixed and coarsest.shape[axis] > 1]
    if problem and others:
        firsts, lasts = {axis: 0 for axis in others}, {axis: coarsest.shape[axis] - 1 for axis in others}
        ends = [_display.sample(coarsest, {**fixed, **end}) for end in (firsts, lasts)]
        values = np.concatenate([np.ravel(part) for part in (values, *ends)])
        problem = _display.sample_problem(values)
    if problem:
        _warn(f"layer {layer_name!r} ({source.where}): {problem}")
    return _display.contrast_limits(values)


def _missing_lines(source: ImageSource) -> list[str]:
    """One line per level of ``source`` with chunks not stored: their count and first keys (a listing).
    None for a label image this plugin made empty to be edited (``new_labels``): its chunks are written as
    they are painted, the others are 0 by design."""
    node = open_readonly(source.where) if Path(source.where).is_dir() else None
    if isinstance(node, zarr.Group) and (node.attrs.get(WRITER_MARKER) or {}).get("sparse") is True:
        return []
    lines = []
    for level in source.levels:
        if is_remote(level):
            logger.info("%s: chunks not counted (a remote store is not listed)", source.where)
            return []
        missing = missing_chunks(level)
        if missing.missing:
            lines.append(f"array {level.path or '/'!r} (fill value {fill_value(level)}): {missing.describe()}")
    return lines


class _BadChunksTeller:
    """Tells the person once per array which chunks could not be read.

    napari draws through dask's threads, so one screenful's bad chunks arrive from several tasks at once:
    they are gathered, and told in one notification on the main thread once the draw is done (directly,
    with the keys found so far, where no Qt application runs). Keys found later go to the log only.
    """

    def __init__(self) -> None:
        self._keys: dict[str, list[str]] = {}
        self._first: dict[str, BadChunks] = {}
        self._lock = threading.Lock()

    def __call__(self, bad: BadChunks) -> None:
        with self._lock:
            first = bad.array not in self._first
            keys = self._keys.setdefault(bad.array, [])
            keys += [key for key in bad.keys if key not in keys]
            self._first.setdefault(bad.array, bad)
        if first:
            _on_main_thread(self._tell, bad.array)

    def __getstate__(self) -> dict:
        # A layer's data goes to dask.distributed's workers when it is saved on a cluster: they tell their log.
        return {key: value for key, value in vars(self).items() if key != "_lock"}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state, _lock=threading.Lock())

    def _tell(self, array: str) -> None:
        with self._lock:
            bad = replace(self._first[array], keys=tuple(sorted(self._keys[array], key=_grid_order)))
        if bad.network:
            advice = "they are asked for again when napari next draws them (pan or zoom), once the store answers"
        elif is_url(bad.store):
            advice = "the store sends them damaged: tell whoever keeps it"
        else:
            advice = "restore those files from a copy to see them"
        _warn(f"{bad.describe()}: shown as the fill value ({advice})")


class _ProblemsTeller:
    """Tells the person, in one notification headed ``title``, the problems met while napari draws (a
    plate's wells that cannot be read). They arrive from dask's threads: those met by the time the main
    thread tells are gathered (the first few named, the others counted); later ones go to the log."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            first = not self._lines
            self._lines.append(line)
        if first:
            _on_main_thread(self._tell, self.title)
        else:
            logger.info("%s: %s", self.title, line)

    def __getstate__(self) -> dict:
        return {"title": self.title, "_lines": list(self._lines)}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state, _lock=threading.Lock())

    def _tell(self, title: str, most: int = 8) -> None:
        with self._lock:
            lines = list(self._lines)
        more = f"; and {len(lines) - most} more" if len(lines) > most else ""
        _warn(f"{title}: {'; '.join(lines[:most])}{more}")


def _grid_order(key: str) -> tuple[int, ...]:
    """``"c/10/2"`` -> ``(10, 2)``: chunk keys in the order of their grid, not of their text."""
    return tuple(int(part) for part in re.findall(r"\d+", key))


# A remote store that has not answered after this many seconds is said to be slow.
SLOW_STORE_SECONDS = 2.0


@contextmanager
def slow_store_notice(location) -> Iterator[None]:
    """Tell the person (once) when a remote store takes more than SLOW_STORE_SECONDS to answer."""
    if not location.remote:
        yield
        return
    timer = threading.Timer(
        SLOW_STORE_SECONDS, _notify,
        [f"waiting for {location.text}: the remote store answers slowly (over {SLOW_STORE_SECONDS:g} s so far)"],
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _notify(message: str) -> None:
    """Tell the person at the viewer (a napari notification) and the log."""
    logger.info(message)
    from napari.utils.notifications import show_info

    _on_main_thread(show_info, message)


def _warn(message: str) -> None:
    """Warn the person at the viewer (a napari warning notification) and the log."""
    logger.warning(message)
    from napari.utils.notifications import show_warning

    _on_main_thread(show_warning, message)


def _on_main_thread(call, message: str) -> None:
    """``call(message)`` on the main thread where a Qt application runs (napari's notifications make Qt
    widgets, which only that thread may do); directly anywhere else (headless, tests without a viewer)."""
    if threading.current_thread() is threading.main_thread():
        call(message)
        return
    try:
        from qtpy.QtWidgets import QApplication
        from superqt.utils import ensure_main_thread
    except ImportError:  # no Qt installed: nothing draws, so any thread may tell
        call(message)
        return
    if QApplication.instance() is None:
        call(message)
    else:
        ensure_main_thread(call)(message)
