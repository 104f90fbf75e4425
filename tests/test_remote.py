"""Stores read over a network (https through a local server, s3 through moto's server), zip stores and
file:// URLs: the same pixels and layers as the local store, few round trips, and failures said in network
terms with the URL. Every server listens on 127.0.0.1 only and is started by the test."""

from __future__ import annotations

import os
import time
import zipfile

import numpy as np
import pytest
import zarr
from conftest import YX, ome_group, write_ome_image
from servers import http_server, s3_server
from zarr.core.sync import sync

from napari_zarr_tiles import _location, _reader
from napari_zarr_tiles._cli import main
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._errors import InvalidOptionError, RemoteStoreError, UnreadableStoreError
from napari_zarr_tiles._reader import layer_data, napari_get_reader
from napari_zarr_tiles._store import open_readonly, reading_bad_chunks

LEVELS = 3


@pytest.fixture(autouse=True)
def _fresh_stores():
    """Each test opens its own stores: a remote store is kept per URL, with its cache, between calls."""
    _location._opened.clear()
    _location._signed.clear()
    yield
    _location._opened.clear()


@pytest.fixture
def image() -> np.ndarray:
    return (np.arange(512 * 384, dtype=np.uint16).reshape(512, 384) * 7) % 4001


@pytest.fixture
def pyramid(tmp_path, image):
    """An OME-Zarr 0.5 pyramid of three levels in 128 x 128 chunks, written by hand from the specification."""
    path = tmp_path / "served" / "cells.ome.zarr"
    path.parent.mkdir()
    levels = [image[:: 2**i, :: 2**i] for i in range(LEVELS)]
    write_ome_image(ome_group(path, "0.5"), levels, YX, version="0.5", scale=[0.5, 0.5], chunks=(128, 128))
    return path


@pytest.fixture
def served(pyramid):
    with http_server(pyramid.parent) as server:
        server.store_url = f"{server.url}/{pyramid.name}"
        yield server


def pixels(layers) -> list[np.ndarray]:
    return [np.asarray(level) for data, _, _ in layers for level in (data if isinstance(data, list) else [data])]


# --- https: the same as the local store ----------------------------------------------------------------------


def test_an_ome_zarr_over_http_opens_as_the_local_store_does(served, pyramid):
    assert napari_get_reader(served.store_url) is _reader.read_zarr
    remote, local = layer_data(served.store_url), layer_data(pyramid)
    assert [kwargs["name"] for _, kwargs, _ in remote] == ["image"]
    assert remote[0][1]["scale"] == local[0][1]["scale"] == [0.5, 0.5]
    assert remote[0][1]["contrast_limits"] == local[0][1]["contrast_limits"]
    assert remote[0][1]["metadata"]["zarr_path"] == served.store_url
    for far, near in zip(pixels(remote), pixels(local), strict=True):
        np.testing.assert_array_equal(far, near)


def test_the_first_frame_over_http_takes_two_round_trips_each_document_asked_for_once(served):
    served.delay = 0.5
    layer_data(served.store_url)
    requested = [line.split(" ", 1)[1] for line in served.requests]
    assert len(requested) == len(set(requested)), "a document was asked for twice"
    # 1: the root's metadata documents (any format); 2: the zarr.json of the levels and of the OME and labels
    # groups it may have, with the coarsest level's chunk (the contrast and the first frame are drawn from it)
    assert served.round_trips() == 2
    assert sum(path.endswith("zarr.json") for path in requested) == 1 + LEVELS + 2
    assert f"/cells.ome.zarr/{LEVELS - 1}/c/0/0" in requested
    assert not any(path.endswith((".zarray", ".zattrs", ".zgroup")) for path in requested[5:])


