"""Write images as tiled OME-Zarr, streamed chunk by chunk, into a temporary sibling moved into place.

This is the core the napari writer contributions will call; today the sample data uses it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import dask.array as da
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore

from . import _ome
from ._errors import ZarrTilesError
from ._pyramid import lazy_levels

DEFAULT_TILE = 1024


def default_compressor(zarr_format: int):
    """The notebook's choice, kept as the default: Blosc zstd level 3 with bit shuffle."""
    if zarr_format == 2:
        return Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)
    return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")


def write_ome_zarr(
    path: str | PathLike,
    data,
    *,
    axes: Sequence[_ome.Axis],
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    name: str | None = None,
    channels: Sequence[_ome.Channel] = (),
    tile: int = DEFAULT_TILE,
    ome_version: str = "0.4",
    overwrite: bool = False,
) -> str:
    """Write ``data`` (numpy or dask) with a mean pyramid as an OME-Zarr image at ``path``; return the path.

    The pyramid halves the last two spatial axes until the image fits one tile; every level is written in
    one ``dask.array.store`` pass, so each input tile is read once.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    zarr_format = 2 if ome_version == "0.4" else 3
    array = da.asarray(data)
    spatial = [index for index, axis in enumerate(axes) if axis.type == "space"][-2:]
    chunks = tuple(tile if axis in spatial else 1 for axis in range(array.ndim))
    levels = lazy_levels(array.rechunk(chunks), spatial, coarsest=tile)
    scale = list(scale or [1.0] * array.ndim)
    translate = list(translate or [0.0] * array.ndim)
    datasets = []
    for index, level in enumerate(levels):
        factor = [array.shape[axis] / level.shape[axis] for axis in range(array.ndim)]
        # A coarse pixel's centre sits half a box in from the fine pixels it averages.
        datasets.append(
            (
                str(index),
                [s * f for s, f in zip(scale, factor)],
                [t + s * (f - 1) / 2 for t, s, f in zip(translate, scale, factor)],
            )
        )
    attributes = _ome.image_attributes(
        version=ome_version, axes=axes, datasets=datasets, name=name or target.stem, channels=channels
    )
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        root = zarr.open_group(LocalStore(partial), mode="w-", zarr_format=zarr_format)
        arrays = [
            root.create_array(
                str(index),
                shape=level.shape,
                dtype=level.dtype,
                chunks=tuple(min(c, s) for c, s in zip(chunks, level.shape)),
                compressors=default_compressor(zarr_format),
                dimension_names=[axis.name for axis in axes] if zarr_format == 3 else None,
                **({"chunk_key_encoding": {"name": "v2", "separator": "/"}} if zarr_format == 2 else {}),
            )
            for index, level in enumerate(levels)
        ]
        aligned = [level.rechunk(out.chunks) for level, out in zip(levels, arrays)]
        da.store(aligned, arrays, lock=False)
        root.attrs.update(attributes)
        _move_into_place(partial, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return str(target)


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

