#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md, in one run on a machine with an NVIDIA GPU (about 5-8 minutes).
#
#   bash scripts/gpu_check.sh                 # PyPI reachable
#   WHEELS=.whl bash scripts/gpu_check.sh     # offline: a folder of wheels (pip download ... -d .whl)
#
# It makes its own virtual environment (.venv-gpu; GPU_VENV to change) with onnxruntime-gpu and
# TensorRT from PyPI INSTEAD of onnxruntime (the two onnxruntime packages provide the same module:
# never both in one environment), the project installed without its CPU onnxruntime, and torch
# taken from the system when it has a CUDA build. Then it runs `skeletor bench refiner` (every
# backend: torch eager / CUDA graphs, ONNX Runtime CPU / CUDA / TensorRT fp16) and
# `skeletor bench latency` with --provider cuda and --provider tensorrt, and writes JSON under
# benchmarks/results/gpu/. A provider that cannot start is an error in its own row, not a CPU
# number. With no NVIDIA GPU it says so, measures nothing and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${GPU_OUT:-benchmarks/results/gpu}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU found (nvidia-smi is missing or lists none); run it on a machine with one. Nothing measured." >&2
  exit 3
fi
PY=${PYTHON:-python3}
VENV=${GPU_VENV:-.venv-gpu}
DATA=${SKELETOR_DATA:-../shared/data}
VIDEO=${VIDEO:-$DATA/videos/prompt2sign_human_signer.mp4}
PIP_SRC=()
[ -n "${WHEELS:-}" ] && PIP_SRC=(--no-index --find-links "$WHEELS")
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
V="$VENV/bin/python"
# The project's runtime dependencies except the CPU onnxruntime, read from pyproject.toml.
mapfile -t DEPS < <("$V" - <<'PYEOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d.split("#")[0].strip() for d in deps if not d.lower().startswith("onnxruntime")))
PYEOF
)
"$V" -m pip install -q "${PIP_SRC[@]}" "${DEPS[@]}" onnxruntime-gpu tensorrt
"$V" -m pip install -q --no-deps --no-build-isolation -e .
"$V" - <<'PYEOF'
import onnxruntime as ort
print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers())
PYEOF
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv"
S=("$V" -m realtime.commands)
status=0
timeout 300 "${S[@]}" bench refiner --json "$OUT/refiner.json" || status=$?
for provider in cuda tensorrt; do
  timeout 240 "${S[@]}" bench latency --video "$VIDEO" --frames 300 --provider "$provider" \
    --json "$OUT/latency_$provider.json" || { echo "gpu_check: latency with --provider $provider failed" >&2; status=1; }
done
echo "gpu_check: results in $OUT (exit $status)"
exit $status
