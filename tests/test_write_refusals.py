"""Writes the target refuses: a second write into the same target, a read-only folder, a full disk.

Each leaves a clear error, the temporary store removed (or kept, for a resumable write), and nothing else
touched: no lock file, no half-written target, an existing target as it was.
"""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._errors import TargetLockedError, TargetNotWritableError
from napari_zarr_tiles._image import ImageToWrite
from napari_zarr_tiles._ome import Axis
from napari_zarr_tiles._writing import write_ome_zarr

YX = [Axis("y", "space"), Axis("x", "space")]
SRC = Path(__file__).parents[1] / "src"


def noise(size: int = 256) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 2**16, size=(size, size), dtype=np.uint16)


def image(data) -> ImageToWrite:
    return ImageToWrite(data, axes=YX, name="noise")


def beside(target: Path) -> list[str]:
    """Everything in the target's folder."""
    return sorted(os.listdir(target.parent))


def level0(path) -> np.ndarray:
    return zarr.open_group(path, mode="r")["0"][...]


def mount(*args: str) -> None:
    """``mount ARGS``, or skip the test where this machine does not allow it."""
    try:
        mounted = subprocess.run(["mount", *args], check=False, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if mounted.returncode:
        pytest.skip(f"cannot mount here: {mounted.stderr.strip()}")


@pytest.fixture
def lock_holder(tmp_path):
    """Another process that holds the write lock of ``tmp_path/out.zarr`` until it is killed."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from napari_zarr_tiles._writing import _target_lock
        with _target_lock(Path({str(tmp_path / "out.zarr")!r})):
            print("held", flush=True)
            sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(SRC)}, text=True)
    assert child.stdout.readline() == "held\n"
    yield child
    child.kill()
    child.wait()


def test_a_second_write_into_a_locked_target_is_refused_and_a_killed_holder_blocks_nothing(tmp_path, lock_holder):
    target = tmp_path / "out.zarr"
    with pytest.raises(TargetLockedError, match=f"being written by another write \\(process {lock_holder.pid}"):
        write_ome_zarr(target, image(noise()))
    assert beside(target) == [".out.zarr.lock"]  # the holder's lock only: nothing written, nothing removed
    lock_holder.kill()  # a write killed outright: its operating-system lock dies with it
    lock_holder.wait()
    write_ome_zarr(target, image(noise()))
    np.testing.assert_array_equal(level0(target), noise())
    assert beside(target) == ["out.zarr"]  # the lock file goes with the write that held it


def test_a_write_into_a_read_only_folder_says_so_and_leaves_nothing(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits: make the folder a read-only mount
        mount("--bind", "-o", "ro", str(folder), str(folder))
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(TargetNotWritableError, match=f"cannot write in {folder}: (Read-only file system|Permission denied)"):
            write_ome_zarr(folder / "out.zarr", image(noise()))
        assert os.listdir(folder) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize("resumable", [False, True])
def test_a_full_disk_stops_the_write_clearly_and_leaves_the_old_target_untouched(tmp_path, faults, resumable):
    target = tmp_path / "out.zarr"
    write_ome_zarr(target, image(np.zeros((256, 256), np.uint16)), tile=64)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    # The disk fills up in the middle of level 0: its second row of tiles cannot be written.
    faults.fail("0/1/*", OSError(errno.ENOSPC, "No space left on device"), on="set")
    with pytest.raises(TargetNotWritableError, match=f"cannot write {target}: No space left on device") as raised:
        write_ome_zarr(target, image(noise()), tile=64, overwrite=True, resumable=resumable)
    assert raised.value.__cause__.errno == errno.ENOSPC
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert (level0(target) == 0).all()
    if not resumable:
        assert f"nothing was written to {target}" in str(raised.value)
        assert beside(target) == ["out.zarr"]
        return
    assert f"kept at {tmp_path / '.out.zarr.partial'}: write again to the same target to resume" in str(raised.value)
    assert beside(target) == [".out.zarr.partial", "out.zarr"]
    faults.failures.clear()  # space freed: the same write resumes and completes
    faults.writes.clear()
    write_ome_zarr(target, image(noise()), tile=64, overwrite=True, resumable=True)
    np.testing.assert_array_equal(level0(target), noise())
    assert beside(target) == ["out.zarr"]
    assert 0 < len([key for key in faults.writes if key.startswith("0/")]) < 16  # not the chunks already on disk


def test_a_resumable_write_stopped_before_its_first_tile_starts_again(tmp_path, faults):
    target = tmp_path / "out.zarr"
    faults.full_disk(after=0)  # not even the store's metadata can be written
    with pytest.raises(TargetNotWritableError, match="No space left on device"):
        write_ome_zarr(target, image(noise()), tile=64, resumable=True)
    faults.writes_before_full = None
    write_ome_zarr(target, image(noise()), tile=64, resumable=True)
    np.testing.assert_array_equal(level0(target), noise())


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system of its own (tmpfs), where this machine allows mounting one."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_really_full_disk_stops_the_write_and_frees_its_space(small_disk):
    with pytest.raises(TargetNotWritableError, match="No space left on device; nothing was written to "):
        write_ome_zarr(small_disk / "out.zarr", image(noise(2048)), tile=256, compressor="none")
    assert os.listdir(small_disk) == []
