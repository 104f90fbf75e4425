"""The ``napari-zarr-tiles`` command: ``info`` describes a store, ``demo`` shows the sample data in napari."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._errors import InvalidOptionError, ZarrTilesError
from ._store import WRITER_MARKER
from ._writing import COMPRESSOR_ADVICE, COMPRESSORS, WriteOptions

# The write options as this command's flags name them, for its error messages.
FLAGS = {
    "tile": "--chunks", "compressor": "--compressor", "compression_level": "--level", "ome_version": "--ome-version",
    "shards": "--shards", "with_pyramid": "--no-pyramid", "overwrite": "--overwrite", "resumable": "--resumable",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napari-zarr-tiles", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="the tree of a zarr store: arrays, chunks, codecs, OME metadata")
    info.add_argument("path", type=Path)
    convert = commands.add_parser(
        "convert", help="a TIFF or zarr store to tiled OME-Zarr with a pyramid, streamed tile by tile"
    )
    convert.add_argument("source", type=Path)
    convert.add_argument("target", type=Path)
    convert.add_argument(
        "--resumable", action="store_true",
        help="keep an interrupted conversion beside the target (.NAME.partial) and continue it when run again",
    )
    _add_write_options(convert)
    process = commands.add_parser(
        "process",
        help="filter a zarr store or TIFF tile by tile into OME-Zarr (resumable; on threads or a dask cluster)",
        description="Steps chain with '+': process SRC DST median size=3 + gaussian sigma=2. A save that was "
        "stopped continues where it stopped when run again with the same arguments.",
    )
    process.add_argument("source", type=Path)
    process.add_argument("target", type=Path)
    process.add_argument("steps", nargs="+", metavar="FILTER [NAME=VALUE ...]", help="see `napari-zarr-tiles filters`")
    where = process.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="a local dask.distributed cluster of N processes")
    _add_write_options(process)
    measure = commands.add_parser(
        "measure", help="the object table of a label image (area, centroid, bbox, intensity), tile by tile",
        description="One row per object, with scikit-image's regionprops_table columns (label, area, centroid-0, "
        "..., bbox-0, ..., intensity_mean, intensity_min, intensity_max, intensity_std), and the area and centroid "
        "in the labels' physical units. The table is stored in LABELS as tables/NAME.",
    )
    measure.add_argument("labels", type=Path, help="an OME-Zarr label image (or an image with labels/), a zarr array")
    measure.add_argument("--intensity", type=Path, metavar="IMAGE", help="an image of the labels' shape (or channels first): zarr or TIFF")
    measure.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the table here")
    storing = measure.add_mutually_exclusive_group()
    storing.add_argument("--table", default="objects", metavar="NAME", help="the stored table's name (default objects)")
    storing.add_argument("--no-table", action="store_true", help="do not store the table in LABELS")
    measure.add_argument("--overwrite", action="store_true", help="replace an existing table or CSV file")
    _add_cluster_options(measure)
    commands.add_parser("filters", help="the tile filters, with their parameters, defaults and ranges")
    demo = commands.add_parser("demo", help="write the sample data as zarr and open it in napari")
    demo.add_argument("--screenshot", type=Path, help="save a screenshot of the window here (PNG) and quit")
    demo.add_argument(
        "--sample", choices=("cells", "big", "filter"), default="cells",
        help="the real 3-channel image, the big synthetic one, or a lazy threshold of the big one (Tile filter)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            for line in describe(args.path):
                print(line)
        elif args.command == "filters":
            for line in describe_filters():
                print(line)
        elif args.command == "convert":
            from ._convert import convert as run_convert

            options = _write_options(args)
            _prepare_long_run()
            written = run_convert(args.source, args.target, options=options, progress=TextProgress())
            print(f"wrote {written}")
        elif args.command == "process":
            from ._jobs import cluster
            from ._jobs import process as run_process

            options = _write_options(args)
            _prepare_long_run()
            with cluster(args.scheduler, args.workers) as client:
                written = run_process(
                    args.source, args.target, parse_steps(args.steps), client=client, options=options,
                    progress=TextProgress(),
                )
            print(f"wrote {written}")
        elif args.command == "measure":
            run_measure(args)
        else:
            run_demo(args.sample, args.screenshot)
    except InvalidOptionError as error:
        print(f"napari-zarr-tiles {args.command}: {error.in_words(FLAGS)}", file=sys.stderr)
        return 2
    except (ZarrTilesError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"napari-zarr-tiles: {error}", file=sys.stderr)
        return 1
    return 0


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="a local dask.distributed cluster of N processes")


def run_measure(args: argparse.Namespace) -> None:
    """``measure``: the table, stored in the labels' group unless --no-table, and written as CSV with --csv."""
    from ._errors import TargetExistsError
    from ._jobs import cluster
    from ._measure import measure

    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise TargetExistsError(f"{args.csv} exists; pass --overwrite to replace it")
    table = None if args.no_table else args.table
    _prepare_long_run()
    with cluster(args.scheduler, args.workers):
        frame = measure(args.labels, args.intensity, table=table, overwrite=args.overwrite)
    print(f"measured {len(frame)} objects in {args.labels}")
    if table is not None:
        print(f"stored the table as tables/{table} in the label image's group")
    if args.csv is not None:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")


