"""``skeletor bench noise``: real MediaPipe Holistic noise beside the simulated detector's.

Measures detector noise with :func:`skeletor.eval.real_noise.measure_detector_noise` (every
length in shoulder widths of the frame; still-segment jitter, hand dropouts, hand swaps,
dropped joints and frames, depth-hint noise) on four sets of holistic75 keypoints:

* **real .pose**: every MediaPipe Holistic ``.pose`` file of ``slp_pose_format``;
* **real videos**: the dance, the webcam clip and the signer of ``videos/``, detected here with
  MediaPipe Holistic (cached as ``.npz`` under ``--cache``, default the system's temp folder);
* **sim today**: the Bandai-Namco test clips, each seen by one virtual camera
  (``skeletor.eval.views.random_view``, the accuracy benchmark's placement) through the
  simulated detector with today's ``DetectorFaults()`` (what the refiner is trained on), plus
  the simulated depth hint (``detector_depth_hint``);
* **sim measured**: the same views through ``faults_from_real(real .pose stats, shoulder_px)``,
  ``shoulder_px`` being the simulated views' median shoulder width.

Prints the side-by-side table and writes ``benchmarks/results/noise.json`` (every statistic
of every set, and the measured fault model). Bandai has no fingers, so the simulated sets
have no hand statistics, and their jitter and depth rows are measured on each view's first
pose held still (the mocap is nearly never still; everything else is measured on the motion).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, write_result
from skeletor.datasets import data_root
from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.eval.real_noise import BANDS, DetectorNoiseStats, NoiseMeasureConfig, faults_from_real, measure_detector_noise
from skeletor.eval.views import ViewConfig, detector_depth_hint, random_view
from skeletor.pose.keypoints import KeypointSequence
from skeletor.pose.skeleton import HOLISTIC75

__all__ = ["VIDEOS", "real_sequences", "simulated_sequences", "format_table", "run_noise_bench", "add_bench_parser"]

log = logging.getLogger(__name__)

VIDEOS = ("mediapipe_pose_segmentation_dance.mp4", "slp_pose_test_video.mp4", "prompt2sign_human_signer.mp4")
COLUMNS = ("real .pose", "real videos", "sim today", "sim measured")


def _video_sequence(path: Path, cache: Path) -> KeypointSequence:
    """A video's MediaPipe Holistic keypoints, detected once and cached as ``.npz`` in ``cache``."""
    stamp = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()[:10]
    file = cache / f"{path.stem}-{stamp}.npz"
    if not file.is_file():
        from realtime.detectors.video import read_video_keypoints

        seq = read_video_keypoints(path, progress=False)
        cache.mkdir(parents=True, exist_ok=True)
        depth = np.zeros(0, np.float32) if seq.depth is None else seq.depth
        np.savez(file, keypoints=seq.keypoints, depth=depth, fps=seq.fps, size=np.asarray(seq.image_size))
    z = np.load(file)
    depth = z["depth"] if z["depth"].size else None
    return KeypointSequence(z["keypoints"], float(z["fps"]), (int(z["size"][0]), int(z["size"][1])), depth=depth, name=path.name)


def real_sequences(root: Path, cache: Path, videos: bool = True, progress: bool = True) -> dict[str, list[KeypointSequence]]:
    """The real keypoints: {"real .pose": [...], "real videos": [...]} (videos empty when ``videos`` is False)."""
    from tqdm import tqdm

    pose = [load_pose_file(p) for p in list_pose_files(root / "slp_pose_format")]
    vids = [_video_sequence(root / "videos" / v, cache) for v in tqdm(VIDEOS if videos else (), desc="videos", disable=not progress)]
    return {"real .pose": pose, "real videos": vids}


def simulated_sequences(
    root: Path, faults: DetectorFaults, max_clips: int | None = None, seed: int = 0, hold: bool = False, progress: bool = True
) -> list[KeypointSequence]:
    """Bandai-Namco test clips, one virtual view each, through the simulated detector with ``faults``.

    The view of clip ``i`` is drawn from ``default_rng([seed, i])`` whatever the faults, so two
    fault models see the same cameras; the faults and the depth hint draw from their own stream.
    With ``hold`` every clip's first pose is held still for the clip's length: the mocap moves
    nearly all the time, so its still segments are few and the jitter is measured on held poses.
    """
    from tqdm import tqdm

    _, test = bandai_split(list_bandai(root / "bandai_namco"))
    out = []
    for i, path in enumerate(tqdm(test[:max_clips], desc="bandai views", disable=not progress)):
        motion = load_bandai(path)
        pos = np.repeat(motion.positions[:1], len(motion.positions), axis=0) if hold else motion.positions
        view = random_view(pos, motion.fps, ViewConfig(), np.random.default_rng([seed, i]), name=path.stem)
        rng = np.random.default_rng([seed, i, 1])
        kp = detector_faults(view.keypoints.keypoints, HOLISTIC75, faults, rng)
        depth = detector_depth_hint(view.truth, kp[..., 2] > 0, ViewConfig().focal_px, rng)
        out.append(replace(view.keypoints, keypoints=kp, depth=depth))
    return out


