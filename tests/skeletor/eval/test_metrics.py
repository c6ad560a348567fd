"""Tests for skeletor.eval.metrics: hand-checked tiny cases and invariances on real Phoenix 3D."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skeletor.eval import metrics
from skeletor.eval.corrupt import joint_noise
from skeletor.pose.skeleton import UPPER50




def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation matrix (Rodrigues)."""
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


# --------------------------------------------------------------------------------------
# Hand-checked tiny cases
# --------------------------------------------------------------------------------------


def test_mpjpe_and_paper_mse_of_a_3_4_5_offset() -> None:
    gt = np.zeros((2, 3, 3), np.float32)
    pred = gt + np.array([3.0, 4.0, 0.0], np.float32)
    assert metrics.mpjpe(pred, gt) == pytest.approx(5.0)
    assert metrics.paper_mse(pred, gt) == pytest.approx(25.0 / 3.0)
    # One entry 10 away: excluded by ``valid`` or by a NaN, counted otherwise.
    pred[1, 2] = (0.0, 10.0, 0.0)
    assert metrics.mpjpe(pred, gt) == pytest.approx((5 * 5 + 10) / 6)
    valid = np.ones((2, 3), bool)
    valid[1, 2] = False
    assert metrics.mpjpe(pred, gt, valid) == pytest.approx(5.0)
    gt_nan = gt.copy()
    gt_nan[1, 2, 0] = np.nan
    assert metrics.mpjpe(pred, gt_nan) == pytest.approx(5.0)
    assert metrics.paper_mse(pred, gt_nan) == pytest.approx(25.0 / 3.0)
    assert math.isnan(metrics.mpjpe(pred, gt, np.zeros((2, 3), bool)))


def test_n_mpjpe_tiny() -> None:
    # Root joint 0 at the origin; pred's other joint is perpendicular to gt's: the best
    # scale is 0, so the error is |gt| = 1 on joint 1 and 0 on the root.
    gt = np.array([[[0.0, 0, 0], [1, 0, 0]]])
    pred = np.array([[[5.0, 5, 5], [5, 6, 5]]])  # translated: root-centring removes it
    assert metrics.n_mpjpe(pred, gt, root=(0,)) == pytest.approx(0.5)
    # Pred is gt scaled by 3 and shifted: error 0.
    assert metrics.n_mpjpe(3 * gt + 7, gt, root=(0,)) == pytest.approx(0.0, abs=1e-12)


def test_n_mpjpe_default_root_is_the_holistic75_hips(rng: np.random.Generator) -> None:
    gt = rng.normal(0, 1, (2, 10, 75, 3))
    pred = 0.5 * gt + rng.normal(0, 1, (2, 10, 1, 3))  # scaled, and shifted per frame
    assert metrics.n_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    pred[..., 0, :] += 1.0  # move the nose: no longer a pure scale and shift
    assert metrics.n_mpjpe(pred, gt) > 0.02
    gt[:, 3, 23] = np.nan  # a frame without its root is dropped
    valid = np.ones(gt.shape[:-1], bool)
    valid[:, 3] = False
    assert metrics.n_mpjpe(pred, gt) == pytest.approx(metrics.n_mpjpe(pred, gt, valid=valid))


def test_p_mpjpe_tiny_triangle_and_no_reflection() -> None:
    gt = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]]])
    moved = 2.5 * gt @ rotation(np.array([1.0, 2, 3]), 0.7).T + np.array([1.0, -2, 4])
    assert metrics.p_mpjpe(moved, gt) == pytest.approx(0.0, abs=1e-9)
    mirrored = gt * np.array([-1.0, 1, 1])  # a reflection is not a rotation
    assert metrics.p_mpjpe(mirrored, gt) > 0.1
    # Too few joints to fix a rotation -> nothing counts.
    assert math.isnan(metrics.p_mpjpe(gt[:, :3], gt[:, :3]))


