#!/usr/bin/env bash
# Every full benchmark, in the order BENCHMARKS.md shows them; results go to benchmarks/results/.
# Run it on a quiet machine (timings). Needs ../shared/data (or $SKELETOR_DATA) and the
# dev extras (`bash scripts/test.sh` sets them up). About 35 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/skeletor
DATA=${SKELETOR_DATA:-../shared/data}
VIDEO=${VIDEO:-$DATA/videos/prompt2sign_human_signer.mp4}
$S bench accuracy --no-progress                                   # accuracy.json (all 36 test clips)
$S bench real --no-progress                                       # real.json (3 real videos vs MediaPipe world landmarks, 10 .pose clips)
$S bench noise --no-progress                                      # noise.json (real MediaPipe noise vs the simulated detector)
$S bench accuracy --no-progress --max-files 12 --lookaheads 0 2 4 8 \
  --curve-weights weights/skeletor_refiner_k8.onnx --json benchmarks/results/accuracy_curve.json --no-other-bodies
$S evaluate --weights weights/skeletor_refiner_paper.onnx weights/skeletor_refiner.onnx weights/skeletor_refiner_k8.onnx \
  weights/skeletor_refiner_bidir.onnx                              # paper_tables.json / .md (every refiner, one run)
$S bench refiner
$S bench latency --video "$VIDEO" --frames 300 --rounds 9
$S bench latency --video "$VIDEO" --frames 300 --rounds 2 --realtime --json benchmarks/results/latency_paced.json
$S bench latency --video "$VIDEO" --frames 300 --rounds 3 --pin --json benchmarks/results/latency_pinned.json
$S bench latency --video "$VIDEO" --frames 300 --rounds 3 --pin --detector-process --json benchmarks/results/latency_pinned_process.json
$S bench throughput --video "$VIDEO"
$S bench fanout
$S bench fanout --format binary --json benchmarks/results/fanout_binary.json
for f in json binary; do                                            # fanout_100[_binary][_fifo].json: the goal's case
  b=benchmarks/results/fanout_100$([ $f = binary ] && echo _binary || true)
  $S bench fanout --clients 100 100 --rates 30 --seconds 10 --no-stall-check --format $f --json $b.json
  if [ "$(id -u)" = 0 ] && command -v chrt >/dev/null; then       # the server with a core whenever it is runnable
    chrt -f 10 $S bench fanout --clients 100 100 --rates 30 --seconds 10 --no-stall-check --format $f --json ${b}_fifo.json
  fi
done
$S bench rig
$S bench soak --minutes 10                                        # soak.json
$S bench people --frames 80
$S bench probe --no-progress                                      # probe.json (skeletons cached in ~/.cache/skeletor/probe)
$S bench plot
