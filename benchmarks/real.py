"""``skeletor bench real``: real video, our 3D beside MediaPipe's own, at equal lag.

The first thing a user compares Skeletor with is what MediaPipe already gives them:
``pose_world_landmarks``, MediaPipe's own 3D (metres, hip-centred), raw, with MediaPipe's
smoothing (``smooth_landmarks=True``), or through a One Euro filter. This benchmark runs
MediaPipe Holistic (0.10, model complexity 1) over every real single-person video of the
shared data (``videos/``: a signer, a dancer, a webcam clip) twice, once with MediaPipe's
smoothing off (the detections our cleaner gets live) and once on; detections are cached
under ``~/.cache/skeletor/bench_real`` (``$SKELETOR_CACHE``), never in the repository.
The real ``.pose`` clips (MediaPipe Holistic detections of sign language, no world
landmarks) add our rows only.

Rows, per clip:

* ours: the streaming uplift (``skeletor clean --no-refine``), the causal output (the live
  default cleaner), the offline output (``skeletor clean --offline``), and the causal
  output through a causal One Euro filter at each setting below;
* MediaPipe world landmarks: raw, with MediaPipe's smoothing, and through a One Euro
  filter at each setting (metres, seconds): min_cutoff 0.5 Hz / beta 0.2 (what a user
  would typically pick), 1 / 0.2, 2 / 0.5, 4 / 1, and 8 / 10 (``--smooth``'s parameters).

Metrics, on the shoulders, elbows and wrists relative to the mid-shoulder, each method's
pose scaled so its median shoulder width is 0.35 m (so jitter is compared at one body
size, whatever each method's scale):

* jitter: mean |acceleration|, mm/frame^2;
* arm bone CV: the frame-to-frame coefficient of variation of the four arm bones
  (upper arms, forearms), %, mean over the bones;
* reprojection: median image distance between the confident detections and our 3D seen
  through the uplift's camera, % of the detected shoulder width. MediaPipe's world
  landmarks have no camera, so it is not defined for them;
* lag: the delay (ms; 0.1-frame steps, linear interpolation) that best aligns the row's
  upper-body signal with a reference, by least squares. Two references: the row's family's
  unsmoothed frame-by-frame 3D from the same detections (every row of ours: our streaming
  uplift; every MediaPipe row: its raw world landmarks), and one common to every row, the
  raw 2D detections (x, y relative to the mid-shoulder, over the shoulder width; for our
  rows the pose seen through the uplift's camera, for MediaPipe's world landmarks their
  x, y, which face the camera). The first is what the comparison uses; the second is a
  cross-check (its error is about +-10 ms: MediaPipe's world landmarks come from another
  head of its network than its 2D).

The comparison: for every One Euro setting on MediaPipe's world landmarks, the best of our
causal rows (lowest jitter) whose lag is no larger than that setting's; the table marks it
"win" when it has lower jitter and lower arm bone CV, otherwise "LOSS" and on what.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, write_result
from skeletor.datasets import data_root
from skeletor.eval import metrics
from skeletor.eval.baselines import one_euro
from skeletor.pose.keypoints import KeypointSequence

__all__ = [
    "VIDEOS", "ONE_EURO_SETTINGS", "Detections", "detect_video", "upper_body", "jitter_mm", "arm_bone_cv_pct",
    "lag_frames", "plane_signal", "compare", "run_benchmark", "format_table", "main", "add_bench_parser",
]  # fmt: skip

log = logging.getLogger(__name__)

# The real single-person videos of the shared data (name -> path under data_root()): the
# issue's signer / dance / webcam. ``openpose_video.avi`` (a crowd) is left out: Holistic
# tracks one person and which one changes; ``prompt2sign_human_signer_480.mp4`` is the
# same signer re-encoded.
VIDEOS = {
    "signer": "videos/prompt2sign_human_signer.mp4",
    "dance": "videos/mediapipe_pose_segmentation_dance.mp4",
    "webcam": "videos/slp_pose_test_video.mp4",
}
# One Euro settings (min_cutoff Hz, beta per metre per second): a typical hand-picked one
# first, then looser ones, and ``skeletor clean --smooth``'s (tuned on Bandai-Namco views).
ONE_EURO_SETTINGS: tuple[tuple[float, float], ...] = ((0.5, 0.2), (1.0, 0.2), (2.0, 0.5), (4.0, 1.0), (8.0, 10.0))
SHOULDER_WIDTH_M = 0.35  # every method is scaled to this median shoulder width before its jitter is taken
ARMS = (11, 12, 13, 14, 15, 16)  # shoulders, elbows, wrists (holistic75 = MediaPipe Pose's first 33)
ARM_BONES = ((11, 13), (13, 15), (12, 14), (14, 16))  # upper arms, forearms
MAX_LAG_FRAMES = 12.0
CACHE_VERSION = 1


@dataclass
class Detections:
    """One video through MediaPipe Holistic.

    Attributes:
        keypoints: the holistic75 keypoints and depth hint, as ``skeletor clean`` reads them.
        world: (T, 33, 3) float32 ``pose_world_landmarks`` in metres (hip-centred, x right,
            y down, z away from the camera); NaN where no person was found.
    """

    keypoints: KeypointSequence
    world: np.ndarray


def _cache_dir() -> Path:
    root = Path(os.environ.get("SKELETOR_CACHE", Path.home() / ".cache" / "skeletor"))
    return root / "bench_real"


class _Recording:
    """Stands in for a MediaPipe graph and keeps its last result (for the world landmarks
    :class:`~realtime.detectors.holistic.HolisticDetector` does not return)."""

    def __init__(self, graph) -> None:
        self.graph, self.last = graph, None

    def process(self, image):
        self.last = self.graph.process(image)
        return self.last

    def close(self) -> None:
        self.graph.close()


def detect_video(path: Path, smooth: bool, progress: bool = True, cache: bool = True) -> Detections:
    """MediaPipe Holistic over every frame of ``path`` (``smooth``: MediaPipe's own smoothing),
    cached by the file's content, the MediaPipe version and ``smooth``.

    Raises:
        ImportError: mediapipe is not installed.
        OSError: the video cannot be read.
    """
    import mediapipe as mp

    from realtime.detectors.holistic import HolisticConfig, HolisticDetector
    from realtime.detectors.video import read_video_keypoints

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    file = _cache_dir() / f"{Path(path).stem}-{digest}-mp{mp.__version__}-smooth{int(smooth)}-v{CACHE_VERSION}.npz"
    if cache and file.is_file():
        z = np.load(file)
        seq = KeypointSequence(z["keypoints"], float(z["fps"]), tuple(int(v) for v in z["size"]), depth=z["depth"], name=Path(path).name)
        return Detections(seq, z["world"])
    det = HolisticDetector(HolisticConfig(smooth_landmarks=smooth))
    rec = _Recording(det._graph)
    det._graph = rec
    worlds: list[np.ndarray] = []

    class _Both:  # the detector, also collecting each frame's world landmarks
        name, skeleton = det.name, det.skeleton

        def detect(self, image: np.ndarray, t_ns: int = 0):
            pose = det.detect(image, t_ns)
            w = np.full((33, 3), np.nan, np.float32)
            if rec.last is not None and rec.last.pose_world_landmarks is not None:
                w[:] = [(p.x, p.y, p.z) for p in rec.last.pose_world_landmarks.landmark[:33]]
            worlds.append(w)
            return pose

        def close(self) -> None:
            det.close()

    try:
        seq = read_video_keypoints(Path(path), _Both(), progress=progress)  # type: ignore[arg-type]
    finally:
        det.close()
    world = np.stack(worlds)
    if cache:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, keypoints=seq.keypoints, depth=seq.depth, world=world, fps=seq.fps, size=np.array(seq.image_size))
        tmp.replace(file)
    return Detections(seq, world)


def upper_body(poses: np.ndarray) -> np.ndarray:
    """(T, J, 3) poses -> (T, 6, 3) shoulders, elbows, wrists relative to the mid-shoulder,
    scaled so the median shoulder width is ``SHOULDER_WIDTH_M`` (NaN where not finite)."""
    p = np.asarray(poses, np.float64)[:, list(ARMS)]
    rel = p - 0.5 * (p[:, [0]] + p[:, [1]])
    width = np.nanmedian(np.linalg.norm(p[:, 0] - p[:, 1], axis=-1))
    return rel * (SHOULDER_WIDTH_M / width) if np.isfinite(width) and width > 0 else rel * np.nan


def jitter_mm(poses: np.ndarray) -> float:
    """Mean |acceleration| of the shoulders, elbows and wrists relative to the mid-shoulder,
    at a 0.35 m shoulder width: mm/frame^2."""
    x = upper_body(poses)
    acc = x[2:] - 2 * x[1:-1] + x[:-2]
    a = np.linalg.norm(acc, axis=-1)
    return 1000 * float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def arm_bone_cv_pct(poses: np.ndarray) -> float:
    """Coefficient of variation of the four arm bones over time (%), mean over the bones."""
    p = np.asarray(poses, np.float64)
    cvs = []
    for a, b in ARM_BONES:
        length = np.linalg.norm(p[:, b] - p[:, a], axis=-1)
        length = length[np.isfinite(length)]
        if len(length) > 1 and length.mean() > 0:
            cvs.append(length.std() / length.mean())
    return 100 * float(np.mean(cvs)) if cvs else float("nan")


def plane_signal(xy: np.ndarray) -> np.ndarray:
    """(T, J, 2) image-plane positions (pixels, or x, y of a camera-facing 3D frame) ->
    (T, 6, 2) shoulders, elbows, wrists relative to the mid-shoulder over the median
    shoulder width: a signal every method shares, whatever its 3D, for the common lag."""
    p = np.asarray(xy, np.float64)[:, list(ARMS), :2]
    rel = p - 0.5 * (p[:, [0]] + p[:, [1]])
    width = np.nanmedian(np.linalg.norm(p[:, 0] - p[:, 1], axis=-1))
    return rel / width


def project(poses: np.ndarray, focal_px: float, image_size: tuple[int, int]) -> np.ndarray:
    """(T, J, 3) camera-frame poses (metres, z forward) -> (T, J, 2) pixels through the pinhole
    camera the uplift assumed (principal point at the image centre)."""
    p = np.asarray(poses, np.float64)
    z = np.where(p[..., 2:3] > 1e-9, p[..., 2:3], np.nan)
    return focal_px * p[..., :2] / z + np.array([image_size[0] / 2.0, image_size[1] / 2.0])


def lag_frames(signal: np.ndarray, reference: np.ndarray, max_lag: float = MAX_LAG_FRAMES, step: float = 0.1) -> float:
    """The delay d (frames, in ``step`` steps from -3 to ``max_lag``) minimising the mean
    squared difference between ``signal[t]`` and ``reference(t - d)`` (linear interpolation
    between frames; NaN entries left out). A signal that is ``reference`` delayed by a whole
    number of frames gives that number exactly.

    Args:
        signal, reference: (T, ...) arrays of the same shape.

    Returns:
        The best delay in frames (positive: ``signal`` lags); NaN if nothing overlaps.
    """
    s = np.asarray(signal, np.float64).reshape(len(signal), -1)
    r = np.asarray(reference, np.float64).reshape(len(reference), -1)
    if s.shape != r.shape:
        raise ValueError(f"signal {s.shape} and reference {r.shape} differ")
    t = np.arange(len(s), dtype=np.float64)
    best, best_err = float("nan"), np.inf
    for k in range(round(-3 / step), round(max_lag / step) + 1):
        d = k * step
        src = t - d
        i0 = np.floor(src + 1e-9).astype(int)
        frac = np.clip(src - i0, 0.0, 1.0)[:, None]
        inside = (i0 >= 0) & (i0 < len(s) - 1) | ((i0 == len(s) - 1) & (frac[:, 0] < 1e-9))
        i0c = np.clip(i0, 0, len(s) - 1)
        i1c = np.clip(i0 + 1, 0, len(s) - 1)
        shifted = (1 - frac) * r[i0c] + frac * r[i1c]
        diff = (s - shifted)[inside]
        diff = diff[np.isfinite(diff)]
        if diff.size < 10:
            continue
        err = float(np.mean(diff**2))
        if err < best_err - 1e-15:
            best, best_err = d, err
    return best


UPLIFT = "ours: streaming uplift (skeletor clean --no-refine)"
CAUSAL = "ours: causal (live default)"
OFFLINE = "ours: offline (skeletor clean --offline)"
MP_RAW = "MediaPipe world landmarks, raw"
MP_SMOOTH = "MediaPipe world landmarks, MediaPipe smoothing"


def _euro_name(base: str, setting: tuple[float, float]) -> str:
    return f"{base} + One Euro {setting[0]:g}/{setting[1]:g}"


def _detections_2d(seq: KeypointSequence) -> np.ndarray:
    """(T, 75, 2) the detected pixels, NaN below confidence 0.5."""
    kp = seq.keypoints
    return np.where((kp[..., 2:3] >= 0.5), kp[..., :2], np.nan)


def _our_outputs(seq: KeypointSequence, weights: Path | None, offline_weights: Path | None) -> dict[str, np.ndarray]:
    """Our rows' (T, 75, 3) camera-frame poses (metres) for one clip."""
    from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence
    from skeletor.refiner.runtime import RuntimeConfig

    out = {UPLIFT: clean_sequence(seq, StreamingCleaner(CleanerConfig(refine=False))).poses3d}
    if weights is not None:
        out[CAUSAL] = clean_sequence(seq, StreamingCleaner(CleanerConfig(runtime=RuntimeConfig(weights=weights)))).poses3d
    if offline_weights is not None:
        out[OFFLINE] = OfflineCleaner(OfflineConfig(runtime=RuntimeConfig(weights=offline_weights))).clean(seq).poses3d
    return out


def score_clip(
    seq: KeypointSequence,
    world_raw: np.ndarray | None = None,
    world_smooth: np.ndarray | None = None,
    weights: Path | None = None,
    offline_weights: Path | None = None,
    settings: tuple[tuple[float, float], ...] = ONE_EURO_SETTINGS,
) -> dict[str, dict[str, float | str | None]]:
    """Every row's metrics on one clip (see the module doc): row name -> metrics.

    Args:
        seq: MediaPipe Holistic detections (smoothing off), holistic75.
        world_raw: (T, 33, 3) MediaPipe world landmarks of the same run; None = no MediaPipe rows.
        world_smooth: (T, 33, 3) world landmarks of a run with MediaPipe's smoothing on.
        weights: the causal refiner (None = no causal rows).
        offline_weights: the bidirectional refiner (None = no offline row).
        settings: One Euro (min_cutoff, beta) settings.
    """
    from skeletor.cleaner.stream import CleanerConfig

    focal = CleanerConfig().uplift.focal_length(seq.image_size)
    fps = float(seq.fps)
    reference_2d = plane_signal(_detections_2d(seq))
    ours = _our_outputs(seq, weights, offline_weights)
    # row -> (poses, is ours (camera frame), lag source name, lag source poses)
    rows: dict[str, tuple[np.ndarray, bool, str | None, np.ndarray | None]] = {}
    for name, poses in ours.items():
        src = None if name == UPLIFT else UPLIFT
        rows[name] = (poses, True, src, ours[UPLIFT] if src else None)
    if CAUSAL in ours:
        for s in settings:
            rows[_euro_name(CAUSAL, s)] = (one_euro(ours[CAUSAL], fps, s[0], s[1]), True, UPLIFT, ours[UPLIFT])
    if world_raw is not None:
        rows[MP_RAW] = (world_raw, False, None, None)
        if world_smooth is not None:
            rows[MP_SMOOTH] = (world_smooth, False, MP_RAW, world_raw)
        for s in settings:
            rows[_euro_name(MP_RAW, s)] = (one_euro(world_raw, fps, s[0], s[1]), False, MP_RAW, world_raw)
    kp = seq.keypoints
    both = (kp[:, 11, 2] >= 0.5) & (kp[:, 12, 2] >= 0.5)
    shoulder_px = float(np.median(np.linalg.norm(kp[both, 11, :2] - kp[both, 12, :2], axis=-1))) if both.any() else float("nan")
    out: dict[str, dict[str, float | str | None]] = {}
    for name, (poses, camera, src_name, src) in rows.items():
        plane = plane_signal(project(poses, focal, seq.image_size) if camera else poses[..., :2])
        reproj = None
        if camera:
            upper = [0, *ARMS]
            err = metrics.reprojection_error(poses[:, upper], kp[:, upper], focal, seq.image_size)
            reproj = 100 * float(np.median(err)) / shoulder_px if err.size else None
        lag_src = None if src is None else lag_frames(upper_body(poses), upper_body(src))
        out[name] = {
            "jitter_mm": jitter_mm(poses),
            "arm_bone_cv_pct": arm_bone_cv_pct(poses),
            "reprojection_pct_shoulder": reproj,
            "lag_source": src_name,
            "lag_ms_source": None if lag_src is None else 1000 * lag_src / fps,
            "lag_ms_detections": 1000 * lag_frames(plane, reference_2d) / fps,
        }  # fmt: skip
    return out


def compare(rows: dict[str, dict], settings: tuple[tuple[float, float], ...] = ONE_EURO_SETTINGS) -> list[dict]:
    """For every One Euro setting on MediaPipe's world landmarks: the best (lowest jitter) of
    our causal rows whose lag is no larger, and whether it wins on both jitter and arm bone
    CV. Lags are each family's own: ours behind our uplift, MediaPipe's behind its raw
    world landmarks (both the unsmoothed frame-by-frame 3D of the same detections).
    Empty without MediaPipe rows."""
    ours = {n: r for n, r in rows.items() if n == CAUSAL or n.startswith(CAUSAL + " + ")}
    out = []
    for s in settings:
        theirs_name = _euro_name(MP_RAW, s)
        if theirs_name not in rows:
            continue
        theirs = rows[theirs_name]
        lag = theirs["lag_ms_source"]
        fair = {n: r for n, r in ours.items() if r["lag_ms_source"] <= lag + 1e-6}
        entry: dict = {"setting": {"min_cutoff": s[0], "beta": s[1]}, "theirs": theirs_name, "their_lag_ms": lag,
                       "their_jitter_mm": theirs["jitter_mm"], "their_arm_bone_cv_pct": theirs["arm_bone_cv_pct"]}  # fmt: skip
        if not fair:
            entry |= {"ours": None, "verdict": "LOSS: none of our causal rows lags this little"}
            out.append(entry)
            continue
        name = min(fair, key=lambda n: fair[n]["jitter_mm"])
        r = fair[name]
        lost = [m for m, k in (("jitter", "jitter_mm"), ("arm bone CV", "arm_bone_cv_pct")) if not r[k] < theirs[k]]
        entry |= {"ours": name, "our_lag_ms": r["lag_ms_source"], "our_jitter_mm": r["jitter_mm"],
                  "our_arm_bone_cv_pct": r["arm_bone_cv_pct"], "verdict": "win" if not lost else "LOSS on " + " and ".join(lost)}  # fmt: skip
        out.append(entry)
    return out


def _real_pose_clips(min_frames: int = 45) -> list[KeypointSequence]:
    """The real MediaPipe Holistic ``.pose`` clips (the accuracy benchmark's real-clips set)."""
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file

    clips = [load_pose_file(p) for p in list_pose_files(data_root() / "slp_pose_format")]
    return [c for c in clips if len(c.keypoints) >= min_frames]


def run_benchmark(
    weights: Path | None,
    offline_weights: Path | None,
    videos: dict[str, str] = VIDEOS,
    pose_clips: bool = True,
    max_clips: int | None = None,
    progress: bool = True,
    cache: bool = True,
) -> dict:
    """Score every real video (with MediaPipe's rows) and ``.pose`` clip (ours only).

    Returns:
        ``{"clips": {name: {"kind", "fps", "frames", "rows", "comparison"}}, "summary": ...}``.
    """
    from tqdm import tqdm

    clips: dict[str, dict] = {}
    for name, rel in tqdm(videos.items(), desc="videos", disable=not progress):
        raw = detect_video(data_root() / rel, smooth=False, progress=progress, cache=cache)
        smooth = detect_video(data_root() / rel, smooth=True, progress=progress, cache=cache)
        rows = score_clip(raw.keypoints, raw.world, smooth.world, weights, offline_weights)
        clips[name] = {
            "kind": "video",
            "file": rel,
            "fps": raw.keypoints.fps,
            "frames": len(raw.keypoints),
            "rows": rows,
            "comparison": compare(rows),
        }
    if pose_clips:
        seqs = _real_pose_clips()
        seqs = seqs[:max_clips] if max_clips else seqs
        for seq in tqdm(seqs, desc=".pose clips", disable=not progress):
            clips[seq.name] = {
                "kind": "pose",
                "fps": seq.fps,
                "frames": len(seq.keypoints),
                "rows": score_clip(seq, weights=weights, offline_weights=offline_weights),
            }
    return {"clips": clips, "summary": summarise(clips)}


def summarise(clips: dict[str, dict]) -> dict:
    """Means over the ``.pose`` clips and over the videos of every row, and the comparison tally."""
    out: dict = {}
    for kind in ("pose", "video"):
        group = [c["rows"] for c in clips.values() if c["kind"] == kind]
        if not group:
            continue
        names = [n for n in group[0] if all(n in g for g in group)]
        mean = {}
        for n in names:
            mean[n] = {k: (float(np.mean([g[n][k] for g in group])) if group[0][n][k] is not None and not isinstance(group[0][n][k], str) else None)
                       for k in ("jitter_mm", "arm_bone_cv_pct", "reprojection_pct_shoulder", "lag_ms_source", "lag_ms_detections")}  # fmt: skip
        if UPLIFT in mean:
            for n in (CAUSAL, OFFLINE):
                if n in mean:
                    mean[n]["jitter_vs_uplift"] = mean[n]["jitter_mm"] / mean[UPLIFT]["jitter_mm"]
        out[kind] = {"clips": len(group), "mean": mean}
    verdicts = [(name, c["setting"], c["verdict"]) for name, clip in clips.items() for c in clip.get("comparison", [])]
    out["comparisons"] = {"total": len(verdicts), "wins": sum(v == "win" for _, _, v in verdicts)}
    return out


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def format_table(result: dict) -> str:
    """Markdown: one table per video, the comparison under it, then the ``.pose`` clips' means."""
    head = [
        "| row | jitter mm/frame^2 | arm bone CV % | reprojection % shoulder | lag ms (reference) | lag ms vs 2D |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines: list[str] = []

    def table(rows: dict) -> None:
        lines.extend(head)
        for n, r in rows.items():
            ref = "" if r.get("lag_source") is None else f" ({'our uplift' if r['lag_source'] == UPLIFT else 'MediaPipe raw'})"
            lines.append(f"| {n} | {_fmt(r['jitter_mm'])} | {_fmt(r['arm_bone_cv_pct'])} | {_fmt(r['reprojection_pct_shoulder'])} | "
                         f"{_fmt(r['lag_ms_source'], '.0f')}{ref} | {_fmt(r['lag_ms_detections'], '.0f')} |")  # fmt: skip

    for name, clip in result["clips"].items():
        if clip["kind"] != "video":
            continue
        lines += ["", f"### {name} ({clip['file']}, {clip['frames']} frames at {clip['fps']:.0f} fps)", ""]
        table(clip["rows"])
        lines += ["", "| One Euro on MediaPipe | its lag ms | its jitter / CV | our best causal row at <= that lag | our lag ms | our jitter / CV | verdict |",
                  "|---|---:|---:|---|---:|---:|---|"]  # fmt: skip
        for c in clip["comparison"]:
            s = c["setting"]
            ours = c.get("ours")
            lines.append(f"| {s['min_cutoff']:g} / {s['beta']:g} | {_fmt(c['their_lag_ms'], '.0f')} | {_fmt(c['their_jitter_mm'])} / {_fmt(c['their_arm_bone_cv_pct'])} | "
                         f"{ours or '-'} | {_fmt(c.get('our_lag_ms'), '.0f')} | {_fmt(c.get('our_jitter_mm'))} / {_fmt(c.get('our_arm_bone_cv_pct'))} | {c['verdict']} |")  # fmt: skip
    pose = result["summary"].get("pose")
    if pose:
        lines += ["", f"### real .pose clips ({pose['clips']}, means; no world landmarks: our rows only)", ""]
        table({n: r | {"lag_source": None if n == UPLIFT else UPLIFT} for n, r in pose["mean"].items()})
        for n in (CAUSAL, OFFLINE):
            if n in pose["mean"]:
                lines.append(f"\n{n}: jitter {pose['mean'][n]['jitter_vs_uplift']:.2f}x the uplift's")
    comp = result["summary"]["comparisons"]
    lines.append(f"\nequal-lag comparisons against MediaPipe + One Euro: {comp['wins']} of {comp['total']} won")
    return "\n".join(lines)


def _add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--data", type=Path, default=None, help="shared data folder (default: $SKELETOR_DATA or ../shared/data)")
    ap.add_argument("--weights", type=Path, default=None, help="causal refiner ONNX (default: the shipped weights)")
    ap.add_argument(
        "--offline-weights",
        type=Path,
        default=None,
        help="bidirectional refiner ONNX (default: the shipped weights/skeletor_refiner_bidir.onnx)",
    )
    ap.add_argument("--videos", nargs="*", choices=sorted(VIDEOS), default=sorted(VIDEOS), help="which real videos (default: all)")
    ap.add_argument("--no-pose-clips", action="store_true", help="leave out the real .pose clips")
    ap.add_argument("--max-clips", type=int, default=None, help="use only the first N .pose clips (smoke runs)")
    ap.add_argument("--no-cache", action="store_true", help="run MediaPipe again instead of reading ~/.cache/skeletor/bench_real")
    ap.add_argument("--json", type=Path, default=RESULTS / "real.json", help="where to write the results")
    ap.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run the benchmark with parsed options; print the table and write the JSON."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.data is not None:
        os.environ["SKELETOR_DATA"] = str(args.data)
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("skeletor bench real needs mediapipe (pip install mediapipe)", file=sys.stderr)
        return 2
    from skeletor.cleaner.offline import default_offline_weights_path
    from skeletor.cleaner.stream import default_weights_path

    weights = args.weights or default_weights_path()
    offline = args.offline_weights or default_offline_weights_path()
    for w in (weights, offline):
        if not Path(w).is_file():
            print(f"no such weights file: {w}", file=sys.stderr)
            return 2
    t0 = time.time()
    result = run_benchmark(weights, offline, {k: VIDEOS[k] for k in args.videos}, not args.no_pose_clips, args.max_clips,
                           progress=not args.no_progress, cache=not args.no_cache)  # fmt: skip
    result["meta"] = {
        "seconds": round(time.time() - t0, 1),
        "command": " ".join(["skeletor bench real", *(argv if argv is not None else sys.argv[1:])]),
        "weights": str(weights),
        "offline_weights": str(offline),
        "one_euro_settings": [list(s) for s in ONE_EURO_SETTINGS],
        "shoulder_width_m": SHOULDER_WIDTH_M,
    }
    print(format_table(result))
    write_result(args.json, result)
    print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.real``: the same as ``skeletor bench real``."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.real", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_options(ap)
    return run(ap.parse_args(argv), argv)


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench real``."""
    p = sub.add_parser("real", help="real video: our 3D against MediaPipe's world landmarks (+ One Euro) at equal lag",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _add_options(p)
    p.set_defaults(run=run)


if __name__ == "__main__":
    sys.exit(main())