def test_accel_error_and_jitter_tiny() -> None:
    gt = np.zeros((3, 1, 3))
    pred = gt.copy()
    pred[1, 0, 0] = 1.0  # acceleration (0 - 2 + 0) = -2 at the middle frame
    assert metrics.accel_error(pred, gt) == pytest.approx(2.0)
    assert metrics.jitter(pred) == pytest.approx(2.0)
    valid = np.array([[True], [False], [True]])
    assert math.isnan(metrics.accel_error(pred, gt, valid))
    ramp = np.arange(10, dtype=np.float64)[:, None, None] * np.array([1.0, 2, 3])
    assert metrics.jitter(ramp) == pytest.approx(0.0)  # constant velocity: no acceleration


def test_bone_length_cv_tiny() -> None:
    # One bone whose length alternates 1, 3: mean 2, std 1 -> CV 0.5.
    x = np.zeros((4, 2, 3))
    x[:, 1, 0] = [1.0, 3.0, 1.0, 3.0]
    bones = np.array([[0, 1]])
    assert metrics.bone_length_cv(x, bones) == pytest.approx(0.5)
    # Dropping the frames of length 3 leaves a rigid bone.
    valid = np.ones((4, 2), bool)
    valid[[1, 3], 1] = False
    assert metrics.bone_length_cv(x, bones, valid) == pytest.approx(0.0)
    # A second, rigid bone; the subset picks one.
    x3 = np.concatenate([x, x[:, :1] + [[[0.0, 2.0, 0.0]]]], axis=1)
    table = np.array([[0, 1], [0, 2]])
    assert metrics.bone_length_cv(x3, table) == pytest.approx(0.25)
    assert metrics.bone_length_cv(x3, table, bones=[1]) == pytest.approx(0.0)


def test_sequence_stats() -> None:
    assert metrics.sequence_stats([1.0, float("nan"), 3.0, 2.0]) == {"min": 1.0, "ave": 2.0, "max": 3.0}
    s = metrics.sequence_stats([])
    assert all(math.isnan(v) for v in s.values()) and set(s) == {"min", "ave", "max"}


def test_shape_errors() -> None:
    a = np.zeros((4, 3, 3))
    with pytest.raises(ValueError, match="same shape"):
        metrics.mpjpe(a, np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="valid"):
        metrics.mpjpe(a, a, np.ones((4, 2), bool))
    with pytest.raises(ValueError, match="root"):
        metrics.n_mpjpe(a, a, root=(5,))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        metrics.bone_length_cv(a, np.array([0, 1]))


# --------------------------------------------------------------------------------------
# Real data: Phoenix 3D (upper50; root = the neck, joint 1)
# --------------------------------------------------------------------------------------


