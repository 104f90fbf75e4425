"""Thresholds from the histogram of a whole image, computed tile by tile.

The histogram is scikit-image's (``skimage.exposure.histogram``): one bin per integer value from the
image's minimum to its maximum for integer images, 256 bins over [min, max] for float images, so the
thresholds equal ``skimage.filters.threshold_*`` on the whole image. Otsu takes that histogram directly;
Li and the triangle method take only an image in scikit-image, so they are written here on the histogram,
following scikit-image's own steps. For a float image scikit-image's Li iterates on the pixels themselves:
so does ``li_threshold_of_pixels``, in three passes over the tiles (the 256-bin histogram's answer put
0.1-1.4% of the pixels of Gaussian-smoothed sample images on the wrong side).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import dask
import dask.array as da
import numpy as np

FLOAT_BINS = 256
# Integer images with a wider range than this are binned like float images: one bin per value would not fit.
MAX_INTEGER_BINS = 2**20
# Li on a float image (li_threshold_of_pixels): the fine histogram's bins, the bins either side of its
# answer whose pixels are read whole, and the most steps (a cycle between two masks, if one came, ends).
LI_BINS = 2**16
LI_WINDOW_BINS = 4
LI_MOST_STEPS = 1000


def whole_image_histogram(data: da.Array) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin centres of ``data``, tile by tile.

    8- and 16-bit integers: one pass, every value of the dtype counted per tile (``bincount``), then cut to
    [min, max]. Others: one pass for the range, one for the counts.
    """
    data = da.asarray(data)
    if data.dtype.kind in "iub" and data.dtype.itemsize <= 2:
        return _small_integer_histogram(data)
    low, high = _finite_range(data)
    if data.dtype.kind in "iu" and high - low < MAX_INTEGER_BINS:
        low, high = int(low), int(high)
        # one bin per integer, edges half-way between integers: exact for any value in range
        counts, _ = da.histogram(data, bins=high - low + 1, range=(low - 0.5, high + 0.5))
        return counts.compute(), np.arange(low, high + 1)
    if low == high:  # one value: one bin centred on it (numpy would spread 256 bins over [low - 0.5, low + 0.5])
        edges = np.array([low - 0.5, low + 0.5])
    else:
        edges = np.histogram_bin_edges(np.array([low, high], dtype=np.float64), bins=FLOAT_BINS, range=(low, high))
    counts, _ = da.histogram(data, bins=edges)
    return counts.compute(), (edges[:-1] + edges[1:]) / 2


def _small_integer_histogram(data: da.Array) -> tuple[np.ndarray, np.ndarray]:
    lowest = int(np.iinfo(data.dtype).min) if data.dtype.kind != "b" else 0
    counts = _summed_per_block(data, _tally, lowest, 2 ** (8 * data.dtype.itemsize))
    present = np.flatnonzero(counts)
    first, last = present[0], present[-1]
    return counts[first:last + 1], np.arange(lowest + first, lowest + last + 1)


def _tally(block: np.ndarray, lowest: int, values: int) -> np.ndarray:
    return np.bincount((block.astype(np.int32) - lowest).ravel(), minlength=values)


def whole_image_threshold(data: da.Array, method: str) -> float:
    if method == "li" and data.dtype.kind == "f":
        return li_threshold_of_pixels(data)
    counts, centers = whole_image_histogram(data)
    if len(counts) == 1:  # a constant image: scikit-image returns its value, whatever the method
        return float(centers[0])
    if method == "otsu":
        from skimage.filters import threshold_otsu

        return float(threshold_otsu(hist=(counts, centers)))
    if method == "li":
        return li_threshold(counts, centers)
    if method == "triangle":
        return triangle_threshold(counts, centers)
    raise ValueError(f"unknown threshold method {method!r}; choose otsu, li or triangle")


