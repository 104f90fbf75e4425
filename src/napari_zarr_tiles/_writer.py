"""Write images and labels as tiled OME-Zarr with pyramids, streamed chunk by chunk.

This module says what is written (arrays, chunks, codecs, OME metadata, from a layer or a file) and where
(a temporary sibling, moved into place when complete; a failure removes it unless the write is resumable);
``_stream`` writes the pixels, level 0 and its pyramid, tile by tile.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path

import dask.array as da
import zarr
from zarr.storage import LocalStore

from . import _ome
from ._display import contrast_limits, sample
from ._errors import ZarrTilesError
from ._store import WRITER_MARKER, codec_names
from ._stream import Levels, Progress, stream

DEFAULT_TILE_2D = 1024
DEFAULT_TILE_3D = (64, 256, 256)
COMPRESSORS = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", "none")
# Measured on filter results (benchmarks/README.md): what a user weighs in choosing.
COMPRESSOR_ADVICE = (
    "blosc-zstd (default) makes the smallest files; blosc-lz4 writes float results, such as a Gaussian's, "
    "about three times faster and reads them faster, in files 1 to 8 percent bigger (up to 3 times on sparse images)"
)


@dataclass
class ImageToWrite:
    """One image (or label image) and how to describe it: the layer's data and metadata, OME-shaped."""

    data: object
    axes: Sequence[_ome.Axis]
    name: str
    scale: Sequence[float] | None = None
    translate: Sequence[float] | None = None
    channels: Sequence[_ome.Channel] = ()
    label_colors: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    is_label: bool = False


def make_compressor(name: str, zarr_format: int, level: int | None = None):
    """A compressor by name for the zarr format; the default, blosc-zstd level 3 with bit shuffle, is the
    notebook's own choice."""
    if name not in COMPRESSORS:
        raise ValueError(f"unknown compressor {name!r}; choose one of {', '.join(COMPRESSORS)}")
    if name == "none":
        return None
    if zarr_format == 2:
        import numcodecs

        if name.startswith("blosc"):
            cname = name.split("-")[1]
            return numcodecs.Blosc(cname=cname, clevel=3 if level is None else level, shuffle=numcodecs.Blosc.BITSHUFFLE)
        return numcodecs.Zstd(level=3 if level is None else level) if name == "zstd" else numcodecs.GZip(
            level=6 if level is None else level
        )
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if name.startswith("blosc"):
        return BloscCodec(cname=name.split("-")[1], clevel=3 if level is None else level, shuffle="bitshuffle")
    return ZstdCodec(level=3 if level is None else level) if name == "zstd" else GzipCodec(level=6 if level is None else level)


def default_chunks(axes: Sequence[_ome.Axis], shape: Sequence[int], tile: int | None = None) -> tuple[int, ...]:
    """Tiles of ``tile`` (default 1024) over Y and X in 2D; 64 x 256 x 256 over Z, Y, X in 3D; 1 elsewhere."""
    spatial = [index for index, axis in enumerate(axes) if axis.type == "space"]
    if tile is not None:
        edges = {axis: tile for axis in spatial[-2:]} | ({spatial[-3]: min(tile, 64)} if len(spatial) > 2 else {})
    elif len(spatial) >= 3:
        edges = dict(zip(spatial[-3:], DEFAULT_TILE_3D))
    else:
        edges = {axis: DEFAULT_TILE_2D for axis in spatial}
    return tuple(min(edges.get(axis, 1), size) for axis, size in enumerate(shape))


