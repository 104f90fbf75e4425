"""Reading a small region at the start of big Blosc chunks, decoding only the start of each.

Pyramids are often written with one chunk size for every level (ome-zarr-py given ``chunks``, most
converters): a coarse level far smaller than its chunk is stored padded to it, so a 128² level in a 1024²
chunk decodes 2 MB for the 32 kB it holds. A plate's mosaic reads such a level of every well: 192 chunks,
0.65 s of decoding on one core for a 96-well plate with two channels, most of its first frame's own work.

A Blosc chunk is made of blocks compressed one by one, and c-blosc's ``blosc_getitem`` decodes only the
blocks holding the items asked for. zarr decodes whole chunks, and numcodecs dropped its Python wrapper
(``blosc.decompress_partial``, numcodecs 0.10 to 0.15), but its Blosc module still exports c-blosc's
function; it is called here through ctypes, which is why this is written by hand. Everything it does not
handle exactly (another codec, filters, big-endian data, sharding, a chunk whose header is not what the
metadata says, most of a chunk wanted) returns None, and the caller reads the usual way, through zarr,
which also names whatever is wrong.

Blosc 1 keeps no checksum: what zarr learns of a damaged chunk is that decoding it fails. Decoding only its
start, damage in the rest (the padding) goes unseen and the pixels shown are the stored ones; a chunk whose
header or table of block starts is damaged is left to zarr. Damaged chunks were fuzzed (tens of thousands
of corrupted copies; the tests run a few thousand in a child process): ``blosc_getitem`` refused or decoded
them without fault, as numcodecs' ``decode`` does, once their header is checked.
"""

from __future__ import annotations

import asyncio
import ctypes
import struct
import sys
from functools import cache
from itertools import product
from math import prod

import numpy as np
from numcodecs import blosc as numcodecs_blosc
from zarr import AsyncArray
from zarr.codecs import BloscCodec, BytesCodec
from zarr.core.metadata import ArrayV2Metadata

from ._store import fill_value, stored_bytes

# Where more than this fraction of a chunk is wanted, decoding all of it costs about the same: zarr does it.
MOST_OF_A_CHUNK = 0.5
# c-blosc's header: format version, codec version, flags, item size, then (little-endian) the decoded
# bytes, the block size and the compressed bytes. Formats up to 2 are c-blosc 1's.
HEADER = struct.Struct("<BBBBIII")
LAST_FORMAT = 2
MEMCPYED = 0x2  # the header's flag of a chunk stored uncompressed: no table of block starts


@cache
def _getitem():
    """c-blosc's ``blosc_getitem(src, start, nitems, dest)`` from numcodecs' Blosc module, or None."""
    try:
        function = ctypes.CDLL(numcodecs_blosc.__file__).blosc_getitem
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function  # a ctypes call releases the interpreter lock while it decodes


def _readable_by_prefixes(array: AsyncArray) -> bool:
    """Whether ``array``'s chunks are plain Blosc over native-order items: what :func:`read_by_prefixes` reads."""
    dtype = np.dtype(array.dtype)
    if _getitem() is None or dtype.hasobject or not dtype.isnative or dtype.itemsize == 0:
        return False
    metadata = array.metadata
    if isinstance(metadata, ArrayV2Metadata):
        return (
            isinstance(metadata.compressor, numcodecs_blosc.Blosc) and not metadata.filters and metadata.order == "C"
        )
    codecs = metadata.codecs
    return (
        len(codecs) == 2 and isinstance(codecs[0], BytesCodec) and isinstance(codecs[1], BloscCodec)
        and (dtype.itemsize == 1 or codecs[0].endian is not None and codecs[0].endian.value == sys.byteorder)
    )


async def read_by_prefixes(array: AsyncArray, selection: tuple[slice, ...]) -> np.ndarray | None:
    """``array[selection]`` (a slice at step 1 for every axis), each chunk decoded only up to the last item
    the selection takes from it; None where that is not how to read it (see the module's description)."""
    if not _readable_by_prefixes(array) or len(selection) != array.ndim:
        return None
    bounds = []
    for part, size in zip(selection, array.shape):
        start, stop, step = part.indices(size)
        if step != 1 or stop <= start:
            return None
        bounds.append((start, stop))
    chunk_shape = tuple(array.chunks)
    chunks = []  # (chunk's grid index, its part of the region, the part's place in the chunk, items to decode)
    for index in product(*(range(start // edge, (stop - 1) // edge + 1) for (start, stop), edge in zip(bounds, chunk_shape))):
        inside = [
            slice(max(start, i * edge) - i * edge, min(stop, (i + 1) * edge) - i * edge)
            for i, (start, stop), edge in zip(index, bounds, chunk_shape)
        ]
        items = int(np.ravel_multi_index([part.stop - 1 for part in inside], chunk_shape)) + 1
        if items > MOST_OF_A_CHUNK * prod(chunk_shape):
            return None
        region = tuple(
            slice(i * edge + part.start - start, i * edge + part.stop - start)
            for i, part, (start, _), edge in zip(index, inside, bounds, chunk_shape)
        )
        chunks.append((index, region, tuple(inside), items))
    prefix = f"{array.store_path.path}/".lstrip("/")
    stored = await asyncio.gather(*(
        stored_bytes(array.store_path.store, prefix + array.metadata.encode_chunk_key(index)) for index, *_ in chunks
    ))
    out = np.full([stop - start for start, stop in bounds], fill_value(array), dtype=array.dtype)
    for (_, region, inside, items), raw in zip(chunks, stored):
        if raw is None:  # no chunk stored: the fill value, as zarr reads it
            continue
        decoded = _decode_start(raw, items, chunk_shape, np.dtype(array.dtype))
        if decoded is None:
            return None
        out[region] = decoded[inside]
    return out


def _decode_start(raw: bytes, items: int, chunk_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """The chunk ``raw`` as an array of ``chunk_shape`` whose first ``items`` items (C order) are decoded,
    the rest unset; None where its header is not a c-blosc 1 chunk of that many bytes, or decoding fails."""
    if len(raw) < HEADER.size:
        return None
    version, _, flags, typesize, decoded_bytes, block_bytes, compressed_bytes = HEADER.unpack_from(raw)
    chunk_bytes = prod(chunk_shape) * dtype.itemsize
    if not (0 < version <= LAST_FORMAT and typesize > 0 and block_bytes > 0 and decoded_bytes == chunk_bytes
            and compressed_bytes == len(raw)):
        return None
    if not flags & MEMCPYED:  # each block's start, after the header, must lie in the chunk (blosc trusts them)
        blocks = -(-decoded_bytes // block_bytes)
        data_start = HEADER.size + 4 * blocks
        starts = np.frombuffer(raw, "<i4", count=blocks, offset=HEADER.size) if len(raw) >= data_start else None
        if starts is None or starts.min() < data_start or starts.max() >= len(raw):
            return None
    wanted = items * dtype.itemsize
    count = -(-wanted // typesize)  # blosc counts in its own item size
    out = np.empty(chunk_bytes, np.uint8)
    if _getitem()(raw, 0, count, out.ctypes.data) != count * typesize:
        return None
    return out.view(dtype).reshape(chunk_shape)