def li_threshold(counts: np.ndarray, centers: np.ndarray) -> float:
    """Li's minimum cross-entropy threshold, iterated on a histogram (Li & Tam 1998)."""
    offset = centers[0]
    centers = centers - offset  # Li's method takes logarithms of means: work on values from 0 up
    weights = counts.astype(np.float32)
    tolerance = 0.5 if np.issubdtype(centers.dtype, np.integer) else np.min(np.diff(centers)) / 2
    current, following = -2 * tolerance, np.average(centers, weights=counts)
    while abs(following - current) > tolerance:
        current = following
        above = centers > current
        mean_above = np.average(centers[above], weights=weights[above])
        mean_below = np.average(centers[~above], weights=weights[~above])
        if mean_below == 0:
            break
        following = (mean_below - mean_above) / (np.log(mean_below) - np.log(mean_above))
    return float(following + offset)


def li_threshold_of_pixels(data: da.Array) -> float:
    """Li's threshold of a float image iterated on its pixels, as scikit-image does, in three passes over
    the tiles whatever the number of steps (Li's iteration creeps: 15 steps on the benchmark image).

    A fine histogram keeps each bin's count and sum: Li's iteration on it, from the image's mean, ends
    within a bin or two of where it ends on the pixels. The pixels in a few bins around that end are then
    read whole, those below and above only counted and summed: on these the iteration runs exactly, in
    memory, until a step moves no pixel across the threshold (widening the window should it leave it).
    scikit-image stops within half the smallest gap between two pixel values of that end, so its mask can
    differ by the few pixels in between.
    """
    data = da.asarray(data)
    lowest, highest = _finite_range(data)
    if lowest == highest:
        return lowest
    counts, sums = np.split(_summed_per_block(data, _binned, lowest, highest), 2)
    filled = counts > 0
    estimate = _li_iterate(_groups_split(counts[filled], sums[filled]), lowest, float(sums.sum() / counts.sum()))
    half_width = LI_WINDOW_BINS * (highest - lowest) / LI_BINS
    while True:
        low, high = estimate - half_width, estimate + half_width
        parts = dask.compute(*[dask.delayed(_split_window)(block, low, high) for block in data.to_delayed().ravel()])
        below = (sum(part[0] for part in parts), sum(part[1] for part in parts))
        above = (sum(part[2] for part in parts), sum(part[3] for part in parts))
        split = _window_split(np.concatenate([part[4] for part in parts]), below, above)
        threshold = _li_iterate(split, lowest, estimate, low, high)
        if low <= threshold <= high:
            return threshold
        estimate, half_width = threshold, 8 * half_width  # it left the window: read a wider one around it


def _finite_range(data: da.Array) -> tuple:
    """The smallest and largest value of ``data``, tile by tile; NaN and infinite pixels are left out, as
    scikit-image leaves them out of a threshold."""
    finite = da.where(da.isfinite(data), data, np.nan) if data.dtype.kind == "f" else data
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": said below in words
        low, high = dask.compute(da.nanmin(finite), da.nanmax(finite))
    if np.isnan(low):
        raise ValueError("threshold: every pixel is NaN or infinite; there are no values to take a threshold from")
    return low.item(), high.item()


def _finite_values(block: np.ndarray) -> np.ndarray:
    return block[np.isfinite(block)].astype(np.float64, copy=False)


def _binned(block: np.ndarray, lowest: float, highest: float) -> np.ndarray:
    """Each of LI_BINS even bins' count and sum of the block's pixels, one after the other."""
    values = _finite_values(block)
    counts, _ = np.histogram(values, bins=LI_BINS, range=(lowest, highest))
    sums, _ = np.histogram(values, bins=LI_BINS, range=(lowest, highest), weights=values)
    return np.concatenate([counts, sums])