@pytest.mark.data
def test_n_mpjpe_is_invariant_to_a_global_scale_of_pred(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    gt = phoenix_upper50[0]
    pred = gt + rng.normal(0.0, 0.03, gt.shape).astype(np.float32)
    base = metrics.n_mpjpe(pred, gt, root=(1,))
    assert 0.01 < base < 0.2  # the noisy neck moves every joint when it is the origin
    for s in (0.5, 2.7, 40.0):
        assert metrics.n_mpjpe(s * pred, gt, root=(1,)) == pytest.approx(base, rel=1e-5)
    # Per-frame translations are removed too.
    shift = rng.normal(0, 1, (len(gt), 1, 3)).astype(np.float32)
    assert metrics.n_mpjpe(pred + shift, gt, root=(1,)) == pytest.approx(base, rel=1e-4)
    # ... but plain MPJPE is not.
    assert metrics.mpjpe(2.7 * pred, gt) > 10 * base


@pytest.mark.data
def test_p_mpjpe_is_invariant_to_rotation_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    gt = phoenix_upper50[1].astype(np.float64)
    pred = gt + rng.normal(0.0, 0.03, gt.shape)
    base = metrics.p_mpjpe(pred, gt)
    assert 0.005 < base < metrics.mpjpe(pred, gt)
    r = rotation(np.array([0.3, -1.0, 0.5]), 2.1)
    moved = 0.4 * pred @ r.T + np.array([10.0, -3.0, 2.0])
    assert metrics.p_mpjpe(moved, gt) == pytest.approx(base, rel=1e-6)
    assert metrics.p_mpjpe(gt @ r.T, gt) == pytest.approx(0.0, abs=1e-9)
    # Per-frame different rotations as well (a batch of (T, 3, 3)).
    angles = rng.uniform(-np.pi, np.pi, len(gt))
    rs = np.stack([rotation(rng.normal(size=3), a) for a in angles])
    assert metrics.p_mpjpe(np.einsum("tij,tkj->tki", rs, pred), gt) == pytest.approx(base, rel=1e-6)


@pytest.mark.data
def test_accel_error_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    seqs = phoenix_upper50
    batch = np.stack([s[:100] for s in seqs])  # (5, 100, 50, 3)
    assert metrics.accel_error(batch, batch) == 0.0
    assert metrics.accel_error(batch + 5.0, batch) == pytest.approx(0.0, abs=1e-5)
    noisy = batch + rng.normal(0.0, 0.01, batch.shape).astype(np.float32)
    err = metrics.accel_error(noisy, batch)
    # Independent N(0, s^2) noise: the second difference has std s * sqrt(6) per axis.
    expected = 0.01 * math.sqrt(6) * math.sqrt(8 / math.pi)  # mean of a 3D Maxwell * sigma
    assert err == pytest.approx(expected, rel=0.05)
    assert metrics.jitter(noisy) > metrics.jitter(batch)


@pytest.mark.data
def test_bone_length_cv_of_phoenix_is_small_and_grows_with_noise(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    seqs = phoenix_upper50
    cvs = [metrics.bone_length_cv(x, UPPER50) for x in seqs]
    assert all(0.0 < cv < 0.05 for cv in cvs)
    x = seqs[3]
    previous = metrics.bone_length_cv(x, UPPER50)
    for ratio in (0.1, 0.3, 0.6):
        noisy, _ = joint_noise(x, ratio, 0.05, rng)
        cv = metrics.bone_length_cv(noisy, UPPER50)
        assert cv > previous
        previous = cv
    # Only the arm bones (neck->shoulders->elbows->wrists): a subset.
    arms = [i for i, (p, c) in enumerate(UPPER50.bones) if c in (2, 3, 4, 5, 6, 7)]
    assert 0.0 < metrics.bone_length_cv(x, UPPER50, bones=arms) < 0.05


def test_reprojection_error_on_real_detections(data_dir) -> None:
    """Real Holistic detections uplifted with non-rigid soft signs: every observed joint
    sits on its viewing ray (error ~0 px); a known lateral shift shows up in pixels."""
    from dataclasses import replace

    from skeletor.datasets.poseformat import load_pose_file
    from skeletor.uplift import UpliftConfig, uplift_streaming

    seq = load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose")
    focal = float(max(seq.image_size))  # the uplift's default camera
    poses = uplift_streaming(seq, replace(UpliftConfig(), rigid_soft_signs=False)).poses3d
    upper = [11, 12, 13, 14, 15, 16]
    err = metrics.reprojection_error(poses[:, upper], seq.keypoints[:, upper], focal, seq.image_size)
    assert len(err) > 0.9 * len(seq.keypoints) * len(upper)  # nearly all confidently detected
    assert np.median(err) < 0.5
    shifted = poses.copy()
    shifted[..., 0] += 0.01 * shifted[..., 2]  # 0.01 rad to the right
    err2 = metrics.reprojection_error(shifted[:, upper], seq.keypoints[:, upper], focal, seq.image_size)
    assert abs(np.median(err2) - 0.01 * focal) < 1.0
    with pytest.raises(ValueError, match="same shape"):
        metrics.reprojection_error(poses[:, :3], seq.keypoints, focal, seq.image_size)
