"""The ``napari-zarr-tiles`` command: ``info`` describes a store, ``demo`` shows the sample data in napari."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Only light modules here: the heavy ones (zarr, dask, ...) are imported by the commands that use them, so that
# --help answers at once and Ctrl-C while they load stops the command in one line (main).
from ._errors import (
    InvalidOptionError,
    TargetExistsError,
    UnfinishedWriteKept,
    UnreadableChunkError,
    ZarrTilesError,
)
from ._options import COMPRESSOR_ADVICE, COMPRESSORS, WriteOptions

# The write options as this command's flags name them, for its error messages.
FLAGS = {
    "tile": "--chunks", "compressor": "--compressor", "compression_level": "--level", "ome_version": "--ome-version",
    "shards": "--shards", "with_pyramid": "--no-pyramid", "overwrite": "--overwrite", "resumable": "--resumable",
    "workers": "--workers", "storage_options": "--storage-option", "axes": "--axes",
}
# What replaces an existing target, as this command says it (TargetExistsError.in_words).
REPLACING = {"overwrite": "--overwrite replaces it"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` and return its exit status; Ctrl-C at any moment, even while the modules a
    command needs load, stops it with one line (130). Output piped into a command that stops reading it
    (``info PATH | head``) ends the command quietly, as SIGPIPE ends a shell's (141)."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then met where it is caught
        return status
    except KeyboardInterrupt:
        print("napari-zarr-tiles: stopped (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Python flushes standard output again at exit: pointed at devnull, it says nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="napari-zarr-tiles", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="the tree of a zarr store: arrays, chunks, codecs, OME metadata")
    info.add_argument("path", type=path_or_url, help="a zarr folder, a .zarr.zip file, or a URL (https://, s3://, ...)")
    _add_storage_options(info)
    convert = commands.add_parser(
        "convert", help="a TIFF or zarr store to tiled OME-Zarr with a pyramid, streamed tile by tile"
    )
    convert.add_argument("source", type=path_or_url, help="a TIFF, or a zarr store (folder, .zarr.zip, URL)")
    convert.add_argument("target", type=path_or_url, help="a local folder (remote stores are read-only)")
    _add_storage_options(convert)
    convert.add_argument(
        "--resumable", action="store_true",
        help="keep an interrupted conversion beside the target (.NAME.partial) and continue it when run again",
    )
    _add_axes_option(convert)
    _add_write_options(convert)
    process = commands.add_parser(
        "process",
        help="filter a zarr store or TIFF tile by tile into OME-Zarr (resumable; on threads or a dask cluster)",
        description="Steps chain with '+': process SRC DST median size=3 + gaussian sigma=2. A save that was "
        "stopped continues where it stopped when run again with the same arguments.",
    )
    process.add_argument("source", type=path_or_url, help="a zarr store (folder, .zarr.zip, URL) or a TIFF")
    process.add_argument("target", type=path_or_url, help="a local folder (remote stores are read-only)")
    _add_storage_options(process)
    process.add_argument("steps", nargs="+", metavar="FILTER [NAME=VALUE ...]", help="see `napari-zarr-tiles filters`")
    _add_axes_option(process)
    _add_cluster_options(process)
    _add_write_options(process)
    measure = commands.add_parser(
        "measure", help="the object table of a label image (area, centroid, bbox, intensity), tile by tile",
        description="One row per object, with scikit-image's regionprops_table columns (label, area, centroid-0, "
        "..., bbox-0, ..., intensity_mean, intensity_min, intensity_max, intensity_std), and the area and centroid "
        "in the labels' physical units. The table is stored in LABELS as tables/NAME.",
    )
    # paths or URLs: kept as given (a Path would make "https://" "https:/")
    measure.add_argument("labels", help="an OME-Zarr label image (or an image with labels/), a zarr array; a path or a URL")
    measure.add_argument("--intensity", metavar="IMAGE", help="an image of the labels' shape (or channels first): zarr or TIFF; a path or a URL")
    measure.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the table here")
    storing = measure.add_mutually_exclusive_group()
    storing.add_argument("--table", metavar="NAME",
                         help="the stored table's name (default objects; not stored by default where LABELS is a URL or zip)")
    storing.add_argument("--no-table", action="store_true", help="do not store the table in LABELS")
    measure.add_argument("--tile-maps", type=Path, metavar="OUT.zarr",
                         help="also write per-tile maps (object count, area fraction, mean intensity) as a small image")
    measure.add_argument("--map-tile", type=int, metavar="N", help="the maps' tile edge in pixels (default: LABELS' chunk)")
    measure.add_argument("--overwrite", action="store_true", help="replace an existing table, CSV file or maps")
    _add_cluster_options(measure)
    commands.add_parser("filters", help="the tile filters, with their parameters, defaults and ranges")
    demo = commands.add_parser("demo", help="write the sample data as zarr and open it in napari")
    demo.add_argument("--screenshot", type=Path, help="save a screenshot of the window here (PNG) and quit")
    demo.add_argument(
        "--sample", choices=("cells", "big", "filter", "segment", "plate"), default="cells",
        help="the real 3-channel image, the big synthetic one, a lazy threshold of the big one (Tile filter), "
        "the real image's nuclei segmented and measured (Segment and Measure), or a small HCS plate of crops of "
        "the real image with one well's field opened (Plate)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            for line in describe(args.path, storage_options=storage_options(args)):
                print(line)
        elif args.command == "filters":
            for line in describe_filters():
                print(line)
        elif args.command in ("convert", "process"):
            return _write(args)
        elif args.command == "measure":
            run_measure(args)
        else:
            from ._demo import run_demo

            run_demo(args.sample, args.screenshot)
    except InvalidOptionError as error:
        print(f"napari-zarr-tiles {args.command}: {error.in_words(FLAGS)}", file=sys.stderr)
        return 2
    except TargetExistsError as error:
        print(f"napari-zarr-tiles {args.command}: {error.in_words(REPLACING)}", file=sys.stderr)
        return 1
    except (ZarrTilesError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"napari-zarr-tiles: {error}", file=sys.stderr)
        return 1
    return 0


def _add_axes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--axes", metavar="TCZYX",
        help="the TIFF's axes, one letter per dimension in its order (T, C, Z, Y, X), replacing those it declares: "
        "e.g. ZYX for an ImageJ stack of z planes read as time",
    )


def _write(args: argparse.Namespace) -> int:
    """Run ``convert`` or ``process``; Ctrl-C or SIGTERM stops it with one line saying what is left (130).

    Warnings about the source (chunks missing, nothing to show) are printed as one line each.
    """
    options = _write_options(args)
    progress = TextProgress()

    def warn(message, *_) -> None:
        progress.end_line()
        if isinstance(message, UnfinishedWriteKept):
            message = message.in_words({"resumable": "the same command with --resumable"})
        print(f"napari-zarr-tiles {args.command}: warning: {message}", file=sys.stderr)

    # The reader logs each chunk it fills in (--fill-bad-chunks) from the write's threads.
    logs = logging.getLogger("napari_zarr_tiles")
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warn(record.getMessage())
    try:
        with _signals_interrupt(), warnings.catch_warnings():
            warnings.simplefilter("default")  # each warning once
            warnings.showwarning = warn
            logs.addHandler(handler)
            # the modules first: the garbage collector is then told to leave what they made alone
            from ._convert import convert
            from ._jobs import cluster, process

            _prepare_long_run()
            bad_chunks = "fill" if args.fill_bad_chunks else "raise"
            if args.command == "convert":
                written = convert(args.source, args.target, bad_chunks=bad_chunks, axes=args.axes, options=options,
                                  progress=progress, storage_options=storage_options(args))
            else:
                steps = given_steps(parse_steps(args.steps))  # before a cluster starts
                with cluster(args.scheduler, args.workers) as client:
                    written = process(
                        args.source, args.target, steps, bad_chunks=bad_chunks, axes=args.axes, client=client,
                        options=options, progress=progress, storage_options=storage_options(args),
                    )
    except UnreadableChunkError as error:
        progress.end_line()
        print(f"napari-zarr-tiles {args.command}: {error}; --fill-bad-chunks writes the fill value in their place",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.end_line()
        print(f"napari-zarr-tiles {args.command}: stopped {progress.how_far()}; {_what_is_left(args, options)}",
              file=sys.stderr)
        return 130
    finally:
        logs.removeHandler(handler)
    if args.command == "process":
        from ._jobs import recorded_steps
        from .tiles._result import describe_steps

        # the steps as run: a threshold's computed value among them
        print(f"wrote {written}: {describe_steps(recorded_steps(written))}")
    else:
        print(f"wrote {written}")
    return 0


def _what_is_left(args: argparse.Namespace, options: WriteOptions) -> str:
    from ._options import partial_path  # light: Ctrl-C may have cut the writing core's imports short

    partial = partial_path(args.target)
    if options.resumable and partial.exists():
        return f"the unfinished store is kept at {partial}: run the same command again to resume"
    advice = "" if options.resumable else " (--resumable keeps an unfinished conversion to continue it)"
    return f"nothing was written to {args.target}{advice}"


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM, like Ctrl-C, raises KeyboardInterrupt in the main thread; a second signal is ignored, so that
    the clean-up the first one started (threads stopped, a temporary store removed) runs to its end."""

    def interrupt(signum, frame):
        for each in handled:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    # Only the main thread may set handlers (main() run from another thread keeps the process's own).
    handled = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    before = {each: signal.signal(each, interrupt) for each in handled}
    try:
        yield
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="a local dask.distributed cluster of N processes")


