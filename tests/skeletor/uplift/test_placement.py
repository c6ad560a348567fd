"""Placement on the viewing rays (mocap views): exact depth steps give the truth back; an undecided bone lies at its parent's depth."""

from __future__ import annotations

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.placement import perspective_positions
from skeletor.uplift.streaming import uplift_streaming
from skeletor.uplift.tree import NECK, UpliftTree, with_neck_joint


def test_uncertain_bone_lies_at_its_parents_depth(bandai_views) -> None:
    """A bone whose depth sign is undecided is put at its parent's depth, not across its
    child's viewing ray: the shanks of a person standing and bowing (mocap), ~1.2 m below
    the camera, stay upright in depth (placed across the viewing ray they would tilt ~12 deg
    towards the camera; the truth leans ~12 deg away, the knees slightly bent)."""
    view = bandai_views[0]  # dataset-1_bow_active_001
    pred = uplift_streaming(view.keypoints, UpliftConfig(sign_temperature=1e6)).poses3d  # every sign posterior flat: soft sign 0
    knee, ankle = HOLISTIC75.index("left_knee"), HOLISTIC75.index("left_ankle")
    tilt = lambda v: float(np.median(np.degrees(np.arctan2(v[:, 2], v[:, 1]))))  # noqa: E731 (z over y: < 0 towards the camera)
    shank, shank_true = tilt(pred[:, ankle] - pred[:, knee]), tilt(view.truth[:, ankle] - view.truth[:, knee])
    assert abs(shank) < 2.0, shank
    assert abs(shank - shank_true) < 15.0, (shank, shank_true)


def test_exact_signs_and_depth_extents_put_every_joint_back_on_its_ray(bandai_views) -> None:
    """Given each joint's true viewing ray, the true bone lengths, the true depth steps
    (sign and extent) and the true neck, the perspective placement returns the mocap's
    camera-frame pose itself; with the signs flipped it does not (the test can fail)."""
    tree = UpliftTree()
    view = bandai_views[2]
    for t in (0, len(view.truth) // 2, len(view.truth) - 1):
        truth = with_neck_joint(view.truth[t].astype(np.float64))  # (76, 3) metres, camera frame
        rays = truth / truth[:, 2:3]  # (x/z, y/z, 1)
        bones = truth[tree.children] - truth[tree.bone_parent]  # (B, 3)
        lengths = np.linalg.norm(bones, axis=-1)
        dz = bones[:, 2]
        seen = np.isfinite(truth).all(-1)
        assert seen.sum() >= 15  # the mocap has the body (no face or hands)
        pos = perspective_positions(tree, rays, lengths, np.abs(dz), truth[NECK], np.sign(dz), rigid=True)
        np.testing.assert_allclose(pos[seen], truth[seen], atol=1e-9)
        flipped = perspective_positions(tree, rays, lengths, np.abs(dz), truth[NECK], -np.sign(dz), rigid=True)
        assert np.nanmax(np.abs(flipped[seen] - truth[seen])) > 0.05
