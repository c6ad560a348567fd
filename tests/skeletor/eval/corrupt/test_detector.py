"""Tests for skeletor.eval.corrupt.detector: the detector fault model, on real 2D keypoints (OpenPose, upper50 order) and Phoenix 3D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.eval import corrupt
from skeletor.eval.corrupt import DetectorFaults
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND, UPPER50


def czech_keypoints(data_dir: Path) -> np.ndarray:
    """Real OpenPose 2D keypoints (583, 50, 3) in upper50 order; missing = (NaN, NaN, 0)."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(data_dir / "gopeith_czech_sl" / "demo-sequence.h5", "r") as f:
        kp = np.asarray(f["20161025_pocasi"], dtype=np.float32).reshape(-1, 50, 3)
    missing = kp[..., 2] <= 0
    kp[missing] = (np.nan, np.nan, 0.0)
    return kp


def _present(kp: np.ndarray) -> np.ndarray:
    return (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(-1)


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the True runs of each row of a (N, T) bool array."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    starts, ends = np.nonzero(d == 1), np.nonzero(d == -1)
    return ends[1] - starts[1]


def test_jitter_adds_pixel_noise_to_present_keypoints_only(data_dir: Path, rng: np.random.Generator) -> None:
    kp = czech_keypoints(data_dir)
    before = kp.copy()
    out = corrupt.jitter(kp, 2.5, rng)
    np.testing.assert_array_equal(kp, before)
    p = _present(kp)
    assert np.isnan(kp[~p, :2]).all() and np.isnan(out[~p, :2]).all()
    np.testing.assert_array_equal(out[..., 2], kp[..., 2])
    d = (out - kp)[p][:, :2]
    assert d.std() == pytest.approx(2.5, rel=0.02)


@pytest.mark.data
def test_drop_frame_bursts_fraction_and_burst_length(data_dir: Path, rng: np.random.Generator) -> None:
    kp = np.broadcast_to(czech_keypoints(data_dir), (60, 583, 50, 3))
    out = corrupt.drop_frame_bursts(kp, 0.2, 4.0, rng)
    gone = ~_present(out) & _present(kp)
    dropped_frames = ~_present(out).any(axis=-1)
    # Whole frames go: nothing that was present survives in a dropped frame.
    assert not np.any(_present(out)[dropped_frames])
    assert np.all(gone.any(-1) == dropped_frames)
    assert dropped_frames.mean() == pytest.approx(0.2, abs=0.02)
    mean_run = _runs(dropped_frames).mean()
    assert 4.0 <= mean_run <= 6.0  # mean 4 per burst, a little more where bursts merge
    assert np.isnan(out[dropped_frames][..., :2]).all() and np.all(out[dropped_frames][..., 2] == 0)


@pytest.mark.data
def test_drop_joints_only_touches_the_chosen_joints(data_dir: Path, rng: np.random.Generator) -> None:
    kp = czech_keypoints(data_dir)
    out = corrupt.drop_joints(kp, 0.3, rng, joints=[3, 4, 6, 7])
    lost = _present(kp) & ~_present(out)
    assert set(np.nonzero(lost.any(axis=0))[0]) == {3, 4, 6, 7}
    assert lost[:, [3, 4, 6, 7]].mean() == pytest.approx(0.3, abs=0.03)
    kept = _present(out)
    np.testing.assert_array_equal(out[kept], kp[kept])


@pytest.mark.data
def test_lose_hand_drops_whole_hands_for_a_while(data_dir: Path, rng: np.random.Generator) -> None:
    kp = np.broadcast_to(czech_keypoints(data_dir), (60, 583, 50, 3))
    out = corrupt.lose_hand(kp, UPPER50, rng, probability=0.25, mean_frames=20.0)
    left, right = np.arange(8, 29), np.arange(29, 50)
    lost_left = ~_present(out[..., left, :]).all(axis=-1)  # no left-hand point left
    lost_right = ~_present(out[..., right, :]).all(axis=-1)
    # Where a hand is lost, all of its points are; elsewhere, nothing is dropped.
    changed = _present(kp) & ~_present(out)
    assert not changed[..., :8].any()
    np.testing.assert_array_equal(changed[..., left].any(-1), lost_left & _present(kp[..., left, :]).any(-1))
    assert lost_left.mean() == pytest.approx(0.25, abs=0.05)
    assert lost_right.mean() == pytest.approx(0.25, abs=0.05)
    assert _runs(lost_left.reshape(-1, 583)).mean() > 10  # episodes, not single frames


@pytest.mark.data
def test_outliers_jump_by_the_requested_distance(data_dir: Path, rng: np.random.Generator) -> None:
    kp = czech_keypoints(data_dir)
    out = corrupt.outliers(kp, 0.05, 30.0, 80.0, rng)
    dist = np.linalg.norm((out - kp)[..., :2], axis=-1)
    moved = np.nan_to_num(dist) > 0
    assert moved[_present(kp)].mean() == pytest.approx(0.05, abs=0.005)
    assert dist[moved].min() >= 30.0 - 1e-3 and dist[moved].max() <= 80.0 + 1e-3
    # Directions are spread all round: the mean jump is near zero.
    jumps = (out - kp)[moved][:, :2]
    assert np.linalg.norm(jumps.mean(axis=0)) < 5.0
    np.testing.assert_array_equal(out[..., 2], kp[..., 2])


@pytest.mark.data
def test_swap_left_right_mirrors_whole_frames(data_dir: Path, rng: np.random.Generator) -> None:
    kp = np.broadcast_to(czech_keypoints(data_dir), (10, 583, 50, 3))
    out = corrupt.swap_left_right(kp, UPPER50, 0.3, rng, mean_frames=3.0)
    same = np.all((out == kp) | (np.isnan(out) & np.isnan(kp)), axis=(-2, -1))
    mirrored = kp[..., UPPER50.mirror, :]
    swapped = np.all((out == mirrored) | (np.isnan(out) & np.isnan(mirrored)), axis=(-2, -1))
    assert np.all(same | swapped)
    assert (~same).mean() == pytest.approx(0.3, abs=0.04)
    np.testing.assert_array_equal(out[..., :2, :], kp[..., :2, :])  # nose and neck are central
    np.testing.assert_array_equal(out[~same][:, 2], kp[~same][:, 5])  # right shoulder <- left


@pytest.mark.data
def test_detector_faults_defaults_on_real_keypoints(data_dir: Path, rng: np.random.Generator) -> None:
    kp = np.broadcast_to(czech_keypoints(data_dir), (30, 583, 50, 3))
    cfg = DetectorFaults()
    out = corrupt.detector_faults(kp, UPPER50, cfg, rng)
    p0, p1 = _present(kp), _present(out)
    assert not np.any(p1 & ~p0)  # no swaps by default: nothing comes back
    expected_kept = (1 - cfg.drop_frames) * (1 - cfg.drop_joints)
    assert p1[p0].mean() == pytest.approx(expected_kept, abs=0.02)
    d = np.linalg.norm((out - kp)[p1][:, :2], axis=-1)
    assert np.median(d) == pytest.approx(2.5 * np.sqrt(2 * np.log(2)), rel=0.05)  # Rayleigh median
    assert (d > 25).mean() == pytest.approx(cfg.outliers, abs=0.003)


@pytest.mark.data
def test_detector_faults_3d_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    x = phoenix_upper50[2]
    cfg = DetectorFaults(lose_hand=0.1, lose_hand_frames=10.0, swaps=0.05, outliers=0.0)
    batch = np.broadcast_to(x, (100,) + x.shape)
    c = corrupt.detector_faults_3d(batch, None, UPPER50, cfg, rng, scale=0.004)
    assert np.all(c.x[~c.present] == 0.0)
    assert not np.any(c.masked & c.present)
    # Phoenix is complete, so swaps move no gaps; hands are 42 of the 50 joints.
    kept = (1 - cfg.drop_frames) * (1 - cfg.drop_joints) * (1 - cfg.lose_hand * 42 / 50)
    assert c.masked.mean() == pytest.approx(1 - kept, abs=0.03)
    assert np.all(c.noised <= c.present)
    # Jitter only: the 3D noise std per coordinate is jitter_px * scale.
    c = corrupt.detector_faults_3d(x, None, UPPER50, DetectorFaults(drop_frames=0, drop_joints=0, outliers=0), rng)
    assert c.present.all() and c.noised.all()
    assert (c.x - x).std() == pytest.approx(2.5 * 0.004, rel=0.03)


def test_hand_joints_match_the_layouts() -> None:
    left, right = corrupt.hand_joints(HOLISTIC75)
    assert tuple(left) == LEFT_HAND and tuple(right) == RIGHT_HAND
    left, right = corrupt.hand_joints(UPPER50)
    assert tuple(left) == tuple(range(8, 29)) and tuple(right) == tuple(range(29, 50))


def test_detector_faults_reject_a_wrong_joint_count(rng: np.random.Generator) -> None:
    kp = np.ones((5, 50, 3), np.float32)
    with pytest.raises(ValueError, match="holistic75"):
        corrupt.detector_faults(kp, HOLISTIC75, DetectorFaults(), rng)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, J, 3\)"):
        corrupt.jitter(np.ones((5, 50, 2)), 1.0, rng)


