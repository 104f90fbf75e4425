"""napari's writer contributions: thin adapters from layers to the writing core (``_writing``).

A layer's data and metadata (scale, translation, axis labels, units, colormap, contrast) become an
:class:`ImageToWrite`; image layers saved together become the channels of one image, labels layers its
``labels/`` group.

A save onto an existing store asks, in napari's window, whether to replace it: napari's Save dialog does
not (a ``.zarr`` store is a folder, which its file dialog opens rather than confirms). With no window to ask
in, it is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import dask.array as da

from . import _ome
from ._errors import TargetExistsError, WriteCancelled, ZarrTilesError
from ._image import ImageToWrite
from ._writing import write_ome_zarr


def napari_write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one image layer to OME-Zarr (RGB becomes three channels)."""
    return _write(path, image_from_layer(data, meta))


def napari_write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one labels layer to OME-Zarr, with a label-safe pyramid."""
    return _write(path, image_from_layer(data, meta, is_label=True))


def napari_write_layers(path: str, layer_data: list[tuple]) -> list[str]:
    """npe2 writer: image layers (as channels of one image) and labels layers under its ``labels/`` group."""
    images = [(data, meta) for data, meta, kind in layer_data if kind == "image"]
    labels = [image_from_layer(data, meta, is_label=True) for data, meta, kind in layer_data if kind == "labels"]
    if len(images) == 1:
        image = image_from_layer(*images[0])
    else:
        image = _channels_from_layers(images)
    return _write(path, image, labels)


def _write(path: str, image: ImageToWrite, labels: Sequence[ImageToWrite] = ()) -> list[str]:
    """Write, replacing an existing store only if the person, asked in napari's window, said so."""
    target = Path(path)
    overwrite = target.exists() and _replace(target)
    return [write_ome_zarr(path, image, labels=labels, overwrite=overwrite)]


def _replace(target: Path) -> bool:
    """True if the person agrees to replace ``target``, which exists; else an error that says what happened."""
    # Qt is asked only when napari runs it already: a script or a test without Qt never loads it from here.
    answer = None
    if "qtpy" in sys.modules:
        from ._widget_parts import ask_to_replace_in_window

        answer = ask_to_replace_in_window(target)
    if answer is None:
        raise TargetExistsError(f"{target} exists already; save under another name, or delete it first")
    if not answer:
        raise WriteCancelled(f"{target} was kept as it was; nothing was saved")
    return True


def image_from_layer(data, meta: dict, *, is_label: bool = False) -> ImageToWrite:
    """An :class:`ImageToWrite` from a napari layer's data and metadata (finest level of a multiscale)."""
    array = da.asarray(data[0] if meta.get("multiscale") or isinstance(data, list) else data)
    channels = ()
    scale, translate = _per_axis(meta.get("scale"), array.ndim, 1.0), _per_axis(meta.get("translate"), array.ndim, 0.0)
    names = _axis_names(meta.get("axis_labels"), array.ndim - (1 if meta.get("rgb") else 0))
    units = _units(meta.get("units"), len(names))
    axes = [_ome.Axis(name, _ome.axis_type(name), unit) for name, unit in zip(names, units)]
    if meta.get("rgb"):
        at = _channel_place(axes)
        array = da.moveaxis(array, -1, at)
        # the colour axis, last in the layer's scale and translate, becomes the channel axis
        axes, scale, translate = _with_channel_axis(at, axes, scale[:-1], translate[:-1])
        channels = tuple(_ome.Channel(label=c, color=h) for c, h in zip("RGB", ("FF0000", "00FF00", "0000FF")))
    elif not is_label:
        channels = (_channel_from_meta(meta),)
    return ImageToWrite(
        array, axes=axes, name=meta.get("name") or "image", scale=scale, translate=translate,
        channels=channels, is_label=is_label, label_colors=_label_colors(meta) if is_label else {},
    )


def _channels_from_layers(images: list[tuple]) -> ImageToWrite:
    firsts = [image_from_layer(data, meta) for data, meta in images]
    shapes = {image.data.shape for image in firsts}
    if len(shapes) != 1:
        names = [image.name for image in firsts]
        raise ZarrTilesError(f"image layers {names} have different shapes {sorted(shapes)}; save them one by one")
    first = firsts[0]
    at = _channel_place(first.axes)
    axes, scale, translate = _with_channel_axis(at, first.axes, first.scale, first.translate)
    return ImageToWrite(
        da.stack([image.data for image in firsts], axis=at), axes=axes, name=first.name, scale=scale,
        translate=translate, channels=tuple(image.channels[0] for image in firsts),
    )


def _channel_place(axes: list[_ome.Axis]) -> int:
    """Where a channel axis goes among ``axes``: after the time axis, as OME-Zarr orders them (t, c, z, y, x)."""
    return 1 if axes and axes[0].type == "time" else 0


def _with_channel_axis(at: int, axes, scale, translate) -> tuple[list, list[float], list[float]]:
    """``axes``, ``scale`` and ``translate`` with a channel axis inserted at ``at`` (scale 1, translation 0)."""
    return (
        [*axes[:at], _ome.Axis("c", "channel"), *axes[at:]],
        [*scale[:at], 1.0, *scale[at:]],
        [*translate[:at], 0.0, *translate[at:]],
    )


def _per_axis(values, ndim: int, default: float) -> list[float]:
    values = list(values) if values is not None else []
    return [float(v) for v in values[-ndim:]] if len(values) >= ndim else [default] * ndim


def _axis_names(labels, ndim: int) -> list[str]:
    """The layer's axis labels, unless they are napari's placeholders (numbers), then t, c, z, y, x."""
    labels = [str(label) for label in labels or ()][-ndim:] if labels else []
    if len(labels) == ndim and len(set(labels)) == ndim and not any(label.lstrip("-").isdigit() for label in labels):
        return labels
    return _ome.conventional_names(ndim)


def _units(units, ndim: int) -> list[str | None]:
    names = [str(unit) for unit in units][-ndim:] if units else []
    if len(names) != ndim:
        return [None] * ndim
    return [None if name in ("pixel", "dimensionless", "") else name for name in names]


def _channel_from_meta(meta: dict) -> _ome.Channel:
    window = meta.get("contrast_limits")
    return _ome.Channel(
        label=meta.get("name"),
        color=_hex_color(meta.get("colormap")),
        window=(float(window[0]), float(window[1])) if window is not None and len(window) == 2 else None,
        visible=bool(meta.get("visible", True)),
    )


def _hex_color(colormap) -> str | None:
    """The brightest colour of a napari colormap (name or object), as OME's RRGGBB."""
    if colormap is None:
        return None
    from napari.utils.colormaps import ensure_colormap

    rgb = ensure_colormap(colormap).colors[-1][:3]
    return "".join(f"{round(float(c) * 255):02X}" for c in rgb)


def _label_colors(meta: dict) -> dict:
    colormap = meta.get("colormap")
    color_dict = getattr(colormap, "color_dict", None) or (colormap if isinstance(colormap, dict) else {})
    return {
        int(value): tuple(float(c) for c in rgba)
        for value, rgba in color_dict.items()
        if value is not None and int(value) != 0 and rgba is not None and len(rgba) == 4
    }
