"""Touching nuclei split by Voronoi-Otsu labelling tile by tile (tiles/_split.py), against the whole-image
result computed here with scipy and scikit-image: equal for objects up to max_object_size, whatever the
tiling; larger ones still labelled."""

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import label
from skimage.morphology import local_maxima
from skimage.segmentation import watershed

from napari_zarr_tiles import _cli, apply_chain, apply_filter
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles.tiles import voronoi_otsu_levels
from napari_zarr_tiles.tiles._split import voronoi_otsu_in_memory


def nuclei(shape, count, radius, seed=0):
    """Bright round nuclei of at most ``radius``, half of them with a dimmer one touching, and noise."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    image = np.zeros(shape)
    for _ in range(count):
        centre, r = rng.uniform(0, shape), rng.uniform(0.6 * radius, radius)
        pair = [(centre, 200)]
        if rng.uniform() < 0.5:
            direction = rng.normal(size=len(shape))
            pair.append((centre + 1.6 * r * direction / np.linalg.norm(direction), 180))
        for at, brightness in pair:
            distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, at)))
            image = np.maximum(image, np.sqrt(np.clip(1 - distance / r, 0, None)) * brightness)
    return (image + rng.normal(0, 5, shape)).clip(0, 255).astype(np.uint8)


def whole_image_reference(image, spot_sigma=2.0, outline_sigma=2.0, threshold=None):
    """Voronoi-Otsu on the whole image: each mask pixel to the seed fewest steps away within the mask (across
    faces), ties to the seed met first in raster order; numbered in raster order of first pixels. Also the
    mask and napari-segment-blobs-and-things-with-membranes' watershed of it."""
    spots = ndi.gaussian_filter(image.astype(np.float32), spot_sigma)
    outline = ndi.gaussian_filter(image.astype(np.float32), outline_sigma)
    mask = outline > (threshold_otsu(outline) if threshold is None else threshold)
    seeds = label(local_maxima(spots) & mask)  # numbered in raster order of their first pixels
    cross = ndi.generate_binary_structure(image.ndim, 1)
    steps = np.full((seeds.max(), *image.shape), np.inf)
    for index in range(seeds.max()):
        reached, step = seeds == index + 1, 0
        steps[index][reached] = 0
        while (grown := ndi.binary_dilation(reached, cross, mask=mask)).sum() > reached.sum():
            step += 1
            steps[index][grown & ~reached] = step
            reached = grown
    nearest = np.argmin(steps, axis=0) + 1 if len(steps) else np.zeros(image.shape, int)
    regions = np.where(np.isfinite(steps.min(axis=0)) if len(steps) else False, nearest, 0)
    return raster_numbered(regions), mask, watershed(mask, seeds, mask=mask)


def raster_numbered(regions):
    flat = regions.ravel()
    at = np.flatnonzero(flat)
    ids, first = np.unique(flat[at], return_index=True)
    table = np.zeros(regions.max() + 1, np.int64)
    table[ids[np.argsort(first)]] = np.arange(1, len(ids) + 1)
    return table[regions]


def region_extents(mask):
    """The extent, along its widest axis, of each region of the mask (pixels joined across corners too),
    and the regions' slices."""
    regions, _ = ndi.label(mask, np.ones((3,) * mask.ndim))
    boxes = ndi.find_objects(regions)
    return np.array([max(s.stop - s.start for s in box) for box in boxes]), boxes, regions


