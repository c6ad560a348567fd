#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md, in one run on a machine with an NVIDIA GPU (about 5-8 minutes).
#
#   bash scripts/gpu_check.sh                 # PyPI reachable: everything below
#   WHEELS=.whl bash scripts/gpu_check.sh     # a folder holding every wheel needed (pip download ... -d .whl)
#   bash scripts/gpu_check.sh                 # no package index: what .gpu-carry brought (see "Offline")
#
# With a package index (or WHEELS) it makes its own virtual environment (.venv-gpu; GPU_VENV to
# change) with onnxruntime-gpu and TensorRT from PyPI INSTEAD of onnxruntime (the two
# onnxruntime packages provide the same module: never both in one environment), the project
# installed without its CPU onnxruntime, and torch taken from the system when it has a CUDA
# build. Then it runs `skeletor bench refiner` (every backend: torch eager / CUDA graphs, ONNX
# Runtime CPU / CUDA / TensorRT fp16, and a streaming push of the cached refiner on each) and
# `skeletor bench latency` with --provider cuda and --provider tensorrt, and writes JSON under
# benchmarks/results/gpu/. A provider that cannot start is an error in its own row, not a CPU
# number. With no NVIDIA GPU it says so, measures nothing and exits 3.
#
# Offline: when the package index (PIP_INDEX_URL, default https://pypi.org/simple) does not answer
# within 10 s and no WHEELS folder is given, as on a lent GPU machine that reaches nothing and
# takes at most 64 MiB a transfer, it runs from the source tree with that machine's own python3
# (PYTHON to change), which must have torch built for CUDA, numpy (2.x will do), scipy, numba,
# onnx and onnxruntime, plus what `bash scripts/gpu_wheels.sh download` laid out here and the
# device calls carried there (GPU_CARRY, default .gpu-carry): kit/ (MediaPipe, websockets and
# the video) and ort/ (the onnxruntime-gpu wheel in parts, put together and checked by SHA256).
# Those wheels go into a folder of their own (GPU_VENV/offline-site) first on PYTHONPATH, so the
# GPU build shadows the system's onnxruntime; the script checks that the onnxruntime imported is
# the GPU build before it measures. It runs `bench refiner` (torch CUDA
# rows; ONNX Runtime CUDA rows with ort/), and with kit/ `bench latency` with --provider cuda
# (with ort/) and --provider cpu (the live rate on a machine with cores to spare). TensorRT's
# libraries (gigabytes) cannot be carried: its rows say "not measured". Exit 4: offline and that
# python's torch sees no GPU.
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
INDEX=${PIP_INDEX_URL:-https://pypi.org/simple}

index_answers() {  # pip would wait PIP_DEFAULT_TIMEOUT (minutes) and retry; ask once, 10 s
  "$PY" - "$INDEX" <<'PYEOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/pip/", timeout=10).close()
PYEOF
}

bench_refiner() {  # PYTHON JSON: `skeletor bench refiner` from the source tree (no install; no websockets or MediaPipe needed)
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" timeout 300 "$1" - "$2" <<'PYEOF'
import argparse, sys
from benchmarks import refiner_bench
parser = argparse.ArgumentParser(prog="bench")
refiner_bench.add_bench_parser(parser.add_subparsers())
args = parser.parse_args(["refiner", "--json", sys.argv[1]])
sys.exit(args.run(args))
PYEOF
}

if [ -z "${WHEELS:-}" ] && ! index_answers; then
  echo "gpu_check: the package index $INDEX does not answer and no WHEELS folder was given: measuring what $PY and ${GPU_CARRY:-.gpu-carry} have" >&2
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    echo "gpu_check: offline, and $PY has no torch that sees the GPU: nothing can be measured without downloads" >&2
    exit 4
  fi
  CARRY=${GPU_CARRY:-.gpu-carry}
  SITE=$VENV/offline-site
  wheels=()
  [ -d "$CARRY/kit" ] && wheels+=("$CARRY"/kit/*.whl)
  [ -d "$CARRY/ort" ] && wheels+=("$(bash scripts/gpu_wheels.sh join "$CARRY/ort" "$(mktemp -d)")")
  if [ ${#wheels[@]} -gt 0 ]; then
    # A folder first on PYTHONPATH, not a venv: a venv made from that python3 (itself often a
    # venv) would see the base interpreter's packages, not its torch.
    "$PY" -m pip install -q --no-index --no-deps --upgrade --target "$SITE" "${wheels[@]}"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  fi
  if [ -d "$CARRY/ort" ]; then
    "$PY" - "$SITE" <<'PYEOF'
import os, sys
import onnxruntime as ort
where = os.path.realpath(ort.__file__)
if not where.startswith(os.path.realpath(sys.argv[1])) or "CUDAExecutionProvider" not in ort.get_available_providers():
    sys.exit(f"gpu_check: the onnxruntime imported is {where} with {ort.get_available_providers()}, not the GPU build carried in")
print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers())
PYEOF
  fi
  mkdir -p "$OUT"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv"
  status=0
  bench_refiner "$PY" "$OUT/refiner.json" || status=$?
  if [ -d "$CARRY/kit" ]; then
    providers=(cpu)
    [ -d "$CARRY/ort" ] && providers=(cuda cpu)
    for provider in "${providers[@]}"; do
      PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" timeout 240 "$PY" -m realtime.commands bench latency --video "$CARRY"/kit/*.mp4 --frames 300 \
        --rounds 2 --provider "$provider" --json "$OUT/latency_$provider.json" || { echo "gpu_check: latency with --provider $provider failed" >&2; status=1; }
    done
  else
    echo "not measured offline: no $CARRY/kit (MediaPipe, websockets, the video; scripts/gpu_wheels.sh download)" > "$OUT/latency_not_measured.txt"
  fi
  echo "gpu_check: results in $OUT (offline; exit $status)"
  exit $status
fi

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
