"""Writing layers as OME-Zarr through the manifest (as napari's Save does), read back by this plugin and others."""

import functools

import dask.array as da
import npe2
import numpy as np
import pytest
import tifffile
import zarr
from conftest import DATA

from napari_zarr_tiles._errors import ZarrTilesError
from napari_zarr_tiles._image import ImageToWrite
from napari_zarr_tiles._ome import Axis
from napari_zarr_tiles._pyramid import downsample_block
from napari_zarr_tiles._writing import write_ome_zarr

PLUGIN = "napari-zarr-tiles"


def save(path, *layers):
    return npe2.write(str(path), list(layers), plugin_name=PLUGIN)


def read(path, plugin=PLUGIN):
    return npe2.read([str(path)], stack=False, plugin_name=plugin)


def finest(data):
    return data[0] if isinstance(data, list) else data


def validate(path):
    from ome_zarr_models import open_ome_zarr

    return open_ome_zarr(zarr.open_group(path, mode="r"))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32", "float32", "float64"])
def test_image_round_trip_every_dtype(tmp_path, blobs, dtype):
    image = (blobs.astype(np.float64) * 3 - 100).astype(dtype) if dtype.startswith(("int", "float")) else blobs.astype(dtype)
    meta = {"name": "blobs", "scale": (0.5, 0.25), "translate": (3.0, 4.0), "units": ("micrometer", "micrometer"),
            "axis_labels": ("y", "x"), "colormap": "green", "contrast_limits": (10.0, 200.0)}
    [written] = save(tmp_path / "blobs.zarr", (image, meta, "image"))
    assert written == str(tmp_path / "blobs.zarr")
    validate(written)
    [(data, kwargs, layer_type)] = read(written)
    assert layer_type == "image" and finest(data).dtype == image.dtype
    np.testing.assert_array_equal(finest(data), image)
    assert kwargs["scale"] == [0.5, 0.25] and kwargs["translate"] == [3.0, 4.0] and kwargs["units"] == ["micrometer"] * 2
    assert kwargs["colormap"] == "green" and kwargs["contrast_limits"] == (10.0, 200.0) and kwargs["name"] == "blobs"


