"""Person ids across frames, on real mocap people seen by one virtual camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import load_bandai
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.eval.scenes import occlusions, shared_view
from skeletor.eval.views import View
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.tracking import PersonTracker, TrackerConfig, body_size

pytestmark = pytest.mark.data

FPS = 30.0
WALK = "dataset-1_walk_angry_002"  # a test-split walk of 242 frames


def _bandai(data_dir: Path, stem: str) -> np.ndarray:
    return load_bandai(next((data_dir / "bandai_namco").rglob(stem + ".bvh"))).positions


@pytest.fixture(scope="module")
def crossing(data_dir: Path) -> list[View]:
    """Two walkers (the same real walk, 20 frames apart, so pose alone cannot tell them
    apart) crossing the image in 2 s in opposite directions, 0.3 m apart in depth: the
    farther one is hidden behind the nearer for a few frames."""
    walk = _bandai(data_dir, WALK)
    t = 60
    s = np.linspace(0.0, 1.0, t)[:, None]
    paths = [np.concatenate([-1.8 + 3.6 * s, np.zeros((t, 1))], 1), np.concatenate([1.8 - 3.6 * s, np.full((t, 1), -0.3)], 1)]
    return shared_view([walk[:t], walk[20 : 20 + t]], FPS, paths)


def _detections(views: list[View], seed: int) -> list[np.ndarray]:
    """Each person's keypoints through the simulated detector, and nothing where they are hidden."""
    hidden = occlusions(views)
    out = []
    for p, v in enumerate(views):
        kp = detector_faults(v.keypoints.keypoints, HOLISTIC75, DetectorFaults(), np.random.default_rng([seed, p]))
        kp[hidden[:, p]] = np.array([np.nan, np.nan, 0.0], np.float32)
        out.append(kp)
    return out


def _track(kps: list[np.ndarray], config: TrackerConfig, seed: int) -> dict[int, list[int | None]]:
    """Run the tracker with the people given in a random order each frame: person -> the ids they got."""
    tracker, rng = PersonTracker(config), np.random.default_rng(seed)
    got: dict[int, list[int | None]] = {p: [] for p in range(len(kps))}
    for t in range(len(kps[0])):
        order = [p for p in rng.permutation(len(kps)) if (kps[p][t, :, 2] > 0).any()]
        update = tracker.update([kps[p][t] for p in order], t / FPS)
        for p, pid in zip(order, update.ids):
            got[p].append(pid)
    return got


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_people_crossing_keep_their_ids(crossing: list[View], seed: int) -> None:
    hidden = occlusions(crossing)
    assert hidden[:, 1].sum() >= 2 and not hidden[:, 0].any()  # the farther walker is hidden mid-way
    got = _track(_detections(crossing, seed), TrackerConfig(), seed)
    ids = {p: set(g) for p, g in got.items()}
    assert all(len(s) == 1 for s in ids.values()) and ids[0] != ids[1], ids


def test_the_crossing_needs_the_prediction(crossing: list[View]) -> None:
    """The scene is hard: matching on the last seen keypoints (no motion prediction) swaps
    or loses the two at the crossing, for every seed the test above uses."""
    for seed in (0, 1, 2):
        got = _track(_detections(crossing, seed), TrackerConfig(max_predict_s=0.0), seed)
        ids = {p: set(g) for p, g in got.items()}
        assert not (all(len(s) == 1 for s in ids.values()) and ids[0] != ids[1]), seed


def test_keypoints_pass_through_untouched_and_small_detections_are_ignored(crossing: list[View]) -> None:
    """The tracker decides who is who, never what a person's joints are: left stays left."""
    kps = [v.keypoints.keypoints for v in crossing]
    tracker = PersonTracker()
    before = [k.copy() for k in kps]
    scrap = np.full((75, 3), np.nan, np.float32)
    scrap[:, 2] = 0.0
    scrap[[0, 11], :] = [[100.0, 100.0, 0.9], [120.0, 130.0, 0.9]]  # two joints: not a person
    update = tracker.update([kps[0][0], scrap, kps[1][0]], 0.0)
    assert update.ids == [0, None, 1] and update.appeared == [0, 1]
    for k, b in zip(kps, before):
        np.testing.assert_array_equal(k, b)


def test_ids_survive_a_short_gap_and_are_never_reused_after_forget_after(data_dir: Path) -> None:
    walk = _bandai(data_dir, WALK)
    view = shared_view([walk[:200]], FPS, [np.array([0.0, 0.0])])[0]
    kp = view.keypoints.keypoints
    config = TrackerConfig(forget_after_s=1.0)
    tracker = PersonTracker(config)
    seen = np.ones(len(kp), bool)
    seen[40:55] = False  # 0.5 s away: the same person, the same id
    seen[80:115] = False  # 35 frames = 1.17 s away: the track ends, the person comes back as someone new
    ids, ended_at = [], {}
    for t in range(len(kp)):
        update = tracker.update([kp[t]] if seen[t] else [], t / FPS)
        ids.append(update.ids[0] if seen[t] else None)
        for pid in update.ended:
            ended_at[pid] = t
    assert set(ids[:80]) - {None} == {0}
    assert ended_at == {0: 79 + 30}  # the first frame 1 s after it was last seen (frame 79)
    assert set(ids[115:]) == {1}  # a new id, not 0 again
    assert tracker.alive == [1]
    tracker.reset()
    assert tracker.update([kp[0]], 100.0).ids == [2]  # after a reset too, ids go on counting


def test_bad_input_is_refused(crossing: list[View]) -> None:
    tracker = PersonTracker()
    tracker.update([], 1.0)
    with pytest.raises(ValueError, match="timestamps must not decrease"):
        tracker.update([], 0.5)
    with pytest.raises(ValueError, match=r"detection 0: expected \(J >= 33, 3\) keypoints"):
        tracker.update([np.zeros((10, 3))], 2.0)
    with pytest.raises(ValueError, match="forget_after_s must be > 0"):
        TrackerConfig(forget_after_s=0.0)


def test_body_size_is_the_larger_of_shoulders_and_torso(crossing: list[View]) -> None:
    kp = crossing[0].keypoints.keypoints[0]
    shoulders = np.linalg.norm(kp[11, :2] - kp[12, :2])
    torso = np.linalg.norm(kp[[11, 12], :2].mean(0) - kp[[23, 24], :2].mean(0))
    assert body_size(kp) == pytest.approx(max(shoulders, torso))
    near, far = (body_size(v.keypoints.keypoints[0]) for v in crossing)
    assert near > far  # the nearer walker is larger
