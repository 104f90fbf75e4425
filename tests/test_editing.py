"""Labels on disk edited chunk by chunk (``edit_labels``, ``new_labels``): what lands in the store, chunk by
chunk; the pyramid rebuilt above the edits; untouched files left alone; undo, the journal, the lock, a killed
commit; napari-ome-zarr reading the edits back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import napari_zarr_tiles
from napari_zarr_tiles import _ome
from napari_zarr_tiles._errors import (
    InvalidOptionError,
    TargetExistsError,
    TargetLockedError,
    TargetNotWritableError,
    ZarrTilesError,
)
from napari_zarr_tiles._image import ImageToWrite
from napari_zarr_tiles._writing import write_ome_zarr

YX = [_ome.Axis("y", "space", "micrometer"), _ome.Axis("x", "space", "micrometer")]
SHAPE, TILE = (300, 500), 64


def original_labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint32)
    labels[10:50, 10:50] = 3
    labels[200:290, 300:480] = 9
    return labels


def write_labels_store(path: Path, labels: np.ndarray, **options) -> Path:
    """An image with ``labels`` under ``labels/cells``, as the plugin's writer makes it (label-safe pyramid)."""
    image = ImageToWrite(da.zeros(labels.shape, dtype=np.uint16, chunks=TILE), YX, "image", scale=[0.5, 0.5])
    cells = ImageToWrite(da.from_array(labels, chunks=TILE), YX, "cells", scale=[0.5, 0.5], is_label=True)
    write_ome_zarr(path, image, labels=[cells], tile=TILE, **options)
    return path / "labels" / "cells"


@pytest.fixture
def cells(tmp_path) -> Path:
    return write_labels_store(tmp_path / "image.zarr", original_labels())


def pyramid(level0: np.ndarray, levels: int) -> list[np.ndarray]:
    """Each level as a label-safe reduction of level 0: the first pixel of each 2**k box."""
    return [level0[:: 2**k, :: 2**k] for k in range(levels)]


def chunk_files(labels: Path) -> dict[str, tuple[bytes, int]]:
    """Every chunk file of every level: its bytes and modification time."""
    return {
        str(file.relative_to(labels)): (file.read_bytes(), file.stat().st_mtime_ns)
        for file in sorted(labels.rglob("*"))
        if file.is_file() and not file.name.startswith(".") and file.name != "zarr.json"
    }


def assert_store_holds(labels: Path, expected: np.ndarray) -> None:
    """Every level, chunk by chunk, equals the label-safe reduction of ``expected``."""
    group = zarr.open_group(labels, mode="r")
    paths = [dataset["path"] for dataset in group.attrs["multiscales"][0]["datasets"]]
    for level, (path, wanted) in enumerate(zip(paths, pyramid(expected, len(paths)))):
        array = group[path]
        assert array.shape == wanted.shape
        for index in np.ndindex(*array.cdata_shape):
            box = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, array.chunks))
            np.testing.assert_array_equal(array[box], wanted[box], err_msg=f"level {level}, chunk {index}")


def test_paint_fill_erase_commit_write_the_touched_chunks_and_the_pyramid_above_them(cells):
    expected = original_labels()
    before = chunk_files(cells)
    with napari_zarr_tiles.edit_labels(cells) as editor:
        assert (editor.shape, editor.dtype, editor.chunks, editor.levels) == (SHAPE, np.uint32, (TILE, TILE), 4)
        editor[100:110, 70:90] = 5  # paint
        expected[100:110, 70:90] = 5
        region = editor[10:50, 10:50]
        region[region == 3] = 4  # fill the object
        editor[10:50, 10:50] = region
        expected[expected == 3] = 4
        editor[250, 300:480] = 0  # erase a row of an object
        expected[250, 300:480] = 0
        np.testing.assert_array_equal(editor[...], expected)  # reads see the edits before the commit
        report = editor.commit()
    assert_store_holds(cells, expected)
    # Level 0: (100:110, 70:90) is in chunk (1, 1); (10:50, 10:50) in (0, 0); row 250 in (3, 4..7).
    assert report.chunks[0] == 2 + 4 and report.bytes_written > 0
    after = chunk_files(cells)
    changed = {key for key in before if before[key] != after[key]}
    assert {key for key in changed if key.startswith("0/")} == {"0/1/1", "0/0/0", "0/3/4", "0/3/5", "0/3/6", "0/3/7"}
    # Level 1 chunks cover 128 x 128 of level 0: only those above the edits are rewritten.
    assert {key for key in changed if key.startswith("1/")} == {"1/0/0", "1/1/2", "1/1/3"}
    assert set(after) == set(before)


