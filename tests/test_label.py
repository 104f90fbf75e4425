"""Labelling across tiles: identical ids to scikit-image's label on the whole image, for any chunking."""

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import label as skimage_label

from napari_zarr_tiles import _cli, apply_chain
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._jobs import cluster, process
from napari_zarr_tiles.tiles import _label
from napari_zarr_tiles.tiles._label import label_levels


def tiled_label(mask: np.ndarray, chunks, connectivity: int = 0) -> np.ndarray:
    spatial = list(range(mask.ndim))
    return apply_chain(da.from_array(mask, chunks=chunks), [("label", {"connectivity": connectivity})],
                       spatial_axes=spatial).compute()


def assert_same_labels(mask: np.ndarray, chunks, connectivity: int = 0) -> np.ndarray:
    tiled = tiled_label(mask, chunks, connectivity)
    expected = skimage_label(mask != 0, connectivity=connectivity or None)
    np.testing.assert_array_equal(tiled, expected)
    assert tiled.dtype == _label.label_dtype(int(expected.max()))
    return tiled


def spiral(size: int) -> np.ndarray:
    """A square spiral path one pixel wide with one pixel between its turns: a single object (even with four
    neighbours) that enters most tiles many times, its two ends far apart."""
    grid = np.zeros((size, size), np.uint8)
    y, x, dy, dx = 0, 0, 0, 1
    grid[y, x] = 1
    turns = 0
    while turns < 2:
        ahead, beyond = (y + dy, x + dx), (y + 2 * dy, x + 2 * dx)
        inside = all(0 <= i < size for i in ahead)
        if inside and not grid[ahead] and not (all(0 <= i < size for i in beyond) and grid[beyond]):
            y, x = ahead
            grid[y, x] = 1
            turns = 0
        else:
            dy, dx = dx, -dy  # turn clockwise
            turns += 1
    return grid


@pytest.mark.parametrize("chunks", [7, 16, (5, 23), 64])
def test_a_spiral_crossing_tiles_many_times_is_one_object(chunks):
    mask = spiral(61)
    labels = assert_same_labels(mask, chunks, connectivity=1)
    assert labels.max() == 1 and mask.mean() > 0.45


def test_one_object_across_the_whole_image_and_an_empty_image():
    assert assert_same_labels(np.ones((50, 37), np.uint8), (8, 9)).max() == 1
    empty = assert_same_labels(np.zeros((20, 20), np.uint8), 6)
    assert empty.max() == 0 and empty.dtype == np.uint8


def test_objects_meeting_only_across_a_tile_corner_merge_with_eight_neighbours_only():
    mask = np.zeros((16, 16), np.uint8)
    mask[7, 7] = mask[8, 8] = 1  # diagonal neighbours in four different 8 x 8 tiles' corners
    mask[7, 8] = 0
    mask[0, :3] = mask[15, 13:] = mask[5:9, 15] = 1  # objects on the image's edges and across a tile edge
    four = assert_same_labels(mask, 8, connectivity=1)
    eight = assert_same_labels(mask, 8, connectivity=2)
    assert four[7, 7] != four[8, 8] and eight[7, 7] == eight[8, 8]


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_volumes_with_six_eighteen_and_twenty_six_neighbours(connectivity):
    rng = np.random.default_rng(connectivity)
    mask = (rng.random((19, 23, 17)) < 0.3).astype(np.uint8)
    assert_same_labels(mask, (4, 7, 5), connectivity)
    corner = np.zeros((8, 8, 8), np.uint8)
    corner[3, 3, 3] = corner[4, 4, 4] = 1  # touching through the point where eight tiles meet
    labels = assert_same_labels(corner, 4, connectivity)
    assert (labels[3, 3, 3] == labels[4, 4, 4]) == (connectivity == 3)


