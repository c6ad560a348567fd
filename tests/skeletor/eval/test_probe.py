"""The downstream probe's library parts on the real Bandai-Namco files: which clips, the split, the features."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import list_bandai, load_bandai
from skeletor.eval.probe import LinearProbe, clip_features, cross_validate, fold_of, probe_clips
from skeletor.eval.views import ViewConfig, random_view


@pytest.fixture(scope="module")
def clips(data_dir: Path) -> list:
    return probe_clips(list_bandai(data_dir / "bandai_namco"))


def test_probe_clips_keep_the_contents_that_can_be_learned_and_tested(clips: list) -> None:
    contents, styles = Counter(c.content for c in clips), Counter(c.style for c in clips)
    assert len(contents) == 10 and len(styles) == 15 and len(clips) == 165
    assert contents["walk"] == 30 and all(n == 15 for k, n in contents.items() if k != "walk")
    assert set(styles.values()) == {11}  # both tasks balanced
    assert not {"call", "punch", "kick", "slash", "respond", "dance-short"} & set(contents)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_split_has_no_clip_and_no_view_of_a_clip_on_both_sides(clips: list, seed: int) -> None:
    views = 3
    samples = [(c, v) for c in clips for v in range(views)]  # every clip seen by 3 cameras
    fold = fold_of([c.group for c, _ in samples], 5, seed)
    for k in range(5):
        train = {c.name for (c, _), f in zip(samples, fold) if f != k}
        test = {c.name for (c, _), f in zip(samples, fold) if f == k}
        assert test and train and not train & test
        # Takes of one (content, style) pair (walk's _001 and _002) are one group: also never split.
        assert not {c.group for (c, _), f in zip(samples, fold) if f != k} & {c.group for (c, _), f in zip(samples, fold) if f == k}
    # Each view of a clip has the clip's fold.
    per_clip = {}
    for (c, _), f in zip(samples, fold):
        assert per_clip.setdefault(c.name, f) == f
    # Latin square: every content has 3 of its 15 (content, style) pairs in each fold, every style 2 of its 10 contents.
    pairs = {c.group: f for (c, _), f in zip(samples, fold)}
    assert set(Counter((g[0], f) for g, f in pairs.items()).values()) == {3}
    assert set(Counter((g[1], f) for g, f in pairs.items()).values()) == {2}


def test_splits_differ_between_seeds(clips: list) -> None:
    groups = [c.group for c in clips]
    assert not np.array_equal(fold_of(groups, 5, 0), fold_of(groups, 5, 1))
    assert np.array_equal(fold_of(groups, 5, 3), fold_of(groups, 5, 3))


def test_features_do_not_depend_on_the_camera(clips: list, rng: np.random.Generator) -> None:
    motion = load_bandai(clips[0].path)
    a = random_view(motion.positions, motion.fps, ViewConfig(), rng, yaw_deg=-50.0, distance_m=2.5).truth
    b = random_view(motion.positions, motion.fps, ViewConfig(), rng, yaw_deg=40.0, distance_m=3.5).truth
    fa, fb = clip_features(a, motion.fps), clip_features(b * 1.7, motion.fps)  # another camera, another scale
    other = clip_features(random_view(load_bandai(clips[-1].path).positions, 30.0, ViewConfig(), rng).truth, 30.0)
    assert np.abs(fa - fb).max() < 0.05 * np.abs(fa).max()
    assert np.abs(fa - other).max() > 10 * np.abs(fa - fb).max()


def test_linear_probe_and_cross_validation_on_separable_and_on_random_labels(rng: np.random.Generator) -> None:
    groups = [(f"c{i % 6}", f"s{i // 6}") for i in range(60)]
    y = np.array([g[0] for g in groups])
    X = rng.normal(size=(60, 8)) + 6.0 * (np.array([int(g[0][1:]) for g in groups])[:, None] == np.arange(8))
    assert (LinearProbe().fit(X, y).predict(X) == y).all()
    assert cross_validate(X, y, groups, 5, 0)["accuracy"] > 0.9
    noise = rng.normal(size=(60, 8))
    assert cross_validate(noise, y, groups, 5, 0)["accuracy"] < 0.5  # no signal: near chance (1/6)
