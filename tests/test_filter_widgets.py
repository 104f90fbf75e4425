"""The "Tile filter" and "Save result to zarr" widgets in a real, shown napari viewer."""

import re

import numpy as np
import pytest
import tifffile
import zarr
from conftest import assert_same_result
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import disk, white_tophat

from napari_zarr_tiles._convert import convert
from napari_zarr_tiles._lazy import LazyView
from napari_zarr_tiles._store import WRITER_MARKER, store_name
from napari_zarr_tiles._widgets import RECIPE, SaveResultWidget, TileFilterWidget

pytestmark = pytest.mark.gui


def stored_at(level) -> str | None:
    """The store a layer's level reads from (a lazy view of a zarr array), None for pixels in memory."""
    return store_name(level.source.array) if isinstance(level, LazyView) else None


@pytest.fixture
def pyramid(tmp_path, blobs):
    """blobs tiled 2 x 2 (508 x 512) as OME-Zarr with 64-pixel tiles: four pyramid levels."""
    image = np.tile(blobs, (2, 2))
    tifffile.imwrite(tmp_path / "blobs.tif", image)
    return convert(tmp_path / "blobs.tif", tmp_path / "blobs.ome.zarr", tile=64), image


@pytest.fixture
def held_back(monkeypatch):
    """The Tile filter's results are built only once the returned event is set."""
    import threading

    from napari_zarr_tiles import _widgets

    release = threading.Event()
    build = _widgets.lazy_result

    def wait_then_build(*args):
        release.wait(30)
        return build(*args)

    monkeypatch.setattr(_widgets, "lazy_result", wait_then_build)
    return release


def wait_for(qtbot, widget):
    """Until the widget's worker has finished and its result has been handled in the GUI thread."""
    qtbot.waitUntil(lambda: not widget._status.value.endswith("..."), timeout=60_000)
    if isinstance(widget, SaveResultWidget):
        qtbot.waitUntil(lambda: widget._run.enabled, timeout=60_000)


def run_filter(viewer, qtbot, name, source=None, **params):
    """Run filter ``name`` with the Tile filter widget (on ``source``, else the first image); its result layer."""
    widget = TileFilterWidget(viewer)
    if source is not None:
        widget._layer.value = source
    widget._filter.value = name
    for parameter, value in params.items():
        getattr(widget._parameters, parameter).value = value
    widget.apply()
    wait_for(qtbot, widget)
    return widget.result_layer


def screenshot(viewer):
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3]


