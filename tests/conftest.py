"""Fixtures that build small zarr stores in tmp_path, the way other tools write them.

OME metadata is written here by hand from the specification (and, in some tests, by ome-zarr-py), never by
this project's own writer, so that the reader is checked against an independent source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from numcodecs import Blosc

DATA = Path(__file__).parent / "data"

# The notebook's own storage choice (zarr v2, Blosc zstd bit-shuffle, 100x100 tiles).
NOTEBOOK_BLOSC = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)


@pytest.fixture(scope="session")
def blobs() -> np.ndarray:
    return tifffile.imread(DATA / "blobs.tif")


@pytest.fixture(scope="session")
def maize_labels() -> np.ndarray:
    return tifffile.imread(DATA / "maize_clsm_labels.tif")


def coarsen(image: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Take every second pixel along ``axes`` (a simple independent pyramid for fixtures)."""
    return image[tuple(slice(None, None, 2) if axis in axes else slice(None) for axis in range(image.ndim))]


def write_ome_image(
    root: zarr.Group,
    levels: list[np.ndarray],
    axes: list[dict],
    *,
    version: str,
    scale: list[float] | None = None,
    translate: list[float] | None = None,
    omero: dict | None = None,
    extra: dict | None = None,
    chunks: tuple[int, ...] | None = None,
) -> None:
    """Write ``levels`` and OME-NGFF ``version`` metadata into ``root`` as the specification describes."""
    ndim = levels[0].ndim
    scale = scale or [1.0] * ndim
    datasets = []
    for index, level in enumerate(levels):
        factor = [levels[0].shape[axis] / level.shape[axis] for axis in range(ndim)]
        kwargs = {"chunk_key_encoding": {"name": "v2", "separator": "/"}} if version == "0.4" else {}
        array = root.create_array(
            str(index), shape=level.shape, dtype=level.dtype, chunks=chunks or level.shape, **kwargs
        )
        array[...] = level
        transforms = [{"type": "scale", "scale": [s * round(f) for s, f in zip(scale, factor)]}]
        if translate:
            transforms.append({"type": "translation", "translation": translate})
        datasets.append({"path": str(index), "coordinateTransformations": transforms})
    multiscale = {"axes": axes, "datasets": datasets, "name": "image"}
    block = {"multiscales": [multiscale], **(extra or {})}
    if omero:
        block["omero"] = omero
    if version == "0.4":
        multiscale["version"] = "0.4"
        root.attrs.update(block)
    else:
        root.attrs.update({"ome": {"version": version, **block}})


def ome_group(path: Path, version: str) -> zarr.Group:
    return zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)


YX = [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
CYX = [{"name": "c", "type": "channel"}, *YX]


@pytest.fixture(autouse=True, scope="session")
def _discover_plugins():
    """Find installed manifests (this plugin's among them) as napari does at start-up."""
    import npe2

    npe2.PluginManager.instance().discover()


def assert_same_result(actual, expected, magnitude: float = 0.0) -> None:
    """The tiled result equals the whole-image one: bit for bit for integers, to float32 rounding for floats.

    Rounding is relative to the largest value the computation handled: the result's, or ``magnitude`` (the
    input's, for a difference of two large sums such as a difference of Gaussians)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if np.issubdtype(expected.dtype, np.floating):
        scale = max(1.0, magnitude, float(np.abs(expected).max()))
        np.testing.assert_allclose(actual, expected, rtol=0, atol=8 * np.finfo(np.float32).eps * scale)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.fixture
def faults(monkeypatch):
    """Rules for :class:`faults.FaultyStore`, through which every local store the plugin opens then goes."""
    from faults import Faults, FaultyStore
    from zarr.storage import LocalStore

    import napari_zarr_tiles._store
    import napari_zarr_tiles._writing

    rules = Faults()

    def faulty_local_store(*args, **kwargs):
        return FaultyStore(LocalStore(*args, **kwargs), rules)

    for module in (napari_zarr_tiles._store, napari_zarr_tiles._writing):
        monkeypatch.setattr(module, "LocalStore", faulty_local_store)
    return rules


def save_widget_for_a_result(viewer, name: str, **params):
    """A Save result widget of ``viewer`` with one result to save: ``name`` run by the Tile filter on the
    first image layer."""
    from napari_zarr_tiles._widgets import SaveResultWidget, TileFilterWidget

    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose(name, **params)
    tile_filter.apply()
    tile_filter.wait(timeout=60)
    return SaveResultWidget(viewer)
