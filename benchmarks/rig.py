"""``skeletor bench rig``: the streaming rig solver on real clips, as live.

Every real MediaPipe Holistic ``.pose`` file of ``slp_pose_format`` (and, unless
``--no-videos``, the three real videos in ``videos/``: the dance, the webcam clip and the
signer, detected with MediaPipe here) goes frame by frame through the streaming cleaner
(uplift + the shipped refiner) and then the rig solver (:class:`skeletor.rig.RigSolver`,
calibrated on the first half second as live). Measured in the same run:

* cost per frame: the solver's ``push`` beside the uplift's (``StreamingCleaner.last_timings_ms``),
  percentiles over every frame the solver got (the issue asks <= 1 ms median for the solver);
  and the solver alone, replaying the same cleaned frames with nothing else running between
  pushes (in the pipeline it runs right after ONNX Runtime, whose threads still hold the
  cores for a moment: its tail there is the machine's, not its own);
* forward kinematics of the streamed rotations + rest offsets against the cleaned joints,
  median and 95th percentile per body part (:mod:`skeletor.rig.evaluate`): ``raw`` and at
  the rig's own bone lengths (the aim: body <= 1.5 cm, fingers <= 1 cm);
* continuity: the largest frame-to-frame turn of each body bone's local rotation over frames
  where it was observed in both, and how often the flip guard eased a jump;
* hands: the default (each hand's shape from the detector's 3D hand, on the refined wrist:
  one batch-1 refiner call), the uplift's hands (``CleanerConfig.detector_hands`` off) and
  the hands refined in a second window (``RuntimeConfig.refine_hands``, batch 2), interleaved frame by frame in the same run: finger FK, mirrored share, hand
  jitter relative to the wrist, upper-body jitter, refine-stage ms with a hand in view;
* mirrored hands: per clip and hand, the share of frames with the hand detected (all 21
  points) whose cleaned hand has the wrong chirality (fingers on the back of the palm,
  :func:`skeletor.uplift.hands.hand_chirality` < 0), which no rotation of the rig's hand
  reproduces.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, write_result

__all__ = ["run_rig_bench", "add_bench_parser"]

VIDEOS = ("mediapipe_pose_segmentation_dance.mp4", "slp_pose_test_video.mp4", "prompt2sign_human_signer.mp4")
_FINGER_WORDS = ("Thumb", "Index", "Middle", "Ring", "Little")
HAND_JOINTS = np.arange(33, 75)  # holistic75 hand joints (both hands)
_UPPER = [0, 11, 12, 13, 14, 15, 16]  # nose, shoulders, elbows, wrists: as ``bench accuracy``'s real-clip jitter


def _stream(seq, cleaners: list, config) -> list[tuple[dict, list[float], list[float], list[float]]]:
    """One keypoint sequence through each cleaner and a solver of its own, frame by frame interleaved.

    Returns, per cleaner: arrays for evaluation, solver ms, uplift ms, refine-stage ms per frame.
    """
    from skeletor.rig import NUM_BONES, RigSolver

    n = len(seq)
    state = []
    for _ in cleaners:
        state.append({
            "solver": RigSolver(config), "poses": np.full((n, 75, 3), np.nan, np.float32), "conf": np.zeros((n, 75), np.float32),
            "hips": np.zeros((n, 3)), "rot": np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (n, NUM_BONES, 1)),
            "valid": np.zeros((n, NUM_BONES), bool), "emitted": np.zeros(n, bool), "offset": np.zeros((n, 3)),
            "solver_ms": [], "uplift_ms": [], "refine_ms": [],
        })  # fmt: skip
    for i in range(n):
        depth = None if seq.depth is None else seq.depth[i]
        for cleaner, st in zip(cleaners, state):
            out = cleaner.push(seq.keypoints[i], i / seq.fps, depth, seq.image_size)
            st["uplift_ms"].append(cleaner.last_timings_ms["uplift"])
            st["refine_ms"].append(cleaner.last_timings_ms["refine"])
            for f in out:
                t0 = time.perf_counter()
                rig = st["solver"].push(f.pose, f.confidence, f.timestamp)
                st["solver_ms"].append(1000.0 * (time.perf_counter() - t0))
                st["poses"][f.index], st["conf"][f.index] = f.pose, f.confidence
                if rig is not None:
                    j = f.index
                    st["hips"][j], st["rot"][j], st["valid"][j], st["offset"][j] = (
                        rig.hips_position,
                        rig.rotations,
                        rig.valid,
                        rig.world_offset,
                    )
                    st["emitted"][j] = True
    results = []
    for st in state:
        clip = {k: st[k] for k in ("hips", "rot", "valid", "emitted", "offset", "poses", "conf")}
        clip.update(rest=st["solver"].rest_rig, fps=seq.fps, flips=st["solver"].flips_guarded, keypoints=seq.keypoints)
        results.append((clip, st["solver_ms"], st["uplift_ms"], st["refine_ms"]))
    return results


def _replay(run: dict, config) -> list[float]:
    """Milliseconds of each ``push`` of a fresh solver over a streamed clip's cleaned frames, alone."""
    from skeletor.rig import RigSolver

    solver = RigSolver(config)
    ms = []
    for i in range(len(run["poses"])):
        t0 = time.perf_counter()
        solver.push(run["poses"][i], run["conf"][i], i / run["fps"])
        ms.append(1000.0 * (time.perf_counter() - t0))
    return ms