def test_tile_filter_shows_a_lazy_result_that_follows_its_parameters_then_saves_it(
    make_napari_viewer, qtbot, tmp_path, pyramid
):
    path, image = pyramid
    viewer = make_napari_viewer(show=True)
    viewer.open(path, plugin="napari-zarr-tiles")
    source = viewer.layers[0]
    tile_filter = TileFilterWidget(viewer)
    viewer.window.add_dock_widget(tile_filter)
    tile_filter._layer.value = source
    tile_filter._filter.value = "gaussian"
    tile_filter._parameters.sigma.value = 6.0
    tile_filter.apply()
    assert tile_filter.worker.pbar.total == 0  # napari's busy bar while the result is built
    wait_for(qtbot, tile_filter)

    result = tile_filter.result_layer
    assert result.name == "blobs gaussian(sigma=6.0)" and result.multiscale and len(result.data) == 4
    assert_same_result(np.asarray(result.data[0]), ndi.gaussian_filter(image.astype(np.float32), 6))
    # level 2 is the same filter with sigma scaled to that level, from level 2 of the source
    assert_same_result(
        np.asarray(result.data[2]), ndi.gaussian_filter(np.asarray(source.data[2]).astype(np.float32), 1.5)
    )
    source.visible = False
    shown = screenshot(viewer)
    source.visible, result.visible = True, False
    plain = screenshot(viewer)
    result.visible = True

    def sharpness(picture):
        return np.abs(np.diff(picture.astype(float).mean(axis=-1), axis=1)).mean()

    assert shown.std() > 5 and sharpness(shown) < 0.7 * sharpness(plain)  # the blurred result is drawn
    assert len(tile_filter.cache) > 0  # the drawn tiles are kept
    tile_filter._cache_mb.value = 0
    assert tile_filter.cache.budget == 0 and len(tile_filter.cache) == 0
    tile_filter._cache_mb.value = 256
    assert tile_filter.cache.budget == 256 * 2**20

    # Two quick changes: the layer follows the last one, even when the earlier change's result arrives last.
    # The workers' results are held as they reach the GUI thread, then handed to the widget newest first.
    arrived = []
    show = tile_filter._show
    tile_filter._show = arrived.append
    tile_filter._parameters.sigma.value = 9.0
    tile_filter._parameters.sigma.value = 2.0
    qtbot.waitUntil(lambda: len(arrived) == 2, timeout=60_000)
    tile_filter._show = show
    newer, earlier = sorted(arrived, key=lambda made: made[0] is not tile_filter._latest)
    assert earlier[0].steps[-1][1]["sigma"] == 9.0
    show(newer)
    show(earlier)  # late: dropped
    assert result.name == "blobs gaussian(sigma=2.0)" and tile_filter.result_layer is result
    assert_same_result(np.asarray(result.data[0]), ndi.gaussian_filter(image.astype(np.float32), 2))

    save = SaveResultWidget(viewer)
    viewer.window.add_dock_widget(save)
    assert save._layer.value is result
    save._target.value = tmp_path / "blurred.zarr"
    save._chunks.value = 128
    save.start()
    wait_for(qtbot, save)
    assert save._status.value == f"wrote {tmp_path / 'blurred.zarr'}", save._status.value
    stored = zarr.open_group(tmp_path / "blurred.zarr", mode="r")
    assert stored.attrs[WRITER_MARKER]["complete"] is True
    assert stored.attrs[WRITER_MARKER]["provenance"]["source"] == str(path)  # the file the layer came from
    assert_same_result(stored["0"][:], ndi.gaussian_filter(image.astype(np.float32), 2))
    assert result.metadata[RECIPE].saved == str(tmp_path / "blurred.zarr")  # now backed by the store
    assert stored_at(result.data[0]) == str(tmp_path / "blurred.zarr")
    viewer.open(tmp_path / "blurred.zarr", plugin="napari-zarr-tiles")
    np.testing.assert_array_equal(np.asarray(viewer.layers[-1].data[0]), stored["0"][:])


def test_a_threshold_value_is_offered_only_for_the_value_method(make_napari_viewer):
    widget = TileFilterWidget(make_napari_viewer())
    widget._filter.value = "threshold"
    assert not widget._parameters.value.enabled
    widget._parameters.method.value = "value"
    assert widget._parameters.value.enabled


def test_a_threshold_on_a_result_chains_and_shows_labels(make_napari_viewer, qtbot, pyramid):
    path, image = pyramid
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    median = run_filter(viewer, qtbot, "median", size=3)
    mask = run_filter(viewer, qtbot, "threshold", source=median)
    smoothed = ndi.median_filter(image, size=3)
    # the preview's threshold comes from the coarsest level of the chain, and is shown
    value = threshold_otsu(np.asarray(median.data[-1]))
    assert type(mask).__name__ == "Labels"
    named = re.fullmatch(r"blobs median\(size=3\) threshold\(method=otsu, value=(.+), polarity=brighter\)", mask.name)
    assert named and float(named[1]) == pytest.approx(value, rel=1e-5), mask.name
    np.testing.assert_array_equal(np.asarray(mask.data[0]), (smoothed > value).astype(np.uint8))


def test_cancel_keeps_the_unfinished_save_and_save_again_resumes_it(make_napari_viewer, qtbot, tmp_path, pyramid):
    path, image = pyramid
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    run_filter(viewer, qtbot, "maximum")
    save = SaveResultWidget(viewer)
    save._target.value = tmp_path / "max.zarr"
    save._chunks.value = 16  # over a thousand tiles: time to cancel after the first
    cancel_once = [True]

    def cancel(done, total):
        if done >= 1 and cancel_once[0]:
            cancel_once[0] = False
            save.cancel()

    save._relay.advanced.connect(cancel)
    save.start()
    wait_for(qtbot, save)
    assert "Save again to resume" in save._status.value
    assert (tmp_path / ".max.zarr.partial").exists() and not (tmp_path / "max.zarr").exists()
    save.start()
    wait_for(qtbot, save)
    assert save._status.value.startswith("wrote")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "max.zarr" / "0", mode="r")[:], ndi.maximum_filter(image, size=3))
    assert not (tmp_path / ".max.zarr.partial").exists()