def run_measure(args: argparse.Namespace) -> None:
    """``measure``: the table, stored in the labels' group unless --no-table, and written as CSV with --csv."""
    from ._jobs import cluster
    from ._measure import measure

    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise TargetExistsError(f"{args.csv} exists", replaced_by="overwrite")
    if args.map_tile is not None and args.map_tile < 1:
        raise ValueError(f"--map-tile must be at least 1 pixel, not {args.map_tile}")
    if args.tile_maps is not None and args.tile_maps.exists() and not args.overwrite:
        raise TargetExistsError(f"{args.tile_maps} exists", replaced_by="overwrite")
    from ._location import locate

    read_only = locate(args.labels).scheme != "local"  # a URL or a zip store: a table cannot be stored there
    table = None if args.no_table or (read_only and args.table is None) else args.table or "objects"
    _prepare_long_run()
    with cluster(args.scheduler, args.workers):
        frame = measure(args.labels, args.intensity, table=table, overwrite=args.overwrite)
    print(f"measured {len(frame)} objects in {args.labels}")
    if table is not None:
        print(f"stored the table as tables/{table} in the label image's group")
    if args.csv is not None:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.tile_maps is not None:
        from ._tile_maps import write_tile_maps

        write_tile_maps(args.tile_maps, args.labels, args.intensity, tile=args.map_tile, table=frame,
                        overwrite=args.overwrite)
        print(f"wrote the per-tile maps to {args.tile_maps}")


