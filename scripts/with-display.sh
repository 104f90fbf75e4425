#!/usr/bin/env bash
# Run a command with a display: the real one if there is one, else a virtual one (Xvfb).
set -euo pipefail
if [ -n "${DISPLAY:-}" ]; then
  exec "$@"
fi
exec xvfb-run -a -s "-screen 0 1400x1000x24" "$@"
