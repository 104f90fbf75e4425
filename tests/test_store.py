import gc
import json
import logging
import os
import warnings

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._errors import NotZarrError, UnreadableChunkError
from napari_zarr_tiles._store import group_members, is_zarr_path, missing_chunks, open_readonly, to_dask


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_is_told_by_content_whatever_the_folder_is_called(tmp_path, zarr_format):
    array_path = tmp_path / "just-a-folder"
    zarr.create_array(array_path, shape=(4, 4), dtype="u1", zarr_format=zarr_format)
    group_path = tmp_path / "group.data"
    zarr.open_group(group_path, mode="w", zarr_format=zarr_format)
    assert is_zarr_path(array_path) and is_zarr_path(group_path)


def test_not_zarr_is_refused_quietly(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hello")
    (tmp_path / "fake.zarr").mkdir()  # named like zarr, but no metadata
    (tmp_path / "file.zarray").write_text("{}")
    for path in ["plain", "fake.zarr", "file.zarray", "missing"]:
        assert not is_zarr_path(tmp_path / path)
    assert sorted(os.listdir(tmp_path)) == ["fake.zarr", "file.zarray", "plain"]


def test_open_is_read_only_and_creates_nothing(tmp_path):
    path = tmp_path / "a"
    zarr.create_array(path, shape=(4, 4), dtype="u1")[...] = 7
    array = open_readonly(path)
    with pytest.raises(ValueError, match="read-only"):
        array[0, 0] = 1
    assert array[0, 0] == 7
    with pytest.raises(FileNotFoundError):
        open_readonly(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_a_folder_or_file_that_is_not_zarr_is_named_so(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    for name in ("plain", "image.tif"):
        with pytest.raises(NotZarrError, match=f"not a zarr store: .*{name}"):
            open_readonly(tmp_path / name)


def test_dask_view_reads_one_shard_per_task(tmp_path):
    array = zarr.create_array(tmp_path / "s", shape=(1000, 1000), chunks=(100, 100), shards=(500, 500), dtype="u2")
    array[:500, :500] = 3
    opened = open_readonly(tmp_path / "s")
    view = to_dask(opened)
    assert view.chunks[0][0] == 500  # one task per shard
    assert int(view[:500, :500].sum().compute()) == 3 * 500 * 500
    np.testing.assert_array_equal(view.compute(), opened[...])


@pytest.mark.parametrize(
    ("options", "deleted", "key"),
    [
        ({"zarr_format": 2}, "1.2", "1.2"),
        ({"zarr_format": 2, "chunk_key_encoding": {"name": "v2", "separator": "/"}}, "1/2", "1/2"),
        ({"zarr_format": 3}, "c/1/2", "c/1/2"),
        ({"zarr_format": 3, "shards": (200, 200)}, "c/0/1", "c/0/1"),
    ],
)
def test_missing_chunks_are_listed_by_key_from_a_listing(tmp_path, options, deleted, key):
    path = tmp_path / "a"
    array = zarr.create_array(path, shape=(350, 350), chunks=(100, 100), dtype="u1", **options)
    array[...] = 1
    os.remove(path / deleted)
    missing = missing_chunks(open_readonly(path))
    if "shards" in options:  # shards are what is stored: 2 x 2 of them, 4 inner chunks each
        assert (missing.expected, missing.missing, missing.unit, missing.chunks_per_shard) == (4, 1, "shard", 4)
    else:
        assert (missing.expected, missing.missing, missing.unit) == (16, 1, "chunk")
    assert missing.first_keys == (key,)
    assert missing.describe().startswith(f"1 of {missing.expected} {missing.unit}s missing (first: {key})")


def test_missing_chunks_reads_nothing(tmp_path, faults):
    array = zarr.create_array(tmp_path / "a", shape=(100, 100), chunks=(10, 10), dtype="u1")
    array[:50] = 1
    missing = missing_chunks(open_readonly(tmp_path / "a"))
    assert (missing.missing, missing.first_keys[:2]) == (50, ("c/5/0", "c/5/1"))
    assert [key for key in faults.reads if "/c/" in key or key.startswith("c/")] == []


def write_v2_metadata(path, **fields) -> None:
    """An array's metadata as zarr-python 2 wrote it (zarr 3 cannot write these kinds)."""
    path.mkdir()
    metadata = {"zarr_format": 2, "shape": [4], "chunks": [4], "order": "C", "compressor": None, "filters": None}
    (path / ".zarray").write_text(json.dumps({**metadata, **fields}))


def test_one_unreadable_array_never_hides_the_others(tmp_path, caplog):
    group = zarr.open_group(tmp_path / "g", mode="w", zarr_format=2)
    group.create_array("good", data=np.arange(16, dtype="u2").reshape(4, 4))
    write_v2_metadata(tmp_path / "g" / "bytes", dtype="|S8", fill_value=0)
    write_v2_metadata(tmp_path / "g" / "objects", dtype="|O", fill_value=0, filters=[{"id": "json2"}])
    (tmp_path / "g" / "notes.txt").write_text("not a zarr node")
    caplog.set_level(logging.ERROR, logger="asyncio")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr's warnings (a stray file "not recognized") stay out of sight
        members = group_members(open_readonly(tmp_path / "g"))
    gc.collect()  # asyncio reports unretrieved task errors when the tasks are collected
    assert [name for name, _ in members.arrays] == ["good"]
    reasons = dict(members.unreadable)
    assert sorted(reasons) == ["bytes", "objects"]
    assert "fixed-length bytes" in reasons["bytes"] and "Python objects" in reasons["objects"]
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()]


def truncated_chunk_store(path, **options):
    array = zarr.create_array(path, shape=(40, 40), chunks=(10, 10), dtype="u2", fill_value=9, **options)
    array[...] = 7
    return array


@pytest.mark.parametrize("sharded", [False, True])
def test_a_corrupt_chunk_raises_naming_it_or_reads_as_the_fill_value(tmp_path, sharded):
    path = tmp_path / "a"
    truncated_chunk_store(path, **({"shards": (20, 20)} if sharded else {}))
    key = "c/1/0" if sharded else "c/2/1"  # the shard holding chunk (2, 1), or that chunk
    (path / key).write_bytes((path / key).read_bytes()[:9])
    array = open_readonly(path)
    with pytest.raises(UnreadableChunkError, match=rf"{path}.*array '/'.*chunk\(s\) {key} cannot be read"):
        to_dask(array).compute()
    reports = []
    values = to_dask(array, bad_chunks="fill", on_bad_chunks=reports.append).compute()
    bad = np.zeros((40, 40), bool)
    if sharded:
        bad[20:40, 0:20] = True
    else:
        bad[20:30, 10:20] = True
    assert (values[bad] == 9).all() and (values[~bad] == 7).all()
    assert reports and all(report.keys == (key,) and report.array == "/" for report in reports)


def test_fill_mode_keeps_every_good_chunk_of_a_read(tmp_path):
    path = tmp_path / "a"
    truncated_chunk_store(path, zarr_format=2)
    for key in ("0.0", "3.3"):
        (path / key).write_bytes(b"")
    reports = []
    view = to_dask(open_readonly(path), min_task_edge=40, bad_chunks="fill", on_bad_chunks=reports.append)
    values = view[5:35, 5:35].compute()  # one task over all 16 chunks, two of them bad
    assert values[0, 0] == 9 and values[-1, -1] == 9 and values[10, 10] == 7
    assert (values == 9).sum() == 2 * 5 * 5
    [report] = reports
    assert report.keys == ("0.0", "3.3")


def test_bad_chunk_mode_is_checked(tmp_path):
    zarr.create_array(tmp_path / "a", shape=(4, 4), dtype="u1")
    with pytest.raises(ValueError, match="bad_chunks"):
        to_dask(open_readonly(tmp_path / "a"), bad_chunks="skip")


def test_stored_bytes_reads_a_local_file_at_once_and_other_stores_through_zarr(tmp_path):
    from zarr.core.sync import sync
    from zarr.storage import LocalStore, MemoryStore, ZipStore

    from napari_zarr_tiles._store import stored_bytes

    array = zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), chunks=(2, 2), dtype="uint8", zarr_format=2)
    array[:2, :2] = 7
    expected = (tmp_path / "a.zarr" / "0.0").read_bytes()
    memory = MemoryStore()
    zarr.create_array(memory, shape=(4, 4), chunks=(2, 2), dtype="uint8", zarr_format=2)[:2, :2] = 7
    with ZipStore(tmp_path / "a.zip", mode="w") as zipped:
        zarr.create_array(zipped, shape=(4, 4), chunks=(2, 2), dtype="uint8", zarr_format=2)[:2, :2] = 7
    zipped = sync(ZipStore.open(tmp_path / "a.zip", mode="r"))
    for store in (LocalStore(tmp_path / "a.zarr", read_only=True), memory, zipped):
        assert sync(stored_bytes(store, "0.0")) == expected
        assert sync(stored_bytes(store, "1.1")) is None  # never written
    assert sync(stored_bytes(LocalStore(tmp_path, read_only=True), "a.zarr")) is None  # a folder, not an object
