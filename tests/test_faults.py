"""The fault-injection store itself: each rule does what it says, so tests built on it can fail."""

import errno

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._store import open_readonly


@pytest.fixture
def store_path(tmp_path):
    array = zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), chunks=(2, 2), dtype="uint8", zarr_format=2,
                              chunk_key_encoding={"name": "v2", "separator": "/"})
    array[...] = np.arange(16, dtype="uint8").reshape(4, 4)
    return tmp_path / "a.zarr"


def test_each_rule_changes_what_is_read(faults, store_path):
    faults.drop("0/0")
    faults.corrupt("1/1")
    faults.fail("0/1", OSError(errno.EIO, "I/O error"))
    array = open_readonly(store_path)
    assert (array[:2, :2] == 0).all()  # dropped: the fill value
    with pytest.raises(OSError, match="I/O error"):
        array[:2, 2:]
    with pytest.raises(RuntimeError):  # corrupt: blosc cannot decompress it
        array[2:, 2:]
    np.testing.assert_array_equal(array[2:, :2], [[8, 9], [12, 13]])
    assert "1/0" in faults.reads


def test_a_full_disk_refuses_writes_after_the_allowed_ones(faults, tmp_path):
    from napari_zarr_tiles import _writing

    faults.full_disk(after=2)  # the array's metadata and one chunk
    array = zarr.create_array(_writing.LocalStore(tmp_path / "b.zarr"), shape=(4,), chunks=(2,), dtype="uint8")
    array[:2] = 1
    with pytest.raises(OSError) as raised:
        array[2:] = 2
    assert raised.value.errno == errno.ENOSPC
    assert faults.writes == ["zarr.json", "c/0"]
