"""``convert --axes``: the axes a TIFF declares replaced, in any order, checked before any work."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import DATA

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._errors import InvalidOptionError
from napari_zarr_tiles._reader import napari_get_reader

BEADS = DATA / "Bead_Image1_crop.tif"  # an ImageJ z stack, 41 x 150 x 150, 0.125 micrometre z spacing


@pytest.fixture(scope="module")
def beads() -> np.ndarray:
    return tifffile.imread(BEADS)


def read(path):
    return napari_get_reader(str(path))(str(path))


def level0(data) -> np.ndarray:
    return np.asarray(data[0] if isinstance(data, list) else data)


def test_an_imagej_stack_read_as_time_converts_as_z_with_axes(tmp_path, beads, capsys):
    # the same planes saved as ImageJ frames: tifffile, and the converter after it, read them as time
    frames = tmp_path / "frames.tif"
    tifffile.imwrite(frames, beads, imagej=True, metadata={"axes": "TYX"})
    assert tifffile.TiffFile(frames).series[0].axes == "TYX"
    assert main(["convert", str(frames), str(tmp_path / "as_time.zarr")]) == 0
    [(_, kwargs, _)] = read(tmp_path / "as_time.zarr")
    assert kwargs["axis_labels"] == ["t", "y", "x"]
    assert main(["convert", str(frames), str(tmp_path / "as_z.zarr"), "--axes", "ZYX"]) == 0
    [(data, kwargs, _)] = read(tmp_path / "as_z.zarr")
    assert kwargs["axis_labels"] == ["z", "y", "x"]
    np.testing.assert_array_equal(level0(data), beads)
    assert "wrote" in capsys.readouterr().out


def test_axes_in_any_order_and_case_reorder_the_pixels_as_ome_zarr_wants(tmp_path, beads):
    convert(BEADS, tmp_path / "turned.zarr", axes="yxz")  # the TIFF's first axis called Y, its last Z
    [(data, kwargs, _)] = read(tmp_path / "turned.zarr")
    assert kwargs["axis_labels"] == ["z", "y", "x"]
    np.testing.assert_array_equal(level0(data), beads.transpose(2, 0, 1))


def test_axes_replace_a_declared_z_with_time_and_keep_the_pixel_size(tmp_path, beads):
    convert(BEADS, tmp_path / "time.zarr", axes="TYX")
    [(_, kwargs, _)] = read(tmp_path / "time.zarr")
    assert kwargs["axis_labels"] == ["t", "y", "x"]
    assert kwargs["scale"][0] == 1.0 and kwargs["scale"][1] == pytest.approx(1e6 / 44460534)


def test_the_samples_of_an_rgb_tiff_named_as_channels(tmp_path):
    convert(DATA / "hela-cells.tif", tmp_path / "hela.zarr", axes="YXC")
    layers = read(tmp_path / "hela.zarr")
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["R", "G", "B"]
    np.testing.assert_array_equal(level0(layers[2][0]), tifffile.imread(DATA / "hela-cells.tif")[..., 2])


@pytest.mark.parametrize(
    ("axes", "why"),
    [
        ("ZQX", "--axes 'ZQX' letters Q are not axes: use T, C, Z, Y, X"),
        ("YX", ("--axes 'YX' names 2 axes: give one letter per dimension (Bead_Image1_crop.tif has 3 dimensions, "
                "shape (41, 150, 150), declared 'ZYX')")),
        ("ZYY", "--axes 'ZYY' names an axis twice"),
        ("TCZ", "--axes 'TCZ' must name Y and X, the plane"),
    ],
)
def test_wrong_axes_are_refused_naming_the_flag_before_any_work(tmp_path, capsys, axes, why):
    assert main(["convert", str(BEADS), str(tmp_path / "out.zarr"), "--axes", axes]) == 2
    assert capsys.readouterr().err.startswith(f"napari-zarr-tiles convert: {why}")
    assert not list(tmp_path.iterdir())


def test_axes_are_refused_for_a_zarr_source_in_pythons_words(tmp_path):
    convert(BEADS, tmp_path / "beads.zarr")
    with pytest.raises(InvalidOptionError, match="axes replaces the axes of a TIFF; .* is a zarr store") as caught:
        convert(tmp_path / "beads.zarr", tmp_path / "again.zarr", axes="ZYX")
    assert caught.value.option == "axes" and not (tmp_path / "again.zarr").exists()


@pytest.mark.gui
def test_the_convert_widget_takes_axes_and_says_wrong_ones_in_its_words(make_napari_viewer, qtbot, tmp_path, beads):
    from napari_zarr_tiles._widgets import ConvertWidget

    viewer = make_napari_viewer()
    widget = ConvertWidget(viewer)
    widget._source.value = BEADS
    widget._target.value = tmp_path / "beads.zarr"
    widget._axes.value = "ZQX"
    widget.start()
    qtbot.waitUntil(lambda: widget._run.enabled, timeout=60_000)
    assert widget._status.value == "failed: axes 'ZQX' letters Q are not axes: use T, C, Z, Y, X " + (
        "(Bead_Image1_crop.tif has 3 dimensions, shape (41, 150, 150), declared 'ZYX')"
    )
    widget._axes.value = "TYX"
    widget.start()
    qtbot.waitUntil(lambda: widget._run.enabled, timeout=60_000)
    assert widget._status.value.startswith("wrote"), widget._status.value
    assert viewer.layers[0].axis_labels == ("t", "y", "x")
    np.testing.assert_array_equal(level0(viewer.layers[0].data), beads)


def test_process_takes_axes_too_and_filters_over_z_as_it_does_a_stack_declared_z(tmp_path, beads, capsys):
    frames = tmp_path / "frames.tif"
    tifffile.imwrite(frames, beads, imagej=True, metadata={"axes": "TYX"})
    assert main(["process", str(BEADS), str(tmp_path / "declared.zarr"), "gaussian", "sigma=1.5"]) == 0
    assert main(["process", str(frames), str(tmp_path / "as_time.zarr"), "gaussian", "sigma=1.5"]) == 0
    assert main(["process", str(frames), str(tmp_path / "as_z.zarr"), "gaussian", "sigma=1.5", "--axes", "ZYX"]) == 0
    [(declared, _, _)] = read(tmp_path / "declared.zarr")
    [(as_time, time_kwargs, _)] = read(tmp_path / "as_time.zarr")
    [(as_z, z_kwargs, _)] = read(tmp_path / "as_z.zarr")
    assert time_kwargs["axis_labels"] == ["t", "y", "x"] and z_kwargs["axis_labels"] == ["z", "y", "x"]
    np.testing.assert_array_equal(level0(as_z), level0(declared))  # blurred along z too
    assert not np.array_equal(level0(as_time), level0(declared))  # each frame blurred alone
    capsys.readouterr()
    assert main(["process", str(tmp_path / "declared.zarr"), str(tmp_path / "again.zarr"), "gaussian", "--axes", "ZYX"]) == 2
    assert "--axes replaces the axes of a TIFF" in capsys.readouterr().err