def crosses_a_tile_corner(box, tile):
    return all(s.start // t != (s.stop - 1) // t for s, t in zip(box, tile))


@pytest.fixture(scope="module")
def image():
    return nuclei((300, 340), 40, 9)


@pytest.fixture(scope="module")
def reference(image):
    return whole_image_reference(image)


def test_the_reference_is_the_notebooks_watershed_but_for_its_ties(reference):
    labels, mask, notebooks = reference
    assert np.array_equal(labels > 0, mask) and np.array_equal(notebooks > 0, mask)
    # the same objects; a few pixels equally far from two seeds go the other way in the watershed's heap
    assert labels.max() == notebooks.max() > 40
    assert 0 < np.count_nonzero(raster_numbered(notebooks) != labels) < 0.001 * labels.size


@pytest.mark.parametrize("chunks", [(100, 130), (64, 64), (300, 77), (41, 340), (300, 340)])
def test_objects_up_to_the_stated_size_equal_the_whole_image_result(image, reference, chunks):
    labels, mask, _ = reference
    extents, boxes, _ = region_extents(mask)
    if chunks == (64, 64):  # objects cut by tile borders and tile corners
        assert any(crosses_a_tile_corner(box, chunks) for box in boxes)
    level0, = voronoi_otsu_levels(da.from_array(image, chunks=chunks), max_object_size=int(extents.max()),
                                  spatial_axes=(0, 1))
    result = level0.compute()
    np.testing.assert_array_equal(result, labels)
    assert result.dtype == np.uint8 and level0.chunks == da.from_array(image, chunks=chunks).chunks


def test_in_memory_and_the_registry_step_give_the_same_labels(image, reference):
    np.testing.assert_array_equal(voronoi_otsu_in_memory(image), reference[0])
    np.testing.assert_array_equal(
        apply_filter(da.from_array(image, chunks=(64, 64)), "voronoi_otsu", max_object_size=40).compute(), reference[0]
    )


def test_other_sigmas_still_equal_the_whole_image_result(image):
    labels, mask, _ = whole_image_reference(image, spot_sigma=3.0, outline_sigma=1.0)
    extents, _, _ = region_extents(mask)
    result = apply_filter(da.from_array(image, chunks=(70, 90)), "voronoi_otsu", spot_sigma=3.0, outline_sigma=1.0,
                          max_object_size=int(extents.max())).compute()
    np.testing.assert_array_equal(result, labels)


def test_objects_larger_than_the_stated_size_are_labelled_possibly_split_without_failing(image, reference):
    labels, mask, _ = reference
    extents, boxes, regions = region_extents(mask)
    stated = 12
    assert (extents > stated).any() and (extents <= stated).any()
    result = apply_filter(da.from_array(image, chunks=(32, 32)), "voronoi_otsu", max_object_size=stated).compute()
    assert not result[~mask].any()  # never outside the mask
    ids = np.unique(result[result > 0])
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))  # consecutive
    np.testing.assert_array_equal(raster_numbered(result), result)  # in raster order of first pixels
    for index, box in enumerate(boxes):
        region = regions[box] == index + 1
        if extents[index] <= stated:  # within the stated size: the whole image's object, pixel for pixel
            assert len(np.unique(labels[box][region])) == 1
            assert len(np.unique(result[box][region])) == 1 and result[box][region].all()
        else:  # larger: still labelled
            assert result[box][region].any()


def test_a_volume_of_touching_balls_equals_the_whole_image_result():
    volume = nuclei((40, 60, 56), 12, 7, seed=3)
    labels, mask, _ = whole_image_reference(volume)
    extents, boxes, _ = region_extents(mask)
    chunks = (16, 24, 20)
    assert labels.max() > 10 and any(crosses_a_tile_corner(box, chunks) for box in boxes)
    level0, = voronoi_otsu_levels(da.from_array(volume, chunks=chunks), max_object_size=int(extents.max()),
                                  spatial_axes=(0, 1, 2))
    np.testing.assert_array_equal(level0.compute(), labels)


def test_planes_along_time_are_split_each_on_their_own_numbered_from_one(image):
    stack = np.stack([image, image[::-1, ::-1]])
    outline = ndi.gaussian_filter(stack.astype(np.float32), (0, 2, 2))
    threshold = threshold_otsu(outline)  # Otsu's threshold from the whole image: both planes
    level0, = voronoi_otsu_levels(da.from_array(stack, chunks=(1, 100, 100)), max_object_size=40, spatial_axes=(1, 2))
    result = level0.compute()
    for plane, labels in zip(stack, result):
        np.testing.assert_array_equal(labels, whole_image_reference(plane, threshold=threshold)[0])


def test_an_image_without_objects_gives_no_labels():
    flat = np.full((50, 60), 7, np.uint8)
    result = apply_filter(da.from_array(flat, chunks=20), "voronoi_otsu", max_object_size=10).compute()
    assert result.shape == flat.shape and not result.any()