def _nan_to_none(x: object) -> object:
    """The same structure with every NaN float as None (JSON null)."""
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def _rows(stats: dict[str, DetectorNoiseStats]) -> list[tuple[str, list[str]]]:
    """Table rows: (label, one cell per column)."""

    def f(x: float, fmt: str = "{:.4f}") -> str:
        return "-" if x is None or not math.isfinite(x) else fmt.format(x)

    def both(d: dict[str, float], fmt: str) -> str:
        return "-" if not any(math.isfinite(v) for v in d.values()) else " / ".join(f(d[s], fmt) for s in ("left", "right"))

    band = " ".join(f"{hi:g}" for _, hi in BANDS)
    rows: list[tuple[str, list[str]]] = []
    for group in ("body", "hand"):
        j = {k: getattr(s, f"{group}_jitter") for k, s in stats.items()}
        rows += [
            (f"{group} jitter: residual std (sw)", [f(v.residual_std) for v in j.values()]),
            (
                f"{group} jitter: residual lag-1 (white: {next(iter(j.values())).white_lag1:.2f})",
                [f(v.residual_lag1, "{:.2f}") for v in j.values()],
            ),
            (f"{group} jitter: band power <= {band} c/f", [" ".join(f(b, "{:.2f}") for b in v.band_power) for v in j.values()]),
            (f"{group} jitter: AR(1) fit std (sw) / corr", [f"{f(v.std)} / {f(v.corr, '{:.2f}')}" for v in j.values()]),
            (f"{group} still entries", [str(v.frames) for v in j.values()]),
        ]
    rows.append(
        ("white residual band power", [" ".join(f"{b:.2f}" for b in next(iter(stats.values())).body_jitter.white_band_power)] * len(stats))
    )
    rows += [
        ("hand missing, wrist in view (L / R)", [both(s.hand_missing, "{:.3f}") for s in stats.values()]),
        ("hand missing run, frames (L / R)", [both(s.hand_missing_run, "{:.1f}") for s in stats.values()]),
        ("hand on the wrong arm (L / R)", [both(s.hand_swapped, "{:.3f}") for s in stats.values()]),
        ("hand swap span, frames (L / R)", [both(s.hand_swap_run, "{:.1f}") for s in stats.values()]),
        ("arm joints missing", [f(s.body_missing, "{:.3f}") for s in stats.values()]),
        ("arm joints conf < 0.3 (or missing)", [f(s.body_low_confidence, "{:.3f}") for s in stats.values()]),
        ("frames dropped", [f(s.frames_dropped, "{:.3f}") for s in stats.values()]),
        ("dropped run, frames", [f(s.frames_dropped_run, "{:.1f}") for s in stats.values()]),
        ("depth hint residual std, body (sw)", [f(s.depth_body_std) for s in stats.values()]),
        ("depth hint residual std, hands (sw)", [f(s.depth_hand_std) for s in stats.values()]),
        ("median shoulder width, px", [f(s.shoulder_px, "{:.0f}") for s in stats.values()]),
        ("sequences / frames", [f"{s.sequences} / {s.frames}" for s in stats.values()]),
    ]
    return rows


def format_table(stats: dict[str, DetectorNoiseStats]) -> str:
    """The side-by-side Markdown table of every set's statistics."""
    rows = _rows(stats)
    lines = ["| statistic | " + " | ".join(stats) + " |", "|---|" + "---|" * len(stats)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def run_noise_bench(
    out: Path = RESULTS / "noise.json",
    cache: Path | None = None,
    max_clips: int | None = None,
    videos: bool = True,
    config: NoiseMeasureConfig = NoiseMeasureConfig(),
    progress: bool = True,
) -> dict:
    """Measure the four sets, print the table, write the JSON; returns the JSON payload."""
    root = data_root()
    cache = cache or Path(tempfile.gettempdir()) / "skeletor-noise"
    real = real_sequences(root, cache, videos, progress)
    stats = {name: measure_detector_noise(seqs, config) for name, seqs in real.items() if seqs}
    sim_config = replace(config, hands=False)  # Bandai has no fingers: no hand to lose or swap

    def simulate(faults: DetectorFaults) -> DetectorNoiseStats:
        moving = measure_detector_noise(simulated_sequences(root, faults, max_clips, progress=progress), sim_config)
        held = measure_detector_noise(simulated_sequences(root, faults, max_clips, hold=True, progress=progress), sim_config)
        return replace(moving, body_jitter=held.body_jitter, hand_jitter=held.hand_jitter, depth_body_std=held.depth_body_std)

    stats["sim today"] = simulate(DetectorFaults())
    shoulder_px = stats["sim today"].shoulder_px
    measured = faults_from_real(stats["real .pose"], shoulder_px)
    stats["sim measured"] = simulate(measured)
    table = format_table(stats)
    print(table)
    print(f"\nfaults_from_real(real .pose, shoulder_px={shoulder_px:.0f}): {measured}")
    payload = {
        "config": asdict(config),
        "stats": {k: _nan_to_none(v.to_dict()) for k, v in stats.items()},
        "shoulder_px": shoulder_px,
        "faults_today": asdict(DetectorFaults()),
        "faults_measured": asdict(measured),
        "table": table,
    }
    path = write_result(out, payload)
    print(f"wrote {path}")
    return payload


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``skeletor bench noise``."""
    p = sub.add_parser(
        "noise",
        help="real MediaPipe noise vs the simulated detector's",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=RESULTS / "noise.json", help="result JSON (default: benchmarks/results/noise.json)")
    p.add_argument("--cache", type=Path, default=None, help="where the videos' detections are cached (default: <tmp>/skeletor-noise)")
    p.add_argument("--max-clips", type=int, default=None, help="use at most this many Bandai test clips (default: all)")
    p.add_argument("--no-videos", action="store_true", help="skip the three real videos (needs no MediaPipe)")
    p.add_argument(
        "--still-speed",
        type=float,
        default=NoiseMeasureConfig.still_speed,
        help="still threshold, shoulder widths per frame (default: %(default)s)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    run_noise_bench(
        args.out, args.cache, args.max_clips, not args.no_videos, NoiseMeasureConfig(still_speed=args.still_speed), not args.no_progress
    )
    return 0
