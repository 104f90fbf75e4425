"""The lazy views napari draws from (``_lazy``): every read equals numpy's on the same pixels, a channel taken
with ``fix`` reads nothing until drawn, and dask.array.asarray gives the same pixels as a dask view; the plate
mosaic's reads equal a mosaic assembled in numpy, whatever the selection, and its dask view too."""

from __future__ import annotations

import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from plate_stores import wrap, write_group, write_image

from napari_zarr_tiles import _plate
from napari_zarr_tiles._errors import ZarrTilesError
from napari_zarr_tiles._lazy import LazyView
from napari_zarr_tiles._store import NamedReads

SHAPE = (3, 2, 37, 45)  # t, c, y, x: chunks that do not divide the shape
VALUES = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)


@pytest.fixture(scope="module")
def view() -> LazyView:
    array = zarr.create_array(store={}, shape=SHAPE, chunks=(1, 1, 16, 16), dtype=VALUES.dtype)
    array[...] = VALUES
    return LazyView(NamedReads(array, bad_chunks="fill"))


def part(size: int):
    """One axis of a basic selection: an index (negative too) or a slice (steps, open ends)."""
    return st.one_of(
        st.integers(-size, size - 1),
        st.builds(
            slice, st.none() | st.integers(-size - 2, size + 2), st.none() | st.integers(-size - 2, size + 2),
            st.none() | st.integers(1, 4) | st.integers(-4, -1),
        ),
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_lazy_view_reads_what_numpy_reads_and_a_fixed_channel_too(view, data):
    selection = tuple(data.draw(part(size)) for size in SHAPE[: data.draw(st.integers(1, 4))])
    np.testing.assert_array_equal(view[selection], VALUES[selection])
    channel = data.draw(st.integers(-2, 1))
    fixed = view.fix(1, channel)
    assert fixed.shape == VALUES[:, channel].shape and fixed.chunks == (1, 16, 16)
    inner = tuple(data.draw(part(size)) for size in fixed.shape)
    np.testing.assert_array_equal(fixed[inner], VALUES[:, channel][inner])


def test_a_lazy_view_takes_an_ellipsis_index_arrays_masks_new_axes_and_numpy_integers(view):
    np.testing.assert_array_equal(view[..., 3], VALUES[..., 3])
    np.testing.assert_array_equal(view[np.int64(1), ..., 2:9:3], VALUES[1, ..., 2:9:3])
    np.testing.assert_array_equal(view[:, 1, [0, 5, 36]], VALUES[:, 1, [0, 5, 36]])
    np.testing.assert_array_equal(view[None, 1], VALUES[None, 1])
    np.testing.assert_array_equal(view[VALUES > 9000], VALUES[VALUES > 9000])
    np.testing.assert_array_equal(np.asarray(view.fix(0, 2)), VALUES[2])
    with pytest.raises(IndexError, match="too many indices"):
        view[0, 0, 0, 0, 0]
    with pytest.raises(IndexError, match="out of bounds"):
        view.fix(1, 2)
    for outside in [(3,), (0, 0, 37), (-4,), (0, 2)]:
        with pytest.raises(IndexError, match="out of bounds"):
            view[outside]


def test_a_lazy_view_iterates_and_computes_as_the_dask_data_of_a_layer_did(view):
    """What scripts and napari's layer actions do with ``layer.data``: iterate (which stops at the end),
    cast, reduce, transpose, compare and do arithmetic, lazily through the dask view."""
    planes = list(view)
    assert len(planes) == 3 and all(np.array_equal(plane, VALUES[index]) for index, plane in enumerate(planes))
    assert np.asarray(view.astype(int)).dtype == int and int(view.max().compute()) == VALUES.max()
    assert int(np.max(view)) == VALUES.max() and view.mean().compute() == pytest.approx(VALUES.mean())
    np.testing.assert_array_equal(np.asarray(view.T), VALUES.T)
    np.testing.assert_array_equal(np.asarray(view + 1), VALUES + 1)
    np.testing.assert_array_equal(np.asarray(2 * view - view), VALUES)
    np.testing.assert_array_equal(np.asarray(view == 5), VALUES == 5)
    np.testing.assert_array_equal(np.asarray(view > 100), VALUES > 100)
    np.testing.assert_array_equal(np.asarray(np.sqrt(view)), np.sqrt(VALUES))
    np.testing.assert_array_equal(np.asarray(np.stack([view.fix(1, 0), view.fix(1, 1)], axis=1)), VALUES)
    assert {view: 1}[view] == 1  # still hashable, by identity


def test_dask_asarray_of_a_lazy_view_is_the_dask_view_of_the_same_pixels(view):
    fixed = view.fix(1, 1)
    lazy = da.asarray(fixed)
    assert isinstance(lazy, da.Array) and lazy.shape == fixed.shape
    np.testing.assert_array_equal(lazy.compute(), VALUES[:, 1])
    # what the engine stacks or concatenates is turned the same way
    np.testing.assert_array_equal(da.stack([view.fix(1, 0), fixed]).compute(), np.stack([VALUES[:, 0], VALUES[:, 1]]))


@pytest.mark.gui
def test_a_first_frame_in_napari_imports_neither_dask_array_nor_dask_distributed(tmp_path):
    """What the first frame is spared (0.8 s), napari's own slicing, thumbnail and drawing included: nothing
    napari asks of the layers' data reaches their dask views. A pyramid with channels and labels."""
    from conftest import CYX, ome_group, write_ome_image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, (2, 256, 256), dtype=np.uint16)
    root = ome_group(tmp_path / "image.zarr", "0.5")
    write_ome_image(root, [image, image[:, ::2, ::2]], CYX, version="0.5", chunks=(1, 64, 64))
    script = (
        "import sys, numpy as np, napari\n"
        "viewer = napari.Viewer(show=True)\n"
        f"layers = viewer.open({str(tmp_path / 'image.zarr')!r}, plugin='napari-zarr-tiles')\n"
        "viewer.reset_view()\n"
        "frame = viewer.screenshot(canvas_only=True, flash=False)\n"
        "assert len(layers) == 2 and frame.std() > 0\n"
        "print(sorted(name for name in ('dask.array', 'distributed') if name in sys.modules))\n"
        "viewer.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300).stdout
    assert out.strip().splitlines()[-1] == "[]"


CZYX = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
        {"name": "x", "type": "space"}]
