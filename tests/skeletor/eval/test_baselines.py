"""Tests for the 1 Euro filter (skeletor.cleaner.one_euro) and the baselines (skeletor.eval.baselines)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skeletor.eval import baselines as filters
from skeletor.cleaner.one_euro import OneEuroFilter, OneEuroParams
from skeletor.eval.metrics import jitter, mpjpe




def ramp(t: int = 12, j: int = 3) -> np.ndarray:
    """(t, j, 2) float64 sequence linear in time: x[t, j] = (t * (j + 1), 5 - 2 t)."""
    frames = np.arange(t, dtype=np.float64)[:, None]
    return np.stack([frames * (np.arange(j) + 1), np.broadcast_to(5.0 - 2.0 * frames, (t, j))], axis=-1)


# --------------------------------------------------------------------------------------
# 1 Euro filter
# --------------------------------------------------------------------------------------


def test_one_euro_hand_checked_steps() -> None:
    # beta = 0: a plain low-pass with alpha = r / (r + 1), r = 2 pi fc dt; fc = 1 / (2 pi), dt = 1 -> 0.5.
    f = OneEuroFilter(min_cutoff=1.0 / (2 * math.pi), beta=0.0)
    assert f(np.array([[0.0]]), 0.0)[0, 0] == 0.0  # the first sample passes through
    assert f(np.array([[1.0]]), 1.0)[0, 0] == pytest.approx(0.5)
    assert f(np.array([[1.0]]), 2.0)[0, 0] == pytest.approx(0.75)
    # A longer step lets more through: dt = 2 -> r = 2 -> alpha = 2/3.
    assert f(np.array([[1.0]]), 4.0)[0, 0] == pytest.approx(0.75 + 0.25 * 2 / 3)


def test_one_euro_beta_reduces_lag_on_fast_motion() -> None:
    t = np.arange(50) / 30.0
    x = (10.0 * t)[:, None, None] * np.ones((1, 2, 3))  # 10 units/s
    slow = filters.one_euro(x, 30.0, min_cutoff=0.5, beta=0.0)
    fast = filters.one_euro(x, 30.0, min_cutoff=0.5, beta=1.0)
    lag_slow = np.abs(slow[-1] - x[-1]).max()
    lag_fast = np.abs(fast[-1] - x[-1]).max()
    assert lag_fast < 0.3 * lag_slow


def test_one_euro_rejects_non_increasing_timestamps_and_reset_clears() -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.1)
    f(np.zeros((4, 3)), 1.0)
    with pytest.raises(ValueError, match="increase"):
        f(np.zeros((4, 3)), 0.5)
    with pytest.raises(ValueError, match="increase"):
        f(np.zeros((4, 3)), 1.0)
    with pytest.raises(ValueError, match="shape"):
        f(np.zeros((5, 3)), 2.0)
    f.reset()
    out = f(np.ones((5, 3)), 0.0)  # any shape and time after a reset
    np.testing.assert_array_equal(out, np.ones((5, 3)))


def test_one_euro_is_keyword_only_and_slotted() -> None:
    with pytest.raises(TypeError):
        OneEuroFilter(1.0, 0.1)  # type: ignore[misc]
    f = OneEuroFilter(min_cutoff=1.0)
    assert not hasattr(f, "__dict__")
    with pytest.raises(AttributeError):
        f.typo = 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0.0)


def test_one_euro_holds_missing_entries_without_poisoning_state() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 1, (30, 4, 3)), axis=0)
    gapped = x.copy()
    gapped[10:15, 2] = np.nan  # joint 2 missing for 5 frames
    gapped[20, 1, 0] = np.nan  # a single coordinate
    ref = filters.one_euro(x, 30.0, 1.0, 0.05)
    out = filters.one_euro(gapped, 30.0, 1.0, 0.05)
    # Other entries are untouched by the gap.
    np.testing.assert_allclose(out[:, [0, 3]], ref[:, [0, 3]])
    np.testing.assert_allclose(out[:10], ref[:10])
    # During the gap joint 2 holds its last filtered value; afterwards it is finite again.
    np.testing.assert_array_equal(out[10:15, 2], np.broadcast_to(out[9, 2], (5, 3)))
    assert np.isfinite(out).all()
    assert out[20, 1, 0] == out[19, 1, 0]
    # valid=False behaves like NaN.
    valid = np.ones((30, 4), bool)
    valid[10:15, 2] = False
    valid[20, 1] = False
    masked = filters.one_euro(x, 30.0, 1.0, 0.05, valid=valid)
    np.testing.assert_allclose(masked[:, [0, 2, 3]], out[:, [0, 2, 3]])
    # A joint never seen stays NaN until it appears.
    late = x.copy()
    late[:5, 0] = np.nan
    out = filters.one_euro(late, 30.0, 1.0, 0.05)
    assert np.isnan(out[:5, 0]).all() and np.array_equal(out[5, 0], late[5, 0].astype(np.float32))


def test_one_euro_keeps_a_constant_exactly() -> None:
    x = np.full((20, 3, 3), 2.5, dtype=np.float32)
    out = filters.one_euro(x, 25.0, 0.3, 0.7)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


@pytest.mark.data
def test_one_euro_lowers_jitter_on_noised_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    clean = phoenix_upper50[0]
    noisy = clean + rng.normal(0.0, 0.03, clean.shape).astype(np.float32)
    out = filters.one_euro(noisy, 25.0, min_cutoff=1.0, beta=0.5)
    assert jitter(out) < 0.5 * jitter(noisy)
    assert out.shape == noisy.shape


@pytest.mark.data
def test_tune_one_euro_beats_the_raw_input_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    clean = phoenix_upper50[4]
    noisy = clean + rng.normal(0.0, 0.1, clean.shape).astype(np.float32)
    params, score = filters.tune_one_euro(noisy, clean, 25.0)  # the default grid
    assert isinstance(params, OneEuroParams)
    assert score < 0.85 * mpjpe(noisy, clean)
    again = filters.one_euro(noisy, 25.0, params.min_cutoff, params.beta, params.d_cutoff)
    assert mpjpe(again, clean) == pytest.approx(score)
    # On a small grid the winner really is the best point of the grid.
    grid = {"min_cutoff": (0.3, 1.0, 3.0), "beta": (0.0, 0.3, 3.0)}
    params, score = filters.tune_one_euro(noisy, clean, 25.0, grid)
    for mc in grid["min_cutoff"]:
        for b in grid["beta"]:
            assert mpjpe(filters.one_euro(noisy, 25.0, mc, b), clean) >= score - 1e-12
    with pytest.raises(ValueError, match="unknown grid"):
        filters.tune_one_euro(noisy, clean, 25.0, {"cutoff": (1.0,)})


# --------------------------------------------------------------------------------------
# Gap filling
# --------------------------------------------------------------------------------------


def test_hold_last_and_linear_interpolate_fill_a_ramp_exactly() -> None:
    x = ramp()
    gapped = x.copy()
    gapped[:2, 0] = np.nan  # leading gap
    gapped[4:7, 0] = np.nan  # interior gap
    gapped[9:, 0] = np.nan  # trailing gap
    gapped[5, 1] = np.nan
    before = gapped.copy()

    lin = filters.linear_interpolate(gapped)
    np.testing.assert_array_equal(gapped, before)  # input untouched
    assert lin.dtype == np.float32
    np.testing.assert_allclose(lin[2:9, 0], x[2:9, 0], rtol=0, atol=1e-6)  # the ramp, exactly
    np.testing.assert_allclose(lin[:, 1:], x[:, 1:], rtol=0, atol=1e-6)
    np.testing.assert_allclose(lin[:2, 0], np.broadcast_to(x[2, 0], (2, 2)))  # leading edge held
    np.testing.assert_allclose(lin[9:, 0], np.broadcast_to(x[8, 0], (3, 2)))  # trailing edge held

    held = filters.hold_last(gapped)
    assert np.isnan(held[:2, 0]).all()  # nothing seen yet
    np.testing.assert_allclose(held[4:7, 0], np.broadcast_to(x[3, 0], (3, 2)))
    np.testing.assert_allclose(held[9:, 0], np.broadcast_to(x[8, 0], (3, 2)))
    np.testing.assert_allclose(held[5, 1], x[4, 1])
    ok = np.isfinite(gapped).all(-1)
    np.testing.assert_allclose(held[ok], x[ok])


def test_gap_fillers_take_a_valid_mask_and_batches() -> None:
    x = np.stack([ramp(), 2 * ramp()])  # (2, 12, 3, 2)
    valid = np.ones(x.shape[:-1], bool)
    valid[0, 3:8, 1] = False
    valid[1, 1, :] = False
    valid[1, :, 2] = False  # never seen
    lin = filters.linear_interpolate(x, valid)
    np.testing.assert_allclose(lin[0], x[0], atol=1e-5)
    np.testing.assert_allclose(lin[1, :, :2], x[1, :, :2], atol=1e-5)
    assert np.isnan(lin[1, :, 2]).all()
    held = filters.hold_last(x, valid)
    np.testing.assert_allclose(held[0, 3:8, 1], np.broadcast_to(x[0, 2, 1], (5, 2)))
    np.testing.assert_allclose(held[1, 1, :2], x[1, 0, :2])
    with pytest.raises(ValueError, match="valid"):
        filters.hold_last(x, valid[0])


# --------------------------------------------------------------------------------------
# Savitzky-Golay
# --------------------------------------------------------------------------------------


def test_savgol_and_causal_savgol_reproduce_a_polynomial() -> None:
    t = np.arange(30, dtype=np.float64)
    quad = np.stack([0.1 * t**2 - t + 3, -0.05 * t**2 + 2 * t], axis=-1)[:, None, :]  # (30, 1, 2)
    np.testing.assert_allclose(filters.savgol(quad, 7, 2), quad, atol=1e-4)
    np.testing.assert_allclose(filters.causal_savgol(quad, 7, 2), quad, atol=1e-4)  # warm-up too


def test_savgol_is_non_causal_and_causal_savgol_is_causal() -> None:
    x = np.zeros((30, 2, 3))
    x[20:, 0, 0] = 1.0  # a step at frame 20
    out = filters.savgol(x, 9, 2)
    assert np.abs(out[16:20, 0, 0]).max() > 1e-3  # sees the step up to 4 frames early
    causal = filters.causal_savgol(x, 9, 2)
    np.testing.assert_array_equal(causal[:20], 0.0)  # nothing before the step
    assert causal[20, 0, 0] != 0.0


def test_savgol_fills_gaps_and_keeps_never_seen_joints_nan() -> None:
    x = ramp(20, 3)
    x[5:8, 1] = np.nan
    x[:, 2] = np.nan
    out = filters.savgol(x, 5, 2)
    np.testing.assert_allclose(out[:, :2], ramp(20, 3)[:, :2], atol=1e-4)  # linear data, linear fill
    assert np.isnan(out[:, 2]).all()
    short = filters.savgol(ramp(4, 1), 9, 2)  # shorter than the window: window shrinks to 3
    np.testing.assert_allclose(short, ramp(4, 1), atol=1e-5)
    causal = filters.causal_savgol(x, 5, 1)
    np.testing.assert_allclose(causal[:5, :2], ramp(20, 3)[:5, :2], atol=1e-4)  # exact before the gap
    assert np.isfinite(causal[:, :2]).all()  # the gap is bridged (from held values: no future used)
    assert np.isnan(causal[:, 2]).all()
    with pytest.raises(ValueError, match="odd"):
        filters.savgol(x, 6, 2)
    with pytest.raises(ValueError, match="order"):
        filters.causal_savgol(x, 3, 3)


@pytest.mark.data
def test_savgol_smooths_noised_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    clean = phoenix_upper50[2]
    noisy = clean + rng.normal(0.0, 0.05, clean.shape).astype(np.float32)
    for out in (filters.savgol(noisy, 9, 2), filters.causal_savgol(noisy, 9, 1)):
        assert jitter(out) < 0.5 * jitter(noisy)
    assert mpjpe(filters.savgol(noisy, 9, 2), clean) < mpjpe(noisy, clean)
