"""Object tables from per-tile sums: equal to scikit-image's regionprops_table, column by column."""

from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from conftest import CYX, YX, ome_group, write_ome_image
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import label as skimage_label
from skimage.measure import regionprops_table

import napari_zarr_tiles
from napari_zarr_tiles import _cli
from napari_zarr_tiles._errors import TargetExistsError, ZarrTilesError
from napari_zarr_tiles._jobs import cluster, process
from napari_zarr_tiles._reader import layer_data

PROPERTIES = ("label", "area", "centroid", "bbox")
INTENSITY = ("intensity_mean", "intensity_min", "intensity_max", "intensity_std")


def reference(labels: np.ndarray, intensity: np.ndarray | None = None) -> pd.DataFrame:
    properties = PROPERTIES + (INTENSITY if intensity is not None else ())
    return pd.DataFrame(regionprops_table(labels, intensity_image=intensity, properties=properties))


def assert_same_table(ours: pd.DataFrame, expected: pd.DataFrame, rtol: float = 1e-12) -> None:
    """Column by column: the same names in the same order and dtypes, equal values; the intensity's mean and
    standard deviation to ``rtol`` (scikit-image sums a float32 image in float32: pass 1e-6 for one)."""
    assert list(ours.columns[:len(expected.columns)]) == list(expected.columns)
    for column in expected.columns:
        assert ours[column].dtype == expected[column].dtype, column
        if column.split("-")[0] in ("intensity_mean", "intensity_std"):
            np.testing.assert_allclose(ours[column], expected[column], rtol=rtol, atol=1e-12, err_msg=column)
        else:
            np.testing.assert_array_equal(ours[column].to_numpy(), expected[column].to_numpy(), err_msg=column)


def objects(shape, seed: int, fraction: float = 0.35) -> np.ndarray:
    return skimage_label(np.random.default_rng(seed).random(shape) < fraction)


@pytest.mark.parametrize(("shape", "chunks"), [((61, 47), (8, 13)), ((61, 47), 61), ((13, 17, 19), (4, 5, 7))])
def test_the_table_equals_regionprops_table_for_objects_across_tiles(shape, chunks):
    labels = objects(shape, seed=len(shape))
    intensity = np.random.default_rng(1).integers(0, 65535, shape).astype(np.uint16)
    ours = napari_zarr_tiles.measure(da.from_array(labels, chunks=chunks), da.from_array(intensity, chunks=chunks))
    expected = reference(labels, intensity)
    assert_same_table(ours, expected)
    assert ours["intensity_mean"].equals(expected["intensity_mean"])  # exact sums of integers: bit for bit
    assert (ours["bbox-0"] < ours[f"bbox-{len(shape)}"]).all()


def test_one_object_across_every_tile_with_a_float_image_and_labels_not_consecutive():
    labels = np.zeros((40, 50), np.uint32)
    labels[1:39, 1:49] = 70000
    labels[5:9, 5:45] = 3
    labels[20, 20] = 12
    intensity = np.random.default_rng(2).normal(100, 30, labels.shape).astype(np.float32)
    ours = napari_zarr_tiles.measure(da.from_array(labels, chunks=(7, 9)), intensity)
    assert list(ours["label"]) == [3, 12, 70000]
    assert_same_table(ours, reference(labels, intensity), rtol=1e-6)


def test_an_image_with_channels_first_gives_a_column_per_channel_as_scikit_image_names_them():
    labels = objects((37, 41), seed=8)
    image = np.random.default_rng(9).integers(0, 4000, (3, 37, 41)).astype(np.uint16)
    ours = napari_zarr_tiles.measure(da.from_array(labels, chunks=9), da.from_array(image, chunks=(1, 10, 10)))
    expected = reference(labels, np.moveaxis(image, 0, -1))  # scikit-image takes channels last
    assert "intensity_std-2" in expected.columns
    assert_same_table(ours, expected)


def test_labels_alone_and_no_objects_at_all():
    labels = objects((30, 30), seed=5)
    assert_same_table(napari_zarr_tiles.measure(da.from_array(labels, chunks=7)), reference(labels))
    empty = napari_zarr_tiles.measure(np.zeros((10, 10), np.uint8), np.ones((10, 10)))
    assert len(empty) == 0 and list(empty.columns) == ["label", "area", "centroid-0", "centroid-1", "bbox-0", "bbox-1",
                                                       "bbox-2", "bbox-3", *INTENSITY]