def _mirrored_hands(keypoints: np.ndarray, poses: np.ndarray) -> dict[str, dict]:
    """Per hand: frames with all 21 of its points detected, and the share whose cleaned hand is mirrored."""
    from skeletor.uplift.hands import HAND_OFFSETS, hand_chirality

    out = {}
    for hand, (o, _side) in HAND_OFFSETS.items():
        seen = (keypoints[:, o : o + 21, 2] > 0).all(1)
        if seen.any():
            c = hand_chirality(poses[seen], hand)
            out[hand] = {"frames": int(seen.sum()), "mirrored": float(np.mean(c < 0))}
    return out


def _score(runs: list[dict], min_confidence: float) -> dict:
    """FK errors per body part and continuity over a set of streamed clips."""
    from skeletor.rig import BONES
    from skeletor.rig.clip import RigClip
    from skeletor.rig.evaluate import fk_errors, rotation_steps, summarize

    raw, rig, steps, flips, frames = [], [], [], 0, 0
    for r in runs:
        clip = RigClip(r["hips"], r["rot"], r["valid"], r["emitted"], r["offset"], r["rest"], r["fps"], r["flips"])
        e = fk_errors(clip, r["poses"], r["conf"], min_confidence)
        raw.append(e["raw"])
        rig.append(e["rig_lengths"])
        steps.append(rotation_steps(clip))
        flips += r["flips"]
        frames += int(r["emitted"].sum())
    all_steps = np.concatenate(steps)
    seen = np.isfinite(all_steps).any(0)
    largest = np.where(seen, np.nanmax(np.nan_to_num(all_steps, nan=-1.0), axis=0), np.nan)
    body = [b for b, n in enumerate(BONES) if not any(w in n for w in _FINGER_WORDS)]
    fingers = [b for b in range(len(BONES)) if b not in body]
    return {
        "clips": len(runs),
        "frames_with_rig": frames,
        "fk_error_cm": {"raw": summarize(np.concatenate(raw)), "rig_lengths": summarize(np.concatenate(rig))},
        "largest_step_deg": {BONES[b]: (None if np.isnan(largest[b]) else float(largest[b])) for b in body},
        "largest_finger_step_deg": float(np.nanmax(largest[fingers])) if seen[fingers].any() else None,
        "flip_guard_events": flips,
        "mirrored_hands": [_mirrored_hands(r["keypoints"], r["poses"]) for r in runs],
    }


