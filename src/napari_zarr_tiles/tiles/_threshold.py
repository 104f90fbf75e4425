"""Thresholds from the histogram of a whole image, computed tile by tile.

The histogram is scikit-image's (``skimage.exposure.histogram``): one bin per integer value from the
image's minimum to its maximum for integer images, 256 bins over [min, max] for float images, so the
thresholds equal ``skimage.filters.threshold_*`` on the whole image. Otsu takes that histogram directly;
Li and the triangle method take only an image in scikit-image, so they are written here on the histogram,
following scikit-image's own steps (Li's iteration as in its integer-image branch: for a float image
scikit-image iterates on the pixels themselves, this on the 256-bin histogram, so the two can differ by
up to a bin's width).
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

FLOAT_BINS = 256
# Integer images with a wider range than this are binned like float images: one bin per value would not fit.
MAX_INTEGER_BINS = 2**20


def whole_image_histogram(data: da.Array) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin centres of ``data``, tile by tile.

    8- and 16-bit integers: one pass, every value of the dtype counted per tile (``bincount``), then cut to
    [min, max]. Others: one pass for the range, one for the counts.
    """
    data = da.asarray(data)
    if data.dtype.kind in "iub" and data.dtype.itemsize <= 2:
        return _small_integer_histogram(data)
    low, high = (value.item() for value in dask.compute(data.min(), data.max()))
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
