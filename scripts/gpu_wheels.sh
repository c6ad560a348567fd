#!/usr/bin/env bash
# The onnxruntime-gpu wheel for a GPU machine that reaches no package index, in parts small
# enough for a transfer limited to 64 MiB (the lent device machine: see scripts/gpu_check.sh).
#
#   bash scripts/gpu_wheels.sh download [DEST]   # here, with PyPI: fetch and split (default DEST .whl/onnxruntime-gpu)
#   bash scripts/gpu_wheels.sh split FILE DEST   # split any file into DEST/NAME.part-aa, -ab, ... + DEST/SHA256SUMS
#   bash scripts/gpu_wheels.sh join DIR OUTDIR   # put the parts back together in OUTDIR, checked; prints the file's path
#
# download fetches the wheel for the GPU machine's Python (GPU_PYTHON_VERSION, default 3.12;
# ORT_GPU_VERSION pins a release, default the newest) for x86-64 Linux, without its
# dependencies: the machine must already hold numpy, protobuf, flatbuffers, packaging and the
# CUDA libraries it was built for (the wheel's METADATA lists them under the extra "cuda").
# Parts are PART_MB megabytes (default 40: with the project's ~22 MB of tracked files one part
# travels per call). Each call then carries one part (`carry: [".whl/onnxruntime-gpu/NAME.part-ab"]`)
# and the parts stay on the warm machine for the next call.
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

case "${1:-}" in
  download)
    dest=${2:-$ROOT/.whl/onnxruntime-gpu}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON_VERSION:-3.12}" \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 -d "$tmp" "onnxruntime-gpu${ORT_GPU_VERSION:+==$ORT_GPU_VERSION}"
    split_file "$(ls "$tmp"/*.whl)" "$dest"
    echo "gpu_wheels: carry one part a call, then run: ORT_GPU_WHEEL=$dest bash scripts/gpu_check.sh" ;;
  split) [ $# -eq 3 ] || { echo "usage: gpu_wheels.sh split FILE DEST" >&2; exit 2; }; split_file "$2" "$3" ;;
  join) [ $# -eq 3 ] || { echo "usage: gpu_wheels.sh join DIR OUTDIR" >&2; exit 2; }; join_parts "$2" "$3" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