def run_rig_bench(max_clips: int | None = None, videos: bool = True, min_frames: int = 20) -> dict:
    """Stream the real clips (and videos) through cleaner + rig solver; see the module docstring.

    Args:
        max_clips: use at most this many ``.pose`` files (None: all with >= ``min_frames``).
        videos: also the three real videos (MediaPipe detection first: slower).
        min_frames: skip shorter ``.pose`` files (the solver calibrates on the first 0.5 s).

    Returns:
        The results dictionary written to ``rig.json``.
    """
    from skeletor.datasets import data_root
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file
    from skeletor.rig import RigConfig
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

    config = RigConfig()
    seqs = [s for s in (load_pose_file(p) for p in list_pose_files(data_root() / "slp_pose_format")) if len(s) >= min_frames]
    seqs = seqs[:max_clips] if max_clips is not None else seqs
    sources: dict[str, list] = {"pose_clips": seqs}
    if videos:
        from realtime.detectors.video import read_video_keypoints

        sources["videos"] = [read_video_keypoints(data_root() / "videos" / v, progress=False) for v in VIDEOS]
    base = CleanerConfig()
    modes = {  # the default first; the others in the same run, frame by frame interleaved
        "detector": base,
        "unsmoothed": replace(base, hand_smoothing=None),
        "uplift": replace(base, detector_hands=False, unmirror_hands=False, hand_smoothing=None),
        "refiner": replace(
            base, detector_hands=False, unmirror_hands=False, hand_smoothing=None, runtime=replace(base.runtime, refine_hands=True)
        ),
    }
    cleaners = [StreamingCleaner(c) for c in modes.values()]
    out: dict = {"config": {"min_confidence": config.min_confidence, "calibration_s": config.calibration_s,
                            "ease_s": config.ease_s, "max_step_deg": config.max_step_deg}}  # fmt: skip
    solver_ms: list[float] = []
    uplift_ms: list[float] = []
    replayed: list[float] = []
    hands: dict = {}
    for name, group in sources.items():
        runs: list[list] = [[] for _ in cleaners]
        refine_ms: list[list[float]] = [[] for _ in cleaners]
        in_view: list[np.ndarray] = []
        for seq in group:
            for c in cleaners:
                c.reset()
            streamed = _stream(seq, cleaners, replace(config, fps=float(seq.fps)))
            for k, (run, s_ms, u_ms, r_ms) in enumerate(streamed):
                runs[k].append(run)
                refine_ms[k] += r_ms
            run, s_ms, u_ms, _ = streamed[0]
            solver_ms += s_ms
            uplift_ms += u_ms
            replayed += _replay(run, replace(config, fps=float(seq.fps)))
            in_view.append((seq.keypoints[:, HAND_JOINTS, 2] > 0).any(1))
        out[name] = _score(runs[0], config.min_confidence)
        out[name]["names"] = [Path(s.name).name if s.name else "?" for s in group]
        view = np.concatenate(in_view)
        hands[name] = {mode: _hand_scores(r, np.asarray(ms), view, config.min_confidence)
                       for mode, r, ms in zip(modes, runs, refine_ms)}  # fmt: skip
    out["ms_per_frame"] = {"rig solver": percentiles(solver_ms), "uplift": percentiles(uplift_ms),
                           "rig solver, replayed alone": percentiles(replayed)}  # fmt: skip
    hands["refine_cpu_ms_hand_in_view"] = _refine_cpu_ms(sources["pose_clips"], base)
    out["hands"] = hands
    return out


