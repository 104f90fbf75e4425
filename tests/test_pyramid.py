import dask.array as da
import numpy as np
import pytest

from napari_zarr_tiles._pyramid import downsample, downsample_block, lazy_levels


def reference_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Box means by brute force, edge boxes averaging only the pixels they hold."""
    rows, cols = -(-image.shape[0] // factor), -(-image.shape[1] // factor)
    out = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            out[r, c] = image[r * factor : (r + 1) * factor, c * factor : (c + 1) * factor].mean()
    return out


def round_half_up(values: np.ndarray, dtype) -> np.ndarray:
    return np.floor(values + 0.5).astype(dtype)


@pytest.mark.parametrize("shape", [(101, 77), (252, 256)])  # ragged boxes at the edge, and none
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_block_mean_on_ragged_edges(blobs, factor, shape):
    image = blobs[: shape[0], : shape[1]]
    result = downsample_block(image, (factor, factor))
    assert result.dtype == image.dtype
    np.testing.assert_array_equal(result, round_half_up(reference_mean(image, factor), image.dtype))


def test_labels_keep_their_values(maize_labels):
    result = downsample_block(maize_labels, (4, 4), labels=True)
    assert set(np.unique(result)) <= set(np.unique(maize_labels))
    np.testing.assert_array_equal(result, maize_labels[::4, ::4])


@pytest.mark.parametrize("chunks", [(100, 100), (37, 61), (254, 256)])
def test_lazy_level_equals_whole_image_reduction_for_any_chunking(blobs, chunks):
    reduced = downsample(da.from_array(blobs, chunks=chunks), (4, 4)).compute()
    np.testing.assert_array_equal(reduced, round_half_up(reference_mean(blobs, 4), blobs.dtype))


def test_overview_levels_read_from_the_overview_source_give_the_same_pixels(blobs):
    fine = da.from_array(blobs, chunks=(64, 64))
    levels = lazy_levels(fine, [0, 1], coarsest=32, overview_source=da.from_array(blobs, chunks=(128, 128)))
    assert levels[2].chunks[0][0] == 32  # 128-pixel tasks reduced by 4
    for index, level in enumerate(levels[1:], start=1):
        np.testing.assert_array_equal(level.compute(), downsample_block(blobs, (2**index, 2**index)))


def test_lazy_levels_stop_at_the_coarsest_size():
    image = da.zeros((3, 5000, 3000), dtype="u2", chunks=(1, 1024, 1024))
    levels = lazy_levels(image, [1, 2], coarsest=1024)
    assert [level.shape for level in levels] == [(3, 5000, 3000), (3, 2500, 1500), (3, 1250, 750), (3, 625, 375)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32, np.int32])
@pytest.mark.parametrize("factors", [(16, 16), (256, 256), (4, 64)])
def test_big_box_means_are_exact_at_the_extremes_of_the_dtype(dtype, factors):
    # sums kept in 32-bit integers where they fit: values at the dtype's limits must not overflow them
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    block = rng.choice(np.array([info.min, info.max, info.max - 1], dtype=dtype), size=(512, 512))
    boxes = block.reshape(512 // factors[0], factors[0], 512 // factors[1], factors[1]).astype(object)
    count = factors[0] * factors[1]
    expected = ((boxes.sum(axis=(1, 3)) + count // 2) // count).astype(dtype)
    np.testing.assert_array_equal(downsample_block(block, factors), expected)


def test_float32_halvings_are_the_mean_to_float32_rounding_even_beyond_its_range():
    rng = np.random.default_rng(11)
    block = rng.normal(0, 1000, (64, 96)).astype(np.float32)
    expected = block.astype(np.float64).reshape(32, 2, 48, 2).mean(axis=(1, 3))
    result = downsample_block(block, (2, 2))
    assert result.dtype == np.float32
    # each float32 addition rounds to the size of its operands: within two float32 steps of the largest value
    np.testing.assert_allclose(result, expected, rtol=0, atol=2 * np.finfo(np.float32).eps * np.abs(block).max())
    # sums that overflow float32 (its largest values) still give their finite mean
    huge = np.full((4, 4), np.finfo(np.float32).max, dtype=np.float32)
    np.testing.assert_array_equal(downsample_block(huge, (2, 2)), np.full((2, 2), np.finfo(np.float32).max))
