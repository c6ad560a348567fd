#!/usr/bin/env bash
# Set up (a .venv with the project and its dev extras) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k uplift -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/python -m pytest -q -ra "$@"
