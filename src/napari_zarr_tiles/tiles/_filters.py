"""The filter registry: name -> tile function, its parameters, its halo as a function of them, its output dtype.

Tile functions are scipy's and scikit-image's own (OpenCV's where it gives their values, on planes or axis by axis),
applied to one tile grown by its halo; the halo is what the function reads beyond a pixel (gaussian:
``ceil(sigma * truncate)``; size-based: ``size // 2``; an opening: twice the footprint's radius), so the
tiled result equals the whole-image function.

Parameters that are lengths in pixels (sigma, size, radius) are given to tile functions per spatial axis:
on a coarser pyramid level each is divided by that axis's downsampling factor (``Filter.at_scale``), so a
preview on level k looks like level k of the full-resolution result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import ceil, inf

import numpy as np
from scipy import ndimage as ndi

TRUNCATE = 4.0  # scipy's default for Gaussian kernels


@contextmanager
def one_thread_per_tile() -> Iterator[None]:
    """OpenCV on one thread per call, while tiles are computed in parallel on every core.

    OpenCV splits each call across all cores by default; with every core already running a tile of its
    own, that only adds hand-offs (a saved gaussian took 0.35 s more CPU, 6% more time). OpenCV's setting is
    global to the process, so it is restored on exit.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


@dataclass(frozen=True)
class Parameter:
    name: str
    default: float | str
    minimum: float = -inf
    maximum: float = inf
    integer: bool = False
    length: bool = False  # a length in pixels: scaled per axis on coarser levels
    choices: tuple[str, ...] = ()
    used_when: tuple[str, str] | None = None  # (parameter, value): only then does this one matter
    doc: str = ""  # what it is, in a phrase: the typed functions' docstrings (napari_zarr_tiles.filters) show it

    def used(self, values: dict) -> bool:
        return self.used_when is None or values.get(self.used_when[0]) == self.used_when[1]


@dataclass(frozen=True)
class Filter:
    """One filter: how to run it on a tile, how far it reads beyond the tile, what it returns.

    ``statistic``, where given, computes values from the whole image before any tile runs (a threshold from
    the whole image's histogram): ``statistic(data, values) -> {parameter: value}``, parameters of the
    filter (named in ``computed``) that replace the given ones, so that the steps as run can be run again.
    """

    name: str
    function: Callable[..., np.ndarray]
    parameters: tuple[Parameter, ...]
    halo: Callable[..., float]
    output_dtype: Callable[[np.dtype], np.dtype]
    statistic: Callable[..., dict] | None = None
    labels: bool = False  # the result is a label image (a mask): shown as labels, saved with a label-safe pyramid
    doc: str = ""  # what it does, in a sentence: the first line of its typed function's docstring
    computed: tuple[str, ...] = ()  # parameters that ``statistic`` may compute (a threshold's value), always shown
    # A step whose result is not made tile by tile (label: ids merged across tiles): ``whole_image(level0,
    # values, spatial_axes, shapes) -> levels``, the lazy result at each pyramid level's shape, made from the
    # result of the steps before it at level 0. ``function`` is then the step on an array held in memory.
    whole_image: Callable[..., list] | None = None

    def checked(self, **params) -> dict:
        """``params`` completed with defaults and checked against the ranges, before any graph is built."""
        known = {parameter.name: parameter for parameter in self.parameters}
        unknown = set(params) - set(known)
        if unknown:
            raise ValueError(f"filter {self.name!r} has no parameter {sorted(unknown)}; it takes {sorted(known)}")
        values = {}
        for name, parameter in known.items():
            value = params.get(name, parameter.default)
            if parameter.choices:
                if value not in parameter.choices:
                    raise ValueError(f"{self.name}: {name} must be one of {', '.join(parameter.choices)}, got {value!r}")
            else:
                try:
                    number = float(value)  # numbers may come as text, from a command line
                except (TypeError, ValueError):
                    raise ValueError(f"{self.name}: {name} must be a number, got {value!r}") from None
                if parameter.integer and number != int(number):
                    raise ValueError(f"{self.name}: {name} must be a whole number, got {value}")
                value = int(number) if parameter.integer else number
                if not parameter.minimum <= value <= parameter.maximum:
                    raise ValueError(f"{self.name}: {name}={value} is outside [{parameter.minimum}, {parameter.maximum}]")
            values[name] = value
        return values

    def at_scale(self, values: dict, factors: Sequence[float]) -> dict:
        """``values`` for a level downsampled by ``factors`` (one per spatial axis): lengths become per-axis
        tuples, divided by the factor (whole numbers stay whole and at least 1)."""
        scaled = dict(values)
        for parameter in self.parameters:
            if parameter.length:
                per_axis = [values[parameter.name] / factor for factor in factors]
                scaled[parameter.name] = tuple(max(1, round(v)) for v in per_axis) if parameter.integer else tuple(per_axis)
        return scaled

    def halos(self, values: dict, ndim: int) -> list[int]:
        """The halo along each of ``ndim`` spatial axes for per-axis ``values`` (from ``at_scale``)."""
        lengths = {parameter.name for parameter in self.parameters if parameter.length}
        return [
            ceil(self.halo(**{k: (v[axis] if k in lengths else v) for k, v in values.items()})) for axis in range(ndim)
        ]