@settings(max_examples=40, deadline=None)
@given(
    labels=arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=st.integers(0, 4)),
    tile=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    seed=st.integers(0, 1000),
)
def test_any_labels_and_chunking_give_regionprops_table(labels, tile, seed):
    intensity = np.random.default_rng(seed).integers(0, 1000, labels.shape).astype(np.int16)
    ours = napari_zarr_tiles.measure(da.from_array(labels, chunks=tile), da.from_array(intensity, chunks=tile))
    assert_same_table(ours, reference(labels, intensity))


def test_physical_columns_follow_the_pixel_size_and_position():
    labels = objects((20, 30), seed=7)
    ours = napari_zarr_tiles.measure(labels, spacing=(0.5, 0.25), origin=(10.0, -2.0))
    np.testing.assert_allclose(ours["area_physical"], ours["area"] * 0.125)
    np.testing.assert_allclose(ours["centroid_physical-0"], 10.0 + 0.5 * ours["centroid-0"])
    np.testing.assert_allclose(ours["centroid_physical-1"], -2.0 + 0.25 * ours["centroid-1"])


def test_mismatched_intensity_and_float_labels_are_refused():
    with pytest.raises(ValueError, match="intensity image has shape"):
        napari_zarr_tiles.measure(np.zeros((10, 10), np.uint8), np.zeros((10, 11)))
    with pytest.raises(ValueError, match="labels must be integers"):
        napari_zarr_tiles.measure(np.zeros((10, 10), np.float32))


@pytest.fixture
def labels_store(tmp_path, blobs):
    """blobs labelled into an OME-Zarr label image of 64-pixel tiles (0.5 x 0.25 micrometer pixels)."""
    image = ome_group(tmp_path / "blobs.zarr", "0.4")
    write_ome_image(image, [blobs], YX, version="0.4", scale=[0.5, 0.25], translate=[3.0, 4.0], chunks=(64, 64))
    steps = [("threshold", {"method": "otsu"}), ("label", {})]
    return process(tmp_path / "blobs.zarr", tmp_path / "labels.zarr", steps, tile=64), tmp_path / "blobs.zarr"


def test_a_stored_table_is_read_back_with_its_units_and_is_not_overwritten_by_accident(labels_store, blobs):
    labels_path, image_path = labels_store
    ours = napari_zarr_tiles.measure(labels_path, image_path, table="objects")
    labels = zarr.open_array(f"{labels_path}/0", mode="r")[:]
    assert_same_table(ours, reference(labels, blobs))
    assert ours.attrs["units"]["area_physical"] == "micrometer^2"
    np.testing.assert_allclose(ours["centroid_physical-1"], 4.0 + 0.25 * ours["centroid-1"])
    back = napari_zarr_tiles.read_table(labels_path, "objects")
    pd.testing.assert_frame_equal(back, ours)
    assert back.attrs["units"] == ours.attrs["units"]
    with pytest.raises(TargetExistsError, match="overwrite"):
        napari_zarr_tiles.measure(labels_path, table="objects")
    napari_zarr_tiles.measure(labels_path, table="objects", overwrite=True)  # labels alone now
    assert "intensity_mean" not in napari_zarr_tiles.read_table(labels_path, "objects").columns
    assert zarr.open_group(f"{labels_path}/tables", mode="r").attrs["tables"] == ["objects"]
    with pytest.raises(FileNotFoundError, match="no table 'cells'"):
        napari_zarr_tiles.read_table(labels_path, "cells")
    # the reader still finds one label image there, its table no layer of its own
    assert [layer_type for _, _, layer_type in layer_data(labels_path)] == ["labels"]


def test_an_ome_image_with_channels_measures_each_channel(tmp_path, labels_store, blobs):
    labels_path, _ = labels_store
    stack = np.stack([blobs, 255 - blobs])
    write_ome_image(ome_group(tmp_path / "two.zarr", "0.4"), [stack], CYX, version="0.4", chunks=(1, 64, 64))
    ours = napari_zarr_tiles.measure(labels_path, tmp_path / "two.zarr")
    labels = zarr.open_array(f"{labels_path}/0", mode="r")[:]
    assert_same_table(ours, reference(labels, np.moveaxis(stack, 0, -1)))


def test_the_measure_command_writes_scikit_images_columns_as_csv(tmp_path, labels_store, blobs, capsys):
    labels_path, _ = labels_store
    tifffile.imwrite(tmp_path / "blobs.tif", blobs)
    csv = tmp_path / "objects.csv"
    assert _cli.main(["measure", str(labels_path), "--intensity", str(tmp_path / "blobs.tif"), "--csv", str(csv)]) == 0
    assert "measured" in capsys.readouterr().out
    labels = zarr.open_array(f"{labels_path}/0", mode="r")[:]
    assert_same_table(pd.read_csv(csv), reference(labels, blobs))
    assert list(napari_zarr_tiles.read_table(labels_path).columns)[:3] == ["label", "area", "centroid-0"]
    # again: the CSV and the stored table exist
    assert _cli.main(["measure", str(labels_path), "--csv", str(csv)]) == 1
    assert "exists; --overwrite replaces it" in capsys.readouterr().err
    assert _cli.main(["measure", str(labels_path), "--csv", str(csv), "--overwrite"]) == 0


