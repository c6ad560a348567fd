"""``skeletor dataset build``: every training source, uplifted, in one cache file.

The refiner cleans what the streaming uplift produces, so that is what it trains on:
2D sources go through the live uplift (``uplift_streaming``); 3D sources are used as they
are (camera frame, x right, y down, z forward). Sources and splits (fixed):

=====================  =====================================================  ==========
source                 what goes in                                           split
=====================  =====================================================  ==========
Phoenix14T             3D skeletons (already uplifted), train / dev           train / val
gopeith (Czech SL)     2D OpenPose -> uplift                                  train
How2Sign               2D OpenPose, 5 clips -> uplift                         4 train, 1 val
MediaPipe .pose files  real Holistic detections (+ depth hint) -> uplift      train
Bandai-Namco           TRAIN split of ``bandai_split`` only (the test split   train (+ 1 in
                       is the public benchmark's and is never used), each     10 clips val)
                       clip seen by ``views`` random virtual cameras with
                       detector faults (half with a depth hint) -> uplift;
                       target = the camera-frame mocap truth aligned to the
                       uplift (supervised pairs). Views after the first
                       are of a body of other proportions (see below)
ManipNet hands         3D finger mocap, 120 -> 30 fps, turned y-down          train
PyMO walk              3D, 120 -> 30 fps, turned y-down                       train
=====================  =====================================================  ==========

Supervised targets exist only for Bandai views: the truth is expressed in the uplift's
frame (same per-frame mid-shoulder, one least-squares scale per clip), so a target says
"where this joint really is, in the units the input is in".

Other bodies: all Bandai-Namco clips are of one mocap skeleton, and a refiner trained on
them alone learns its proportions and loses most of its gain on people built otherwise
(MediaPipe's shoulders are 1.35x Bandai-Namco's, relative to the torso; numbers in
docs/decisions.md). So every view but the first scales each
bone (left/right twins alike) of the mocap by a random factor before the camera sees it
(``BuildConfig.bone_scale``, ``shoulder_scale``): the same motion, made by other people.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.refiner.data import SequenceDataset, save_cache
from skeletor.pose.skeleton import HOLISTIC75, POSE_BODY_JOINTS
from skeletor.uplift import UpliftTree, uplift_streaming
from skeletor.eval.views import ViewConfig, detector_depth_hint, random_view

__all__ = ["BuildConfig", "build_dataset", "align_truth", "random_proportions"]

log = logging.getLogger(__name__)

# world (y up) -> camera-like frame (y down): a 180 degree turn about x (a rotation, not a mirror)
_Y_DOWN = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class BuildConfig:
    """What goes into the training set.

    Attributes:
        views: random virtual cameras per Bandai training clip.
        hint_prob: fraction of those views given a simulated detector depth hint.
        max_files: use only this many files per source (tests, quick runs); None = all.
        seed: seeds the camera placements and faults.
        bone_scale: (min, max) of the random factor each bone of the Bandai skeleton is
            scaled by in views after the first (log-uniform; twins alike). Human segment
            proportions vary by about +-10 % (Winter, Biomechanics of Human Movement).
        shoulder_scale: the same for the mid-shoulder -> shoulder bone, whose placement
            differs most between mocap skeletons and detectors: shoulder half-width over
            the shoulder-hip length is 0.25 in Bandai-Namco, 0.37 in the PyMO walk,
            0.33-0.34 in real MediaPipe detections (the ``.pose`` files, frontal).
        real_noise: fraction of Bandai views whose detector faults are the real MediaPipe
            noise measured on the ``.pose`` files (``skeletor.eval.real_noise``: correlated
            jitter, hand losses, hand swaps, drops) at that view's shoulder width in pixels,
            instead of the benchmark's fault model. 0 (the default) builds exactly the cache
            of before (no extra random draws).
    """

    views: int = 3
    hint_prob: float = 0.5
    max_files: int | None = None
    seed: int = 0
    bone_scale: tuple[float, float] = (0.85, 1.18)
    shoulder_scale: tuple[float, float] = (0.85, 1.7)
    real_noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.real_noise <= 1.0:
            raise ValueError(f"real_noise must be in [0, 1], got {self.real_noise!r}")


def random_proportions(cfg: BuildConfig, rng: np.random.Generator) -> np.ndarray:
    """(S,) factors, one per shared bone length of the uplift tree, drawn log-uniform."""
    tree = UpliftTree()
    lo, hi = np.log(np.array([cfg.bone_scale, cfg.shoulder_scale]).T)  # (2,) each: bones, shoulder
    f = np.exp(rng.uniform(lo[0], hi[0], size=tree.num_shared))
    f[tree.shared_id("left_shoulder")] = np.exp(rng.uniform(lo[1], hi[1]))
    return f


def align_truth(uplifted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Express ``truth`` in the frame of ``uplifted``: per-frame mid-shoulder, one scale.

    Args:
        uplifted: (T, 75, 3) the uplift's output.
        truth: (T, 75, 3) camera-frame truth (NaN where absent).

    Returns:
        (T, 75, 3) float32 target; NaN where the truth is absent.
    """
    body = list(POSE_BODY_JOINTS)
    ur = 0.5 * (uplifted[:, 11] + uplifted[:, 12])  # (T, 3)
    gr = 0.5 * (truth[:, 11] + truth[:, 12])
    u = uplifted[:, body] - ur[:, None]
    g = truth[:, body] - gr[:, None]
    ok = np.isfinite(u).all(-1) & np.isfinite(g).all(-1)
    s = float((u[ok] * g[ok]).sum() / max((g[ok] ** 2).sum(), 1e-12))
    return (ur[:, None] + s * (truth - gr[:, None])).astype(np.float32)


