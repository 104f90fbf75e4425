#!/usr/bin/env bash
# The test suite on a fresh machine: set up, then run every test, the real-viewer ones on a display
# (Xvfb where there is none), after the linter (ruff, configured in pyproject.toml). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
bash scripts/with-display.sh .venv/bin/python -m pytest -p no:cacheprovider "$@"
