"""The Edit labels widget in a real, shown viewer: a window over multiscale labels read from zarr, napari's own
paint, fill, erase and undo in it, Commit writing it back (the store compared chunk by chunk, the pyramid
rebuilt, untouched files unchanged) and the multiscale layer showing the edit; the messages of the refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr
from test_editing import assert_store_holds, chunk_files, write_labels_store

from napari_zarr_tiles._edit_widget import EditLabelsWidget

SHAPE = (1024, 1536)


def big_labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint32)
    labels[400:600, 600:900] = 4
    labels[100:150, 100:150] = 2
    return labels


@pytest.fixture
def viewer_with_labels(make_napari_viewer, tmp_path):
    cells = write_labels_store(tmp_path / "image.zarr", big_labels())
    viewer = make_napari_viewer(show=True)
    viewer.open(str(tmp_path / "image.zarr"), plugin="napari-zarr-tiles")
    widget = EditLabelsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    labels = viewer.layers["cells"]
    assert labels.multiscale
    widget._layer.value = labels
    return viewer, widget, labels, cells


def look_at(viewer, y: float, x: float, zoom: float) -> None:
    """Centre the view on level-0 pixel (y, x) of the labels (scale 0.5) at ``zoom`` screen pixels per unit."""
    viewer.scene.camera.center = (0.5 * y, 0.5 * x)
    viewer.scene.camera.zoom = zoom


def test_paint_fill_erase_undo_commit_in_a_window_over_multiscale_labels(viewer_with_labels, qtbot):
    viewer, widget, labels, cells = viewer_with_labels
    before = chunk_files(cells)
    look_at(viewer, 500, 750, zoom=4)  # a few hundred pixels of level 0 on screen
    assert widget.edit_view()
    window = widget.window
    box = widget._region
    height, width = (s.stop - s.start for s in box)
    assert 50 < height < SHAPE[0] and 50 < width < SHAPE[1]  # the part on screen, smaller than the store
    assert box[0].start <= 500 < box[0].stop and box[1].start <= 750 < box[1].stop
    np.testing.assert_array_equal(window.data, big_labels()[box])
    np.testing.assert_allclose(window.translate, [0.5 * box[0].start, 0.5 * box[1].start])
    y, x = 500 - box[0].start, 750 - box[1].start  # inside the object of 4
    window.brush_size = 5
    window.paint((5, 5), 7)  # paint in the corner of the window
    window.fill((y, x), 9)  # the object of 4 becomes 9
    window.paint((y, x), 0)  # erase a dot in it
    window.paint((10, 40), 3)
    window.undo()  # takes back the last stroke
    assert window.data[10, 40] == 0 and window.data[5, 5] == 7 and window.data[y, x] == 0
    assert np.count_nonzero(window.data == 9) > 100
    expected = big_labels()
    expected[box] = window.data
    assert widget.commit()
    assert "committed" in widget._status.value
    assert_store_holds(cells, expected)
    after = chunk_files(cells)
    changed = {key for key in before if before[key] != after[key]}
    level0 = zarr.open_array(cells / "0", mode="r")
    for key in before:
        if key.startswith("0/") and key not in changed:  # every untouched level-0 chunk: same bytes, same time
            index = tuple(int(part) for part in key.split("/")[1:])
            region = tuple(slice(i * 64, (i + 1) * 64) for i in index)
            np.testing.assert_array_equal(level0[region], big_labels()[region])
    assert changed and all(before[key] == after[key] for key in before if key not in changed)
    # Undo goes on across the commit: the erased dot comes back as 9, and a second commit writes it.
    window.undo()
    assert window.data[y, x] == 9
    assert widget.commit()
    expected[box] = window.data
    assert_store_holds(cells, expected)
    # The multiscale layer shows the edit once the window is closed, at full resolution and zoomed out.
    widget.close_window()
    assert widget.window is None and "cells [editing]" not in viewer.layers
    for zoom in (4, 0.25):
        look_at(viewer, 500, 750, zoom=zoom)
        labels.refresh()
        value = labels.get_value((0.5 * 500, 0.5 * 750), world=True)
        assert (value[1] if isinstance(value, tuple) else value) == 9


def test_moving_the_window_commits_it_and_closing_one_with_edits_says_so(viewer_with_labels):
    viewer, widget, _labels, cells = viewer_with_labels
    look_at(viewer, 120, 120, zoom=4)
    assert widget.edit_view()
    first = widget._region
    widget.window.paint((2, 2), 5)
    look_at(viewer, 800, 1300, zoom=4)
    assert widget.edit_view()  # moving on commits the first window
    expected = big_labels()
    painted = np.zeros(SHAPE, bool)
    painted[first] = True
    level0 = zarr.open_array(cells / "0", mode="r")[...]
    assert (level0 == 5).sum() > 0 and np.all(painted[level0 == 5])
    expected[level0 == 5] = 5
    widget.window.paint((3, 3), 6)
    widget.close_window()
    assert "uncommitted edits were dropped" in widget._status.value
    assert_store_holds(cells, expected)


def test_a_window_deleted_with_uncommitted_edits_keeps_them_for_next_time(viewer_with_labels):
    viewer, widget, _labels, cells = viewer_with_labels
    look_at(viewer, 120, 120, zoom=4)
    assert widget.edit_view()
    widget.window.paint((2, 2), 5)
    viewer.layers.remove(widget.window)
    assert "kept beside the store" in widget._status.value
    assert widget.edit_view()
    assert widget._restore.visible and "Restore recovered edits" in widget._status.value
    widget.restore_recovered()
    assert "restored and committed 1 chunks" in widget._status.value
    assert (zarr.open_array(cells / "0", mode="r")[...] == 5).any()


ENDS_WITH_A_WINDOW_OPEN = """
import sys
import napari
from napari_zarr_tiles._edit_widget import EditLabelsWidget

