from itertools import pairwise

import numpy as np

from napari_zarr_tiles._pyramid import downsample_block
from napari_zarr_tiles._sample_data import big_synthetic
from napari_zarr_tiles._synthetic import render_tile, synthetic_pyramid


def test_big_synthetic_is_lazy_and_complete():
    [(levels, kwargs, layer_type)] = big_synthetic()
    assert layer_type == "image" and kwargs["multiscale"]
    assert levels[0].shape == (65536, 65536) and levels[-1].shape == (512, 512)
    assert all(level.shape[0] * 2 == previous.shape[0] for previous, level in pairwise(levels))


def test_synthetic_tiles_are_deterministic_and_levels_agree():
    levels = synthetic_pyramid()
    region = levels[0][30000:31024, 30000:31024].compute()
    np.testing.assert_array_equal(region, levels[0][30000:31024, 30000:31024].compute())
    np.testing.assert_array_equal(levels[0][29696:30208, 29696:30208].compute(), render_tile(0, 29696, 29696, (512, 512)))
    coarse = levels[2][7500:7756, 7500:7756].compute().astype(float)
    fine = downsample_block(levels[0][30000:31024, 30000:31024].compute(), (4, 4)).astype(float)
    # The same tissue at both levels: means agree within the noise.
    assert abs(coarse.mean() - fine.mean()) < 0.05 * fine.mean()
    assert region.std() > 20  # nuclei, not a flat field