def test_consolidated_metadata_is_all_a_remote_store_is_asked_for_before_the_pixels(tmp_path, image):
    path = tmp_path / "consolidated.ome.zarr"
    levels = [image[:: 2**i, :: 2**i] for i in range(LEVELS)]
    write_ome_image(ome_group(path, "0.4"), levels, YX, version="0.4", chunks=(128, 128))
    zarr.consolidate_metadata(path)
    with http_server(tmp_path) as server:
        remote = layer_data(f"{server.url}/{path.name}")
        requested = [line.split(" ", 1)[1] for line in server.requests]
        for far, near in zip(pixels(remote), pixels(layer_data(path)), strict=True):
            np.testing.assert_array_equal(far, near)
    # the root's documents (.zmetadata among them), then only the coarsest level's chunk
    assert requested[5:] == [f"/{path.name}/{LEVELS - 1}/0/0"]


def test_napari_ome_zarr_reads_the_same_url_as_this_plugin(served):
    from napari_ome_zarr import napari_get_reader as ome_zarr_reader

    theirs = ome_zarr_reader(served.store_url)(served.store_url)
    ours = layer_data(served.store_url)
    for far, near in zip(pixels(ours), [np.asarray(level) for level in theirs[0][0]], strict=True):
        np.testing.assert_array_equal(far, near)


@pytest.mark.gui
def test_a_url_opens_in_a_real_viewer(make_napari_viewer, served, image):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(served.store_url, plugin="napari-zarr-tiles")
    assert [layer.name for layer in viewer.layers] == ["image"] and len(layers) == 1
    assert layers[0].multiscale and len(layers[0].data) == LEVELS
    np.testing.assert_allclose(layers[0].scale, [0.5, 0.5])
    np.testing.assert_array_equal(np.asarray(layers[0].data[0][100:200, 50:300]), image[100:200, 50:300])
    viewer.reset_view()
    frame = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    assert frame.std() > 10, "the frame is flat: nothing was drawn"


def test_the_chunks_of_one_screenful_are_asked_for_together(tmp_path):
    image = np.random.default_rng(0).integers(0, 4000, (1536, 1536), dtype=np.uint16)
    zarr.create_array(tmp_path / "big.zarr", data=image, chunks=(512, 512))
    with http_server(tmp_path) as server:
        [(data, _, _)] = layer_data(f"{server.url}/big.zarr")
        [store] = _location._opened.values()
        sync(store.clear_cache())  # the contrast sample read some chunks
        server.reset()
        server.delay = 0.5
        start = time.perf_counter()
        np.testing.assert_array_equal(np.asarray(data), image)
        seconds = time.perf_counter() - start
    assert len(server.requests) == 9
    # one task per chunk would ask for as many at a time as dask has threads (the cores: 2 here)
    assert seconds < 3 * server.delay, f"{seconds:.2f} s for 9 chunks: asked for a few at a time"


def test_a_chunk_read_through_the_cache_is_not_asked_for_again(served, image):
    [(data, _, _)] = layer_data(served.store_url)
    np.asarray(data[0][:256, :256])
    served.reset()
    np.testing.assert_array_equal(np.asarray(data[0][:256, :256]), image[:256, :256])
    assert served.requests == []


def test_the_viewer_and_the_engine_share_one_cache_per_url(served, image, tmp_path):
    [(data, _, _)] = layer_data(served.store_url)
    np.asarray(data[0])  # the viewer has read all of level 0
    served.reset()
    written = convert(served.store_url, tmp_path / "copy.zarr")
    np.testing.assert_array_equal(zarr.open_group(written, mode="r")["0"][...], image)
    assert served.requests == [], "the engine asked again for what the viewer had fetched"


def test_a_slow_store_is_said_while_it_answers(served, monkeypatch):
    told = []
    monkeypatch.setattr(_reader, "SLOW_STORE_SECONDS", 0.1)
    monkeypatch.setattr(_reader, "_notify", told.append)
    served.delay = 0.3
    layer_data(served.store_url)
    assert told and served.store_url in told[0] and "answers slowly" in told[0]


# --- failures in network terms -------------------------------------------------------------------------------


def test_nothing_at_a_url_is_said_with_the_url(served):
    url = f"{served.url}/no-such.zarr"
    with pytest.raises(FileNotFoundError, match=rf"no zarr store at {url}: not found \(HTTP 404\).*check the URL"):
        open_readonly(url)


