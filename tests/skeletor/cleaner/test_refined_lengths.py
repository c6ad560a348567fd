"""The refiner's running bone lengths (``skeletor.cleaner.refined_lengths``), on real mocap and real detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.cleaner.refined_lengths import RefinedBoneLengths
from skeletor.uplift import UpliftTree

TREE = UpliftTree()
BODY = TREE.children < 33  # bones ending at a body joint


@pytest.fixture(scope="module")
def mocap(data_dir: Path) -> np.ndarray:
    """(T, 75, 3) a real Bandai-Namco training clip, metres (body joints only; hands NaN)."""
    train, _ = bandai_split(list_bandai(data_dir / "bandai_namco"))
    return load_bandai(train[0]).positions


def _twin_mean(lengths: np.ndarray) -> np.ndarray:
    """(B,) each bone's length averaged with its left/right twin's."""
    sums = np.bincount(TREE.share, weights=np.nan_to_num(lengths), minlength=TREE.num_shared)
    counts = np.bincount(TREE.share, weights=np.isfinite(lengths).astype(float), minlength=TREE.num_shared)
    return (sums / np.maximum(counts, 1))[TREE.share]


def test_median_of_a_rigid_body_is_its_bone_lengths(mocap: np.ndarray) -> None:
    """Mocap limbs keep their lengths: the median is each body bone's length (twins pooled,
    exactly numpy's median of both sides' per-frame lengths); hand bones (never part of it)
    give NaN."""
    est = RefinedBoneLengths(TREE, history=300)
    for pose in mocap[:120]:
        est.push(pose)
    med = est.median()
    truth = TREE.bone_lengths_of(mocap[:120])
    seen = BODY & np.isfinite(truth)
    assert seen.sum() >= 14  # the mocap marks 15 body bones (no face, hands or feet tips)
    per_frame = np.stack([TREE.bone_lengths_of(p[None]) for p in mocap[:120]])  # (T, B)
    for b in np.nonzero(seen)[0]:
        pooled = per_frame[:, [b, _partner()[b]]].ravel()
        assert med[b] == pytest.approx(np.nanmedian(pooled), rel=1e-9)
    np.testing.assert_allclose(med[seen], _twin_mean(truth)[seen], rtol=0.05)
    assert np.isnan(med[~BODY]).all()


def _partner() -> np.ndarray:
    """(B,) the twin of each bone (itself for a bone without one)."""
    out = np.arange(len(TREE.children))
    for s in range(TREE.num_shared):
        bones = np.nonzero(TREE.share == s)[0]
        if len(bones) == 2:
            out[bones[0]], out[bones[1]] = bones[1], bones[0]
    return out


def test_history_forgets_old_frames_and_reset_forgets_all(mocap: np.ndarray) -> None:
    """After ``history`` frames of a body with 20 % longer forearms, the median is theirs."""
    factors = np.ones(TREE.num_shared)
    factors[TREE.shared_id("left_wrist")] = 1.2  # the elbow -> wrist bone
    longer = TREE.rescale_bones(mocap[:60], factors)
    forearm = TREE.shared_id("left_wrist")
    b = int(np.nonzero(TREE.share == forearm)[0][0])
    est = RefinedBoneLengths(TREE, history=30)
    for pose in mocap[:60]:
        est.push(pose)
    before = est.median()[b]
    for pose in longer[:30]:
        est.push(pose)
    assert est.median()[b] == pytest.approx(1.2 * before, rel=0.02)
    est.reset()
    assert np.isnan(est.median()).all()


def test_blend_keeps_the_uplifts_size_and_its_hand_bones(mocap: np.ndarray) -> None:
    """weight 0 = the uplift's lengths; weight 1 = the refined proportions at the uplift's
    size (the reference bones' total kept); hand bones are the uplift's at any weight."""
    est = RefinedBoneLengths(TREE)
    for pose in mocap[:60]:
        est.push(pose)
    uplift = TREE.prior * 1.1  # an uplift estimate: the anthropometric prior, 10 % larger
    np.testing.assert_array_equal(est.blend(uplift, 0.0), uplift)
    full = est.blend(uplift, 1.0)
    ref = TREE.reference
    assert full[ref].sum() == pytest.approx(uplift[ref].sum())
    np.testing.assert_array_equal(full[~BODY], uplift[~BODY])
    med = est.median()
    seen = np.isfinite(med)
    np.testing.assert_allclose(full[seen] / full[ref].sum(), med[seen] / med[ref].sum(), rtol=1e-9)
    half = est.blend(uplift, 0.5)
    np.testing.assert_allclose(half, 0.5 * (uplift + full))
    assert not np.allclose(half[BODY], uplift[BODY])


def test_blend_before_any_frame_is_the_uplifts() -> None:
    est = RefinedBoneLengths(TREE)
    np.testing.assert_array_equal(est.blend(TREE.prior, 0.5), TREE.prior)
    with pytest.raises(ValueError, match="history"):
        RefinedBoneLengths(TREE, history=0)
