"""The reader, through the manifest as napari calls it, on stores built the way other tools write them."""

import json
import shutil
import warnings

import npe2
import numpy as np
import psutil
import pytest
import zarr
from conftest import CYX, DATA, NOTEBOOK_BLOSC, YX, coarsen, ome_group, write_ome_image
from napari.utils import notifications

from napari_zarr_tiles import _reader
from napari_zarr_tiles._errors import NotZarrError, OmeMetadataError, UnreadableStoreError, ZarrTilesError
from napari_zarr_tiles._lazy import LazyView
from napari_zarr_tiles._pyramid import downsample_block
from napari_zarr_tiles._reader import napari_get_reader

PLUGIN = "napari-zarr-tiles"


def read(path):
    return npe2.read([str(path)], stack=False, plugin_name=PLUGIN)


def levels(data):
    return data if isinstance(data, list) else [data]


def test_non_zarr_paths_are_declined_quietly(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    before = sorted(p.name for p in tmp_path.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ["folder", "image.tif", "missing.zarr"]:
            assert napari_get_reader(str(tmp_path / name)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_tiff_given_to_this_plugin_by_name_points_to_convert(tmp_path):
    from napari.components import ViewerModel

    viewer = ViewerModel()
    with pytest.raises(NotZarrError, match="is a TIFF, not a zarr store") as info:
        viewer.open(DATA / "blobs.tif", plugin=PLUGIN)
    assert "Plugins > Convert to zarr tiles" in str(info.value)
    assert f"napari-zarr-tiles convert {DATA / 'blobs.tif'} OUT.zarr" in str(info.value)
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotZarrError, match="not a zarr store: .*plain"):
        viewer.open(tmp_path / "plain", plugin=PLUGIN)
    assert len(viewer.layers) == 0


def test_a_tiff_read_without_naming_a_plugin_is_left_to_other_readers_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        layers, reader = npe2.io_utils.read_get_reader([str(DATA / "blobs.tif")], stack=False)
    assert reader.plugin_name != PLUGIN and np.asarray(layers[0][0]).shape == (254, 256)


@pytest.mark.parametrize("separator", [".", "/"])
def test_notebook_style_zarr_v2_array(tmp_path, blobs, separator):
    """zarr-python 2's layout: Blosc zstd bit-shuffle, 100x100 chunks, either dimension separator."""
    path = tmp_path / "P1_H_C3H_M004_17-cropped.zarr"
    array = zarr.create_array(
        path,
        shape=blobs.shape,
        chunks=(100, 100),
        dtype=blobs.dtype,
        zarr_format=2,
        compressors=NOTEBOOK_BLOSC,
        chunk_key_encoding={"name": "v2", "separator": separator},
    )
    array[...] = blobs
    [(data, kwargs, layer_type)] = read(path)
    assert layer_type == "image" and isinstance(data, LazyView)
    np.testing.assert_array_equal(data, zarr.open_array(path, mode="r")[...])
    assert kwargs["name"] == "P1_H_C3H_M004_17-cropped"
    assert kwargs["axis_labels"] == ["y", "x"] and not kwargs["multiscale"]
    low, high = kwargs["contrast_limits"]
    assert 0 <= low < high <= 255 and (low, high) != (0, 255)
    assert (blobs > high).mean() < 0.01


def test_sharded_v3_array_with_dimension_names(tmp_path, blobs):
    path = tmp_path / "sharded"
    array = zarr.create_array(
        path, shape=blobs.shape, chunks=(64, 64), shards=(128, 128), dtype=blobs.dtype, dimension_names=["row", "col"]
    )
    array[...] = blobs
    [(data, kwargs, _)] = read(path)
    np.testing.assert_array_equal(data, blobs)
    assert kwargs["axis_labels"] == ["row", "col"]


def test_group_of_shrinking_arrays_is_one_multiscale_layer(tmp_path, blobs):
    root = zarr.open_group(tmp_path / "pyramid", mode="w")
    for index, level in enumerate([blobs, coarsen(blobs, (0, 1)), coarsen(coarsen(blobs, (0, 1)), (0, 1))]):
        root.create_array(str(index), data=level)
    [(data, kwargs, _)] = read(tmp_path / "pyramid")
    assert kwargs["multiscale"] and [level.shape for level in data] == [(254, 256), (127, 128), (64, 64)]
    np.testing.assert_array_equal(data[1], coarsen(blobs, (0, 1)))


def test_group_of_unrelated_arrays_is_one_layer_each(tmp_path, blobs, maize_labels):
    root = zarr.open_group(tmp_path / "mixed", mode="w", zarr_format=2)
    root.create_array("blobs", data=blobs)
    root.create_group("nested").create_array("maize", data=maize_labels)
    layers = read(tmp_path / "mixed")
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["blobs", "maize"]
    np.testing.assert_array_equal(layers[1][0], maize_labels)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_channels_scale_units_and_labels(tmp_path, blobs, maize_labels, version):
    image = np.stack([blobs, 255 - blobs]).astype(np.uint16)
    root = ome_group(tmp_path / "cells", version)
    omero = {
        "channels": [
            {"label": "nuclei", "color": "00FF00", "window": {"start": 10, "end": 200, "min": 0, "max": 255}},
            {"label": "inverse", "color": "FF8000", "active": False},
        ]
    }
    write_ome_image(
        root, [image, coarsen(image, (1, 2))], CYX, version=version, scale=[1, 0.5, 0.25], translate=[0, 10, 20],
        omero=omero, chunks=(1, 100, 100),
    )
    labels = root.create_group("labels")
    label_image = maize_labels[: blobs.shape[0], : blobs.shape[1]]
    label_group = labels.create_group("cells")
    write_ome_image(
        label_group, [label_image, coarsen(label_image, (0, 1))], YX, version=version, scale=[0.5, 0.25],
        extra={"image-label": {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]}},
    )
    labels_block = {"labels": ["cells"]}
    labels.attrs.update(labels_block if version == "0.4" else {"ome": {"version": version, **labels_block}})

    nuclei, inverse, cells = read(tmp_path / "cells")
    for (data, kwargs, layer_type), channel in zip([nuclei, inverse], range(2)):
        assert layer_type == "image" and kwargs["multiscale"]
        np.testing.assert_array_equal(data[0], image[channel])
        np.testing.assert_array_equal(data[1], coarsen(image, (1, 2))[channel])
        assert kwargs["scale"] == [0.5, 0.25] and kwargs["translate"] == [10, 20]
        assert kwargs["axis_labels"] == ["y", "x"] and kwargs["units"] == ["micrometer", "micrometer"]
    assert nuclei[1]["name"] == "nuclei" and nuclei[1]["colormap"] == "green"
    assert nuclei[1]["contrast_limits"] == (10, 200) and nuclei[1]["visible"]
    assert inverse[1]["name"] == "inverse" and not inverse[1]["visible"]
    assert inverse[1]["colormap"]["colors"][1][:3] == pytest.approx([1.0, 128 / 255, 0.0])
    low, high = inverse[1]["contrast_limits"]
    assert 0 < high <= 255 and (low, high) != (0, 65535)
    data, kwargs, layer_type = cells
    assert layer_type == "labels" and kwargs["name"] == "cells" and kwargs["multiscale"]
    np.testing.assert_array_equal(data[0], label_image)
    assert kwargs["colormap"][1] == (1.0, 0.0, 0.0, 1.0)
    assert kwargs["scale"] == [0.5, 0.25]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_written_by_ome_zarr_py(tmp_path, version):
    """A 3D time series from another writer: t and z stay sliders, all levels come as one layer."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    fmt = FormatV04() if version == "0.4" else FormatV05()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, (2, 5, 64, 96), dtype=np.uint16)
    root = zarr.open_group(tmp_path / "series.zarr", mode="w", zarr_format=2 if version == "0.4" else 3)
    write_image(image, root, axes="tzyx", fmt=fmt, scale_factors=(2, 4))
    [(data, kwargs, _)] = read(tmp_path / "series.zarr")
    assert kwargs["axis_labels"] == ["t", "z", "y", "x"] and kwargs["multiscale"]
    assert [level.shape for level in data] == [(2, 5, 64, 96), (2, 5, 32, 48), (2, 5, 16, 24)]
    np.testing.assert_array_equal(data[0], image)


def test_a_broken_label_image_never_hides_the_image_or_the_other_labels(tmp_path, blobs, told):
    """Written by ome-zarr-py, then damaged: a listed label image that is gone, one whose level is unreadable."""
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image, write_labels

    root = zarr.open_group(tmp_path / "labelled.zarr", mode="w", zarr_format=2)
    write_image(blobs, root, axes="yx", fmt=FormatV04(), scale_factors=(2,))
    write_labels((blobs > 128).astype(np.uint8), root, name="cells", axes="yx", fmt=FormatV04(), scale_factors=(2,))
    write_labels((blobs > 64).astype(np.uint8), root, name="broken", axes="yx", fmt=FormatV04(), scale_factors=(2,))
    shutil.rmtree(tmp_path / "labelled.zarr" / "labels" / "broken" / "s1")
    (tmp_path / "labelled.zarr" / "labels" / "broken" / "s1").mkdir()
    metadata = {"zarr_format": 2, "shape": [4], "chunks": [4], "order": "C", "compressor": None, "filters": None}
    (tmp_path / "labelled.zarr" / "labels" / "broken" / "s1" / ".zarray").write_text(
        json.dumps({**metadata, "dtype": "|S8", "fill_value": 0})
    )
    labels = zarr.open_group(tmp_path / "labelled.zarr" / "labels", mode="r+")
    labels.attrs["labels"] = [*labels.attrs["labels"], "gone"]
    layers = read(tmp_path / "labelled.zarr")
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [("image", "image"), ("cells", "labels")]
    np.testing.assert_array_equal(layers[1][0][0], blobs > 128)
    [(severity, message)] = told
    assert severity == "warning" and "2 not opened" in message
    assert "cannot open zarr at labels/broken/s1: a fixed-length bytes array" in message
    assert "labels: metadata names 'gone' but there is no such group" in message


def test_bioformats2raw_layout_opens_the_first_series_and_names_the_others(tmp_path, blobs, monkeypatch):
    messages = []
    monkeypatch.setattr(notifications, "show_info", messages.append)
    root = zarr.open_group(tmp_path / "converted", mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    for series in ("0", "1"):
        write_ome_image(root.create_group(series), [blobs], YX, version="0.4")
    root.create_group("OME").attrs["series"] = ["0", "1"]
    [(data, _, _)] = read(tmp_path / "converted")
    np.testing.assert_array_equal(data, blobs)
    assert any("'1'" in message and "bioformats2raw" in message for message in messages)


def broken_store(tmp_path, blobs, change):
    root = ome_group(tmp_path / "broken", "0.4")
    write_ome_image(root, [blobs], YX, version="0.4")
    attributes = root.attrs.asdict()
    change(attributes["multiscales"][0])
    (tmp_path / "broken" / ".zattrs").write_text(json.dumps(attributes))
    return tmp_path / "broken"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(axes=m["axes"] + [{"name": "z", "type": "space"}]), "do not match the 2 dimensions"),
        (lambda m: m["datasets"].append({"path": "7"}), "dataset path '7'"),
        (lambda m: m.update(version="0.9"), "version '0.9' is not supported"),
        (lambda m: m.update(axes=[]), "no 'axes'"),
    ],
)
def test_invalid_ome_metadata_names_the_store_and_the_problem(tmp_path, blobs, change, message):
    path = broken_store(tmp_path, blobs, change)
    with pytest.raises(OmeMetadataError, match=message) as info:
        read(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ZarrTilesError)


def test_unreadable_codec_is_the_projects_error(tmp_path, blobs):
    path = tmp_path / "weird"
    zarr.create_array(path, data=blobs, zarr_format=2)
    metadata = json.loads((path / ".zarray").read_text())
    metadata["compressor"] = {"id": "made-up-codec"}
    (path / ".zarray").write_text(json.dumps(metadata))
    with pytest.raises(UnreadableStoreError, match="made-up-codec") as info:
        read(path)
    assert str(path) in str(info.value)


@pytest.fixture
def told(monkeypatch):
    """The napari notifications the reader shows, as (severity, message)."""
    messages = []
    monkeypatch.setattr(notifications, "show_info", lambda message: messages.append(("info", message)))
    monkeypatch.setattr(notifications, "show_warning", lambda message: messages.append(("warning", message)))
    return messages


def deliver_queued_notifications():
    """Notifications from dask's threads wait for the main thread where a Qt application exists (one does
    once an earlier test of the session made a viewer); run them."""
    from qtpy.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.processEvents()


def test_missing_chunks_are_told_at_open_with_the_count_and_first_keys(tmp_path, told):
    array = zarr.create_array(tmp_path / "empty", shape=(1000, 1000), chunks=(100, 100), dtype="u2", fill_value=3)
    array[:100, :200] = 5
    [(data, _, _)] = read(tmp_path / "empty")
    [(severity, message)] = [item for item in told if "chunks" in item[1]]
    assert severity == "info" and "98 of 100 chunks missing (first: c/0/2, c/0/3, c/0/4" in message
    assert "fill value 3" in message and str(tmp_path / "empty") in message
    assert int(data[500, 500]) == 3


def test_a_complete_store_that_lost_a_chunk_is_called_damaged(tmp_path, blobs, told):
    root = ome_group(tmp_path / "done.zarr", "0.4")
    write_ome_image(root, [blobs, coarsen(blobs, (0, 1))], YX, version="0.4", chunks=(100, 100))
    root.attrs["napari-zarr-tiles"] = {"complete": True, "provenance": {}}
    (tmp_path / "done.zarr" / "0" / "1" / "2").unlink()
    [(data, _, _)] = read(tmp_path / "done.zarr")
    [(severity, message)] = [item for item in told if "chunk" in item[1]]
    assert severity == "warning" and "DAMAGED" in message and "1 of 9 chunks missing (first: 1/2)" in message
    assert np.asarray(data[0][100:200, 200:]).max() == 0  # shown as the fill value
    assert np.array_equal(np.asarray(data[0][:100]), blobs[:100])


def mixed_group(path, good):
    """A zarr v2 group as zarr-python 2 left it: a good array beside kinds zarr 3 cannot open or show."""
    group = zarr.open_group(path, mode="w", zarr_format=2)
    group.create_array("good", data=good, chunks=(100, 100))
    for name, fields in {
        "bytes": {"dtype": "|S8", "fill_value": 0},
        "objects": {"dtype": "|O", "fill_value": 0, "filters": [{"id": "json2"}]},
        "names": {"dtype": "|O", "fill_value": 0, "filters": [{"id": "vlen-utf8"}]},
    }.items():
        (path / name).mkdir()
        metadata = {"zarr_format": 2, "shape": [4], "chunks": [4], "order": "C", "compressor": None, "filters": None}
        (path / name / ".zarray").write_text(json.dumps({**metadata, **fields}))


def test_one_bad_array_never_spoils_the_rest_of_a_group(tmp_path, blobs, told, caplog):
    mixed_group(tmp_path / "mixed.zarr", blobs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = read(tmp_path / "mixed.zarr")
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["good"]
    np.testing.assert_array_equal(layers[0][0], blobs)
    [(severity, message)] = told
    assert severity == "warning" and "3 not opened" in message
    assert "mixed.zarr: 3 not opened: " in message
    assert "bytes: a fixed-length bytes array" in message
    assert "objects: an array of Python objects" in message
    assert "names: its data type StringDType() is not pixels" in message
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()]


def test_a_group_of_nothing_readable_says_why_for_each_array(tmp_path, blobs):
    mixed_group(tmp_path / "mixed.zarr", blobs)
    shutil.rmtree(tmp_path / "mixed.zarr" / "good")
    with pytest.raises(UnreadableStoreError, match="mixed.zarr: nothing can be shown: ") as info:
        read(tmp_path / "mixed.zarr")
    for name in ("bytes", "objects", "names"):
        assert f"; {name}: " in str(info.value) or f"shown: {name}: " in str(info.value)


@pytest.mark.parametrize(
    ("values", "problem", "limits"),
    [
        (np.full((64, 64), np.nan, "f4"), "every pixel read is NaN", (0.0, 1.0)),
        (np.full((64, 64), 12, "u2"), "every pixel read is 12", (12.0, 13.0)),
        (np.where(np.eye(64, dtype=bool), np.inf, np.arange(64.0)), "infinite values", None),
    ],
)
def test_an_image_that_cannot_show_anything_meaningful_is_said_once(tmp_path, told, values, problem, limits):
    zarr.create_array(tmp_path / "odd", data=values)
    [(_, kwargs, _)] = read(tmp_path / "odd")
    [(severity, message)] = told
    assert severity == "warning" and "layer 'odd'" in message and problem in message
    low, high = kwargs["contrast_limits"]
    assert np.isfinite([low, high]).all() and low < high
    if limits:
        assert (low, high) == limits
    else:
        assert high <= 63


def test_a_huge_array_opens_reading_little_and_gets_lazy_levels(tmp_path, monkeypatch):
    """100000 x 100000 uint16 (20 GB if it were all there): opening must read under 5 MB."""
    monkeypatch.setattr(notifications, "show_info", lambda message: None)
    path = tmp_path / "huge"
    array = zarr.create_array(path, shape=(100_000, 100_000), chunks=(1024, 1024), dtype="u2", fill_value=0)
    rng = np.random.default_rng(1)
    noise = rng.integers(100, 5000, (1024, 1024), dtype=np.uint16)
    for row, col in [(0, 0), (48, 48), (97, 97), (20, 70)]:  # noisy (incompressible) tiles where a sample may look
        array[row * 1024 : (row + 1) * 1024, col * 1024 : (col + 1) * 1024] = noise
    process = psutil.Process()
    before = process.io_counters().read_chars
    [(data, kwargs, _)] = read(path)
    read_bytes = process.io_counters().read_chars - before
    assert read_bytes < 5e6, f"opening read {read_bytes / 1e6:.1f} MB"
    assert kwargs["multiscale"] and data[0].shape == (100_000, 100_000)
    assert max(data[-1].shape) <= 1024
    low, high = kwargs["contrast_limits"]
    assert high <= 5000 and (low, high) != (0, 65535)


def test_lazy_levels_of_a_single_scale_array_match_the_whole_image_reduction(tmp_path, blobs, monkeypatch):
    messages = []
    monkeypatch.setattr(notifications, "show_info", messages.append)
    monkeypatch.setattr(_reader, "LAZY_PYRAMID_EDGE", 100)
    monkeypatch.setattr(_reader, "OVERVIEW_EDGE", 64)
    zarr.create_array(tmp_path / "flat", data=blobs, chunks=(100, 100))
    [(data, kwargs, _)] = read(tmp_path / "flat")
    assert kwargs["multiscale"] and len(data) >= 2
    for index, level in enumerate(data[1:], start=1):
        factor = 2**index
        np.testing.assert_array_equal(level, downsample_block(blobs, (factor, factor)))
    assert any("pyramid" in message for message in messages)


def test_reading_several_folders_at_once(tmp_path, blobs):
    for name in ("a", "b"):
        zarr.create_array(tmp_path / name, data=blobs)
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    layers = napari_get_reader(paths)(paths)
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["a", "b"]


def test_a_corrupt_chunk_shows_the_fill_value_and_is_named_once(tmp_path, told):
    path = tmp_path / "corrupt.zarr"
    array = zarr.create_array(path, shape=(3000, 3000), chunks=(500, 500), dtype="uint16", zarr_format=2)
    array[...] = 7
    (path / "0.5").write_bytes(b"not a compressed chunk" * 4)  # off the diagonal the contrast sample reads
    (path / "1.5").write_bytes(b"")
    [(data, _, _)] = read(path)
    assert np.asarray(data[:500, :500]).max() == 7
    corner = np.asarray(data[:1100, 2400:])
    assert (corner[:1000, 100:] == 0).all() and (corner[:, :100] == 7).all() and (corner[1000:] == 7).all()
    np.asarray(data[:600, 2400:])  # read again: no second notification
    deliver_queued_notifications()
    [(severity, message)] = [item for item in told if "cannot be read" in item[1]]
    # Without a viewer, the keys found by the first read that met one (a viewer gathers a whole draw's).
    assert severity == "warning" and "corrupt.zarr: array '/': chunk(s) " in message
    assert "0.5" in message or "1.5" in message
    assert "shown as the fill value" in message


def test_layer_data_with_its_bad_chunk_teller_goes_to_cluster_workers(tmp_path, told):
    """A save on a dask.distributed cluster pickles the layer's graph, the teller of bad chunks with it."""
    import cloudpickle

    path = tmp_path / "corrupt.zarr"
    zarr.create_array(path, shape=(600, 600), chunks=(300, 300), dtype="u1", fill_value=0, zarr_format=2)[...] = 5
    (path / "1.1").write_bytes(b"")
    [(data, _, _)] = read(path)
    copy = cloudpickle.loads(cloudpickle.dumps(data))
    values = np.asarray(copy)
    assert (values[300:, 300:] == 0).all() and (values[:300] == 5).all()
    assert any("chunk(s) 1.1 cannot be read" in message for _, message in told)


