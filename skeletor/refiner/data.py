"""Training data for the refiner: 3D sequence datasets, their ``.npz`` cache, windows, augmentation.

numpy only (no torch), so the dataset builder and tests can use it without torch.

Cache file (``.npz``, written by ``save_cache``, read by ``SequenceDataset.from_cache``)::

    sequences  float32 (N_frames, 75, 3)  every sequence's frames, concatenated; camera
                                          frame (x right, y down, z forward), any one unit
                                          for the whole file (training is scale-free)
    present    bool    (N_frames, 75)     False = the joint is missing (its xyz is ignored)
    offsets    int64   (S + 1,)           sequence s is frames offsets[s]:offsets[s + 1]
    names      str     (S,)               a label per sequence (source / clip)
    split      str     (S,)               "train", "val" or "test"
    targets    float32 (N_frames, 75, 3)  optional: what the refiner should output for
                                          these inputs (mocap truth aligned to the input);
                                          NaN where there is none, and then the input
                                          itself is the target (the paper's self-supervision)

Windows follow the refiner's streaming semantics (see ``skeletor.refiner.model``): the
window that emits frame ``e`` covers frames ``e - (T - 1 - k) ... e + k``; frames
outside the sequence are padding (zeros, not present), exactly what the runtime feeds
at the start of a stream and when it is flushed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skeletor.pose.skeleton import Skeleton

__all__ = [
    "SequenceDataset",
    "save_cache",
    "sample_windows",
    "sample_window_pairs",
    "shoulder_frame",
    "in_frame",
    "Augmentation",
    "augment",
    "to_shoulder_units",
]

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12


class SequenceDataset:
    """A list of 3D sequences with their present masks.

    Args:
        poses: per sequence, a (n_s, J, 3) array (any float; stored float32).
        present: per sequence, a (n_s, J) bool array, or None for "every finite joint".
        names: per sequence, a label (default ``seq0``, ``seq1``, ...).
        targets: per sequence, a (n_s, J, 3) supervised target (NaN = none) or None; a
            sequence without targets is its own target (self-supervised).

    Raises:
        ValueError: shapes that disagree, or sequences with different joint counts.
    """

    def __init__(
        self,
        poses: Sequence[np.ndarray],
        present: Sequence[np.ndarray | None] | None = None,
        names: Sequence[str] | None = None,
        targets: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        if present is None:
            present = [None] * len(poses)
        if len(present) != len(poses):
            raise ValueError(f"{len(poses)} pose sequences but {len(present)} present masks")
        self.poses: list[np.ndarray] = []
        self.present: list[np.ndarray] = []
        for i, (x, p) in enumerate(zip(poses, present)):
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 3 or x.shape[-1] != 3:
                raise ValueError(f"sequence {i}: expected (T, J, 3), got {x.shape}")
            finite = np.isfinite(x).all(axis=-1)
            p = finite if p is None else np.asarray(p, dtype=bool)
            if p.shape != x.shape[:2]:
                raise ValueError(f"sequence {i}: present expected {x.shape[:2]}, got {p.shape}")
            p = p & finite
            self.poses.append(np.where(p[..., None], x, np.float32(0.0)))  # no NaN inside
            self.present.append(p)
        joints = {x.shape[1] for x in self.poses}
        if len(joints) > 1:
            raise ValueError(f"sequences have different joint counts: {sorted(joints)}")
        self.names = list(names) if names is not None else [f"seq{i}" for i in range(len(self.poses))]
        if len(self.names) != len(self.poses):
            raise ValueError(f"{len(self.poses)} sequences but {len(self.names)} names")
        self.lengths = np.array([len(x) for x in self.poses], dtype=np.int64)
        # Targets: self-supervised sequences point at their own (clean) inputs.
        self.targets: list[np.ndarray] = []
        self.target_present: list[np.ndarray] = []
        for i, x in enumerate(self.poses):
            t = None if targets is None else targets[i]
            if t is None or not np.isfinite(t).any():
                self.targets.append(x)
                self.target_present.append(self.present[i])
                continue
            t = np.asarray(t, dtype=np.float32)
            if t.shape != x.shape:
                raise ValueError(f"sequence {i}: target expected {x.shape}, got {t.shape}")
            tp = np.isfinite(t).all(axis=-1)
            self.targets.append(np.where(tp[..., None], t, np.float32(0.0)))
            self.target_present.append(tp)

    @property
    def supervised(self) -> np.ndarray:
        """(S,) bool: sequences with a target of their own (not self-supervised)."""
        return np.array([t is not x for t, x in zip(self.targets, self.poses)], dtype=bool)

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def num_frames(self) -> int:
        """Total number of frames."""
        return int(self.lengths.sum())

    @property
    def num_joints(self) -> int:
        """J (0 for an empty dataset)."""
        return int(self.poses[0].shape[1]) if self.poses else 0

    @classmethod
    def from_cache(cls, path: str | os.PathLike[str], split: str | None = "train") -> SequenceDataset:
        """Load one split (or all, ``split=None``) of a cache ``.npz`` (format in the module docstring).

        Raises:
            ValueError: the file lacks an array, or the arrays disagree.
            OSError: the file cannot be read.
        """
        path = Path(path)
        with np.load(path, allow_pickle=False) as z:
            missing = {"sequences", "present", "offsets", "names", "split"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)} (has {sorted(z.files)})")
            seq, pres, off = z["sequences"], z["present"], z["offsets"].astype(np.int64)
            names, splits = z["names"].astype(str), z["split"].astype(str)
            tgt = z["targets"] if "targets" in z.files else None
        n = len(names)
        if off.shape != (n + 1,) or off[0] != 0 or off[-1] != len(seq) or np.any(np.diff(off) < 0):
            raise ValueError(f"{path}: offsets must be ({n + 1},), increasing from 0 to {len(seq)}")
        if pres.shape != seq.shape[:2] or splits.shape != (n,):
            raise ValueError(
                f"{path}: present {pres.shape} / split {splits.shape} do not match {seq.shape} / {n} sequences"
            )
        keep = [s for s in range(n) if split is None or splits[s] == split]
        log.info("%s: %d of %d sequences in split %s", path, len(keep), n, split)
        return cls(
            [seq[off[s] : off[s + 1]] for s in keep],
            [pres[off[s] : off[s + 1]] for s in keep],
            [str(names[s]) for s in keep],
            None if tgt is None else [tgt[off[s] : off[s + 1]] for s in keep],
        )


def save_cache(path: str | os.PathLike[str], datasets: dict[str, SequenceDataset]) -> None:
    """Write datasets (keyed by split name) into one cache ``.npz``.

    Raises:
        ValueError: an unknown split name or no sequences at all.
    """
    bad = set(datasets) - set(SPLITS)
    if bad:
        raise ValueError(f"unknown splits {sorted(bad)}; expected some of {SPLITS}")
    poses, present, names, splits, targets = [], [], [], [], []
    for split, ds in datasets.items():
        poses += ds.poses
        present += ds.present
        names += ds.names
        splits += [split] * len(ds)
        for x, t, tp, sup in zip(ds.poses, ds.targets, ds.target_present, ds.supervised):
            targets.append(np.where(tp[..., None], t, np.nan).astype(np.float32) if sup else np.full(x.shape, np.nan, np.float32))
    if not poses:
        raise ValueError("no sequences to save")
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in poses])]).astype(np.int64)
    np.savez_compressed(
        path,
        sequences=np.concatenate(poses).astype(np.float32),
        present=np.concatenate(present).astype(bool),
        offsets=offsets,
        names=np.array(names, dtype=str),
        split=np.array(splits, dtype=str),
        **({"targets": np.concatenate(targets)} if any(ds.supervised.any() for ds in datasets.values()) else {}),
    )


def sample_windows(
    data: SequenceDataset, n: int, window: int, lookahead: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` input windows (see :func:`sample_window_pairs`; targets dropped)."""
    poses, present, _, _ = sample_window_pairs(data, n, window, lookahead, rng)
    return poses, present


