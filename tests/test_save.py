"""Saving a filtered image: full resolution equal to the whole-image function, its pyramid, resume, a cluster."""

import functools
from dataclasses import replace

import numpy as np
import pytest
import zarr
from conftest import assert_same_result
from scipy import ndimage as ndi

from napari_zarr_tiles import _cli
from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._errors import ZarrTilesError
from napari_zarr_tiles._jobs import cluster, process
from napari_zarr_tiles._reader import layer_data
from napari_zarr_tiles._store import WRITER_MARKER
from napari_zarr_tiles._stream import written_units
from napari_zarr_tiles.tiles import _filters


@pytest.fixture
def blobs_zarr(tmp_path, blobs):
    big = np.tile(blobs, (2, 2))  # 508 x 512: 8 x 8 tiles of 64, the last row short
    import tifffile

    tifffile.imwrite(tmp_path / "big.tif", big)
    return convert(tmp_path / "big.tif", tmp_path / "big.zarr", tile=64), big


@pytest.fixture
def counted_gaussian(monkeypatch):
    """The gaussian filter, counting the tiles it runs on."""
    calls = []
    original = _filters.FILTERS["gaussian"]

    def counting(tile, **values):
        calls.append(tile.shape)
        return original.function(tile, **values)

    monkeypatch.setitem(_filters.FILTERS, "gaussian", replace(original, function=counting))
    return calls


def interrupt(write, after: int) -> None:
    """Run ``write(progress=...)`` and stop it (as a Cancel does) once ``after`` chunks are written."""

    def stop(done, total):
        if done >= after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(progress=stop)


def test_process_writes_the_whole_image_result_with_a_pyramid_marked_complete(tmp_path, blobs_zarr):
    source, big = blobs_zarr
    target = process(source, tmp_path / "out.zarr", [("gaussian", {"sigma": 2})], tile=64)
    root = zarr.open_group(target, mode="r")
    assert_same_result(root["0"][:], ndi.gaussian_filter(big.astype(np.float32), 2))
    assert [root[str(k)].shape for k in range(4)] == [(508, 512), (254, 256), (127, 128), (64, 64)]
    marker = root.attrs[WRITER_MARKER]
    assert marker["complete"] is True
    assert marker["provenance"]["source"] == str(source)
    assert marker["provenance"]["steps"] == [["gaussian", {"sigma": 2.0}]]
    assert root.attrs["multiscales"][0]["name"] == "big gaussian(sigma=2.0)"


def test_opencv_runs_one_thread_per_tile_during_a_save_and_is_restored_after(tmp_path, blobs_zarr, monkeypatch):
    import cv2

    source, _ = blobs_zarr
    seen = []
    original = _filters.FILTERS["gaussian"]

    def recording(tile, **values):
        seen.append(cv2.getNumThreads())
        return original.function(tile, **values)

    monkeypatch.setitem(_filters.FILTERS, "gaussian", replace(original, function=recording))
    before = cv2.getNumThreads()
    process(source, tmp_path / "out.zarr", [("gaussian", {"sigma": 2})], tile=64)
    assert set(seen) == {1} and len(seen) == 64
    assert cv2.getNumThreads() == before


def test_a_cancelled_save_resumes_computing_only_the_missing_tiles(tmp_path, blobs_zarr, counted_gaussian):
    source, big = blobs_zarr
    target = tmp_path / "out.zarr"
    interrupt(functools.partial(process, source, target, [("gaussian", {"sigma": 2})], tile=64), after=20)
    assert not target.exists()
    partial = tmp_path / ".out.zarr.partial"
    assert zarr.open_group(partial, mode="r").attrs[WRITER_MARKER]["complete"] is False
    assert any("INCOMPLETE" in line for line in _cli.describe(partial))
    with pytest.warns(UserWarning, match="unfinished write"):
        layer_data(partial)
    level0 = zarr.open_array(partial / "0", mode="r")
    already = len(written_units(level0))
    assert 0 < already < 64

    counted_gaussian.clear()
    seen = []
    process(source, target, [("gaussian", {"sigma": 2})], tile=64, progress=lambda done, total: seen.append(done))
    assert len(counted_gaussian) == 64 - already  # tiles on disk were read back, not recomputed
    assert seen[0] >= already and seen[-1] == 85  # 64 + 16 + 4 + 1 chunks in all
    assert not partial.exists()
    root = zarr.open_group(target, mode="r")
    assert_same_result(root["0"][:], ndi.gaussian_filter(big.astype(np.float32), 2))
    assert root.attrs[WRITER_MARKER]["complete"] is True