def test_an_assignment_that_changes_nothing_touches_no_file(cells):
    before = chunk_files(cells)
    with napari_zarr_tiles.edit_labels(cells) as editor:
        editor[...] = editor[...]
        editor[0:64, 0:64] = 0  # already 0 but for the object at 10:50, which then changes
        editor.undo()
        assert editor.commit().chunks == (0, 0, 0, 0)
    assert chunk_files(cells) == before


def test_undo_works_across_a_commit(cells):
    with napari_zarr_tiles.edit_labels(cells) as editor:
        editor[0:5, 0:5] = 1
        editor.commit()
        editor[60:70, 60:70] = 2
        editor.commit()
        assert editor.undo() and editor.undo() and not editor.undo()
        editor.commit()
    assert_store_holds(cells, original_labels())


def test_a_second_editor_and_a_write_are_refused_while_one_is_open(cells, tmp_path):
    editor = napari_zarr_tiles.edit_labels(cells)
    with pytest.raises(TargetLockedError, match=f"{cells} cannot be opened for editing: .* is open in a labels editor "
                                                 rf"\(process {os.getpid()}.*commit and close that editor first"):
        napari_zarr_tiles.edit_labels(cells)
    with pytest.raises(TargetLockedError, match="open in a labels editor"):
        write_labels_store(tmp_path / "image.zarr", original_labels(), overwrite=True)
    editor.close()
    napari_zarr_tiles.edit_labels(cells).close()  # free again


def test_uncommitted_edits_are_kept_beside_the_store_and_offered_back(cells, tmp_path):
    editor = napari_zarr_tiles.edit_labels(cells)
    editor[0:3, 0:3] = 8
    with pytest.warns(UserWarning, match="1 chunks of uncommitted edits are kept"):
        editor.close()
    assert (tmp_path / ".image.zarr.edits").is_dir()
    assert_store_holds(cells, original_labels())  # nothing written
    with pytest.warns(UserWarning, match="restore_recovered"):
        editor = napari_zarr_tiles.edit_labels(cells)
    assert editor.recovered.chunks == 1
    assert editor.restore_recovered() == 1 and editor.recovered is None
    editor.commit()
    editor.close()
    expected = original_labels()
    expected[0:3, 0:3] = 8
    assert_store_holds(cells, expected)
    assert not (tmp_path / ".image.zarr.edits").exists()
    assert napari_zarr_tiles.edit_labels(cells).recovered is None


ENDS_WITH_AN_EDITOR_OPEN = """
import sys
import numpy as np
import napari_zarr_tiles

editor = napari_zarr_tiles.edit_labels(sys.argv[1])
editor[0:3, 0:3] = 8
if sys.argv[2] == "dies":
    raise RuntimeError("the script dies")
"""


@pytest.mark.parametrize("ending", ["ends", "dies"])
def test_a_script_that_ends_with_an_editor_open_keeps_its_edits_in_the_journal(cells, ending):
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(ENDS_WITH_AN_EDITOR_OPEN), str(cells), ending],
                         check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(napari_zarr_tiles.__file__).parents[1])})
    assert run.returncode == (0 if ending == "ends" else 1), run.stderr
    assert "1 chunks of uncommitted edits are kept" in run.stderr
    assert run.stderr.count("Traceback") == (0 if ending == "ends" else 1)  # the script's own error only
    with pytest.warns(UserWarning, match="restore_recovered"):
        editor = napari_zarr_tiles.edit_labels(cells)  # the lock went with the process
    editor.restore_recovered()
    editor.commit()
    editor.close()
    expected = original_labels()
    expected[0:3, 0:3] = 8
    assert_store_holds(cells, expected)


def test_discarded_recovered_edits_are_gone(cells, tmp_path):
    editor = napari_zarr_tiles.edit_labels(cells)
    editor[0, 0] = 8
    editor.save_journal()
    editor._exit.close()  # as if the process died: the lock goes with it, the journal stays
    with pytest.warns(UserWarning):
        editor = napari_zarr_tiles.edit_labels(cells)
    editor.discard_recovered()
    editor.close()
    assert not (tmp_path / ".image.zarr.edits").exists()


