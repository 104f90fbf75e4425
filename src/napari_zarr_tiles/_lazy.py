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
        return LazyView(self.source, {**self.fixed, self._kept[axis]: _within(operator.index(index), axis, self.shape[axis])})

    def __getitem__(self, selection) -> np.ndarray:
        """The pixels of ``selection``, as numpy indexes: ints and slices (any step) are read as such, only
        what they cover; anything else (index arrays, masks, new axes) is applied to the whole view once read."""
        if self._painted is not None:
            return self._painted[selection]
        parts = list(selection) if isinstance(selection, tuple) else [selection]
        if not all(part is Ellipsis or _is_int(part) or isinstance(part, slice) for part in parts):
            return np.asarray(self[...])[selection]
        parts = _expanded(parts, self.ndim)
        reads, after = [], []
        for axis, (part, size) in enumerate(zip(parts, self.shape)):
            if _is_int(part):
                reads.append(_within(int(part), axis, size))
                continue
            steps = range(*part.indices(size))
            if steps.step > 0 or not steps:  # zarr reads forward steps; backward ones are read forward, then turned
                reads.append(slice(steps.start, steps.stop, steps.step) if steps else slice(0, 0))
                after.append(slice(None))
            else:
                reads.append(slice(steps[-1], steps[0] + 1, -steps.step))
                after.append(slice(None, None, -1))
        full: list = [None] * len(self.source.shape)
        for axis, index in self.fixed.items():
            full[axis] = index
        for axis, part in zip(self._kept, reads):
            full[axis] = part
        values = np.asarray(self.source[tuple(full)])
        return values[tuple(after)] if any(step != slice(None) for step in after) else values

    def __iter__(self):
        """Plane after plane along the first axis, each read when reached (as iterating numpy does)."""
        for index in range(len(self)):
            yield self[index]

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

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy's ufuncs on a view go to its dask view (lazy, as they did on a layer's dask data)."""
        inputs = tuple(value.to_dask_array() if isinstance(value, LazyView) else value for value in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """numpy's functions (``np.max(view)``, ``np.stack``) on a view go to its dask view."""

        def as_dask(value):
            if isinstance(value, LazyView):
                return value.to_dask_array()
            if isinstance(value, list | tuple):
                return type(value)(as_dask(item) for item in value)
            return value

        return func(*as_dask(args), **{key: as_dask(value) for key, value in kwargs.items()})

    def to_dask_array(self):
        """The dask view of these pixels (``dask.array.asarray`` calls this)."""
        if self._painted is not None:
            import dask.array as da

            return da.from_array(self._painted, chunks=self.chunks)
        data = self.source.to_dask()
        return data[tuple(self.fixed.get(axis, slice(None)) for axis in range(data.ndim))]


def _within(index: int, axis: int, size: int) -> int:
    """``index`` of an axis of ``size``, counted from its start; numpy's IndexError where it is outside."""
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for axis {axis} with size {size}")
    return index % size


def _is_int(part) -> bool:
    return isinstance(part, int | np.integer) and not isinstance(part, bool | np.bool_)


def _expanded(parts: list, ndim: int) -> list:
    """``parts`` (ints and slices) as one per axis: an Ellipsis spread, missing trailing axes whole."""
    parts = list(parts)
    if any(part is Ellipsis for part in parts):
        at = next(index for index, part in enumerate(parts) if part is Ellipsis)
        parts[at : at + 1] = [slice(None)] * (ndim - len(parts) + 1)
    if len(parts) > ndim:
        raise IndexError(f"too many indices for an array of {ndim} dimensions: {len(parts)}")
    return parts + [slice(None)] * (ndim - len(parts))


# The array operations a view hands to its dask view (lazy results, as when layers held dask arrays); looked
# up by name only, so that nothing napari asks of a layer's data imports dask before the first frame.
DASK_METHODS = frozenset({
    "all", "any", "argmax", "argmin", "astype", "compute", "cumsum", "map_blocks", "map_overlap", "max", "mean",
    "min", "nonzero", "persist", "prod", "ravel", "rechunk", "reshape", "round", "squeeze", "std", "sum", "swapaxes",
    "T", "transpose", "var", "view",
})


def _on_dask_view(name: str):
    """A method of a view that is its dask view's ``name`` (a method or an operator)."""

    def method(self, *args, **kwargs):
        return getattr(self.to_dask_array(), name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"The dask array's ``{name}`` of this view (lazy, as a layer's dask data was)."
    return method


for _name in DASK_METHODS - {"T"}:
    setattr(LazyView, _name, _on_dask_view(_name))
LazyView.T = property(lambda self: self.to_dask_array().T, doc="The transposed dask view.")
for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__and__", "__rand__",
    "__or__", "__ror__", "__xor__", "__rxor__", "__lshift__", "__rshift__", "__neg__", "__pos__", "__abs__",
    "__invert__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
):
    setattr(LazyView, _name, _on_dask_view(_name))
LazyView.__hash__ = object.__hash__  # a view is one object, as before __eq__ compared pixels
