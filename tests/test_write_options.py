"""Write options are checked before any work, and a bad one is named in the words of the interface used."""

import numpy as np
import pytest
import tifffile

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._errors import InvalidOptionError
from napari_zarr_tiles._options import WriteOptions


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--chunks", "0"], "--chunks must be a whole number of at least 16 pixels, not 0"),
        (["--chunks", "-5"], "--chunks must be a whole number of at least 16 pixels, not -5"),
        (["--chunks", "17"], ("--chunks must be even when a pyramid is written (each level halves a tile), not 17 "
                              "(or turn the pyramid off: --no-pyramid)")),
        (["--level", "99"], "--level of blosc-zstd runs from 0 to 9, not 99"),
        (["--compressor", "zstd", "--level", "0"], "--level of zstd runs from 1 to 22, not 0"),
        (["--compressor", "none", "--level", "3"], "--level has no meaning without a compressor"),
        (["--shards", "4"], "--shards needs --ome-version 0.5 (zarr v3): OME-Zarr 0.4 is stored as zarr v2"),
        (["--ome-version", "0.5", "--shards", "0"], "--shards must be a whole number of tiles, at least 1, not 0"),
    ],
)
@pytest.mark.parametrize("command", ["convert", "process"])
def test_the_command_line_names_the_flag_at_fault_and_writes_nothing(tmp_path, capsys, command, flags, message):
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, np.zeros((64, 64), np.uint8))
    steps = ["gaussian"] if command == "process" else []
    assert main([command, str(source), str(tmp_path / "out.zarr"), *steps, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.tif"]


def test_odd_tiles_are_fine_without_a_pyramid(tmp_path, capsys):
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, np.arange(50 * 40, dtype=np.uint16).reshape(50, 40))
    assert main(["convert", str(source), str(tmp_path / "out.zarr"), "--chunks", "17", "--no-pyramid"]) == 0
    import zarr

    array = zarr.open_array(tmp_path / "out.zarr" / "0", mode="r")
    assert array.chunks == (17, 17)
    np.testing.assert_array_equal(array[:], tifffile.imread(source))


def test_python_names_the_keyword_and_each_option_is_checked_once_made():
    with pytest.raises(InvalidOptionError, match=r"^shards needs ome_version 0.5") as raised:
        WriteOptions(shards=2)
    assert raised.value.option == "shards"
    assert raised.value.in_words({"shards": "shards per axis", "ome_version": "OME-Zarr"}).startswith(
        "shards per axis needs OME-Zarr 0.5"
    )
    with pytest.raises(InvalidOptionError, match="compressor 'lzma' is not one of"):
        WriteOptions(compressor="lzma")
    with pytest.raises(InvalidOptionError, match="tile must be a whole number"):
        WriteOptions(tile=True)
    with pytest.raises(TypeError, match="unknown write option"):
        WriteOptions.of(chunks=64)
    assert WriteOptions.of(WriteOptions(tile=64), with_pyramid=False) == WriteOptions(tile=64, with_pyramid=False)


def test_the_error_survives_a_trip_to_a_cluster_worker_and_back():
    import pickle

    error = pickle.loads(pickle.dumps(InvalidOptionError("tile", "{tile} is wrong")))
    assert error.option == "tile" and error.in_words({"tile": "--chunks"}) == "--chunks is wrong"
