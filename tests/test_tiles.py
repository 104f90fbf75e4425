"""Filters applied tile by tile equal the whole-image scipy result, for any chunking (property-based)."""

import dask.array as da
import numpy as np
import pytest
import tifffile
from conftest import DATA, assert_same_result
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage import filters as skfilters
from skimage import measure, morphology
from test_split import whole_image_reference

import napari_zarr_tiles
from napari_zarr_tiles.tiles import FILTERS, total_halo
from napari_zarr_tiles.tiles._apply import map_with_halo, run_chain
from napari_zarr_tiles.tiles._cache import TileCache, cached
from napari_zarr_tiles.tiles._label import label_dtype
from napari_zarr_tiles.tiles._result import result_name

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
    "white_tophat": lambda image, radius: morphology.white_tophat(image, morphology.disk(radius)),
    "threshold": lambda image, method, value=0.0, polarity="brighter": _mask(
        image, value if method == "value" else getattr(skfilters, f"threshold_{method}")(image), polarity
    ),
    # scikit-image's ids, in the narrowest unsigned dtype that holds them (test_label.py tests it at length)
    "label": lambda image, connectivity: narrowest(measure.label(image != 0, connectivity=connectivity or None)),
    # the whole image's Voronoi-Otsu labels (test_split.py tests the tiling at length, on objects of known size)
    "voronoi_otsu": lambda image, spot_sigma, outline_sigma, max_object_size: narrowest(
        whole_image_reference(image, spot_sigma, outline_sigma)[0]
    ),
}


def _mask(image, threshold, polarity):
    """scikit-image's mask ``image > threshold``, or its complement for objects darker than their background."""
    brighter = image > threshold
    return (brighter if polarity == "brighter" else ~brighter).astype(np.uint8)


def narrowest(labels: np.ndarray) -> np.ndarray:
    return labels.astype(label_dtype(labels.max()))


@st.composite
def cases(draw):
    height, width = draw(st.integers(5, 60)), draw(st.integers(5, 60))
    chunks = (draw(st.integers(1, height)), draw(st.integers(1, width)))
    # voronoi_otsu: test_split.py, on images of objects of known size (and the known failure below)
    name = draw(st.sampled_from(sorted(set(WHOLE_IMAGE) - {"voronoi_otsu"})))
    if name in ("gaussian", "laplace_of_gaussian"):
        params = {"sigma": draw(st.floats(0.3, 4.0))}
    elif name == "difference_of_gaussians":
        params = {"sigma_low": draw(st.floats(0.3, 2.0)), "sigma_high": draw(st.floats(2.0, 4.0))}
    elif name == "sobel":
        params = {}
    elif name == "label":
        params = {"connectivity": draw(st.sampled_from([0, 1, 2]))}
    elif name == "voronoi_otsu":
        # regions of random noise have any size: a halo spanning the image makes every one exact
        params = {"spot_sigma": draw(st.floats(0.5, 3.0)), "outline_sigma": draw(st.floats(0.5, 3.0)),
                  "max_object_size": 60}
    elif name == "white_tophat":
        params = {"radius": draw(st.integers(1, 6))}
    elif name == "threshold":
        params = {"method": draw(st.sampled_from(["otsu", "li", "triangle", "value"]))}
        if params["method"] == "value":
            params["value"] = draw(st.floats(0, 4000))
        params["polarity"] = draw(st.sampled_from(["brighter", "darker"]))
    else:
        params = {"size": draw(st.integers(1, 9))}
    seed = draw(st.integers(0, 2**16))
    return (height, width), chunks, name, params, seed


@settings(max_examples=120, deadline=None)
@given(cases())
def test_tiled_result_equals_the_whole_image_function(case):
    shape, chunks, name, params, seed = case
    rng = np.random.default_rng(seed)
    # two populations, so that every threshold method has something to find
    image = np.where(rng.random(shape) < 0.3, rng.normal(3000, 300, shape), rng.normal(800, 200, shape))
    image = image.clip(0, 4095).astype(np.uint16)
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=chunks), name, **params).compute()
    expected = WHOLE_IMAGE[name](image, **params)
    assert_same_result(result, expected, magnitude=float(image.max()))
    # and the same function run on the whole image as one tile (bit for bit for integer results)
    whole = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=-1), name, **params).compute()
    assert_same_result(result, whole, magnitude=float(image.max()))