def _prepare_long_run() -> None:
    """Settings for a command that writes a whole image, once its modules are imported (call it after them).

    The objects the imports made (a few hundred thousand, of numpy, dask, zarr, ...) are exempted from the
    garbage collector: they live until the command ends anyway, and every full collection during the write,
    and the last one at exit, would walk them all (half a second of a 6 s filter save). dask is told to
    rechunk by tasks: ours only merge or split neighbouring tiles, and otherwise dask imports
    dask.distributed (a quarter of a second) to look for a cluster that would rechunk another way.
    """
    import gc

    import dask

    dask.config.set({"array.rechunk.method": "tasks"})
    gc.freeze()


def path_or_url(text: str) -> Path | str:
    """A command-line path as a Path, a URL as it was typed (a Path would fold its ``//``)."""
    return text if "://" in text else Path(text)


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-option", action="append", default=[], metavar="KEY=VALUE",
        help="an option of a remote store, repeated for several: timeout=60s, region=eu-west-1, "
        "endpoint=https://HOST, access_key_id=..., secret_access_key=... (public buckets need none; "
        "credentials otherwise come from the AWS_* environment variables and ~/.aws)",
    )


def storage_options(args: argparse.Namespace) -> dict[str, str]:
    """``--storage-option KEY=VALUE ...`` as a mapping; a word without ``=`` is refused, naming it."""
    options = {}
    for word in args.storage_option:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise InvalidOptionError("storage_options", f"{{storage_options}} takes KEY=VALUE, not {word!r}")
        options[key] = value
    return options


