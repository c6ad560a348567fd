"""Tests for skeletor.eval.real_noise: detector noise statistics on real MediaPipe output and on known synthetic noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.eval.corrupt import DetectorFaults
from skeletor.eval.real_noise import NoiseMeasureConfig, ar1_from_residual, faults_from_real, measure_detector_noise
from skeletor.pose.keypoints import KeypointSequence

SW = 100.0  # shoulder width of the synthetic person, pixels


def _still_person(t: int) -> np.ndarray:
    """(t, 75, 3) a person standing still: shoulders SW apart, every joint present, hand wrists on the pose wrists."""
    rng = np.random.default_rng(0)
    frame = np.zeros((75, 3))
    frame[:, :2] = rng.uniform(200, 440, (75, 2))
    frame[:, 2] = 1.0
    frame[11, :2], frame[12, :2] = (370, 200), (270, 200)  # subject's left shoulder is image-right
    frame[15, :2], frame[16, :2] = (400, 380), (240, 380)
    frame[33:54, :2] = frame[15, :2] + rng.uniform(-20, 20, (21, 2))  # left hand around the left wrist
    frame[54:75, :2] = frame[16, :2] + rng.uniform(-20, 20, (21, 2))
    frame[33, :2], frame[54, :2] = frame[15, :2], frame[16, :2]
    return np.repeat(frame[None], t, axis=0)


def _ar1(shape: tuple[int, ...], std: float, corr: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) noise along axis 0, stationary from the first frame."""
    z = rng.standard_normal(shape) * std
    out = np.empty(shape)
    out[0] = z[0]
    for i in range(1, shape[0]):
        out[i] = corr * out[i - 1] + np.sqrt(1 - corr**2) * z[i]
    return out


def _runs_of(mask: np.ndarray, first: int, length: int, every: int) -> None:
    for s in range(first, len(mask) - length, every):
        mask[s : s + length] = True


def test_recovers_a_known_ar1_jitter_std_and_coefficient() -> None:
    rng = np.random.default_rng(1)
    kp = _still_person(3000)
    jitter = (0.02, 0.5, 0.04)  # body std (shoulder widths), AR(1) coefficient, hand std
    kp[:, :33, :2] += _ar1((3000, 33, 2), jitter[0] * SW, jitter[1], rng)
    kp[:, 33:, :2] += _ar1((3000, 42, 2), jitter[2] * SW, jitter[1], rng)
    stats = measure_detector_noise([KeypointSequence(kp.astype(np.float32), 30.0, (640, 480))], NoiseMeasureConfig(still_speed=0.05))
    body, hand = stats.body_jitter, stats.hand_jitter
    assert body.std == pytest.approx(jitter[0], rel=0.1)
    assert body.corr == pytest.approx(jitter[1], abs=0.08)
    assert hand.std == pytest.approx(jitter[2], rel=0.1)
    assert hand.corr == pytest.approx(jitter[1], abs=0.08)
    # correlated jitter puts more of the residual's power into the low bands than white jitter does
    assert body.band_power[0] > body.white_band_power[0] and body.band_power[-1] < body.white_band_power[-1]
    assert body.residual_lag1 > body.white_lag1 + 0.1


def test_white_jitter_is_measured_as_white() -> None:
    rng = np.random.default_rng(2)
    kp = _still_person(2000)
    kp[:, :, :2] += rng.standard_normal((2000, 75, 2)) * 0.01 * SW
    stats = measure_detector_noise([KeypointSequence(kp.astype(np.float32), 30.0, (640, 480))])
    assert stats.body_jitter.std == pytest.approx(0.01, rel=0.08)
    assert abs(stats.body_jitter.corr) < 0.08
    assert stats.body_jitter.residual_lag1 == pytest.approx(stats.body_jitter.white_lag1, abs=0.05)


def test_recovers_known_hand_loss_and_swaps() -> None:
    t = 3000
    kp = _still_person(t)
    lost = np.zeros(t, bool)
    _runs_of(lost, 10, 6, 60)  # left hand lost 6 frames in every 60: 10 %
    kp[lost, 33:54] = (np.nan, np.nan, 0.0)
    swapped = np.zeros(t, bool)
    _runs_of(swapped, 40, 3, 100)  # right hand on the left arm 3 frames in every 100
    kp[swapped, 54:75, :2] += kp[0, 15, :2] - kp[0, 16, :2]
    kp[5:7] = (np.nan, np.nan, 0.0)  # one whole dropped frame pair
    stats = measure_detector_noise([KeypointSequence(kp.astype(np.float32), 30.0, (640, 480))])
    assert stats.hand_missing["left"] == pytest.approx(lost.sum() / (t - 2), rel=0.02)
    assert stats.hand_missing_run["left"] == pytest.approx(6.0)
    assert stats.hand_missing["right"] == 0.0
    assert stats.hand_swapped["right"] == pytest.approx(swapped.sum() / (t - 2), rel=0.02)
    assert stats.hand_swap_run["right"] == pytest.approx(3.0)
    assert stats.hand_swapped["left"] == 0.0
    assert stats.frames_dropped == pytest.approx(2 / t) and stats.frames_dropped_run == 2.0


def test_ar1_from_residual_inverts_the_filter() -> None:
    kernel = NoiseMeasureConfig().kernel()
    rng = np.random.default_rng(3)
    noise = _ar1((50000,), 1.0, 0.6, rng)
    resid = np.convolve(noise, kernel[::-1], "valid")
    lag1 = float(np.sum(resid[1:] * resid[:-1]) / np.sum(resid**2))
    std, corr = ar1_from_residual(float(resid.std()), lag1, kernel)
    assert std == pytest.approx(1.0, rel=0.05) and corr == pytest.approx(0.6, abs=0.05)


