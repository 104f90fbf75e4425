"""What a person sees in a real napari window when a store is damaged: napari keeps working, and says so once."""

import numpy as np
import pytest
import zarr

pytestmark = pytest.mark.gui

PLUGIN = "napari-zarr-tiles"


@pytest.fixture
def warnings_shown(qtbot):
    """The messages of the warning notifications napari dispatches (to its Qt pop-ups among others)."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    shown = []

    def record(notification):
        if notification.severity == NotificationSeverity.WARNING:
            shown.append(notification.message)

    notification_manager.notification_ready.connect(record)
    yield shown
    notification_manager.notification_ready.disconnect(record)


def test_truncated_chunks_met_while_drawing_show_the_fill_value_and_are_named_once(
    make_napari_viewer, tmp_path, qtbot, warnings_shown
):
    path = tmp_path / "truncated.zarr"
    array = zarr.create_array(path, shape=(2048, 2048), chunks=(256, 256), dtype="u2", zarr_format=2)
    array[...] = np.broadcast_to(7 + np.arange(2048, dtype="u2") % 100, (2048, 2048))  # a ramp, not flat
    for key in ("0.7", "7.0"):  # off the diagonal the contrast sample reads: first met while napari draws
        (path / key).write_bytes((path / key).read_bytes()[:20])
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(path, plugin=PLUGIN)
    assert [item.name for item in viewer.layers] == ["truncated"]
    viewer.reset_view()
    frame = viewer.screenshot(canvas_only=True, flash=False)
    assert frame.std() > 0
    qtbot.waitUntil(lambda: len(warnings_shown) == 1, timeout=5000)
    [message] = warnings_shown
    assert "truncated.zarr: array '/': chunk(s) 0.7, 7.0 cannot be read" in message, message
    assert "shown as the fill value" in message
    np.testing.assert_array_equal(np.asarray(layer.data[:256, 1792:]), 0)
    assert int(np.asarray(layer.data[:256, :256]).min()) == 7
    viewer.screenshot(canvas_only=True, flash=False)  # drawn again: no second notification
    qtbot.wait(50)
    assert len(warnings_shown) == 1
    viewer.close()


def test_a_group_with_arrays_zarr_cannot_open_shows_the_others_and_names_them_once(
    make_napari_viewer, tmp_path, qtbot, blobs, warnings_shown
):
    from test_reader import mixed_group

    mixed_group(tmp_path / "mixed.zarr", blobs)
    viewer = make_napari_viewer(show=True)
    viewer.open(tmp_path / "mixed.zarr", plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["good"]
    np.testing.assert_array_equal(viewer.layers["good"].data, blobs)
    [message] = warnings_shown
    assert message.startswith(f"{tmp_path / 'mixed.zarr'}: 3 not opened: ")
    viewer.close()


def test_a_store_deleted_while_open_is_said_to_be_gone_once_where_it_used_to_read_as_blank(
    make_napari_viewer, tmp_path, qtbot, warnings_shown
):
    import shutil

    path = tmp_path / "gone.zarr"
    array = zarr.create_array(path, shape=(1024, 1024), chunks=(256, 256), dtype="u2", zarr_format=2)
    array[...] = np.broadcast_to(7 + np.arange(1024, dtype="u2") % 100, (1024, 1024))
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin=PLUGIN)
    assert int(np.asarray(layer.data[:256, :256]).min()) == 7
    shutil.rmtree(path)
    np.testing.assert_array_equal(np.asarray(layer.data[256:512, :256]), 0)  # the fill value, as before
    qtbot.waitUntil(lambda: len(warnings_shown) == 1, timeout=5000)
    [message] = warnings_shown
    assert f"the store is no longer at {path} (deleted or moved)" in message, message
    np.asarray(layer.data[512:, :256])  # read again: told once
    qtbot.wait(50)
    assert len(warnings_shown) == 1
