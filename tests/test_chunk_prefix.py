"""Reading the start of big Blosc chunks (``_chunk_prefix``): equal to zarr's read wherever it answers, and no
answer (None: read by zarr) wherever it cannot be exact."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from numcodecs import Blosc, Delta
from zarr.codecs import BloscCodec
from zarr.core.sync import sync

from napari_zarr_tiles import _chunk_prefix
from napari_zarr_tiles._chunk_prefix import read_by_prefixes


def stored(tmp_path, values: np.ndarray, chunks: tuple, *, zarr_format: int = 2, **options) -> zarr.Array:
    if "compressors" not in options and "filters" not in options:
        options["compressors"] = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE) if zarr_format == 2 else BloscCodec()
    array = zarr.create_array(tmp_path / "a.zarr", shape=values.shape, chunks=chunks, dtype=values.dtype,
                              zarr_format=zarr_format, **options)
    array[...] = values
    return zarr.open_array(tmp_path / "a.zarr", mode="r")


def prefix_read(array: zarr.Array, selection: tuple[slice, ...]) -> np.ndarray | None:
    return sync(read_by_prefixes(array._async_array, selection))


def noise(shape: tuple, dtype: str, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).normal(1000, 300, shape)
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compressor", [
    Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE),
    Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),
    Blosc(cname="blosclz", clevel=9, shuffle=Blosc.NOSHUFFLE),
    Blosc(cname="zlib", clevel=1, shuffle=Blosc.SHUFFLE, blocksize=4096),
], ids=["zstd-bitshuffle", "lz4-shuffle", "blosclz", "zlib-small-blocks"])
def test_a_small_level_in_big_blosc_chunks_reads_as_zarr_reads_it(tmp_path, dtype, compressor):
    values = noise((2, 100, 120), dtype)
    array = stored(tmp_path, values, (1, 512, 512), compressors=compressor)
    read = prefix_read(array, (slice(0, 2), slice(0, 100), slice(0, 120)))
    assert read is not None and read.dtype == values.dtype
    np.testing.assert_array_equal(read, values)
    np.testing.assert_array_equal(prefix_read(array, (slice(1, 2), slice(30, 61), slice(7, 90))), values[1:2, 30:61, 7:90])


def test_zarr_v3_blosc_chunks_and_a_region_over_several_chunks(tmp_path):
    values = noise((3, 90, 2500), "uint16")
    array = stored(tmp_path, values, (1, 512, 1024), zarr_format=3)
    selection = (slice(0, 3), slice(5, 90), slice(900, 2500))  # three chunks along X, each needed up to row 89
    np.testing.assert_array_equal(prefix_read(array, selection), values[selection])


def test_chunks_not_stored_read_as_the_fill_value(tmp_path):
    values = np.full((2, 50, 50), 7, np.uint16)
    array = zarr.create_array(tmp_path / "a.zarr", shape=values.shape, chunks=(1, 256, 256), dtype="uint16",
                              fill_value=7, zarr_format=2, compressors=Blosc())
    array[0] = np.arange(2500, dtype=np.uint16).reshape(50, 50)  # channel 1 never written: no chunk stored
    values[0] = np.arange(2500).reshape(50, 50)
    np.testing.assert_array_equal(prefix_read(zarr.open_array(tmp_path / "a.zarr", mode="r"), (slice(0, 2), slice(0, 50), slice(0, 50))), values)


@pytest.mark.parametrize("case", ["most of the chunk", "a step", "zstd alone", "a filter", "big-endian", "F order"])
def test_what_cannot_be_read_exactly_by_prefixes_is_left_to_zarr(tmp_path, case):
    values = noise((60, 60), "uint16")
    selection = (slice(0, 60), slice(0, 60))
    if case == "most of the chunk":
        array = stored(tmp_path, values, (64, 64))
    elif case == "a step":
        array, selection = stored(tmp_path, values, (512, 512)), (slice(0, 60, 2), slice(0, 60))
    elif case == "zstd alone":
        array = stored(tmp_path, values, (512, 512), zarr_format=3, compressors=zarr.codecs.ZstdCodec())
    elif case == "a filter":
        array = stored(tmp_path, values, (512, 512), filters=[Delta(dtype="u2")], compressors=Blosc())
    elif case == "big-endian":
        array = stored(tmp_path, values.astype(">u2"), (512, 512))
    else:
        array = stored(tmp_path, values, (512, 512), order="F")
    assert prefix_read(array, selection) is None
    np.testing.assert_array_equal(array[selection], values[selection])  # zarr reads it


@pytest.mark.parametrize("damage", ["garbage", "truncated", "another array's chunk", "a block's start"])
def test_a_damaged_chunk_is_left_to_zarr_which_names_it(tmp_path, damage):
    values = noise((2, 60, 60), "uint16")
    array = stored(tmp_path, values, (1, 512, 512))
    chunk = tmp_path / "a.zarr" / "1.0.0"
    raw = chunk.read_bytes()
    if damage == "garbage":
        chunk.write_bytes(bytes(range(256)) * (len(raw) // 256 + 1))
    elif damage == "truncated":
        chunk.write_bytes(raw[: len(raw) // 2])
    elif damage == "a block's start":  # the last block's, in the table after the header: beyond the chunk
        blocks = -(-int.from_bytes(raw[4:8], "little") // int.from_bytes(raw[8:12], "little"))
        place = 16 + 4 * (blocks - 1)
        chunk.write_bytes(raw[:place] + (len(raw) + 1000).to_bytes(4, "little") + raw[place + 4 :])
    else:  # a well-formed Blosc chunk of another size
        chunk.write_bytes(Blosc().encode(np.zeros((512, 256), np.uint16)))
    assert prefix_read(array, (slice(0, 2), slice(0, 60), slice(0, 60))) is None


def test_without_c_blosc_s_getitem_every_read_is_left_to_zarr(tmp_path, monkeypatch):
    """numcodecs builds that no longer export ``blosc_getitem`` (or none at all) read the usual way."""
    array = stored(tmp_path, noise((60, 60), "uint16"), (512, 512))
    monkeypatch.setattr(_chunk_prefix, "_getitem", lambda: None)
    assert prefix_read(array, (slice(0, 60), slice(0, 60))) is None


def test_thousands_of_corrupted_chunks_never_crash_the_process(tmp_path):
    """c-blosc's getitem meets damaged chunks in a child process: any fault would kill it, not the tests."""
    import subprocess
    import sys

    array = stored(tmp_path, noise((1, 100, 120), "uint16"), (1, 512, 512))
    chunk = tmp_path / "a.zarr" / "0.0.0"
    code = f"""
import random
from pathlib import Path
import numpy as np
from napari_zarr_tiles._chunk_prefix import _decode_start
raw = Path({str(chunk)!r}).read_bytes()
rng = random.Random(7)
answered = 0
for _ in range(3000):
    damaged = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    answered += _decode_start(bytes(damaged), 100 * 512, (1, 512, 512), np.dtype("uint16")) is not None
print(answered)
"""
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < 3000  # some damage is caught by the header's checks, some decodes (to garbage)
    assert array.shape == (1, 100, 120)
