"""A label image holding a stored object table (``tables/objects``) opens with it as the layer's features."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from napari.utils import notifications
from skimage.measure import label

from napari_zarr_tiles import measure, read_table
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._jobs import process
from napari_zarr_tiles._reader import layer_data, read_zarr


@pytest.fixture
def labels_store(tmp_path, blobs):
    """blobs thresholded at 128 and labelled, as a labels store with its pyramid (64-pixel tiles)."""
    tifffile.imwrite(tmp_path / "blobs.tif", blobs)
    source = convert(tmp_path / "blobs.tif", tmp_path / "blobs.zarr", tile=64)
    return process(source, tmp_path / "labels.zarr", [("threshold", {"method": "value", "value": 128}), ("label", {})],
                   tile=64)


def test_a_stored_table_opens_as_the_labels_features(labels_store, blobs):
    measure(labels_store, table="objects")
    (_, kwargs, kind), = layer_data(labels_store)
    assert kind == "labels"
    features = kwargs["features"]
    table = read_table(labels_store)
    assert list(features.columns) == ["index", *table.columns]  # napari finds a label's row by "index"
    np.testing.assert_array_equal(features["index"], np.arange(1, label(blobs > 128).max() + 1))
    pd.testing.assert_frame_equal(features.drop(columns="index"), table)


def test_labels_without_a_table_open_without_features(labels_store):
    (_, kwargs, _), = layer_data(labels_store)
    assert "features" not in kwargs


def test_a_stored_table_in_a_real_viewer(make_napari_viewer, labels_store):
    measure(labels_store, table="objects")
    viewer = make_napari_viewer()
    layer, = viewer.open(labels_store, plugin="napari-zarr-tiles")
    assert layer.features["label"].tolist() == read_table(labels_store)["label"].tolist()
    # napari's status shows the features of the label under the cursor
    y, x = np.argwhere(np.asarray(layer.data[0]) == 3)[0]
    assert "area" in layer.get_status((y, x))["coordinates"]


def test_a_damaged_table_is_said_and_the_labels_still_open(labels_store, monkeypatch):
    measure(labels_store, table="objects")
    shutil.rmtree(Path(labels_store) / "tables" / "objects" / "area")
    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    (_, kwargs, kind), = read_zarr(labels_store)
    assert kind == "labels" and "features" not in kwargs
    assert len(warned) == 1 and re.match(
        rf"{re.escape(labels_store)}/tables/objects cannot be read \(its column 'area' is missing\): the labels open without their table; "
        r"measure them again", warned[0],
    ), warned
