"""Per-tile maps (tiles/_tile_maps.py, napari_zarr_tiles.tile_maps): object count by centroid, area fraction
and mean intensity per tile, against whole-image computations with scikit-image, and the layers' placement."""

import dask.array as da
import numpy as np
import pytest
import tifffile
from skimage.measure import label, regionprops

import napari_zarr_tiles
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles.tiles import tile_maps


@pytest.fixture(scope="module")
def labels_and_intensity(blobs):
    return label(blobs > 100), blobs  # 254 x 256: objects across tile borders and corners


def expected_maps(labels, intensity, tile):
    """The maps from the whole image: regionprops centroids, and each tile's pixels cut out one by one."""
    grid = [-(-n // t) for n, t in zip(labels.shape, tile)]
    counts = np.zeros(grid, int)
    for region in regionprops(labels):
        counts[tuple(int(np.floor(c + 0.5)) // t for c, t in zip(region.centroid, tile))] += 1
    fraction, mean = np.zeros(grid), np.full(grid, np.nan)
    for index in np.ndindex(*grid):
        cut = tuple(slice(i * t, (i + 1) * t) for i, t in zip(index, tile))
        objects = labels[cut] != 0
        fraction[index] = objects.sum() / objects.size  # a ragged edge tile: over the pixels it has
        if objects.any():
            mean[index] = intensity[cut][objects].mean()
    return counts, fraction, mean


@pytest.mark.parametrize(("tile", "chunks"), [((64, 64), (100, 90)), ((50, 70), (254, 256)), ((32, 256), (30, 40))])
def test_maps_equal_whole_image_computations(labels_and_intensity, tile, chunks):
    labels, intensity = labels_and_intensity
    maps = tile_maps(da.from_array(labels, chunks=chunks), da.from_array(intensity, chunks=chunks), tile=tile)
    counts, fraction, mean = expected_maps(labels, intensity, tile)
    assert list(maps) == ["object_count", "area_fraction", "mean_intensity"]
    np.testing.assert_array_equal(maps["object_count"][0], counts)
    assert maps["object_count"][0].sum() == labels.max()  # each object counted once
    np.testing.assert_allclose(maps["area_fraction"][0], fraction, rtol=1e-12)
    np.testing.assert_allclose(maps["mean_intensity"][0], mean, rtol=1e-12)


def test_without_intensity_there_is_no_mean_intensity_and_an_empty_tile_has_nan_mean(labels_and_intensity):
    labels, intensity = labels_and_intensity
    assert list(tile_maps(labels, tile=64)) == ["object_count", "area_fraction"]
    padded = np.pad(labels, ((0, 64), (0, 0)))  # a last row of empty tiles
    maps = tile_maps(padded, np.pad(intensity, ((0, 64), (0, 0))), tile=64)
    assert np.isnan(maps["mean_intensity"][0][-1]).all() and not maps["area_fraction"][0][-1].any()
    assert not maps["object_count"][0][-1].any()


def test_a_map_pixel_is_a_tile_wide_and_centred_on_the_tile(labels_and_intensity):
    labels, _ = labels_and_intensity
    maps = tile_maps(labels, tile=(64, 32), scale=(0.5, 2.0), translate=(10.0, -4.0))
    for values, scale, translate in maps.values():
        assert values.shape == (4, 8)
        assert scale == (32.0, 64.0)
        # map pixel (1, 2) covers pixels 64..127 and 64..95: its centre is at pixel (95.5, 79.5)
        centre = np.array(translate) + np.array(scale) * (1, 2)
        np.testing.assert_allclose(centre, (10.0 + 0.5 * 95.5, -4.0 + 2.0 * 79.5))


def test_the_python_api_gives_image_layers_lying_over_the_image(tmp_path, labels_and_intensity):
    labels, intensity = labels_and_intensity
    layers = napari_zarr_tiles.tile_maps(labels, intensity, tile=64, scale=(2.0, 2.0))
    assert [(layer[1]["name"], layer[2]) for layer in layers] == [
        ("object count", "image"), ("area fraction", "image"), ("mean intensity", "image")
    ]
    expected = tile_maps(labels, intensity, tile=64, scale=(2.0, 2.0))
    for (values, kwargs, _), (key, (map_values, scale, translate)) in zip(layers, expected.items()):
        np.testing.assert_array_equal(values, map_values)
        assert kwargs["scale"] == scale == (128.0, 128.0) and kwargs["translate"] == translate == (63.0, 63.0)
        assert kwargs["contrast_limits"][1] == np.nanmax(map_values)


def test_a_zarr_label_image_gives_its_own_scale(tmp_path, labels_and_intensity):
    labels, _ = labels_and_intensity
    tifffile.imwrite(tmp_path / "labels.tif", labels.astype(np.uint16))
    store = convert(tmp_path / "labels.tif", tmp_path / "labels.zarr", tile=64)
    layers = napari_zarr_tiles.tile_maps(store, tile=64)
    np.testing.assert_array_equal(layers[0][0], tile_maps(labels, tile=64)["object_count"][0])
    assert layers[0][1]["scale"] == (64.0, 64.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tile": 0}, "tile must be one size of at least 1"), ({"tile": (8, 8, 8)}, "per axis of the labels"),
     ({"intensity": np.zeros((3, 3))}, "must have the same shape")],
)
def test_bad_arguments_are_told_in_words(labels_and_intensity, kwargs, message):
    labels, _ = labels_and_intensity
    with pytest.raises(ValueError, match=message):
        tile_maps(labels, **kwargs)


def test_float_labels_are_refused():
    with pytest.raises(ValueError, match="labels must be integers"):
        tile_maps(np.zeros((4, 4)), tile=2)


def test_the_measure_command_writes_the_maps_as_one_image_lying_over_the_labels(tmp_path, labels_and_intensity, capsys):
    from napari_zarr_tiles import _cli
    from napari_zarr_tiles._reader import image_sources

    labels, intensity = labels_and_intensity
    tifffile.imwrite(tmp_path / "labels.tif", labels.astype(np.uint16))
    tifffile.imwrite(tmp_path / "intensity.tif", intensity)
    store = convert(tmp_path / "labels.tif", tmp_path / "labels.zarr", tile=64)
    maps_path = tmp_path / "maps.zarr"
    args = ["measure", store, "--intensity", str(tmp_path / "intensity.tif"), "--no-table", "--tile-maps",
            str(maps_path), "--map-tile", "50"]
    assert _cli.main(args) == 0
    assert f"wrote the per-tile maps to {maps_path}" in capsys.readouterr().out
    source, = image_sources(maps_path)
    expected = tile_maps(labels, intensity, tile=50)
    assert [channel.label for channel in source.channels] == ["object count", "area fraction", "mean intensity"]
    for channel, (values, scale, translate) in zip(source.levels[0][:], expected.values()):
        np.testing.assert_array_equal(channel, values)
        assert source.scale == (1.0, *scale) and source.translate == (0.0, *translate)
    # refused before any work: the maps exist, a tile of no pixels
    assert _cli.main(args) == 1
    assert f"{maps_path} exists; --overwrite replaces it" in capsys.readouterr().err
    assert _cli.main([*args[:-1], "0", "--overwrite"]) == 1
    assert "--map-tile must be at least 1 pixel, not 0" in capsys.readouterr().err
