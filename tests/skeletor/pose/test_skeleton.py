"""The joint layouts: orders, trees, mirrors and the upper50 <-> holistic75 mapping."""

import numpy as np
import pytest

from skeletor.pose.skeleton import HOLISTIC75, UPPER50, get_skeleton, holistic75_to_upper50, upper50_to_holistic75


def test_holistic75_follows_mediapipe_order() -> None:
    s = HOLISTIC75
    assert s.num_joints == 75
    assert s.joints[0] == "nose" and s.joints[11] == "left_shoulder" and s.joints[16] == "right_wrist"
    assert s.joints[32] == "right_foot_index"
    assert s.joints[33] == "left_hand_wrist" and s.joints[54] == "right_hand_wrist"
    assert s.joints[33 + 8] == "left_hand_index_tip" and s.joints[54 + 20] == "right_hand_pinky_tip"
    # hands hang off the pose wrists of the same side
    assert s.parents[33] == 15 and s.parents[54] == 16


def test_mirror_swaps_sides_and_is_an_involution() -> None:
    for s in (HOLISTIC75, UPPER50):
        m = s.mirror
        assert np.array_equal(m[m], np.arange(s.num_joints))
        for j, name in enumerate(s.joints):
            other = s.joints[m[j]]
            if "left" in name:
                assert other == name.replace("left", "right")
    assert HOLISTIC75.joints[HOLISTIC75.mirror[9]] == "mouth_right"


def test_bone_tree_is_a_forest_and_bone_twins_match() -> None:
    s = HOLISTIC75
    assert len(s.topological_order) == 75
    assert len(s.bones) == 75 - sum(p < 0 for p in s.parents)
    twins = s.bone_mirror
    assert np.array_equal(twins[twins], np.arange(len(s.bones)))


def test_upper50_roundtrip_and_neck() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 50, 3)).astype(np.float32)
    h = upper50_to_holistic75(x)
    assert np.isnan(h[:, 23]).all()  # hips are not in upper50
    np.testing.assert_array_equal(h[:, 11], x[:, 5])  # left shoulder
    back = holistic75_to_upper50(h)
    keep = [0] + list(range(2, 50))
    np.testing.assert_array_equal(back[:, keep], x[:, keep])
    np.testing.assert_allclose(back[:, 1], 0.5 * (x[:, 2] + x[:, 5]))


def test_unknown_skeleton_and_bad_shapes_raise() -> None:
    with pytest.raises(KeyError, match="holistic75"):
        get_skeleton("coco17")
    with pytest.raises(ValueError, match="50"):
        upper50_to_holistic75(np.zeros((3, 49, 3)))