viewer = napari.Viewer(show=True)
viewer.open(sys.argv[1], plugin="napari-zarr-tiles")
widget = EditLabelsWidget(viewer)
viewer.window.add_dock_widget(widget)
widget._layer.value = viewer.layers["cells"]
viewer.scene.camera.center = (60.0, 60.0)
viewer.scene.camera.zoom = 4
assert widget.edit_view()
data = widget.window.data.copy()
data[0:10, 0:10] = 21  # set, not painted: no journal yet
widget.window.data = data
print(widget._region[0].start, widget._region[1].start)
"""


def test_a_script_that_ends_with_a_window_open_exits_cleanly_and_keeps_its_edits(tmp_path):
    import napari_zarr_tiles

    cells = write_labels_store(tmp_path / "image.zarr", big_labels())
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(ENDS_WITH_A_WINDOW_OPEN), str(tmp_path / "image.zarr")],
                         check=False, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "PYTHONPATH": str(Path(napari_zarr_tiles.__file__).parents[1])})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr and "uncommitted edits are kept" in run.stderr
    y, x = (int(word) for word in run.stdout.split()[-2:])
    with pytest.warns(UserWarning, match="restore_recovered"):
        editor = napari_zarr_tiles.edit_labels(cells)
    editor.restore_recovered()
    editor.commit()
    editor.close()
    expected = big_labels()
    expected[y : y + 10, x : x + 10] = 21
    assert_store_holds(cells, expected)


def test_a_window_deleted_from_the_plugin_menus_widget_keeps_its_edits_for_next_time(viewer_with_labels):
    viewer, _widget, labels, cells = viewer_with_labels
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Edit labels")  # the viewer behind a proxy
    widget._layer.reset_choices()
    widget._layer.value = labels
    look_at(viewer, 120, 120, zoom=4)
    assert widget.edit_view()
    assert "cells [editing]" not in [layer.name for layer in widget._layer.choices]
    data = widget.window.data.copy()
    data[0:20, 0:20] = 33  # set, not painted
    widget.window.data = data
    viewer.layers.remove("cells [editing]")
    assert "kept beside the store" in widget._status.value
    assert_store_holds(cells, big_labels())  # nothing committed
    assert widget.edit_view()
    assert not widget._restore.native.isHidden() and "Restore recovered edits" in widget._status.value
    widget.restore_recovered()
    assert (zarr.open_array(cells / "0", mode="r")[...] == 33).sum() == 400


def test_labels_in_a_zip_store_are_refused_in_the_widgets_words(make_napari_viewer, tmp_path):
    from test_editing import original_labels, zipped

    archive = zipped(write_labels_store(tmp_path / "image.zarr", original_labels()).parents[1])
    viewer = make_napari_viewer(show=True)
    viewer.open(str(archive), plugin="napari-zarr-tiles")
    widget = EditLabelsWidget(viewer)
    widget._layer.value = viewer.layers["cells"]
    assert not widget.edit_view()
    assert widget._status.value == (
        f"{archive}/labels/cells is read-only here (a remote or zip store): its labels cannot be edited in place; "
        f"convert it to a local folder first (napari-zarr-tiles convert {archive} image.zarr)")
    widget._image.value = viewer.layers["image"]
    assert not widget.new_labels()
    assert "its image cannot hold new labels: choose a separate store below; convert it" in widget._status.value
    assert "store=" not in widget._status.value
    widget._store.value = tmp_path / "nuclei.zarr"
    assert widget.new_labels() and str(widget.editor.path) == str(tmp_path / "nuclei.zarr")


def test_refusals_are_said_in_words(viewer_with_labels):
    viewer, widget, labels, _cells = viewer_with_labels
    plain = viewer.add_labels(np.zeros((10, 10), np.uint8), name="painted here")
    widget._layer.value = plain
    assert not widget.edit_view()
    assert "'painted here' was not read from zarr by Zarr Tiles" in widget._status.value
    widget._layer.value = labels
    other = EditLabelsWidget(viewer)
    other._layer.value = labels
    assert widget.edit_view()
    assert not other.edit_view()  # the second editor of the same store
    assert "cannot be opened for editing" in other._status.value and "commit and close that editor" in other._status.value
    assert not widget.commit() or "committed" in widget._status.value
    widget.close_window()
    assert not widget.commit() and "no window is open" in widget._status.value


def test_new_labels_for_this_image_open_empty_and_editable(viewer_with_labels):
    viewer, widget, _labels, cells = viewer_with_labels
    widget._image.value = viewer.layers["image"]
    widget._name.value = "nuclei"
    assert widget.new_labels()
    nuclei = viewer.layers["nuclei"]
    assert nuclei.multiscale and widget._layer.value is nuclei
    look_at(viewer, 300, 300, zoom=4)
    assert widget.edit_view()
    widget.window.paint((4, 4), 1)
    assert widget.commit()
    store = cells.parent / "nuclei"
    assert (zarr.open_array(store / "0", mode="r")[...] == 1).sum() > 0
    assert not widget.new_labels()  # the same name again
    assert "nuclei exists: choose another name" in widget._status.value


def test_a_drawn_rectangle_is_the_window(viewer_with_labels):
    viewer, widget, _labels, _cells = viewer_with_labels
    assert not widget.edit_drawn_region()
    assert "draw a rectangle in the 'edit region' layer" in widget._status.value
    shapes = viewer.layers["edit region"]
    shapes.add_rectangles(np.array([[100.0, 200.0], [150.0, 260.0]]))  # world units: level-0 pixels x 0.5
    assert widget.edit_drawn_region()
    assert widget._region == (slice(200, 301), slice(400, 521))
    np.testing.assert_array_equal(widget.window.data, big_labels()[200:301, 400:521])


def test_small_single_level_labels_are_edited_whole(make_napari_viewer, tmp_path):
    from test_editing import original_labels

    cells = write_labels_store(tmp_path / "small.zarr", original_labels(), with_pyramid=False)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(tmp_path / "small.zarr"), plugin="napari-zarr-tiles")
    widget = EditLabelsWidget(viewer)
    widget._layer.value = viewer.layers["cells"]
    assert not viewer.layers["cells"].multiscale
    look_at(viewer, 20, 20, zoom=8)  # a corner on screen: the window is still the whole image
    assert widget.edit_view()
    assert widget._region == (slice(0, 300), slice(0, 500))
    widget.window.paint((250, 450), 11)
    expected = original_labels()
    expected[...] = widget.window.data
    assert widget.commit()
    np.testing.assert_array_equal(zarr.open_array(cells / "0", mode="r")[...], expected)


def test_a_65536_labels_store_made_corrected_and_read_back_by_napari_ome_zarr_at_every_level(make_napari_viewer, tmp_path):
    import dask.array as da
    from napari_ome_zarr import napari_get_reader
    from test_editing import YX

    from napari_zarr_tiles._image import ImageToWrite
    from napari_zarr_tiles._options import WriteOptions
    from napari_zarr_tiles._writing import create_empty

    size = 65536  # an empty image of that size (no chunk written), then new labels for it, painted in napari
    image = zarr.open_group(tmp_path / "big.zarr", mode="w-", zarr_format=2)
    create_empty(image, ImageToWrite(da.zeros((size, size), dtype=np.uint16, chunks=1024), YX, "big"), WriteOptions())
    viewer = make_napari_viewer(show=True)
    viewer.open(str(tmp_path / "big.zarr"), plugin="napari-zarr-tiles")
    widget = EditLabelsWidget(viewer)
    widget._image.value = viewer.layers["big"]
    widget._name.value = "corrected"
    assert widget.new_labels()
    labels = viewer.layers["corrected"]
    assert labels.multiscale and labels.data[0].shape == (size, size)
    viewer.scene.camera.center = (40000.0, 30000.0)
    viewer.scene.camera.zoom = 2
    assert widget.edit_view()
    box = widget._region
    assert box[0].stop - box[0].start < 1000
    widget.window.fill((0, 0), 5)  # the empty window, flooded
    assert widget.commit()
    store = tmp_path / "big.zarr" / "labels" / "corrected"
    [(levels, _, kind)] = [layer for layer in napari_get_reader(str(store))(str(store)) if layer[2] == "labels"]
    assert kind == "labels" and len(levels) == 7
    y, x = (-(-s.start // 64) * 64 for s in box)  # a pixel in the window that every level keeps
    assert box[0].start <= y < box[0].stop and box[1].start <= x < box[1].stop
    for level, data in enumerate(levels):
        assert int(np.asarray(data[y >> level, x >> level])) == 5, level
        assert int(np.asarray(data[0, 0])) == 0
    written = [p for p in store.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(written) < 7 * 4  # the chunks under the window and the tiles above them, nothing else
