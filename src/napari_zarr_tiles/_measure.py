"""Measuring objects: a label image (and an intensity image) in, a table out, stored beside the labels.

``measure`` reads the labels and the intensity image tile by tile from zarr (or takes arrays), computes the
object table with the engine (``tiles._measure``: equal to scikit-image's ``regionprops_table``), adds the
physical area and centroid from the labels' scale, and returns a pandas DataFrame; with ``table``, the
table is also stored in the labels' zarr group.

A stored table is a group ``tables/NAME`` in the label image's group: one 1-D array per column, named as the
column, its attributes listing the columns in order and their units (``napari-zarr-tiles.table``); the
``tables`` group lists its tables (``{"tables": [...]}``, as the OME-NGFF tables proposal lists them). Chosen
over the proposal's AnnData layout because that needs the anndata package to write and read faithfully, and
plain zarr arrays are read by any zarr library. A table is written under a temporary name and moved into
place, so that a failure never leaves half a table.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from ._errors import TargetExistsError, ZarrTilesError
from ._image import finest

TABLE_MARKER = "napari-zarr-tiles.table"


def measure(labels, intensity=None, *, table: str | None = None, overwrite: bool = False,
            spacing: Sequence[float] | None = None, origin: Sequence[float] | None = None):
    """The object table of ``labels``: one row per label, scikit-image's columns, as a pandas DataFrame.

    Parameters
    ----------
    labels : path or array
        A zarr store (an OME-Zarr label image, an image whose ``labels/`` hold one: the first is taken, or a
        plain integer array) or an array (numpy or dask).
    intensity : path or array, optional
        An image of the labels' shape, or with channels first (a zarr store or a TIFF: its first image; or an
        array): adds ``intensity_mean``, ``intensity_min``, ``intensity_max`` and ``intensity_std``, one
        column each per channel (``intensity_mean-0``, ...) for an image with channels.
    table : str, optional
        Also store the table in the labels' zarr group as ``tables/<table>`` (read it back with
        :func:`read_table`).
    overwrite : bool
        Replace a stored table of that name.
    spacing, origin : sequence of float, optional
        The pixel size and the first pixel's position per axis, for arrays; a store gives its own scale and
        translation. With them, ``area_physical`` and ``centroid_physical-<axis>`` are added, and
        ``DataFrame.attrs["units"]`` names their units where the store does.

    Returns
    -------
    pandas.DataFrame
        Columns ``label, area, centroid-0, ..., bbox-0, ...`` (and the intensity and physical ones), equal to
        ``skimage.measure.regionprops_table`` on the whole image.
    """
    import pandas as pd

    from .tiles._measure import object_table

    source = _label_source(labels) if isinstance(labels, str | PathLike) else None
    if table is not None and source is None:
        raise ZarrTilesError("measure: a table is stored in the labels' zarr group; pass the labels as a zarr path")
    target = _table_path(source, table) if table is not None else None
    if target is not None and target.exists() and not overwrite:
        raise TargetExistsError(f"the table {target} exists", replaced_by="overwrite")
    data, units = finest(labels), {}
    if source is not None:
        from ._store import to_dask

        data, spacing, origin = to_dask(source.levels[0]), source.scale, source.translate
        units = _units([axis.unit for axis in source.axes])
    columns = object_table(data, _intensity(intensity, data.shape), spacing=spacing, origin=origin)
    frame = pd.DataFrame(columns)
    frame.attrs["units"] = units if spacing is not None else {}
    if target is not None:
        write_table(target, frame)
    return frame


def _label_source(path):
    """The label image at ``path``: the first one marked as labels, else the store's only image."""
    from ._reader import image_sources

    sources = image_sources(path)
    labelled = [source for source in sources if source.labels]
    return (labelled or sources)[0]


def _intensity(intensity, shape: tuple[int, ...]):
    """The intensity image for labels of ``shape``: read from a path, leading single-plane axes (a time
    point, one channel) dropped."""
    if intensity is None:
        return None
    if isinstance(intensity, str | PathLike):
        from ._convert import open_source

        intensity = open_source(intensity).image.level0
    intensity = finest(intensity)
    while intensity.ndim > len(shape) and intensity.shape[0] == 1:
        intensity = intensity[0]
    return intensity


def _units(axis_units: list[str | None]) -> dict[str, str]:
    """The units of the physical columns, where every axis names one."""
    if not axis_units or any(unit is None for unit in axis_units):
        return {}
    distinct = sorted(set(axis_units))
    area = f"{distinct[0]}^{len(axis_units)}" if len(distinct) == 1 else "*".join(axis_units)
    return {"area_physical": area, **{f"centroid_physical-{axis}": unit for axis, unit in enumerate(axis_units)}}


def _table_path(source, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ZarrTilesError(f"measure: {name!r} cannot name a table (a plain name, such as 'objects')")
    import zarr

    from ._location import locate
    from ._store import open_readonly

    if locate(source.where).scheme != "local":
        raise ZarrTilesError(f"measure: {source.where} is read-only here (a URL or a zip store): a table cannot be "
                             "stored in it; measure without a table (--no-table, table=None) and keep it as CSV")

    if not isinstance(open_readonly(source.where), zarr.Group):
        raise ZarrTilesError(f"measure: {source.where} is a plain array, not a group: a table cannot be stored in it")
    return Path(source.where) / "tables" / name


def write_table(target: Path, frame) -> None:
    """Store ``frame`` at ``target`` (``<labels group>/tables/<name>``) as one zarr array per column."""
    import zarr
    from zarr.storage import LocalStore

    from ._writing import move_into_place

    labels_group = zarr.open_group(LocalStore(target.parent.parent), mode="r")
    zarr_format = labels_group.metadata.zarr_format
    tables = zarr.open_group(LocalStore(target.parent), mode="a", zarr_format=zarr_format)
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(LocalStore(partial), mode="w-", zarr_format=zarr_format)
        for column in frame.columns:
            values = frame[column].to_numpy()
            array = group.create_array(column, shape=values.shape, dtype=values.dtype, chunks=(max(1, len(values)),))
            array[...] = values
        group.attrs[TABLE_MARKER] = {"columns": list(frame.columns), "units": frame.attrs.get("units", {})}
        move_into_place(partial, target, overwrite=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    names = list(tables.attrs.get("tables", []))
    tables.attrs["tables"] = [*names, target.name] if target.name not in names else names


def read_table(labels: str | PathLike, name: str = "objects"):
    """A table stored by :func:`measure` in the labels' zarr group, as a pandas DataFrame (units in
    ``DataFrame.attrs["units"]``)."""
    import pandas as pd

    from ._store import open_readonly

    source = _label_source(labels)
    where = Path(source.where) / "tables" / name
    try:
        group = open_readonly(where)
    except FileNotFoundError:
        raise FileNotFoundError(f"{source.where} holds no table {name!r}; `napari-zarr-tiles measure` stores one") from None
    described = group.attrs.get(TABLE_MARKER) or {}
    columns = described.get("columns") or sorted(group.array_keys())
    frame = pd.DataFrame({column: group[column][...] for column in columns})
    frame.attrs["units"] = described.get("units", {})
    return frame
