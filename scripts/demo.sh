#!/usr/bin/env bash
# The main job on a fresh machine: set up, write the sample data as OME-Zarr, open it in napari through the
# plugin, threshold the big sample lazily with the Tile filter widget, segment and measure the sample's nuclei
# (Segment and Measure widgets), open a well of a small plate made of the sample (Plate widget), save
# screenshots of the window under
# docs/ (with no display, napari runs on Xvfb), and filter the sample headless with `process`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample cells --screenshot docs/screenshot-cells.png
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample big --screenshot docs/screenshot-big-synthetic.png
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample filter --screenshot docs/screenshot-tile-filter.png
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample segment --screenshot docs/screenshot-segment.png
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample plate --screenshot docs/screenshot-plate.png
samples="${TMPDIR:-/tmp}/napari-zarr-tiles"
.venv/bin/napari-zarr-tiles info "$samples/cells.ome.zarr"
# the same engine headless: a median then a Gaussian of the sample, tile by tile, into a new OME-Zarr
.venv/bin/napari-zarr-tiles process "$samples/cells.ome.zarr" "$samples/cells-smoothed.ome.zarr" \
  median size=3 + gaussian sigma=2 --chunks 256 --overwrite
.venv/bin/napari-zarr-tiles info "$samples/cells-smoothed.ome.zarr"