def _take(paths: list, cfg: BuildConfig) -> list:
    return paths[: cfg.max_files] if cfg.max_files else paths


def _resample(x: np.ndarray, fps: float, target: float = 30.0) -> np.ndarray:
    step = max(int(round(fps / target)), 1)
    return x[::step]


def build_dataset(out: Path, cfg: BuildConfig = BuildConfig(), progress: bool = True) -> dict[str, int]:
    """Build the cache at ``out``; returns frames per source.

    Raises:
        skeletor.datasets.DataNotFoundError: a source folder is missing.
    """
    from tqdm import tqdm

    from skeletor.datasets import data_root
    from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai, load_manipnet, load_pymo_walk
    from skeletor.datasets.openpose import load_gopeith, load_how2sign
    from skeletor.datasets.phoenix import load_phoenix
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file

    root = data_root()
    rng = np.random.default_rng(cfg.seed)
    split: dict[str, list] = {"train": [], "val": []}  # (name, poses, present, target)
    counts: dict[str, int] = {}

    def add(where: str, source: str, name: str, poses: np.ndarray, target: np.ndarray | None = None) -> None:
        present = np.isfinite(poses).all(-1)
        split[where].append((f"{source}/{name}", poses.astype(np.float32), present, target))
        counts[source] = counts.get(source, 0) + len(poses)

    t0 = time.time()
    for where, phoenix_split in (("train", "train"), ("val", "dev")):
        for m in _take(load_phoenix(phoenix_split, root / "ptslp_phoenix14t"), cfg):
            add(where, "phoenix", m.name, m.positions)
    add("train", "gopeith", "demo", uplift_streaming(load_gopeith(root / "gopeith_czech_sl")).poses3d)
    for i, seq in enumerate(_take(load_how2sign(root / "how2sign_openpose_prompt2sign"), cfg)):
        add("val" if i == 0 else "train", "how2sign", seq.name, uplift_streaming(seq).poses3d)
    for p in _take(list_pose_files(root / "slp_pose_format"), cfg):
        add("train", "pose", p.stem, uplift_streaming(load_pose_file(p)).poses3d)
    train_files, _test_never_used = bandai_split(list_bandai(root / "bandai_namco"))
    faults = DetectorFaults()
    real = None
    if cfg.real_noise > 0:
        from skeletor.eval.real_noise import faults_for_view, measure_detector_noise

        real = measure_detector_noise([load_pose_file(p) for p in list_pose_files(root / "slp_pose_format")])
        log.info("real detector noise from the .pose files: %s", real.to_dict())
    tree = UpliftTree()
    for i, path in enumerate(tqdm(_take(train_files, cfg), desc="bandai views", disable=not progress, leave=False)):
        motion = load_bandai(path)
        for v in range(cfg.views):
            body = motion.positions if v == 0 else tree.rescale_bones(motion.positions, random_proportions(cfg, rng))
            view = random_view(body, motion.fps, ViewConfig(), rng, name=path.stem)
            view_faults = faults
            if real is not None and rng.random() < cfg.real_noise:
                view_faults = faults_for_view(real, view.keypoints.keypoints)
            kp = detector_faults(view.keypoints.keypoints, HOLISTIC75, view_faults, rng)
            seq = replace(view.keypoints, keypoints=kp)
            if rng.random() < cfg.hint_prob:
                seq = replace(seq, depth=detector_depth_hint(view.truth, kp[..., 2] > 0, ViewConfig().focal_px, rng))
            up = uplift_streaming(seq).poses3d
            add("val" if i % 10 == 9 and v == 0 else "train", "bandai", f"{path.stem}/view{v}", up, align_truth(up, view.truth))
    for m in _take(load_manipnet(root / "manipnet_hands"), cfg):
        add("train", "manipnet", m.name, _resample(m.positions, m.fps) @ _Y_DOWN.T)
    walk = load_pymo_walk(root / "pymo_walk")
    add("train", "pymo", walk.name, _resample(walk.positions, walk.fps) @ _Y_DOWN.T)

    datasets = {}
    for where, items in split.items():
        names, poses, present, targets = zip(*items)
        datasets[where] = SequenceDataset(list(poses), list(present), list(names), list(targets))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_cache(out, datasets)
    log.info("dataset %s: %s frames per source, %.0f s", out, counts, time.time() - t0)
    return counts
