"""HCS plates written by hand from the OME-NGFF and zarr specifications (0.4 on zarr v2, 0.5 on zarr v3), for
the plate tests: a 96-well plate with wells missing, several fields, two channels, a pyramid, and labels in
some wells.

The files are written directly (metadata as JSON, each array one uncompressed chunk): zarr-python takes half
a minute for the thousand nodes of a plate, this a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr
from conftest import CYX, YX, coarsen

ROWS = list("ABCDEFGH")
COLUMNS = [str(number) for number in range(1, 13)]
# Wells the plate does not hold: their cells in the mosaic are blank.
MISSING = {"B3", "C7", "H12"}
WELL_EDGE = 64
LEVELS = 3  # 64, 32, 16 pixels
FIELDS = ("0", "1")
LABELLED = {"A1", "B2"}


def field_pixels(row: int, column: int, field: int) -> np.ndarray:
    """Level 0 of one field: two channels of noise, different in each well, field and channel."""
    rng = np.random.default_rng(1000 * row + 10 * column + field)
    return rng.integers(0, 4000, size=(2, WELL_EDGE, WELL_EDGE), dtype=np.uint16)


def field_levels(row: int, column: int, field: int) -> list[np.ndarray]:
    levels = [field_pixels(row, column, field)]
    for _ in range(LEVELS - 1):
        levels.append(coarsen(levels[-1], (1, 2)))
    return levels


def label_pixels(row: int, column: int) -> np.ndarray:
    labels = np.zeros((WELL_EDGE, WELL_EDGE), np.uint32)
    labels[8:24, 8 + column : 24 + column] = row + 1
    return labels


def wrap(block: dict, version: str) -> dict:
    return block if version == "0.4" else {"ome": {"version": version, **block}}


def write_group(path: Path, attributes: dict, version: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if version == "0.4":
        (path / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
        (path / ".zattrs").write_text(json.dumps(attributes))
    else:
        (path / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes}))


def write_array(path: Path, values: np.ndarray, version: str) -> None:
    """``values`` as one uncompressed chunk, little-endian, C order."""
    path.mkdir(parents=True)
    values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    zeros = "/".join("0" * values.ndim)
    if version == "0.4":
        metadata = {
            "zarr_format": 2, "shape": list(values.shape), "chunks": list(values.shape), "dtype": values.dtype.str,
            "compressor": None, "filters": None, "fill_value": 0, "order": "C", "dimension_separator": "/",
        }
        (path / ".zarray").write_text(json.dumps(metadata))
        chunk = path / zeros
    else:
        metadata = {
            "zarr_format": 3, "node_type": "array", "shape": list(values.shape), "data_type": values.dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(values.shape)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}], "attributes": {},
        }
        (path / "zarr.json").write_text(json.dumps(metadata))
        chunk = path / "c" / zeros
    chunk.parent.mkdir(parents=True, exist_ok=True)
    chunk.write_bytes(values.tobytes())


def write_image(path: Path, levels: list[np.ndarray], axes: list[dict], scale: list[float], version: str,
                extra: dict | None = None) -> None:
    """An OME-Zarr image: ``levels`` (each half the last along Y and X) under "0", "1", ..."""
    datasets = []
    for index, level in enumerate(levels):
        write_array(path / str(index), level, version)
        factor = [1] * (len(axes) - 2) + [2**index] * 2
        datasets.append({"path": str(index), "coordinateTransformations": [
            {"type": "scale", "scale": [s * f for s, f in zip(scale, factor)]}]})
    multiscale = {"axes": axes, "datasets": datasets, "name": "image"}
    if version == "0.4":
        multiscale["version"] = "0.4"
    write_group(path, wrap({"multiscales": [multiscale], **(extra or {})}, version), version)


def write_plate(path: Path, version: str, *, scale=(0.5, 0.5), name: str | None = "screen") -> Path:
    """The plate at ``path``: rows A-H, columns 1-12, every well but :data:`MISSING`, fields 0 and 1."""
    wells = [
        (row, column) for row in range(len(ROWS)) for column in range(len(COLUMNS))
        if f"{ROWS[row]}{COLUMNS[column]}" not in MISSING
    ]
    plate = {
        "rows": [{"name": row} for row in ROWS],
        "columns": [{"name": column} for column in COLUMNS],
        "wells": [
            {"path": f"{ROWS[row]}/{COLUMNS[column]}", "rowIndex": row, "columnIndex": column} for row, column in wells
        ],
        "field_count": len(FIELDS),
        **({"name": name} if name else {}),
    }
    if version == "0.4":
        plate["version"] = "0.4"
    write_group(path, wrap({"plate": plate}, version), version)
    for row_name in {ROWS[row] for row, _ in wells}:
        write_group(path / row_name, {}, version)
    for row, column in wells:
        well = path / ROWS[row] / COLUMNS[column]
        well_block = {"images": [{"path": field} for field in FIELDS]}
        if version == "0.4":
            well_block["version"] = "0.4"
        write_group(well, wrap({"well": well_block}, version), version)
        for index, field in enumerate(FIELDS):
            write_image(well / field, field_levels(row, column, index), CYX, [1, *scale], version)
            if index == 0 and f"{ROWS[row]}{COLUMNS[column]}" in LABELLED:
                write_group(well / field / "labels", wrap({"labels": ["cells"]}, version), version)
                pixels = label_pixels(row, column)
                write_image(
                    well / field / "labels" / "cells", [pixels, coarsen(pixels, (0, 1))], YX, list(scale), version,
                    extra={"image-label": {"colors": [{"label-value": row + 1, "rgba": [255, 0, 0, 255]}]}},
                )
    return path


def open_written(path: Path, version: str) -> zarr.Group:
    return zarr.open_group(path, mode="r", zarr_format=2 if version == "0.4" else 3)
