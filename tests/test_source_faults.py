"""Sources with bad or missing chunks, and sources with nothing to show, met by convert and process.

A chunk that cannot be read stops the write with an error naming the array and the chunk (a resumable
write keeps what it wrote, a convert removes its temporary store), unless the fill value is asked for:
then the result records that it is not a clean copy. Missing chunks are told and recorded, never an error,
except in a store this plugin wrote complete: that one is damaged. A source that is all NaN, infinite or one
value is written with one warning line.
"""

import numpy as np
import pytest
import tifffile
import zarr

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._errors import DamagedStoreError, UnreadableChunkError
from napari_zarr_tiles._jobs import process
from napari_zarr_tiles._store import WRITER_MARKER

IMAGE = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) + 1  # no pixel equals the fill value 0


@pytest.fixture
def source(tmp_path):
    """A plain zarr v2 array of 4 x 4 chunks (files named ``ROW.COLUMN``), as another tool writes one."""
    array = zarr.create_array(tmp_path / "source.zarr", shape=IMAGE.shape, chunks=(16, 16), dtype=IMAGE.dtype,
                              zarr_format=2)
    array[...] = IMAGE
    return tmp_path / "source.zarr"


def corrupt(store, key: str) -> None:
    path = store / key
    path.write_bytes(path.read_bytes()[:7])  # truncated: blosc cannot decode it


def provenance(target) -> dict:
    return zarr.open_group(target, mode="r").attrs[WRITER_MARKER]["provenance"]


def level0(target) -> np.ndarray:
    return zarr.open_group(target, mode="r")["0"][...]


def beside(target) -> list[str]:
    return sorted(path.name for path in target.parent.iterdir() if path.name != "source.zarr")


def test_a_bad_chunk_stops_a_convert_naming_it_and_leaves_nothing(source, tmp_path):
    corrupt(source, "2.1")
    target = tmp_path / "out.zarr"
    with pytest.raises(UnreadableChunkError, match=rf"array '/': chunk\(s\) 2.1 cannot be read .*nothing was written to {target}"):
        convert(source, target, tile=16)
    assert beside(target) == []


def test_a_bad_chunk_stops_a_resumable_write_which_the_fill_value_then_finishes(source, tmp_path):
    corrupt(source, "2.1")
    target = tmp_path / "out.zarr"
    with pytest.raises(UnreadableChunkError, match=r"chunk\(s\) 2.1 cannot be read .*the unfinished store is kept at"):
        convert(source, target, tile=16, resumable=True)
    assert beside(target) == [".out.zarr.partial"]
    convert(source, target, tile=16, resumable=True, bad_chunks="fill")
    expected = IMAGE.copy()
    expected[32:48, 16:32] = 0
    np.testing.assert_array_equal(level0(target), expected)
    assert provenance(target)["clean"] is False
    assert provenance(target)["bad_chunks_filled"] == {"/": ["2.1"]}


def test_process_fills_a_bad_chunk_when_asked_and_says_the_result_is_not_clean(source, tmp_path):
    corrupt(source, "0.3")
    target = tmp_path / "out.zarr"
    with pytest.raises(UnreadableChunkError, match=r"chunk\(s\) 0.3 cannot be read"):
        process(source, target, [("minimum", {"size": 1})], tile=16)
    process(source, target, [("minimum", {"size": 1})], tile=16, bad_chunks="fill")
    assert (level0(target)[:16, 48:] == 0).all() and (level0(target)[16:] == IMAGE[16:]).all()
    assert provenance(target)["bad_chunks_filled"] == {"/": ["0.3"]}
    assert provenance(target)["clean"] is False


def test_the_command_names_the_bad_chunk_and_the_option_and_fills_it_when_asked(source, tmp_path, capsys):
    corrupt(source, "3.3")
    target = tmp_path / "out.zarr"
    assert main(["convert", str(source), str(target), "--chunks", "16"]) == 1
    err = capsys.readouterr().err
    assert "chunk(s) 3.3 cannot be read" in err and f"nothing was written to {target}" in err
    assert err.rstrip().endswith("--fill-bad-chunks writes the fill value in their place") and "Traceback" not in err
    assert main(["convert", str(source), str(target), "--chunks", "16", "--fill-bad-chunks"]) == 0
    assert "chunk(s) 3.3 cannot be read" in capsys.readouterr().err  # told as it is filled
    assert provenance(target)["bad_chunks_filled"] == {"/": ["3.3"]}


def test_missing_chunks_are_told_before_the_write_and_recorded(source, tmp_path, capsys):
    (source / "1.2").unlink()
    (source / "3.0").unlink()
    target = tmp_path / "out.zarr"
    assert main(["convert", str(source), str(target), "--chunks", "16"]) == 0
    warnings = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "warning" in line]
    assert warnings == [
        (f"napari-zarr-tiles convert: warning: {source}: array '/': 2 of 16 chunks missing (first: 1.2, 3.0); "
        "they read as the fill value 0")
    ]
    assert provenance(target)["missing_chunks"] == {"/": {"missing": 2, "expected": 16, "unit": "chunk", "first": ["1.2", "3.0"]}}
    assert "clean" not in provenance(target)
    expected = IMAGE.copy()
    expected[16:32, 32:48] = expected[48:, :16] = 0
    np.testing.assert_array_equal(level0(target), expected)


def test_a_store_written_complete_that_lost_chunks_is_damaged_and_refused_unless_the_fill_value_is_accepted(source, tmp_path):
    written = tmp_path / "written.zarr"
    convert(source, written, tile=16)
    (written / "0" / "1" / "1").unlink()
    with pytest.raises(DamagedStoreError, match=r"array '0': 1 of 16 chunks missing \(first: 1/1\), in a store napari-zarr-tiles wrote complete: it is damaged"):
        convert(written, tmp_path / "copy.zarr", tile=16)
    with pytest.raises(DamagedStoreError, match="--fill-bad-chunks"):
        process(written, tmp_path / "copy.zarr", [("gaussian", {"sigma": 1})], tile=16)
    assert not (tmp_path / "copy.zarr").exists()
    with pytest.warns(UserWarning, match=r"1 of 16 chunks missing .*\(the store is damaged\)"):
        convert(written, tmp_path / "copy.zarr", tile=16, bad_chunks="fill")
    assert provenance(tmp_path / "copy.zarr")["clean"] is False


@pytest.mark.parametrize("command", [["convert"], ["process", "gaussian", "sigma=1"]])
def test_an_all_nan_source_is_written_with_one_warning(tmp_path, capsys, command):
    tifffile.imwrite(tmp_path / "nan.tif", np.full((64, 64), np.nan, np.float32))
    target = tmp_path / "out.zarr"
    assert main([command[0], str(tmp_path / "nan.tif"), str(target), *command[1:], "--chunks", "16"]) == 0
    warnings = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "warning" in line]
    assert warnings == [
        (f"napari-zarr-tiles {command[0]}: warning: {tmp_path / 'nan.tif'}: every pixel read is NaN: there is nothing "
        "to show; writing it all the same")
    ]
    assert np.isnan(level0(target)).all()


def test_filling_bad_chunks_on_a_cluster_does_not_claim_a_clean_copy(source, tmp_path):
    from distributed import Client

    corrupt(source, "1.1")
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        process(source, tmp_path / "out.zarr", [("minimum", {"size": 1})], tile=16, bad_chunks="fill", client=client)
    assert provenance(tmp_path / "out.zarr")["clean"] is None
    assert (level0(tmp_path / "out.zarr")[16:32, 16:32] == 0).all()