KILLED_COMMIT = """
import os, sys, time
import numpy as np
import napari_zarr_tiles

fsync = os.fsync

def slow_fsync(descriptor):  # each file written, flushed, then a pause before it is moved into place
    fsync(descriptor)
    print("synced", file=sys.stderr, flush=True)
    time.sleep(0.2)

os.fsync = slow_fsync
editor = napari_zarr_tiles.edit_labels(sys.argv[1])
editor[:, :] = np.arange(300 * 500, dtype=np.uint32).reshape(300, 500) % 7
editor.commit()
"""
# The 40 chunks of level 0 go to the journal (one file) first, then to the store.
JOURNAL_FILES = 1


def test_a_commit_killed_half_way_leaves_every_chunk_old_or_new_and_the_edits_offered_back(cells, tmp_path):
    new = (np.arange(300 * 500, dtype=np.uint32).reshape(SHAPE) % 7)
    old = original_labels()
    run = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_COMMIT), str(cells)], stderr=subprocess.PIPE,
                           text=True, env={**os.environ, "PYTHONPATH": str(Path(napari_zarr_tiles.__file__).parents[1])})
    synced = 0
    while synced < JOURNAL_FILES + 10:  # the writing threads print at once: lines may run together
        line = run.stderr.readline()
        assert line, "the commit ended before it could be killed"
        synced += line.count("synced")
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert list(cells.rglob("*.edit-partial"))  # killed with chunk files written but not yet moved into place
    group = zarr.open_group(cells, mode="r")
    kinds = set()
    for level, (was, will) in enumerate(zip(pyramid(old, 4), pyramid(new, 4))):
        array = group[str(level)]
        for index in np.ndindex(*array.cdata_shape):
            box = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, array.chunks))
            chunk = array[box]
            is_old, is_new = np.array_equal(chunk, was[box]), np.array_equal(chunk, will[box])
            assert is_old or is_new, f"level {level}, chunk {index} is neither old nor new"
            kinds.add("new" if is_new and not is_old else "old" if is_old and not is_new else "same")
    assert {"old", "new"} <= kinds  # killed half-way
    with pytest.warns(UserWarning, match="uncommitted edits"):
        editor = napari_zarr_tiles.edit_labels(cells)  # the dead process's lock went with it
    editor.restore_recovered()
    editor.commit()
    editor.close()
    assert_store_holds(cells, new)
    assert not list(cells.rglob("*.edit-partial"))


def test_sharded_labels_are_written_a_shard_at_a_time(tmp_path):
    cells = write_labels_store(tmp_path / "image.zarr", original_labels(), ome_version="0.5", shards=2)
    before = chunk_files(cells)
    with napari_zarr_tiles.edit_labels(cells) as editor:
        assert editor.chunks == (2 * TILE, 2 * TILE)
        editor[0, 0] = 6
        editor.commit()
    after = chunk_files(cells)
    assert {key for key in before if before[key] != after[key]} == {"0/c/0/0", "1/c/0/0", "2/c/0/0", "3/c/0/0"}
    group = zarr.open_group(cells, mode="r")
    expected = original_labels()
    expected[0, 0] = 6
    for level, wanted in enumerate(pyramid(expected, 4)):
        np.testing.assert_array_equal(group[str(level)][...], wanted)


def test_napari_ome_zarr_reads_the_edits_back_at_every_level(cells):
    from napari_ome_zarr import napari_get_reader

    with napari_zarr_tiles.edit_labels(cells) as editor:
        editor[130:200, 140:260] = 12
        editor.commit()
    expected = original_labels()
    expected[130:200, 140:260] = 12
    layers = napari_get_reader(str(cells))(str(cells))
    [(levels, _, kind)] = [layer for layer in layers if layer[2] == "labels"]
    assert kind == "labels" and len(levels) == 4
    for level, wanted in zip(levels, pyramid(expected, 4)):
        np.testing.assert_array_equal(np.asarray(level), wanted)


