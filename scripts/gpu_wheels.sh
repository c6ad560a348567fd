#!/usr/bin/env bash
# What scripts/gpu_check.sh needs on a GPU machine that reaches no package index and takes at
# most 64 MiB a transfer (the device machine this project may be lent), made here where PyPI is.
#
#   bash scripts/gpu_wheels.sh download [DEST]   # fetch and lay out DEST (default .gpu-carry, git-ignored)
#   bash scripts/gpu_wheels.sh split FILE DEST   # split a file into DEST/NAME.part-aa, -ab, ... + DEST/SHA256SUMS
#   bash scripts/gpu_wheels.sh join DIR OUTDIR   # put the parts back together in OUTDIR, checked; prints the file's path
#
# download makes, for the GPU machine's Python (GPU_PYTHON_VERSION, default 3.12; x86-64 Linux):
#   DEST/kit/     the wheels `bench latency` needs beyond that machine's own packages (MediaPipe
#                 and websockets, ~36 MB) and the benchmark's video (from SKELETOR_DATA, default
#                 ../shared/data): one transfer;
#   DEST/ort/     onnxruntime-gpu (ORT_GPU_VERSION, default the newest; ~256 MB) split into parts
#                 of PART_MB megabytes (default 40: one part and the project's ~22 MB of tracked
#                 files travel together), one transfer each.
# None of them brings its dependencies: the machine must hold numpy, scipy, numba, torch, onnx,
# protobuf 4.25-6.x (MediaPipe 0.10.21 runs with numpy 2 and protobuf 6 but not 7; onnx 1.23
# needs 6), matplotlib, opencv, jax and the CUDA libraries onnxruntime-gpu was built for. Carry one path a
# call (`carry: [".gpu-carry/kit", ".gpu-carry/ort/SHA256SUMS"]`, then each
# `.gpu-carry/ort/NAME.part-aa`, ...; download prints the list): what earlier calls carried stays
# on the warm machine. Then `bash scripts/gpu_check.sh` there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

split_file() {  # FILE DEST
  local file=$1 dest=$2 name
  name=$(basename "$file")
  mkdir -p "$dest"
  rm -f "$dest/$name".part-* "$dest/SHA256SUMS"
  (cd "$(dirname "$file")" && sha256sum "$name") > "$dest/SHA256SUMS"
  split -b "${PART_MB:-40}M" -a 2 "$file" "$dest/$name.part-"
  ls "$dest/$name".part-*
}

join_parts() {  # DIR OUTDIR
  local dir=$1 out=$2 name sums
  [ -f "$dir/SHA256SUMS" ] || { echo "gpu_wheels: $dir/SHA256SUMS is missing (not a folder made by 'split')" >&2; return 1; }
  name=$(awk 'NR == 1 {print $2}' "$dir/SHA256SUMS")
  name=${name#\*}
  compgen -G "$dir/$name.part-*" >/dev/null || { echo "gpu_wheels: no parts of $name in $dir" >&2; return 1; }
  mkdir -p "$out"
  cat "$dir/$name".part-* > "$out/$name"  # the glob sorts: -aa, -ab, ...
  sums="$(cd "$dir" && pwd)/SHA256SUMS"
  if ! (cd "$out" && sha256sum --quiet -c "$sums" >&2); then
    echo "gpu_wheels: $name put together from $dir does not match its SHA256 (a part missing or damaged)" >&2
    rm -f "$out/$name"
    return 1
  fi
  echo "$out/$name"
}

fetch() {  # DEST SPEC...: binary wheels for the GPU machine, without dependencies
  local dest=$1
  shift
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON_VERSION:-3.12}" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dest" "$@"
}

case "${1:-}" in
  download)
    dest=${2:-$ROOT/.gpu-carry}
    rm -rf "$dest/kit" "$dest/ort"
    mkdir -p "$dest/kit"
    fetch "$dest/kit" "mediapipe==0.10.21" "websockets>=13"
    cp "${SKELETOR_DATA:-$ROOT/../shared/data}/videos/prompt2sign_human_signer.mp4" "$dest/kit/"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    fetch "$tmp" "onnxruntime-gpu${ORT_GPU_VERSION:+==$ORT_GPU_VERSION}"
    split_file "$(ls "$tmp"/*.whl)" "$dest/ort" >/dev/null
    echo "gpu_wheels: carry one path a call, in this order, then run bash scripts/gpu_check.sh:"
    echo "  ${dest#"$ROOT"/}/kit ${dest#"$ROOT"/}/ort/SHA256SUMS ($(du -sm "$dest/kit" | cut -f1) MB)"
    for p in "$dest"/ort/*.part-*; do echo "  ${p#"$ROOT"/}"; done ;;
  split) [ $# -eq 3 ] || { echo "usage: gpu_wheels.sh split FILE DEST" >&2; exit 2; }; split_file "$2" "$3" ;;
  join) [ $# -eq 3 ] || { echo "usage: gpu_wheels.sh join DIR OUTDIR" >&2; exit 2; }; join_parts "$2" "$3" ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
