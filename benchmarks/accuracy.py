"""Public accuracy benchmark: Bandai-Namco mocap -> virtual camera -> detector faults -> 3D.

Protocol (issue "Foundation"; reproduce with ``python -m benchmarks.accuracy``):

* Data: Bandai-Namco dataset-1, the fixed test split of ``skeletor.datasets.bvh.bandai_split``
  (by file; about 20 % of the files of every motion content). One view per file.
* Camera (``skeletor.eval.views``): pinhole, f = 1000 px, 1280x720, 2.5-3.5 m from the subject,
  yaw -60..60 deg around it, 0.3 m above the pelvis; the camera follows the subject's
  smoothed horizontal path so walking clips stay in range. Seeded per file.
* Detector model (``skeletor.eval.corrupt.DetectorFaults`` defaults): jitter sigma 2.5 px,
  ~10 % of frames dropped in bursts (mean 3), 5 % single joints dropped, 1 % outliers of
  30-80 px. Face and hand joints are absent (Bandai has none).
* Optional depth hint: MediaPipe gives every landmark a relative depth; ``--hint`` rows
  add a simulated one (``skeletor.eval.views.detector_depth_hint``: 10 cm noise + 5 cm bias).
* Scores on the 15 body joints (``skeletor.pose.skeleton.POSE_BODY_JOINTS``), every frame:
  N-MPJPE in mm (mid-hip root, one least-squares scale per sequence), acceleration error
  in mm/frame^2 after the same alignment, and bone-length CV in % (mean over body bones).

Methods: flat (2D at constant depth), the streaming uplift as ``skeletor clean --no-refine``
runs it (lookahead 0), the whole-sequence uplift, and the streaming uplift followed by a
One Euro filter whose parameters were tuned on training-split views; with the refiner,
also the refiner followed by that same filter (``skeletor clean --smooth``). With the
bidirectional refiner (``--offline-weights``, default the shipped
``weights/skeletor_refiner_bidir.onnx``), the offline rows: ``skeletor clean --offline``
(the same cleaner with the bidirectional model, 16 frames of future) with and without a
depth hint; also on the real clips.

Other bodies (``other_bodies`` in the results): every Bandai-Namco clip is of one mocap
skeleton, and so were the refiner's supervised pairs; people in front of a webcam are
built otherwise. Two checks score the uplift with and without the refiner on bodies the
test split does not have:

* the same test views made by a body with detector-like shoulders: the mid-shoulder ->
  shoulder bone x1.35 (shoulder half-width over the shoulder-hip length is 0.25 in
  Bandai-Namco and 0.33-0.34 in real MediaPipe detections, the ``.pose`` files);
* the PyMO walk (another performer and mocap skeleton, resampled 120 -> 30 fps) seen by
  12 seeded cameras. Its 3D is one of the refiner's self-supervised training sources, so
  this is "another skeleton", not unseen motion.

Real detections (``real_clips`` in the results; no 3D truth): every MediaPipe Holistic
``.pose`` file of ``slp_pose_format`` with >= 45 frames (sign language, 10 clips, 24-30 fps),
cleaned as ``skeletor clean`` does, scored on the upper body (nose, shoulders, elbows,
wrists): jitter (mean acceleration, mm/frame^2 at the uplift's assumed adult size), arm
bone-length CV, and the reprojection error (median distance between the detections and
the 3D result seen through the uplift's camera, in % of the detected shoulder width).
The row "hands in the body's window" is the refiner with ``RuntimeConfig.hands_apart``
off (one call with every joint), what ``hands_apart`` is measured against; "the
uplift's bone lengths" (here, on the test split and on the other bodies) is the refiner
with the rig's body bones from the uplift alone (``--refined-lengths 0``), what
``CleanerConfig.refined_lengths`` is measured against. ``real_clip_trace``: the arm bone
lengths of one of those clips frame by frame: the uplift, the refiner on the uplift's
lengths and the default (``skeletor bench plot`` draws them).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from skeletor.eval import metrics
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.datasets import data_root
from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai, load_pymo_walk
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.eval.baselines import one_euro, savgol, tune_one_euro
from skeletor.pose.keypoints import KeypointSequence
from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig
from skeletor.pose.skeleton import HOLISTIC75, POSE_BODY_JOINTS
from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig, default_offline_weights_path
from skeletor.cleaner.stream import SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.uplift import UpliftTree, flat_uplift, uplift_sequence
from skeletor.eval.views import ViewConfig, detector_depth_hint, random_view

__all__ = ["Case", "make_cases", "other_body_cases", "real_clip_scores", "score", "run_benchmark", "main", "add_bench_parser"]

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results"
BODY = np.array(POSE_BODY_JOINTS)
BODY_BONES = np.array([b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in POSE_BODY_JOINTS and c in POSE_BODY_JOINTS])


class Case:
    """One test clip seen by one virtual camera, with detector faults applied."""

    def __init__(self, name: str, truth: np.ndarray, keypoints: KeypointSequence, hint: np.ndarray) -> None:
        self.name, self.truth, self.keypoints, self.hint = name, truth, keypoints, hint

    def with_hint(self) -> KeypointSequence:
        """The keypoints with the simulated detector depth hint attached."""
        return replace(self.keypoints, depth=self.hint)


def _case(name: str, positions: np.ndarray, fps: float, rng: np.random.Generator, view: ViewConfig, faults: DetectorFaults) -> Case:
    v = random_view(positions, fps, view, rng, name=name)
    kp = detector_faults(v.keypoints.keypoints, HOLISTIC75, faults, rng)
    hint = detector_depth_hint(v.truth, kp[..., 2] > 0, view.focal_px, rng)
    return Case(name, v.truth, replace(v.keypoints, keypoints=kp), hint)


def make_cases(
    paths: list[Path],
    seed: int = 0,
    view: ViewConfig = ViewConfig(),
    faults: DetectorFaults = DetectorFaults(),
    proportions: np.ndarray | None = None,
) -> list[Case]:
    """Project and corrupt each clip (seeded by its position in ``paths`` and ``seed``).

    ``proportions``: (S,) factors for ``UpliftTree.rescale_bones`` (the same motion by a
    body of other proportions); None keeps the mocap's own.
    """
    cases, tree = [], UpliftTree()
    for i, path in enumerate(paths):
        motion = load_bandai(path)
        body = motion.positions if proportions is None else tree.rescale_bones(motion.positions, proportions)
        cases.append(_case(path.stem, body, motion.fps, np.random.default_rng([seed, i]), view, faults))
    return cases


DETECTOR_SHOULDERS = 1.35  # shoulder half-width / shoulder-hip length: 0.335 (real MediaPipe) / 0.25 (Bandai-Namco)


def other_body_cases(paths: list[Path], seed: int = 0, pymo_views: int = 12) -> dict[str, list[Case]]:
    """The "other bodies" checks (see the module doc): name -> cases."""
    tree = UpliftTree()
    wide = np.ones(tree.num_shared)
    wide[tree.shared_id("left_shoulder")] = DETECTOR_SHOULDERS
    walk = load_pymo_walk()
    stride = max(1, round(walk.fps / 30.0))  # a webcam's 30 fps
    pymo = [_case(f"pymo_walk/view{i}", walk.positions[::stride], walk.fps / stride, np.random.default_rng([seed, 1000 + i]),
                  ViewConfig(), DetectorFaults()) for i in range(pymo_views)]  # fmt: skip
    return {f"Bandai test, shoulders x{DETECTOR_SHOULDERS}": make_cases(paths, seed, proportions=wide), f"PyMO walk, {pymo_views} views": pymo}


# The refiner with the rig's lengths from the uplift alone: what ``CleanerConfig.refined_lengths`` is measured against.
UPLIFT_LENGTHS = "streaming + refiner, the uplift's bone lengths (--refined-lengths 0)"
REAL_UPPER = [0, 11, 12, 13, 14, 15, 16]  # nose, shoulders, elbows, wrists: in view in every real clip
REAL_ARM_BONES = np.array([b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in REAL_UPPER[1:] and c in REAL_UPPER[1:]])


OFFLINE = "offline: whole-file uplift + bidirectional refiner (skeletor clean --offline)"


def real_clip_scores(
    weights: Path | None, max_clips: int | None = None, min_frames: int = 45, offline_weights: Path | None = None
) -> dict[str, dict[str, float]]:
    """The real-detections check (see the module doc): method -> mean scores over the clips."""
    clips = [c for c in (load_pose_file(p) for p in list_pose_files(data_root() / "slp_pose_format")) if len(c.keypoints) >= min_frames]
    clips = clips[:max_clips] if max_clips else clips
    configs = {"streaming uplift": (CleanerConfig(refine=False), True)}  # name -> (settings, hands apart)
    if weights is not None:
        configs["streaming + refiner, hands in the body's window"] = (CleanerConfig(runtime=RuntimeConfig(weights=weights)), False)
        configs["streaming + refiner, no detection pull"] = (CleanerConfig(runtime=RuntimeConfig(weights=weights), detection_pull=0.0), True)
        configs[UPLIFT_LENGTHS] = (CleanerConfig(runtime=RuntimeConfig(weights=weights), refined_lengths=0.0), True)
        configs["streaming + refiner (default)"] = (CleanerConfig(runtime=RuntimeConfig(weights=weights)), True)
        configs["streaming + refiner, --smooth"] = (CleanerConfig(runtime=RuntimeConfig(weights=weights), smoothing=SMOOTHING), True)
    if offline_weights is not None:
        configs[OFFLINE] = (CleanerConfig(runtime=RuntimeConfig(weights=offline_weights)), True)
    out = {}
    for name, (cfg, apart) in configs.items():
        offline = OfflineCleaner(OfflineConfig.from_cleaner(cfg, explicit_weights=True)) if name == OFFLINE else None
        refiner = OnnxRefiner(replace(cfg.runtime, hands_apart=apart)) if cfg.refine and offline is None else None
        rows, cleaner = [], StreamingCleaner(cfg, refiner=refiner) if offline is None else None
        for seq in clips:
            if offline is not None:
                poses = offline.clean(seq).poses3d
            else:
                cleaner.reset()
                poses = clean_sequence(seq, cleaner).poses3d
            kp = seq.keypoints[:, REAL_UPPER]
            err = metrics.reprojection_error(poses[:, REAL_UPPER], kp, cfg.uplift.focal_length(seq.image_size), seq.image_size)
            both = (seq.keypoints[:, 11, 2] >= 0.5) & (seq.keypoints[:, 12, 2] >= 0.5)
            shoulder_px = np.median(np.linalg.norm(seq.keypoints[both, 11, :2] - seq.keypoints[both, 12, :2], axis=-1))
            rows.append({
                "jitter_mm": 1000 * metrics.jitter(poses[:, REAL_UPPER]),
                "arm_bone_cv_pct": 100 * metrics.bone_length_cv(poses, HOLISTIC75, bones=REAL_ARM_BONES),
                "reprojection_pct_shoulder": 100 * float(np.median(err)) / shoulder_px,
            })  # fmt: skip
        out[name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"clips": len(clips)}
    return out


TRACE_CLIP = "mediapipe_long.pose"  # the longest real clip of the set (278 frames, a seated signer)
TRACE_BONES = {"left upper arm": (11, 13), "left forearm": (13, 15)}  # name -> (parent, child) holistic75 joints


def real_clip_trace(weights: Path | None, clip: str = TRACE_CLIP) -> dict:
    """Arm bone lengths frame by frame on one real clip, as ``skeletor clean`` outputs them
    (``real_clip_trace`` in the results, drawn by ``skeletor bench plot``): the uplift's,
    and with the refiner the rig of the uplift's lengths and the default rig (body bones
    half from the refiner's own lengths). Metres at the uplift's assumed adult size."""
    seq = load_pose_file(data_root() / "slp_pose_format" / clip)
    configs = {"streaming uplift": CleanerConfig(refine=False)}
    if weights is not None:
        configs[UPLIFT_LENGTHS] = CleanerConfig(runtime=RuntimeConfig(weights=weights), refined_lengths=0.0)
        configs["streaming + refiner (default)"] = CleanerConfig(runtime=RuntimeConfig(weights=weights))
    series = {}
    for name, cfg in configs.items():
        poses = clean_sequence(seq, StreamingCleaner(cfg)).poses3d
        series[name] = {bone: [round(float(x), 5) for x in np.linalg.norm(poses[:, c] - poses[:, p], axis=-1)] for bone, (p, c) in TRACE_BONES.items()}
    return {"clip": clip, "fps": float(seq.fps), "frames": len(seq), "series": series}


def _aligned(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body joints, mid-hip centred, pred scaled by one least-squares factor (as N-MPJPE does)."""
    p = pred[:, BODY] - 0.5 * (pred[:, [23]] + pred[:, [24]])
    g = gt[:, BODY] - 0.5 * (gt[:, [23]] + gt[:, [24]])
    ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
    s = (p[ok] * g[ok]).sum() / max((p[ok] ** 2).sum(), 1e-12)
    return s * p, g


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """N-MPJPE (mm), acceleration error (mm/frame^2) and bone CV (%) on the body joints."""
    p, g = _aligned(pred, gt)
    return {
        "n_mpjpe_mm": 1000 * metrics.n_mpjpe(pred[:, BODY], gt[:, BODY], root=(7, 8)),
        "accel_mm": 1000 * metrics.accel_error(p, g),
        "bone_cv_pct": 100 * metrics.bone_length_cv(pred, HOLISTIC75, bones=BODY_BONES),
    }