def _refine_cpu_ms(seqs: list, base) -> dict[str, dict]:
    """The refiner's ``push`` alone on the clips' uplift frames with a hand in view: hands carried
    (the default, one batch-1 call) and ``refine_hands`` (batch 2), interleaved push by push.

    Timed in CPU time of the calling thread (ONNX Runtime runs a 1-thread session there), which a
    loaded machine's waiting does not inflate as much as wall time.
    """
    from skeletor.cleaner.stream import StreamingCleaner
    from skeletor.refiner.runtime import OnnxRefiner

    refiners = {"carried": OnnxRefiner(base.runtime), "refine_hands": OnnxRefiner(replace(base.runtime, refine_hands=True))}
    ms: dict[str, list[float]] = {k: [] for k in refiners}
    uplift = StreamingCleaner(replace(base, refine=False))
    for seq in seqs:
        uplift.reset()
        for r in refiners.values():
            r.reset()
        for i in range(len(seq)):
            for f in uplift.push(seq.keypoints[i], i / seq.fps, None if seq.depth is None else seq.depth[i], seq.image_size):
                present = f.confidence > 0
                for name, r in refiners.items():
                    t0 = time.thread_time()
                    r.push(np.nan_to_num(f.pose), present)
                    if present[HAND_JOINTS].any():
                        ms[name].append(1000.0 * (time.thread_time() - t0))
    return {k: percentiles(v) for k, v in ms.items()}


def _hand_scores(runs: list[dict], refine_ms: np.ndarray, in_view: np.ndarray, min_confidence: float) -> dict:
    """One hands mode over a set of clips: finger FK, mirrored share, jitter, refine-stage cost.

    Jitter is the mean acceleration (mm/frame^2) of the hand joints relative to their body
    wrist (the hand's own motion, what the hands mode changes) over frames where the hand's
    21 points are detected at t-1, t, t+1; and of the upper body (nose, shoulders, elbows,
    wrists) where detected, which the hands mode must leave as it is.
    """
    from skeletor.eval.metrics import jitter
    from skeletor.pose.skeleton import LEFT_HAND, RIGHT_HAND

    scored = _score(runs, min_confidence)
    hand_acc, upper_acc = [], []
    for r in runs:
        kp, poses = r["keypoints"], r["poses"]
        for hand, wrist in ((LEFT_HAND, 15), (RIGHT_HAND, 16)):
            seen = np.repeat((kp[:, hand, 2] > 0).all(1)[:, None], len(hand), 1)  # (T, 21)
            hand_acc.append((jitter(poses[:, hand] - poses[:, [wrist]], seen), int(seen[:, 0].sum())))
        upper_acc.append((jitter(poses[:, _UPPER], kp[:, _UPPER, 2] > 0), len(poses)))
    mirrored = [(m["mirrored"] * m["frames"], m["frames"]) for h in scored["mirrored_hands"] for m in h.values()]

    def weighted(vals: list[tuple[float, int]]) -> float:
        ok = [(v, w) for v, w in vals if np.isfinite(v) and w > 0]
        return float(sum(v * w for v, w in ok) / sum(w for _, w in ok)) if ok else float("nan")

    return {
        "fingers_fk_cm": scored["fk_error_cm"]["rig_lengths"]["fingers"],
        "mirrored_share": sum(a for a, _ in mirrored) / max(1, sum(b for _, b in mirrored)),
        "hand_jitter_mm": 1000 * weighted(hand_acc),
        "upper_body_jitter_mm": 1000 * weighted(upper_acc),
        "refine_ms_hand_in_view": percentiles(refine_ms[in_view].tolist()),
        "refine_ms_no_hand": percentiles(refine_ms[~in_view].tolist()),
    }


