"""The ``napari-zarr-tiles`` command: ``info`` describes a store, ``demo`` shows the sample data in napari."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._errors import ZarrTilesError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napari-zarr-tiles", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="the tree of a zarr store: arrays, chunks, codecs, OME metadata")
    info.add_argument("path", type=Path)
    demo = commands.add_parser("demo", help="write the sample data as zarr and open it in napari")
    demo.add_argument("--screenshot", type=Path, help="save a screenshot of the window here (PNG) and quit")
    demo.add_argument(
        "--sample", choices=("cells", "big"), default="cells", help="the real 3-channel image, or the big synthetic one"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            for line in describe(args.path):
                print(line)
        else:
            run_demo(args.sample, args.screenshot)
    except (ZarrTilesError, FileNotFoundError) as error:
        print(f"napari-zarr-tiles: {error}", file=sys.stderr)
        return 1
    return 0


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

    from ._sample_data import big_synthetic, cells_ome_zarr_path

    viewer = napari.Viewer(show=True, title="napari-zarr-tiles demo")
    if sample == "cells":
        viewer.open(cells_ome_zarr_path(), plugin="napari-zarr-tiles")
    else:
        for data, kwargs, _ in big_synthetic():
            viewer.add_image(data, **kwargs)
    viewer.reset_view()
    if screenshot is None:
        napari.run()
        return
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(screenshot), canvas_only=False)
    print(f"saved {screenshot}")
    viewer.close()
