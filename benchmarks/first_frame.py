#!/usr/bin/env python
"""Child process: open PATH in a real, shown napari window with one reader plugin; time it to the first frame.

    python first_frame.py PATH PLUGIN [PATH ...]

Several paths (napari's reader opening .npy files, say) are opened together, one layer each (napari's
``stack=False``). Prints one JSON line: seconds to the first drawn frame, MB read from disk (read_chars), peak resident memory
(MB), the spread of the drawn pixels (near zero means a flat frame) and the layers' contrast limits.
"""

import json
import resource
import sys
import time

import napari
import psutil

path, plugin, more = sys.argv[1], sys.argv[2], sys.argv[3:]
viewer = napari.Viewer(show=True)
process = psutil.Process()
read_before, start = process.io_counters().read_chars, time.perf_counter()
try:
    layers = viewer.open([path, *more] if more else path, plugin=plugin, stack=False)
    viewer.reset_view()
    frame = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
except Exception as error:  # noqa: BLE001 - a reader that refuses the input is a result here, not a crash
    print(json.dumps({"error": f"{type(error).__name__}: {str(error)[:200]}"}))
    sys.exit(0)
seconds = time.perf_counter() - start
print(
    json.dumps(
        {
            "seconds": seconds,
            "read_mb": (process.io_counters().read_chars - read_before) / 1e6,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "pixel_std": float(frame.std()),
            "multiscale": [bool(layer.multiscale) for layer in layers],
            "contrast_limits": [list(map(float, getattr(layer, "contrast_limits", []))) for layer in layers],
        }
    )
)
viewer.close()
