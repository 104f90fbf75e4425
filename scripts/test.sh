#!/usr/bin/env bash
# The test suite on a fresh machine: set up, then run every test, the real-viewer ones on a display
# (Xvfb where there is none). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/with-display.sh .venv/bin/python -m pytest -p no:cacheprovider "$@"