def test_save_on_a_local_cluster_from_the_widget(make_napari_viewer, qtbot, tmp_path, pyramid):
    path, image = pyramid
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    run_filter(viewer, qtbot, "white_tophat", radius=4)
    save = SaveResultWidget(viewer)
    save._target.value = tmp_path / "tophat.zarr"
    save._chunks.value = 128
    save._workers.value = 2
    save._pyramid.value = False
    save.start()
    wait_for(qtbot, save)
    assert save._status.value.startswith("wrote"), save._status.value
    saved = viewer.layers[-1]  # single-scale now: a new layer reads the store, where the result was
    assert not saved.multiscale and saved.metadata[RECIPE].saved == str(tmp_path / "tophat.zarr")
    assert sorted(zarr.open_group(tmp_path / "tophat.zarr", mode="r").array_keys()) == ["0"]
    np.testing.assert_array_equal(
        zarr.open_array(tmp_path / "tophat.zarr" / "0", mode="r")[:], white_tophat(image, disk(4))
    )


def test_a_big_single_scale_layer_is_filtered_level_by_level(make_napari_viewer, qtbot, blobs):
    import dask.array as da

    big = da.from_array(np.tile(blobs, (24, 24)), chunks=1024)  # 6096 x 6144, beyond the 4096 lazy edge
    viewer = make_napari_viewer()
    viewer.add_image(big, name="big", contrast_limits=(0, 255))
    result = run_filter(viewer, qtbot, "gaussian", sigma=2.0)
    assert result.multiscale and [level.shape for level in result.data][:2] == [(6096, 6144), (3048, 3072)]
    assert max(result.data[-1].shape) <= 1024
    crop = np.asarray(big[1000:1200, 3000:3200])
    expected = ndi.gaussian_filter(crop.astype(np.float32), 2.0)[20:-20, 20:-20]  # the halo is 8
    assert_same_result(np.asarray(result.data[0][1020:1180, 3020:3180]), expected)


def test_a_result_chosen_as_input_chains_into_a_new_layer_and_a_saved_result_saves_again_and_chains(
    make_napari_viewer, qtbot, tmp_path, pyramid
):
    path, image = pyramid
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-zarr-tiles")
    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose("gaussian", sigma=2.0)
    tile_filter.apply()
    smooth = tile_filter.wait(timeout=60)
    save = SaveResultWidget(viewer)
    save._target.value = tmp_path / "smooth.zarr"
    save._chunks.value = 128  # a pyramid: the layer stays, reading the store
    save.start()
    wait_for(qtbot, save)
    assert smooth.metadata[RECIPE].saved == str(tmp_path / "smooth.zarr"), save._status.value
    assert save._layer.choices == (smooth,)

    # the saved result, chosen as input: a new layer next to it with both steps; the input stays as it was
    tile_filter.choose("threshold", layer=smooth, method="li", polarity="darker")
    tile_filter.apply()
    mask = tile_filter.wait(timeout=60)
    assert [layer.name for layer in viewer.layers][1:] == ["blobs gaussian(sigma=2.0)", mask.name]
    assert mask.name.startswith("blobs gaussian(sigma=2.0) threshold(method=li, value=")
    assert "(the preview's, from the coarsest level; Save computes it at full resolution)" in tile_filter._status.value
    assert smooth.metadata[RECIPE].steps == [("gaussian", {"sigma": 2.0})] and stored_at(smooth.data[0]) is not None
    tile_filter._parameters.method.value = "otsu"  # the chained result follows its parameters; the input stays
    mask_otsu = tile_filter.wait(timeout=60)
    assert mask_otsu is mask and len(viewer.layers) == 3 and "method=otsu" in mask.name
    assert smooth.name == "blobs gaussian(sigma=2.0)"

    # the chain saved: both steps and the threshold computed at full resolution, in the provenance
    save._layer.value = mask
    save._target.value = tmp_path / "mask.zarr"
    save.start()
    wait_for(qtbot, save)
    smoothed = ndi.gaussian_filter(image.astype(np.float32), 2.0)
    value = threshold_otsu(smoothed)
    steps = zarr.open_group(tmp_path / "mask.zarr", mode="r").attrs[WRITER_MARKER]["provenance"]["steps"]
    assert steps[0] == ["gaussian", {"sigma": 2.0}] and steps[1][0] == "threshold"
    assert steps[1][1] == {"method": "otsu", "value": pytest.approx(value, rel=1e-4), "polarity": "darker"}
    stored = zarr.open_array(tmp_path / "mask.zarr" / "0", mode="r")[:]
    assert np.mean(stored != (smoothed <= value)) < 1e-4  # float32 rounding may move a pixel at the threshold