@pytest.mark.parametrize("kept", [True, False], ids=["foreground kept", "labelled again"])
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8])
def test_masks_connected_components_3d_mislabels_as_bool_are_labelled_right(dtype, kept, monkeypatch):
    # connected-components-3d 4.1, given these as bool, 8-connected, labels background pixels and misses
    # objects: its tiles get the mask as bytes
    if not kept:
        monkeypatch.setattr(_label, "FOREGROUND_BUDGET", 0)
    last_row = np.zeros((4, 5), dtype)
    last_row[3, [1, 4]] = 1
    found = np.zeros((4, 7), dtype)  # found by the property test below, in tiles of 1 x 4
    found[2, 0] = found[3, 3] = 1
    for image, tile in [(last_row, (4, 5)), (last_row, 2), (last_row[3:], 5), (found, (1, 4))]:
        assert_same_labels(image, tile, connectivity=2)


@settings(max_examples=60, deadline=None)
@given(
    mask=arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=st.integers(0, 1)),
    tile=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    connectivity=st.sampled_from([1, 2]),
)
def test_any_mask_and_chunking_gives_scikit_images_ids(mask, tile, connectivity):
    assert_same_labels(mask, tile, connectivity)


@settings(max_examples=25, deadline=None)
@given(
    mask=arrays(np.uint8, st.tuples(*[st.integers(1, 9)] * 3), elements=st.integers(0, 1)),
    tile=st.tuples(*[st.integers(1, 5)] * 3),
    connectivity=st.sampled_from([1, 2, 3]),
)
def test_any_volume_and_chunking_gives_scikit_images_ids(mask, tile, connectivity):
    assert_same_labels(mask, tile, connectivity)


def test_tiles_labelled_again_give_the_same_ids_as_tiles_kept_from_the_first_pass(monkeypatch):
    mask = spiral(61) | (np.random.default_rng(3).random((61, 61)) < 0.2)
    kept = tiled_label(mask, 13)
    monkeypatch.setattr(_label, "FOREGROUND_BUDGET", 0)  # no tile keeps its foreground
    read_again = label_levels(da.from_array(mask, chunks=13), spatial_axes=[0, 1])[0]
    assert any(task[0] is _label._relabelled for task in dict(read_again.dask).values() if isinstance(task, tuple))
    np.testing.assert_array_equal(read_again.compute(), kept)
    np.testing.assert_array_equal(kept, skimage_label(mask))


def test_a_chain_thresholds_then_labels_each_channel_on_its_own(blobs):
    image = np.stack([blobs, blobs[::-1]])  # channels, Y, X
    result = apply_chain(da.from_array(image, chunks=(1, 50, 60)),
                         [("threshold", {"method": "value", "value": 128}), ("label", {})])
    computed = result.compute()
    for channel in range(2):
        np.testing.assert_array_equal(computed[channel], skimage_label(image[channel] > 128))


def test_a_pyramid_gets_level_zeros_labels_at_every_level(blobs):
    levels = [da.from_array(blobs, chunks=64), da.from_array(blobs[::2, ::2], chunks=64),
              da.from_array(blobs[::4, ::4], chunks=64)]
    result = apply_chain(levels, [("threshold", {"method": "otsu"}), ("label", {"connectivity": 1})])
    level0 = result[0].compute()
    from skimage.filters import threshold_otsu

    np.testing.assert_array_equal(level0, skimage_label(blobs > threshold_otsu(blobs), connectivity=1))
    for factor, level in zip((2, 4), result[1:]):
        # the same ids as level 0 (the written pyramid's label-safe rule), not a labelling of the coarse level
        np.testing.assert_array_equal(level.compute(), level0[::factor, ::factor])


def test_ids_beyond_255_widen_the_dtype_to_the_narrowest_that_holds_them():
    dots = np.zeros((41, 41), np.uint8)
    dots[::2, ::2] = 1  # 441 single pixels, 4-connected each alone, 8-connected neither
    assert assert_same_labels(dots, 7, connectivity=1).dtype == np.uint16
    assert [_label.label_dtype(n) for n in (0, 255, 256, 65535, 65536, 2**32 - 1, 2**32)] == [
        np.uint8, np.uint8, np.uint16, np.uint16, np.uint32, np.uint32, np.uint64]