def _summed_per_block(data: da.Array, function, *args) -> np.ndarray:
    """The sum over the blocks of ``function(block, *args)``, a 1D array of the same length for every
    block, tile by tile (a tree of sums: only a few blocks' results are held at once)."""
    sample = function(np.zeros((1,) * data.ndim, data.dtype), *args)
    length = len(sample)

    def per_block(block: np.ndarray) -> np.ndarray:
        return function(block, *args).reshape((1,) * (block.ndim - 1) + (length,))

    chunks = tuple((1,) * n for n in data.numblocks[:-1]) + ((length,) * data.numblocks[-1],)
    per_column = data.map_blocks(per_block, chunks=chunks, dtype=sample.dtype)
    summed = per_column.sum(axis=tuple(range(data.ndim - 1))) if data.ndim > 1 else per_column
    return summed.reshape(data.numblocks[-1], length).sum(axis=0).compute()


def _split_window(block: np.ndarray, low: float, high: float) -> tuple[int, float, int, float, np.ndarray]:
    """The count and sum of the block's pixels at or below ``low`` and above ``high``, and those between."""
    values = _finite_values(block)
    below, above = values <= low, values > high
    inside = values[~below & ~above]
    return int(below.sum()), float(values[below].sum()), int(above.sum()), float(values[above].sum()), inside


Split = Callable[[float], tuple[int, float, int, float]]  # t -> count and sum above t, count and sum at or below


def _groups_split(counts: np.ndarray, sums: np.ndarray) -> Split:
    """Groups of pixels (histogram bins) by their counts and sums, each on the side of ``t`` of its mean."""
    means = sums / counts

    def split(t: float) -> tuple[int, float, int, float]:
        above = means > t
        return int(counts[above].sum()), float(sums[above].sum()), int(counts[~above].sum()), float(sums[~above].sum())

    return split


def _window_split(inside: np.ndarray, below: tuple[int, float], above: tuple[int, float]) -> Split:
    """The pixel values ``inside`` a window, each on its side of ``t``, and the count and sum of those
    ``below`` and ``above`` it."""
    window = np.sort(inside)
    totals = np.concatenate([[0.0], np.cumsum(window)])

    def split(t: float) -> tuple[int, float, int, float]:
        k = int(np.searchsorted(window, t, side="right"))  # window values at or below t
        return above[0] + len(window) - k, above[1] + totals[-1] - totals[k], below[0] + k, below[1] + totals[k]

    return split


def _li_iterate(split: Split, lowest: float, start: float, low: float = -np.inf, high: float = np.inf) -> float:
    """Li's step t <- (m_b - m_a) / (log m_b - log m_a), the means m taken from ``lowest`` up (Li takes
    logarithms), from ``start`` until a step moves nothing across (or leaves [low, high])."""
    current, count_before = start, None
    for _ in range(LI_MOST_STEPS):
        count_above, sum_above, count_below, sum_below = split(current)
        if count_above in (count_before, 0) or count_below == 0:
            break
        mean_above, mean_below = sum_above / count_above - lowest, sum_below / count_below - lowest
        if mean_below <= 0:
            break
        count_before = count_above
        current = float((mean_below - mean_above) / (np.log(mean_below) - np.log(mean_above)) + lowest)
        if not low <= current <= high:
            break
    return current


def triangle_threshold(counts: np.ndarray, centers: np.ndarray) -> float:
    """Zack's triangle threshold: the bin farthest from the line joining the peak to the end of the longer tail."""
    present = np.flatnonzero(counts)
    low, high = present[0], present[-1]
    if low == high:  # a constant image
        return float(centers[low])
    peak = int(np.argmax(counts))
    reverse = peak - low < high - peak  # the longer tail is above the peak: walk the histogram backwards
    heights = counts[::-1] if reverse else counts
    start = len(counts) - 1 - high if reverse else low
    apex = len(counts) - 1 - peak if reverse else peak
    run = np.arange(apex - start)
    rise = heights[apex]
    # Distance (up to a constant factor) of each bin below the line from (start, 0) to (apex, rise).
    distance = rise * run - (apex - start) * heights[start + run].astype(np.float64)
    chosen = start + int(np.argmax(distance))
    return float(centers[len(counts) - 1 - chosen if reverse else chosen])
