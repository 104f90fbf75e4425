#!/usr/bin/env python
"""Child process: the reference ways to filter a zarr array that ../shared/bench/anchors.py does not have.

    python filter_references.py MODE SRC DST

  daskimage_median   dask-image median_filter(size=5), zarr -> zarr
  scipy_median       scipy.ndimage.median_filter(size=5) on the whole image in memory, result to zarr
Output as anchors.py writes it: zarr v2, 1024 x 1024 tiles, Blosc zstd 3 bit-shuffle.
"""

import shutil
import sys

import dask.array as da
import zarr
from numcodecs import Blosc

CHUNKS = (1024, 1024)
BLOSC = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)


def create(dst, shape, dtype):
    return zarr.create_array(dst, shape=shape, dtype=dtype, chunks=CHUNKS, zarr_format=2, compressors=BLOSC)


def main(mode: str, src: str, dst: str) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    if mode == "daskimage_median":
        from dask_image import ndfilters

        out = ndfilters.median_filter(da.from_zarr(src), size=5)
        da.store(out, create(dst, out.shape, out.dtype), lock=False)
    elif mode == "scipy_median":
        from scipy import ndimage as ndi

        out = ndi.median_filter(zarr.open_array(src, mode="r")[:], size=5)
        create(dst, out.shape, out.dtype)[:] = out
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
