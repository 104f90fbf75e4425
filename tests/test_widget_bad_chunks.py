"""A save from the viewer meets a chunk that cannot be read as convert and process do: it stops naming it, or,
with "fill bad chunks" ticked, writes the fill value and records that the result is not clean (the viewer
itself shows such a chunk as the fill value and keeps drawing)."""

import numpy as np
import pytest
import zarr
from conftest import save_widget_for_a_result
from scipy import ndimage as ndi

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._store import WRITER_MARKER
from napari_zarr_tiles._widgets import ConvertWidget

pytestmark = pytest.mark.gui


@pytest.fixture
def damaged(tmp_path, blobs):
    """blobs as a zarr v2 array of 64 x 64 chunks, chunk 1.2 truncated on disk."""
    array = zarr.create_array(tmp_path / "damaged.zarr", shape=blobs.shape, chunks=(64, 64), dtype=blobs.dtype,
                              zarr_format=2)
    array[...] = blobs
    chunk = tmp_path / "damaged.zarr" / "1.2"
    chunk.write_bytes(chunk.read_bytes()[:10])
    return tmp_path / "damaged.zarr"


def finish(qtbot, widget):
    qtbot.waitUntil(lambda: widget._run.enabled and not widget._running, timeout=60_000)


def test_a_save_from_the_viewer_stops_on_a_bad_chunk_or_fills_it_when_ticked(make_napari_viewer, qtbot, tmp_path,
                                                                             damaged, blobs, capsys):
    viewer = make_napari_viewer()
    viewer.open(damaged, plugin="napari-zarr-tiles")
    save = save_widget_for_a_result(viewer, "maximum", size=3)
    save._target.value = tmp_path / "max.zarr"
    save.start()
    finish(qtbot, save)
    status = save._status.value
    assert "chunk(s) 1.2 cannot be read" in status and "tick 'fill bad chunks'" in status, status
    assert not (tmp_path / "max.zarr").exists()
    save._fill_bad_chunks.value = True
    save.start()
    finish(qtbot, save)
    assert save._status.value == f"wrote {tmp_path / 'max.zarr'}", save._status.value
    marker = zarr.open_group(tmp_path / "max.zarr", mode="r").attrs[WRITER_MARKER]
    assert marker["complete"] is True
    assert marker["provenance"]["clean"] is False and marker["provenance"]["bad_chunks_filled"] == {"/": ["1.2"]}
    assert main(["info", str(tmp_path / "max.zarr")]) == 0
    assert "NOT CLEAN: chunks of the source that could not be read were written as the fill value: {'/': ['1.2']}" in (
        capsys.readouterr().out
    )
    filled = blobs.copy()
    filled[64:128, 128:192] = 0
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "max.zarr" / "0", mode="r")[:],
                                  ndi.maximum_filter(filled, size=3))


def test_convert_widget_fills_a_bad_chunk_when_ticked(make_napari_viewer, qtbot, tmp_path, damaged, blobs):
    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = damaged
    widget._target.value = tmp_path / "copy.zarr"
    widget._fill_bad_chunks.value = True
    widget.start()
    finish(qtbot, widget)
    assert widget._status.value == f"wrote {tmp_path / 'copy.zarr'}", widget._status.value
    copy = zarr.open_array(tmp_path / "copy.zarr" / "0", mode="r")[:]
    expected = blobs.copy()
    expected[64:128, 128:192] = 0
    np.testing.assert_array_equal(copy, expected)


def test_empty_path_fields_ask_for_a_path_and_never_take_the_working_folder(make_napari_viewer, tmp_path, blobs,
                                                                            monkeypatch):
    from napari_zarr_tiles import _widget_parts

    asked = []
    monkeypatch.setattr(_widget_parts, "ask_to_replace", lambda target: asked.append(target) or True)
    monkeypatch.chdir(tmp_path)
    viewer = make_napari_viewer()
    convert = ConvertWidget(viewer)
    convert.start()
    assert convert._status.value == "choose a source file (TIFF or zarr), or a zarr store's URL" and convert.worker is None
    viewer.add_image(blobs, name="blobs")
    save = save_widget_for_a_result(viewer, "maximum", size=3)
    save.start()
    assert save._status.value == "choose a target (.zarr)" and save.worker is None
    assert asked == [] and list(tmp_path.iterdir()) == []
