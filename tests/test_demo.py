"""`napari-zarr-tiles demo`: the filter sample driven through the Tile filter's public methods, with a timeout."""

import imageio.v3 as iio
import pytest
from qtpy.QtWidgets import QApplication

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._widgets import TileFilterWidget

pytestmark = pytest.mark.gui


def shown_windows() -> list:
    return [window for window in QApplication.topLevelWidgets() if window.isVisible()]


def test_the_filter_demo_thresholds_the_big_sample_and_saves_the_window(qtbot, tmp_path, capsys):
    picture = tmp_path / "demo.png"
    assert main(["demo", "--sample", "filter", "--screenshot", str(picture)]) == 0
    assert capsys.readouterr().out == f"saved {picture}\n"
    frame = iio.imread(picture)
    assert frame.shape[1] >= 1000 and frame[..., :3].std() > 20
    assert shown_windows() == []


def test_the_segment_demo_splits_and_measures_the_nuclei_and_saves_the_window(qtbot, tmp_path, capsys, monkeypatch):
    from napari_zarr_tiles._segment_widgets import MeasureWidget

    shown, coloured = [], []
    show_table, colour_by = MeasureWidget.show_table, MeasureWidget.colour_by
    monkeypatch.setattr(MeasureWidget, "show_table", lambda self, layer, frame: (
        shown.append(frame), show_table(self, layer, frame))[1])
    monkeypatch.setattr(MeasureWidget, "colour_by", lambda self, column: (
        coloured.append(column), colour_by(self, column))[1])
    picture = tmp_path / "demo.png"
    assert main(["demo", "--sample", "segment", "--screenshot", str(picture)]) == 0
    assert capsys.readouterr().out == f"saved {picture}\n"
    [frame] = shown
    assert len(frame) > 20 and list(frame["label"]) == list(range(1, len(frame) + 1))
    assert "area" in coloured  # (the window closing puts the label colours back)
    assert iio.imread(picture)[..., :3].std() > 20 and shown_windows() == []


def test_a_filter_demo_without_a_result_in_time_says_so_and_closes_its_window(qtbot, tmp_path, capsys, monkeypatch):
    def too_late(self, timeout):
        raise TimeoutError(f"Tile filter: no result of threshold after {timeout:g} s")

    monkeypatch.setattr(TileFilterWidget, "wait", too_late)
    picture = tmp_path / "demo.png"
    assert main(["demo", "--sample", "filter", "--screenshot", str(picture)]) == 1
    error = capsys.readouterr().err
    assert "napari-zarr-tiles: demo: Tile filter: no result of threshold after 120 s; the machine may be busy" in error
    assert not picture.exists() and shown_windows() == []


def test_the_plate_demo_shows_the_sample_plate_and_opens_a_well_with_the_plate_widget(qtbot, tmp_path, capsys, monkeypatch):
    import numpy as np
    import zarr

    from napari_zarr_tiles._plate_widget import PlateWidget
    from napari_zarr_tiles._sample_data import PLATE_COLUMNS, PLATE_FIELDS, PLATE_ROWS, cells_plate_path

    opened = []
    open_field = PlateWidget.open_field
    monkeypatch.setattr(PlateWidget, "open_field", lambda self, field=None: opened.append(
        [(layer.name, np.asarray(layer.data[0] if layer.multiscale else layer.data)) for layer in open_field(self, field)]
    ) or opened[-1])
    picture = tmp_path / "demo.png"
    assert main(["demo", "--sample", "plate", "--screenshot", str(picture)]) == 0
    assert capsys.readouterr().out == f"saved {picture}\n"
    plate = zarr.open_group(cells_plate_path(), mode="r")
    assert len(plate.attrs["plate"]["wells"]) == len(PLATE_ROWS) * len(PLATE_COLUMNS) - 1
    assert plate.attrs["plate"]["field_count"] == PLATE_FIELDS
    [layers] = opened
    stored = plate["B/2/0/0"][...]
    assert [name for name, _ in layers] == ["B2 field 0: DNA (Hoechst)", "B2 field 0: ER (ConA)", "B2 field 0: RNA (SYTO 14)"]
    for channel, (_, pixels) in enumerate(layers):
        np.testing.assert_array_equal(pixels, stored[channel])
    assert iio.imread(picture)[..., :3].std() > 20 and shown_windows() == []
