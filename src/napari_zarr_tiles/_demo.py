"""``napari-zarr-tiles demo``: the sample data in a napari window, the plugin's widgets driven as a person would."""

from __future__ import annotations

from pathlib import Path

from ._errors import ZarrTilesError

DEMO_TIMEOUT = 120.0  # seconds the demo waits for a widget's result (the filter's: the coarsest level's Li threshold)
PLUGIN = "napari-zarr-tiles"
PLATE_ZOOM = 2.5  # the plate demo's view: the whole plate, this much closer on the well opened


def run_demo(sample: str, screenshot: Path | None, *, timeout: float = DEMO_TIMEOUT) -> None:
    """Open a sample in a napari window through this plugin; with ``screenshot``, save the window and quit.

    "cells" opens the real three-channel image; "big" the 65536 x 65536 synthetic one; "filter" thresholds the
    big one lazily with the Tile filter widget; "segment" splits the real image's nuclei with the Segment
    widget and measures them with the Measure widget, coloured by area; "plate" opens a small HCS plate made of
    crops of the real image as a mosaic of its wells, and one well's field at full resolution with the Plate
    widget. Each widget's result is waited for at most ``timeout`` seconds.
    """
    import napari
    from qtpy.QtWidgets import QApplication

    from ._sample_data import big_synthetic, cells_ome_zarr_path, cells_plate_path

    viewer = napari.Viewer(show=True, title="napari-zarr-tiles demo")
    try:
        if sample in ("cells", "segment"):
            viewer.open(cells_ome_zarr_path(), plugin=PLUGIN)
        elif sample == "plate":
            viewer.open(cells_plate_path(), plugin=PLUGIN)
        else:
            for data, kwargs, _ in big_synthetic():
                viewer.add_image(data, **kwargs)
        try:
            if sample == "cells":
                viewer.window.add_plugin_dock_widget(PLUGIN, "Convert to zarr tiles")
            elif sample == "filter":
                _filter_the_big_sample(viewer, timeout)
            elif sample == "segment":
                _segment_and_measure_the_nuclei(viewer, timeout)
            elif sample == "plate":
                _open_a_well(viewer)
        except TimeoutError as error:
            raise ZarrTilesError(f"demo: {error}; the machine may be busy, try again") from None
        viewer.window.resize(1400, 850)
        # lay out the window and the dock widget (its status line grown to its text) first, so that the view
        # fits the canvas left to it: the posted layout requests, then the events they raise
        QApplication.sendPostedEvents()
        QApplication.processEvents()
        viewer.reset_view()
        if sample == "plate":  # closer, on the well opened, its neighbours around it
            (top, left), (bottom, right) = viewer.layers[-1].extent.world[:, -2:]
            viewer.camera.center = ((top + bottom) / 2, (left + right) / 2)
            viewer.camera.zoom *= PLATE_ZOOM
        if screenshot is None:
            napari.run()
            return
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(screenshot), canvas_only=False)
        print(f"saved {screenshot}")
    except BaseException:
        viewer.close()  # a failed demo leaves no window behind
        raise
    viewer.close()


def _filter_the_big_sample(viewer, timeout: float) -> None:
    _, tile_filter = viewer.window.add_plugin_dock_widget(PLUGIN, "Tile filter")
    tile_filter.choose("threshold", method="li")
    tile_filter.apply()
    tile_filter.wait(timeout=timeout).opacity = 0.5


def _segment_and_measure_the_nuclei(viewer, timeout: float) -> None:
    from ._sample_data import CELLS_CHANNELS

    nuclei = viewer.layers[CELLS_CHANNELS[0][0]]
    for layer in viewer.layers:
        layer.visible = layer is nuclei
    _, segment = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    segment.choose("voronoi_otsu", layer=nuclei, spot_sigma=3.0, outline_sigma=1.0)
    segment.apply()
    labels = segment.wait(timeout=timeout)
    _, measure = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure")
    measure.choose(labels, intensity=nuclei)
    measure.start()
    measure.wait(timeout=timeout)
    measure.choose_colour("area")


def _open_a_well(viewer) -> None:
    _, plate = viewer.window.add_plugin_dock_widget(PLUGIN, "Plate")
    plate.choose_well("B2")
    if not plate.open_field():
        raise ZarrTilesError(f"demo: the Plate widget did not open well B2's first field ({plate._status.value})")