@pytest.mark.data
def test_real_mediapipe_noise_is_finite_and_plausible(data_dir: Path) -> None:
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file

    seqs = [load_pose_file(p) for p in list_pose_files(data_dir / "slp_pose_format")]
    stats = measure_detector_noise(seqs)
    assert stats.sequences == len(seqs) >= 10 and stats.frames > 1000
    for j in (stats.body_jitter, stats.hand_jitter):
        assert j.frames > 1000
        assert 1e-4 < j.residual_std < 0.03  # real jitter: well under a tenth of a shoulder width
        assert -0.9 <= j.corr <= 0.9 and np.isfinite(j.std)
        assert sum(j.band_power) == pytest.approx(1.0)
    assert stats.hand_jitter.residual_std > stats.body_jitter.residual_std  # hands are noisier
    assert stats.body_jitter.residual_lag1 > stats.body_jitter.white_lag1 + 0.1  # real jitter is not white
    for side in ("left", "right"):
        assert 0.0 < stats.hand_missing[side] < 0.5 and 1.0 <= stats.hand_missing_run[side] < 30.0
        assert 0.0 <= stats.hand_swapped[side] < 0.1
    assert 0.0 <= stats.body_missing <= stats.body_low_confidence < 0.2
    assert stats.frames_dropped == 0.0  # the .pose files keep only frames with a person
    assert 0.0 < stats.depth_body_std < 0.5 and 0.0 < stats.depth_hand_std < 0.5
    assert 100 < stats.shoulder_px < 2000


@pytest.mark.data
def test_faults_from_real_is_a_valid_fault_model(data_dir: Path) -> None:
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file

    stats = measure_detector_noise([load_pose_file(p) for p in list_pose_files(data_dir / "slp_pose_format")])
    faults = faults_from_real(stats, 120.0)
    assert isinstance(faults, DetectorFaults)
    assert faults.jitter_px == pytest.approx(stats.body_jitter.std * 120.0)
    assert faults.hand_jitter_px == pytest.approx(stats.hand_jitter.std * 120.0)
    assert faults.jitter_corr == stats.body_jitter.corr
    assert faults.lose_hand == pytest.approx(np.mean(list(stats.hand_missing.values())))
    assert faults.hand_swaps == pytest.approx(np.mean(list(stats.hand_swapped.values()))) and faults.hand_swaps > 0
    assert faults.swaps == DetectorFaults().swaps  # a hand on the wrong arm is not the whole body mirrored
    assert faults.outliers == DetectorFaults().outliers and faults.outlier_max_px == DetectorFaults().outlier_max_px
    assert DetectorFaults(**{**faults.__dict__}) == faults  # passes the model's own checks
    with pytest.raises(ValueError):
        faults_from_real(stats, 0.0)


def test_measure_rejects_a_wrong_layout() -> None:
    with pytest.raises(ValueError, match="holistic75"):
        measure_detector_noise([KeypointSequence(np.zeros((5, 33, 3), np.float32), 30.0, (640, 480))])


@pytest.mark.data
def test_a_simulated_hand_on_the_other_arm_is_measured_as_a_swap(data_dir: Path) -> None:
    """The simulator's ``hand_swaps``: in about that share of frames a hand's 21 keypoints
    are the other hand's, the body is untouched, and ``measure_detector_noise`` counts the
    fault on real clips (it judges only frames with the hand and both wrists, hands apart)."""
    from dataclasses import replace

    from skeletor.datasets.poseformat import list_pose_files, load_pose_file
    from skeletor.eval.corrupt import detector_faults
    from skeletor.pose.skeleton import HOLISTIC75

    seqs = [load_pose_file(p) for p in list_pose_files(data_dir / "slp_pose_format")]
    faults = DetectorFaults(jitter_px=0.0, drop_frames=0.0, drop_joints=0.0, outliers=0.0, hand_swaps=0.1, hand_swap_frames=2.0)
    rng = np.random.default_rng(0)
    noisy = [replace(s, keypoints=detector_faults(s.keypoints, HOLISTIC75, faults, rng)) for s in seqs]
    left, right = slice(33, 54), slice(54, 75)
    own = other = frames = 0
    for s, n in zip(seqs, noisy):
        np.testing.assert_array_equal(n.keypoints[:, :33], s.keypoints[:, :33])
        for mine, theirs in ((left, right), (right, left)):
            same = (np.isclose(n.keypoints[:, mine], s.keypoints[:, mine], equal_nan=True)).all(axis=(1, 2))
            moved = (np.isclose(n.keypoints[:, mine], s.keypoints[:, theirs], equal_nan=True)).all(axis=(1, 2))
            assert (same | moved).all()  # each hand is its own or the other's, never anything else
            own, other, frames = own + same.sum(), other + (moved & ~same).sum(), frames + len(same)
    assert 0.06 < other / frames < 0.14  # 0.1 asked (frames where both hands are absent look unchanged)
    before, after = measure_detector_noise(seqs), measure_detector_noise(noisy)
    gained = np.mean(list(after.hand_swapped.values())) - np.mean(list(before.hand_swapped.values()))
    assert 0.03 < gained < 0.25  # per frame *with* that hand: a usually absent hand seen only on the other arm counts high
