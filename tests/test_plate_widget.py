"""The Plate widget in a real viewer: a plate's grid, a well's fields opened at full resolution over its place
in the mosaic, a second well replacing the first, a double click in the canvas; a bioformats2raw store's series."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import zarr
from conftest import YX, write_ome_image
from plate_stores import field_levels, label_pixels, write_plate

from napari_zarr_tiles._plate_widget import PlateWidget

CELL = (64 + 6) * 0.5  # a well and its gap at level 0 of the 0.5 micrometre fields


@pytest.fixture
def plate_viewer(make_napari_viewer, tmp_path):
    path = write_plate(tmp_path / "plate.zarr", "0.5")
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-zarr-tiles")
    _, widget = viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Plate")
    return viewer, widget, str(path)


def test_the_widget_shows_the_plates_grid_and_opens_a_wells_field_over_its_place(plate_viewer):
    viewer, widget, path = plate_viewer
    assert isinstance(widget, PlateWidget)
    assert [layer.name for layer in viewer.layers] == ["screen [0]", "screen [1]"]
    assert widget._store.value == path
    grid = widget._grid
    assert (grid.rowCount(), grid.columnCount()) == (8, 12)
    assert grid.verticalHeaderItem(1).text() == "B" and grid.horizontalHeaderItem(11).text() == "12"
    assert grid.item(1, 2).text() == "" and not grid.item(1, 2).flags()  # B3 is not on the plate
    widget.choose_well("B2")
    assert widget._field.choices == ("0", "1")
    added = widget.open_field("0")
    assert [layer.name for layer in added] == ["B2 field 0: image [0]", "B2 field 0: image [1]", "B2 field 0: cells"]
    for channel, layer in enumerate(added[:2]):
        assert layer.multiscale and len(layer.data) == 3
        np.testing.assert_array_equal(np.asarray(layer.data[0]), field_levels(1, 1, 0)[0][channel])
        np.testing.assert_allclose(layer.translate, [CELL, CELL])
        np.testing.assert_allclose(layer.scale, [0.5, 0.5])
    labels = added[2]
    np.testing.assert_array_equal(np.asarray(labels.data[0]), label_pixels(1, 1))
    np.testing.assert_allclose(labels.translate, [CELL, CELL])
    # the well's field fills the canvas, centred (napari's public reset_view on its layers)
    np.testing.assert_allclose(viewer.camera.center[-2:], [CELL + 16, CELL + 16], atol=0.5)


def test_a_second_well_replaces_the_first_and_a_double_click_opens_the_well_under_it(plate_viewer):
    viewer, widget, _ = plate_viewer
    widget.choose_well("B2")
    first = widget.open_field("0")
    widget.choose_well("D5")
    widget._field.value = "1"
    widget._open.native.click()  # as a person opens it
    second = widget.opened
    assert not [layer for layer in first if layer in viewer.layers]
    assert [layer.name for layer in viewer.layers][2:] == ["D5 field 1: image [0]", "D5 field 1: image [1]"]
    np.testing.assert_array_equal(np.asarray(second[1].data[0]), field_levels(3, 4, 1)[0][1])
    np.testing.assert_allclose(second[0].translate, [3 * CELL, 4 * CELL])
    widget._double_clicked(viewer, SimpleNamespace(position=(2 * CELL + 5, 0 * CELL + 5)))  # in C1
    assert widget.well.name == "C1"
    assert [layer.name for layer in viewer.layers][2:] == ["C1 field 0: image [0]", "C1 field 0: image [1]"]
    widget._double_clicked(viewer, SimpleNamespace(position=(1 * CELL + 5, 2 * CELL + 5)))  # B3: no well there
    assert widget.well.name == "C1"


def click(widget, viewer, position, *, drag: bool = False) -> None:
    """A press at ``position``, then a release there, or a move first (a drag), as napari calls the callback."""
    event = SimpleNamespace(position=position, type="mouse_press")
    callback = widget._clicked(viewer, event)
    next(callback)
    for kind in ("mouse_move", "mouse_release") if drag else ("mouse_release",):
        event.type = kind
        try:
            next(callback)
        except StopIteration:
            break


def test_a_click_on_the_mosaic_picks_the_well_under_it_a_drag_does_not_and_a_closed_widget_neither(plate_viewer):
    viewer, widget, _ = plate_viewer
    opened = len(viewer.layers)
    click(widget, viewer, (2 * CELL + 5, 0 * CELL + 5))  # C1
    assert widget.well.name == "C1" and widget._grid.currentRow() == 2 and widget._grid.currentColumn() == 0
    assert widget._status.value == "C1: 2 field(s)" and len(viewer.layers) == opened  # listed, not opened
    click(widget, viewer, (3 * CELL + 5, 4 * CELL + 5), drag=True)  # a pan starting in D5
    assert widget.well.name == "C1"
    click(widget, viewer, (1 * CELL + 5, 2 * CELL + 5))  # B3: no well there
    assert widget.well.name == "C1"
    viewer.window.remove_dock_widget(widget.native)  # as the dock's close button does
    click(widget, viewer, (3 * CELL + 5, 4 * CELL + 5))
    widget._double_clicked(viewer, SimpleNamespace(position=(3 * CELL + 5, 4 * CELL + 5)))
    assert widget.well.name == "C1" and len(viewer.layers) == opened


def test_the_mosaic_draws_in_a_real_window(make_napari_viewer, tmp_path, qtbot):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin="napari-zarr-tiles")
    viewer.reset_view()
    frame = viewer.screenshot(canvas_only=True)[..., :3]
    assert frame.std() > 10  # wells of noise and blank gaps, not a flat frame


def test_a_field_opened_over_the_mosaic_hides_the_wells_picture_under_it(make_napari_viewer, tmp_path, qtbot):
    """The field's channels are drawn as they are alone: the mosaic's own picture of that well (additive
    channels under it) is hidden, not added (the field showed twice as bright)."""
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin="napari-zarr-tiles")
    _, widget = viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Plate")
    widget.choose_well("B2")
    widget.open_field("0")
    mosaic = [layer for layer in viewer.layers if "plate" in layer.metadata]

    def middle_of_the_well() -> np.ndarray:
        frame = viewer.screenshot(canvas_only=True)[..., :3].astype(float)
        height, width = frame.shape[:2]
        return frame[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]

    over_the_mosaic = middle_of_the_well()
    for layer in mosaic:
        layer.visible = False
    alone = middle_of_the_well()
    assert alone.std() > 10  # the field's noise, drawn
    np.testing.assert_allclose(over_the_mosaic, alone, atol=2)


def test_the_series_of_a_bioformats2raw_store_are_offered_and_opened(make_napari_viewer, tmp_path, blobs):
    root = zarr.open_group(tmp_path / "b2r.zarr", mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    root.create_group("OME").attrs["series"] = ["0", "1"]
    write_ome_image(root.create_group("0"), [blobs], YX, version="0.4")
    write_ome_image(root.create_group("1"), [blobs[::-1]], YX, version="0.4")
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "b2r.zarr"), plugin="napari-zarr-tiles")
    # docked as napari docks it, which resets its choices (the series box was emptied)
    _, widget = viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Plate")
    assert widget._store.value == str(tmp_path / "b2r.zarr")
    assert widget.series == ["0", "1"] and widget._series.choices == ("0", "1")
    [layer] = widget.open_series("1")
    np.testing.assert_array_equal(np.asarray(layer.data), blobs[::-1])
    assert widget._series.choices == ("0", "1")
    widget._series.value = "0"
    widget._open.native.click()
    [again] = widget.opened
    assert layer not in viewer.layers and again.name == "series 0: image"


def test_open_twice_keeps_the_fields_and_says_the_field_is_open(plate_viewer, recwarn):
    """napari resets a docked widget's choices when layers are added: the fields stayed listed only if the
    box takes them from the widget (an Open emptied them, and a second Open read '.../B/2/None')."""
    viewer, widget, _ = plate_viewer
    widget.choose_well("B2")
    widget._field.value = "1"
    widget._open.native.click()
    first = list(widget.opened)
    assert widget._field.choices == ("0", "1") and widget._field.value == "1"
    widget._open.native.click()
    assert widget.opened == first and widget._status.value == "B2 field 1 is open (2 layers)"
    assert [layer.name for layer in viewer.layers][2:] == ["B2 field 1: image [0]", "B2 field 1: image [1]"]
    viewer.layers.remove(first[0])  # a layer of it closed: Open opens it again
    widget._open.native.click()
    assert [layer.name for layer in viewer.layers][2:] == ["B2 field 1: image [0]", "B2 field 1: image [1]"]
    assert widget._status.value == "opened B2 field 1 (2 layers)"
    # the well is zoomed to through napari's public API (reading Viewer._canvas_size warned on each Open)
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning) and "_canvas_size" in str(w.message)]


def test_open_on_a_listed_well_that_is_not_stored_says_so(plate_viewer):
    import shutil

    viewer, widget, path = plate_viewer
    shutil.rmtree(f"{path}/E/4")
    widget.choose_well("E4")
    told = f"{path}: the plate lists 'E/4', but there is no such group"
    assert widget._field.choices == () and widget._status.value == told
    widget._open.native.click()
    assert widget._status.value == told and len(viewer.layers) == 2


def test_choose_well_refuses_a_well_the_plate_lacks_in_words(plate_viewer):
    _, widget, path = plate_viewer
    with pytest.raises(ValueError, match=f"{path}: the plate holds no well 'B3' \\(its wells: A1 to H11\\)"):
        widget.choose_well("B3")


def test_the_widget_follows_the_layer_list(plate_viewer):
    viewer, widget, _ = plate_viewer
    widget.choose_well("A1")
    viewer.layers.clear()
    assert widget._store.value is None and widget.plate is None and widget._grid.rowCount() == 0
    assert widget._field.choices == ()
    assert widget._status.value == "open an HCS plate (or a bioformats2raw store) to browse it"
    with pytest.raises(ValueError, match="no plate is shown"):
        widget.choose_well("A1")


def test_the_wells_names_are_written_on_the_mosaic_on_request(plate_viewer):
    """Not by the reader: napari's first Points layer with text took seconds of the plate's first frame."""
    viewer, widget, path = plate_viewer
    widget._names.value = True
    names = viewer.layers[-1]
    assert names.name == "screen wells" and names.metadata == {"zarr_path": path}
    wells = list(names.features["well"])
    assert len(wells) == 93 and wells[:2] == ["A1", "A2"] and "B3" not in wells
    np.testing.assert_allclose(names.data[0], [CELL / 2, CELL / 2])  # the centre of A1's cell
    assert names.text.anchor == "upper_left" and tuple(names.axis_labels) == ("y", "x")
    assert [str(unit) for unit in names.units] == ["micrometer", "micrometer"]
    widget._names.value = False
    assert names not in viewer.layers and [layer.name for layer in viewer.layers] == ["screen [0]", "screen [1]"]
