"""``skeletor bench people``: several people, what each costs, and how well their ids hold.

Cost per frame against the number of people (1-4), stage by stage. The images: the
single-person dance video (``videos/mediapipe_pose_segmentation_dance.mp4``, 600 x 600) in
a 2 x 2 grid (a 1200 x 1200 image), K of the four tiles showing the dancer (each tile 25
frames further into the video, so the K people move differently), the rest black. Stages:
``detect`` (the multi-person detector, ``num_poses = K``: PoseLandmarker, then MediaPipe
Hands over the whole image with ``max_num_hands = 2K``; hands found are given to bodies),
``track`` (:class:`~skeletor.tracking.PersonTracker`), ``uplift`` (every person's
streaming uplift, summed) and ``refine`` (every person's refiner window in one batched
call; and, for comparison, one call per person). MediaPipe Holistic on the one-person
image is the reference (today's path). The first ``warmup`` frames are not timed; each
frame is run for every K in turn, so the load of a shared machine falls on all K alike.

Tracking on ``videos/openpose_video.avi`` (street dancers in a crowd, 205 frames at 50 fps,
``--people 3``), which has no ground-truth ids:

* tracks: ids given, tracks shorter than 0.5 s (fragments: a flicker of the detector, or
  a person split in pieces), median track length;
* suspected id switches: frames where a track's torso colour (mean CIELAB of a square
  half a body size wide at the torso's centre, OpenCV's 8-bit scale) changes: the median of
  its 10 observations before and of its 10 after differ by more than 30 (a flagged run of
  frames counts once). On this video the one flagged (frames 140-148) is a real switch,
  checked by eye: the detector's landmarks slide from a woman onto a man who passes in
  front of her, and the tracker follows the landmarks; a track that never changed
  person peaks at 23.

Tracking with ground truth: two real Bandai-Namco walks crossing in front of one virtual
camera (:mod:`skeletor.eval.scenes`; the farther walker hidden for a few frames; the
simulated detector's faults; a new seed per run), counting id switches and fragments.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, write_result

__all__ = ["grid_frames", "run_cost", "run_tracking", "run_crossings", "add_bench_parser"]

log = logging.getLogger(__name__)

DANCE = "mediapipe_pose_segmentation_dance.mp4"
STREET = "openpose_video.avi"
TILE_OFFSET = 25  # frames between the dancers of the grid
SWITCH_DELTA_E = 30.0  # torso colour change (CIELAB, OpenCV 8-bit scale) that flags a suspected switch
SWITCH_WINDOW = 10  # observations compared on each side


def grid_frames(video: Path, people: int) -> Iterator[np.ndarray]:
    """(1200, 1200, 3) BGR images: the video's frames in ``people`` tiles of a 2 x 2 grid, the rest black."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(img, (600, 600)))
    cap.release()
    n = len(frames)
    for t in range(n):
        grid = np.zeros((1200, 1200, 3), np.uint8)
        for k in range(people):
            r, c = divmod(k, 2)
            grid[600 * r : 600 * (r + 1), 600 * c : 600 * (c + 1)] = frames[(t + k * TILE_OFFSET) % n]
        yield grid