def label_safe_halving(level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The project's rule for labels (``_pyramid.downsample_block``: a 2 x 2 box's first pixel), written
    independently: the boxes of ``level`` (its edge repeated where a side is odd) and their top-left pixels."""
    padded = np.pad(level, [(0, size % 2) for size in level.shape], mode="edge")
    boxes = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2)
    return boxes, boxes[:, 0, :, 0]


def test_labels_round_trip_with_label_safe_pyramid(tmp_path, maize_labels):
    # Tiled 3 x 4 (1920 x 2556) so that the default 1024-pixel tiles make ragged tiles and a pyramid of three
    # levels, the last with an odd side (639).
    labels = np.tile(maize_labels, (3, 4))
    [written] = save(tmp_path / "maize.zarr", (labels, {"name": "maize"}, "labels"))
    validate(written)
    [(data, _, layer_type)] = read(written)
    assert layer_type == "labels"
    assert [level.shape for level in data] == [(1920, 2556), (960, 1278), (480, 639)]
    np.testing.assert_array_equal(data[0], labels)
    finer = labels
    for level in data[1:]:
        coarse = np.asarray(level)
        boxes, first_pixels = label_safe_halving(finer)
        # no invented value: every coarse pixel is one of the values of its 2 x 2 box
        assert (boxes == coarse[:, None, :, None]).any(axis=(1, 3)).all()
        np.testing.assert_array_equal(coarse, first_pixels)
        finer = coarse


def test_image_and_labels_together_and_images_as_channels(tmp_path, blobs, maize_labels):
    labels = maize_labels[: blobs.shape[0], : blobs.shape[1]]
    nuclei = ({"name": "nuclei", "colormap": "magenta", "contrast_limits": (0, 250)})
    [written] = save(
        tmp_path / "both.zarr",
        (blobs, nuclei, "image"),
        (255 - blobs, {"name": "inverse", "colormap": "cyan"}, "image"),
        (labels, {"name": "cells"}, "labels"),
    )
    validate(written)
    layers = read(written)
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [
        ("nuclei", "image"), ("inverse", "image"), ("cells", "labels")
    ]
    np.testing.assert_array_equal(finest(layers[1][0]), 255 - blobs)
    np.testing.assert_array_equal(finest(layers[2][0]), labels)
    assert layers[0][1]["colormap"] == "magenta" and layers[1][1]["colormap"] == "cyan"
    assert (tmp_path / "both.zarr" / "labels" / "cells" / "0").is_dir()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_time_series_3d_opened_by_napari_ome_zarr_and_ome_zarr_py(tmp_path, version):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 1000, (2, 7, 300, 200), dtype=np.uint16)
    axes = [Axis("t", "time"), Axis("z", "space", "micrometer"), Axis("y", "space", "micrometer"), Axis("x", "space", "micrometer")]
    path = write_ome_zarr(
        tmp_path / "series.zarr", ImageToWrite(image, axes=axes, name="series", scale=[1, 2, 0.5, 0.5]),
        tile=128, ome_version=version, shards=2 if version == "0.5" else None,
    )
    validate(path)
    theirs = read(path, plugin="napari-ome-zarr")
    data = theirs[0][0]
    np.testing.assert_array_equal(np.asarray(data[0]), image)
    np.testing.assert_array_equal(np.asarray(data[1]), downsample_block(image, (1, 1, 2, 2)))
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    [node] = list(Reader(parse_url(path))())[:1]
    np.testing.assert_array_equal(np.asarray(node.data[0]), image)


def test_a_dask_input_is_streamed_each_tile_computed_once(tmp_path):
    computed = []

    def tile(block_id=None):
        computed.append(block_id)
        return np.full((256, 256), sum(block_id), dtype=np.uint16)

    # 16 x 16 tiles: level 0 plus three pyramid levels come from one pass over them.
    data = da.map_blocks(tile, chunks=((256,) * 16, (256,) * 16), dtype=np.uint16, meta=np.empty((0, 0), np.uint16))
    write_ome_zarr(tmp_path / "streamed.zarr", ImageToWrite(data, axes=[Axis("y", "space"), Axis("x", "space")], name="s"), tile=512)
    assert sorted(computed) == sorted((r, c) for r in range(16) for c in range(16))
    assert len(zarr.open_group(tmp_path / "streamed.zarr", mode="r")) == 4


def test_refuses_to_overwrite_and_replaces_only_when_asked(tmp_path, blobs):
    target = tmp_path / "existing.zarr"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="existing.zarr"):
        save(target, (blobs, {"name": "b"}, "image"))
    assert (target / "precious.txt").read_text() == "keep me"
    write_ome_zarr(target, ImageToWrite(blobs, axes=[Axis("y", "space"), Axis("x", "space")], name="b"), overwrite=True)
    assert not (target / "precious.txt").exists() and (target / ".zattrs").is_file()


def test_a_write_that_fails_half_way_leaves_the_target_name_free(tmp_path):
    def tile(block_id=None):
        if block_id == (3, 3):
            raise RuntimeError("disk full (simulated)")
        return np.ones((100, 100), np.uint8)

    data = da.map_blocks(tile, chunks=((100,) * 4, (100,) * 4), dtype=np.uint8, meta=np.empty((0, 0), np.uint8))
    with pytest.raises(RuntimeError, match="simulated"):
        write_ome_zarr(tmp_path / "out.zarr", ImageToWrite(data, axes=[Axis("y", "space"), Axis("x", "space")], name="o"), tile=100)
    assert list(tmp_path.iterdir()) == []


def test_convert_tiff_carries_pixel_size_and_colours(tmp_path, capsys):
    from napari_zarr_tiles._cli import main

    assert main(["convert", str(DATA / "hela-cells.tif"), str(tmp_path / "hela.zarr"), "--chunks", "256"]) == 0
    assert "27/27 tiles" in capsys.readouterr().err
    validate(tmp_path / "hela.zarr")
    red, green, blue = read(tmp_path / "hela.zarr")
    pixels = tifffile.imread(DATA / "hela-cells.tif")
    np.testing.assert_array_equal(finest(green[0]), pixels[..., 1])
    assert red[1]["scale"] == pytest.approx([0.0514931, 0.0514931]) and red[1]["units"] == ["micrometer"] * 2
    assert [layer[1]["colormap"] for layer in (red, green, blue)] == ["red", "green", "blue"]
    assert main(["convert", str(DATA / "hela-cells.tif"), str(tmp_path / "hela.zarr")]) == 1
    assert "exists" in capsys.readouterr().err


def test_convert_zarr_rechunks_and_recompresses(tmp_path, blobs):
    from napari_zarr_tiles._convert import convert

    zarr.create_array(tmp_path / "plain", data=blobs, chunks=(100, 100), zarr_format=2)
    convert(tmp_path / "plain", tmp_path / "tiled.zarr", tile=64, compressor="zstd", ome_version="0.5")
    level0 = zarr.open_array(tmp_path / "tiled.zarr" / "0", mode="r")
    assert level0.chunks == (64, 64) and level0.metadata.zarr_format == 3
    np.testing.assert_array_equal(level0[...], blobs)
    validate(tmp_path / "tiled.zarr")


def test_a_killed_conversion_leaves_the_target_name_free(tmp_path):
    import signal
    import subprocess
    import sys

    source = tmp_path / "big.tif"
    tifffile.imwrite(source, np.random.default_rng(5).integers(0, 4000, (4096, 4096), dtype=np.uint16), tile=(256, 256))
    target = tmp_path / "out.zarr"
    command = [sys.executable, "-m", "napari_zarr_tiles._cli", "convert", str(source), str(target), "--chunks", "64"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr.read(60)  # the progress bar has started: tiles are being written
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".out.zarr.partial-")]


def test_a_pyramid_of_odd_tiles_is_refused_before_anything_is_written(tmp_path, blobs):
    image = ImageToWrite(blobs, axes=[Axis("y", "space"), Axis("x", "space")], name="blobs")
    with pytest.raises(ZarrTilesError, match="tile must be even when a pyramid is written"):
        write_ome_zarr(tmp_path / "odd.zarr", image, tile=63)
    assert list(tmp_path.iterdir()) == []
    write_ome_zarr(tmp_path / "flat.zarr", image, tile=63, with_pyramid=False)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "flat.zarr" / "0", mode="r")[:], blobs)


@pytest.mark.parametrize(("stop_after", "version", "shards"), [(None, "0.4", None), (150, "0.4", None), (40, "0.5", 2)])
def test_every_level_equals_the_whole_image_halved_across_regions_and_a_resume(tmp_path, stop_after, version, shards):
    # 21 x 20 tiles of 16: several regions, ragged at the far edges, and levels coarser than a region; with
    # shards, each task writes a shard of 2 x 2 tiles.
    image = np.random.default_rng(3).integers(0, 60000, (330, 310), dtype=np.uint16)
    write = functools.partial(
        write_ome_zarr, tmp_path / "levels.zarr", ImageToWrite(image, axes=[Axis("y", "space"), Axis("x", "space")], name="l"),
        tile=16, resumable=True, ome_version=version, shards=shards,
    )
    if stop_after is not None:
        def stop(done, total):
            if done >= stop_after:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            write(progress=stop)
        assert (tmp_path / ".levels.zarr.partial").exists()
    seen = []
    write(progress=lambda done, total: seen.append((done, total)))
    root = zarr.open_group(tmp_path / "levels.zarr", mode="r")
    expected = image
    for level in range(len(root)):
        np.testing.assert_array_equal(root[str(level)][:], expected, err_msg=f"level {level}")
        expected = downsample_block(expected, (2, 2))
    assert len(root) == 6 and root["5"].shape == (11, 10)
    units = 21 * 20 + 11 * 10 + 6 * 5 + 3 * 3 + 2 * 2 + 1 if shards is None else 11 * 10 + 6 * 5 + 3 * 3 + 2 * 2 + 1 + 1
    assert seen[-1][0] == seen[-1][1] == units
    if stop_after is not None:
        assert seen[0][0] >= stop_after  # the resumed write started from the tiles on disk


def test_a_write_that_left_tiles_unwritten_is_not_marked_complete(tmp_path, blobs, monkeypatch):
    # as when cluster workers write to a file system this machine does not see: the units never appear here
    from napari_zarr_tiles import _store, _stream

    original = _stream._write_tasks
    monkeypatch.setattr(_stream, "_write_tasks", lambda source, target, region, missing, **kw: original(
        source, target, region, [], **kw))
    image = ImageToWrite(blobs, axes=[Axis("y", "space"), Axis("x", "space")], name="blobs")
    with pytest.raises(ZarrTilesError, match=r"tiles missing after the write, per array: 0: 16, 1: 4, 2: 1"):
        write_ome_zarr(tmp_path / "lost.zarr", image, tile=64, resumable=True)
    assert not (tmp_path / "lost.zarr").exists()
    assert zarr.open_group(tmp_path / ".lost.zarr.partial", mode="r").attrs[_store.WRITER_MARKER]["complete"] is False


def test_channel_layers_of_a_time_series_are_saved_with_the_channel_after_time(tmp_path):
    """Saving a t, z, y, x image's channel layers together: the channel axis came first (c, t, z, y, x), which
    OME-Zarr forbids and ome-zarr-py refused; it goes after time, and the pixels land in their places."""
    rng = np.random.default_rng(5)
    channels = [rng.integers(0, 1000, (2, 3, 40, 50), dtype=np.uint16) for _ in range(2)]
    meta = {"axis_labels": ("t", "z", "y", "x"), "scale": (1.0, 2.0, 0.5, 0.5)}
    [written] = save(
        tmp_path / "series.zarr",
        (channels[0], {**meta, "name": "dapi", "colormap": "blue"}, "image"),
        (channels[1], {**meta, "name": "gfp", "colormap": "green"}, "image"),
    )
    validate(written)
    group = zarr.open_group(written, mode="r")
    multiscale = group.attrs["multiscales"][0]
    assert [axis["name"] for axis in multiscale["axes"]] == ["t", "c", "z", "y", "x"]
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 1.0, 2.0, 0.5, 0.5]
    np.testing.assert_array_equal(group["0"][...], np.stack(channels, axis=1))
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    [node] = list(Reader(parse_url(str(written)))())[:1]
    assert node.data[0].shape == (2, 2, 3, 40, 50)
