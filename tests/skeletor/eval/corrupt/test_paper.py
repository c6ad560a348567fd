"""Tests for skeletor.eval.corrupt.paper: the paper's masking and noise, on real Phoenix 3D."""

from __future__ import annotations

import numpy as np
import pytest

from skeletor.eval import corrupt
from skeletor.eval.corrupt import Corrupted, PaperCorruption


@pytest.mark.data
def test_corrupt_paper_on_phoenix_masks_flags_zeroes_and_noises(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    cfg = PaperCorruption(frame_mask=0.10, joint_mask=0.10, frame_noise=0.15, joint_noise=0.15, noise_std=0.3)
    frame_fracs, entry_fracs, noised_fracs, diffs = [], [], [], []
    for x in phoenix_upper50:
        before = x.copy()
        c = corrupt.corrupt_paper(x, None, cfg, rng)
        np.testing.assert_array_equal(x, before)  # input untouched
        assert isinstance(c, Corrupted)
        assert c.x.dtype == np.float32 and c.x.shape == x.shape
        assert c.present.shape == c.masked.shape == c.noised.shape == x.shape[:2]
        # Masked entries are flagged absent and zeroed; noise never lands on them.
        np.testing.assert_array_equal(c.present, ~c.masked)
        assert np.all(c.x[c.masked] == 0.0)
        assert not np.any(c.noised & c.masked)
        # Untouched entries are bit-identical.
        keep = ~c.masked & ~c.noised
        np.testing.assert_array_equal(c.x[keep], x[keep])
        full = c.masked.all(axis=1)
        frame_fracs.append(full.mean())
        entry_fracs.append(c.masked[~full].mean())  # the joint mask, outside fully masked frames
        noised_fracs.append(c.noised[c.present].mean())
        diffs.append((c.x - x)[c.noised])
    # ~10 % of frames, ~10 % of the remaining entries; noise on ~1 - 0.85^2 of what is left.
    assert np.mean(frame_fracs) == pytest.approx(0.10, abs=0.015)
    assert np.mean(entry_fracs) == pytest.approx(0.10, abs=0.01)
    assert np.mean(noised_fracs) == pytest.approx(1 - 0.85**2, abs=0.02)
    d = np.concatenate(diffs).ravel()
    assert d.std() == pytest.approx(0.3, rel=0.03)  # measured noise std ~ s
    assert abs(d.mean()) < 0.01


@pytest.mark.data
def test_mask_blocks_pick_exact_counts_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    x = phoenix_upper50[0]
    t, j = x.shape[:2]
    present = np.ones((t, j), dtype=bool)
    present[:, 10:15] = False  # a few joints missing throughout
    for ratio in (0.05, 0.10, 0.25):
        mf = corrupt.mask_frames(present, ratio, rng)
        n_frames = mf.any(axis=1).sum()
        assert n_frames in (np.floor(ratio * t), np.ceil(ratio * t))
        np.testing.assert_array_equal(mf[mf.any(axis=1)], present[mf.any(axis=1)])  # whole frames
        mj = corrupt.mask_joints(present, ratio, rng)
        n = present.sum()
        assert mj.sum() in (np.floor(ratio * n), np.ceil(ratio * n))
        assert not np.any(mj & ~present) and not np.any(mf & ~present)


def test_mask_ratio_is_unbiased_on_short_windows(rng: np.random.Generator) -> None:
    # 16-frame windows at 10 %: 1.6 frames on average, not always 2 (stochastic rounding).
    present = np.ones((4000, 16, 5), dtype=bool)
    mf = corrupt.mask_frames(present, 0.10, rng)
    counts = mf.any(axis=-1).sum(axis=-1)
    assert set(np.unique(counts)) == {1, 2}
    assert counts.mean() == pytest.approx(1.6, abs=0.03)


@pytest.mark.data
def test_frame_and_joint_noise_on_phoenix(rng: np.random.Generator, phoenix_upper50: list[np.ndarray]) -> None:
    x = phoenix_upper50[1]
    noisy, sel = corrupt.frame_noise(x, 0.2, 0.1, rng)
    rows = sel.any(axis=1)
    assert np.all(sel[rows])  # whole skeletons
    assert rows.mean() == pytest.approx(0.2, abs=1.0 / len(x))
    d = (noisy - x)[sel]
    assert d.std() == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(noisy[~sel], x[~sel])

    noisy, sel = corrupt.joint_noise(x, 0.15, 0.7, rng)
    assert sel.mean() == pytest.approx(0.15, abs=1.0 / sel.size)
    assert (noisy - x)[sel].std() == pytest.approx(0.7, rel=0.05)
    np.testing.assert_array_equal(noisy[~sel], x[~sel])


def test_corrupt_paper_leaves_missing_entries_alone(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 40, 6, 3)).astype(np.float32)
    x[0, 5, 2] = np.nan
    present = np.ones(x.shape[:-1], dtype=bool)
    present[1, :, 0] = False
    cfg = PaperCorruption(frame_mask=0.2, joint_mask=0.2, frame_noise=0.3, joint_noise=0.3, noise_std=1.0)
    c = corrupt.corrupt_paper(x, present, cfg, rng)
    gone = ~present
    gone[0, 5, 2] = True
    assert not np.any(c.present[gone] | c.masked[gone] | c.noised[gone])
    assert np.all(c.x[gone] == 0.0) and np.isfinite(c.x).all()
    # Each sequence of the batch gets its own exact count of masked frames.
    whole = np.all(c.masked == (present & np.isfinite(x).all(-1)), axis=-1) & c.masked.any(axis=-1)
    per_seq = whole.sum(axis=-1)
    assert np.all((per_seq >= 8) & (per_seq <= 9))  # 20 % of 40 (+1 if the joint mask fills a frame)


def test_corrupt_paper_is_reproducible_from_the_generator() -> None:
    x = np.random.default_rng(0).standard_normal((20, 5, 3)).astype(np.float32)
    a = corrupt.corrupt_paper(x, None, PaperCorruption(), np.random.default_rng(7))
    b = corrupt.corrupt_paper(x, None, PaperCorruption(), np.random.default_rng(7))
    c = corrupt.corrupt_paper(x, None, PaperCorruption(), np.random.default_rng(8))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_zero_ratios_change_nothing(rng: np.random.Generator) -> None:
    x = rng.standard_normal((10, 4, 3)).astype(np.float32)
    c = corrupt.corrupt_paper(x, None, PaperCorruption(0.0, 0.0, 0.0, 0.0, 0.5), rng)
    np.testing.assert_array_equal(c.x, x)
    assert c.present.all() and not c.masked.any() and not c.noised.any()


def test_bad_configs_and_shapes_raise(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="frame_mask"):
        PaperCorruption(frame_mask=1.5)
    with pytest.raises(ValueError, match="noise_std"):
        PaperCorruption(noise_std=-0.1)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, J, 3\)"):
        corrupt.corrupt_paper(np.zeros((10, 4, 2)), None, PaperCorruption(), rng)
    with pytest.raises(ValueError, match="present"):
        corrupt.corrupt_paper(np.zeros((10, 4, 3)), np.ones((10, 5), bool), PaperCorruption(), rng)
    with pytest.raises(ValueError, match="ratio"):
        corrupt.mask_joints(np.ones((4, 3), bool), 1.2, rng)
