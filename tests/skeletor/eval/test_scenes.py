"""Multi-person scenes: real mocap people placed on the floor in front of one camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import load_bandai
from skeletor.eval.scenes import occlusions, shared_view

pytestmark = pytest.mark.data


def test_people_stand_where_they_are_put_and_face_the_camera(data_dir: Path) -> None:
    clips = [
        load_bandai(next((data_dir / "bandai_namco").rglob(f"{s}.bvh"))).positions
        for s in ("dataset-1_bow_feminine_001", "dataset-1_punch_normal_001")
    ]
    left, right = shared_view(clips, 30.0, [np.array([-0.8, 0.0]), np.array([0.8, 0.5])], distance_m=4.0)
    assert len(left.truth) == min(len(c) for c in clips)
    hips = [v.truth[:, [23, 24]].mean(1) for v in (left, right)]  # (T, 3) camera frame
    assert np.median(hips[0][:, 0]) == pytest.approx(-0.8, abs=0.1) and np.median(hips[1][:, 0]) == pytest.approx(0.8, abs=0.1)
    assert np.median(hips[0][:, 2]) == pytest.approx(4.0, abs=0.1) and np.median(hips[1][:, 2]) == pytest.approx(3.5, abs=0.1)
    # facing the camera: the subject's left shoulder is on the image's right
    assert (left.truth[:, 11, 0] > left.truth[:, 12, 0]).mean() > 0.9
    # keypoints are the truth seen through the one shared camera
    cam = left.camera
    np.testing.assert_allclose(
        right.keypoints.keypoints[..., :2], np.where(right.keypoints.keypoints[..., 2:] > 0, cam.project(right.truth), np.nan), atol=1e-3
    )
    assert right.camera is cam


def test_the_farther_person_is_hidden_while_the_nearer_covers_them(data_dir: Path) -> None:
    walk = load_bandai(next((data_dir / "bandai_namco").rglob("dataset-1_walk_angry_002.bvh"))).positions
    t = 60
    s = np.linspace(0.0, 1.0, t)[:, None]
    near = np.concatenate([-1.8 + 3.6 * s, np.zeros((t, 1))], 1)
    far = np.concatenate([1.8 - 3.6 * s, np.full((t, 1), -0.3)], 1)
    views = shared_view([walk[:t], walk[20 : 20 + t]], 30.0, [near, far])
    hidden = occlusions(views)
    assert not hidden[:, 0].any()
    frames = np.flatnonzero(hidden[:, 1])
    assert 2 <= len(frames) <= 12 and abs(frames.mean() - t / 2) < 5  # mid-way, where the paths cross