def test_a_forbidden_url_is_said_with_credentials_advice(served):
    served.status = {"/cells.ome.zarr": 403}
    with pytest.raises(RemoteStoreError, match=r"cannot read http://127\.0\.0\.1:\d+/cells\.ome\.zarr: forbidden "
                                               r"\(HTTP (403 forbidden|401 unauthorized)\).*AWS_ACCESS_KEY_ID"):
        layer_data(served.store_url)


def test_a_store_that_does_not_answer_in_time_is_said_with_the_timeout_option(served):
    served.stall, served.stall_seconds = ("/cells.ome.zarr",), 5
    start = time.perf_counter()
    with pytest.raises(RemoteStoreError, match=r"timed out: .*storage option timeout"):
        open_readonly(served.store_url, storage_options={"timeout": "1s"})
    assert time.perf_counter() - start < 4.5


def test_a_server_that_refuses_connections_is_said_with_its_address():
    import socket

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(RemoteStoreError, match=rf"cannot connect to 127\.0\.0\.1:{port}: check the address"):
        open_readonly(f"http://127.0.0.1:{port}/x.zarr")


def test_a_network_failure_while_viewing_shows_the_fill_value_and_names_the_url(served):
    [(data, _, _)] = layer_data(served.store_url)
    told = []
    served.status = {"/cells.ome.zarr/0/c/": 500}
    lazy = reading_bad_chunks(data[0], "fill", told.append)
    assert (np.asarray(lazy[:128, :128]) == 0).all()
    assert told and told[0].store == served.store_url and "500" in told[0].reason
    with pytest.raises(RemoteStoreError, match=rf"cannot read {served.store_url}: array '0': .*500"):
        np.asarray(reading_bad_chunks(data[0], "raise")[:128, :128])


def test_a_plain_group_over_http_needs_consolidated_metadata(tmp_path, image):
    root = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    root.create_array("a", data=image, chunks=(128, 128))
    with http_server(tmp_path) as server:
        with pytest.raises(UnreadableStoreError, match="cannot be listed over http.*consolidate"):
            layer_data(f"{server.url}/plain.zarr")
        zarr.consolidate_metadata(tmp_path / "plain.zarr")
        _location._opened.clear()
        [(data, kwargs, _)] = layer_data(f"{server.url}/plain.zarr")
    assert kwargs["name"] == "a"
    np.testing.assert_array_equal(np.asarray(data), image)


def test_info_and_the_reader_give_one_message_for_a_plain_group_over_http(tmp_path, image, capsys):
    root = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    root.create_array("a", data=image, chunks=(128, 128))
    with http_server(tmp_path) as server:
        url = f"{server.url}/plain.zarr"
        with pytest.raises(UnreadableStoreError) as raised:
            layer_data(url)
        assert main(["info", url]) == 0
    reason = raised.value.reason
    assert "consolidate the store's metadata (zarr.consolidate_metadata)" in reason
    assert f"  members not listed: {reason}" in capsys.readouterr().out.splitlines()


def test_a_url_of_a_zip_store_or_of_a_tiff_says_they_are_read_from_local_files(served, tmp_path, capsys):
    for url, said in ((f"{served.url}/cells.ome.zarr.zip", "zip stores are read from local files only: download it"),
                      (f"{served.url}/cells.tif", "a TIFF is read from a local file only: download it, then convert")):
        assert main(["info", url]) == 1
        assert capsys.readouterr().err.strip() == f"napari-zarr-tiles: {url}: {said}" + (
            ", then open the file" if url.endswith("zip") else " it (napari-zarr-tiles convert FILE.tif OUT.zarr)")
        assert main(["convert", url, str(tmp_path / "out.zarr")]) == 1
        assert said in capsys.readouterr().err
    assert served.requests == []  # said before asking