def _streaming(seq: KeypointSequence, lookahead: int = 0, refiner: Path | None = None, smooth: bool = False,
               refined_lengths: float = CleanerConfig.refined_lengths) -> np.ndarray:  # fmt: skip
    cleaner = StreamingCleaner(CleanerConfig(lookahead=lookahead, refine=refiner is not None, runtime=RuntimeConfig(weights=refiner),
                                             smoothing=SMOOTHING if smooth else None, refined_lengths=refined_lengths))  # fmt: skip
    return clean_sequence(seq, cleaner).poses3d


def _offline(seq: KeypointSequence, weights: Path) -> np.ndarray:
    """``skeletor clean --offline --weights WEIGHTS`` on ``seq``: (T, 75, 3) metres."""
    return OfflineCleaner(OfflineConfig(runtime=RuntimeConfig(weights=weights))).clean(seq).poses3d


def run_benchmark(
    cases: list[Case],
    tune_cases: list[Case],
    progress: bool = True,
    weights: Path | None = None,
    lookaheads: tuple[int, ...] = (),
    curve_weights: tuple[Path, ...] = (),
    other_bodies: dict[str, list[Case]] | None = None,
    offline_weights: Path | None = None,
) -> dict:
    """Score every method on ``cases``; ``tune_cases`` (training split) tune the One Euro filter.

    Args:
        cases: the test views.
        tune_cases: training-split views for tuning the One Euro baseline.
        progress: tqdm bars.
        weights: refiner ONNX; adds the "streaming + refiner" rows (None = no refiner rows).
        lookaheads: extra frames of delay for the accuracy-vs-latency curve (uplift and
            refiner; a centred Savitzky-Golay of window 2K+1 as the baseline at delay K).
            With the causal ``weights`` the delay goes to the uplift (it smooths its
            depth signs over K frames).
        curve_weights: refiners trained with a lookahead of their own (``skeletor train
            --lookahead K``); each adds a curve row at every delay >= its K, the rest of
            the delay going to the uplift.
        other_bodies: name -> cases of bodies unlike the test split's (``other_body_cases``),
            scored with the streaming uplift and, given ``weights``, the refiner.
        offline_weights: a bidirectional refiner ONNX; adds the ``skeletor clean --offline``
            rows (None = none).
    """
    from tqdm import tqdm

    fps = cases[0].keypoints.fps
    # Tune One Euro on training views (streaming uplift output vs truth, scale-aligned).
    raw, clean = [], []
    for c in tune_cases:
        p, g = _aligned(_streaming(c.keypoints), c.truth)
        raw.append(p)
        clean.append(g)
    t = min(len(r) for r in raw)
    params, _ = tune_one_euro(np.stack([r[:t] for r in raw]), np.stack([c[:t] for c in clean]), fps)
    log.info("tuned One Euro: %s", params)

    def euro(seq: KeypointSequence) -> np.ndarray:
        # The filter is applied in metres to the uplift's camera-frame output.
        return one_euro(_streaming(seq), seq.fps, params.min_cutoff, params.beta, params.d_cutoff)

    methods: dict[str, Callable[[Case], np.ndarray]] = {
        "flat": lambda c: flat_uplift(c.keypoints).poses3d,
        "streaming uplift": lambda c: _streaming(c.keypoints),
        "whole-sequence uplift": lambda c: uplift_sequence(c.keypoints).poses3d,
        "streaming + One Euro (tuned)": lambda c: euro(c.keypoints),
    }
    if weights is not None:
        methods["streaming + refiner"] = lambda c: _streaming(c.keypoints, 0, weights)
        methods["streaming + refiner, --smooth"] = lambda c: _streaming(c.keypoints, 0, weights, smooth=True)
        methods[UPLIFT_LENGTHS] = lambda c: _streaming(c.keypoints, 0, weights, refined_lengths=0.0)
    methods["streaming uplift, depth hint"] = lambda c: _streaming(c.with_hint())
    methods["whole-sequence uplift, depth hint"] = lambda c: uplift_sequence(c.with_hint()).poses3d
    if weights is not None:
        methods["streaming + refiner, depth hint"] = lambda c: _streaming(c.with_hint(), 0, weights)
    if offline_weights is not None:
        methods[OFFLINE] = lambda c: _offline(c.keypoints, offline_weights)
        methods[f"{OFFLINE}, depth hint"] = lambda c: _offline(c.with_hint(), offline_weights)
    curve: dict[str, dict[str, Callable[[Case], np.ndarray]]] = {}
    trained_k = {w: OnnxRefiner(RuntimeConfig(weights=str(w))).lookahead for w in curve_weights}
    for k in lookaheads:
        row: dict[str, Callable[[Case], np.ndarray]] = {f"uplift, lookahead {k}": (lambda c, k=k: _streaming(c.keypoints, k))}
        if weights is not None:
            row[f"uplift + refiner, lookahead {k}"] = lambda c, k=k: _streaming(c.keypoints, k, weights)
        for w, wk in trained_k.items():
            if k >= wk:
                row[f"uplift + refiner trained with k={wk}, lookahead {k}"] = lambda c, k=k, w=w: _streaming(c.keypoints, k, w)
        if k > 0:
            row[f"Savitzky-Golay window {2 * k + 1}"] = lambda c, k=k: savgol(_streaming(c.keypoints), 2 * k + 1, 2)
        curve[str(k)] = row

    def score_all(name: str, fn: Callable[[Case], np.ndarray], on: list[Case] = cases) -> dict[str, float]:
        scores, t0, frames = [], time.perf_counter(), 0
        for c in tqdm(on, desc=name, disable=not progress, leave=False):
            pred = fn(c)
            if not np.isfinite(pred[:, BODY]).all():
                raise AssertionError(f"{name} left NaN in {c.name}")
            scores.append(score(pred, c.truth))
            frames += len(c.truth)
        ms = 1000 * (time.perf_counter() - t0) / frames
        return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]} | {"ms_per_frame": ms}

    rows = {name: score_all(name, fn) for name, fn in methods.items()}
    curves = {k: {name: score_all(name, fn) for name, fn in row.items()} for k, row in curve.items()}
    out = {"one_euro": {"min_cutoff": params.min_cutoff, "beta": params.beta, "d_cutoff": params.d_cutoff}, "methods": rows}
    if curves:
        out["lookahead_curve"] = curves
    if other_bodies:
        body_methods = {name: methods[name] for name in ("streaming uplift", UPLIFT_LENGTHS, "streaming + refiner", OFFLINE) if name in methods}
        out["other_bodies"] = {group: {name: score_all(f"{group}: {name}", fn, on) for name, fn in body_methods.items()}
                               for group, on in other_bodies.items()}  # fmt: skip
    return out