def _prepare_long_run() -> None:
    """Settings for a command that writes a whole image, once its modules are imported.

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


def _add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunks", type=int, help="tile edge in pixels (default 1024 in 2D, 64x256x256 in 3D)")
    parser.add_argument("--compressor", default="blosc-zstd", choices=COMPRESSORS, help=COMPRESSOR_ADVICE)
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
    """``median size=3 + gaussian sigma=2`` -> ``[("median", {"size": "3"}), ("gaussian", {"sigma": "2"})]``."""
    steps: list[tuple[str, dict]] = []
    for word in words:
        if word == "+":
            continue
        if "=" in word:
            if not steps:
                raise ValueError(f"{word!r} comes before any filter name")
            name, value = word.split("=", 1)
            steps[-1][1][name] = value
        else:
            steps.append((word, {}))
    return steps


class TextProgress:
    """A text progress bar of tiles written, redrawn in place on standard error."""

    def __init__(self, width: int = 40) -> None:
        self.width = width
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent == self.shown:  # redraw once a percent, not once a tile
            return
        self.shown = percent
        filled = self.width * done // max(total, 1)
        end = "\n" if done >= total else ""
        print(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} tiles", end=end, file=sys.stderr)


def describe_filters() -> Iterator[str]:
    """One line per registered filter: its name and each parameter's default and range."""
    from .tiles._filters import FILTERS

    for flt in FILTERS.values():
        params = [_describe_parameter(parameter) for parameter in flt.parameters]
        yield f"{flt.name:24s} {' '.join(params) or '(no parameters)'}"


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


def describe(path: Path) -> Iterator[str]:
    """Lines of text describing the store at ``path``, one per group and array, indented as a tree."""
    import zarr

    from ._store import open_readonly

    root = open_readonly(path)
    yield f"{path} (zarr format {root.metadata.zarr_format})"
    if isinstance(root, zarr.Array):
        yield from _describe_array(root, "/", depth=1)
    else:
        yield from _describe_group(root, depth=1)


def _describe_group(group, depth: int) -> Iterator[str]:
    from . import _ome
    from ._store import iter_arrays, iter_groups

    indent = "  " * depth
    found = _ome.ome_block(group.attrs.asdict())
    if found is not None:
        version, block = found
        multiscales = block.get("multiscales") or []
        if multiscales:
            axes = [f"{a.get('name')}:{a.get('type') or '-'}" for a in multiscales[0].get("axes", [])]
            levels = len(multiscales[0].get("datasets", []))
            yield f"{indent}OME-NGFF {version} image, axes {' '.join(axes)}, {levels} pyramid level(s)"
        for key in ("labels", "bioformats2raw.layout", "plate", "well", "image-label"):
            if key in block:
                yield f"{indent}OME-NGFF {version} {key}: {_short(block[key])}"
    marker = group.attrs.get(WRITER_MARKER)
    if isinstance(marker, dict):
        state = "complete" if marker.get("complete") else "INCOMPLETE (an unfinished write)"
        yield f"{indent}written by napari-zarr-tiles: {state}; {_short(marker.get('provenance') or {})}"
    for name, array in iter_arrays(group):
        yield from _describe_array(array, name, depth)
    for name, subgroup in iter_groups(group):
        yield f"{indent}{name}/ (group)"
        yield from _describe_group(subgroup, depth + 1)


def _describe_array(array, name: str, depth: int) -> Iterator[str]:
    from ._store import chunk_counts, codec_names

    present, expected = chunk_counts(array)
    shards = f" shards {array.shards}" if array.shards else ""
    yield (
        f"{'  ' * depth}{name}: shape {array.shape} {array.dtype} chunks {array.chunks}{shards} "
        f"codecs [{', '.join(codec_names(array))}] zarr v{array.metadata.zarr_format}, "
        f"{present}/{expected} chunks present"
    )


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def run_demo(sample: str, screenshot: Path | None) -> None:
    """Open a sample in a napari window through this plugin; with ``screenshot``, save the window and quit."""
    import napari
    from qtpy.QtWidgets import QApplication

    from ._sample_data import big_synthetic, cells_ome_zarr_path

    viewer = napari.Viewer(show=True, title="napari-zarr-tiles demo")
    if sample == "cells":
        viewer.open(cells_ome_zarr_path(), plugin="napari-zarr-tiles")
        viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Convert to zarr tiles")
    else:
        for data, kwargs, _ in big_synthetic():
            viewer.add_image(data, **kwargs)
    if sample == "filter":
        _, tile_filter = viewer.window.add_plugin_dock_widget("napari-zarr-tiles", "Tile filter")
        tile_filter._filter.value = "threshold"
        tile_filter._parameters.method.value = "li"
        tile_filter.apply()
        while tile_filter.result_layer is None and not tile_filter._status.value.startswith("failed"):
            QApplication.processEvents()
        if tile_filter.result_layer is not None:
            tile_filter.result_layer.opacity = 0.5

    viewer.window.resize(1400, 850)
    QApplication.processEvents()  # lay out the dock widget first, so the view fits the canvas left to it
    viewer.reset_view()
    if screenshot is None:
        napari.run()
        return
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(screenshot), canvas_only=False)
    print(f"saved {screenshot}")
    viewer.close()


if __name__ == "__main__":
    sys.exit(main())