def _add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fill-bad-chunks", action="store_true",
        help="write the fill value where a chunk of the source cannot be read (corrupt), or is missing from a store "
        "written complete, instead of stopping; the result records that it is not a clean copy",
    )
    parser.add_argument("--chunks", type=int, help="tile edge in pixels (default 1024 in 2D, 64x256x256 in 3D)")
    parser.add_argument("--compressor", choices=COMPRESSORS, help=COMPRESSOR_ADVICE)
    parser.add_argument("--level", type=int, help="compression level (default 3; gzip 6)")
    parser.add_argument("--ome-version", default="0.4", choices=("0.4", "0.5"), help="0.4: zarr v2; 0.5: zarr v3")
    parser.add_argument("--shards", type=int, help="zarr v3 only: this many tiles per shard along each axis")
    parser.add_argument("--no-pyramid", action="store_true", help="write level 0 only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")


def _write_options(args: argparse.Namespace) -> WriteOptions:
    """The write options of ``convert`` or ``process``, checked before any work (``process`` always resumes)."""
    return WriteOptions(
        tile=args.chunks, compressor=args.compressor, compression_level=args.level, ome_version=args.ome_version,
        shards=args.shards, with_pyramid=not args.no_pyramid, overwrite=args.overwrite,
        resumable=getattr(args, "resumable", True),
    )


def parse_steps(words: Sequence[str]) -> list[tuple[str, dict]]:
    """``median size=3 + gaussian sigma=2`` -> ``[("median", {"size": "3"}), ("gaussian", {"sigma": "2"})]``.

    Each step is a filter name, then its parameters; steps are joined by ``+``. A ``+`` with no step on one
    side, a parameter before any filter name and a parameter given twice are refused, naming the word.
    """
    steps: list[tuple[str, dict]] = []
    expecting_name = True  # at the start and after each '+'
    for word in words:
        if word == "+":
            if expecting_name:
                raise ValueError(f"'+' with no filter step before it: {' '.join(words)!r}")
            expecting_name = True
        elif "=" in word:
            if expecting_name:
                raise ValueError(f"{word!r} comes before a filter name")
            name, value = word.split("=", 1)
            if name in steps[-1][1]:
                raise ValueError(f"{name} is given twice to {steps[-1][0]} ({word!r})")
            steps[-1][1][name] = value
        else:
            if not expecting_name:
                raise ValueError(f"{word!r} follows the filter {steps[-1][0]}: join steps with '+', give parameters as NAME=VALUE")
            steps.append((word, {}))
            expecting_name = False
    if expecting_name:
        raise ValueError(f"'+' with no filter step after it: {' '.join(words)!r}" if steps else "no filter step given")
    return steps