@pytest.mark.parametrize("multiscales", [{"axes": [], "datasets": []}, "0", 7, []])
def test_malformed_multiscales_metadata_is_named_not_a_traceback(tmp_path, blobs, capsys, multiscales):
    from napari_zarr_tiles._cli import main

    root = zarr.open_group(tmp_path / "bad.zarr", mode="w", zarr_format=2)
    root.create_array("0", data=blobs, chunks=(128, 128))
    root.attrs["multiscales"] = multiscales
    with pytest.raises(OmeMetadataError, match="'multiscales' must be a non-empty list of objects"):
        _reader.layer_data(tmp_path / "bad.zarr")
    assert main(["info", str(tmp_path / "bad.zarr")]) == 0
    assert "multiscales: MALFORMED, not a list of objects" in capsys.readouterr().out


def test_arrays_of_fewer_than_two_axes_or_no_pixels_are_skipped_and_named(tmp_path, blobs):
    root = zarr.open_group(tmp_path / "odd.zarr", mode="w", zarr_format=3)
    root.create_array("image", data=blobs, chunks=(128, 128))
    root.create_array("scalar", shape=(), dtype="f4")
    root.create_array("empty", shape=(0, 10), dtype="u2", chunks=(1, 10))
    root.create_array("profile", shape=(1000,), dtype="f4", chunks=(100,))
    found = _reader.find_images(tmp_path / "odd.zarr")
    assert [source.name for source in found.sources] == ["image"]
    said = " ".join(found.skipped)
    assert "scalar: it has 0 dimension(s)" in said and "profile: it has 1 dimension(s)" in said
    assert "empty: it holds no pixels (shape (0, 10))" in said
    with pytest.raises(UnreadableStoreError, match="it has 0 dimension"):
        _reader.layer_data(tmp_path / "odd.zarr" / "scalar")


