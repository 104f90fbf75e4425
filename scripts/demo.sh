#!/usr/bin/env bash
# The main job on a fresh machine: set up, write the sample data as OME-Zarr, open it in napari through the
# plugin, and save screenshots of the window under docs/ (with no display, napari runs on Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample cells --screenshot docs/screenshot-cells.png
bash scripts/with-display.sh .venv/bin/napari-zarr-tiles demo --sample big --screenshot docs/screenshot-big-synthetic.png
.venv/bin/napari-zarr-tiles info "${TMPDIR:-/tmp}/napari-zarr-tiles/cells.ome.zarr"
