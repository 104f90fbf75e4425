import os

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._store import chunk_counts, is_zarr_path, open_readonly, to_dask


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


def test_chunk_counts_and_dask_view(tmp_path):
    array = zarr.create_array(tmp_path / "s", shape=(1000, 1000), chunks=(100, 100), shards=(500, 500), dtype="u2")
    array[:500, :500] = 3
    opened = open_readonly(tmp_path / "s")
    assert chunk_counts(opened) == (25, 100)
    view = to_dask(opened)
    assert view.chunks[0][0] == 500  # one task per shard
    assert int(view[:500, :500].sum().compute()) == 3 * 500 * 500
    np.testing.assert_array_equal(view.compute(), opened[...])