def _float32(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32)


def _same(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype)


def _mask(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.uint8)


def _gaussian(tile: np.ndarray, *, sigma) -> np.ndarray:
    """scipy's Gaussian (kernel radius ``int(truncate * sigma + 0.5)``, mode "reflect"), equal to it to float32
    rounding, by OpenCV's separable filter, five times faster than scipy's in 2D (OpenCV sums in float32, in
    an order that depends on its vector lanes; scipy in float64): in a volume, first along Z, then Y and X
    plane by plane. The one-axis passes of a Gaussian commute, so the order only moves the rounding."""
    import cv2

    tile = tile.astype(np.float32, copy=False)
    sigmas = (sigma,) * tile.ndim if np.isscalar(sigma) else tuple(sigma)
    kernels = [cv2.getGaussianKernel(2 * int(TRUNCATE * s + 0.5) + 1, s, cv2.CV_64F) for s in sigmas]
    if tile.ndim == 3:  # along Z: the volume seen as a Z x (Y * X) image, filtered down its columns
        flat = tile.reshape(tile.shape[0], -1)
        tile = cv2.sepFilter2D(flat, cv2.CV_32F, np.ones(1), kernels[0], borderType=cv2.BORDER_REFLECT).reshape(tile.shape)
    elif tile.ndim != 2:
        raise ValueError(f"a gaussian runs on 2 or 3 spatial axes, not {tile.ndim}")
    kernel_y, kernel_x = kernels[-2:]
    result = np.empty_like(tile)
    for index in np.ndindex(tile.shape[:-2]):
        # BORDER_REFLECT repeats the edge pixel (d c b a | a b c d), which is scipy's "reflect"
        cv2.sepFilter2D(tile[index], cv2.CV_32F, kernel_x, kernel_y, dst=result[index], borderType=cv2.BORDER_REFLECT)
    return result


def _mean(tile: np.ndarray, *, size) -> np.ndarray:
    """scipy's uniform filter; a window holding a NaN or an infinity gives NaN.

    scipy sums a running window, which carries a NaN (or inf - inf) on to the end of its row: of the tile,
    here, so the result would depend on the tiling. Non-finite pixels are counted as 0 and their windows
    marked NaN instead, as a Gaussian's would be.
    """
    may_hold_non_finite = tile.dtype.kind == "f"  # integers have none: no pass to look for them
    tile = tile.astype(np.float32, copy=False)
    finite = np.isfinite(tile) if may_hold_non_finite else None
    if finite is None or finite.all():
        return ndi.uniform_filter(tile, size=size)
    result = ndi.uniform_filter(np.where(finite, tile, np.float32(0)), size=size)
    result[ndi.maximum_filter(~finite, size=size)] = np.nan
    return result


def _laplace_of_gaussian(tile: np.ndarray, *, sigma) -> np.ndarray:
    return ndi.gaussian_laplace(tile.astype(np.float32, copy=False), sigma, truncate=TRUNCATE)


def _difference_of_gaussians(tile: np.ndarray, *, sigma_low, sigma_high) -> np.ndarray:
    tile = tile.astype(np.float32, copy=False)
    return _gaussian(tile, sigma=sigma_low) - _gaussian(tile, sigma=sigma_high)


def _sobel(tile: np.ndarray) -> np.ndarray:
    """Gradient magnitude: the Sobel derivatives along each axis, combined."""
    tile = tile.astype(np.float32, copy=False)
    return np.sqrt(sum(ndi.sobel(tile, axis=axis) ** 2 for axis in range(tile.ndim)))


