"""Apply a registered filter lazily to a dask array with exact halos.

Each tile is extended by the filter's halo from its neighbours (``map_overlap`` with ``boundary="none"``),
and at the true image edge scipy's own ``mode`` applies, so the result equals the whole-image function for
any chunking, including chunks that do not divide the shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da

from ._filters import get_filter


def apply_filter(data: da.Array, name: str, *, spatial_axes: Sequence[int] | None = None, **params) -> da.Array:
    """The lazy result of filter ``name`` on the spatial axes of ``data`` (by default its last two)."""
    flt = get_filter(name)
    values = flt.checked(**params)
    data = da.asarray(data)
    spatial = list(spatial_axes) if spatial_axes is not None else list(range(max(0, data.ndim - 2), data.ndim))
    halo = flt.halo(**values)
    # Non-spatial axes (channel, time) are filtered one plane at a time: chunk them by 1, no halo.
    data = data.rechunk({axis: 1 for axis in range(data.ndim) if axis not in spatial})
    # A halo wider than a chunk would need more than the next neighbour: grow such chunks first; where the
    # halo spans the whole axis, the axis is one chunk and needs no halo at all.
    whole = [axis for axis in spatial if halo >= data.shape[axis]]
    grow = {axis: max(halo, data.chunksize[axis]) for axis in spatial if data.chunksize[axis] < halo}
    data = data.rechunk({**grow, **{axis: -1 for axis in whole}})
    depth = {axis: (halo if axis in spatial and axis not in whole else 0) for axis in range(data.ndim)}

    def run(tile):
        squeeze = tuple(axis for axis in range(tile.ndim) if axis not in spatial)
        plane = tile.squeeze(axis=squeeze) if squeeze else tile
        result = flt.function(plane, **values)
        return result.reshape(tile.shape)

    return data.map_overlap(run, depth=depth, boundary="none", dtype=flt.output_dtype(data.dtype))
