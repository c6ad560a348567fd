"""A downstream probe: classify Bandai-Namco motions from skeletons (the paper's Table 5 analogue).

The paper's downstream claim is that refined skeletons help a task built on them. Here the
task is motion classification on Bandai-Namco dataset-1: its *content* (walk, run, bow, ...)
and its *style* (happy, old, tired, ...), both from the file's labels
(``skeletor.datasets.bvh.bandai_labels``). This module holds the numpy parts that do not
depend on how the skeletons were made:

* ``probe_clips``: which clips take part. Contents with fewer than ``min_clips`` clips
  (call, punch, kick, slash, respond and dance-short have one or two, all in style
  "normal") cannot be both learned and tested, so they are left out of both tasks; the
  ten contents kept have one clip per style (walk two), so both tasks are balanced.
* ``fold_of``: the split. A clip's fold is a function of its (content, style) pair only,
  so every take of a pair (walk has two) and every virtual view of a clip lands in the
  same fold: no clip, and no other view of it, is ever on both sides. Within a seed the
  folds are a Latin square: each content has the same number of styles in every fold and
  each style the same number of contents.
* ``clip_features``: a fixed-length description of one skeleton sequence, in a body frame
  (mid-hip origin, up = mean hip -> shoulder direction, right = mean right -> left hip),
  divided by the mean torso length, so the camera's yaw, distance and the uplift's unknown
  scale do not matter: the mean pose in four consecutive quarters of the clip, the spread
  of each coordinate, each joint's mean speed and its spread, and the root's velocity in
  the body frame per quarter (walk-left and walk-right differ mostly there).
* ``LinearProbe``: a ridge classifier (least squares to one-hot labels, L2 penalty) on
  standardised features, its strength chosen by an inner cross-validation on the training
  folds only.

Why a linear probe on fixed features rather than a network: about 165 clips, 11-30 per
class, is too little to train a sequence model from scratch without the spread over seeds
swamping the differences between rows; a linear model is deterministic for a given split,
so the spread left is the split's. The pretrained-versus-scratch comparison, which needs
a network, is in ``benchmarks/probe.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skeletor.datasets.bvh import bandai_labels
from skeletor.pose.skeleton import POSE_BODY_JOINTS

__all__ = [
    "ProbeClip",
    "probe_clips",
    "fold_of",
    "clip_features",
    "LinearProbe",
    "cross_validate",
    "BODY",
]

log = logging.getLogger(__name__)

BODY = np.array(POSE_BODY_JOINTS)  # the 15 holistic75 body joints every source has
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = 11, 12, 23, 24  # holistic75 indices
SEGMENTS = 4  # quarters of a clip whose mean pose is a feature: the order of a motion (down, then up)


@dataclass(frozen=True)
class ProbeClip:
    """One Bandai-Namco clip in the probe.

    Attributes:
        path: the ``.bvh`` file.
        content, style: the labels (names, as in ``cfg/*_label.txt`` without ``dataset-1_``).
    """

    path: Path
    content: str
    style: str

    @property
    def name(self) -> str:
        """File stem, e.g. ``dataset-1_walk_happy_002``."""
        return self.path.stem

    @property
    def group(self) -> tuple[str, str]:
        """What the split keeps together: every take of one (content, style) pair."""
        return (self.content, self.style)


def probe_clips(paths: list[Path], min_clips: int = 5) -> list[ProbeClip]:
    """The clips of ``paths`` whose content has at least ``min_clips`` clips, with their labels.

    Raises:
        ValueError: a file name without the ``dataset-1_<content>_<style>_<take>`` pattern,
            or no content with ``min_clips`` clips.
    """
    clips = []
    for p in paths:
        lab = bandai_labels(p)
        clips.append(ProbeClip(Path(p), str(lab["content"]), str(lab["style"])))
    counts: dict[str, int] = {}
    for c in clips:
        counts[c.content] = counts.get(c.content, 0) + 1
    kept = [c for c in clips if counts[c.content] >= min_clips]
    if not kept:
        raise ValueError(f"no content has {min_clips} clips among {len(paths)} files")
    dropped = sorted(k for k, n in counts.items() if n < min_clips)
    if dropped:
        log.info("probe: contents with fewer than %d clips left out: %s", min_clips, ", ".join(dropped))
    return kept


def fold_of(groups: list[tuple[str, str]], folds: int, seed: int) -> np.ndarray:
    """Fold index (0..folds-1) of each (content, style) group, a Latin square drawn by ``seed``.

    The fold is ``(a[style] + b[content]) % folds`` with ``a`` a random permutation of the
    style ranks and ``b`` a random arrangement of ``content rank % folds``: when there are
    a multiple of ``folds`` styles (contents), each content (style) has as many groups in
    every fold. Equal groups always get the same fold.

    Args:
        groups: one (content, style) pair per sample (repeats allowed: takes, views).
        folds: number of folds, >= 2.
        seed: draws the permutations.

    Returns:
        (N,) int fold per sample.

    Raises:
        ValueError: fewer than 2 folds.
    """
    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    rng = np.random.default_rng([seed, 7919])
    contents = sorted({g[0] for g in groups})
    styles = sorted({g[1] for g in groups})
    a = dict(zip(styles, rng.permutation(len(styles)).tolist()))
    b = dict(zip(contents, rng.permutation(np.arange(len(contents)) % folds).tolist()))
    return np.array([(a[s] + b[c]) % folds for c, s in groups], dtype=np.int64)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


def body_frame(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The clip's body frame: (rotation (3, 3), whose rows are right, up, forward; origin (T, 3); torso length).

    Args:
        poses: (T, 75, 3) holistic75, any right-handed frame and unit; the shoulders and
            hips must be finite in most frames.
    """
    mid_hip = 0.5 * (poses[:, _L_HIP] + poses[:, _R_HIP])  # (T, 3)
    mid_sh = 0.5 * (poses[:, _L_SHOULDER] + poses[:, _R_SHOULDER])
    up = _unit(np.nanmean(mid_sh - mid_hip, axis=0))
    right = np.nanmean(poses[:, _L_HIP] - poses[:, _R_HIP], axis=0)  # subject's right -> left hip: image-right when facing the camera
    right = _unit(right - up * float(right @ up))
    fwd = np.cross(right, up)
    torso = float(np.nanmean(np.linalg.norm(mid_sh - mid_hip, axis=-1)))
    return np.stack([right, up, fwd]), mid_hip, max(torso, 1e-6)


def clip_features(poses: np.ndarray, fps: float) -> np.ndarray:
    """Fixed-length features of one skeleton sequence (see the module docstring).

    Args:
        poses: (T, 75, 3) holistic75 poses (camera or world frame, any unit); the body
            joints (``BODY``) are used, NaN frames of a joint are ignored.
        fps: frame rate (velocities are per second).

    Returns:
        (F,) float64; F = 4*45 + 45 + 15 + 15 + 4*3 + 3 = 270.

    Raises:
        ValueError: fewer than ``SEGMENTS`` frames or not (T, 75, 3).
    """
    x = np.asarray(poses, np.float64)
    if x.ndim != 3 or x.shape[1:] != (75, 3):
        raise ValueError(f"expected (T, 75, 3) poses, got {x.shape}")
    if len(x) < SEGMENTS + 1:
        raise ValueError(f"need at least {SEGMENTS + 1} frames, got {len(x)}")
    rot, origin, torso = body_frame(x)
    local = np.einsum("tjc,dc->tjd", x[:, BODY] - origin[:, None], rot) / torso  # (T, 15, 3) body frame, torsos
    root_vel = np.diff(origin, axis=0) @ rot.T / torso * fps  # (T-1, 3) torsos per second
    speed = np.linalg.norm(np.diff(local, axis=0), axis=-1) * fps  # (T-1, 15)
    parts = [np.nanmean(seg, axis=0).ravel() for seg in np.array_split(local, SEGMENTS)]
    parts.append(np.nanstd(local, axis=0).ravel())
    parts += [np.nanmean(speed, axis=0), np.nanstd(speed, axis=0)]
    parts += [np.nanmean(seg, axis=0) for seg in np.array_split(root_vel, SEGMENTS)]
    parts.append(np.nanstd(root_vel, axis=0))
    f = np.concatenate(parts)
    return np.where(np.isfinite(f), f, 0.0)


class LinearProbe:
    """A ridge classifier: least squares from standardised features to one-hot labels, L2 penalty ``l2``.

    ``fit(X, y)`` solves ``min |Z W + b - Y|^2 + l2 |W|^2`` in closed form (through the SVD of
    the standardised ``Z``, so it is exact, deterministic and costs one SVD); ``predict``
    takes the largest output.
    """

    def __init__(self, l2: float = 10.0) -> None:
        self.l2 = l2
        self.classes_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearProbe:
        """Fit on (N, F) features and (N,) labels (any sortable values)."""
        self.classes_, yi = np.unique(y, return_inverse=True)
        self.mu_ = X.mean(axis=0)
        self.sd_ = X.std(axis=0) + 1e-8
        Y = np.eye(len(self.classes_))[yi]
        self.b_ = Y.mean(axis=0)
        U, s, Vt = np.linalg.svd((X - self.mu_) / self.sd_, full_matrices=False)
        self.W_ = Vt.T @ ((s / (s**2 + self.l2))[:, None] * (U.T @ (Y - self.b_)))  # (F, K)
        return self

    def decision(self, X: np.ndarray) -> np.ndarray:
        """(N, K) outputs, one per class."""
        return ((X - self.mu_) / self.sd_) @ self.W_ + self.b_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) predicted labels."""
        assert self.classes_ is not None, "fit first"
        return self.classes_[np.argmax(self.decision(X), axis=1)]


L2_GRID = (1.0, 10.0, 100.0, 1000.0)  # candidate penalties; the inner cross-validation picks one per training set


def _choose_l2(X: np.ndarray, y: np.ndarray, groups: list[tuple[str, str]], seed: int, inner_folds: int = 3) -> float:
    """The ``L2_GRID`` value with the best inner cross-validated accuracy (ties: the stronger penalty)."""
    fold = fold_of(groups, inner_folds, seed + 100_003)
    best, best_acc = L2_GRID[-1], -1.0
    for l2 in reversed(L2_GRID):
        hits = 0
        for k in range(inner_folds):
            tr, te = fold != k, fold == k
            if not te.any() or len(np.unique(y[tr])) < 2:
                continue
            hits += int((LinearProbe(l2).fit(X[tr], y[tr]).predict(X[te]) == y[te]).sum())
        if hits > best_acc:
            best, best_acc = l2, hits
    return best


def cross_validate(X: np.ndarray, y: np.ndarray, groups: list[tuple[str, str]], folds: int, seed: int) -> dict[str, Any]:
    """Accuracy of ``LinearProbe`` over ``folds`` folds of ``fold_of(groups, folds, seed)``.

    Every sample is predicted once, by the model fitted on the other folds (its penalty
    chosen on those folds alone). Samples are views: all views of a clip share its group
    and therefore its fold.

    Args:
        X: (N, F) features; y: (N,) labels; groups: (content, style) per sample.
        folds: outer folds; seed: the split.

    Returns:
        ``accuracy`` (fraction of samples right), ``predictions`` ((N,) the label each
        sample got) and ``l2``, the penalty chosen in each fold.
    """
    fold = fold_of(groups, folds, seed)
    pred = np.empty(len(y), dtype=y.dtype)
    chosen = []
    for k in range(folds):
        tr, te = fold != k, fold == k
        l2 = _choose_l2(X[tr], y[tr], [g for g, t in zip(groups, tr) if t], seed)
        chosen.append(l2)
        pred[te] = LinearProbe(l2).fit(X[tr], y[tr]).predict(X[te])
    return {"accuracy": float((pred == y).mean()), "predictions": pred, "l2": chosen}