def _size_filter(function, opencv_name: str):
    """A box-window filter: OpenCV's where it gives scipy's exact result, else scipy's.

    OpenCV's median, erosion and dilation are 10 to 70 times faster than scipy's and return the same
    values (order statistics: no arithmetic to round). OpenCV takes odd windows and, for the median, square
    ones on 2D planes, of 3 or 5 only for 16-bit and float images. A box's minimum or maximum is the same
    taken one axis after another, so on a volume erosion and dilation run on each plane, then along Z over
    the volume seen as a Z x (Y * X) image (ten times faster than scipy on an 80 x 272 x 272 tile). OpenCV
    has no "reflect" edge of scipy's kind: the tile is padded here with numpy's "symmetric" mode (scipy's
    "reflect") and cropped back.
    """

    def apply(tile: np.ndarray, *, size) -> np.ndarray:
        sizes = (size,) * tile.ndim if np.isscalar(size) else tuple(size)
        usable = (
            tile.ndim in (2, 3) and all(side % 2 == 1 for side in sizes) and max(sizes) > 1
            and tile.dtype in OPENCV_DTYPES[opencv_name]
            and (opencv_name != "median" or (
                tile.ndim == 2 and len(set(sizes)) == 1 and (tile.dtype == np.uint8 or sizes[0] <= 5)
            ))
        )
        if not usable:
            return function(tile, size=size)
        import cv2

        margins = [side // 2 for side in sizes]
        if opencv_name == "median":
            return _with_reflected_edges(tile, margins, lambda padded: cv2.medianBlur(padded, sizes[0]))
        operation = cv2.erode if opencv_name == "minimum" else cv2.dilate

        def box(padded: np.ndarray) -> np.ndarray:
            result = np.empty_like(padded)
            for index in np.ndindex(padded.shape[:-2]):
                operation(padded[index], np.ones(sizes[-2:], np.uint8), dst=result[index])
            if padded.ndim == 3 and sizes[0] > 1:
                down_z = result.reshape(padded.shape[0], -1)
                result = operation(down_z, np.ones((sizes[0], 1), np.uint8)).reshape(padded.shape)
            return result

        return _with_reflected_edges(tile, margins, box)

    return apply


def _with_reflected_edges(tile: np.ndarray, margins: Sequence[int], run: Callable) -> np.ndarray:
    """``run`` on ``tile`` padded by ``margins`` (one per axis) with numpy's "symmetric" mode, which is
    scipy's and scikit-image's "reflect", cropped back to the tile: OpenCV's own edges are not of that kind."""
    padded = np.pad(tile, [(m, m) for m in margins], mode="symmetric")
    return run(padded)[tuple(slice(m, m + n) for m, n in zip(margins, tile.shape))]


OPENCV_DTYPES = {
    "median": {np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)},
    "minimum": {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)},
    "maximum": {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)},
}


