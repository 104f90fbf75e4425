"""The "Convert to zarr tiles" widget and napari's own Save, in a real viewer."""

import numpy as np
import pytest
import tifffile
from conftest import DATA

from napari_zarr_tiles._widgets import ConvertWidget

pytestmark = pytest.mark.gui
HELA = DATA / "hela-cells.tif"


def run_widget(qtbot, widget):
    widget.start()
    qtbot.waitUntil(lambda: widget._run.enabled, timeout=60_000)


def test_convert_widget_converts_in_the_background_and_opens_the_result(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._source.value = HELA
    assert widget._target.value.name == "hela-cells.ome.zarr"
    widget._target.value = tmp_path / "hela.ome.zarr"
    widget._chunks.value = 256
    run_widget(qtbot, widget)
    assert widget._status.value.startswith("wrote"), widget._status.value
    assert [layer.name for layer in viewer.layers] == ["R", "G", "B"]
    np.testing.assert_array_equal(np.asarray(viewer.layers["G"].data[0]), tifffile.imread(HELA)[..., 1])


def test_cancel_stops_the_conversion_and_leaves_nothing(make_napari_viewer, qtbot, tmp_path):
    source = tmp_path / "big.tif"
    rng = np.random.default_rng(4)
    tifffile.imwrite(source, rng.integers(0, 4000, (2048, 2048), dtype=np.uint16), tile=(256, 256))
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = source
    widget._target.value = tmp_path / "out.zarr"
    widget._chunks.value = 64  # over a thousand tiles: time to cancel after the first
    widget._relay.advanced.connect(lambda done, total: done >= 1 and widget.cancel())
    run_widget(qtbot, widget)
    assert "cancelled" in widget._status.value
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big.tif"]
    assert len(viewer.layers) == 0


def test_napari_save_layers_writes_image_and_labels_through_the_plugin(make_napari_viewer, tmp_path, blobs, maize_labels):
    viewer = make_napari_viewer()
    viewer.add_image(blobs, name="blobs", scale=(0.5, 0.5), colormap="magenta")
    viewer.add_labels(maize_labels[:254, :256], name="cells")
    written = viewer.layers.save(str(tmp_path / "saved.zarr"), plugin="napari-zarr-tiles")
    assert written == [str(tmp_path / "saved.zarr")]
    viewer.layers.clear()
    viewer.open(tmp_path / "saved.zarr", plugin="napari-zarr-tiles")
    assert [(layer.name, type(layer).__name__) for layer in viewer.layers] == [("blobs", "Image"), ("cells", "Labels")]
    np.testing.assert_array_equal(np.asarray(viewer.layers["cells"].data), maize_labels[:254, :256])
    assert tuple(viewer.layers["blobs"].scale) == (0.5, 0.5) and viewer.layers["blobs"].colormap.name == "magenta"


def test_convert_widget_takes_a_url_as_its_source_and_suggests_a_local_target(make_napari_viewer, qtbot, tmp_path,
                                                                              monkeypatch):
    from servers import http_server

    from napari_zarr_tiles._convert import convert

    served = tmp_path / "served"
    served.mkdir()
    convert(HELA, served / "hela.ome.zarr", tile=256)
    monkeypatch.chdir(tmp_path)
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    with http_server(served) as server:
        widget._source.line_edit.value = f"{server.url}/hela.ome.zarr"
        assert widget._target.value == tmp_path / "hela.ome.zarr"  # beside the working folder, not "http:/..."
        run_widget(qtbot, widget)
    assert widget._status.value == f"wrote {tmp_path / 'hela.ome.zarr'}", widget._status.value
    green = viewer.layers["G"]
    assert [layer.name for layer in viewer.layers] == ["R", "G", "B"]
    np.testing.assert_array_equal(np.asarray(green.data[0] if green.multiscale else green.data), tifffile.imread(HELA)[..., 1])


def test_convert_widget_refuses_a_zip_target_and_says_how_to_make_one(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = HELA
    widget._target.value = tmp_path / "hela.zarr.zip"
    run_widget(qtbot, widget)
    assert "zip stores are read-only here; write a folder (hela.zarr) and zip it" in widget._status.value
    assert list(tmp_path.iterdir()) == [] and len(viewer.layers) == 0
