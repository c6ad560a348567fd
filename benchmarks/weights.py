"""``skeletor bench weights``: two refiner files side by side, as a retrained model is judged.

Before a retrained refiner replaces a shipped one it has to be better where users are, not
only on its own validation loss. This runs each file the way the tools do and scores it on
three sets:

* **simulated**: the public accuracy benchmark's test views (Bandai-Namco test split, one
  seeded virtual camera per clip, ``DetectorFaults()``): N-MPJPE (mm), acceleration error
  (mm/frame^2), bone-length CV (%), as ``skeletor bench accuracy`` scores them;
* **real noise**: the same clips seen by other seeded cameras through the noise measured on
  real MediaPipe output (``skeletor.eval.real_noise.faults_from_real`` of the ``.pose``
  files, at each view's shoulder width: correlated jitter, hands lost, a hand on the other
  arm), same scores;
* **real clips**: the real MediaPipe Holistic ``.pose`` clips (no 3D truth): jitter, arm
  bone CV and reprojection (% of the detected shoulder width), as the accuracy benchmark's
  ``real_clips``.

Causal files (``--mode causal``) run as ``skeletor clean`` (the streaming cleaner's
defaults); bidirectional files (``--mode offline``) as ``skeletor clean --offline`` (the
mean with the shipped causal pipeline). The first file is the reference; the table gives
each set's ratio new / reference.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, write_result

__all__ = ["real_noise_cases", "run_weights_bench", "add_bench_parser"]

SCORES = ("n_mpjpe_mm", "accel_mm", "bone_cv_pct")
REAL = ("jitter_mm", "arm_bone_cv_pct", "reprojection_pct_shoulder")


def real_noise_cases(paths: list[Path], seed: int = 7) -> list:
    """The clips of ``paths``, each seen by a seeded virtual camera through the real noise
    measured on the ``.pose`` files (``faults_from_real`` at the view's shoulder width)."""
    from benchmarks.accuracy import Case
    from skeletor.datasets import data_root
    from skeletor.datasets.bvh import load_bandai
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file
    from skeletor.eval.corrupt import detector_faults
    from skeletor.eval.real_noise import faults_for_view, measure_detector_noise
    from skeletor.eval.views import ViewConfig, random_view
    from skeletor.pose.skeleton import HOLISTIC75

    real = measure_detector_noise([load_pose_file(p) for p in list_pose_files(data_root() / "slp_pose_format")])
    cases = []
    for i, path in enumerate(paths):
        rng = np.random.default_rng([seed, i])
        motion = load_bandai(path)
        view = random_view(motion.positions, motion.fps, ViewConfig(), rng, name=path.stem)
        kp = detector_faults(view.keypoints.keypoints, HOLISTIC75, faults_for_view(real, view.keypoints.keypoints), rng)
        cases.append(Case(path.stem, view.truth, replace(view.keypoints, keypoints=kp), None))
    return cases


def run_weights_bench(weights: list[Path], mode: str = "causal", max_files: int | None = None, progress: bool = True) -> dict:
    """Scores of every file of ``weights`` on the three sets (see the module doc)."""
    from tqdm import tqdm

    from benchmarks.accuracy import OFFLINE, _offline, _streaming, make_cases, real_clip_scores, score
    from skeletor.datasets import data_root
    from skeletor.datasets.bvh import bandai_split, list_bandai

    _, test = bandai_split(list_bandai(data_root() / "bandai_namco"))
    test = test[:max_files] if max_files else test
    sets = {"simulated": make_cases(test, 0), "real noise": real_noise_cases(test)}
    rows = {}
    for w in weights:
        clean = (lambda seq, w=w: _streaming(seq, refiner=w)) if mode == "causal" else (lambda seq, w=w: _offline(seq, w))
        row: dict[str, dict[str, float]] = {}
        for name, cases in sets.items():
            scores = [score(clean(c.keypoints), c.truth) for c in tqdm(cases, desc=f"{w.name}: {name}", disable=not progress, leave=False)]
            row[name] = {k: float(np.mean([s[k] for s in scores])) for k in SCORES}
        if mode == "causal":
            real = real_clip_scores(w, max_clips=max_files)["streaming + refiner (default)"]
        else:
            real = real_clip_scores(None, max_clips=max_files, offline_weights=w)[OFFLINE]
        row["real clips"] = {k: float(real[k]) for k in REAL}
        rows[str(w)] = row
    ref = rows[str(weights[0])]
    ratios = {
        str(w): {s: {k: rows[str(w)][s][k] / ref[s][k] for k in ref[s]} for s in ref} for w in weights[1:]
    }  # fmt: skip
    return {"mode": mode, "files": [str(w) for w in weights], "test_clips": len(test), "rows": rows, "ratio_to_first": ratios}


def format_table(res: dict) -> str:
    lines = ["| file | set | " + " | ".join((*SCORES, *REAL)) + " |", "|---|---|" + "---:|" * (len(SCORES) + len(REAL))]
    for w, row in res["rows"].items():
        for s, vals in row.items():
            cells = [f"{vals[k]:.2f}" if k in vals else "" for k in (*SCORES, *REAL)]
            lines.append(f"| {Path(w).name} | {s} | " + " | ".join(cells) + " |")
    for w, ratio in res["ratio_to_first"].items():
        for s, vals in ratio.items():
            lines.append(f"{Path(w).name} / {Path(res['files'][0]).name}, {s}: " + ", ".join(f"{k} {v:.3f}x" for k, v in vals.items()))
    return "\n".join(lines)


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench weights``."""
    p = sub.add_parser("weights", help="two refiner files side by side (simulated, real-noise and real clips)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("weights", type=Path, nargs="+", help="refiner ONNX files; the first is the reference")
    p.add_argument("--mode", choices=("causal", "offline"), default="causal",
                   help="causal: as skeletor clean; offline: bidirectional files as skeletor clean --offline")  # fmt: skip
    p.add_argument("--max-files", type=int, default=None, help="first N test clips and real clips (smoke runs)")
    p.add_argument("--json", type=Path, default=RESULTS / "weights.json")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    missing = [w for w in args.weights if not w.is_file()]
    if missing:
        print(f"error: no such refiner file: {', '.join(map(str, missing))}")
        return 2
    t0 = time.time()
    res = run_weights_bench(list(args.weights), args.mode, args.max_files, progress=not args.no_progress)
    res["seconds"] = round(time.time() - t0, 1)
    write_result(args.json, res)
    print(format_table(res))
    print(f"wrote {args.json}")
    return 0