def test_the_tile_filter_warns_once_of_an_input_with_nothing_to_show(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    said = []
    notification_manager.notification_ready.connect(said.append)
    try:
        viewer = make_napari_viewer()
        viewer.add_image(np.full((300, 300), np.nan, np.float32), name="empty", contrast_limits=(0, 1))
        tile_filter = TileFilterWidget(viewer)
        tile_filter.choose("gaussian", sigma=1.0)
        tile_filter.apply()
        tile_filter.wait(timeout=60)
        nothing = "every pixel read is NaN: there is nothing to show"
        assert tile_filter._status.value.splitlines()[1:] == [
            f"input empty: {nothing}", f"result empty gaussian(sigma=1.0): {nothing}"
        ]
        assert [str(note.message) for note in said] == [
            f"Tile filter: input empty: {nothing}", f"Tile filter: result empty gaussian(sigma=1.0): {nothing}"
        ]
        tile_filter._parameters.sigma.value = 1.5  # the same input again: said once only
        tile_filter.wait(timeout=60)
        assert len(said) == 2 and tile_filter._status.value == "updated empty gaussian(sigma=1.5)"
    finally:
        notification_manager.notification_ready.disconnect(said.append)


def test_wait_gives_up_after_its_timeout_and_the_result_still_comes(make_napari_viewer, held_back, blobs):
    viewer = make_napari_viewer()
    viewer.add_image(blobs, name="blobs")
    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose("minimum", size=3)
    tile_filter.apply()
    with pytest.raises(TimeoutError, match="no result of minimum after 0.3 s"):
        tile_filter.wait(timeout=0.3)
    held_back.set()
    result = tile_filter.wait(timeout=30)
    np.testing.assert_array_equal(np.asarray(result.data), ndi.minimum_filter(blobs, size=3))
    with pytest.raises(ValueError, match="has no parameter"):
        tile_filter.choose("minimum", sigma=3)


def test_an_input_removed_while_its_result_is_built_gets_no_result(make_napari_viewer, held_back, blobs):
    viewer = make_napari_viewer()
    viewer.add_image(blobs, name="blobs")
    viewer.add_image(blobs, name="other")
    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose("minimum", layer=viewer.layers["blobs"], size=3)
    tile_filter.apply()
    viewer.layers.remove("blobs")
    held_back.set()
    assert tile_filter.wait(timeout=30) is None
    assert [layer.name for layer in viewer.layers] == ["other"]
    assert tile_filter._status.value == "blobs was removed: its result is not added"


def test_a_threshold_of_an_all_nan_layer_fails_in_words_and_wait_raises_it(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((64, 64), np.nan, np.float32), name="empty", contrast_limits=(0, 1))
    tile_filter = TileFilterWidget(viewer)
    tile_filter.choose("threshold", method="li")
    tile_filter.apply()
    with pytest.raises(ValueError, match="every pixel is NaN or infinite"):
        tile_filter.wait(timeout=60)
    assert tile_filter._status.value.startswith("failed: threshold: every pixel is NaN or infinite")
    assert len(viewer.layers) == 1