def test_voronoi_otsu_on_noise_in_one_pixel_tiles_equals_the_whole_image_result():
    # Found by the property test above; the halo (max_object_size 60) spans the whole 53 x 29 image. The
    # contract: the tiled split equals the engine's split of the whole image bit for bit, for any tiling; and
    # scikit-image's, given the same Otsu threshold. The threshold itself is that of the engine's smoothed
    # image, equal to scipy's to float32 rounding: on noise, where Otsu's criterion is as good at two
    # neighbouring bins, that rounding (here the range's ends, 0.0005 apart) may pick the other bin.
    rng = np.random.default_rng(143)
    shape = (53, 29)
    image = np.where(rng.random(shape) < 0.3, rng.normal(3000, 300, shape), rng.normal(800, 200, shape))
    image = image.clip(0, 4095).astype(np.uint16)
    params = {"spot_sigma": 2.0, "outline_sigma": 0.5996136519429919, "max_object_size": 60}
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(1, 1)), "voronoi_otsu", **params).compute()
    whole = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=-1), "voronoi_otsu", **params).compute()
    np.testing.assert_array_equal(result, whole)
    outline = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(1, 1)), "gaussian",
                                             sigma=params["outline_sigma"]).compute()
    threshold = skfilters.threshold_otsu(outline)
    labels, _, _ = whole_image_reference(image, params["spot_sigma"], params["outline_sigma"], threshold=threshold)
    np.testing.assert_array_equal(result, narrowest(labels))
    # scikit-image's own threshold, of scipy's smoothing, is the neighbouring bin: 5 pixels differ
    scipy_outline = ndi.gaussian_filter(image.astype(np.float32), params["outline_sigma"])
    bin_width = (scipy_outline.max() - scipy_outline.min()) / 256
    assert np.abs(outline - scipy_outline).max() < 1e-3
    assert skfilters.threshold_otsu(scipy_outline) - threshold == pytest.approx(bin_width, rel=1e-4)
    assert (result != WHOLE_IMAGE["voronoi_otsu"](image, **params)).sum() == 5


def test_map_with_halo_equals_dask_map_overlap_with_one_task_per_block():
    rng = np.random.default_rng(3)
    volume = da.from_array(rng.integers(0, 1000, (3, 23, 31), dtype=np.uint16), chunks=((1, 2), (9, 9, 5), (7, 11, 13)))
    depth = {0: 0, 1: 2, 2: 5}

    def weighted_sum(block):  # every pixel of the halo counts, unevenly
        return ndi.correlate(block.astype(np.float64), np.arange(1.0, 56.0).reshape(1, 5, 11), mode="nearest")

    ours = map_with_halo(weighted_sum, volume, depth, np.float64, name="weighted-sum-test")
    theirs = volume.map_overlap(weighted_sum, depth=depth, boundary="none", dtype=np.float64)
    np.testing.assert_array_equal(ours.compute(), theirs.compute())
    own_layer = ours.dask.layers[ours.name]
    assert len(own_layer) == np.prod(volume.numblocks)


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
    ("threshold", {"method": "isodata"}, "must be one of"),
])
def test_bad_parameters_are_refused_before_any_graph_is_built(name, params, message):
    with pytest.raises(ValueError, match=message):
        napari_zarr_tiles.apply_filter(da.zeros((10, 10)), name, **params)


def test_every_registered_filter_is_checked_here():
    # voronoi_otsu equals the whole-image result only for objects up to its max_object_size, which random
    # images do not respect: test_split.py checks it on images with objects of known size.
    assert set(FILTERS) == set(WHOLE_IMAGE) | {"voronoi_otsu"}


@pytest.mark.parametrize("method", ["otsu", "li", "triangle"])
def test_threshold_of_a_float_image_equals_scikit_images(method, blobs):
    image = ndi.gaussian_filter(blobs.astype(np.float32), 1.5)
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(37, 51)), "threshold", method=method).compute()
    threshold = getattr(skfilters, f"threshold_{method}")(image)
    np.testing.assert_array_equal(result, (image > threshold).astype(np.uint8))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_li_of_a_float_image_iterates_on_its_pixels_to_scikit_images_mask(sigma):
    # Gaussian, then Li: the classic segmentation, on a real image; NaN and infinite pixels left out
    cells = tifffile.imread(DATA / "hela-cells.tif")
    image = ndi.gaussian_filter(cells[..., 1].astype(np.float32), sigma)
    image[0, :3] = [np.nan, np.inf, -np.inf]
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(100, 130)), "threshold", method="li").compute()
    expected = image > skfilters.threshold_li(image)
    np.testing.assert_array_equal(result, expected.astype(np.uint8))


