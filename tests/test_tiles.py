"""Filters applied tile by tile equal the whole-image scipy result, for any chunking (property-based)."""

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import napari_zarr_tiles
from napari_zarr_tiles.tiles._filters import FILTERS

WHOLE_IMAGE = {
    "gaussian": lambda image, sigma: ndi.gaussian_filter(image.astype(np.float32), sigma),
    "median": lambda image, size: ndi.median_filter(image, size=size),
    "minimum": lambda image, size: ndi.minimum_filter(image, size=size),
    "maximum": lambda image, size: ndi.maximum_filter(image, size=size),
    "mean": lambda image, size: ndi.uniform_filter(image.astype(np.float32), size=size),
    "laplace_of_gaussian": lambda image, sigma: ndi.gaussian_laplace(image.astype(np.float32), sigma),
    "difference_of_gaussians": lambda image, sigma_low, sigma_high: (
        ndi.gaussian_filter(image.astype(np.float32), sigma_low) - ndi.gaussian_filter(image.astype(np.float32), sigma_high)
    ),
    "sobel": lambda image: np.sqrt(ndi.sobel(image.astype(np.float32), 0) ** 2 + ndi.sobel(image.astype(np.float32), 1) ** 2),
}


@st.composite
def cases(draw):
    height, width = draw(st.integers(5, 60)), draw(st.integers(5, 60))
    chunks = (draw(st.integers(1, height)), draw(st.integers(1, width)))
    name = draw(st.sampled_from(sorted(WHOLE_IMAGE)))
    if name in ("gaussian", "laplace_of_gaussian"):
        params = {"sigma": draw(st.floats(0.3, 4.0))}
    elif name == "difference_of_gaussians":
        params = {"sigma_low": draw(st.floats(0.3, 2.0)), "sigma_high": draw(st.floats(2.0, 4.0))}
    elif name == "sobel":
        params = {}
    else:
        params = {"size": draw(st.integers(1, 9))}
    seed = draw(st.integers(0, 2**16))
    return (height, width), chunks, name, params, seed


@settings(max_examples=120, deadline=None)
@given(cases())
def test_tiled_result_equals_the_whole_image_function(case):
    shape, chunks, name, params, seed = case
    image = np.random.default_rng(seed).integers(0, 4000, shape, dtype=np.uint16)
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=chunks), name, **params).compute()
    expected = WHOLE_IMAGE[name](image, **params)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)  # bit for bit, float32 included


def test_channel_axis_is_left_alone(blobs):
    stack = np.stack([blobs, 255 - blobs])
    result = napari_zarr_tiles.apply_filter(da.from_array(stack, chunks=(2, 100, 100)), "maximum", size=5).compute()
    for channel in range(2):
        np.testing.assert_array_equal(result[channel], ndi.maximum_filter(stack[channel], size=5))


@pytest.mark.parametrize(("name", "params", "message"), [
    ("gaussian", {"sigma": -1}, "outside"),
    ("median", {"size": 2.5}, "whole number"),
    ("median", {"radius": 3}, "no parameter"),
    ("blur", {}, "unknown filter"),
])
def test_bad_parameters_are_refused_before_any_graph_is_built(name, params, message):
    with pytest.raises(ValueError, match=message):
        napari_zarr_tiles.apply_filter(da.zeros((10, 10)), name, **params)


def test_every_registered_filter_is_checked_here():
    assert set(FILTERS) == set(WHOLE_IMAGE)
