"""Lazy arrays that napari draws straight from zarr, without dask.

napari reads a layer one view at a time (``np.asarray(level[view])``). A dask array there costs the first
frame about 0.8 s that no pixel needs: importing dask.array (0.5 s), then, at its first compute, dask
looking for a dask.distributed client (0.3 s, importing it where it is installed). So the reader gives
napari :class:`LazyView` objects: indexing one reads the view (numpy out), zarr fetching its chunks
concurrently, as napari does with a zarr array; :meth:`LazyView.fix` takes one index of an axis without
reading (a channel's layer); and ``dask.array.asarray``, which the engine applies to every input, turns one
into the dask view of the same pixels (its ``to_dask_array``), so processing and saving a layer are as before.

napari paints and fills a single-scale labels layer by item assignment: a view then holds its pixels in
memory (as a dask array did), never writing to the store; Plugins > Edit labels edits the store itself.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from math import prod
from typing import Protocol

import numpy as np

from ._errors import ZarrTilesError

# The most a view takes into memory when napari first paints on it (a dask array took any size, lazily).
MAX_PAINTED_BYTES = 2**30


class ViewSource(Protocol):
    """What a :class:`LazyView` reads from: a shape, a dtype, chunk edges (one per axis), basic indexing over
    every axis (ints and slices) that reads, and the dask view of the same pixels."""

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]

    def __getitem__(self, selection: tuple) -> np.ndarray: ...

    def to_dask(self): ...


class LazyView:
    """``source`` with the axes of ``fixed`` (source axis -> index) taken at one index; see the module."""

    def __init__(self, source: ViewSource, fixed: Mapping[int, int] | None = None) -> None:
        self.source = source
        self.fixed = dict(fixed or {})
        self._kept = [axis for axis in range(len(source.shape)) if axis not in self.fixed]
        self.shape = tuple(source.shape[axis] for axis in self._kept)
        self.dtype = np.dtype(source.dtype)
        self.ndim = len(self.shape)
        self.chunks = tuple(source.chunks[axis] for axis in self._kept)
        self._painted: np.ndarray | None = None  # the pixels, once napari has painted on them

    @property
    def size(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<LazyView shape={self.shape} dtype={self.dtype} of {self.source!r}>"

    def fix(self, axis: int, index: int) -> LazyView:
        """This view with ``axis`` taken at ``index`` (nothing read; the view is not painted on)."""
        size = self.shape[axis]
        index = operator.index(index)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of bounds for axis {axis} of size {size}")
        return LazyView(self.source, {**self.fixed, self._kept[axis]: index % size})

    def __getitem__(self, selection) -> np.ndarray:
        """The pixels of ``selection`` (ints, slices and an Ellipsis are read as such; anything else, such as
        an index array, is applied to the whole of its axis once read)."""
        if self._painted is not None:
            return self._painted[selection]
        parts = _expanded(selection, self.ndim)
        read = [
            part if isinstance(part, slice) or _is_int(part) else slice(None)
            for part in parts
        ]
        full: list = [None] * len(self.source.shape)
        for axis, index in self.fixed.items():
            full[axis] = index
        for axis, part in zip(self._kept, read):
            full[axis] = part
        values = np.asarray(self.source[tuple(full)])
        after = tuple(part if not isinstance(part, slice) else slice(None) for part in parts if not _is_int(part))
        if any(not isinstance(part, slice) for part in after):
            values = values[after]
        return values

    def __setitem__(self, selection, values) -> None:
        """napari's paint and fill: the view's pixels are read into memory at the first stroke, then changed
        there; the store is not written."""
        if self._painted is None:
            if self.nbytes > MAX_PAINTED_BYTES:
                raise ZarrTilesError(
                    f"{self.source!r}: {self.nbytes / 2**30:.1f} GB is too big to paint in memory; edit these labels "
                    "on disk with Plugins > Edit labels (napari-zarr-tiles), which reads only the part on screen"
                )
            self._painted = np.array(self[...], copy=True)
        self._painted[selection] = values

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[...]
        return values if dtype is None else values.astype(dtype, copy=False)

    def to_dask_array(self):
        """The dask view of these pixels (``dask.array.asarray`` calls this)."""
        if self._painted is not None:
            import dask.array as da

            return da.from_array(self._painted, chunks=self.chunks)
        data = self.source.to_dask()
        return data[tuple(self.fixed.get(axis, slice(None)) for axis in range(data.ndim))]


def _is_int(part) -> bool:
    return isinstance(part, int | np.integer) and not isinstance(part, bool | np.bool_)


def _expanded(selection, ndim: int) -> list:
    """``selection`` as one part per axis: an Ellipsis spread, missing trailing axes whole."""
    parts = list(selection) if isinstance(selection, tuple) else [selection]
    if any(part is Ellipsis for part in parts):
        at = next(index for index, part in enumerate(parts) if part is Ellipsis)
        parts[at : at + 1] = [slice(None)] * (ndim - len(parts) + 1)
    if len(parts) > ndim:
        raise IndexError(f"too many indices for an array of {ndim} dimensions: {len(parts)}")
    return parts + [slice(None)] * (ndim - len(parts))
