"""The "Segment" and "Measure" widgets in a real napari viewer: labels equal to scikit-image's on the whole
image, saved like any result; a table equal to regionprops_table, its rows and the objects selecting each
other, colours by a column, CSV."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from napari.utils.colormaps import DirectLabelColormap, ensure_colormap
from napari.utils.interactions import mouse_press_callbacks
from skimage.filters import threshold_otsu
from skimage.measure import label, regionprops_table

from napari_zarr_tiles import _segment_widgets
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._segment_widgets import MeasureWidget, SegmentWidget
from napari_zarr_tiles._widgets import RECIPE, Recipe, SaveResultWidget

pytestmark = pytest.mark.gui

PROPERTIES = ("label", "area", "centroid", "bbox", "intensity_mean", "intensity_min", "intensity_max", "intensity_std")


@pytest.fixture
def blobs_store(tmp_path, blobs):
    """blobs tiled 2 x 2 (508 x 512) as OME-Zarr with 64-pixel tiles: objects cut by many tile borders."""
    image = np.tile(blobs, (2, 2))
    tifffile.imwrite(tmp_path / "blobs.tif", image)
    return convert(tmp_path / "blobs.tif", tmp_path / "blobs.ome.zarr", tile=64), image


def segment(viewer, qtbot, **choices):
    widget = SegmentWidget(viewer)
    for name, value in choices.items():
        getattr(widget, f"_{name}").value = value
    widget.apply()
    return widget, widget.wait()


def measured(qtbot, widget):
    """Start the Measure widget and wait until its job is over and handled in the GUI thread."""
    widget.start()
    qtbot.waitUntil(lambda: widget._run.enabled and not widget._running, timeout=60_000)


def test_segment_labels_the_whole_image_and_the_result_saves_with_cancel_and_resume(
    make_napari_viewer, qtbot, tmp_path, blobs_store
):
    path, image = blobs_store
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.apply()
    assert widget.worker.pbar.total == 0  # napari's busy bar while level 0 is labelled
    labels = widget.wait()

    expected = label(image > threshold_otsu(image))
    assert type(labels).__name__ == "Labels" and labels.multiscale
    assert viewer.layers.index(labels) == 1  # just above its image
    np.testing.assert_array_equal(np.asarray(labels.data[0]), expected)
    # the threshold is the whole image's, as Save computes it (not a preview's from the coarsest level)
    named = re.fullmatch(r"blobs threshold\(method=otsu, value=(.+), polarity=brighter\) label\(connectivity=0\)", labels.name)
    assert named and float(named[1]) == pytest.approx(threshold_otsu(image), rel=1e-6), labels.name
    # every level shows the whole image's ids
    assert set(np.unique(np.asarray(labels.data[-1]))) <= set(np.unique(expected))

    save = SaveResultWidget(viewer)
    assert labels in save._layer.choices
    save._layer.value = labels
    save._target.value = tmp_path / "labels.zarr"
    save._chunks.value = 16  # a thousand tiles: time to cancel after the first

    # a cancel during the labelling's first pass over level 0's tiles: nothing is kept, and that is said
    save._relay.advanced.connect(save.cancel)
    save.start()
    qtbot.waitUntil(lambda: save._run.enabled and not save._running, timeout=60_000)
    assert save._status.value == f"save to {tmp_path / 'labels.zarr'} cancelled; nothing was written", save._status.value
    assert not (tmp_path / ".labels.zarr.partial").exists() and not (tmp_path / "labels.zarr").exists()
    save._relay.advanced.disconnect(save.cancel)

    totals = []

    def stop(done, total):
        totals.append(total)
        if total != totals[0]:  # in the write, after the labelling's first pass over level 0's tiles
            save.cancel()

    save._relay.advanced.connect(stop)
    save.start()
    qtbot.waitUntil(lambda: save._run.enabled and not save._running, timeout=60_000)
    assert save._status.value.endswith("cancelled; Save again to resume it"), save._status.value
    assert (tmp_path / ".labels.zarr.partial").exists() and not (tmp_path / "labels.zarr").exists()
    save._relay.advanced.disconnect(stop)
    save.start()
    qtbot.waitUntil(lambda: save._run.enabled and not save._running, timeout=60_000)
    assert save._status.value.startswith("wrote"), save._status.value
    saved = zarr.open_array(tmp_path / "labels.zarr" / "0", mode="r")
    np.testing.assert_array_equal(saved[:], expected)
    assert saved.metadata.compressor.codec_id == "zstd"  # the compressor left at "default": labels' own


def test_segment_by_a_value_darker_objects_and_face_connectivity(make_napari_viewer, qtbot, blobs_store):
    path, image = blobs_store
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    widget, labels = segment(viewer, qtbot, method="value", value=100.0, polarity="darker", connectivity=1)
    assert widget._value.enabled
    np.testing.assert_array_equal(np.asarray(labels.data[0]), label(image <= 100, connectivity=1))
    recipe = labels.metadata[RECIPE]
    assert isinstance(recipe, Recipe) and [name for name, _ in recipe.steps] == ["threshold", "label"]


def test_a_second_apply_while_labelling_is_refused_and_one_layer_comes(make_napari_viewer, qtbot, blobs_store):
    path, _ = blobs_store
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    widget = SegmentWidget(viewer)
    widget.apply()
    first = widget.worker
    widget.apply()
    assert widget.worker is first
    widget.wait()
    assert len(viewer.layers) == 2
    widget.apply()  # once done, Apply again makes another
    widget.wait()
    assert len(viewer.layers) == 3


@pytest.fixture
def measured_blobs(make_napari_viewer, qtbot, blobs):
    """blobs and their labels as layers placed at scale (2, 3), translate (10, -4), measured."""
    viewer = make_napari_viewer()
    labels_array = label(blobs > threshold_otsu(blobs))
    image = viewer.add_image(blobs, scale=(2, 3), translate=(10, -4), name="blobs")
    layer = viewer.add_labels(labels_array, scale=(2, 3), translate=(10, -4), name="objects")
    widget = MeasureWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._label_layer.value, widget._intensity.value = layer, image
    measured(qtbot, widget)
    return viewer, widget, layer, labels_array


def test_measure_fills_the_layer_features_with_regionprops_table(measured_blobs, blobs):
    _viewer, widget, layer, labels_array = measured_blobs
    expected = pd.DataFrame(regionprops_table(labels_array, blobs, properties=PROPERTIES))
    features = layer.features
    assert list(features.columns[:2]) == ["index", "label"]  # napari finds a label's row by "index"
    np.testing.assert_array_equal(features["index"], expected["label"])
    for column in expected.columns:
        np.testing.assert_allclose(features[column], expected[column], rtol=1e-12, err_msg=column)
    np.testing.assert_allclose(features["area_physical"], expected["area"] * 6)
    np.testing.assert_allclose(features["centroid_physical-1"], expected["centroid-1"] * 3 - 4)
    model = widget.table.model()
    assert model.rowCount() == len(expected) and model.headerData(0, _horizontal()) == "label"
    assert widget._status.value == f"{len(expected)} objects in objects"
    # napari shows the row of the label under the cursor: its own lookup by "index"
    assert layer.get_status((10 + 2 * 30, -4 + 3 * 30))  # smoke: no error with features set


def _horizontal():
    from qtpy.QtCore import Qt

    return Qt.Orientation.Horizontal


def test_a_row_clicked_centres_the_view_on_its_object_and_selects_it(measured_blobs, qtbot):
    from qtpy.QtCore import Qt

    viewer, widget, layer, _ = measured_blobs
    row = 7
    widget.table.scrollTo(widget.table.model().index(row, 1))
    rect = widget.table.visualRect(widget.table.model().index(row, 1))
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    record = widget.frame.iloc[row]
    np.testing.assert_allclose(viewer.camera.center[-2:], (10 + 2 * record["centroid-0"], -4 + 3 * record["centroid-1"]))
    assert layer.selected_label == record["label"] == row + 1
    assert widget.table.selectionModel().selectedRows()[0].row() == row
    widget._only_selected.value = True
    assert layer.show_selected_label


def test_an_object_clicked_in_the_canvas_selects_its_row(measured_blobs, qtbot):
    _viewer, widget, layer, labels_array = measured_blobs
    wanted = 12
    y, x = np.argwhere(labels_array == wanted)[0]
    event = SimpleNamespace(
        type="mouse_press", is_dragging=False, position=(10 + 2 * y, -4 + 3 * x), view_direction=None,
        dims_displayed=(0, 1), dims_point=(0, 0), modifiers=(), button=1, handled=False,
    )
    mouse_press_callbacks(layer, event)
    assert widget.table.selectionModel().selectedRows()[0].row() == wanted - 1
    event.position = (5.0, -3.0)  # background: the selection stays
    mouse_press_callbacks(layer, event)
    assert widget.table.selectionModel().selectedRows()[0].row() == wanted - 1


def test_objects_coloured_by_a_column_and_back(measured_blobs):
    _viewer, widget, layer, _ = measured_blobs
    plain = layer.colormap
    assert "area" in widget._colour_by.choices and "intensity_mean" in widget._colour_by.choices
    widget._colour_by.value = "area"
    colormap = layer.colormap
    assert isinstance(colormap, DirectLabelColormap)
    area = widget.frame.set_index("label")["area"]
    viridis = ensure_colormap("viridis")
    np.testing.assert_allclose(colormap.color_dict[int(area.idxmax())], viridis.map(np.array([1.0]))[0], atol=1e-6)
    np.testing.assert_allclose(colormap.color_dict[int(area.idxmin())], viridis.map(np.array([0.0]))[0], atol=1e-6)
    np.testing.assert_array_equal(colormap.color_dict[0], [0, 0, 0, 0])
    widget._colour_by.value = _segment_widgets.NO_COLOUR_COLUMN
    assert layer.colormap is plain


def test_export_csv_writes_the_table_with_scikit_image_column_names(measured_blobs, tmp_path, monkeypatch):
    _, widget, _layer, _ = measured_blobs
    monkeypatch.setattr(_segment_widgets, "ask_csv_path", lambda suggested: tmp_path / "objects.csv")
    widget._export.clicked.emit()
    written = pd.read_csv(tmp_path / "objects.csv")
    assert list(written.columns) == list(widget.frame.columns) and "index" not in written.columns
    pd.testing.assert_frame_equal(written, widget.frame, check_dtype=False)
    assert widget._status.value == f"wrote {tmp_path / 'objects.csv'}"
    # a place that cannot be written: said, nothing raised
    monkeypatch.setattr(_segment_widgets, "ask_csv_path", lambda suggested: tmp_path / "missing" / "objects.csv")
    widget.export_csv()
    assert widget._status.value.startswith(f"could not write {tmp_path / 'missing' / 'objects.csv'}")
    # the dialog cancelled: nothing written, nothing said
    monkeypatch.setattr(_segment_widgets, "ask_csv_path", lambda suggested: None)
    widget.export_csv()
    assert widget._status.value.startswith("could not write")


def test_the_lazy_segment_result_is_measured_tile_by_tile(make_napari_viewer, qtbot, blobs_store):
    path, image = blobs_store
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    _, labels = segment(viewer, qtbot)
    widget = MeasureWidget(viewer)
    widget._label_layer.value, widget._intensity.value = labels, viewer.layers[0]
    seen = []
    widget._relay.advanced.connect(lambda done, total: seen.append((done, total)))
    measured(qtbot, widget)
    expected = pd.DataFrame(regionprops_table(label(image > threshold_otsu(image)), image, properties=PROPERTIES))
    for column in expected.columns:
        np.testing.assert_allclose(labels.features[column], expected[column], rtol=1e-12, err_msg=column)
    tiles = labels.data[0].npartitions  # the reader's tasks
    assert seen[0] == (0, tiles) and seen[-1] == (tiles, tiles)


def test_a_labels_layer_removed_while_measured_gets_nothing_and_a_second_click_is_refused(
    make_napari_viewer, qtbot, blobs
):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(label(blobs > 128))
    widget = MeasureWidget(viewer)
    widget.start()
    first = widget.worker
    widget.start()  # under way: refused
    assert widget.worker is first
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: widget._run.enabled and not widget._running, timeout=60_000)
    assert widget._status.value == f"{layer.name} was removed while it was measured: nothing shown"
    assert widget.frame is None and widget.table.model() is None


def test_a_cancelled_measure_changes_nothing(make_napari_viewer, qtbot, blobs):
    import dask.array as da

    viewer = make_napari_viewer()
    layer = viewer.add_labels(da.from_array(label(blobs > 128), chunks=16))
    widget = MeasureWidget(viewer)
    widget._relay.advanced.connect(lambda done, total: widget.cancel())
    measured(qtbot, widget)
    assert widget._status.value == f"measuring {layer.name} cancelled; nothing was changed"
    assert layer.features.shape[1] == 0 and widget.frame is None


def test_measuring_another_layer_follows_it_and_leaves_the_first(make_napari_viewer, qtbot, blobs):
    viewer = make_napari_viewer()
    first = viewer.add_labels(label(blobs > 128), name="first")
    second = viewer.add_labels(label(blobs > 200), name="second")
    widget = MeasureWidget(viewer)
    widget._label_layer.value = first
    measured(qtbot, widget)
    widget._colour_by.value = "area"
    widget._only_selected.value = True
    widget._label_layer.value = second
    measured(qtbot, widget)
    assert widget.measured_layer is second and widget.frame["label"].max() == label(blobs > 200).max()
    assert not isinstance(first.colormap, DirectLabelColormap) and not first.show_selected_label  # as it was
    assert second.show_selected_label
    assert widget._select_clicked_object not in first.mouse_drag_callbacks
    assert widget._select_clicked_object in second.mouse_drag_callbacks


def test_segment_by_voronoi_otsu_splits_touching_objects_tile_by_tile(make_napari_viewer, qtbot, blobs):
    import dask.array as da

    from napari_zarr_tiles.tiles._split import voronoi_otsu_in_memory

    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(blobs, chunks=100), name="blobs")  # 3 x 3 tiles
    widget = SegmentWidget(viewer)
    widget._method.value = "voronoi_otsu"
    assert not widget._split.native.isHidden() and widget._connectivity.native.isHidden()
    widget._split.spot_sigma.value, widget._split.outline_sigma.value = 3.0, 1.0
    widget._split.max_object_size.value = 64  # beyond the largest blob: equal to the whole-image result
    widget.apply()
    labels = widget.wait()
    assert labels.name == "blobs voronoi_otsu(spot_sigma=3.0, outline_sigma=1.0, max_object_size=64)"
    np.testing.assert_array_equal(np.asarray(labels.data), voronoi_otsu_in_memory(blobs, spot_sigma=3.0, outline_sigma=1.0))
    assert labels.data.chunks == ((100, 100, 54), (100, 100, 56))


def test_a_labels_layer_opened_with_its_stored_table_shows_it(make_napari_viewer, qtbot, tmp_path, blobs_store):
    from napari_zarr_tiles import measure
    from napari_zarr_tiles._jobs import process

    path, image = blobs_store
    target = process(path, tmp_path / "labels.zarr", [("threshold", {"method": "value", "value": 128}), ("label", {})])
    measure(target, image, table="objects")
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    widget = MeasureWidget(viewer)
    layer, = viewer.open(target, plugin="napari-zarr-tiles")
    assert widget.measured_layer is layer and widget.table.model().rowCount() == label(image > 128).max()
    assert widget._status.value.endswith("as opened") and "intensity_mean" in widget._colour_by.choices
    widget._colour_by.value = "intensity_mean"
    assert isinstance(layer.colormap, DirectLabelColormap)


def test_a_connectivity_beyond_the_image_axes_is_refused_before_any_work(make_napari_viewer, blobs):
    viewer = make_napari_viewer()
    viewer.add_image(blobs, name="blobs")
    widget = SegmentWidget(viewer)
    widget._connectivity.value = 3
    widget.apply()
    assert widget.worker is None and len(viewer.layers) == 1
    assert widget._status.value == "connectivity 3 is more than the 2 spatial axes of blobs: choose 1 to 2, or 0 for all"


def test_an_image_without_values_fails_with_the_reason_said(make_napari_viewer, monkeypatch):
    from napari.utils import notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer = make_napari_viewer()
    viewer.add_image(np.full((64, 64), np.nan, np.float32), name="empty")
    widget = SegmentWidget(viewer)
    widget.apply()
    with pytest.raises(ValueError, match="every pixel is NaN or infinite"):
        widget.wait()
    assert widget._status.value.startswith("failed: threshold: every pixel is NaN or infinite")
    assert shown == [f"Segment: {widget._status.value.removeprefix('failed: ')}"] and len(viewer.layers) == 1
    assert widget.worker is None  # Apply works again


def test_an_intensity_image_of_another_shape_is_refused_before_measuring(make_napari_viewer, blobs):
    viewer = make_napari_viewer()
    viewer.add_image(blobs[:100], name="crop")
    layer = viewer.add_labels(label(blobs > 128), name="objects")
    widget = MeasureWidget(viewer)
    widget._intensity.value = viewer.layers["crop"]
    widget.start()
    assert widget.worker is None and layer.features.shape[1] == 0
    assert widget._status.value == (
        "crop has shape (100, 256), objects (254, 256): choose an intensity image of the labels' shape, or none"
    )


def test_segment_and_measure_choices_for_scripts_refuse_what_is_not_offered(make_napari_viewer, qtbot, blobs):
    viewer = make_napari_viewer()
    image = viewer.add_image(blobs, name="blobs")
    widget = SegmentWidget(viewer)
    with pytest.raises(ValueError, match="Segment has no method 'watershed'"):
        widget.choose("watershed")
    with pytest.raises(ValueError, match=r"Segment's otsu has no field \['spot_sigma'\]"):
        widget.choose("otsu", spot_sigma=2.0)
    widget.choose("value", layer=image, value=120.0, connectivity=1)
    widget.apply()
    labels = widget.wait()
    np.testing.assert_array_equal(np.asarray(labels.data), label(blobs > 120, connectivity=1))
    measure = MeasureWidget(viewer)
    with pytest.raises(ValueError, match="'area' is not a numeric column of the table shown: measure first"):
        measure.choose_colour("area")
    with pytest.raises(ValueError, match="'blobs' is not offered as labels"):
        measure.choose(image)
    measure.choose(labels, intensity=image)
    measure.start()
    measure.wait(timeout=60)
    assert len(measure.frame) == labels.data.max()
    measure.choose_colour("intensity_mean")
    assert isinstance(labels.colormap, DirectLabelColormap)
