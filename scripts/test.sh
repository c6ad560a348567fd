#!/usr/bin/env bash
# Set up (a .venv with the project and its dev extras) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k uplift -x`.
# A failed test is run again, up to twice, before it counts as failed (pytest-rerunfailures):
# a test that fails once on a busy machine and then passes shows as "rerun" in the summary
# (so flakiness stays visible) and does not stop a run with -x; one that keeps failing does.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/python -m pytest -q -ra --reruns 2 --reruns-delay 1 "$@"