def test_the_measure_command_says_what_to_do_with_a_plain_array_or_a_wrong_image(tmp_path, capsys):
    plain = tmp_path / "plain.zarr"
    zarr.create_array(plain, shape=(20, 20), dtype=np.uint16, chunks=(8, 8), zarr_format=2)[:] = objects((20, 20), 3)
    assert _cli.main(["measure", str(plain)]) == 1
    assert "plain array" in capsys.readouterr().err
    assert _cli.main(["measure", str(plain), "--no-table", "--csv", str(tmp_path / "t.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "t.csv")) == objects((20, 20), 3).max()
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((10, 10), np.uint8))
    assert _cli.main(["measure", str(plain), "--no-table", "--intensity", str(tmp_path / "small.tif")]) == 1
    assert "must have the labels' shape" in capsys.readouterr().err
    with pytest.raises(ZarrTilesError, match="zarr path"):
        napari_zarr_tiles.measure(np.zeros((4, 4), np.uint8), table="objects")


def test_a_table_name_that_is_not_a_plain_name_is_refused(labels_store, capsys):
    labels_path, _ = labels_store
    assert _cli.main(["measure", str(labels_path), "--table", "../escape"]) == 1
    assert "cannot name a table" in capsys.readouterr().err
    assert not (Path(labels_path).parent / "escape").exists() and not (Path(labels_path) / "tables").exists()


def test_a_local_cluster_measures_the_same_table(labels_store):
    labels_path, image_path = labels_store
    threaded = napari_zarr_tiles.measure(labels_path, image_path)
    with cluster(workers=2):
        distributed = napari_zarr_tiles.measure(labels_path, image_path)
    pd.testing.assert_frame_equal(distributed, threaded, check_exact=True)


def test_a_layers_data_as_it_is_a_pyramid_included_is_measured_and_mapped(tmp_path):
    """``measure(layer.data)`` and ``tile_maps(layer.data)`` on a labels layer opened from a pyramid (a list of
    lazy views): its finest level is taken, where a list raised a TypeError."""
    labels = np.zeros((128, 96), np.uint32)
    labels[10:30, 10:40], labels[60:100, 50:90] = 1, 7
    intensity = (np.arange(128 * 96, dtype=np.uint16).reshape(128, 96) % 500)
    write_ome_image(ome_group(tmp_path / "labels.zarr", "0.5"), [labels, labels[::2, ::2]], YX, version="0.5",
                    chunks=(32, 32))
    write_ome_image(ome_group(tmp_path / "image.zarr", "0.5"), [intensity, intensity[::2, ::2]], YX, version="0.5",
                    chunks=(32, 32))
    [(levels, _, _)] = layer_data(tmp_path / "labels.zarr")
    [(image_levels, _, _)] = layer_data(tmp_path / "image.zarr")
    assert isinstance(levels, list) and len(levels) == 2
    table = napari_zarr_tiles.measure(levels, image_levels)
    expected = pd.DataFrame(regionprops_table(labels, intensity, properties=("label", "area", "intensity_mean")))
    np.testing.assert_array_equal(table["label"], expected["label"])
    np.testing.assert_array_equal(table["area"], expected["area"])
    np.testing.assert_allclose(table["intensity_mean"], expected["intensity_mean"])
    maps = napari_zarr_tiles.tile_maps(levels, tile=32)
    [(counts, _, _)] = [layer for layer in maps if layer[1]["name"].endswith("object count")]
    assert counts.shape == (4, 3) and counts.sum() > 0


def test_edit_labels_given_a_layers_data_says_to_pass_its_path(tmp_path):
    zarr.create_array(str(tmp_path / "labels.zarr"), data=np.zeros((64, 64), np.uint16))
    [(data, kwargs, _)] = layer_data(tmp_path / "labels.zarr")
    with pytest.raises(ZarrTilesError, match=r"edit_labels takes the labels' path, not LazyView: .*layer.metadata\['zarr_path'\]"):
        napari_zarr_tiles.edit_labels(data)
    assert kwargs["metadata"]["zarr_path"] == str(tmp_path / "labels.zarr")
