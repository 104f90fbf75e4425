"""Ctrl-C and SIGTERM in the write commands: one line saying how far the write got and what is left,
exit status 130, no traceback; the threads stop, a temporary store is removed, a resumable one is kept.

The command runs for real in a child process, on an image big enough to take a few seconds, and is
interrupted once its progress bar shows tiles written.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._cli import main

SRC = Path(__file__).parents[1] / "src"
SIZE = 4096
# gzip at its slowest on noise, in small tiles: some 5 seconds of writing on this machine.
SLOW = ["--chunks", "256", "--compressor", "gzip", "--level", "9"]


@pytest.fixture(scope="module")
def noise_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("source") / "noise.zarr"
    array = zarr.create_array(path, shape=(SIZE, SIZE), chunks=(1024, 1024), dtype="uint16", compressors=None)
    array[...] = np.random.default_rng(0).integers(0, 2**16, size=(SIZE, SIZE), dtype=np.uint16)
    return path


class Command:
    """``napari-zarr-tiles ARGS`` in a child process, its standard error read as it comes."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "napari_zarr_tiles._cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(SRC)}, start_new_session=True,
        )
        self.err = b""
        self.written = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := self.process.stderr.read1(4096):
            self.err += chunk
            if re.search(rb" [1-9]\d*/\d+ tiles", self.err):
                self.written.set()

    def stop_once_writing(self, signum: int) -> tuple[int, str]:
        assert self.written.wait(60), self.err.decode()
        if signum == signal.SIGINT:  # as a terminal sends Ctrl-C: to every process of the command
            os.killpg(self.process.pid, signum)
        else:  # as `kill PID` does
            self.process.send_signal(signum)
        code = self.process.wait(30)  # the threads stop: the process does not write on to its end
        self.reader.join()
        return code, self.err.decode()


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def last_line(err: str) -> str:
    return err.replace("\r", "\n").strip().splitlines()[-1]


def test_ctrl_c_in_convert_removes_the_temporary_store(noise_store, tmp_path):
    target = tmp_path / "out.zarr"
    code, err = Command("convert", str(noise_store), str(target), *SLOW).stop_once_writing(signal.SIGINT)
    assert code == 130 and "Traceback" not in err
    assert re.fullmatch(
        rf"napari-zarr-tiles convert: stopped after \d+ of 341 tiles; nothing was written to {target} "
        r"\(--resumable keeps an unfinished conversion to continue it\)", last_line(err)
    ), err
    assert listing(tmp_path) == []  # no temporary store, no lock


def test_sigterm_in_a_resumable_convert_keeps_it_and_the_same_command_resumes(noise_store, tmp_path):
    target = tmp_path / "out.zarr"
    args = ["convert", str(noise_store), str(target), *SLOW, "--resumable"]
    code, err = Command(*args).stop_once_writing(signal.SIGTERM)
    assert code == 130 and "Traceback" not in err
    partial = tmp_path / ".out.zarr.partial"
    assert last_line(err).startswith("napari-zarr-tiles convert: stopped after ")
    assert last_line(err).endswith(f"tiles; the unfinished store is kept at {partial}: run the same command again to resume")
    assert listing(tmp_path) == [".out.zarr.partial"]
    kept = sum(1 for _ in (partial / "0").rglob("*") if _.is_file()) - 1  # the chunks, not .zarray
    assert 0 < kept < 256
    assert main(args) == 0
    np.testing.assert_array_equal(zarr.open_group(target, mode="r")["0"][...], zarr.open_array(noise_store, mode="r")[...])
    assert listing(tmp_path) == ["out.zarr"]


def test_ctrl_c_in_process_keeps_the_unfinished_store(noise_store, tmp_path):
    target = tmp_path / "smooth.zarr"
    command = Command("process", str(noise_store), str(target), "gaussian", "sigma=2", *SLOW)
    code, err = command.stop_once_writing(signal.SIGINT)
    assert code == 130 and "Traceback" not in err
    assert last_line(err).endswith(
        f"the unfinished store is kept at {tmp_path / '.smooth.zarr.partial'}: run the same command again to resume"
    )
    assert listing(tmp_path) == [".smooth.zarr.partial"]


