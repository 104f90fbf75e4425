#!/usr/bin/env python
"""Child process: time to the first frame of a lazy gaussian (sigma 2) layer over an OME-Zarr pyramid.

    python first_frame_filter.py PATH MODE

The pyramid is opened with this plugin first (not timed). Then, timed until the new layer is drawn in a real,
shown window: MODE "plugin" runs this plugin's Tile filter widget (Apply); MODE "dask-image" adds the layer a
person would build by hand, dask-image's gaussian_filter on each level with sigma scaled to it. Prints one
JSON line: seconds, peak resident memory (MB), the spread of the drawn pixels.
"""

import json
import resource
import sys
import time

import napari
from qtpy.QtWidgets import QApplication

path, mode = sys.argv[1], sys.argv[2]
viewer = napari.Viewer(show=True)
source = viewer.open(path, plugin="napari-zarr-tiles")[0]
viewer.screenshot(canvas_only=True, flash=False)  # the source's own first frame, not timed
start = time.perf_counter()
if mode == "plugin":
    from napari_zarr_tiles._widgets import TileFilterWidget

    widget = TileFilterWidget(viewer)
    widget._layer.value = source
    widget._filter.value = "gaussian"
    widget._parameters.sigma.value = 2.0
    widget.apply()
    while widget.result_layer is None:
        QApplication.processEvents()
        time.sleep(0.002)
else:
    import dask.array as da
    import numpy as np
    from dask_image import ndfilters

    levels = [
        ndfilters.gaussian_filter(da.asarray(level).astype(np.float32), 2.0 / 2**k) for k, level in enumerate(source.data)
    ]
    viewer.add_image(levels, multiscale=True, name="gaussian")
source.visible = False
frame = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "pixel_std": float(frame.std())}), flush=True)
viewer.close()  # waits for the widget's worker thread, so the process never exits under a running QThread
