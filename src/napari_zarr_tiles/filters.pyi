# Generated from the filter registry (tiles/_filters.py) by `python -m napari_zarr_tiles.filters`: do not edit.
# It declares the functions napari_zarr_tiles.filters makes at import time, for editors and type checkers.
from collections.abc import Sequence
from typing import Literal

from dask.array import Array
from numpy.typing import ArrayLike

__all__ = [
    "difference_of_gaussians",
    "gaussian",
    "label",
    "laplace_of_gaussian",
    "maximum",
    "mean",
    "median",
    "minimum",
    "sobel",
    "threshold",
    "voronoi_otsu",
    "white_tophat",
]


def gaussian(
    data: ArrayLike | Sequence[ArrayLike],
    sigma: float = 2.0,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Gaussian smoothing: scipy.ndimage.gaussian_filter (kernel truncated at 4 sigma, edges reflected).

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    sigma : float, default 2.0
        Standard deviation of the Gaussian, in pixels. From 0.1 to 100. On a coarser pyramid level it is
        divided by that level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on gaussian, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (float32); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import gaussian
    >>> result = gaussian(image, sigma=2.0)
    """


def mean(
    data: ArrayLike | Sequence[ArrayLike],
    size: int = 3,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """The mean over a box of side ``size``: scipy.ndimage.uniform_filter.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    size : int, default 3
        Side of the box, in pixels. From 1 to 101. On a coarser pyramid level it is divided by that
        level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on mean, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (float32); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import mean
    >>> result = mean(image, size=3)
    """


def median(
    data: ArrayLike | Sequence[ArrayLike],
    size: int = 3,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """The median over a box of side ``size``: scipy.ndimage.median_filter.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    size : int, default 3
        Side of the box, in pixels. From 1 to 101. On a coarser pyramid level it is divided by that
        level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on median, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (the dtype of ``data``); for a pyramid, one per level, each computed from the
        same level of ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import median
    >>> result = median(image, size=3)
    """


def minimum(
    data: ArrayLike | Sequence[ArrayLike],
    size: int = 3,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """The minimum over a box of side ``size`` (a grey erosion): scipy.ndimage.minimum_filter.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    size : int, default 3
        Side of the box, in pixels. From 1 to 101. On a coarser pyramid level it is divided by that
        level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on minimum, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (the dtype of ``data``); for a pyramid, one per level, each computed from the
        same level of ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import minimum
    >>> result = minimum(image, size=3)
    """


def maximum(
    data: ArrayLike | Sequence[ArrayLike],
    size: int = 3,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """The maximum over a box of side ``size`` (a grey dilation): scipy.ndimage.maximum_filter.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    size : int, default 3
        Side of the box, in pixels. From 1 to 101. On a coarser pyramid level it is divided by that
        level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on maximum, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (the dtype of ``data``); for a pyramid, one per level, each computed from the
        same level of ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import maximum
    >>> result = maximum(image, size=3)
    """


def white_tophat(
    data: ArrayLike | Sequence[ArrayLike],
    radius: int = 10,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Background removal: the image minus its opening by a disk (a ball in 3D):
    skimage.morphology.white_tophat.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    radius : int, default 10
        Radius of the disk (a ball in 3D), in pixels. From 1 to 100. On a coarser pyramid level it is
        divided by that level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on white_tophat, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (the dtype of ``data``); for a pyramid, one per level, each computed from the
        same level of ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import white_tophat
    >>> result = white_tophat(image, radius=10)
    """


def difference_of_gaussians(
    data: ArrayLike | Sequence[ArrayLike],
    sigma_low: float = 1.0,
    sigma_high: float = 3.0,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Band-pass: the Gaussian of ``sigma_low`` minus the Gaussian of ``sigma_high``.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    sigma_low : float, default 1.0
        Standard deviation of the Gaussian kept, in pixels. From 0.1 to 100. On a coarser pyramid level
        it is divided by that level's downsampling.
    sigma_high : float, default 3.0
        Standard deviation of the Gaussian subtracted, in pixels. From 0.1 to 100. On a coarser pyramid
        level it is divided by that level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on difference_of_gaussians, which takes no whole-image statistic (as in
        ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (float32); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import difference_of_gaussians
    >>> result = difference_of_gaussians(image, sigma_low=1.0, sigma_high=3.0)
    """


def laplace_of_gaussian(
    data: ArrayLike | Sequence[ArrayLike],
    sigma: float = 2.0,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """The Laplacian of the Gaussian, for blobs and edges: scipy.ndimage.gaussian_laplace.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    sigma : float, default 2.0
        Standard deviation of the Gaussian, in pixels. From 0.1 to 100. On a coarser pyramid level it is
        divided by that level's downsampling.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on laplace_of_gaussian, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (float32); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import laplace_of_gaussian
    >>> result = laplace_of_gaussian(image, sigma=2.0)
    """


def sobel(
    data: ArrayLike | Sequence[ArrayLike],
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Gradient magnitude: the Sobel derivatives along each spatial axis (scipy.ndimage.sobel), combined.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on sobel, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (float32); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import sobel
    >>> result = sobel(image)
    """


def threshold(
    data: ArrayLike | Sequence[ArrayLike],
    method: Literal['otsu', 'li', 'triangle', 'value'] = 'otsu',
    value: float = 0.0,
    polarity: Literal['brighter', 'darker'] = 'brighter',
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """A mask, 1 where an object is: above (brighter) or below (darker) a threshold taken from the whole image.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    method : {'otsu', 'li', 'triangle', 'value'}, default 'otsu'
        How the threshold is found: by scikit-image's method on the whole image, or given as value.
    value : float, default 0.0
        The threshold itself (with a method, the value it computed, as the result records it). Used only
        when ``method='value'``.
    polarity : {'brighter', 'darker'}, default 'brighter'
        Whether objects are brighter than the threshold (above it) or darker (at or below it).
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        Take the whole-image statistic (the threshold) from the coarsest level of a pyramid rather than
        from level 0: quicker, for a preview.

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (uint8); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import threshold
    >>> result = threshold(image, method='otsu', polarity='brighter')
    """


def label(
    data: ArrayLike | Sequence[ArrayLike],
    connectivity: int = 0,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Connected components of a mask (non-zero pixels), numbered 1..N as scikit-image numbers them, across
    tiles.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    connectivity : int, default 0
        Neighbours joined, as scikit-image's label: 1 shares a face, up to ndim shares a corner; 0 is
        ndim. From 0 to 3.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on label, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (uint64); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import label
    >>> result = label(image, connectivity=0)
    """


def voronoi_otsu(
    data: ArrayLike | Sequence[ArrayLike],
    spot_sigma: float = 2.0,
    outline_sigma: float = 2.0,
    max_object_size: int = 50,
    *,
    spatial_axes: Sequence[int] | None = None,
    preview: bool = False,
) -> Array | list[Array]:
    """Touching nuclei split (Voronoi-Otsu labelling): seeds at the smoothed image's maxima flood an Otsu mask,
    tile by tile; objects up to max_object_size equal the whole-image result.

    Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the
    result equals the whole-image function for any chunking. Channel and time axes are filtered plane by
    plane.

    Parameters
    ----------
    data : array_like or list of array_like
        The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first.
    spot_sigma : float, default 2.0
        Standard deviation of the Gaussian whose local maxima are the seeds, in pixels. From 0.1 to 100.
    outline_sigma : float, default 2.0
        Standard deviation of the Gaussian thresholded by Otsu's method for the mask, in pixels. From
        0.1 to 100.
    max_object_size : int, default 50
        The largest object, in pixels along any axis, labelled exactly as on the whole image. From 1 to
        4096.
    spatial_axes : sequence of int, optional
        The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D.
    preview : bool, default False
        No effect on voronoi_otsu, which takes no whole-image statistic (as in ``apply_filter``).

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        The lazy result (uint64); for a pyramid, one per level, each computed from the same level of
        ``data`` with lengths scaled to it.

    Raises
    ------
    ValueError
        A parameter outside its range or choices, before any graph is built.

    See Also
    --------
    napari_zarr_tiles.apply_filter : The same filter by name.

    Examples
    --------
    >>> from napari_zarr_tiles.filters import voronoi_otsu
    >>> result = voronoi_otsu(image, spot_sigma=2.0, outline_sigma=2.0, max_object_size=50)
    """
