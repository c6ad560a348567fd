"""Online bone lengths: the limb ratio floor on a foreshortened shank, and the row quantile."""

from __future__ import annotations

import numpy as np
import pytest

from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.streaming import StreamingUplifter
from skeletor.uplift.tree import UpliftTree


def test_a_limb_bone_never_seen_straight_keeps_a_plausible_length(bandai_views) -> None:
    """A shank foreshortened in every frame (here: its 2D drawn 40 % short, as for a runner
    whose knee never straightens) is estimated at >= 0.95 of the thigh (the default bound), not at its 2D length."""
    v = bandai_views[0]
    kp = v.keypoints.keypoints.copy()
    for knee, ankle in ((25, 27), (26, 28)):
        kp[:, ankle, :2] = kp[:, knee, :2] + 0.6 * (kp[:, ankle, :2] - kp[:, knee, :2])
    tree = UpliftTree()
    shank, thigh = tree.shared_id("left_ankle"), tree.shared_id("left_knee")
    ratios = {}
    default = UpliftConfig().limb_ratio_floor
    assert default[0] == 0.95
    for floor in (default, (0.0, 0.0)):
        up = StreamingUplifter(UpliftConfig(limb_ratio_floor=floor))
        for i in range(len(kp)):
            up.push(kp[i], None, None, v.keypoints.image_size)
        lengths = up.bone_lengths
        ratios[floor] = lengths[tree.share == shank][0] / lengths[tree.share == thigh][0]
    assert ratios[default] >= 0.95 - 1e-9, ratios
    assert ratios[(0.0, 0.0)] < 0.75, ratios  # without the bound: the foreshortened 2D length


def test_nanquantile_rows_matches_numpy(rng: np.random.Generator) -> None:
    from skeletor.uplift.lengths import nanquantile_rows

    a = rng.normal(size=(40, 300))
    a[rng.random(a.shape) < 0.4] = np.nan
    a[3] = np.nan  # a row with no value
    a[5, 1:] = np.nan  # a row with one value
    for q in (0.0, 0.5, 0.85, 1.0):
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanquantile(a, q, axis=1)
        np.testing.assert_allclose(nanquantile_rows(a, q), want, rtol=1e-12, equal_nan=True)


def test_a_known_rig_is_kept_and_only_its_unknown_bones_are_estimated(bandai_views) -> None:
    """``bone_lengths`` with NaN holes: the given lengths stay exactly as given through a
    whole real clip; the holes are estimated (finite, one length for left and right)."""
    v = bandai_views[1]
    tree = UpliftTree()
    rig = tree.bone_lengths_of(v.truth)  # the mocap's lengths, NaN for joints it lacks
    given = np.isfinite(rig)
    thighs = tree.share == tree.shared_id("left_knee")
    assert thighs.sum() == 2 and given[thighs].all()
    known = np.where(thighs, np.nan, rig)  # both thighs left to estimate
    up = StreamingUplifter(UpliftConfig(), bone_lengths=known)
    for i in range(len(v.keypoints)):
        up.push(v.keypoints.keypoints[i], None, None, v.keypoints.image_size)
        if i % 50 == 0:
            np.testing.assert_array_equal(up.bone_lengths[given & ~thighs], rig[given & ~thighs])
    est = up.bone_lengths[thighs]
    assert np.isfinite(est).all() and est[0] == est[1]  # twins share a length


def test_sorted_ring_quantiles_equal_numpys_over_a_rolling_window() -> None:
    """Values come and go (with repeats, gaps and NaN); each row's quantiles always equal
    np.nanquantile over the values its slots hold."""
    from skeletor.uplift.lengths import SortedRing

    rng = np.random.default_rng(5)
    ring = SortedRing(rows=3, slots=8)
    held = np.full((3, 8), np.nan)
    for step in range(200):
        rows = np.array([0, 1, 2, 0])
        slots = np.array([step % 8, step % 8, (3 * step) % 8, (step + 4) % 8])
        values = np.round(rng.normal(1.0, 0.3, 4), 1)  # ties are common
        values[rng.random(4) < 0.2] = np.nan  # an empty slot
        ring.put(rows, slots, values)
        held[rows, slots] = values
        for q in (0.0, 0.5, 0.9, 1.0):
            want = np.array([np.nanquantile(r, q) if np.isfinite(r).any() else np.nan for r in held])
            np.testing.assert_allclose(ring.quantile(q), want, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(ring.counts, np.isfinite(held).sum(1))
