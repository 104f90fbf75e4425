"""Jobs: a source read, steps run on it by the engine, the result written by the writing core.

What the command line, the widgets and the Python API share: ``process`` (a store or a TIFF, filtered into
OME-Zarr), ``save_filtered`` (an image already open, as the Save widget has it), the provenance a store
records of its source so that a resume refuses a changed one, and ``cluster`` (where the work runs).

A result is described by its recipe (the source image and the filter steps), not by the lazy layer shown in
the viewer: that one may hold a threshold taken from the coarsest level for speed, while a save computes
every whole-image statistic from full resolution.
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from os import PathLike

from ._errors import InvalidOptionError, SchedulerUnreachableError
from ._image import ImageToWrite
from ._location import refuse_read_only_target
from ._writing import WriteOptions, default_chunks, refuse_target, refuse_target_of_source, write_ome_zarr
from .tiles._filters import get_filter, one_thread_per_tile
from .tiles._result import filtered
from .tiles._tile_pass import reporting

Steps = Sequence[tuple[str, dict]]


def save_filtered(image: ImageToWrite, steps: Steps, target: str | PathLike, *, source: dict | None = None,
                  findings=None, options: WriteOptions | None = None, progress=None, client=None,
                  **option_values) -> str:
    """Compute ``steps`` on ``image`` at full resolution and write the result, with its pyramid, to ``target``.

    The write is resumable: a save that was cancelled or killed continues where it stopped when run again
    with the same source, steps and options. ``source`` is what the store records of the source
    (``_store.source_provenance``: its path and the state of its files, so that a resume refuses a source
    changed since), by default its name. ``findings``, ``options`` (or its fields as keywords), ``progress``
    and ``client`` are :func:`write_ome_zarr`'s; the save is always resumable. ``progress`` is told a label
    step's first pass over the tiles too, before the write (in tiles of level 0: a bar of its own).
    """
    import dask.array as da

    refuse_read_only_target(target)
    options = WriteOptions.of(options, **option_values, resumable=True)
    level0 = da.asarray(image.level0)
    # The filter runs on the output's own tiles: each task makes one tile to write, so memory stays at a few
    # tiles and a resumed save recomputes exactly the tiles that are missing.
    image = replace(image, data=level0.rechunk(default_chunks(image.axes, level0.shape, options.tile)))
    # Parameters as the filters read them ("3" from a command line is 3), so that a resume matches.
    steps = [(name, get_filter(name).checked(**params)) for name, params in steps]
    refuse_target(target, options)  # before a threshold's whole-image statistic is computed
    with reporting(progress):  # a label step's first pass over the tiles, before the write
        result, steps = filtered(image, steps)  # steps as run: a threshold's value as computed
    provenance = {**(source or {"source": image.name}), "steps": [[name, dict(params)] for name, params in steps]}
    with one_thread_per_tile():
        return write_ome_zarr(target, result, options=options, provenance=provenance, findings=findings,
                              progress=progress, client=client)


def recorded_steps(target: str | PathLike) -> list[tuple[str, dict]]:
    """The steps a store written by :func:`save_filtered` records, as run (a threshold's computed value)."""
    from ._store import WRITER_MARKER, open_readonly

    provenance = open_readonly(target).attrs.get(WRITER_MARKER, {}).get("provenance", {})
    return [(name, params) for name, params in provenance.get("steps", [])]


def process(source: str | PathLike, target: str | PathLike, steps: Steps, *, bad_chunks: str = "raise",
            axes: str | None = None, storage_options: dict | None = None, **options) -> str:
    """Filter the first image of ``source`` (a zarr store: a folder, a ``.zarr.zip`` file or a URL; or a
    TIFF) into OME-Zarr at the local ``target``; the steps as run, with a threshold's computed value, are
    recorded there (:func:`recorded_steps`). ``bad_chunks`` is what a chunk of the source that cannot be read
    does, ``axes`` replaces the axes a TIFF declares, ``storage_options`` are a remote source's
    (``_convert.open_source``)."""
    from ._convert import open_source

    refuse_read_only_target(target)
    refuse_target_of_source(source, target)
    opened = open_source(source, bad_chunks=bad_chunks, axes=axes, storage_options=storage_options)
    if opened.labels:
        warnings.warn(f"the labels of {source} ({', '.join(label.name for label in opened.labels)}) are not written: "
                      "process writes the filtered image only", UserWarning, stacklevel=2)
    findings = _findings(opened, bad_chunks, options.get("client"))
    return save_filtered(opened.image, steps, target, source=opened.provenance, findings=findings, **options)


def save_viewed(image: ImageToWrite, steps: Steps, target: str | PathLike, *, origin: str | None,
                bad_chunks: str = "raise", **options) -> str:
    """:func:`save_filtered` for an image the viewer holds (opened by the reader from ``origin``, or made in
    memory when None). The viewer reads chunks that cannot be decoded as the fill value; the save meets them
    in the ``bad_chunks`` mode instead, as ``process`` does: it stops naming them (``"raise"``), or writes
    the fill value and records that the result is not clean (``"fill"``)."""
    import dask.array as da

    from ._convert import OpenedSource
    from ._store import reading_bad_chunks, source_provenance

    opened = OpenedSource(image, source_provenance(origin) if origin else {"source": image.name})
    # level 0 only: save_filtered computes every level of the result from it
    image = replace(image, data=reading_bad_chunks(da.asarray(image.level0), bad_chunks, opened.tell))
    findings = _findings(opened, bad_chunks, options.get("client"))
    return save_filtered(image, steps, target, source=opened.provenance, findings=findings, **options)


def _findings(opened, bad_chunks: str, client):
    """What the store records, once written, of the chunks filled in."""
    if bad_chunks == "fill" and client is not None:
        # The chunks filled in are told where they are read, on the workers: this process cannot say none were.
        def findings() -> dict:
            return {"clean": None, "bad_chunks_filled": "not known: read on a dask.distributed cluster"}

        return findings
    return opened.findings


@contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None, *,
            connect_timeout: float | None = None) -> Iterator[object]:
    """A dask.distributed Client: of the scheduler at ``scheduler``, or of a local cluster of ``workers``
    processes (one thread each), closed on exit; None when neither is given (the write uses threads).

    A scheduler that does not answer within ``connect_timeout`` seconds (by default dask's
    ``distributed.comm.timeouts.connect``) raises :class:`SchedulerUnreachableError`.
    """
    if scheduler is None and workers is None:
        yield None
        return
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise InvalidOptionError("workers", f"{{workers}} must be at least 1, not {workers!r}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "running on a cluster needs dask.distributed: pip install 'napari-zarr-tiles[distributed]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, **({} if connect_timeout is None else {"timeout": connect_timeout}))
        except (OSError, TimeoutError) as error:  # distributed: "Timed out trying to connect to ..."
            raise SchedulerUnreachableError(
                f"no dask scheduler answered at {scheduler}: check the address and port, and that the scheduler "
                "is running and reachable from this machine"
            ) from error
        with client:
            yield client
        return
    with _ctrl_c_ignored():
        # Worker processes started now keep ignoring Ctrl-C, which a terminal sends to every process of the
        # command: the command stops them itself, without a traceback from each. Their logs are silenced
        # below critical: a task's failure reaches the command as its error, and a cluster closed on Ctrl-C
        # would have each worker log tracebacks of the transfers it cut.
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.CRITICAL)
    with local, Client(local) as client:
        yield client


@contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """SIGINT ignored in this process for a while (from the main thread, where alone it can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