def test_ctrl_c_in_process_on_a_local_cluster_stops_its_workers_quietly(noise_store, tmp_path):
    target = tmp_path / "smooth.zarr"
    command = Command("process", str(noise_store), str(target), "gaussian", "sigma=2", *SLOW, "--workers", "2")
    code, err = command.stop_once_writing(signal.SIGINT)
    assert code == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert last_line(err).endswith("run the same command again to resume")
    assert listing(tmp_path) == [".smooth.zarr.partial"]


def test_a_second_write_into_the_same_target_is_refused_while_the_first_runs_on(noise_store, tmp_path, capsys):
    target = tmp_path / "out.zarr"
    first = Command("convert", str(noise_store), str(target), *SLOW)
    assert first.written.wait(60), first.err.decode()
    assert main(["convert", str(noise_store), str(target), "--chunks", "512"]) == 1
    assert re.search(rf"{target} is being written by another write \(process {first.process.pid}, lock ",
                     capsys.readouterr().err)
    assert first.process.wait(60) == 0
    # The first write's store only, never a mix: its tiles and its values.
    written = zarr.open_group(target, mode="r")["0"]
    assert written.chunks == (256, 256)
    np.testing.assert_array_equal(written[...], zarr.open_array(noise_store, mode="r")[...])



def test_ctrl_c_stops_the_regions_under_way_at_their_next_tile(tmp_path):
    from napari_zarr_tiles._image import ImageToWrite
    from napari_zarr_tiles._ome import Axis
    from napari_zarr_tiles._writing import write_ome_zarr

    data = np.random.default_rng(2).integers(0, 2**16, size=(2048, 2048), dtype=np.uint16)
    image = ImageToWrite(data, axes=[Axis("y", "space"), Axis("x", "space")], name="noise")
    level0 = tmp_path / ".out.zarr.partial" / "0"

    def tiles() -> int:
        return sum(1 for path in level0.rglob("*") if path.is_file() and path.name != ".zarray")

    at_interrupt = []

    def press_ctrl_c_once_writing():
        while not (level0.exists() and tiles() >= 3):
            time.sleep(0.01)
        at_interrupt.append(tiles())
        os.kill(os.getpid(), signal.SIGINT)

    before = set(threading.enumerate())  # dask's own pool among them, once something computed with it
    watcher = threading.Thread(target=press_ctrl_c_once_writing)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        write_ome_zarr(tmp_path / "out.zarr", image, tile=128, compressor="gzip", compression_level=9, resumable=True)
    watcher.join()
    # The write's pools are gone (their threads are not daemons; zarr's event loop's are, and stay).
    assert {thread for thread in threading.enumerate() if not thread.daemon} <= before
    # Two regions of 8 x 8 tiles were under way: they stopped with the tiles already handed to the pool (up
    # to one per thread for each region), instead of running to their ends (some 120 tiles more).
    assert tiles() - at_interrupt[0] <= 16


def test_progress_counts_every_tile_of_both_regions_in_flight(tmp_path):
    from napari_zarr_tiles._image import ImageToWrite
    from napari_zarr_tiles._ome import Axis
    from napari_zarr_tiles._writing import write_ome_zarr

    data = np.random.default_rng(3).integers(0, 2**16, size=(1024, 2048), dtype=np.uint16)
    image = ImageToWrite(data, axes=[Axis("y", "space"), Axis("x", "space")], name="noise")
    reported = []
    write_ome_zarr(tmp_path / "out.zarr", image, tile=64, progress=lambda done, total: reported.append(done))
    # 16 x 32 tiles at level 0, then 8 x 16, 4 x 8, 2 x 4, 1 x 2 and 1: one step per tile of the first three
    # levels (dask fuses some tasks of the last few, counted at the end).
    assert reported[: 512 + 128 + 32 + 1] == list(range(512 + 128 + 32 + 1))
    assert reported[-1] == 512 + 128 + 32 + 8 + 2 + 1


def test_the_write_commands_run_from_another_thread_too(tmp_path):
    # Signal handlers can only be set from the main thread: elsewhere the command keeps the process's own.
    source = tmp_path / "small.zarr"
    zarr.create_array(source, shape=(32, 32), chunks=(16, 16), dtype="uint8")[...] = 7
    codes = []
    worker = threading.Thread(target=lambda: codes.append(main(["convert", str(source), str(tmp_path / "out.zarr")])))
    worker.start()
    worker.join()
    assert codes == [0] and (zarr.open_group(tmp_path / "out.zarr", mode="r")["0"][...] == 7).all()