# (row, column) -> the well's own edge (the first well's 24 sets the cells; others are cut or padded)
WELLS = {(0, 0): 24, (0, 2): 20, (1, 0): 30, (1, 1): 24}  # (0, 1) and (1, 2) are not in the plate


def well_pixels(row: int, column: int, edge: int) -> np.ndarray:
    rng = np.random.default_rng(row * 10 + column)
    return rng.integers(1, 60000, (2, 3, edge, edge), dtype=np.uint16)


@pytest.fixture(scope="module")
def plate_and_expected(tmp_path_factory):
    """A 2 x 3 plate of c, z, y, x wells (one smaller and one bigger than the first, two missing) and the
    mosaic it should show, assembled in numpy."""
    path = tmp_path_factory.mktemp("plate") / "plate.zarr"
    plate = {
        "rows": [{"name": "A"}, {"name": "B"}], "columns": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
        "wells": [{"path": f"{'AB'[r]}/{c + 1}", "rowIndex": r, "columnIndex": c} for r, c in WELLS],
    }
    write_group(path, wrap({"plate": plate}, "0.5"), "0.5")
    for row_name in "AB":
        write_group(path / row_name, {}, "0.5")
    for (row, column), edge in WELLS.items():
        well = path / "AB"[row] / str(column + 1)
        write_group(well, wrap({"well": {"images": [{"path": "0"}]}}, "0.5"), "0.5")
        write_image(well / "0", [well_pixels(row, column, edge)], CZYX, [1, 1, 1, 1], "0.5")
    gap = _plate._gap(24, 24)
    expected = np.zeros((2, 3, 2 * 24 + gap, 3 * 24 + 2 * gap), np.uint16)
    for (row, column), edge in WELLS.items():
        pixels = well_pixels(row, column, edge)[..., :24, :24]
        top, left = row * (24 + gap), column * (24 + gap)
        expected[..., top : top + pixels.shape[-2], left : left + pixels.shape[-1]] = pixels
    return path, expected


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_mosaic_reads_what_a_mosaic_assembled_in_numpy_holds(plate_and_expected, data):
    path, expected = plate_and_expected
    mosaic = _plate.mosaic(_plate.open_plate(path))
    assert mosaic.data.shape == expected.shape
    selection = tuple(data.draw(part(size)) for size in expected.shape)
    np.testing.assert_array_equal(mosaic.data[selection], expected[selection])
    channel = data.draw(st.integers(0, 1))
    inner = tuple(data.draw(part(size)) for size in expected.shape[1:])
    np.testing.assert_array_equal(mosaic.data.fix(0, channel)[inner], expected[channel][inner])


