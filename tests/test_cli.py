import json
import shutil

import numpy as np
import pytest
import zarr
from conftest import YX, ome_group, write_ome_image

from napari_zarr_tiles._cli import main


def test_info_describes_the_tree(tmp_path, blobs, capsys):
    root = ome_group(tmp_path / "img.zarr", "0.4")
    write_ome_image(root, [blobs, blobs[::2, ::2]], YX, version="0.4", chunks=(100, 100))
    sharded = zarr.create_array(tmp_path / "sharded", shape=(400, 400), chunks=(100, 100), shards=(200, 200), dtype="u1")
    sharded[:200, :200] = 1
    assert main(["info", str(tmp_path / "img.zarr")]) == 0
    out = capsys.readouterr().out
    assert "OME-NGFF 0.4 image, axes y:space x:space, 2 pyramid level(s)" in out
    assert "0: shape (254, 256) uint8 chunks (100, 100)" in out and "9/9 chunks present" in out
    assert "1: shape (127, 128)" in out and "zarr v2" in out
    assert main(["info", str(tmp_path / "sharded")]) == 0
    out = capsys.readouterr().out
    assert "shards (200, 200)" in out and "zarr v3" in out
    # zarr counted 4 inner chunks per stored shard against 16 in all; a shard holds 4 and 1 of 4 is stored
    assert "1/4 shards present (4 chunks per shard, 16 chunks in all), missing: c/0/1, c/1/0, c/1/1" in out


def test_info_lists_unreadable_arrays_and_exits_0(tmp_path, blobs, capfd):
    from test_reader import mixed_group

    mixed_group(tmp_path / "mixed.zarr", blobs)
    assert main(["info", str(tmp_path / "mixed.zarr")]) == 0
    out, err = capfd.readouterr()
    assert "good: shape (254, 256) uint8" in out
    assert "bytes: UNREADABLE: a fixed-length bytes array" in out
    assert "objects: UNREADABLE: an array of Python objects" in out
    assert "names: shape (4,) StringDType()" in out
    assert err == ""  # no traceback, no asyncio or zarr noise


