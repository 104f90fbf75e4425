"""What the command line and the Python API refuse at once, in their own words, before any work."""

import socket
import time

import dask
import pytest
import zarr

from napari_zarr_tiles._cli import main, parse_steps
from napari_zarr_tiles._errors import InvalidOptionError, SchedulerUnreachableError
from napari_zarr_tiles._jobs import cluster


@pytest.fixture
def source(tmp_path, blobs):
    path = tmp_path / "blobs.zarr"
    zarr.create_array(path, data=blobs, chunks=(128, 128))
    return path


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_is_refused_at_once(tmp_path, source, capsys, workers):
    target = tmp_path / "out.zarr"
    assert main(["process", str(source), str(target), "gaussian", "--workers", workers]) == 2
    assert capsys.readouterr().err.strip() == f"napari-zarr-tiles process: --workers must be at least 1, not {workers}"
    assert list(tmp_path.iterdir()) == [source]  # no target, no .partial
    with pytest.raises(InvalidOptionError, match="workers must be at least 1") as raised, cluster(workers=0):
        pass
    assert raised.value.option == "workers"


def test_a_scheduler_nobody_listens_on_is_one_line_naming_it(tmp_path, source, capsys):
    address = f"tcp://127.0.0.1:{_unused_port()}"
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachableError, match=f"no dask scheduler answered at {address}"), \
            cluster(address, connect_timeout=0.5):
        pass
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["process", str(source), str(tmp_path / "out.zarr"), "gaussian", "--scheduler", address]) == 1
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert err.startswith(f"napari-zarr-tiles: no dask scheduler answered at {address}: check the address")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("words", "message"), [
    ("+ gaussian", "'+' with no filter step before it"),
    ("gaussian +", "'+' with no filter step after it"),
    ("gaussian + + median", "'+' with no filter step before it"),
    ("sigma=1 gaussian", "'sigma=1' comes before a filter name"),
    ("gaussian sigma=1 sigma=2", "sigma is given twice to gaussian ('sigma=2')"),
    ("gaussian median", "'median' follows the filter gaussian"),
])
def test_loose_steps_are_refused_naming_the_word(words, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        parse_steps(words.split())


def test_steps_as_documented_are_parsed():
    assert parse_steps(["median", "size=3", "+", "gaussian", "sigma=2"]) == [("median", {"size": "3"}), ("gaussian", {"sigma": "2"})]


def _tree(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("where", ["source", "inside", "holding"])
def test_a_target_that_is_the_source_inside_it_or_holding_it_is_refused_before_any_work(tmp_path, source, capsys, where):
    from napari_zarr_tiles import _jobs
    from napari_zarr_tiles._convert import convert
    from napari_zarr_tiles._errors import TargetExistsError

    target = {"source": source, "inside": source / "out.zarr", "holding": tmp_path}[where]
    before = _tree(tmp_path)
    words = {"source": "the target is the source", "inside": "the target is inside the source",
             "holding": "the target holds the source"}[where]
    assert main(["convert", str(source), str(target), "--overwrite"]) == 1
    assert main(["process", str(source), str(target), "gaussian", "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count(f"{words}") == 2 and "choose another target" in err and "Traceback" not in err
    with pytest.raises(TargetExistsError, match=words):
        convert(source, target, overwrite=True)
    with pytest.raises(TargetExistsError, match=words):
        _jobs.process(source, target, [("gaussian", {})], overwrite=True)
    assert _tree(tmp_path) == before  # nothing written, nothing moved


def test_a_tiff_converted_onto_itself_is_kept(tmp_path, blobs, capsys):
    import tifffile

    tiff = tmp_path / "copy.tif"
    tifffile.imwrite(tiff, blobs)
    assert main(["convert", str(tiff), str(tiff), "--overwrite"]) == 1
    assert "the target is the source: choose another target" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [tiff] and (tifffile.imread(tiff) == blobs).all()


def test_a_target_that_is_a_file_is_refused_even_with_overwrite(tmp_path, source, capsys):
    target = tmp_path / "notes.zarr"
    target.write_text("mine")
    assert main(["convert", str(source), str(target), "--overwrite"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"napari-zarr-tiles convert: {target} is a file, not a zarr store: choose another target"
    )
    assert target.read_text() == "mine" and sorted(tmp_path.iterdir()) == [source, target]


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_moving_into_place_removes_what_it_replaced_whatever_it_is(tmp_path, kind):
    from napari_zarr_tiles._writing import move_into_place

    partial, target = tmp_path / ".new.partial", tmp_path / "new"
    partial.mkdir()
    (partial / "zarr.json").write_text("{}")
    if kind == "folder":
        target.mkdir()
        (target / "old").write_text("old")
    else:
        target.write_text("old")
    move_into_place(partial, target, overwrite=True)
    assert _tree(tmp_path) == ["new", "new/zarr.json"]  # no .old-* left


def test_the_command_says_overwrite_in_its_words_and_python_in_its_own(tmp_path, source, capsys):
    from napari_zarr_tiles._convert import convert
    from napari_zarr_tiles._errors import TargetExistsError

    target = tmp_path / "out.zarr"
    target.mkdir()
    assert main(["convert", str(source), str(target)]) == 1
    assert capsys.readouterr().err.strip() == f"napari-zarr-tiles convert: {target} exists; --overwrite replaces it"
    with pytest.raises(TargetExistsError) as raised:
        convert(source, target)
    assert str(raised.value) == f"{target} exists; pass overwrite=True to replace it"


@pytest.mark.parametrize(("steps", "message"), [
    (["gaussian", "sigma=-1"], "gaussian: sigma=-1.0 is outside"),
    (["threshold", "value=100"], "threshold: value is used only with method=value"),
    (["threshold", "method=value"], "threshold method=value: give value=N"),
])
def test_steps_are_checked_before_the_target(tmp_path, source, capsys, steps, message):
    target = tmp_path / "out.zarr"
    target.mkdir()
    assert main(["process", str(source), str(target), *steps]) == 1
    err = capsys.readouterr().err
    assert message in err and "exists" not in err


def test_a_threshold_of_an_existing_target_is_refused_before_its_statistic(tmp_path, source, monkeypatch):
    """Otsu's value is taken from the whole image: an existing target is refused before that work."""
    from napari_zarr_tiles import _jobs
    from napari_zarr_tiles._errors import TargetExistsError

    def no_statistic(*_):
        raise AssertionError("the whole-image statistic ran")

    monkeypatch.setattr(_jobs, "filtered", no_statistic)
    (tmp_path / "out.zarr").mkdir()
    with pytest.raises(TargetExistsError):
        _jobs.process(source, tmp_path / "out.zarr", [("threshold", {})])


def test_a_threshold_value_as_given_is_used(tmp_path, source, blobs):
    target = tmp_path / "mask.zarr"
    assert main(["process", str(source), str(target), "threshold", "method=value", "value=100"]) == 0
    assert (zarr.open_group(target, mode="r")["0"][:] == (blobs > 100)).all()


def _interrupted_resumable_convert(source, target, capsys):
    """``convert --resumable`` stopped by Ctrl-C after its first tiles: a .NAME.partial stays."""
    from napari_zarr_tiles import _cli

    class StopAfterTwoTiles(_cli.TextProgress):
        def __call__(self, done, total):
            if done >= 2:
                raise KeyboardInterrupt
            super().__call__(done, total)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_cli, "TextProgress", StopAfterTwoTiles)
        assert main(["convert", str(source), str(target), "--resumable", "--chunks", "64"]) == 130
    capsys.readouterr()
    partial = target.with_name(f".{target.name}.partial")
    assert partial.is_dir()
    return partial


def test_a_stale_partial_is_told_and_left_as_is(tmp_path, source, capsys):
    from napari_zarr_tiles._convert import convert
    from napari_zarr_tiles._errors import UnfinishedWriteKept

    target = tmp_path / "out.zarr"
    partial = _interrupted_resumable_convert(source, target, capsys)
    kept = _tree(partial)
    assert main(["convert", str(source), str(target), "--chunks", "64"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        f"napari-zarr-tiles convert: warning: an unfinished write into {target} is kept at {partial} and was left "
        "as is: the same command with --resumable continues it; or remove it"
    )
    assert _tree(partial) == kept
    with pytest.warns(UnfinishedWriteKept, match="a write with resumable=True into the same target continues it"):
        convert(source, target, tile=64, overwrite=True)


@pytest.mark.parametrize(("options", "difference"), [
    (["--chunks", "128"], "array 0: chunks (64, 64) then, (128, 128) now"),
    (["--chunks", "64", "--compressor", "gzip"], "array 0: codecs [Blosc(cname='zstd'"),
    (["--chunks", "64", "--no-pyramid"], "3 arrays (pyramid levels) then, 1 now"),
])
def test_a_resume_of_another_layout_names_the_setting_that_differs(tmp_path, source, capsys, options, difference):
    target = tmp_path / "out.zarr"
    partial = _interrupted_resumable_convert(source, target, capsys)
    assert main(["convert", str(source), str(target), "--resumable", *options]) == 1
    err = capsys.readouterr().err
    assert f"the unfinished write at {partial} was of something else (another layout: {difference}" in err
    assert not target.exists()


def test_ctrl_c_while_a_command_loads_its_modules_is_one_line(monkeypatch, capsys):
    """Ctrl-C at any moment of main(), here while the filters' modules load, stops it with one line."""
    from napari_zarr_tiles import _cli

    def interrupted_import():
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "describe_filters", interrupted_import)
    assert main(["filters"]) == 130
    assert capsys.readouterr().err == "napari-zarr-tiles: stopped (Ctrl-C)\n"


def test_ctrl_c_while_convert_imports_the_writing_core_is_one_line(tmp_path, source, monkeypatch, capsys):
    """Ctrl-C cut the writing core's imports short: saying what is left must not import them again (a module
    left half imported, numpy's, then failed with a RecursionError traceback)."""
    import sys
    import types

    class InterruptedImport(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "napari_zarr_tiles._convert", InterruptedImport("napari_zarr_tiles._convert"))
    monkeypatch.setitem(sys.modules, "napari_zarr_tiles._writing", None)  # broken: importing it fails
    assert main(["convert", str(source), str(tmp_path / "out.zarr")]) == 130
    assert capsys.readouterr().err == (
        f"napari-zarr-tiles convert: stopped before writing any tile; nothing was written to {tmp_path / 'out.zarr'} "
        "(--resumable keeps an unfinished conversion to continue it)\n"
    )