def test_bad_values_and_selections_are_refused_in_words(cells):
    with napari_zarr_tiles.edit_labels(cells) as editor:
        with pytest.raises(InvalidOptionError, match="do not fit this store's uint32"):
            editor[0, 0] = -1
        with pytest.raises(InvalidOptionError, match="whole numbers"):
            editor[0, 0] = 1.5
        with pytest.raises(IndexError, match="boxes"):
            editor[::2, 0] = 1
        with pytest.raises(InvalidOptionError, match=r"^labels of shape \(5, 5\) cannot fill a selection of shape "
                                                     r"\(10, 10\): give one label, or an array of the selection's shape$"):
            editor[0:10, 0:10] = np.ones((5, 5), int)
        assert editor.uncommitted == 0
    with pytest.raises(ZarrTilesError, match="closed"):
        editor[0, 0] = 1


def test_an_image_opens_its_one_label_image_and_one_without_labels_is_refused(tmp_path, cells):
    with napari_zarr_tiles.edit_labels(cells.parents[1]) as editor:
        assert editor.path == cells
    image = tmp_path / "plain_image.zarr"
    write_ome_zarr(image, ImageToWrite(da.zeros(SHAPE, dtype=np.uint16, chunks=TILE), YX, "image"), tile=TILE)
    with pytest.raises(ZarrTilesError, match="holds no label image to edit.*new_labels"):
        napari_zarr_tiles.edit_labels(image)


def test_a_plain_array_of_integers_is_edited_in_place(tmp_path):
    array = zarr.create_array(tmp_path / "plain.zarr", shape=(100, 100), chunks=(32, 32), dtype=np.uint16)
    array[...] = 1
    with napari_zarr_tiles.edit_labels(tmp_path / "plain.zarr") as editor:
        assert editor.levels == 1
        editor[40:45, 40:45] = 2
        assert editor.save_journal() == 1
        assert editor.journal_path == tmp_path / ".plain.zarr.edits" / "plain.zarr.journal"  # named, not '..journal'
        assert editor.commit().chunks == (1,)
    expected = np.ones((100, 100), np.uint16)
    expected[40:45, 40:45] = 2
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "plain.zarr", mode="r")[...], expected)


def test_new_labels_are_empty_on_disk_listed_and_open_for_editing(tmp_path, cells):
    image = cells.parents[1]
    with napari_zarr_tiles.new_labels(image, "nuclei") as editor:
        target = image / "labels" / "nuclei"
        assert editor.path == target and editor.shape == SHAPE and editor.levels == 4 and editor.chunks == (TILE, TILE)
        assert not [f for f in target.rglob("*") if f.is_file() and not f.name.startswith(".")]  # no chunk written
        editor[5:20, 5:20] = 1
        editor.commit()
    group = zarr.open_group(image, mode="r")
    assert group["labels"].attrs["labels"] == ["cells", "nuclei"]
    attrs = group["labels/nuclei"].attrs.asdict()
    assert "image-label" in attrs
    assert attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.5, 0.5]
    expected = np.zeros(SHAPE, np.uint32)
    expected[5:20, 5:20] = 1
    assert_store_holds(target, expected)
    # Only the chunks painted (and those above them) are on disk.
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file() and not p.name.startswith(".")) == [
        "0/0/0", "1/0/0", "2/0/0", "3/0/0"]
    with pytest.raises(TargetExistsError, match="nuclei exists: choose another name"):
        napari_zarr_tiles.new_labels(image, "nuclei")


def test_new_labels_for_a_read_only_image_go_to_a_separate_store(tmp_path, cells, monkeypatch):
    image = cells.parents[1]
    writable = os.access
    # A folder the tests' user cannot write to (the tests may run as root, who can write anywhere).
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK and writable(path, mode)
                        or mode == os.W_OK and not str(path).startswith(str(image)) and writable(path, mode))
    with pytest.raises(TargetNotWritableError, match="cannot be written to: name a separate store"):
        napari_zarr_tiles.new_labels(image, "nuclei")
    with napari_zarr_tiles.new_labels(image, "nuclei", store=tmp_path / "nuclei.zarr") as editor:
        editor[0, 0] = 3
        editor.commit()
    assert not (image / "labels" / "nuclei").exists()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "nuclei.zarr" / "3", mode="r")[0, 0], 3)
    from napari_zarr_tiles._reader import layer_data

    [(data, kwargs, kind)] = layer_data(tmp_path / "nuclei.zarr")
    assert kind == "labels" and len(data) == 4 and kwargs["scale"] == [0.5, 0.5]


