"""OME-NGFF 0.4 and 0.5 metadata: parsed and checked against the arrays it describes.

Written by hand rather than with ome-zarr-models on purpose: the reader must open the imperfect stores found
in the wild (no omero block, extra keys, a missing optional field) and, where the metadata is truly wrong,
say which path and which field, in the project's own exception type. A strict schema rejects the first kind
and reports the second as a generic validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import OmeMetadataError

SUPPORTED_VERSIONS = ("0.4", "0.5")
# Names by convention, when a store or a layer gives none: OME-NGFF's order, time, channel, then space.
CONVENTIONAL_AXES = ("t", "c", "z", "y", "x")
AXIS_TYPES = {"t": "time", "time": "time", "c": "channel", "ch": "channel", "channel": "channel"}
SPACE_NAMES = ("z", "y", "x")


@dataclass(frozen=True)
class Axis:
    name: str
    type: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Channel:
    """One entry of the omero block: how a channel should look at the first frame."""

    label: str | None = None
    color: str | None = None
    window: tuple[float, float] | None = None
    visible: bool = True


@dataclass(frozen=True)
class Multiscale:
    """One multiscale image: its levels (paths, finest first), axes and level-0 physical placement."""

    version: str
    paths: tuple[str, ...]
    axes: tuple[Axis, ...]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    name: str | None = None
    channels: tuple[Channel, ...] = field(default_factory=tuple)


# --- the rules for axes: every module asks here -------------------------------------------------------------


def conventional_names(ndim: int) -> list[str]:
    """Axis names for an array that gives none: the last ``ndim`` of t, c, z, y, x (dim_0... beyond 5)."""
    return list(CONVENTIONAL_AXES[len(CONVENTIONAL_AXES) - ndim :]) if ndim <= 5 else [f"dim_{i}" for i in range(ndim)]


def axis_type(name: str, *, default: str | None = "space") -> str | None:
    """The OME type an axis name calls for: time, channel, else ``default`` (space for z, y, x)."""
    lowered = name.lower()
    if lowered in AXIS_TYPES:
        return AXIS_TYPES[lowered]
    return "space" if lowered in SPACE_NAMES else default


def space_axes(axes: Sequence[Axis]) -> list[int]:
    return [index for index, axis in enumerate(axes) if axis.type == "space"]


def yx_axes(axes: Sequence[Axis]) -> list[int]:
    """The two axes a plane (an overview, a pyramid halving) is made of: the last two space axes, else the
    last two."""
    space = space_axes(axes)
    return space[-2:] if len(space) >= 2 else list(range(max(0, len(axes) - 2), len(axes)))


def filter_axes(axes: Sequence[Axis]) -> list[int]:
    """The axes a filter runs over: the last three space axes (a volume), else the last two."""
    space = space_axes(axes)
    return space[-3:] if len(space) >= 3 else space[-2:]


def channel_axis(axes: Sequence[Axis]) -> int | None:
    return next((index for index, axis in enumerate(axes) if axis.type == "channel"), None)


def zarr_format(version: str) -> int:
    """The zarr format an OME-NGFF version is stored in: 0.4 on zarr v2, 0.5 on zarr v3."""
    return 2 if check_version(version, "OME-Zarr") == "0.4" else 3


def wrap(block: dict, version: str) -> dict:
    """Group attributes holding ``block``: 0.4 puts its keys at the top level, 0.5 nests them under "ome"."""
    return dict(block) if version == "0.4" else {"ome": {"version": version, **block}}


# --- metadata in ---------------------------------------------------------------------------------------------


def ome_block(attrs: Mapping) -> tuple[str | None, Mapping] | None:
    """The OME metadata of a group and its version, or None for a group without any.

    0.5 nests everything under ``attrs["ome"]`` with one version; 0.4 puts the keys at the top level and the
    version inside each multiscale.
    """
    if isinstance(attrs.get("ome"), Mapping):
        block = attrs["ome"]
        return block.get("version"), block
    ome_keys = ("multiscales", "image-label", "labels", "bioformats2raw.layout", "plate", "well")
    if any(key in attrs for key in ome_keys):
        # Malformed blocks (a multiscales object instead of a list) get no version here: parsing them says what
        # is wrong, naming the field.
        multiscales = attrs.get("multiscales")
        first = multiscales[0] if isinstance(multiscales, Sequence) and multiscales else None
        version = first.get("version") if isinstance(first, Mapping) else None
        if version is None and isinstance(attrs.get("image-label"), Mapping):
            version = attrs["image-label"].get("version")
        return version, attrs
    return None


def check_version(version: str | None, where: str) -> str:
    if version is None:
        version = "0.4"  # bioformats2raw and labels groups of 0.4 often carry no version of their own
    if str(version) not in SUPPORTED_VERSIONS:
        raise OmeMetadataError(
            f"{where}: OME-NGFF version {version!r} is not supported (this reader takes {', '.join(SUPPORTED_VERSIONS)})"
        )
    return str(version)


def parse_multiscale(
    block: Mapping, version: str | None, where: str, array_ndim: Callable[[str], int | None]
) -> Multiscale:
    """Parse and check the first multiscale of ``block``.

    ``array_ndim(path)`` gives the number of dimensions of the array at ``path`` in the group, or None where
    there is no array, so that every listed level is checked against what is really stored.
    """
    version = check_version(version, where)
    multiscales = block.get("multiscales")
    if not isinstance(multiscales, Sequence) or not multiscales or not isinstance(multiscales[0], Mapping):
        raise OmeMetadataError(f"{where}: 'multiscales' must be a non-empty list of objects")
    multiscale = multiscales[0]
    axes = _parse_axes(multiscale.get("axes"), where)
    datasets = multiscale.get("datasets")
    if not isinstance(datasets, Sequence) or not datasets:
        raise OmeMetadataError(f"{where}: multiscales[0] lists no datasets")
    paths = []
    for index, dataset in enumerate(datasets):
        path = dataset.get("path") if isinstance(dataset, Mapping) else None
        if not isinstance(path, str):
            raise OmeMetadataError(f"{where}: datasets[{index}] has no 'path'")
        ndim = array_ndim(path)
        if ndim is None:
            raise OmeMetadataError(f"{where}: dataset path {path!r} is listed in multiscales but no array is there")
        if ndim != len(axes):
            names = [axis.name for axis in axes]
            raise OmeMetadataError(
                f"{where}: axes {names} ({len(axes)}) do not match the {ndim} dimensions of array {path!r}"
            )
        paths.append(path)
    ndim = len(axes)
    level_scale, level_translate = _transforms(datasets[0].get("coordinateTransformations"), ndim, f"{where}/{paths[0]}")
    outer_scale, outer_translate = _transforms(multiscale.get("coordinateTransformations"), ndim, where)
    scale = tuple(o * s for o, s in zip(outer_scale, level_scale))
    translate = tuple(o * t + u for o, t, u in zip(outer_scale, level_translate, outer_translate))
    return Multiscale(
        version=version,
        paths=tuple(paths),
        axes=axes,
        scale=scale,
        translate=translate,
        name=multiscale.get("name") or None,
        channels=_parse_omero(block.get("omero")),
    )


def _parse_axes(raw, where: str) -> tuple[Axis, ...]:
    if not isinstance(raw, Sequence) or not raw:
        raise OmeMetadataError(f"{where}: multiscales[0] has no 'axes'")
    axes = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise OmeMetadataError(f"{where}: axes[{index}] must be an object with a 'name'")
        axes.append(Axis(name=item["name"], type=item.get("type"), unit=item.get("unit")))
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise OmeMetadataError(f"{where}: axis names {names} are not unique")
    return tuple(axes)


def _transforms(raw, ndim: int, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    scale, translate = [1.0] * ndim, [0.0] * ndim
    for transform in raw or ():
        kind = transform.get("type") if isinstance(transform, Mapping) else None
        if kind == "identity":
            continue
        if kind not in ("scale", "translation"):
            raise OmeMetadataError(f"{where}: coordinate transformation {transform!r} is not supported")
        values = transform.get(kind)
        if not isinstance(values, Sequence) or len(values) != ndim:
            raise OmeMetadataError(f"{where}: {kind} {values!r} must list one number for each of the {ndim} axes")
        if kind == "scale":
            scale = [a * float(b) for a, b in zip(scale, values)]
        else:
            translate = [a + float(b) for a, b in zip(translate, values)]
    return tuple(scale), tuple(translate)


def _parse_omero(raw) -> tuple[Channel, ...]:
    if not isinstance(raw, Mapping):
        return ()
    channels = []
    for item in raw.get("channels") or ():
        if not isinstance(item, Mapping):
            continue
        window = item.get("window") if isinstance(item.get("window"), Mapping) else {}
        start, end = window.get("start"), window.get("end")
        channels.append(
            Channel(
                label=str(item["label"]) if item.get("label") is not None else None,
                color=item.get("color"),
                window=(float(start), float(end)) if start is not None and end is not None and end > start else None,
                visible=bool(item.get("active", True)),
            )
        )
    return tuple(channels)


def label_names(block: Mapping) -> list[str]:
    """The label images listed by a ``labels`` group."""
    return [name for name in block.get("labels") or () if isinstance(name, str)]


def label_colors(block: Mapping) -> dict[int, tuple[float, float, float, float]]:
    """``image-label`` colours as {label value: RGBA in 0..1}."""
    image_label = block.get("image-label")
    colors = {}
    for item in (image_label or {}).get("colors") or ():
        value, rgba = item.get("label-value"), item.get("rgba")
        if isinstance(value, int) and isinstance(rgba, Sequence) and len(rgba) == 4:
            colors[value] = tuple(component / 255 for component in rgba)
    return colors


def bioformats2raw_series(block: Mapping, series_attrs: Mapping | None) -> list[str] | None:
    """The image paths of a bioformats2raw layout (from ``OME/``'s ``series`` where given), or None."""
    if block.get("bioformats2raw.layout") is None:
        return None
    if series_attrs:
        series = (series_attrs.get("ome") or series_attrs).get("series")
        if isinstance(series, Sequence) and series:
            return [str(path) for path in series]
    return []


# --- metadata out --------------------------------------------------------------------------------------------


def image_attributes(
    *,
    version: str,
    axes: Sequence[Axis],
    datasets: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    name: str,
    channels: Sequence[Channel] = (),
) -> dict:
    """The group attributes of an OME-Zarr image (``multiscales`` and ``omero``) for ``version``.

    ``datasets`` lists each level finest first as (path, scale, translation) in physical units.
    """
    check_version(version, name)
    multiscale = {
        "axes": [{key: value for key, value in vars(axis).items() if value is not None} for axis in axes],
        "datasets": [
            {
                "path": path,
                "coordinateTransformations": [
                    {"type": "scale", "scale": [float(s) for s in scale]},
                    {"type": "translation", "translation": [float(t) for t in translate]},
                ],
            }
            for path, scale, translate in datasets
        ],
        "name": name,
    }
    block: dict = {"multiscales": [multiscale]}
    if channels:
        block["omero"] = {
            "channels": [
                {
                    "label": channel.label or f"channel {index}",
                    "color": channel.color or "FFFFFF",
                    "active": channel.visible,
                    **(
                        {"window": {"start": channel.window[0], "end": channel.window[1],
                                    "min": channel.window[0], "max": channel.window[1]}}
                        if channel.window
                        else {}
                    ),
                }
                for index, channel in enumerate(channels)
            ]
        }
    if version == "0.4":
        multiscale["version"] = version
    return wrap(block, version)


def label_attributes(attributes: dict, colors: dict, version: str) -> dict:
    """An image's attributes (from :func:`image_attributes`) as a label image's, with its colours
    (``{value: RGBA in 0..1}``)."""
    image_label = {
        "colors": [
            {"label-value": int(value), "rgba": [round(c * 255) for c in rgba]} for value, rgba in sorted(colors.items())
        ]
    }
    if version == "0.4":
        return {**attributes, "image-label": {**image_label, "version": "0.4"}}
    return {"ome": {**attributes["ome"], "image-label": image_label}}