def test_info_names_what_it_cannot_open_in_one_line(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    assert main(["info", str(tmp_path / "plain")]) == 1
    assert capsys.readouterr().err == f"napari-zarr-tiles: not a zarr store: {tmp_path / 'plain'} (no zarr.json, .zarray or .zgroup in it)\n"
    path = tmp_path / "zfp"
    zarr.create_array(path, shape=(4, 4), dtype="f4", zarr_format=2)
    metadata = json.loads((path / ".zarray").read_text())
    (path / ".zarray").write_text(json.dumps({**metadata, "compressor": {"id": "zfpy", "mode": 4}}))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "/: UNREADABLE: its codec 'zfpy' is not available here" in out


def test_info_says_the_ome_version_as_written_and_no_empty_fields(tmp_path, capsys):
    root = zarr.open_group(tmp_path / "old.zarr", mode="w", zarr_format=2)
    root.create_array("0", data=np.ones((10, 10), "u1"))
    root.attrs["multiscales"] = [{"version": "0.3", "axes": ["y", "x"], "datasets": [{"path": "0"}]}]
    root.attrs["napari-zarr-tiles"] = {"complete": True}
    assert main(["info", str(tmp_path / "old.zarr")]) == 0
    out = capsys.readouterr().out
    assert "OME-NGFF 0.3 image, axes y:space x:space, 1 pyramid level(s)" in out
    assert "written by napari-zarr-tiles: complete\n" in out
    assert "None" not in out and "axes ," not in out and "{}" not in out


def test_info_calls_a_complete_store_that_lost_chunks_damaged(tmp_path, blobs, capsys):
    root = ome_group(tmp_path / "done.zarr", "0.4")
    write_ome_image(root, [blobs, blobs[::2, ::2]], YX, version="0.4", chunks=(100, 100))
    root.attrs["napari-zarr-tiles"] = {"complete": True, "provenance": {"source": "x.tif"}}
    (tmp_path / "done.zarr" / "0" / "2" / "1").unlink()
    assert main(["info", str(tmp_path / "done.zarr")]) == 0
    out = capsys.readouterr().out
    assert "0: shape (254, 256) uint8 chunks (100, 100)" in out
    assert "8/9 chunks present, missing: 2/1 (DAMAGED)" in out
    assert out.rstrip().splitlines()[-1].startswith("DAMAGED: marked complete by napari-zarr-tiles, but 1 array(s)")


def test_info_on_a_missing_path_fails_clearly(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope")]) == 1
    assert "no zarr store" in capsys.readouterr().err


def test_filters_lists_every_filter_with_its_parameters(capsys):
    from napari_zarr_tiles.tiles._filters import FILTERS

    assert main(["filters"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if not line.startswith(" ")] == list(FILTERS)  # NaN lines indented
    assert any(line.startswith("gaussian") and "sigma=2 [0.1..100]" in line for line in out)


@pytest.mark.parametrize("command", ["convert", "process", "info", "filters", "demo"])
def test_every_command_explains_itself_and_the_write_commands_advise_on_compressors(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: napari-zarr-tiles" in out
    if command in ("convert", "process"):
        assert "writes float results" in out and "three times faster" in out


def test_info_says_what_the_reader_would_refuse(tmp_path, blobs, capsys):
    root = ome_group(tmp_path / "img.zarr", "0.4")
    write_ome_image(root, [blobs, blobs[::2, ::2]], YX, version="0.4", chunks=(100, 100))
    shutil.rmtree(tmp_path / "img.zarr" / "1")
    assert main(["info", str(tmp_path / "img.zarr")]) == 0
    assert "MALFORMED: /: dataset path '1' is listed in multiscales but no array is there" in capsys.readouterr().out
    (tmp_path / "img.zarr" / ".zattrs").write_text("{not json")
    assert main(["info", str(tmp_path / "img.zarr")]) == 0
    assert f"UNREADABLE: {tmp_path / 'img.zarr' / '.zattrs'} is not valid JSON" in capsys.readouterr().out


def test_info_piped_into_a_reader_that_stops_ends_quietly(tmp_path, blobs):
    import subprocess
    import sys

    root = zarr.open_group(tmp_path / "many.zarr", mode="w")
    for index in range(200):  # more lines than one buffer of output
        root.create_array(f"a{index}", data=blobs[:8, :8], chunks=(8, 8))
    reader = subprocess.Popen([sys.executable, "-m", "napari_zarr_tiles._cli", "info", str(tmp_path / "many.zarr")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # as `head` does once it has its lines
    error = reader.stderr.read().decode()
    assert reader.wait(timeout=120) == 141
    assert error == ""


def test_convert_writes_an_images_labels_with_it_and_process_says_it_does_not(tmp_path, blobs, capsys):
    from napari_zarr_tiles import process
    from napari_zarr_tiles._convert import convert
    from napari_zarr_tiles._reader import layer_data

    source = tmp_path / "cells.zarr"
    write_ome_image(ome_group(source, "0.4"), [blobs], YX, version="0.4")
    labels = zarr.open_group(source, mode="a").create_group("labels")
    masks = {"nuclei": (blobs > 100).astype(np.uint8), "cells": (blobs > 50).astype(np.uint8) * 3}
    for name, mask in masks.items():
        write_ome_image(labels.create_group(name), [mask], YX, version="0.4",
                        extra={"image-label": {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]}})
    labels.attrs["labels"] = ["nuclei", "cells"]
    assert main(["convert", str(source), str(tmp_path / "a.zarr"), "--chunks", "64"]) == 0
    assert main(["process", str(source), str(tmp_path / "b.zarr"), "median"]) == 0
    err = capsys.readouterr().err
    assert "convert: warning" not in err
    assert f"process: warning: the labels of {source} (nuclei, cells) are not written: process writes the filtered image only" in err
    converted = zarr.open_group(tmp_path / "a.zarr", mode="r")
    assert converted["labels"].attrs["labels"] == ["nuclei", "cells"]
    for name, mask in masks.items():
        np.testing.assert_array_equal(converted[f"labels/{name}/0"][...], mask)
        coarser = np.unique(converted[f"labels/{name}/1"][...])
        assert set(coarser) <= set(np.unique(mask))  # a label-safe pyramid: no mean of ids
        assert converted[f"labels/{name}"].attrs["image-label"]["colors"][0]["label-value"] == 1
    layers = layer_data(tmp_path / "a.zarr")
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [("image", "image"), ("nuclei", "labels"), ("cells", "labels")]
    assert "labels" not in zarr.open_group(tmp_path / "b.zarr", mode="r")
    with pytest.warns(UserWarning, match=r"the labels of .* \(nuclei, cells\) are not written"):
        process(source, tmp_path / "d.zarr", [("median", {})])
    convert(source, tmp_path / "c.zarr")  # no warning (pytest's settings make one an error where asked)
