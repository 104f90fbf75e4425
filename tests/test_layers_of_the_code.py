"""The direction of the code: the engine knows no files, the writing core no napari, the package no Qt."""

import subprocess
import sys

import pytest


def modules_after_importing(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("napari_zarr_tiles", {"zarr", "napari", "qtpy", "dask", "skimage"}),
        ("napari_zarr_tiles.tiles", {"zarr", "napari", "qtpy", "magicgui"}),
        ("napari_zarr_tiles.tiles._result", {"zarr", "napari", "qtpy", "magicgui"}),
        ("napari_zarr_tiles._writing", {"napari", "qtpy", "magicgui"}),
        ("napari_zarr_tiles._jobs", {"napari", "qtpy", "magicgui"}),
        # the command line describes its options (--help) without the writing core: it loads when a command runs
        ("napari_zarr_tiles._cli", {"zarr", "dask", "numpy", "napari", "qtpy", "magicgui"}),
        ("napari_zarr_tiles._options", {"zarr", "dask", "numpy", "napari", "qtpy", "magicgui"}),
    ],
)
def test_importing_a_layer_imports_nothing_above_it(module, forbidden):
    loaded = top_level(modules_after_importing(module))
    assert module.split(".")[0] in loaded
    assert not loaded & forbidden, f"importing {module} imported {sorted(loaded & forbidden)}"
