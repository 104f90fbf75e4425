"""Stream a filtered image into OME-Zarr: full resolution and its pyramid, resumable, on threads or a cluster.

A result is described by its recipe (the source image and the filter steps), not by the lazy layer shown in
the viewer: that one may hold a threshold taken from the coarsest level for speed, while a save computes
every whole-image statistic from full resolution.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from os import PathLike

from .._writer import ImageToWrite, default_chunks, write_ome_zarr
from ._apply import apply_chain
from ._filters import get_filter, one_thread_per_tile

Steps = Sequence[tuple[str, dict]]


def spatial_axes(image: ImageToWrite) -> list[int]:
    """The axes a filter runs over: the image's last two or three space axes."""
    space = [index for index, axis in enumerate(image.axes) if axis.type == "space"]
    return space[-3:] if len(space) >= 3 else space[-2:]


def result_name(name: str, steps: Steps) -> str:
    """``blobs gaussian(sigma=2)``: the source's name and each step with the parameters that mattered."""
    parts = []
    for filter_name, params in steps:
        used = {p.name for p in get_filter(filter_name).parameters if p.used(params)}
        parts.append(f"{filter_name}({', '.join(f'{k}={v}' for k, v in params.items() if k in used)})")
    return f"{name} {' '.join(parts)}"


def filtered(image: ImageToWrite, steps: Steps, *, preview: bool = False) -> ImageToWrite:
    """``image`` with its data replaced by the lazy result of ``steps`` (a list of levels stays a list)."""
    data = apply_chain(image.data, steps, spatial_axes=spatial_axes(image), preview=preview)
    is_label = get_filter(steps[-1][0]).labels
    # Windows and label colours were the source's; the writer takes new windows from the result.
    channels = tuple(replace(channel, window=None) for channel in image.channels)
    return replace(
        image, data=data, name=result_name(image.name, steps), channels=() if is_label else channels,
        is_label=is_label, label_colors={},
    )


def save_filtered(image: ImageToWrite, steps: Steps, target: str | PathLike, *, source: dict | None = None,
                  **options) -> str:
    """Compute ``steps`` on ``image`` at full resolution and write the result, with its pyramid, to ``target``.

    The write is resumable: a save that was cancelled or killed continues where it stopped when run again
    with the same source, steps and options. ``source`` is what the store records of the source
    (``_store.source_provenance``: its path and the state of its files, so that a resume refuses a source
    changed since), by default its name. ``options`` are :func:`write_ome_zarr`'s (tile, compressor,
    progress, overwrite, client, ...).
    """
    import dask.array as da

    level0 = da.asarray(image.data[0] if isinstance(image.data, list | tuple) else image.data)
    # The filter runs on the output's own tiles: each task makes one tile to write, so memory stays at a few
    # tiles and a resumed save recomputes exactly the tiles that are missing.
    image = replace(image, data=level0.rechunk(default_chunks(image.axes, level0.shape, options.get("tile"))))
    # Parameters as the filters read them ("3" from a command line is 3), so that a resume matches.
    steps = [(name, get_filter(name).checked(**params)) for name, params in steps]
    result = filtered(image, steps)
    provenance = {**(source or {"source": image.name}), "steps": [[name, dict(params)] for name, params in steps]}
    with one_thread_per_tile():
        return write_ome_zarr(target, result, resumable=True, provenance=provenance, **options)


def process(source: str | PathLike, target: str | PathLike, steps: Steps, **options) -> str:
    """Filter the first image of ``source`` (a zarr store or a TIFF) into OME-Zarr at ``target``."""
    from .._convert import open_source
    from .._store import source_provenance

    image = open_source(source)
    return save_filtered(image, steps, target, source=source_provenance(source), **options)


@contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None) -> Iterator[object]:
    """A dask.distributed Client: of the scheduler at ``scheduler``, or of a local cluster of ``workers``
    processes (one thread each), closed on exit; None when neither is given (the write uses threads)."""
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "running on a cluster needs dask.distributed: pip install 'napari-zarr-tiles[distributed]'"
        ) from None
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    with local, Client(local) as client:
        yield client