def sample_window_pairs(
    data: SequenceDataset, n: int, window: int, lookahead: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` windows with their targets, each emitting a frame drawn uniformly from all frames.

    The window emitting frame ``e`` covers ``e - (window - 1 - lookahead) ... e + lookahead``;
    frames outside the sequence are zeros with present False.

    Args:
        data: the sequences.
        n: number of windows.
        window: T.
        lookahead: k, in [0, T).
        rng: random generator.

    Returns:
        (poses (n, T, J, 3) float32, present (n, T, J) bool, targets (n, T, J, 3) float32,
        target_present (n, T, J) bool).

    Raises:
        ValueError: an empty dataset or a bad ``lookahead``.
    """
    if data.num_frames == 0:
        raise ValueError("cannot sample windows from an empty dataset")
    if not 0 <= lookahead < window:
        raise ValueError(f"lookahead must be in [0, {window}), got {lookahead}")
    seq = rng.choice(len(data), size=n, p=data.lengths / data.lengths.sum())
    J = data.num_joints
    poses = np.zeros((n, window, J, 3), dtype=np.float32)
    present = np.zeros((n, window, J), dtype=bool)
    targets = np.zeros((n, window, J, 3), dtype=np.float32)
    target_present = np.zeros((n, window, J), dtype=bool)
    for b, s in enumerate(seq):
        length = int(data.lengths[s])
        start = int(rng.integers(length)) - (window - 1 - lookahead)  # emitted frame minus its past
        lo, hi = max(start, 0), min(start + window, length)
        poses[b, lo - start : hi - start] = data.poses[s][lo:hi]
        present[b, lo - start : hi - start] = data.present[s][lo:hi]
        targets[b, lo - start : hi - start] = data.targets[s][lo:hi]
        target_present[b, lo - start : hi - start] = data.target_present[s][lo:hi]
    return poses, present, targets, target_present


def shoulder_frame(poses: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window: the median mid-shoulder (B, 3) and median shoulder width (B,).

    Windows with no frame showing both shoulders use the mean present joint and the RMS
    radius; empty windows get (0, 1).
    """
    B = poses.shape[0]
    root = np.zeros((B, 3), dtype=np.float64)
    scale = np.ones(B, dtype=np.float64)
    for b in range(B):
        x, p = poses[b], present[b]
        both = p[:, LEFT_SHOULDER] & p[:, RIGHT_SHOULDER]
        if both.any():
            ls, rs = x[both, LEFT_SHOULDER], x[both, RIGHT_SHOULDER]
            root[b] = np.median(0.5 * (ls + rs), axis=0)
            scale[b] = max(float(np.median(np.linalg.norm(ls - rs, axis=-1))), 1e-6)
        elif p.any():
            root[b] = x[p].mean(axis=0)
            scale[b] = max(float(np.sqrt(((x[p] - root[b]) ** 2).sum(-1).mean())), 1e-6)
    return root, scale


def in_frame(poses: np.ndarray, present: np.ndarray, root: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(B, T, J, 3) float32 ``(poses - root) / scale`` per window, absent entries 0."""
    out = (poses - root[:, None, None, :]) / scale[:, None, None, None]
    return np.where(present[..., None], out, 0.0).astype(np.float32)


def to_shoulder_units(poses: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Centre each window on its median mid-shoulder and divide by its median shoulder width.

    A numpy counterpart of ``skeletor.refiner.model.window_stats`` (upper median here;
    only the training data's units depend on it). Windows with no frame showing both
    shoulders are centred on the mean present joint and divided by the RMS radius.

    Args:
        poses: (B, T, J, 3), finite where present.
        present: (B, T, J) bool.

    Returns:
        (B, T, J, 3) float32 in shoulder widths, absent entries 0.
    """
    root, scale = shoulder_frame(poses, present)
    return in_frame(poses, present, root, scale)


@dataclass(frozen=True)
class Augmentation:
    """Random rigid changes to training windows (applied to the clean target and so to the input).

    Attributes:
        rotate_deg: largest rotation about the vertical (camera y) axis, degrees; a
            camera can see a person from any side.
        mirror_prob: probability of a left/right mirror (x -> -x with the joints swapped),
            so neither hand is favoured.
        scale_min: smallest random overall scale; with the noise in fixed units this
            varies the noise relative to the body.
        scale_max: largest random overall scale.
    """

    rotate_deg: float = 180.0
    mirror_prob: float = 0.5
    scale_min: float = 0.8
    scale_max: float = 1.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise ValueError(f"mirror_prob must be in [0, 1], got {self.mirror_prob}")
        if not 0.0 < self.scale_min <= self.scale_max:
            raise ValueError(f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")


def augment(
    poses: np.ndarray, present: np.ndarray, skeleton: Skeleton, cfg: Augmentation, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate each window about the vertical axis, maybe mirror it, and scale it, about the origin.

    Use it on root-centred windows (``to_shoulder_units``) so that the rotation turns
    the body on the spot.

    Args:
        poses: (B, T, J, 3) camera frame (y down, so y is the vertical axis).
        present: (B, T, J) bool.
        skeleton: the layout (its ``mirror`` permutation).
        cfg: the augmentation ranges.
        rng: random generator.

    Returns:
        (poses (B, T, J, 3) float32, present (B, T, J) bool), new arrays.

    Raises:
        ValueError: J is not the layout's joint count.
    """
    B, T, J, _ = poses.shape
    if J != skeleton.num_joints:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the data {J}")
    a = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, size=B))
    c, s = np.cos(a), np.sin(a)
    rot = np.zeros((B, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1.0, -s, c  # about y
    flip = rng.random(B) < cfg.mirror_prob
    rot[flip, :, 0] *= -1.0  # mirror: x -> -x before the rotation
    scale = np.exp(rng.uniform(np.log(cfg.scale_min), np.log(cfg.scale_max), size=B))
    out = np.einsum("bij,btkj->btki", rot * scale[:, None, None], poses).astype(np.float32)
    pres = present.copy()
    out[flip] = out[flip][:, :, skeleton.mirror]
    pres[flip] = pres[flip][:, :, skeleton.mirror]
    return out, pres