def test_bad_detector_configs_raise() -> None:
    with pytest.raises(ValueError, match="outlier_min_px"):
        DetectorFaults(outlier_min_px=90.0, outlier_max_px=80.0)
    with pytest.raises(ValueError, match="drop_burst"):
        DetectorFaults(drop_burst=0.5)


def _fixed_keypoints() -> np.ndarray:
    """(2, 40, 75, 3) keypoints drawn from a fixed seed, a few hand joints missing."""
    base = np.random.default_rng(7)
    kp = np.concatenate([base.uniform(0, 640, (2, 40, 75, 2)), base.uniform(0.2, 1, (2, 40, 75, 1))], -1).astype(np.float32)
    kp[0, 5:9, 40:50] = (np.nan, np.nan, 0.0)
    return kp


def test_default_faults_are_bit_identical_to_before_jitter_corr() -> None:
    # digests of the outputs of the code before jitter_corr / hand_jitter_px existed (commit def4c55):
    # the accuracy benchmark's detector model must not move by a single draw
    import hashlib

    kp = _fixed_keypoints()
    out = corrupt.detector_faults(kp, HOLISTIC75, DetectorFaults(), np.random.default_rng(2026))
    assert hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest() == (
        "9ba7657a3afa6d1c23e532c88a4b64d0345612f62fd74185514db7c2a990d5f2"
    )
    c = corrupt.detector_faults_3d(kp / 100, None, HOLISTIC75, DetectorFaults(swaps=0.05, lose_hand=0.1), np.random.default_rng(5))
    assert hashlib.sha256(c.x.tobytes() + c.present.tobytes()).hexdigest() == (
        "d552152cbd743254a73c10561ac793197eb435636881ce82c14410907f4625c5"
    )