def given_steps(steps: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """``steps`` as typed, refused where a parameter given would not be used (``value=100`` with the default
    method, otsu), or where one that only some choice uses is left out with that choice (``method=value``
    with no ``value=``): its default means nothing there. Python callers and the widgets pass every parameter,
    so this is the command line's check alone."""
    from .tiles._filters import get_filter

    for name, given in steps:
        flt = get_filter(name)
        values = flt.checked(**given)
        for parameter in flt.parameters:
            if parameter.used_when is None:
                continue
            choice = "=".join(parameter.used_when)
            if parameter.name in given and not parameter.used(values):
                raise ValueError(f"{name}: {parameter.name} is used only with {choice}")
            if parameter.name not in given and parameter.used(values):
                raise ValueError(f"{name} {choice}: give {parameter.name}=N")
    return steps


class TextProgress:
    """A text progress bar of tiles written, redrawn in place on standard error."""

    def __init__(self, width: int = 40) -> None:
        self.width = width
        self.shown = -1
        self.done = self.total = None
        self.line_open = False

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        percent = 100 * done // max(total, 1)
        if percent == self.shown:  # redraw once a percent, not once a tile
            return
        self.shown = percent
        filled = self.width * done // max(total, 1)
        self.line_open = done < total
        end = "" if self.line_open else "\n"
        print(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} tiles", end=end, file=sys.stderr)

    def end_line(self) -> None:
        """Close a bar left half drawn, so that what is printed next starts a line of its own."""
        if self.line_open:
            print(file=sys.stderr)
            self.line_open = False

    def how_far(self) -> str:
        if self.done is None:
            return "before writing any tile"
        return f"after {self.done} of {self.total} tiles"


def describe_filters() -> Iterator[str]:
    """Two lines per registered filter: its name and each parameter's default and range, then what it does
    with NaN and infinite pixels."""
    from .tiles._filters import FILTERS, NAN_BEHAVIOUR

    for flt in FILTERS.values():
        params = [_describe_parameter(parameter) for parameter in flt.parameters]
        yield f"{flt.name:24s} {' '.join(params) or '(no parameters)'}"
        yield f"{'':24s} NaN: {NAN_BEHAVIOUR[flt.name]}"


def _describe_parameter(parameter) -> str:
    if parameter.choices:
        text = f"{parameter.name}={parameter.default} {{{','.join(parameter.choices)}}}"
    elif parameter.minimum == -float("inf"):
        text = f"{parameter.name}={parameter.default:g}"
    else:
        text = f"{parameter.name}={parameter.default:g} [{parameter.minimum:g}..{parameter.maximum:g}]"
    if parameter.used_when is not None:
        text += f" (with {parameter.used_when[0]}={parameter.used_when[1]})"
    return text


def describe(path: Path | str, *, storage_options: dict | None = None) -> Iterator[str]:
    """Lines of text describing the store at ``path`` (a folder, a ``.zarr.zip`` file, a URL read with
    ``storage_options``), one per group and array, indented as a tree.

    Arrays that cannot be opened are listed as UNREADABLE with the reason; chunks not stored are counted
    (shards and the chunks inside them where sharded), and called DAMAGE in a store this plugin marked
    complete; in a remote store they are not counted (it would list every chunk), and that is said.
    """
    import zarr

    from ._errors import RemoteStoreError, UnreadableStoreError
    from ._location import locate
    from ._store import WRITER_MARKER, open_readonly, zip_root

    location = locate(path)
    if location.scheme == "zip" and location.path.is_file():
        zip_root(location.path)  # a zip file that cannot be read: nothing to describe
    try:
        root = open_readonly(path, storage_options=storage_options)
    except RemoteStoreError:
        raise  # the store did not answer: nothing to describe
    except UnreadableStoreError as error:  # a store whose one array zarr cannot open: described, not failed
        yield f"{path}"
        yield f"  /: UNREADABLE: {error.reason}"
        return
    yield f"{path} (zarr format {root.metadata.zarr_format})"
    if isinstance(root, zarr.Array):
        yield from _describe_array(root, "/", depth=1, complete=False)
        return
    marker = root.attrs.get(WRITER_MARKER)
    complete = isinstance(marker, dict) and marker.get("complete") is True
    damaged: list[str] = []
    yield from _describe_group(root, depth=1, complete=complete, damaged=damaged)
    if damaged:
        yield (
            f"DAMAGED: marked complete by napari-zarr-tiles, but {len(damaged)} array(s) have lost chunks "
            f"({', '.join(damaged)}); they read as the fill value"
        )


def _describe_group(group, depth: int, complete: bool = False, damaged: list[str] | None = None) -> Iterator[str]:
    from . import _ome
    from ._errors import UnreadableStoreError
    from ._reader import dataset_paths
    from ._store import WRITER_MARKER, group_members, prefetch_members

    indent = "  " * depth
    found = _ome.ome_block(group.attrs.asdict())
    if found is not None:
        version, block = found
        prefetch_members(group, dataset_paths(block))  # a remote store's levels in one round trip, not one each
        ome = f"OME-NGFF {version}" if version else "OME-NGFF (no version given)"
        if version and str(version) not in _ome.READ_VERSIONS:
            ome += " (not supported for opening)"
        multiscales = block.get("multiscales")
        if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
            axes = [_describe_axis(axis) for axis in multiscales[0].get("axes") or ()]
            if not axes and str(version) in _ome.UNNAMED_AXES_VERSIONS:
                implied = _implied_axes(group, block)
                axes = [f"{axis.name}:{axis.type}" for axis in implied] + [f"(implied by {version})"] if implied else []
            levels = len(multiscales[0].get("datasets") or ())
            yield f"{indent}{ome} image, {f'axes {chr(32).join(axes)}, ' if axes else ''}{levels} pyramid level(s)"
            problem = _multiscale_problem(group, version, block)
            if problem:
                yield f"{indent}MALFORMED: {problem}"
        elif "multiscales" in block:
            yield f"{indent}{ome} multiscales: MALFORMED, not a list of objects: {_short(multiscales)}"
        if "plate" in block:
            yield f"{indent}{ome} plate: {_plate_summary(block, group.path or '/')}"
        for key in ("labels", "bioformats2raw.layout", "well", "image-label"):
            if key in block:
                yield f"{indent}{ome} {key}: {_short(block[key])}"
    marker = group.attrs.get(WRITER_MARKER)
    # Labels made by new_labels: their chunks are written as they are painted, the others absent by design.
    sparse = isinstance(marker, dict) and marker.get("sparse") is True
    if isinstance(marker, dict):
        state = ("sparse labels (made empty to be painted: chunks not painted are absent by design and read as 0)"
                 if sparse else "complete" if marker.get("complete") else "INCOMPLETE (an unfinished write)")
        provenance = marker.get("provenance")
        yield f"{indent}written by napari-zarr-tiles: {state}{f'; {_short(provenance)}' if provenance else ''}"
        clean = (provenance or {}).get("clean", True)
        if clean is not True:  # said whole, not cut with the provenance
            filled = provenance.get("bad_chunks_filled")
            yield (f"{indent}NOT CLEAN: chunks of the source that could not be read were written as the fill value: "
                   f"{filled}" if clean is False else f"{indent}clean or not: not known ({filled})")
    try:
        members = group_members(group)
    except UnreadableStoreError as error:  # a remote group that cannot be listed: its OME metadata names some
        named = dataset_paths(found[1]) if found is not None else []
        yield f"{indent}members{' other than the OME levels' if named else ''} not listed: {error.reason}"
        members = group_members(group, names=named)
    for name, array in members.arrays:
        yield from _describe_array(array, name, depth, complete, damaged, sparse)
    for name, reason in members.unreadable:
        yield f"{indent}{name}: UNREADABLE: {reason}"
    for name, subgroup in members.groups:
        yield f"{indent}{name}/ (group)"
        yield from _describe_group(subgroup, depth + 1, complete, damaged)


def _plate_summary(block, where: str) -> str:
    """``8 rows x 12 columns (A1 to H12), 93 wells, up to 2 fields each``; MALFORMED and why where the reader
    would refuse the plate."""
    from . import _ome
    from ._errors import ZarrTilesError

    try:
        layout = _ome.parse_plate(block, where)
    except ZarrTilesError as error:
        return f"MALFORMED: {error}"
    rows, columns = layout.rows, layout.columns
    fields = f", up to {layout.field_count} fields each" if layout.field_count else ""
    return (f"{len(rows)} rows x {len(columns)} columns ({rows[0]}{columns[0]} to {rows[-1]}{columns[-1]}), "
            f"{len(layout.wells)} wells{fields}")


def _multiscale_problem(group, version, block) -> str | None:
    """What the reader would refuse in a supported multiscale block (levels missing, axes not matching the
    arrays), in its words; None when it is sound or its version is not one the reader opens."""
    from . import _ome
    from ._errors import ZarrTilesError
    from ._store import open_member

    if str(version or "0.4") not in _ome.READ_VERSIONS:
        return None

    def ndim(path: str) -> int | None:
        try:
            node = open_member(group, path, path)
        except (FileNotFoundError, ZarrTilesError):
            return None
        return getattr(node, "ndim", None)

    try:
        _ome.parse_multiscale(block, version, group.path or "/", ndim)
    except ZarrTilesError as error:
        return str(error)
    return None


def _describe_axis(axis) -> str:
    """``y:space``; OME-NGFF 0.3 named axes by plain strings (their kind by convention), 0.1 and 0.2 not at all
    (:func:`_implied_axes`)."""
    from . import _ome

    if isinstance(axis, dict):
        return f"{axis.get('name')}:{axis.get('type') or '-'}"
    return f"{axis}:{_ome.axis_type(str(axis), default=None) or '-'}"


def _implied_axes(group, block) -> tuple:
    """The axes OME-NGFF 0.1 and 0.2 imply for the image's first level (t, c, z, y, x); none where that level
    cannot be opened."""
    from . import _ome
    from ._errors import ZarrTilesError
    from ._store import open_member

    datasets = block["multiscales"][0].get("datasets") or ()
    path = datasets[0].get("path") if datasets and isinstance(datasets[0], dict) else None
    if not isinstance(path, str):
        return ()
    try:
        ndim = getattr(open_member(group, path, path), "ndim", None)
    except (FileNotFoundError, ZarrTilesError):
        return ()
    return _ome.implied_axes(_ome.UNNAMED_AXES_VERSIONS[0], ndim) if ndim else ()


def _describe_array(
    array, name: str, depth: int, complete: bool, damaged: list[str] | None = None, sparse: bool = False
) -> Iterator[str]:
    from ._store import codec_names, is_remote, missing_chunks

    shards = f" shards {array.shards}" if array.shards else ""
    if is_remote(array):
        stored = "chunks not counted (a remote store is not listed)"
    else:
        missing = missing_chunks(array)
        if array.shards:
            stored = (
                f"{missing.present}/{missing.expected} shards present "
                f"({missing.chunks_per_shard} chunks per shard, {array.nchunks} chunks in all)"
            )
        else:
            stored = f"{missing.present}/{missing.expected} chunks present"
        if missing.missing and sparse:
            stored += ", the others not painted (0)"
        elif missing.missing:
            stored += f", missing: {', '.join(missing.first_keys)}{', ...' if missing.missing > len(missing.first_keys) else ''}"
            if complete and damaged is not None:
                damaged.append(array.path or "/")
                stored += " (DAMAGED)"
    yield (
        f"{'  ' * depth}{name}: shape {array.shape} {array.dtype} chunks {array.chunks}{shards} "
        f"codecs [{', '.join(codec_names(array))}] zarr v{array.metadata.zarr_format}, {stored}"
    )


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


if __name__ == "__main__":
    sys.exit(main())
