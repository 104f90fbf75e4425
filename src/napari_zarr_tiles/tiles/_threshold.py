"""Thresholds from the histogram of a whole image, computed tile by tile.

The histogram is scikit-image's (``skimage.exposure.histogram``): one bin per integer value from the
image's minimum to its maximum for integer images, 256 bins over [min, max] for float images, so the
thresholds equal ``skimage.filters.threshold_*`` on the whole image. Otsu takes that histogram directly;
Li and the triangle method take only an image in scikit-image, so they are written here on the histogram,
following scikit-image's own steps. For a float image scikit-image's Li iterates on the pixels themselves:
so does ``li_threshold_of_pixels``, one pass over the tiles per step, started from the histogram's answer
(a 256-bin estimate put 0.1-1.4% of the pixels of Gaussian-smoothed sample images on the wrong side).
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

FLOAT_BINS = 256
# Integer images with a wider range than this are binned like float images: one bin per value would not fit.
MAX_INTEGER_BINS = 2**20
# Li's iteration on the pixels of a float image settles in a few passes from the histogram's estimate; a
# cycle between two masks, if one ever came, ends here.
LI_MOST_PASSES = 50


def whole_image_histogram(data: da.Array) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin centres of ``data``, tile by tile.

    8- and 16-bit integers: one pass, every value of the dtype counted per tile (``bincount``), then cut to
    [min, max]. Others: one pass for the range, one for the counts.
    """
    data = da.asarray(data)
    if data.dtype.kind in "iub" and data.dtype.itemsize <= 2:
        return _small_integer_histogram(data)
    # NaN and infinite pixels are left out, as scikit-image leaves them out of a threshold
    finite = da.where(da.isfinite(data), data, np.nan) if data.dtype.kind == "f" else data
    low, high = (value.item() for value in dask.compute(da.nanmin(finite), da.nanmax(finite)))
    if data.dtype.kind in "iu" and high - low < MAX_INTEGER_BINS:
        low, high = int(low), int(high)
        # one bin per integer, edges half-way between integers: exact for any value in range
        counts, _ = da.histogram(data, bins=high - low + 1, range=(low - 0.5, high + 0.5))
        return counts.compute(), np.arange(low, high + 1)
    edges = np.histogram_bin_edges(np.array([low, high], dtype=np.float64), bins=FLOAT_BINS, range=(low, high))
    counts, _ = da.histogram(data, bins=edges)
    return counts.compute(), (edges[:-1] + edges[1:]) / 2


def _small_integer_histogram(data: da.Array) -> tuple[np.ndarray, np.ndarray]:
    lowest = int(np.iinfo(data.dtype).min) if data.dtype.kind != "b" else 0
    values = 2 ** (8 * data.dtype.itemsize)

    def count(block: np.ndarray) -> np.ndarray:
        tally = np.bincount((block.astype(np.int32) - lowest).ravel(), minlength=values)
        return tally.reshape((1,) * (block.ndim - 1) + (values,))

    chunks = tuple((1,) * n for n in data.numblocks[:-1]) + ((values,) * data.numblocks[-1],)
    tallies = data.map_blocks(count, chunks=chunks, dtype=np.int64)
    per_column = tallies.sum(axis=tuple(range(data.ndim - 1))) if data.ndim > 1 else tallies
    counts = per_column.reshape(data.numblocks[-1], values).sum(axis=0).compute()
    present = np.flatnonzero(counts)
    first, last = present[0], present[-1]
    return counts[first:last + 1], np.arange(lowest + first, lowest + last + 1)


def whole_image_threshold(data: da.Array, method: str) -> float:
    counts, centers = whole_image_histogram(data)
    if method == "otsu":
        from skimage.filters import threshold_otsu

        return float(threshold_otsu(hist=(counts, centers)))
    if method == "li":
        estimate = li_threshold(counts, centers)
        return li_threshold_of_pixels(data, estimate) if data.dtype.kind == "f" else estimate
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


def li_threshold_of_pixels(data: da.Array, start: float) -> float:
    """Li's threshold of a float image iterated on its pixels, as scikit-image does, tile by tile from
    ``start`` (the histogram's estimate, near the end: two or three passes over the tiles rather than the
    dozen from the image's mean). Stops when a step no longer moves any pixel across the threshold, so the
    mask is the one at which Li's iteration rests (scikit-image stops within half the smallest gap between
    two pixel values of it, and may leave a few pixels on the other side)."""
    data = da.asarray(data).astype(np.float64)
    values = da.where(da.isfinite(data), data, np.nan)  # NaN is neither above nor at or below a threshold

    current, count_before = start, None
    for _ in range(LI_MOST_PASSES):
        above, below = values > current, values <= current
        count_above, total_above, count_below, total_below, lowest = dask.compute(
            da.count_nonzero(above), da.where(above, values, 0).sum(), da.count_nonzero(below),
            da.where(below, values, 0).sum(), da.nanmin(values),
        )
        if count_above in (count_before, 0) or count_below == 0:
            break
        # Li takes logarithms of means: of values from the image's minimum up, as scikit-image shifts them
        mean_above, mean_below = total_above / count_above - lowest, total_below / count_below - lowest
        if mean_below == 0:
            break
        count_before = count_above
        current = float((mean_below - mean_above) / (np.log(mean_below) - np.log(mean_above)) + lowest)
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
