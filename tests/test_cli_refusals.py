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