def test_napari_multiscale_data_and_any_sequence_of_levels_are_taken_as_levels(blobs):
    from napari.layers._multiscale_data import MultiScaleData

    levels = [da.from_array(blobs, chunks=64), da.from_array(blobs[::2, ::2], chunks=64)]
    for data in (MultiScaleData(levels), tuple(levels)):
        result = napari_zarr_tiles.apply_filter(data, "gaussian", sigma=2.0)
        assert isinstance(result, list) and [level.shape for level in result] == [blobs.shape, blobs[::2, ::2].shape]
        assert_same_result(result[1].compute(), ndi.gaussian_filter(blobs[::2, ::2].astype(np.float32), 1.0))


def test_a_chain_run_reports_its_computed_threshold_which_runs_again_to_the_same_mask():
    cells = tifffile.imread(DATA / "hela-cells.tif")[..., 1]
    lazy = da.from_array(cells, chunks=(100, 130))
    steps = [("threshold", {"method": "li", "polarity": "darker"})]
    data, run = run_chain(lazy, steps)
    expected = skfilters.threshold_li(cells)
    assert run == [("threshold", {"method": "li", "value": pytest.approx(expected), "polarity": "darker"})]
    assert result_name("hela", run) == f"hela threshold(method=li, value={expected:.6g}, polarity=darker)"
    np.testing.assert_array_equal(data.compute(), (cells <= expected).astype(np.uint8))
    np.testing.assert_array_equal(napari_zarr_tiles.apply_chain(lazy, run).compute(), data.compute())


def test_every_filter_says_what_it_does_with_nan_and_the_command_shows_it():
    from napari_zarr_tiles._cli import describe_filters
    from napari_zarr_tiles.tiles._filters import NAN_BEHAVIOUR

    assert set(NAN_BEHAVIOUR) == set(FILTERS)
    assert sum(line.strip().startswith("NaN: ") for line in describe_filters()) == len(FILTERS)