def level_shapes(shape: Sequence[int], yx: Sequence[int], chunks: Sequence[int]) -> list[tuple[int, ...]]:
    """Level 0's shape, then halvings of the ``yx`` axes (rounded up) until one tile holds the level."""
    shapes = [tuple(shape)]
    while any(shapes[-1][axis] > chunks[axis] for axis in yx):
        shapes.append(tuple(-(-size // 2) if axis in yx else size for axis, size in enumerate(shapes[-1])))
    return shapes


def write_ome_zarr(
    path: str | PathLike,
    image: ImageToWrite,
    *,
    labels: Sequence[ImageToWrite] = (),
    tile: int | None = None,
    compressor: str = "blosc-zstd",
    compression_level: int | None = None,
    ome_version: str = "0.4",
    shards: int | None = None,
    with_pyramid: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    resumable: bool = False,
    provenance: dict | None = None,
    client=None,
) -> str:
    """Write ``image`` (and ``labels`` under its ``labels/`` group) as OME-Zarr at ``path``; return the path.

    ``progress(done, total)`` is called as output chunks are written; an exception raised from it cancels
    the write. The store is written under a hidden sibling name and moved to ``path`` only when complete,
    marked complete in its attributes (``napari-zarr-tiles.complete``) with ``provenance``.

    A failed or cancelled write leaves nothing, unless ``resumable``: then its unfinished store stays beside
    the target (``.NAME.partial``), and the next resumable write of the same plan to the same path continues
    it, computing only the chunks not yet on disk. ``client``, a dask.distributed Client, runs the write on
    its cluster: each worker writes its own chunks straight into the store, which must be on a file system
    the workers share.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it")
    _ome.check_version(ome_version, str(target))
    zarr_format = 2 if ome_version == "0.4" else 3
    partial = target.with_name(f".{target.name}.partial" + ("" if resumable else f"-{uuid.uuid4().hex[:8]}"))
    resuming = resumable and partial.exists()
    try:
        root = zarr.open_group(LocalStore(partial), mode="r+" if resuming else "w-", zarr_format=zarr_format)
        plans = [_plan(root, image, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming)]
        if labels:
            labels_group = root["labels"] if resuming else root.create_group("labels")
            for label in labels:
                group = labels_group[label.name] if resuming else labels_group.create_group(label.name)
                plans.append(
                    _plan(group, label, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming)
                )
            _set_ome(labels_group, {"labels": [label.name for label in labels]}, ome_version)
        recipe = {"complete": False, "provenance": provenance or {}, "arrays": _describe(plans)}
        if resuming and root.attrs.get(WRITER_MARKER) != recipe:
            raise ZarrTilesError(
                f"the unfinished write at {partial} was of something else "
                f"({_what_differs(root.attrs.get(WRITER_MARKER) or {}, recipe)}); remove it to start over"
            )
        root.attrs[WRITER_MARKER] = recipe
        stream([Levels(plan.level0, plan.targets, plan.yx, plan.image.is_label) for plan in plans], progress, client)
        for plan in plans:
            plan.write_metadata()
        root.attrs[WRITER_MARKER] = {"complete": True, "provenance": provenance or {}}
        _move_into_place(partial, target, overwrite=overwrite)
    except BaseException:
        if not resumable:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    return str(target)


def _what_differs(unfinished: dict, recipe: dict) -> str:
    before, now = unfinished.get("provenance") or {}, recipe["provenance"]
    if before.get("source") != now.get("source"):
        return f"another source: {before.get('source')}"
    if before.get("source_state") != now.get("source_state"):
        return f"the files of {now.get('source')} have changed since"
    if before.get("steps") != now.get("steps"):
        return f"other filter steps: {before.get('steps')}"
    return "another layout: tiles, shards, compressor or levels"


def _describe(plans: list[_Plan]) -> list[dict]:
    """What a resumed write must match: every array's path, shape, dtype, chunks, shards and codecs."""
    return [
        {
            "path": target.path, "shape": list(target.shape), "dtype": str(target.dtype),
            "chunks": list(target.chunks), "shards": list(target.shards or []), "codecs": codec_names(target),
        }
        for plan in plans
        for target in plan.targets
    ]


@dataclass
class _Plan:
    """One image's lazy levels, the arrays they go to, and the metadata to set once they are written."""

    group: object
    image: ImageToWrite
    level0: da.Array
    yx: list[int]
    targets: list
    datasets: list
    ome_version: str

    def write_metadata(self) -> None:
        """Set the OME metadata; channels with no window get one from the coarsest level just written."""
        channels = list(self.image.channels)
        channel_axis = next((i for i, axis in enumerate(self.image.axes) if axis.type == "channel"), None)
        for index, channel in enumerate(channels):
            if channel.window is None:
                fixed = {channel_axis: index} if channel_axis is not None else {}
                window = contrast_limits(sample(self.targets[-1], fixed))
                channels[index] = replace(channel, window=window)
        attributes = _ome.image_attributes(
            version=self.ome_version, axes=self.image.axes, datasets=self.datasets, name=self.image.name,
            channels=channels,
        )
        if self.image.is_label:
            attributes = _with_label_colors(attributes, self.image.label_colors, self.ome_version)
        self.group.attrs.update(attributes)


def _plan(
    group, image: ImageToWrite, tile, with_pyramid, compressor, compression_level, ome_version, shards, resuming
) -> _Plan:
    """Create the arrays of one image (open them, when resuming); return its lazy levels, their targets and
    its metadata to come."""
    array = da.asarray(image.data)
    if len(image.axes) != array.ndim:
        raise ZarrTilesError(f"{image.name}: {len(image.axes)} axes given for an array of {array.ndim} dimensions")
    zarr_format = 2 if ome_version == "0.4" else 3
    chunks = default_chunks(image.axes, array.shape, tile)
    array = array.rechunk(chunks)
    yx = [index for index, axis in enumerate(image.axes) if axis.type == "space"][-2:]
    shapes = level_shapes(array.shape, yx, chunks) if with_pyramid else [array.shape]
    odd = [axis for axis in yx if chunks[axis] % 2 and array.shape[axis] > chunks[axis]]
    if len(shapes) > 1 and odd:
        # Each pyramid task halves one tile: with an odd edge a 2 x 2 box would straddle two tiles.
        raise ZarrTilesError(f"{image.name}: tiles of {chunks[odd[0]]} pixels cannot be halved for the pyramid; "
                             "choose an even tile size")
    scale = list(image.scale or [1.0] * array.ndim)
    translate = list(image.translate or [0.0] * array.ndim)
    datasets, targets = [], []
    for index, level_shape in enumerate(shapes):
        factor = [array.shape[axis] / level_shape[axis] for axis in range(array.ndim)]
        # A coarse pixel's centre sits half a box in from the fine pixels it covers.
        datasets.append(
            (str(index), [s * f for s, f in zip(scale, factor)], [t + s * (f - 1) / 2 for t, s, f in zip(translate, scale, factor)])
        )
        if resuming and str(index) in group:
            targets.append(group[str(index)])
            continue
        level_chunks = tuple(min(c, s) for c, s in zip(chunks, level_shape))
        shard_shape = None
        if shards and zarr_format == 3:
            # A shard must hold whole chunks; the last shard along an axis may run past the array's edge.
            shard_shape = tuple(c * shards if c > 1 else c for c in level_chunks)
        targets.append(
            group.create_array(
                str(index),
                shape=level_shape,
                dtype=array.dtype,
                chunks=level_chunks,
                shards=shard_shape,
                compressors=make_compressor(compressor, zarr_format, compression_level),
                fill_value=0,
                # Every chunk is written, zeros too: no scan per chunk, and a complete store counts complete.
                config={"write_empty_chunks": True},
                dimension_names=[axis.name for axis in image.axes] if zarr_format == 3 else None,
                **({"chunk_key_encoding": {"name": "v2", "separator": "/"}} if zarr_format == 2 else {}),
            )
        )
    return _Plan(group, image, array, yx, targets, datasets, ome_version)


def _with_label_colors(attributes: dict, colors: dict, ome_version: str) -> dict:
    image_label = {
        "colors": [
            {"label-value": int(value), "rgba": [round(c * 255) for c in rgba]} for value, rgba in sorted(colors.items())
        ]
    }
    if ome_version == "0.4":
        return {**attributes, "image-label": {**image_label, "version": "0.4"}}
    return {"ome": {**attributes["ome"], "image-label": image_label}}


def _set_ome(group, block: dict, ome_version: str) -> None:
    group.attrs.update(block if ome_version == "0.4" else {"ome": {"version": ome_version, **block}})


def _move_into_place(partial: Path, target: Path, *, overwrite: bool) -> None:
    if target.exists():
        if not overwrite:
            raise ZarrTilesError(f"{target} appeared while writing; the result is left at {partial}")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, target)


# --- napari writer contributions -----------------------------------------------------------------------------

CONVENTIONAL_AXES = ("t", "c", "z", "y", "x")
AXIS_TYPES = {"t": "time", "time": "time", "c": "channel", "ch": "channel", "channel": "channel"}


def napari_write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one image layer to OME-Zarr (RGB becomes three channels)."""
    return [write_ome_zarr(path, image_from_layer(data, meta))]


def napari_write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer: one labels layer to OME-Zarr, with a label-safe pyramid."""
    return [write_ome_zarr(path, image_from_layer(data, meta, is_label=True))]


def napari_write_layers(path: str, layer_data: list[tuple]) -> list[str]:
    """npe2 writer: image layers (as channels of one image) and labels layers under its ``labels/`` group."""
    images = [(data, meta) for data, meta, kind in layer_data if kind == "image"]
    labels = [image_from_layer(data, meta, is_label=True) for data, meta, kind in layer_data if kind == "labels"]
    if len(images) == 1:
        image = image_from_layer(*images[0])
    else:
        image = _channels_from_layers(images)
    return [write_ome_zarr(path, image, labels=labels)]


def image_from_layer(data, meta: dict, *, is_label: bool = False) -> ImageToWrite:
    """An :class:`ImageToWrite` from a napari layer's data and metadata (finest level of a multiscale)."""
    array = da.asarray(data[0] if meta.get("multiscale") or isinstance(data, list) else data)
    channels = ()
    scale, translate = _per_axis(meta.get("scale"), array.ndim, 1.0), _per_axis(meta.get("translate"), array.ndim, 0.0)
    names = _axis_names(meta.get("axis_labels"), array.ndim - (1 if meta.get("rgb") else 0))
    units = _units(meta.get("units"), len(names))
    axes = [_ome.Axis(name, AXIS_TYPES.get(name.lower(), "space"), unit) for name, unit in zip(names, units)]
    if meta.get("rgb"):
        array = da.moveaxis(array, -1, 0)
        axes = [_ome.Axis("c", "channel"), *axes]
        scale, translate = [1.0, *scale[:-1]], [0.0, *translate[:-1]]
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
    return ImageToWrite(
        da.stack([image.data for image in firsts]),
        axes=[_ome.Axis("c", "channel"), *first.axes],
        name=first.name,
        scale=[1.0, *first.scale],
        translate=[0.0, *first.translate],
        channels=tuple(image.channels[0] for image in firsts),
    )


def _per_axis(values, ndim: int, default: float) -> list[float]:
    values = list(values) if values is not None else []
    return [float(v) for v in values[-ndim:]] if len(values) >= ndim else [default] * ndim


def _axis_names(labels, ndim: int) -> list[str]:
    """The layer's axis labels, unless they are napari's placeholders (numbers), then t, c, z, y, x."""
    labels = [str(label) for label in labels or ()][-ndim:] if labels else []
    if len(labels) == ndim and len(set(labels)) == ndim and not any(label.lstrip("-").isdigit() for label in labels):
        return labels
    return list(CONVENTIONAL_AXES[-ndim:]) if ndim <= 5 else [f"dim_{i}" for i in range(ndim)]


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
