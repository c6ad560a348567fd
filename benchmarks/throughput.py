"""``skeletor bench throughput``: frames per second of ``skeletor clean``, and the
streaming uplift's cost per frame.

On keypoint files (uplift + refiner, the part that is ours) and on a video (MediaPipe
detection + the same; bound by the detector). The per-frame uplift cost (the foundation
issue asks <= 1 ms) is timed push by push on the real MediaPipe Holistic files (body and
hands), after a 20-frame warm-up per file, and once more with the bone-length history
full (the files back to back, as in a long live session).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import RESULTS, write_result

__all__ = ["run_throughput", "add_bench_parser"]


def _timed_push(up, s, i: int) -> float:
    """Milliseconds of ``up.push`` for frame ``i`` of keypoint sequence ``s``."""
    t0 = time.perf_counter()
    up.push(s.keypoints[i], None, None if s.depth is None else s.depth[i], s.image_size)
    return 1000 * (time.perf_counter() - t0)


def uplift_frame_cost(seqs: list, warmup: int = 20, repeats: int = 3) -> dict[str, float]:
    """Percentiles (ms) of one ``StreamingUplifter.push`` over ``seqs`` (KeypointSequences),
    warm-up frames left out, every file run ``repeats`` times (a shared machine is noisy)."""
    from benchmarks.common import percentiles
    from skeletor.uplift import StreamingUplifter

    ms = []
    for s in seqs * repeats:
        up = StreamingUplifter()
        for i in range(len(s)):
            cost = _timed_push(up, s, i)
            if i >= warmup:
                ms.append(cost)
    return percentiles(ms)


def uplift_steady_cost(seqs: list, frames: int = 600) -> dict[str, float]:
    """Percentiles (ms) of one push once the bone-length history is full (a long live
    session): the files played one after another, without reset, timed after
    ``UpliftConfig.length_history`` frames."""
    from benchmarks.common import percentiles
    from skeletor.uplift import StreamingUplifter

    up = StreamingUplifter()
    skip = up.config.length_history
    ms, n = [], 0
    while n < skip + frames:
        for s in seqs:
            for i in range(len(s)):
                cost = _timed_push(up, s, i)
                if n >= skip:
                    ms.append(cost)
                n += 1
    return percentiles(ms)


def run_throughput(video: Path | None, max_video_frames: int = 120) -> dict:
    """Frames/s for keypoints (uplift only, and uplift + refiner when weights exist) and video; uplift ms per frame."""
    from skeletor.datasets import data_root
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence, default_weights_path

    seqs = [load_pose_file(p) for p in list_pose_files(data_root() / "slp_pose_format")]
    frames = sum(len(s) for s in seqs)
    out: dict = {"keypoint_frames": frames}
    out["uplift ms per frame"] = uplift_frame_cost(seqs)
    out["uplift ms per frame, history full"] = uplift_steady_cost(seqs)
    configs = {"uplift only": CleanerConfig(refine=False)}
    if default_weights_path().is_file():
        configs["uplift + refiner"] = CleanerConfig(refine=True)
    for name, cfg in configs.items():
        cleaner = StreamingCleaner(cfg)
        t0 = time.perf_counter()
        for s in seqs:
            cleaner.reset()
            clean_sequence(s, cleaner)
        out[f"keypoints fps, {name}"] = frames / (time.perf_counter() - t0)
    if video is not None:
        import cv2

        from realtime.detectors.holistic import HolisticDetector

        cap = cv2.VideoCapture(str(video))
        cleaner = StreamingCleaner(list(configs.values())[-1])
        n, t0 = 0, time.perf_counter()
        with HolisticDetector() as det:
            while n < max_video_frames:
                ok, img = cap.read()
                if not ok:
                    break
                kp, depth, _ = det.detect(img)
                cleaner.push(kp, None, depth, (img.shape[1], img.shape[0]))
                n += 1
        out["video"] = str(video)
        out["video fps (decode + MediaPipe + clean)"] = n / (time.perf_counter() - t0)
    return out


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench throughput``."""
    p = sub.add_parser("throughput", help="frames/s of skeletor clean on keypoints and on video", description=__doc__)
    p.add_argument("--video", type=Path, default=None, help="a video to time too (detector-bound)")
    p.add_argument("--json", type=Path, default=RESULTS / "throughput.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_throughput(args.video)
    write_result(args.json, res)
    for k, v in res.items():
        if isinstance(v, dict):
            print(f"{k}: " + ", ".join(f"{q} {x:.2f}" for q, x in v.items() if q != "n") + f" (n={v.get('n')})")
        else:
            print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    print(f"wrote {args.json}")
    return 0