def run_cost(video: Path, counts: tuple[int, ...] = (1, 2, 3, 4), frames: int = 40, warmup: int = 10) -> dict:
    """Per-frame cost (ms) of each stage against the number of people (see the module docstring)."""
    from realtime.detectors.holistic import HolisticDetector
    from realtime.detectors.multipose import MultiPoseConfig, MultiPoseDetector
    from skeletor.cleaner.people import MultiPersonCleaner, PeopleConfig
    from skeletor.refiner.runtime import OnnxRefiner

    model = OnnxRefiner()
    stages = ("detect", "detect: pose", "detect: hands", "track", "uplift", "refine", "refine, a call per person", "total")
    dets = {k: MultiPoseDetector(MultiPoseConfig(people=k)) for k in counts}
    cleaners = {
        k: (MultiPersonCleaner(PeopleConfig(), refiner=model), MultiPersonCleaner(PeopleConfig(batched=False), refiner=model))
        for k in counts
    }
    ms: dict[int, dict[str, list[float]]] = {k: {s: [] for s in stages} for k in counts}
    found: dict[int, list[int]] = {k: [] for k in counts}
    hands: dict[int, list[int]] = {k: [] for k in counts}
    grids = {k: grid_frames(video, k) for k in counts}
    try:
        for t in range(warmup + frames):  # every count in turn on each frame, so the machine's load falls on all alike
            for k in counts:
                img = next(grids[k])
                det, (batched, separate) = dets[k], cleaners[k]
                t0 = time.perf_counter()
                people = det.detect_people(img, round(t * 1e9 / 20.0))
                detect = 1000 * (time.perf_counter() - t0)
                inputs = [(p.keypoints, p.depth) for p in people]
                for cleaner in (batched, separate) if t % 2 else (separate, batched):  # in turn, so neither always runs first
                    cleaner.push(inputs, t / 20.0, (1200, 1200))
                if t < warmup:
                    continue
                b, m = batched.last_timings_ms, ms[k]
                m["detect"].append(detect)
                m["detect: pose"].append(det.last_timings_ms["pose"])
                m["detect: hands"].append(det.last_timings_ms["hands"])
                for stage in ("track", "uplift", "refine"):
                    m[stage].append(b[stage])
                m["refine, a call per person"].append(separate.last_timings_ms["refine"])
                m["total"].append(detect + b["track"] + b["uplift"] + b["refine"])
                found[k].append(len(people))
                hands[k].append(sum(int((p.keypoints[33:, 2] > 0).any()) for p in people))
    finally:
        for det in dets.values():
            det.close()
    rows = []
    for k in counts:
        rows.append({"people": k, "people_found_mean": float(np.mean(found[k])), "people_with_a_hand_mean": float(np.mean(hands[k])),
                     "ms": {s: percentiles(v) for s, v in ms[k].items()}})  # fmt: skip
        log.info("%d people: %s", k, {s: round(v["p50"], 2) for s, v in rows[-1]["ms"].items()})
    holistic = []
    with HolisticDetector() as det:
        for t, img in enumerate(grid_frames(video, 1)):
            if t >= warmup + frames:
                break
            t0 = time.perf_counter()
            det.detect(img, 0)
            if t >= warmup:
                holistic.append(1000 * (time.perf_counter() - t0))
    return {"video": video.name, "image": "1200x1200, 2x2 grid", "frames": frames, "warmup": warmup, "rows": rows,
            "holistic_detect_ms_one_person": percentiles(holistic)}  # fmt: skip


def _torso_colour(lab: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """Mean CIELAB colour of a square half a body size wide at the torso's centre (None when the torso is not seen)."""
    from skeletor.tracking import body_size

    torso = kp[[11, 12, 23, 24]]
    if not (torso[:, 2] > 0.5).all():
        return None
    c, s = torso[:, :2].mean(0), 0.25 * body_size(kp)
    h, w = lab.shape[:2]
    x0, x1, y0, y1 = int(max(c[0] - s, 0)), int(min(c[0] + s, w)), int(max(c[1] - s, 0)), int(min(c[1] + s, h))
    if x1 <= x0 or y1 <= y0:
        return None
    return lab[y0:y1, x0:x1].reshape(-1, 3).mean(0)


def suspected_switches(observations: list[tuple[int, np.ndarray | None]]) -> list[list[int]]:
    """Runs of frames where a track's torso colour changes (see the module docstring): [first, last] frame of each."""
    seen = [(t, c) for t, c in observations if c is not None]
    ts, cs = [t for t, _ in seen], np.array([c for _, c in seen])
    flagged = []
    for i in range(SWITCH_WINDOW, len(cs) - SWITCH_WINDOW + 1):
        before, after = np.median(cs[i - SWITCH_WINDOW : i], 0), np.median(cs[i : i + SWITCH_WINDOW], 0)
        if np.linalg.norm(before - after) > SWITCH_DELTA_E:
            flagged.append(i)
    runs: list[list[int]] = []
    for i in flagged:
        if runs and i == runs[-1][2] + 1:
            runs[-1][1], runs[-1][2] = ts[i], i
        else:
            runs.append([ts[i], ts[i], i])
    return [[a, b] for a, b, _ in runs]


def run_tracking(video: Path, people: int = 3, max_frames: int | None = None) -> dict:
    """Tracks, fragments and suspected id switches on a real street video (see the module docstring)."""
    import cv2

    from realtime.detectors.multipose import MultiPoseConfig, MultiPoseDetector
    from skeletor.tracking import PersonTracker

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    tracker = PersonTracker()
    tracks: dict[int, list[tuple[int, np.ndarray | None]]] = {}
    counts = []
    with MultiPoseDetector(MultiPoseConfig(people=people, hands=False)) as det:
        t = 0
        while max_frames is None or t < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            found = det.detect_people(img, round(t * 1e9 / fps))
            lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32)
            update = tracker.update([p.keypoints for p in found], t / fps)
            for p, pid in zip(found, update.ids):
                if pid is not None:
                    tracks.setdefault(pid, []).append((t, _torso_colour(lab, p.keypoints)))
            counts.append(len(found))
            t += 1
    cap.release()
    lengths = {pid: obs[-1][0] - obs[0][0] + 1 for pid, obs in tracks.items()}
    switches = {pid: runs for pid, obs in tracks.items() if (runs := suspected_switches(obs))}
    return {
        "video": video.name, "frames": len(counts), "fps": fps, "people": people,
        "people_per_frame": {str(k): int(v) for k, v in zip(*np.unique(counts, return_counts=True))},
        "tracks": len(tracks),
        "fragments_under_0.5s": sum(1 for n in lengths.values() if n < 0.5 * fps),
        "track_frames": {str(pid): {"first": obs[0][0], "last": obs[-1][0], "detected": len(obs)} for pid, obs in tracks.items()},
        "median_track_s": float(np.median(list(lengths.values())) / fps),
        "suspected_switches": sum(len(r) for r in switches.values()),
        "suspected_switch_frames": {str(pid): runs for pid, runs in switches.items()},
    }  # fmt: skip