def test_jitter_corr_zero_is_the_old_white_noise_formula() -> None:
    kp = _fixed_keypoints()
    out = corrupt.jitter(kp, 2.5, np.random.default_rng(3), corr=0.0)
    old = kp[..., :2] + np.random.default_rng(3).standard_normal(kp.shape[:-1] + (2,), dtype=np.float32) * np.float32(2.5)
    present = kp[..., 2] > 0
    np.testing.assert_array_equal(out[..., :2][present], old[present])


def test_jitter_corr_gives_ar1_noise_with_the_same_marginal_std() -> None:
    kp = np.zeros((20000, 2, 3), np.float32)
    kp[..., 2] = 1.0
    noise = corrupt.jitter(kp, 2.0, np.random.default_rng(0), corr=0.8)[..., :2].reshape(20000, -1)
    assert noise.std() == pytest.approx(2.0, rel=0.05)
    lag1 = np.mean([np.corrcoef(noise[1:, k], noise[:-1, k])[0, 1] for k in range(noise.shape[1])])
    assert lag1 == pytest.approx(0.8, abs=0.03)
    white = corrupt.jitter(kp, 2.0, np.random.default_rng(0))[..., :2].reshape(20000, -1)
    assert abs(np.corrcoef(white[1:, 0], white[:-1, 0])[0, 1]) < 0.03


def test_hand_jitter_px_sets_the_hands_noise_apart(rng: np.random.Generator) -> None:
    kp = np.zeros((400, 75, 3), np.float32)
    kp[..., 2] = 1.0
    out = corrupt.detector_faults(
        kp, HOLISTIC75, DetectorFaults(jitter_px=1.0, hand_jitter_px=4.0, drop_frames=0, drop_joints=0, outliers=0), rng
    )
    hands = np.concatenate(corrupt.hand_joints(HOLISTIC75))
    body = np.setdiff1d(np.arange(75), hands)
    assert out[:, body, :2].std() == pytest.approx(1.0, rel=0.05)
    assert out[:, hands, :2].std() == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize("bad", [{"jitter_corr": 1.0}, {"jitter_corr": -1.0}, {"hand_jitter_px": -1.0}])
def test_bad_jitter_settings_raise(bad: dict) -> None:
    with pytest.raises(ValueError):
        DetectorFaults(**bad)
