"""What a person sees: a real napari window (shown, under Xvfb in CI) opening stores through this plugin."""

import numpy as np
import pytest
import zarr
from conftest import CYX, ome_group, write_ome_image

pytestmark = pytest.mark.gui


def drop(viewer, path) -> None:
    """Drop ``path`` on the window as a file manager would, and pick this plugin where napari asks which reader.

    napari asks whenever several installed readers take folders (its builtins and napari-ome-zarr do).
    """
    from napari._qt.dialogs.qt_reader_dialog import QtReaderDialog
    from qtpy.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
    from qtpy.QtGui import QDropEvent
    from qtpy.QtWidgets import QApplication

    def choose_this_plugin():
        dialogs = [widget for widget in QApplication.topLevelWidgets() if isinstance(widget, QtReaderDialog)]
        if not dialogs or not dialogs[0].isVisible():
            QTimer.singleShot(50, choose_this_plugin)
            return
        [button] = [button for button in dialogs[0].reader_btn_group.buttons() if button.text() == "Zarr Tiles"]
        button.setChecked(True)
        dialogs[0].accept()

    QTimer.singleShot(50, choose_this_plugin)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    viewer.window._qt_viewer.dropEvent(event)


def drawn(viewer) -> np.ndarray:
    viewer.reset_view()
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3]


def test_dropping_an_ome_zarr_folder_shows_coloured_channels(make_napari_viewer, tmp_path, blobs):
    image = np.stack([blobs, 255 - blobs]).astype(np.uint16)
    root = ome_group(tmp_path / "any name at all", "0.5")
    omero = {"channels": [{"label": "nuclei", "color": "00FF00"}, {"label": "background", "color": "FF00FF"}]}
    write_ome_image(root, [image, image[:, ::2, ::2]], CYX, version="0.5", scale=[1, 0.5, 0.5], omero=omero)
    viewer = make_napari_viewer(show=True)
    drop(viewer, tmp_path / "any name at all")
    assert [layer.name for layer in viewer.layers] == ["nuclei", "background"]
    nuclei = viewer.layers["nuclei"]
    assert nuclei.multiscale and nuclei.colormap.name == "green"
    assert tuple(nuclei.scale) == (0.5, 0.5) and tuple(nuclei.axis_labels) == ("y", "x")
    assert nuclei.contrast_limits != [0, 65535]
    frame = drawn(viewer)
    assert frame.std() > 10, "the window shows a flat frame"
    assert frame[..., 1].mean() > frame[..., 2].mean() * 0.5  # green nuclei and magenta background both drawn


def test_a_big_single_scale_array_is_drawn_from_lazy_levels(make_napari_viewer, tmp_path):
    rng = np.random.default_rng(2)
    tile = rng.integers(0, 1000, (512, 512), dtype=np.uint16)
    array = zarr.create_array(tmp_path / "big", shape=(5000, 6000), chunks=(512, 512), dtype="u2")
    array[...] = np.tile(tile, (10, 12))[:5000, :6000]
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(tmp_path / "big", plugin="napari-zarr-tiles")
    assert layer.multiscale and layer.data[0].shape == (5000, 6000) and max(layer.data[-1].shape) <= 1024
    assert drawn(viewer).std() > 5


def test_sample_data_open_and_draw(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_ZARR_TILES_SAMPLES", str(tmp_path))
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-zarr-tiles", "cells_ome_zarr")
    assert [layer.name for layer in viewer.layers] == ["DNA (Hoechst)", "ER (ConA)", "RNA (SYTO 14)"]
    assert (tmp_path / "cells.ome.zarr" / ".zattrs").is_file()
    assert drawn(viewer).std() > 10
    viewer.layers.clear()
    viewer.open_sample("napari-zarr-tiles", "big_synthetic")
    [layer] = viewer.layers
    assert layer.multiscale and layer.data[0].shape == (65536, 65536)
    assert drawn(viewer).std() > 3


@pytest.mark.parametrize("values_a_pixel", [3, 4])
def test_a_plain_rgb_or_rgba_array_opens_as_red_green_blue_layers_added(make_napari_viewer, tmp_path, values_a_pixel):
    """An image library's colour array (Y, X, 3 or 4 uint8, no axis names): napari's own guess made it RGB and
    the reader's three-axis scale then failed to broadcast; it now opens as its colour channels, added."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (64, 80, values_a_pixel), dtype=np.uint8)
    zarr.create_array(str(tmp_path / "photo.zarr"), data=pixels)
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(tmp_path / "photo.zarr"), plugin="napari-zarr-tiles")
    names = ["photo [red]", "photo [green]", "photo [blue]", "photo [alpha]"][:values_a_pixel]
    assert [layer.name for layer in layers] == names
    assert [layer.colormap.name for layer in layers[:3]] == ["red", "green", "blue"]
    for index, layer in enumerate(layers):
        np.testing.assert_array_equal(np.asarray(layer.data), pixels[..., index])
        assert tuple(layer.contrast_limits) == (0, 255) and layer.blending == "additive"
        assert layer.visible == (index < 3)
    frame = viewer.screenshot(canvas_only=True, flash=False)
    assert frame[..., :3].std() > 20  # drawn in colour, not one flat plane


def test_an_array_with_axis_names_ending_in_three_values_opens_as_named(make_napari_viewer, tmp_path):
    zarr.create_array(str(tmp_path / "named.zarr"), data=np.zeros((64, 80, 3), np.uint8), dimension_names=("z", "y", "x"))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(tmp_path / "named.zarr"), plugin="napari-zarr-tiles")
    assert not layer.rgb and layer.data.shape == (64, 80, 3) and layer.axis_labels == ("z", "y", "x")