def test_the_mosaic_iterates_and_refuses_indices_beyond_it(plate_and_expected):
    path, expected = plate_and_expected
    data = _plate.mosaic(_plate.open_plate(path)).data
    planes = list(data)
    assert len(planes) == 2 and all(np.array_equal(plane, expected[index]) for index, plane in enumerate(planes))
    for outside in [(2,), (0, 3), (0, 0, expected.shape[2]), (-3,)]:
        with pytest.raises(IndexError, match="out of bounds"):
            data[outside]
    np.testing.assert_array_equal(data[1, 2, ::-1, ::-2], expected[1, 2, ::-1, ::-2])


def test_the_mosaics_dask_view_and_contrast_sample_hold_the_same_pixels(plate_and_expected):
    path, expected = plate_and_expected
    mosaic = _plate.mosaic(_plate.open_plate(path))
    np.testing.assert_array_equal(da.asarray(mosaic.data).compute(), expected)
    np.testing.assert_array_equal(da.asarray(mosaic.data.fix(0, 1)).compute(), expected[1])
    sample = mosaic.contrast_sample()  # the wells, one under the other, each channel, z at its middle
    assert sample.shape == (2, 1, 4 * 24, 24)
    np.testing.assert_array_equal(sample[:, 0, :24], well_pixels(0, 0, 24)[:, 1:2, :24, :24][:, 0])


@pytest.mark.gui
def test_painting_on_labels_opened_from_zarr_changes_the_layer_not_the_store(tmp_path, make_napari_viewer, monkeypatch):
    """napari paints by item assignment: a dask array took it lazily, a lazy view takes its pixels into memory
    at the first stroke; the store is never written (Plugins > Edit labels writes it)."""
    path = tmp_path / "labels.zarr"
    array = zarr.create_array(str(path), shape=(200, 300), chunks=(64, 64), dtype="uint32")
    array[50:100, 50:100] = 3
    stored = sorted((file, file.stat().st_mtime_ns) for file in path.rglob("*") if file.is_file())
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-zarr-tiles", layer_type="labels")
    layer.paint((10, 10), 5)
    layer.fill((60, 60), 7)
    assert layer.data[10, 10] == 5 and (layer.data[50:100, 50:100] == 7).all()
    np.testing.assert_array_equal(da.asarray(layer.data).compute()[50:100, 50:100], 7)
    layer.undo()  # napari's own history, through the same item assignment
    assert (layer.data[50:100, 50:100] == 3).all()
    assert sorted((file, file.stat().st_mtime_ns) for file in path.rglob("*") if file.is_file()) == stored
    np.testing.assert_array_equal(zarr.open_array(str(path), mode="r")[50:100, 50:100], 3)

    monkeypatch.setattr("napari_zarr_tiles._lazy.MAX_PAINTED_BYTES", 1000)
    [big] = viewer.open(str(path), plugin="napari-zarr-tiles", layer_type="labels")
    with pytest.raises(ZarrTilesError, match=r"too big to paint in memory; edit these labels on disk with Plugins > Edit labels"):
        big.data[0, 0] = 1
