"""Refiner training data: the cache format, window sampling and augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.refiner.data import Augmentation, SequenceDataset, augment, sample_windows, save_cache, to_shoulder_units
from skeletor.pose.skeleton import HOLISTIC75


def _dataset(seqs: list[tuple[np.ndarray, np.ndarray]]) -> SequenceDataset:
    return SequenceDataset([x for x, _ in seqs], [p for _, p in seqs])


@pytest.mark.data
def test_cache_roundtrip_keeps_splits_and_frames(phoenix: dict, tmp_path: Path) -> None:
    train, val = _dataset(phoenix["train"]), _dataset(phoenix["dev"])
    path = tmp_path / "cache.npz"
    save_cache(path, {"train": train, "val": val})
    with np.load(path) as z:
        assert z["sequences"].shape == (train.num_frames + val.num_frames, 75, 3)
        assert z["offsets"][-1] == len(z["sequences"]) and z["present"].dtype == bool
    back = SequenceDataset.from_cache(path, "val")
    assert len(back) == 5 and back.num_frames == val.num_frames == 536
    for a, b, pa, pb in zip(back.poses, val.poses, back.present, val.present):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)
    assert SequenceDataset.from_cache(path, None).num_frames == train.num_frames + 536
    # absent joints are stored as zeros, never NaN
    assert np.isfinite(back.poses[0]).all() and not back.present[0][:, 23].any()


def test_cache_with_bad_offsets_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, sequences=np.zeros((10, 75, 3), np.float32), present=np.ones((10, 75), bool),
             offsets=np.array([0, 4, 12]), names=np.array(["a", "b"]), split=np.array(["train", "val"]))  # fmt: skip
    with pytest.raises(ValueError, match="offsets"):
        SequenceDataset.from_cache(path)


def test_windows_follow_the_streaming_layout(rng: np.random.Generator) -> None:
    """Window emitting frame e holds frames e-(T-1-k) .. e+k; outside the sequence, padding."""
    n, T, k = 40, 8, 2
    x = np.zeros((n, 75, 3), np.float32)
    x[:, :, 0] = np.arange(n)[:, None]  # frame number in x
    poses, present = sample_windows(SequenceDataset([x]), 500, T, k, rng)
    emitted = poses[:, T - 1 - k, 0, 0]
    assert present[:, T - 1 - k].all()  # the emitted frame is always a real one
    assert set(emitted.astype(int)) == set(range(n))
    for w, e in zip(poses, emitted):
        frames = np.arange(e - (T - 1 - k), e + k + 1)
        real = (frames >= 0) & (frames < n)
        np.testing.assert_array_equal(w[real, 0, 0], frames[real])
        assert (w[~real] == 0).all()
    inside = (present.all(axis=(1, 2)))
    assert 0.5 < inside.mean() < 0.95  # most windows, not all, lie inside the sequence


@pytest.mark.data
def test_augment_keeps_bone_lengths_and_vertical_and_mirrors_sides(phoenix: dict, rng: np.random.Generator) -> None:
    x, p = phoenix["test"][0]
    x, p = np.nan_to_num(x[None, :32]), p[None, :32]
    x = to_shoulder_units(x, p)
    width = np.linalg.norm(x[0, :, 11] - x[0, :, 12], axis=-1)
    assert abs(np.median(width) - 1.0) < 1e-5
    bones = HOLISTIC75.bones
    ok = p[0][:, bones].all(-1)

    def lengths(a: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a[0][:, bones[:, 0]] - a[0][:, bones[:, 1]], axis=-1)

    cfg = Augmentation(rotate_deg=180.0, mirror_prob=1.0, scale_min=1.0, scale_max=1.0)
    y, q = augment(x, p, HOLISTIC75, cfg, rng)
    # mirrored: left and right swap (present too), bone lengths and heights keep
    np.testing.assert_array_equal(q[0], p[0][:, HOLISTIC75.mirror])
    np.testing.assert_allclose(y[0][..., 1], x[0][:, HOLISTIC75.mirror, 1], atol=1e-5)
    la = lengths(x)
    ok_m = p[0][:, HOLISTIC75.mirror][:, bones].all(-1)
    np.testing.assert_allclose(lengths(y)[ok_m], lengths(x[:, :, HOLISTIC75.mirror])[ok_m], atol=1e-5)
    # a left-hand point ends up where the right hand was, up to the rotation: heights say so
    assert not np.allclose(y[0][:, 33:54, 1], x[0][:, 33:54, 1])
    y2, _ = augment(x, p, HOLISTIC75, Augmentation(mirror_prob=0.0, scale_min=2.0, scale_max=2.0), rng)
    np.testing.assert_allclose(lengths(y2)[ok], 2 * la[ok], atol=1e-4)