def test_the_process_command_splits_zarr_to_zarr_with_a_label_safe_pyramid(tmp_path, image, reference, capsys):
    big = np.tile(image, (2, 1))  # 600 x 340: the nuclei twice, one Otsu threshold over both
    tifffile.imwrite(tmp_path / "nuclei.tif", big)
    source = convert(tmp_path / "nuclei.tif", tmp_path / "nuclei.zarr", tile=64)
    target = tmp_path / "split.zarr"
    args = ["process", str(source), str(target), "voronoi_otsu", "spot_sigma=2", "outline_sigma=2",
            "max_object_size=40", "--chunks", "64"]
    assert _cli.main(args) == 0
    root = zarr.open_group(target, mode="r")
    expected = whole_image_reference(big)[0]
    np.testing.assert_array_equal(root["0"][:], expected)
    assert "image-label" in root.attrs
    np.testing.assert_array_equal(root["1"][:], expected[::2, ::2])
    assert _cli.main([*args[:-2], "max_object_size=0", "--overwrite"]) == 1
    assert "max_object_size" in capsys.readouterr().err


def test_a_local_cluster_splits_the_same_store_as_threads(tmp_path, image):
    from napari_zarr_tiles._jobs import cluster, process

    tifffile.imwrite(tmp_path / "nuclei.tif", image)
    source = convert(tmp_path / "nuclei.tif", tmp_path / "nuclei.zarr", tile=64)
    steps = [("voronoi_otsu", {"max_object_size": 40})]
    threaded = zarr.open_group(process(source, tmp_path / "threads.zarr", steps, tile=64), mode="r")
    with cluster(workers=2) as client:
        distributed = zarr.open_group(process(source, tmp_path / "cluster.zarr", steps, tile=64, client=client), mode="r")
    for level in ("0", "1"):
        np.testing.assert_array_equal(distributed[level][:], threaded[level][:])
    assert threaded["0"][:].max() > 40


def test_a_chain_smooths_then_splits_as_the_split_of_the_smoothed_image(image):
    smoothed = ndi.median_filter(image, 3)
    expected = whole_image_reference(smoothed)[0]
    result = apply_chain(da.from_array(image, chunks=(64, 64)),
                         [("median", {"size": 3}), ("voronoi_otsu", {"max_object_size": 40})]).compute()
    np.testing.assert_array_equal(result, expected)


def test_nan_pixels_are_out_of_the_mask_and_an_image_of_nothing_finite_is_refused_in_words(image):
    with_nan = image.astype(np.float32)
    with_nan[50:60, 50:70] = np.nan
    result = apply_filter(da.from_array(with_nan, chunks=64), "voronoi_otsu", max_object_size=40).compute()
    assert not result[50:60, 50:70].any() and result.max() > 40
    with pytest.raises(ValueError, match="every pixel is NaN or infinite"):
        apply_filter(da.from_array(np.full((50, 50), np.inf), chunks=20), "voronoi_otsu", max_object_size=10)


def test_tiles_split_again_give_the_same_labels_as_tiles_kept_from_the_first_pass(image, reference, monkeypatch):
    from napari_zarr_tiles.tiles import _label, _split

    splits = []
    seed_keys = _split._seed_keys
    monkeypatch.setattr(_split, "_seed_keys", lambda *args: splits.append(1) or seed_keys(*args))
    kept, = voronoi_otsu_levels(da.from_array(image, chunks=64), max_object_size=40, spatial_axes=(0, 1))
    first_pass = len(splits)
    np.testing.assert_array_equal(kept.compute(), reference[0])
    assert first_pass == 5 * 6 and len(splits) == first_pass  # every tile kept: none split again
    monkeypatch.setattr(_label, "FOREGROUND_BUDGET", 0)
    again, = voronoi_otsu_levels(da.from_array(image, chunks=64), max_object_size=40, spatial_axes=(0, 1))
    splits.clear()
    np.testing.assert_array_equal(again.compute(), reference[0])
    labelled_tiles = sum(reference[0][y:y + 64, x:x + 64].any() for y in range(0, 300, 64) for x in range(0, 340, 64))
    assert len(splits) == labelled_tiles > 20  # none kept but the empty ones: every other tile split again