def run_crossings(seeds: int = 20) -> dict:
    """Id switches and fragments on synthetic crossings of two real walkers, with ground truth."""
    from skeletor.datasets import data_root
    from skeletor.datasets.bvh import load_bandai
    from skeletor.eval.corrupt import DetectorFaults, detector_faults
    from skeletor.eval.scenes import occlusions, shared_view
    from skeletor.pose.skeleton import HOLISTIC75
    from skeletor.tracking import PersonTracker

    walk = load_bandai(next((data_root() / "bandai_namco").rglob("dataset-1_walk_angry_002.bvh"))).positions
    out = {}
    for seconds in (2.0, 4.0):
        t = int(seconds * 30)
        s = np.linspace(0.0, 1.0, t)[:, None]
        paths = [np.concatenate([-1.8 + 3.6 * s, np.zeros((t, 1))], 1), np.concatenate([1.8 - 3.6 * s, np.full((t, 1), -0.3)], 1)]
        views = shared_view([walk[:t], walk[20 : 20 + t]], 30.0, paths)
        hidden = occlusions(views)
        switches = fragments = 0
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            kps = []
            for p, v in enumerate(views):
                kp = detector_faults(v.keypoints.keypoints, HOLISTIC75, DetectorFaults(), np.random.default_rng([seed, p]))
                kp[hidden[:, p]] = np.array([np.nan, np.nan, 0.0], np.float32)
                kps.append(kp)
            tracker, got = PersonTracker(), {0: [], 1: []}
            for f in range(t):
                order = [p for p in rng.permutation(2) if (kps[p][f, :, 2] > 0).any()]
                update = tracker.update([kps[p][f] for p in order], f / 30.0)
                for p, pid in zip(order, update.ids):
                    got[p].append(pid)
            for ids in got.values():  # a switch: the id changes from one detection to the next of the same person
                switches += sum(1 for a, b in zip(ids, ids[1:]) if a != b)
            fragments += sum(len(set(ids)) - 1 for ids in got.values())
        out[f"crossing in {seconds:g} s"] = {
            "seeds": seeds,
            "hidden_frames": int(hidden[:, 1].sum()),
            "id_switches": switches,
            "extra_ids": fragments,
        }
    return out


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench people``."""
    p = sub.add_parser("people", help="several people: cost per frame against the number of people, and id tracking", description=__doc__)
    p.add_argument("--frames", type=int, default=40, help="timed frames per number of people (default 40, after 10 of warm-up)")
    p.add_argument("--max-people", type=int, default=4, choices=(1, 2, 3, 4), help="time 1 .. this many people (default 4)")
    p.add_argument("--seeds", type=int, default=20, help="seeds of the synthetic crossings (default 20)")
    p.add_argument("--json", type=Path, default=RESULTS / "people.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from skeletor.datasets import data_root

    videos = data_root() / "videos"
    res = {
        "cost": run_cost(videos / DANCE, tuple(range(1, args.max_people + 1)), frames=args.frames),
        "tracking": run_tracking(videos / STREET),
        "crossings": run_crossings(args.seeds),
    }
    write_result(args.json, res)
    cost = res["cost"]
    print(f"per-frame cost, ms (p50), {cost['image']}; Holistic, one person: {cost['holistic_detect_ms_one_person']['p50']:.1f}")
    stages = ("detect", "detect: pose", "detect: hands", "track", "uplift", "refine", "refine, a call per person", "total")
    print("people | " + " | ".join(stages))
    for row in cost["rows"]:
        print(f"{row['people']} | " + " | ".join(f"{row['ms'][s]['p50']:.2f}" for s in stages))
    tr = res["tracking"]
    print(f"{tr['video']}: {tr['tracks']} tracks, {tr['fragments_under_0.5s']} under 0.5 s, {tr['suspected_switches']} suspected switch(es) "
          f"{tr['suspected_switch_frames']}, median track {tr['median_track_s']:.2f} s")  # fmt: skip
    for name, c in res["crossings"].items():
        print(f"{name}: {c['id_switches']} id switches, {c['extra_ids']} extra ids over {c['seeds']} seeds")
    print(f"wrote {args.json}")
    return 0