def test_a_nan_or_infinity_spoils_only_the_windows_of_a_mean_that_hold_it_whatever_the_tiling(blobs):
    image = blobs.astype(np.float32)
    image[100, 60], image[30, 200] = np.nan, np.inf
    tiled = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(37, 41)), "mean", size=5).compute()
    whole = napari_zarr_tiles.apply_filter(image, "mean", size=5).compute()
    np.testing.assert_array_equal(tiled, whole)
    spoiled = np.zeros(image.shape, bool)
    spoiled[98:103, 58:63] = spoiled[28:33, 198:203] = True
    np.testing.assert_array_equal(np.isnan(tiled), spoiled)  # scipy's running sum carried it to the row's end
    clean = image.copy()
    clean[~np.isfinite(clean)] = 0
    np.testing.assert_allclose(tiled[~spoiled], ndi.uniform_filter(clean, 5)[~spoiled], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("method", ["otsu", "li", "triangle"])
def test_a_threshold_of_a_constant_image_is_its_value_as_in_scikit_image(method, dtype):
    image = np.full((50, 60), 7, dtype)
    lazy = da.from_array(image, chunks=16)
    _, [(_, run)] = run_chain(lazy, [("threshold", {"method": method})])
    assert run["value"] == getattr(skfilters, f"threshold_{method}")(image) == 7
    darker = napari_zarr_tiles.apply_filter(lazy, "threshold", method=method, polarity="darker")
    assert darker.compute().all()


def test_a_threshold_of_an_image_with_no_finite_pixel_says_so():
    image = np.full((40, 40), np.nan, np.float32)
    image[0, 0] = np.inf
    with pytest.raises(ValueError, match="every pixel is NaN or infinite"):
        napari_zarr_tiles.apply_filter(da.from_array(image, chunks=16), "threshold", method="otsu")


def test_3d_filters_run_on_the_three_spatial_axes():
    volume = np.random.default_rng(1).integers(0, 255, (12, 30, 26), dtype=np.uint8)
    lazy = da.from_array(volume, chunks=(5, 11, 9))
    result = napari_zarr_tiles.apply_filter(lazy, "gaussian", spatial_axes=(0, 1, 2), sigma=1.2).compute()
    assert_same_result(result, ndi.gaussian_filter(volume.astype(np.float32), 1.2))
    # a sigma longer than the Z axis (the kernel reflects more than once) and one per axis (a preview level)
    for sigma in (3.0, (0.7, 2.0, 1.4)):
        result = FILTERS["gaussian"].function(volume, sigma=sigma)
        assert_same_result(result, ndi.gaussian_filter(volume.astype(np.float32), sigma))
    result = napari_zarr_tiles.apply_filter(lazy, "difference_of_gaussians", spatial_axes=(0, 1, 2), sigma_low=1,
                                            sigma_high=2).compute()
    volume32 = volume.astype(np.float32)
    expected = ndi.gaussian_filter(volume32, 1) - ndi.gaussian_filter(volume32, 2)
    assert_same_result(result, expected, magnitude=255)
    result = napari_zarr_tiles.apply_filter(lazy, "white_tophat", spatial_axes=(0, 1, 2), radius=2).compute()
    np.testing.assert_array_equal(result, morphology.white_tophat(volume, morphology.ball(2)))


def test_a_chain_equals_the_filters_applied_one_after_the_other(blobs):
    lazy = da.from_array(blobs, chunks=(40, 33))
    steps = [("median", {"size": 3}), ("mean", {"size": 5}), ("threshold", {"method": "otsu"})]
    result = napari_zarr_tiles.apply_chain(lazy, steps).compute()
    smoothed = ndi.uniform_filter(ndi.median_filter(blobs, size=3).astype(np.float32), 5)
    np.testing.assert_array_equal(result, (smoothed > skfilters.threshold_otsu(smoothed)).astype(np.uint8))
    assert total_halo(steps) == [1 + 2, 1 + 2]
    assert total_halo([("gaussian", {"sigma": 1.5}), ("white_tophat", {"radius": 4})]) == [6 + 8, 6 + 8]


def test_a_pyramid_gives_a_pyramid_each_level_from_its_own_level_with_scaled_lengths(blobs):
    levels = [blobs, blobs[::2, ::2], blobs[::4, ::4]]
    lazy = [da.from_array(level, chunks=32) for level in levels]
    result = napari_zarr_tiles.apply_filter(lazy, "gaussian", sigma=4.0)
    assert [level.shape for level in result] == [level.shape for level in levels]
    for factor, level, out in zip((1, 2, 4), levels, result):
        assert_same_result(out.compute(), ndi.gaussian_filter(level.astype(np.float32), 4.0 / factor))
    sizes = napari_zarr_tiles.apply_filter(lazy, "median", size=9)
    np.testing.assert_array_equal(sizes[2].compute(), ndi.median_filter(levels[2], size=2))  # 9 / 4 rounds to 2


def test_a_preview_threshold_comes_from_the_coarsest_level_and_the_full_one_from_level_0(blobs):
    levels = [blobs, blobs[::8, ::8]]
    lazy = [da.from_array(level, chunks=40) for level in levels]
    preview = napari_zarr_tiles.apply_filter(lazy, "threshold", preview=True, method="li")
    full = napari_zarr_tiles.apply_filter(lazy, "threshold", method="li")
    coarse, fine = skfilters.threshold_li(levels[1]), skfilters.threshold_li(blobs)
    assert coarse != fine
    np.testing.assert_array_equal(preview[0].compute(), (blobs > coarse).astype(np.uint8))
    np.testing.assert_array_equal(full[0].compute(), (blobs > fine).astype(np.uint8))
    np.testing.assert_array_equal(full[1].compute(), (levels[1] > fine).astype(np.uint8))


def test_cached_tiles_are_computed_once_and_the_budget_holds(blobs):
    calls = []

    def counting(block):
        calls.append(block.shape)
        return block.astype(np.float32) * 2

    source = da.from_array(blobs, chunks=64).map_blocks(counting, meta=np.empty((0, 0), np.float32))
    tile_bytes = 64 * 64 * 4
    cache = TileCache(budget=6 * tile_bytes)
    lazy = cached(source, cache)
    np.testing.assert_array_equal(lazy[:64, :128].compute(), blobs[:64, :128] * 2.0)  # two tiles
    np.testing.assert_array_equal(lazy[10:60, 70:100].compute(), blobs[10:60, 70:100] * 2.0)  # one of them again
    assert len(calls) == 2 and cache.hits == 1
    np.testing.assert_array_equal(lazy.compute(), blobs * 2.0)  # all 16 tiles: only 6 fit
    assert len(cache) == 6 and cache.nbytes <= cache.budget
    cache.budget = 2 * tile_bytes  # lowered: the least recently used go at once
    assert len(cache) == 2 and cache.nbytes == 2 * tile_bytes
    calls.clear()
    roomy = cached(source, TileCache(budget=16 * tile_bytes))
    roomy.compute(), roomy.compute()
    assert len(calls) == 16


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["median", "minimum", "maximum"])
def test_window_filters_equal_scipy_for_every_dtype_and_window(dtype, name):
    # OpenCV runs where it can (odd square windows, its dtypes), scipy elsewhere: the values never differ.
    image = (np.random.default_rng(3).random((37, 50)) * 1000).astype(dtype)
    lazy = da.from_array(image, chunks=(16, 21))
    for size in (2, 3, 5, 7):
        result = napari_zarr_tiles.apply_filter(lazy, name, size=size).compute()
        np.testing.assert_array_equal(result, WHOLE_IMAGE[name](image, size=size))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["minimum", "maximum", "median"])