def test_a_connectivity_beyond_the_image_is_refused_before_any_tile_is_read():
    with pytest.raises(ValueError, match="connectivity must be from 1 to 2"):
        apply_chain(da.zeros((8, 8), chunks=4), [("label", {"connectivity": 3})])


@pytest.fixture
def blobs_zarr(tmp_path, blobs):
    import tifffile

    big = np.tile(blobs, (2, 2))  # 508 x 512: 8 x 8 tiles of 64, the last row short
    tifffile.imwrite(tmp_path / "big.tif", big)
    return convert(tmp_path / "big.tif", tmp_path / "big.zarr", tile=64), big


def test_the_process_command_labels_zarr_to_zarr_with_a_label_safe_pyramid(tmp_path, blobs_zarr, capsys):
    source, big = blobs_zarr
    target = tmp_path / "labels.zarr"
    args = ["process", str(source), str(target), "threshold", "method=value", "value=100", "+", "label",
            "--chunks", "64"]
    assert _cli.main(args) == 0
    root = zarr.open_group(target, mode="r")
    expected = skimage_label(big > 100)
    np.testing.assert_array_equal(root["0"][:], expected)
    assert root["0"].dtype == np.uint8 and "image-label" in root.attrs
    np.testing.assert_array_equal(root["1"][:], expected[::2, ::2])
    assert _cli.main([*args[:-2], "connectivity=5", "--overwrite"]) == 1
    assert "connectivity" in capsys.readouterr().err


def test_labels_are_written_with_zstd_unless_a_compressor_is_chosen_and_other_readers_open_them(tmp_path, blobs_zarr):
    import npe2
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    source, big = blobs_zarr
    steps = ["threshold", "method=value", "value=100", "+", "label", "--chunks", "64"]
    expected = skimage_label(big > 100)
    assert _cli.main(["process", str(source), str(tmp_path / "labels.zarr"), *steps]) == 0
    assert _cli.main(["process", str(source), str(tmp_path / "chosen.zarr"), *steps, "--compressor", "blosc-zstd"]) == 0
    assert _cli.main(["process", str(source), str(tmp_path / "mask.zarr"), *steps[:3], "--chunks", "64"]) == 0
    assert _cli.main(["process", str(source), str(tmp_path / "image.zarr"), "median", "size=3", "--chunks", "64"]) == 0
    for name, codec in [("labels", "zstd"), ("mask", "zstd"), ("chosen", "blosc"), ("image", "blosc")]:
        for level in ("0", "1"):
            assert zarr.open_array(tmp_path / f"{name}.zarr" / level, mode="r").metadata.compressor.codec_id == codec
    labels = tmp_path / "labels.zarr"
    [node] = list(Reader(parse_url(labels))())[:1]
    np.testing.assert_array_equal(np.asarray(node.data[0]), expected)
    [(data, _, layer_type)] = npe2.read([str(labels)], stack=False, plugin_name="napari-ome-zarr")
    np.testing.assert_array_equal(np.asarray(data[0]), expected)
    np.testing.assert_array_equal(np.asarray(data[1]), expected[::2, ::2])
    assert layer_type == "labels"


def test_a_local_cluster_labels_the_same_store_as_threads(tmp_path, blobs_zarr):
    source, _ = blobs_zarr
    steps = [("threshold", {"method": "otsu"}), ("label", {"connectivity": 1})]
    threaded = zarr.open_group(process(source, tmp_path / "threads.zarr", steps, tile=64), mode="r")
    with cluster(workers=2) as client:
        distributed = zarr.open_group(process(source, tmp_path / "cluster.zarr", steps, tile=64, client=client), mode="r")
    for level in ("0", "1", "2", "3"):
        np.testing.assert_array_equal(distributed[level][:], threaded[level][:])


