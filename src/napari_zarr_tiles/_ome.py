"""OME-NGFF metadata: images of 0.1 to 0.5 and plates read, parsed and checked against the arrays they
describe; 0.4 and 0.5 written.

Written by hand rather than with ome-zarr-models on purpose: the reader must open the imperfect stores found
in the wild (no omero block, extra keys, a missing optional field) and, where the metadata is truly wrong,
say which path and which field, in the project's own exception type. A strict schema rejects the first kind
and reports the second as a generic validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import OmeMetadataError

# The versions written (and offered for writing); read are those and the older ones.
SUPPORTED_VERSIONS = ("0.4", "0.5")
READ_VERSIONS = ("0.1", "0.2", "0.3", *SUPPORTED_VERSIONS)
# OME-NGFF 0.1 and 0.2 name no axes: their images are 5D, in this order. 0.3 names them, as plain strings.
IMPLIED_AXES = ("t", "c", "z", "y", "x")
UNNAMED_AXES_VERSIONS = ("0.1", "0.2")
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
class WellPlace:
    """A well of a plate: its group's path from the plate, and its place on the plate's grid."""

    path: str
    row: int
    column: int
    name: str


@dataclass(frozen=True)
class PlateLayout:
    """A plate's ``plate`` metadata: its rows and columns (names, in order) and the wells it holds."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    wells: tuple[WellPlace, ...]
    name: str | None = None
    field_count: int | None = None


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
        for key in ("image-label", "plate", "well"):  # before 0.5, each carries its own version
            if version is None and isinstance(attrs.get(key), Mapping):
                version = attrs[key].get("version")
        return version, attrs
    return None


def check_version(version: str | None, where: str, *, versions: Sequence[str] = SUPPORTED_VERSIONS) -> str:
    """``version`` as a string, where it is one of ``versions`` (those written, by default); None is 0.4."""
    if version is None:
        version = "0.4"  # bioformats2raw and labels groups of 0.4 often carry no version of their own
    if str(version) not in versions:
        raise OmeMetadataError(
            f"{where}: OME-NGFF version {version!r} is not supported (this reader takes {', '.join(versions)})"
        )
    return str(version)


def implied_axes(version: str | None, ndim: int) -> tuple[Axis, ...] | None:
    """The axes of a 0.1 or 0.2 image, which names none: t, c, z, y, x for the 5D arrays those versions
    call for (the last ``ndim`` of them for arrays that have fewer, as written in the wild); None for
    other versions, whose images must name their axes."""
    if str(version) not in UNNAMED_AXES_VERSIONS:
        return None
    names = IMPLIED_AXES[len(IMPLIED_AXES) - ndim :] if ndim <= len(IMPLIED_AXES) else conventional_names(ndim)
    return tuple(Axis(name, axis_type(name)) for name in names)


def parse_multiscale(
    block: Mapping, version: str | None, where: str, array_ndim: Callable[[str], int | None]
) -> Multiscale:
    """Parse and check the first multiscale of ``block``.

    ``array_ndim(path)`` gives the number of dimensions of the array at ``path`` in the group, or None where
    there is no array, so that every listed level is checked against what is really stored.
    """
    version = check_version(version, where, versions=READ_VERSIONS)
    multiscales = block.get("multiscales")
    if not isinstance(multiscales, Sequence) or not multiscales or not isinstance(multiscales[0], Mapping):
        raise OmeMetadataError(f"{where}: 'multiscales' must be a non-empty list of objects")
    multiscale = multiscales[0]
    datasets = multiscale.get("datasets")
    if not isinstance(datasets, Sequence) or not datasets:
        raise OmeMetadataError(f"{where}: multiscales[0] lists no datasets")
    paths, ndims = [], []
    for index, dataset in enumerate(datasets):
        path = dataset.get("path") if isinstance(dataset, Mapping) else None
        if not isinstance(path, str):
            raise OmeMetadataError(f"{where}: datasets[{index}] has no 'path'")
        ndim = array_ndim(path)
        if ndim is None:
            raise OmeMetadataError(f"{where}: dataset path {path!r} is listed in multiscales but no array is there")
        paths.append(path)
        ndims.append(ndim)
    axes = implied_axes(version, ndims[0]) if "axes" not in multiscale else None
    axes = axes or _parse_axes(multiscale.get("axes"), where)
    for path, ndim in zip(paths, ndims):
        if ndim != len(axes):
            names = [axis.name for axis in axes]
            raise OmeMetadataError(
                f"{where}: axes {names} ({len(axes)}) do not match the {ndim} dimensions of array {path!r}"
            )
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
        if isinstance(item, str):  # OME-NGFF 0.3: names only, their kind by convention
            axes.append(Axis(name=item, type=axis_type(item, default=None)))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise OmeMetadataError(f"{where}: axes[{index}] must be an object with a 'name' (or, in 0.3, a name)")
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


def parse_plate(block: Mapping, where: str) -> PlateLayout:
    """The layout of a plate from its ``plate`` metadata (OME-NGFF 0.1 to 0.5).

    Wells carry their row and column indices from 0.4 on; before, their path ends in the row's and the
    column's names (``A/1``), which place them.
    """
    plate = block.get("plate")
    if not isinstance(plate, Mapping):
        raise OmeMetadataError(f"{where}: 'plate' must be an object")
    rows, columns = (_names(plate.get(key), key, where) for key in ("rows", "columns"))
    wells = []
    for index, well in enumerate(plate.get("wells") or ()):
        path = well.get("path") if isinstance(well, Mapping) else None
        if not isinstance(path, str):
            raise OmeMetadataError(f"{where}: plate wells[{index}] has no 'path'")
        row, column = well.get("rowIndex"), well.get("columnIndex")
        if not (isinstance(row, int) and isinstance(column, int)):
            parts = path.strip("/").split("/")
            row = rows.index(parts[-2]) if len(parts) >= 2 and parts[-2] in rows else None
            column = columns.index(parts[-1]) if parts[-1] in columns else None
        if row is None or column is None or not (0 <= row < len(rows) and 0 <= column < len(columns)):
            raise OmeMetadataError(
                f"{where}: plate wells[{index}] ({path!r}) is not on the plate's {len(rows)} x {len(columns)} grid"
            )
        wells.append(WellPlace(path.strip("/"), row, column, f"{rows[row]}{columns[column]}"))
    if not wells:
        raise OmeMetadataError(f"{where}: the plate lists no wells")
    count = plate.get("field_count")
    return PlateLayout(
        tuple(rows), tuple(columns), tuple(wells), name=plate.get("name") or None,
        field_count=count if isinstance(count, int) else None,
    )


def _names(raw, key: str, where: str) -> list[str]:
    if not isinstance(raw, Sequence) or not raw:
        raise OmeMetadataError(f"{where}: plate {key!r} must be a non-empty list of objects with a 'name'")
    names = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or item.get("name") is None:
            raise OmeMetadataError(f"{where}: plate {key}[{index}] has no 'name'")
        names.append(str(item["name"]))
    return names


def well_fields(block: Mapping, where: str) -> list[str]:
    """The paths of a well's fields (its images), from its ``well`` metadata, in order."""
    well = block.get("well")
    images = well.get("images") if isinstance(well, Mapping) else None
    if not isinstance(images, Sequence):
        raise OmeMetadataError(f"{where}: 'well' must be an object listing its 'images'")
    paths = [image.get("path") for image in images if isinstance(image, Mapping)]
    if not paths or not all(isinstance(path, str) for path in paths):
        raise OmeMetadataError(f"{where}: well images must each have a 'path' (found {_short_json(images)})")
    return [path.strip("/") for path in paths]


def _short_json(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
