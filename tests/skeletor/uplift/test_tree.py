"""The uplift tree: rescaling and imposing bone lengths on real mocap and real uplifted poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.datasets.poseformat import load_pose_file
from skeletor.uplift.streaming import uplift_streaming
from skeletor.uplift.tree import UpliftTree


def test_rescale_bones_gives_another_body_making_the_same_motion(data_dir: Path) -> None:
    """Real mocap with its bones rescaled: each bone's length changes by exactly its factor
    (twins alike), its direction and the mid-shoulder stay, missing joints stay missing."""
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    pos = load_bandai(test[0]).positions[:60]
    tree = UpliftTree()
    f = np.random.default_rng(3).uniform(0.8, 1.6, tree.num_shared)
    out = tree.rescale_bones(pos, f)
    before, after = tree.bone_lengths_of(pos), tree.bone_lengths_of(out)
    seen = np.isfinite(before)
    assert seen.sum() >= 14
    np.testing.assert_allclose(after[seen], before[seen] * f[tree.share][seen], rtol=1e-4)
    assert not np.isfinite(after[~seen]).any()
    ext = lambda p: np.concatenate([p, 0.5 * (p[:, 11:12] + p[:, 12:13])], axis=1)  # noqa: E731 (with the neck)
    v0 = ext(pos)[:, tree.children] - ext(pos)[:, tree.bone_parent]
    v1 = ext(out)[:, tree.children] - ext(out)[:, tree.bone_parent]
    cos = (v0 * v1).sum(-1)[:, seen] / (np.linalg.norm(v0, axis=-1) * np.linalg.norm(v1, axis=-1))[:, seen]
    assert cos.min() > 1 - 1e-5
    np.testing.assert_allclose(ext(out)[:, -1], ext(pos)[:, -1], atol=1e-5)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(pos))
    with pytest.raises(ValueError, match="positive factors"):
        tree.rescale_bones(pos, -f)


def _impose_by_walking(tree: UpliftTree, pose: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The definition of ``impose_lengths``: from the root outwards, each joint moves along
    its bone to the bone's length; a bone of zero length moves with its parent; a bone with
    a NaN end leaves its child where it was."""
    p = np.concatenate([pose, 0.5 * (pose[11:12] + pose[12:13])]).astype(np.float64)  # (76, 3) with the neck
    out = p.copy()
    for b in np.argsort(tree.depth[tree.children], kind="stable"):
        ch, pa = tree.children[b], tree.bone_parent[b]
        v = p[ch] - p[pa]
        n = np.linalg.norm(v)
        if np.isfinite(n) and n > 1e-9 and np.isfinite(out[pa]).all():
            out[ch] = out[pa] + v / n * lengths[b]
        elif np.isfinite(n):
            out[ch] = out[pa] + v
    return out[:75].astype(np.float32)


def test_a_joint_on_its_parent_stays_on_it_when_the_parent_moves(data_dir: Path) -> None:
    """Defect: a bone of no length (the body wrist -> hand wrist, length 0) has no direction,
    and its child was left where it was while the wrist moved to the arm's new length: the
    hand came off the arm, or not, as rounding put the two wrists 1e-9 m apart or not (5 cm
    jumps of a whole hand in the cleaner's output on a real clip)."""
    tree = UpliftTree()
    pose = uplift_streaming(load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")).poses3d[100]
    assert np.array_equal(pose[16], pose[54])  # the uplift puts the hand's wrist on the body's
    lengths = tree.bone_lengths_of(pose[None]) * 1.2  # longer arms: the wrists move
    got = tree.impose_lengths(pose, np.nan_to_num(lengths))
    assert np.linalg.norm(got[16] - pose[16]) > 0.01
    np.testing.assert_array_equal(got[54], got[16])
    # the hand moved with it, its shape kept (each finger bone at its length)
    after = tree.bone_lengths_of(got[None])
    hand = np.isin(tree.children, np.arange(55, 75))
    np.testing.assert_allclose(after[hand], np.nan_to_num(lengths)[hand], rtol=1e-5)


def test_impose_lengths_is_the_walk_from_the_root_on_real_poses_with_holes(data_dir: Path) -> None:
    """Real uplifted poses (hands included) with random joints, shoulders and a whole hand
    missing: every bone at the given length, every hole where it was, the same as the walk."""
    tree = UpliftTree()
    seq = load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")
    poses = uplift_streaming(seq).poses3d
    rng = np.random.default_rng(3)
    lengths = tree.prior * rng.uniform(0.8, 1.2, size=tree.prior.shape)
    for k, pose in enumerate(poses[::10]):
        pose = pose.copy()
        pose[rng.random(75) < 0.1] = np.nan
        if k % 3 == 0:
            pose[11 + k % 2] = np.nan  # a shoulder: the neck (the root) is missing too
        if k % 4 == 0:
            pose[33:54] = np.nan
        got = tree.impose_lengths(pose, lengths)
        np.testing.assert_allclose(got, _impose_by_walking(tree, pose, lengths), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(pose))
    # every bone with a direction gets its length (the neck's bones aside: the neck is
    # recomputed from the moved shoulders when lengths are measured)
    before = tree.bone_lengths_of(poses[100][None])
    after = tree.bone_lengths_of(tree.impose_lengths(poses[100], lengths)[None])
    check = (before > 1e-9) & (tree.bone_parent != 75)  # 75: the virtual neck
    assert check.sum() >= 20
    np.testing.assert_allclose(after[check], lengths[check], rtol=1e-5)