def ellipsoid_footprint(radii: Sequence[int]) -> np.ndarray:
    """A flat footprint of the given radius per axis: skimage's ``disk``/``ball`` when the radii are equal.

    Written out because a coarser level's radius can differ per axis (Z is not downsampled), which ``disk``
    and ``ball`` cannot express. Integer arithmetic keeps the boundary exact: x²/a² + y²/b² <= 1 as
    x²b² + y²a² <= a²b².
    """
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    product = int(np.prod([r * r for r in radii], dtype=np.int64))
    total = sum(grid.astype(np.int64) ** 2 * (product // (r * r)) for grid, r in zip(grids, radii))
    return (total <= product).astype(np.uint8)


def _white_tophat(tile: np.ndarray, *, radius) -> np.ndarray:
    """scikit-image's white top-hat (the image minus its opening) with a disk (ball) footprint; on 2D planes
    by OpenCV's erosion and dilation, forty times faster and equal value for value.

    The plane is padded once with numpy's "symmetric" mode (scikit-image's "reflect") by twice the radius:
    with a symmetric footprint, the erosion of the padded plane is the reflected erosion of the plane as far
    as the dilation then reads, so the opening equals scikit-image's, edges included.
    """
    radii = (radius,) * tile.ndim if np.isscalar(radius) else tuple(radius)
    footprint = ellipsoid_footprint(radii)
    if tile.ndim != 2 or tile.dtype not in OPENCV_DTYPES["minimum"]:
        from skimage.morphology import white_tophat

        return white_tophat(tile, footprint)
    import cv2

    opened = _with_reflected_edges(tile, [2 * r for r in radii], lambda padded: cv2.dilate(cv2.erode(padded, footprint), footprint))
    return tile - opened


def _threshold(tile: np.ndarray, *, method: str, value: float, polarity: str) -> np.ndarray:
    """1 where the pixel is above ``value`` ("brighter", scikit-image's ``image > threshold``), or at or below
    it ("darker": objects darker than their background); the two masks are complements, NaN in neither."""
    mask = tile > value if polarity == "brighter" else tile <= value
    return mask.astype(np.uint8)


def _threshold_statistic(data, values: dict) -> dict:
    """The threshold ``value`` computed by the chosen method from the whole image (none for "value")."""
    if values["method"] == "value":
        return {}
    from ._threshold import whole_image_threshold

    return {"value": whole_image_threshold(data, values["method"])}


def _label_levels(level0, values: dict, spatial_axes, shapes) -> list:
    from ._label import label_levels

    return label_levels(level0, connectivity=values["connectivity"], spatial_axes=spatial_axes, shapes=shapes)


def _label_in_memory(array: np.ndarray, *, connectivity: int) -> np.ndarray:
    from ._label import label_in_memory

    return label_in_memory(array, connectivity=connectivity)


def _voronoi_otsu_levels(level0, values: dict, spatial_axes, shapes) -> list:
    from ._split import voronoi_otsu_levels

    return voronoi_otsu_levels(level0, **values, spatial_axes=spatial_axes, shapes=shapes)


def _voronoi_otsu_in_memory(array: np.ndarray, *, spot_sigma: float, outline_sigma: float,
                            max_object_size: int) -> np.ndarray:
    from ._split import voronoi_otsu_in_memory

    return voronoi_otsu_in_memory(array, spot_sigma=spot_sigma, outline_sigma=outline_sigma)


SIZE = (Parameter("size", 3, 1, 101, integer=True, length=True, doc="side of the box, in pixels"),)
SIGMA = (Parameter("sigma", 2.0, 0.1, 100.0, length=True, doc="standard deviation of the Gaussian, in pixels"),)

FILTERS: dict[str, Filter] = {
    "gaussian": Filter(
        "gaussian", _gaussian, SIGMA, halo=lambda sigma: sigma * TRUNCATE, output_dtype=_float32,
        doc="Gaussian smoothing: scipy.ndimage.gaussian_filter (kernel truncated at 4 sigma, edges reflected).",
    ),
    "mean": Filter(
        "mean", _mean, SIZE, halo=lambda size: size // 2, output_dtype=_float32,
        doc="The mean over a box of side ``size``: scipy.ndimage.uniform_filter.",
    ),
    "median": Filter(
        "median", _size_filter(ndi.median_filter, "median"), SIZE, halo=lambda size: size // 2, output_dtype=_same,
        doc="The median over a box of side ``size``: scipy.ndimage.median_filter.",
    ),
    "minimum": Filter(
        "minimum", _size_filter(ndi.minimum_filter, "minimum"), SIZE, halo=lambda size: size // 2, output_dtype=_same,
        doc="The minimum over a box of side ``size`` (a grey erosion): scipy.ndimage.minimum_filter.",
    ),
    "maximum": Filter(
        "maximum", _size_filter(ndi.maximum_filter, "maximum"), SIZE, halo=lambda size: size // 2, output_dtype=_same,
        doc="The maximum over a box of side ``size`` (a grey dilation): scipy.ndimage.maximum_filter.",
    ),
    "white_tophat": Filter(
        "white_tophat", _white_tophat,
        (Parameter("radius", 10, 1, 100, integer=True, length=True, doc="radius of the disk (a ball in 3D), in pixels"),),
        # an opening is an erosion then a dilation, each reading ``radius`` beyond a pixel
        halo=lambda radius: 2 * radius, output_dtype=_same,
        doc="Background removal: the image minus its opening by a disk (a ball in 3D): skimage.morphology.white_tophat.",
    ),
    "difference_of_gaussians": Filter(
        "difference_of_gaussians", _difference_of_gaussians,
        (
            Parameter("sigma_low", 1.0, 0.1, 100.0, length=True, doc="standard deviation of the Gaussian kept, in pixels"),
            Parameter("sigma_high", 3.0, 0.1, 100.0, length=True,
                      doc="standard deviation of the Gaussian subtracted, in pixels"),
        ),
        halo=lambda sigma_low, sigma_high: max(sigma_low, sigma_high) * TRUNCATE, output_dtype=_float32,
        doc="Band-pass: the Gaussian of ``sigma_low`` minus the Gaussian of ``sigma_high``.",
    ),
    "laplace_of_gaussian": Filter(
        "laplace_of_gaussian", _laplace_of_gaussian, SIGMA, halo=lambda sigma: sigma * TRUNCATE, output_dtype=_float32,
        doc="The Laplacian of the Gaussian, for blobs and edges: scipy.ndimage.gaussian_laplace.",
    ),
    "sobel": Filter(
        "sobel", _sobel, (), halo=lambda: 1, output_dtype=_float32,
        doc="Gradient magnitude: the Sobel derivatives along each spatial axis (scipy.ndimage.sobel), combined.",
    ),
    "threshold": Filter(
        "threshold", _threshold,
        (
            Parameter("method", "otsu", choices=("otsu", "li", "triangle", "value"),
                      doc="how the threshold is found: by scikit-image's method on the whole image, or given as value"),
            Parameter("value", 0.0, used_when=("method", "value"),
                      doc="the threshold itself (with a method, the value it computed, as the result records it)"),
            Parameter("polarity", "brighter", choices=("brighter", "darker"),
                      doc="whether objects are brighter than the threshold (above it) or darker (at or below it)"),
        ),
        halo=lambda **values: 0, output_dtype=_mask, statistic=_threshold_statistic, labels=True, computed=("value",),
        doc="A mask, 1 where an object is: above (brighter) or below (darker) a threshold taken from the whole image.",
    ),
    # connectivity as scikit-image's: 1 (faces) to the number of spatial axes; 0 for all of them (its default)
    "label": Filter(
        "label", _label_in_memory,
        (Parameter("connectivity", 0, 0, 3, integer=True,
                   doc="neighbours joined, as scikit-image's label: 1 shares a face, up to ndim shares a corner; 0 is ndim"),),
        halo=lambda **values: 0,
        # the widest it can be: the result's own dtype is the narrowest that holds its count of objects
        output_dtype=lambda dtype: np.dtype(np.uint64), labels=True, whole_image=_label_levels,
        doc="Connected components of a mask (non-zero pixels), numbered 1..N as scikit-image numbers them, across tiles.",
    ),
    "voronoi_otsu": Filter(
        "voronoi_otsu", _voronoi_otsu_in_memory,
        (
            Parameter("spot_sigma", 2.0, 0.1, 100.0,
                      doc="standard deviation of the Gaussian whose local maxima are the seeds, in pixels"),
            Parameter("outline_sigma", 2.0, 0.1, 100.0,
                      doc="standard deviation of the Gaussian thresholded by Otsu's method for the mask, in pixels"),
            Parameter("max_object_size", 50, 1, 4096, integer=True,
                      doc="the largest object, in pixels along any axis, labelled exactly as on the whole image"),
        ),
        halo=lambda **values: 0,
        output_dtype=lambda dtype: np.dtype(np.uint64), labels=True, whole_image=_voronoi_otsu_levels,
        doc="Touching nuclei split (Voronoi-Otsu labelling): seeds at the smoothed image's maxima flood an Otsu "
            "mask, tile by tile; objects up to max_object_size equal the whole-image result.",
    ),
}


# What each filter does with NaN and infinite pixels (``napari-zarr-tiles filters`` shows it). Integer images
# have neither. Each is what the tile function does on the whole image, so tiling never changes it.
NAN_BEHAVIOUR: dict[str, str] = {
    "gaussian": "NaN or inf makes every pixel within 4 sigma NaN or infinite",
    "mean": "a window holding NaN or inf is NaN",
    "median": "NaN has no order: pixels within size/2 of a NaN are undefined (differ between float32 and float64)",
    "minimum": "NaN has no order: pixels within size/2 of a NaN are undefined; -inf spreads over its window",
    "maximum": "NaN has no order: pixels within size/2 of a NaN are undefined; inf spreads over its window",
    "white_tophat": "NaN has no order: pixels within 2 radius of a NaN are undefined",
    "difference_of_gaussians": "NaN or inf makes every pixel within 4 sigma_high NaN or infinite",
    "laplace_of_gaussian": "NaN or inf makes every pixel within 4 sigma NaN or infinite",
    "sobel": "NaN or inf makes its 3 x 3 neighbourhood NaN or infinite",
    "threshold": "NaN is in neither mask (0); the threshold is taken from the finite pixels; all NaN is an error",
    "label": "NaN and inf are non-zero, so foreground: threshold first to leave them out",
    "voronoi_otsu": "NaN or inf makes the smoothed images NaN within 4 sigma: out of the mask (0), no seed there",
}


def get_filter(name: str) -> Filter:
    try:
        return FILTERS[name]
    except KeyError:
        raise ValueError(f"unknown filter {name!r}; choose one of {', '.join(FILTERS)}") from None