def _print(res: dict) -> None:
    t = res["ms_per_frame"]
    print(f"ms per frame, same run: rig solver p50 {t['rig solver']['p50']:.3f} p95 {t['rig solver']['p95']:.3f} "
          f"(n={t['rig solver']['n']}); uplift p50 {t['uplift']['p50']:.3f} p95 {t['uplift']['p95']:.3f}; "
          f"rig solver replayed alone p50 {t['rig solver, replayed alone']['p50']:.3f} p95 {t['rig solver, replayed alone']['p95']:.3f}")  # fmt: skip
    for source in ("pose_clips", "videos"):
        if source not in res:
            continue
        r = res[source]
        print(f"\n{source}: {r['clips']} clips, {r['frames_with_rig']} frames with a rig")
        print(f"  {'FK error (cm)':<14}{'raw median':>12}{'raw p95':>10}{'rig-lengths median':>20}{'rig-lengths p95':>17}{'n':>8}")
        for part, raw in r["fk_error_cm"]["raw"].items():
            rl = r["fk_error_cm"]["rig_lengths"][part]
            print(f"  {part:<14}{raw['median_cm']:>12.2f}{raw['p95_cm']:>10.1f}{rl['median_cm']:>20.2f}{rl['p95_cm']:>17.1f}{raw['n']:>8}")
        steps = ", ".join(f"{b} {v:.0f}" for b, v in r["largest_step_deg"].items() if v is not None)
        print(f"  largest step per body bone (deg, observed both frames): {steps}")
        finger = r["largest_finger_step_deg"]
        print(f"  largest finger step: {finger:.0f} deg; flip guard eased {r['flip_guard_events']} bone-frames" if finger is not None
              else f"  flip guard eased {r['flip_guard_events']} bone-frames")  # fmt: skip
        shares = [f"{name} {h[0].upper()} {m['mirrored'] * 100:.0f}% of {m['frames']}"
                  for name, hands in zip(r["names"], r["mirrored_hands"]) for h, m in hands.items()]  # fmt: skip
        total = [(m["mirrored"] * m["frames"], m["frames"]) for hands in r["mirrored_hands"] for m in hands.values()]
        if total:
            share = sum(a for a, _ in total) / sum(b for _, b in total)
            print(
                f"  mirrored cleaned hands (wrong chirality), all detected-hand frames: {share * 100:.1f}%; per clip: " + "; ".join(shares)
            )
        if source in res.get("hands", {}):
            print("  hands: the detector's 3D hand (default) / the uplift's / refined in a second window (refine_hands), same run:")
            print(f"    {'hands':<11}{'finger FK median cm':>20}{'p95':>7}{'mirrored':>10}{'hand jitter':>13}{'upper jitter':>14}"
                  f"{'refine ms p50 (p95), hand in view':>36}{'no hand':>10}")  # fmt: skip
            for mode, h in res["hands"][source].items():
                f, r, r0 = h["fingers_fk_cm"], h["refine_ms_hand_in_view"], h["refine_ms_no_hand"]
                print(f"    {mode:<11}{f['median_cm']:>20.2f}{f['p95_cm']:>7.1f}{h['mirrored_share'] * 100:>9.1f}%"
                      f"{h['hand_jitter_mm']:>13.2f}{h['upper_body_jitter_mm']:>14.2f}"
                      f"{r['p50']:>27.2f} ({r['p95']:.2f}){r0['p50'] if r0['n'] else float('nan'):>10.2f}")  # fmt: skip
            print("    (jitter: mean acceleration, mm/frame^2; hand joints relative to their wrist, upper body as is)")
    cpu = res.get("hands", {}).get("refine_cpu_ms_hand_in_view")
    if cpu:
        print("\nrefiner push with a hand in view, CPU ms of the calling thread, same run: " + "; ".join(
            f"{k} p50 {v['p50']:.2f} p95 {v['p95']:.2f} (n={v['n']})" for k, v in cpu.items()))  # fmt: skip


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench rig``."""
    p = sub.add_parser(
        "rig",
        help="the streaming rig solver: ms/frame beside the uplift, FK error per body part, continuity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--no-videos", action="store_true", help="skip the three real videos (MediaPipe detection takes a while)")
    p.add_argument("--max-clips", type=int, default=None, metavar="N", help="use at most N .pose files")
    p.add_argument("--json", type=Path, default=RESULTS / "rig.json", help="where to write the results (default: %(default)s)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_rig_bench(max_clips=args.max_clips, videos=not args.no_videos)
    write_result(args.json, res)
    _print(res)
    print(f"wrote {args.json}")
    return 0