def test_storage_options_for_a_local_path_are_refused_in_words(pyramid, tmp_path, capsys):
    zip_path = zipped(pyramid, tmp_path / "cells.ome.zarr.zip")
    for path, kind in ((pyramid, "path"), (zip_path, "zip file")):
        assert main(["info", str(path), "--storage-option", "timeout=5s"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"napari-zarr-tiles info: --storage-option timeout: storage options are for remote stores (URLs); "
            f"{path} is a local {kind}")
    with pytest.raises(InvalidOptionError, match="storage options are for remote stores"):
        convert(pyramid, tmp_path / "out.zarr", storage_options={"region": "eu-west-1"})
    assert not (tmp_path / "out.zarr").exists()


# --- storage options, and writes refused ---------------------------------------------------------------------


def test_storage_options_reach_the_store_and_unknown_ones_are_refused(served):
    assert open_readonly(served.store_url, storage_options={"timeout": "20s", "user_agent": "tests"}) is not None
    with pytest.raises(InvalidOptionError, match=r"storage_options \['region'\] do not apply to http"):
        open_readonly(served.store_url, storage_options={"region": "eu-west-1"})


def test_the_command_line_takes_storage_options_and_refuses_malformed_ones(served, capsys):
    served.delay = 0.3
    assert main(["info", served.store_url, "--storage-option", "timeout=20s"]) == 0
    assert served.round_trips() == 2  # the root's metadata, then the levels' at once
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{served.store_url} (zarr format 3)"
    assert lines[2] == ("  members other than the OME levels not listed: the group's members cannot be listed over http "
                        "and it has no consolidated metadata: open its images by their own URLs, or consolidate the "
                        "store's metadata (zarr.consolidate_metadata)")
    assert [line.split(":")[0] for line in lines[3:]] == ["  0", "  1", "  2"]
    assert all("chunks not counted (a remote store is not listed)" in line for line in lines[3:])
    assert main(["info", served.store_url, "--storage-option", "timeout"]) == 2
    assert "--storage-option takes KEY=VALUE, not 'timeout'" in capsys.readouterr().err


def test_a_remote_target_is_refused_and_nothing_is_written(served, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target in ("s3://bucket/out.zarr", f"{served.url}/out.zarr"):
        assert main(["convert", served.store_url, target]) == 1
        assert f"cannot write to {target}: remote stores are read-only" in capsys.readouterr().err
        with pytest.raises(RemoteStoreError, match="remote stores are read-only"):
            convert(served.store_url, target)
    assert main(["convert", served.store_url, (tmp_path / "out.zarr").as_uri()]) == 1
    assert f"give the target as a path ({tmp_path / 'out.zarr'}), not a URL" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["served"]


def test_convert_and_process_read_a_url(served, tmp_path, image):
    from napari_zarr_tiles import process

    written = convert(served.store_url, tmp_path / "copy.zarr", storage_options={"timeout": "20s"})
    copy = zarr.open_group(written, mode="r")
    np.testing.assert_array_equal(copy["0"][...], image)
    provenance = copy.attrs["napari-zarr-tiles"]["provenance"]
    assert provenance["source"] == served.store_url
    assert provenance["missing_chunks"] == "not counted (a remote store is not listed)"
    written = process(served.store_url, tmp_path / "max.zarr", [("maximum", {"size": 3})])
    from scipy import ndimage

    np.testing.assert_array_equal(zarr.open_group(written, mode="r")["0"][...], ndimage.maximum_filter(image, 3))


def test_measure_reads_labels_and_intensity_by_url_and_stores_no_table_there(tmp_path, image, capsys):
    import pandas as pd
    import tifffile
    from skimage.measure import label, regionprops_table

    from napari_zarr_tiles import process

    served_folder = tmp_path / "served"
    served_folder.mkdir()
    tifffile.imwrite(tmp_path / "image.tif", image)
    process(tmp_path / "image.tif", served_folder / "labels.zarr", [("threshold", {"method": "value", "value": 2000}),
                                                                    ("label", {})])
    convert(tmp_path / "image.tif", served_folder / "image.zarr")
    before = sorted(path.name for path in (served_folder / "labels.zarr").iterdir())
    with http_server(served_folder) as server:
        labels_url, image_url = f"{server.url}/labels.zarr", f"{server.url}/image.zarr"
        csv = tmp_path / "objects.csv"
        assert main(["measure", labels_url, "--intensity", image_url, "--csv", str(csv)]) == 0
        assert main(["measure", labels_url, "--table", "objects"]) == 1
    said = capsys.readouterr()
    assert f"measured {{count}} objects in {labels_url}".format(count=label(image > 2000).max()) in said.out
    assert (f"measure: {labels_url} is read-only here (a URL or a zip store): a table cannot be stored in it"
            in said.err)
    expected = pd.DataFrame(regionprops_table(label(image > 2000), image, properties=("label", "area", "intensity_mean")))
    table = pd.read_csv(csv)
    for column in expected.columns:
        np.testing.assert_allclose(table[column], expected[column], err_msg=column)
    assert sorted(path.name for path in (served_folder / "labels.zarr").iterdir()) == before  # no table stored


# --- zip stores and file:// URLs -----------------------------------------------------------------------------


def zipped(folder, into):
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, file.relative_to(folder).as_posix())
    return into


def test_a_zip_store_opens_read_only_as_the_folder_does(pyramid, tmp_path, capsys):
    path = zipped(pyramid, tmp_path / "cells.ome.zarr.zip")
    before = path.stat().st_mtime_ns
    assert napari_get_reader(str(path)) is _reader.read_zarr
    assert napari_get_reader(str(tmp_path / "other.zip")) is None  # not a zarr store by its name
    remote, local = layer_data(path), layer_data(pyramid)
    assert remote[0][1]["name"] == local[0][1]["name"]
    for inside, outside in zip(pixels(remote), pixels(local), strict=True):
        np.testing.assert_array_equal(inside, outside)
    assert main(["info", str(path)]) == 0
    assert "chunks present" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == before


def test_a_zip_of_the_store_folder_itself_opens_as_the_folder_does(pyramid, tmp_path, capsys):
    path = tmp_path / "cells.ome.zarr.zip"
    with zipfile.ZipFile(path, "w") as archive:  # as `zip -r cells.ome.zarr.zip cells.ome.zarr` makes it
        for file in sorted(pyramid.rglob("*")):
            archive.write(file, file.relative_to(pyramid.parent).as_posix())
    for inside, outside in zip(pixels(layer_data(path)), pixels(layer_data(pyramid)), strict=True):
        np.testing.assert_array_equal(inside, outside)
    assert main(["info", str(path)]) == 0
    assert "OME-NGFF 0.5 image" in capsys.readouterr().out
    written = convert(path, tmp_path / "copy.zarr")
    np.testing.assert_array_equal(zarr.open_group(written, mode="r")["0"][...], pixels(layer_data(pyramid))[0])


def test_a_zip_without_a_store_at_its_root_or_in_its_one_folder_says_how_to_zip_one(pyramid, tmp_path, capsys):
    path = tmp_path / "two.zarr.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(pyramid.rglob("*")):
            archive.write(file, f"a/{file.relative_to(pyramid).as_posix()}")
        archive.writestr("b/readme.txt", "two folders")
    assert main(["info", str(path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"napari-zarr-tiles: not a zarr store: {path} (no zarr.json, .zarray or .zgroup at the zip's root, nor in "
        "one folder that holds all the rest): zip a store from inside its folder: cd two.zarr && zip -r0 ../two.zarr.zip .")


def test_a_damaged_zip_file_is_said_to_be_one_in_every_interface(pyramid, tmp_path, capsys):
    path = zipped(pyramid, tmp_path / "cells.ome.zarr.zip")
    path.write_bytes(path.read_bytes()[:-200])  # cut short: the zip's directory is at its end
    said = (f"{path}: not a readable zip file (File is not a zip file): it may be cut short or damaged; make it "
            "again from the store's folder: cd cells.ome.zarr && zip -r0 ../cells.ome.zarr.zip .")
    for command in (["info", str(path)], ["convert", str(path), str(tmp_path / "out.zarr")]):
        assert main(command) == 1
        assert capsys.readouterr().err.strip() == f"napari-zarr-tiles: {said}"
    with pytest.raises(UnreadableStoreError) as raised:
        layer_data(path)
    assert str(raised.value) == said
    assert not (tmp_path / "out.zarr").exists()


def test_a_zip_target_is_refused_before_any_work_saying_how_to_zip_a_folder(pyramid, tmp_path, capsys):
    from napari_zarr_tiles import process

    target = tmp_path / "out.zarr.zip"
    said = (f"cannot write to {target}: zip stores are read-only here; write a folder (out.zarr) and zip it, from "
            "inside the folder: cd out.zarr && zip -r0 ../out.zarr.zip .")
    for command in ("convert", "process"):
        assert main([command, str(pyramid), str(target), *(["median"] if command == "process" else [])]) == 2
        assert capsys.readouterr().err.strip() == f"napari-zarr-tiles {command}: {said}"
    for write in (lambda: convert(pyramid, target), lambda: process(pyramid, target, [("median", {})])):
        with pytest.raises(InvalidOptionError, match="zip stores are read-only here"):
            write()
    assert not target.exists()


def test_a_file_url_opens_the_local_store(pyramid):
    url = pyramid.as_uri()
    assert napari_get_reader(url) is _reader.read_zarr
    [(data, _, _)] = layer_data(url)
    np.testing.assert_array_equal(np.asarray(data[-1]), np.asarray(layer_data(pyramid)[0][0][-1]))


# --- s3: public and private buckets --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


@pytest.fixture
def buckets(s3, pyramid, monkeypatch):
    """The pyramid in the public and the private bucket; the AWS environment pointing at moto, without
    credentials (and no AWS config files)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    prefix = f"{os.getpid()}-{time.monotonic_ns()}/cells.ome.zarr"
    return s3.upload(pyramid, s3.public, prefix), s3.upload(pyramid, s3.private, prefix)


def test_a_public_bucket_is_read_without_credentials(buckets, pyramid):
    public, _ = buckets
    for far, near in zip(pixels(layer_data(public)), pixels(layer_data(pyramid)), strict=True):
        np.testing.assert_array_equal(far, near)


def test_a_private_bucket_needs_credentials_and_reads_with_them(buckets, s3, pyramid, monkeypatch):
    _, private = buckets
    with pytest.raises(RemoteStoreError, match=rf"cannot read {private}: forbidden .*AWS_ACCESS_KEY_ID"):
        layer_data(private)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    for far, near in zip(pixels(layer_data(private)), pixels(layer_data(pyramid)), strict=True):
        np.testing.assert_array_equal(far, near)


def test_credentials_and_endpoint_as_storage_options(buckets, s3, pyramid, monkeypatch):
    _, private = buckets
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    options = {"endpoint": s3.endpoint, "access_key_id": s3.key_id, "secret_access_key": s3.secret}
    found = layer_data(private, storage_options=options)
    np.testing.assert_array_equal(pixels(found)[-1], pixels(layer_data(pyramid))[-1])


@pytest.mark.parametrize("option, said", [
    ("timeout=abc", "--storage-option timeout takes a duration such as 30s or 2min, not 'abc'"),
    ("connect_timeout=soon", "--storage-option connect_timeout takes a duration such as 30s or 2min, not 'soon'"),
    ("allow_http=maybe", "--storage-option allow_http takes true or false, not 'maybe'"),
])
def test_a_storage_option_value_obstore_cannot_parse_is_named_with_what_it_takes(served, capsys, option, said):
    assert main(["info", served.store_url, "--storage-option", option]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"napari-zarr-tiles info: {said}"
    key, value = option.split("=")
    with pytest.raises(InvalidOptionError, match=f"storage_options {key} takes .*, not '{value}'"):
        open_readonly(served.store_url, storage_options={key: value})


def test_an_access_key_without_its_secret_is_refused_in_words(s3, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert main(["info", f"s3://{s3.private}/x.zarr", "--storage-option", f"access_key_id={s3.key_id}"]) == 2
    err = capsys.readouterr().err
    assert "--storage-option access_key_id and secret_access_key go together: give both" in err
    assert "Traceback" not in err and "Debug source" not in err


def test_a_bucket_that_cannot_be_reached_is_said_as_a_bucket_with_its_endpoint(monkeypatch):
    import socket

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{free.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with pytest.raises(RemoteStoreError, match=rf"cannot read s3://no-such-bucket/x.zarr: the bucket no-such-bucket "
                                               rf"cannot be reached at {endpoint}: it does not exist there"):
        open_readonly("s3://no-such-bucket/x.zarr")


@pytest.mark.gui
def test_a_damaged_zip_file_opened_in_a_real_viewer_says_it_is_not_a_readable_zip(make_napari_viewer, pyramid, tmp_path):
    path = zipped(pyramid, tmp_path / "cells.ome.zarr.zip")
    path.write_bytes(path.read_bytes()[:-200])
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as raised:  # napari wraps the reader's error in its own
        viewer.open(str(path), plugin="napari-zarr-tiles")
    causes = [raised.value, raised.value.__cause__]
    assert any(isinstance(cause, UnreadableStoreError) for cause in causes), causes
    assert f"{path}: not a readable zip file (File is not a zip file)" in " ".join(map(str, causes))
    assert len(viewer.layers) == 0


def test_a_storage_option_given_as_a_number_in_python_is_named():
    with pytest.raises(InvalidOptionError, match=r"storage_options timeout: give the value as text .*not 5"):
        open_readonly("http://127.0.0.1:9/x.zarr", storage_options={"timeout": 5})


def test_chunks_a_server_fails_while_drawing_are_said_with_network_advice(served, image, monkeypatch):
    """Not "restore those files from a copy" (the store is fine): they are asked for again when next drawn."""
    from napari.utils import notifications

    told = []
    monkeypatch.setattr(notifications, "show_warning", told.append)
    [(data, _, _)] = layer_data(served.store_url)
    served.status = {"/cells.ome.zarr/0/c/": 500}
    assert (data[0][:128, :128] == 0).all()
    served.status = {}
    np.testing.assert_array_equal(data[0][:128, :128], image[:128, :128])  # the server answers again: read again
    from qtpy.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.processEvents()
    [message] = [text for text in told if "cannot be read" in text]
    assert served.store_url in message and "500" in message
    assert "asked for again when napari next draws them" in message and "restore" not in message


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_empty_cut_short_and_garbage_blosc_chunks_over_http_read_as_the_fill_value_and_are_named(tmp_path, zarr_format):
    """numcodecs' Blosc read past the end of obstore's buffers for such chunks and crashed the process (read
    in a child process here, which a crash kills instead of the tests)."""
    import json
    import subprocess
    import sys

    from numcodecs import Blosc
    from zarr.codecs import BloscCodec

    folder = tmp_path / "served"
    values = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) % 1000 + 1
    array = zarr.create_array(folder / "damaged.zarr", shape=values.shape, chunks=(64, 64), dtype="uint16",
                              zarr_format=zarr_format, compressors=Blosc() if zarr_format == 2 else BloscCodec())
    array[...] = values
    keys = {(0, 1): "empty", (1, 2): "cut short", (3, 3): "garbage"}
    for (row, column), damage in keys.items():
        chunk = folder / "damaged.zarr" / (f"{row}.{column}" if zarr_format == 2 else f"c/{row}/{column}")
        raw = chunk.read_bytes()
        chunk.write_bytes(b"" if damage == "empty" else raw[: len(raw) // 3] if damage == "cut short" else bytes(range(200)))
    with http_server(folder) as server:
        code = (
            "import json, numpy as np\n"
            "from napari_zarr_tiles._reader import layer_data\n"
            f"[(data, _, _)] = layer_data({server.url + '/damaged.zarr'!r})\n"
            "print(json.dumps(np.asarray(data).tolist()))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    read = np.array(json.loads(done.stdout))
    expected = values.copy()
    for row, column in keys:
        expected[row * 64 : (row + 1) * 64, column * 64 : (column + 1) * 64] = 0
    np.testing.assert_array_equal(read, expected)
    for row, column in keys:
        assert (f"{row}.{column}" if zarr_format == 2 else f"c/{row}/{column}") in done.stderr
    # said as damage at the source, not as a network failure
    assert "shown as the fill value (the store sends them damaged: tell whoever keeps it)" in done.stderr
