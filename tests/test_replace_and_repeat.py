"""A save or conversion onto an existing store asks first (the widgets, napari's own Save); a second click
while one runs starts nothing. The question is answered here by replacing ``ask_to_replace``."""

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import zarr
from conftest import DATA, save_widget_for_a_result
from scipy import ndimage as ndi

from napari_zarr_tiles import _widget_parts
from napari_zarr_tiles._errors import TargetExistsError, WriteCancelled
from napari_zarr_tiles._widgets import ConvertWidget, SaveResultWidget, TileFilterWidget

pytestmark = pytest.mark.gui
HELA = DATA / "hela-cells.tif"


@pytest.fixture
def answer(monkeypatch):
    """Answers ``ask_to_replace`` with ``answer.value`` and keeps the targets asked about in ``answer.asked``."""

    answer = SimpleNamespace(value=False, asked=[])

    def ask(target):
        answer.asked.append(target)
        return answer.value

    monkeypatch.setattr(_widget_parts, "ask_to_replace", ask)
    return answer


@pytest.fixture
def notifications():
    from napari.utils.notifications import notification_manager

    said = []
    notification_manager.notification_ready.connect(said.append)
    yield said
    notification_manager.notification_ready.disconnect(said.append)


def existing_store(path):
    path.mkdir()
    (path / "precious.txt").write_text("keep me")
    return path


def finish(qtbot, widget):
    qtbot.waitUntil(lambda: widget._run.enabled and not widget._running, timeout=60_000)


def test_convert_onto_an_existing_store_asks_and_no_keeps_it_yes_replaces_it(make_napari_viewer, qtbot, tmp_path, answer):
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = HELA
    widget._target.value = target = existing_store(tmp_path / "hela.zarr")
    widget.start()
    assert answer.asked == [target] and widget.worker is None
    assert widget._status.value == "hela.zarr exists and was kept: nothing written"
    assert (target / "precious.txt").read_text() == "keep me" and len(viewer.layers) == 0
    answer.value = True
    widget.start()
    finish(qtbot, widget)
    assert widget._status.value == f"wrote {target}", widget._status.value
    assert not (target / "precious.txt").exists() and [layer.name for layer in viewer.layers] == ["R", "G", "B"]
    widget._overwrite.value = True  # ticked: replaced without a question
    widget.start()
    finish(qtbot, widget)
    assert len(answer.asked) == 2 and widget._status.value == f"wrote {target}"


def test_a_second_click_while_converting_starts_nothing_and_the_widget_works_after(
    make_napari_viewer, qtbot, tmp_path, notifications
):
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = HELA
    widget._target.value = tmp_path / "hela.zarr"
    widget.start()
    worker = widget.worker
    widget.start()  # as a second click arriving before the first run ends
    assert widget.worker is worker
    assert any("one is under way" in str(note.message) for note in notifications)
    finish(qtbot, widget)
    assert widget._status.value == f"wrote {tmp_path / 'hela.zarr'}" and len(viewer.layers) == 3
    widget._target.value = tmp_path / "again.zarr"
    widget.start()
    finish(qtbot, widget)
    assert widget._status.value == f"wrote {tmp_path / 'again.zarr'}"


def test_save_twice_quickly_writes_once_then_saves_the_result_again_and_asks_before_replacing(
    make_napari_viewer, qtbot, tmp_path, blobs, answer, notifications
):
    viewer = make_napari_viewer()
    viewer.add_image(blobs, name="blobs")
    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose("maximum", size=5)
    tile_filter.apply()
    tile_filter.apply()  # Apply clicked twice: one result layer
    result = tile_filter.wait(timeout=60)
    assert [layer.name for layer in viewer.layers] == ["blobs", "blobs maximum(size=5)"]
    save = SaveResultWidget(viewer)
    save._target.value = tmp_path / "max.zarr"
    save.start()
    worker = save.worker
    save.start()
    assert save.worker is worker and any("one is under way" in str(note.message) for note in notifications)
    finish(qtbot, save)
    expected = ndi.maximum_filter(blobs, size=5)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "max.zarr" / "0", mode="r")[:], expected)
    assert save._layer.choices == (result,)  # still a result, to save again
    save._target.value = tmp_path / "again.zarr"
    save.start()
    finish(qtbot, save)
    assert save._status.value == f"wrote {tmp_path / 'again.zarr'}", save._status.value
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "again.zarr" / "0", mode="r")[:], expected)
    save.start()  # onto the store just written: asked, and No keeps it
    assert answer.asked == [tmp_path / "again.zarr"] and save._status.value == "again.zarr exists and was kept: nothing written"
    answer.value = True
    save.start()
    finish(qtbot, save)
    assert save._status.value == f"wrote {tmp_path / 'again.zarr'}", save._status.value


def test_napari_save_over_a_store_asks_in_the_window_and_is_refused_without_one(
    make_napari_viewer, tmp_path, blobs, answer
):
    target = str(existing_store(tmp_path / "saved.zarr"))
    hidden = make_napari_viewer()
    hidden.add_image(blobs, name="blobs")
    with pytest.raises(TargetExistsError, match="exists already; save under another name, or delete it first"):
        hidden.layers.save(target, plugin="napari-zarr-tiles")
    assert answer.asked == []
    viewer = make_napari_viewer(show=True)
    viewer.add_image(blobs, name="blobs")
    with pytest.raises(WriteCancelled, match="was kept as it was; nothing was saved"):
        viewer.layers.save(target, plugin="napari-zarr-tiles")
    assert (tmp_path / "saved.zarr" / "precious.txt").exists()
    answer.value = True
    assert viewer.layers.save(target, plugin="napari-zarr-tiles") == [target]
    assert not (tmp_path / "saved.zarr" / "precious.txt").exists()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "saved.zarr" / "0", mode="r")[:], blobs)


def test_a_result_is_never_saved_over_the_image_it_is_made_from(make_napari_viewer, tmp_path, blobs, answer):
    from napari_zarr_tiles._convert import convert

    tifffile.imwrite(tmp_path / "blobs.tif", blobs)
    source = convert(tmp_path / "blobs.tif", tmp_path / "blobs.zarr", tile=64)
    viewer = make_napari_viewer()
    viewer.open(source, plugin="napari-zarr-tiles")
    save = save_widget_for_a_result(viewer, "median", size=3)
    save._target.value = source
    save.start()
    assert save.worker is None and answer.asked == []
    assert save._status.value == "blobs.zarr is the image this result is made from: choose another target"
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "blobs.zarr" / "0", mode="r")[:], blobs)