def test_an_unfinished_save_of_something_else_is_not_resumed(tmp_path, blobs_zarr):
    source, _ = blobs_zarr
    target = tmp_path / "out.zarr"
    interrupt(functools.partial(process, source, target, [("gaussian", {"sigma": 2})], tile=64), after=5)
    with pytest.raises(ZarrTilesError, match="was of something else .other filter steps"):
        process(source, target, [("gaussian", {"sigma": 3})], tile=64)
    assert (tmp_path / ".out.zarr.partial").exists() and not target.exists()


def test_a_source_rewritten_since_an_unfinished_save_is_not_resumed(tmp_path, blobs_zarr):
    source, big = blobs_zarr
    target = tmp_path / "out.zarr"
    steps = [("gaussian", {"sigma": 2})]
    interrupt(functools.partial(process, source, target, steps, tile=64), after=5)
    level0 = zarr.open_array(f"{source}/0", mode="r+")
    level0[:64, :64] = big[:64, :64] + 1  # the same name, shape and layout; other pixels
    with pytest.raises(ZarrTilesError, match="files of .* have changed since"):
        process(source, target, steps, tile=64)
    assert (tmp_path / ".out.zarr.partial").exists() and not target.exists()


def test_a_local_cluster_writes_the_same_store_as_threads(tmp_path, blobs_zarr):
    source, _ = blobs_zarr
    steps = [("median", {"size": 5}), ("threshold", {"method": "otsu"})]
    threaded = zarr.open_group(process(source, tmp_path / "threads.zarr", steps, tile=64), mode="r")
    seen = []
    with cluster(workers=2) as client:
        written = process(source, tmp_path / "cluster.zarr", steps, tile=64, client=client,
                          progress=lambda done, total: seen.append((done, total)))
    distributed = zarr.open_group(written, mode="r")
    for level in ("0", "1", "2", "3"):
        np.testing.assert_array_equal(distributed[level][:], threaded[level][:])
    assert seen[-1] == (85, 85)
    assert distributed.attrs["image-label"] == threaded.attrs["image-label"]  # a mask is saved as labels


def test_the_process_command_chains_steps_and_refuses_to_overwrite(tmp_path, blobs_zarr, capsys):
    source, big = blobs_zarr
    target = tmp_path / "cli.zarr"
    args = ["process", str(source), str(target), "median", "size=3", "+", "gaussian", "sigma=1.5", "--chunks", "128"]
    assert _cli.main(args) == 0
    expected = ndi.gaussian_filter(ndi.median_filter(big, size=3).astype(np.float32), 1.5)
    assert_same_result(zarr.open_array(target / "0", mode="r")[:], expected)
    assert _cli.main(args) == 1
    assert "exists" in capsys.readouterr().err
    assert _cli.main(["process", str(source), str(target), "gaussian", "sigma=-1", "--overwrite"]) == 1
    assert "outside" in capsys.readouterr().err


def test_a_killed_process_run_resumes_where_it_stopped(tmp_path, counted_gaussian):
    import signal
    import subprocess
    import sys

    import tifffile

    image = np.random.default_rng(6).integers(0, 4000, (2048, 2048), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "big.tif", image, tile=(256, 256))
    target = tmp_path / "out.zarr"
    command = [sys.executable, "-m", "napari_zarr_tiles._cli", "process", str(tmp_path / "big.tif"), str(target),
               "gaussian", "sigma=2", "--chunks", "64"]
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    partial_level0 = tmp_path / ".out.zarr.partial" / "0"
    assert run.stderr.read(200)  # the progress bar has moved: tiles are being written
    run.send_signal(signal.SIGKILL)
    run.wait()
    already = len(written_units(zarr.open_array(partial_level0, mode="r")))
    assert 0 < already < 32 * 32 and not target.exists()
    process(tmp_path / "big.tif", target, [("gaussian", {"sigma": "2"})], tile=64)
    assert len(counted_gaussian) == 32 * 32 - already
    assert_same_result(zarr.open_array(target / "0", mode="r")[:], ndi.gaussian_filter(image.astype(np.float32), 2))


def test_a_resumable_conversion_continues_after_an_interruption(tmp_path, blobs_zarr):
    source, big = blobs_zarr
    target = tmp_path / "copy.zarr"
    interrupt(functools.partial(convert, source, target, tile=64, resumable=True), after=10)
    assert (tmp_path / ".copy.zarr.partial").exists()
    assert _cli.main(["convert", str(source), str(target), "--chunks", "64", "--resumable"]) == 0
    convert_marker = zarr.open_group(target, mode="r").attrs[WRITER_MARKER]
    assert convert_marker["complete"] is True and convert_marker["provenance"]["source"] == str(source)
    assert len(convert_marker["provenance"]["source_state"]) == 16
    np.testing.assert_array_equal(zarr.open_array(target / "0", mode="r")[:], big)
    assert not (tmp_path / ".copy.zarr.partial").exists()