def test_the_editor_imports_no_napari_and_no_qt():
    from test_layers_of_the_code import modules_after_importing, top_level

    loaded = top_level(modules_after_importing("napari_zarr_tiles._editing"))
    assert not loaded & {"napari", "qtpy", "magicgui"}


def test_new_labels_in_a_store_written_complete_are_not_called_damaged(cells, caplog):
    from napari_zarr_tiles._reader import layer_data

    image = cells.parents[1]
    napari_zarr_tiles.new_labels(image, "nuclei").close()
    with caplog.at_level("WARNING", logger="napari_zarr_tiles._reader"):
        layers = layer_data(image)
    assert [kwargs["name"] for _, kwargs, kind in layers if kind == "labels"] == ["cells", "nuclei"]
    assert "DAMAGED" not in caplog.text and "nuclei" not in caplog.text


def test_a_pyramid_whose_levels_are_not_whole_reductions_is_refused_in_words():
    from napari_zarr_tiles._editing import _level_factors
    from napari_zarr_tiles._errors import OmeMetadataError

    assert _level_factors([(100, 90), (50, 45), (25, 23)], "x") == [None, (2, 2), (2, 2)]
    with pytest.raises(OmeMetadataError, match="x: pyramid level of shape \\(40, 40\\) is not a whole-number reduction"):
        _level_factors([(100, 100), (40, 40)], "x")


def zipped(folder: Path) -> Path:
    """``folder`` as a ``.zarr.zip`` store beside it."""
    target = folder.with_name(folder.name + ".zip")
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return target


def test_labels_in_a_remote_or_zip_store_are_refused_in_words_before_anything_is_read(cells):
    archive = zipped(cells.parents[1])
    url = "http://127.0.0.1:9/images/image.ome.zarr"  # nothing answers there: refused before any request
    for labels, store, name in [(f"{archive}/labels/cells", archive, "image"), (f"{url}/labels/cells", url, "image")]:
        with pytest.raises(TargetNotWritableError) as refused:
            napari_zarr_tiles.edit_labels(labels)
        assert str(refused.value) == (
            f"{labels} is read-only here (a remote or zip store): its labels cannot be edited in place; convert it to "
            f"a local folder first (napari-zarr-tiles convert {store} {name}.zarr)")
        with pytest.raises(TargetNotWritableError, match=(
                r"read-only here \(a remote or zip store\): its image cannot hold new labels: name a separate store "
                rf"for the labels \(store=\); convert it to a local folder first \(napari-zarr-tiles convert {store} ")):
            napari_zarr_tiles.new_labels(store, "nuclei")
    with napari_zarr_tiles.new_labels(archive, "nuclei", store=cells.parents[2] / "nuclei.zarr") as editor:
        assert editor.shape == SHAPE  # the zip image labelled in a separate store


def test_info_calls_new_labels_sparse_not_incomplete(cells, tmp_path):
    from napari_zarr_tiles._cli import describe

    image = cells.parents[1]
    for where, store in [(image / "labels" / "nuclei", None), (tmp_path / "apart.zarr", tmp_path / "apart.zarr")]:
        with napari_zarr_tiles.new_labels(image, "nuclei", store=store) as editor:
            editor[0:3, 0:3] = 4
            editor.commit()
        text = "\n".join(describe(where))
        assert "INCOMPLETE" not in text and "missing" not in text, text
        assert "written by napari-zarr-tiles: sparse labels (made empty to be painted: chunks not painted are absent " \
               "by design and read as 0)" in text
        assert "0: shape (300, 500) uint32 chunks (64, 64)" in text and "1/40 chunks present, the others not painted (0)" in text


def test_labels_on_a_read_only_file_system_are_refused_in_editing_words(cells, monkeypatch):
    import errno

    opened = os.open

    def read_only(path, *args, **kwargs):  # the tests may run as root, who can write anywhere
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(TargetNotWritableError) as refused:
        napari_zarr_tiles.edit_labels(cells)
    assert str(refused.value) == (
        f"{cells} cannot be opened for editing: {cells.parents[2]} cannot be written to (Read-only file system); "
        "copy image.zarr to a folder you can write to and edit the copy")