def test_the_contrast_comes_from_a_level_big_enough_to_hold_the_images_range(tmp_path):
    """A plate's field: 128² of noise whose pyramid goes down to 16², averaged almost flat. Its percentiles
    gave a window a quarter of the image's; the sample is now taken from the coarsest level of at least 64²."""
    rng = np.random.default_rng(3)
    level0 = rng.integers(0, 1000, (128, 128)).astype(np.uint16)
    levels = [level0]
    while levels[-1].shape[0] > 16:
        last = levels[-1].astype(np.float64)
        levels.append(((last[::2, ::2] + last[1::2, ::2] + last[::2, 1::2] + last[1::2, 1::2]) / 4).round().astype(np.uint16))
    write_ome_image(ome_group(tmp_path / "field.zarr", "0.5"), levels, YX, version="0.5")
    [(data, kwargs, _)] = read(tmp_path / "field.zarr")
    assert len(data) == 4 and data[-1].shape == (16, 16)
    low, high = kwargs["contrast_limits"]
    expected_low, expected_high = np.percentile(levels[1], (0.5, 99.5))  # level 1, 64², is the one sampled
    assert (low, high) == (pytest.approx(expected_low), pytest.approx(expected_high))
    assert high - low > 0.6 * 1000, (low, high)  # the coarsest level's window: about a quarter of that


def test_a_time_series_whose_middle_frame_is_blank_takes_its_contrast_from_its_ends_too(tmp_path, told):
    """The sample takes the middle time point; blank there, the image was called one flat colour."""
    frames = np.zeros((5, 64, 64), np.uint16)
    frames[0] = np.arange(64 * 64).reshape(64, 64) % 1000
    frames[4] = 500
    zarr.create_array(tmp_path / "series", data=frames, dimension_names=("t", "y", "x"))
    [(_, kwargs, _)] = read(tmp_path / "series")
    assert not [message for _, message in told if "flat" in message]
    low, high = kwargs["contrast_limits"]
    assert low < 100 and high > 900