def test_an_interrupted_label_save_resumes_to_the_same_labels(tmp_path, blobs_zarr):
    source, big = blobs_zarr
    steps = [("threshold", {"method": "value", "value": 100}), ("label", {})]

    def stop(done, total):
        if total == WRITTEN_TILES and done >= 10:  # in the write, after the first pass
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        process(source, tmp_path / "out.zarr", steps, tile=64, progress=stop)
    assert (tmp_path / ".out.zarr.partial").exists()
    reports = []
    target = process(source, tmp_path / "out.zarr", steps, tile=64, progress=lambda *report: reports.append(report))
    np.testing.assert_array_equal(zarr.open_array(f"{target}/0", mode="r")[:], skimage_label(big > 100))
    written = [done for done, total in reports if total == WRITTEN_TILES]
    assert written[0] > 10  # the tiles written before the interruption were kept


# blobs_zarr's 508 x 512 image in tiles of 64: 8 x 8 tiles to label, and with its pyramid 64 + 16 + 4 + 1 to write
LABELLED_TILES, WRITTEN_TILES = 64, 85


def test_a_label_save_reports_its_first_pass_over_the_tiles_and_a_cancel_stops_it(tmp_path, blobs_zarr):
    from napari_zarr_tiles._errors import WriteCancelled

    source, _ = blobs_zarr
    steps = [("threshold", {"method": "value", "value": 100}), ("label", {})]
    reports = []
    process(source, tmp_path / "out.zarr", steps, tile=64, progress=lambda *report: reports.append(report))
    first_pass = [done for done, total in reports if total == LABELLED_TILES]
    assert first_pass == list(range(LABELLED_TILES + 1))
    assert reports.index((LABELLED_TILES, LABELLED_TILES)) < reports.index((0, WRITTEN_TILES))

    def cancel(done, total):
        reports.append((done, total))
        if done >= 10:
            raise WriteCancelled("the write was stopped")

    reports.clear()
    with pytest.raises(WriteCancelled):
        process(source, tmp_path / "cancelled.zarr", steps, tile=64, progress=cancel)
    assert max(done for done, _ in reports) <= 10 + 4  # no more than the tiles already under way
    assert all(total == LABELLED_TILES for _, total in reports)
    assert not (tmp_path / "cancelled.zarr").exists() and not (tmp_path / ".cancelled.zarr.partial").exists()


def test_a_volume_is_labelled_in_3d_with_twenty_six_neighbours_by_default(tmp_path):
    from conftest import YX, ome_group, write_ome_image

    rng = np.random.default_rng(4)
    volume = (rng.random((20, 40, 36)) < 0.25).astype(np.uint8) * 200
    root = ome_group(tmp_path / "volume.zarr", "0.5")
    write_ome_image(root, [volume], [{"name": "z", "type": "space", "unit": "micrometer"}, *YX], version="0.5",
                    chunks=(7, 16, 16))
    target = process(tmp_path / "volume.zarr", tmp_path / "labels.zarr", [("label", {})], tile=16)
    written = zarr.open_group(target, mode="r")
    np.testing.assert_array_equal(written["0"][:], skimage_label(volume > 0))
    assert written["0"].chunks == (16, 16, 16)


@pytest.mark.gui
def test_the_tile_filter_widget_labels_a_mask_with_the_same_ids_at_every_level(make_napari_viewer, qtbot, tmp_path,
                                                                              blobs):
    import tifffile
    from test_filter_widgets import run_filter

    mask = (np.tile(blobs, (2, 2)) > 100).astype(np.uint8)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    viewer = make_napari_viewer(show=True)
    viewer.open(convert(tmp_path / "mask.tif", tmp_path / "mask.zarr", tile=64), plugin="napari-zarr-tiles")
    labels = run_filter(viewer, qtbot, "label", connectivity=1)
    assert labels.multiscale and len(labels.data) == 4 and labels.name == "mask label(connectivity=1)"
    level0 = np.asarray(labels.data[0])
    np.testing.assert_array_equal(level0, skimage_label(mask, connectivity=1))
    np.testing.assert_array_equal(np.asarray(labels.data[2]), level0[::4, ::4])