def test_window_filters_on_volumes_equal_scipy(dtype, name):
    # minimum and maximum one axis after another by OpenCV, boxes of different sides included (a coarser
    # level's); the median of a volume by scipy
    volume = (np.random.default_rng(5).random((13, 30, 26)) * 1000).astype(dtype)
    lazy = da.from_array(volume, chunks=(6, 11, 9))
    whole_volume = {"minimum": ndi.minimum_filter, "maximum": ndi.maximum_filter, "median": ndi.median_filter}[name]
    for size in (2, 3, 5):
        result = napari_zarr_tiles.apply_filter(lazy, name, spatial_axes=(0, 1, 2), size=size).compute()
        np.testing.assert_array_equal(result, whole_volume(volume, size=size), err_msg=f"size {size}")
    for sizes in ((1, 3, 3), (5, 3, 1), (3, 5, 7)):  # per axis, as on a coarser level: the tile function
        result = FILTERS[name].function(volume, size=sizes)
        np.testing.assert_array_equal(result, whole_volume(volume, size=sizes), err_msg=f"sizes {sizes}")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_white_tophat_equals_scikit_image_for_every_dtype(dtype):
    # OpenCV's erosion and dilation on its dtypes, scikit-image's on the others: the values never differ.
    image = (np.random.default_rng(4).random((45, 38)) * 1000).astype(dtype)
    lazy = da.from_array(image, chunks=(20, 17))
    for radius in (1, 3, 6):
        result = napari_zarr_tiles.apply_filter(lazy, "white_tophat", radius=radius).compute()
        np.testing.assert_array_equal(result, WHOLE_IMAGE["white_tophat"](image, radius=radius))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32])
def test_the_whole_image_histogram_is_scikit_images(dtype):
    from skimage.exposure import histogram

    from napari_zarr_tiles.tiles._threshold import whole_image_histogram

    rng = np.random.default_rng(8)
    image = (rng.normal(0, 40, (50, 70)) + (0 if np.dtype(dtype).kind == "i" else 300)).astype(dtype)
    counts, centers = whole_image_histogram(da.from_array(image, chunks=(13, 29)))
    expected_counts, expected_centers = histogram(image, source_range="image")
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(centers, expected_centers, rtol=1e-6)


@pytest.mark.parametrize("name", ["median", "minimum", "maximum", "white_tophat"])
def test_rank_filters_take_float16_images_and_give_float16_back(name, blobs):
    # neither scipy's rank filters nor OpenCV have float16 kernels: computed in float32, where float16 is exact
    image = (blobs.astype(np.float16) / 7).astype(np.float16)
    params = {"radius": 3} if name == "white_tophat" else {"size": 3}
    result = napari_zarr_tiles.apply_filter(da.from_array(image, chunks=(60, 70)), name, **params).compute()
    reference = WHOLE_IMAGE[name](image.astype(np.float32), **params).astype(np.float16)
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result, reference)