def format_table(result: dict) -> str:
    """Markdown table of a ``run_benchmark`` result."""
    lines = ["| method | N-MPJPE mm | accel mm/frame^2 | bone CV % | ms/frame |", "|---|---:|---:|---:|---:|"]
    for name, r in result["methods"].items():
        lines.append(f"| {name} | {r['n_mpjpe_mm']:.1f} | {r['accel_mm']:.2f} | {r['bone_cv_pct']:.2f} | {r['ms_per_frame']:.2f} |")
    return "\n".join(lines)


def _add_options(ap: argparse.ArgumentParser) -> None:
    """The benchmark's options, shared by ``python -m benchmarks.accuracy`` and ``skeletor bench accuracy``."""
    ap.add_argument("--data", type=Path, default=None, help="shared data folder (default: $SKELETOR_DATA or ../shared/data)")
    ap.add_argument("--max-files", type=int, default=None, help="use only the first N test files (smoke runs)")
    ap.add_argument("--tune-files", type=int, default=12, help="training files used to tune the One Euro filter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=RESULTS / "accuracy.json", help="where to write the results")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--weights", type=Path, default=None, help="refiner ONNX (default: the shipped weights, if present)")
    ap.add_argument("--no-refiner", action="store_true", help="leave out the refiner rows (causal and offline)")
    ap.add_argument("--offline-weights", type=Path, default=None,
                    help="bidirectional refiner ONNX for the `skeletor clean --offline` rows (default: the shipped "
                    "weights/skeletor_refiner_bidir.onnx, if present)")  # fmt: skip
    ap.add_argument("--lookaheads", type=int, nargs="*", default=[], help="delays K for the accuracy-vs-latency curve, e.g. 0 2 4 8")
    ap.add_argument("--curve-weights", type=Path, nargs="*", default=[],
                    help="more refiner ONNX files trained with a lookahead (skeletor train --lookahead K) for the curve")  # fmt: skip
    ap.add_argument("--no-other-bodies", action="store_true",
                    help="leave out the other-bodies checks (test views with detector-like shoulders, PyMO walk views, real MediaPipe clips)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write ``benchmarks/results/accuracy.json``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(ap)
    return run(ap.parse_args(argv), argv)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run the benchmark with parsed options (``argv`` only goes into the results' ``command``)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.data is not None:
        import os

        os.environ["SKELETOR_DATA"] = str(args.data)
    train, test = bandai_split(list_bandai(data_root() / "bandai_namco"))
    test = test[: args.max_files] if args.max_files else test
    tune = train[:: max(1, len(train) // args.tune_files)][: args.tune_files]
    t0 = time.time()
    cases = make_cases(test, args.seed)
    from skeletor.cleaner.stream import default_weights_path

    weights = None if args.no_refiner else (args.weights or (default_weights_path() if default_weights_path().is_file() else None))
    offline = None if args.no_refiner else (args.offline_weights or (default_offline_weights_path() if default_offline_weights_path().is_file() else None))
    bodies = None if args.no_other_bodies else other_body_cases(test, args.seed, pymo_views=min(12, len(test)))
    real = None if args.no_other_bodies else real_clip_scores(weights, max_clips=args.max_files, offline_weights=offline)
    result = run_benchmark(cases, make_cases(tune, args.seed + 1), progress=not args.no_progress, weights=weights, lookaheads=tuple(args.lookaheads),
                           curve_weights=tuple(args.curve_weights), other_bodies=bodies, offline_weights=offline)
    result["meta"] = {
        "test_files": [p.name for p in test],
        "frames": int(sum(len(c.truth) for c in cases)),
        "seed": args.seed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "seconds": round(time.time() - t0, 1),
        "command": " ".join(["python -m benchmarks.accuracy", *argv] if argv is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]),
        "weights": str(weights) if weights else None,
        "offline_weights": str(offline) if offline else None,
        "curve_weights": [str(w) for w in args.curve_weights],
    }
    if real is not None:
        result["real_clips"] = real
        result["real_clip_trace"] = real_clip_trace(weights)
    print(format_table(result))
    for k, row in result.get("lookahead_curve", {}).items():
        print(f"lookahead {k}: " + ", ".join(f"{name} {r['n_mpjpe_mm']:.1f} mm / accel {r['accel_mm']:.1f}" for name, r in row.items()))
    for group, row in result.get("other_bodies", {}).items():
        print(f"other bodies, {group}: " + ", ".join(f"{name} {r['n_mpjpe_mm']:.1f} mm / accel {r['accel_mm']:.1f}" for name, r in row.items()))
    for name, r in result.get("real_clips", {}).items():
        print(f"real MediaPipe clips ({r['clips']}), {name}: jitter {r['jitter_mm']:.1f} mm/frame^2, arm bone CV {r['arm_bone_cv_pct']:.2f} %, "
              f"reprojection {r['reprojection_pct_shoulder']:.1f} % of the shoulder width")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench accuracy`` (the same options as ``python -m benchmarks.accuracy``)."""
    p = sub.add_parser("accuracy", help="public accuracy benchmark (Bandai test split); --lookaheads 0 2 4 8 for the curve",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _add_options(p)
    p.set_defaults(run=run)
