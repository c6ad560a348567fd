"""Pose-sequence metrics: MPJPE and its normalised / Procrustes forms, acceleration error,
bone-length consistency, the paper's MSE, and jitter for data with no ground truth.

Every metric is NaN- and mask-aware: an entry (one joint in one frame) counts only when
it is finite in every array involved and, if a ``valid`` (..., T, J) bool mask is given,
``valid`` there. Arrays are (..., T, J, C) (C = 3 for 3D, 2 for 2D); leading dimensions
are independent sequences. Each metric returns one float averaged over every counted
entry of every sequence (so longer sequences weigh more), or NaN when nothing counts.
To get one value per sequence, call the metric on each sequence and summarise the values
with ``sequence_stats`` (the paper reports min / ave / max over sequences).

Units follow the data: distances are in the units of the inputs (metres for our 3D,
pixels for 2D), ``paper_mse`` in squared units, accelerations in units per frame^2
(multiply by fps^2 for units/s^2), ``bone_length_cv`` is dimensionless.
Computations run in float64.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from skeletor.pose.skeleton import Skeleton

__all__ = [
    "mpjpe",
    "n_mpjpe",
    "p_mpjpe",
    "accel_error",
    "bone_length_cv",
    "paper_mse",
    "sequence_stats",
    "jitter",
    "reprojection_error",
]

log = logging.getLogger(__name__)


def _valid(x: np.ndarray, valid: np.ndarray | None, name: str = "valid") -> np.ndarray:
    """(..., J) bool: finite in every coordinate of ``x`` and ``valid`` (when given)."""
    ok = np.isfinite(x).all(axis=-1)
    if valid is not None:
        v = np.asarray(valid)
        if v.shape != ok.shape:
            raise ValueError(f"{name}: expected shape {ok.shape} (the data's shape without C), got {v.shape}")
        ok &= v.astype(bool, copy=False)
    return ok


def _pair(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, min_ndim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 copies of pred and gt with uncounted entries zeroed, and the (..., J) count mask.

    Raises:
        ValueError: shapes differ, are too small, or ``valid`` does not fit.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    if p.ndim < min_ndim:
        want = "(..., T, J, C)" if min_ndim >= 3 else "(..., J, C)"
        raise ValueError(f"expected shape {want}, got {p.shape}")
    v = _valid(p, valid) & np.isfinite(g).all(axis=-1)
    p = np.where(v[..., None], p, 0.0)
    g = np.where(v[..., None], g, 0.0)
    return p, g, v


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``values`` where ``mask``; NaN when the mask is empty."""
    n = int(mask.sum())
    if n == 0:
        return float("nan")
    return float(np.where(mask, values, 0.0).sum() / n)


def mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean per-joint position error: the mean Euclidean distance between pred and gt joints.

    Args:
        pred: (..., J, C) predicted positions.
        gt: (..., J, C) ground truth, same shape and units.
        valid: optional (..., J) bool; False (or NaN in either array) excludes an entry.

    Returns:
        The mean distance in the units of the inputs; NaN if no entry counts.

    Raises:
        ValueError: the shapes differ or ``valid`` does not fit.
    """
    p, g, v = _pair(pred, gt, valid, 2)
    return _mean(np.linalg.norm(p - g, axis=-1), v)


def n_mpjpe(
    pred: np.ndarray, gt: np.ndarray, root: Sequence[int] = (23, 24), valid: np.ndarray | None = None
) -> float:
    """Scale-normalised MPJPE: root-centred, then one least-squares scale per sequence.

    Each frame of pred and of gt is centred on the mean of its ``root`` joints (the hips
    of ``holistic75`` by default; use ``(1,)``, the neck, for ``upper50``). Then, per
    sequence, the single scale ``s`` minimising ``sum |s * pred - gt|^2`` over counted
    entries is applied to pred, and the MPJPE is taken. The result is invariant to a
    global scale and to a per-frame translation of pred.

    Args:
        pred: (..., T, J, C) predicted positions.
        gt: (..., T, J, C) ground truth, same shape and units.
        root: joint indices whose per-frame mean is the origin. A frame where any root
            joint is not counted (in pred or gt) is excluded.
        valid: optional (..., T, J) bool; False (or NaN in either array) excludes an entry.

    Returns:
        The mean distance in the units of gt; NaN if no entry counts.

    Raises:
        ValueError: bad shapes, an empty ``root`` or a root index out of range.
    """
    p, g, v = _pair(pred, gt, valid, 3)
    r = np.asarray(root, dtype=np.int64).reshape(-1)
    j = p.shape[-2]
    if r.size == 0 or r.min() < -j or r.max() >= j:
        raise ValueError(f"root: expected joint indices in [0, {j}), got {tuple(r.tolist())}")
    root_ok = v[..., r].all(axis=-1)  # (..., T)
    v = v & root_ok[..., None]
    p = np.where(v[..., None], p - p[..., r, :].mean(axis=-2, keepdims=True), 0.0)
    g = np.where(v[..., None], g - g[..., r, :].mean(axis=-2, keepdims=True), 0.0)
    num = (p * g).sum(axis=(-3, -2, -1), keepdims=True)  # (..., 1, 1, 1): one scale per sequence
    den = (p * p).sum(axis=(-3, -2, -1), keepdims=True)
    scale = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return _mean(np.linalg.norm(scale * p - g, axis=-1), v)


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Procrustes-aligned MPJPE: per frame, pred is rotated, scaled and translated onto gt.

    The similarity transform is the least-squares one over the frame's counted joints
    (reflections excluded). Frames with fewer than C + 1 counted joints (a rotation is
    not determined) are excluded. Invariant to any per-frame rotation, scale and
    translation of pred.

    Args:
        pred: (..., J, C) predicted positions (usually (..., T, J, C)).
        gt: (..., J, C) ground truth, same shape and units.
        valid: optional (..., J) bool; False (or NaN in either array) excludes an entry.

    Returns:
        The mean distance after alignment, in the units of gt; NaN if no entry counts.

    Raises:
        ValueError: the shapes differ or ``valid`` does not fit.
    """
    p, g, v = _pair(pred, gt, valid, 2)
    c = p.shape[-1]
    w = v[..., None].astype(np.float64)  # (..., J, 1)
    n = w.sum(axis=-2, keepdims=True)  # (..., 1, 1)
    n_safe = np.maximum(n, 1.0)
    mu_p = (p * w).sum(axis=-2, keepdims=True) / n_safe  # (..., 1, C)
    mu_g = (g * w).sum(axis=-2, keepdims=True) / n_safe
    pc = (p - mu_p) * w  # (..., J, C)
    gc = (g - mu_g) * w
    h = np.einsum("...jc,...jd->...cd", pc, gc)  # (..., C, C)
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))  # -1 where the best orthogonal map is a reflection
    d = np.where(d == 0, 1.0, d)
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    s = s.copy()
    s[..., -1] *= d
    rot = u @ vt  # (..., C, C), pred @ rot ~ gt
    norm2 = (pc * pc).sum(axis=(-2, -1))  # (...,)
    ok = (n[..., 0, 0] >= c + 1) & (norm2 > 0)
    scale = np.divide(s.sum(axis=-1), norm2, out=np.zeros_like(norm2), where=norm2 > 0)
    aligned = scale[..., None, None] * (pc @ rot) + mu_g
    return _mean(np.linalg.norm(aligned - g, axis=-1), v & ok[..., None])


def _second_difference(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., T-2, J, C) x[t+1] - 2 x[t] + x[t-1] and its (..., T-2, J) mask (all three counted)."""
    acc = x[..., 2:, :, :] - 2.0 * x[..., 1:-1, :, :] + x[..., :-2, :, :]
    ok = v[..., 2:, :] & v[..., 1:-1, :] & v[..., :-2, :]
    return acc, ok


def accel_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Acceleration error: mean |second difference of pred - second difference of gt|.

    Measures temporal smoothness against the truth: 0 when pred moves exactly like gt
    (whatever a constant offset), high for jittery pred.

    Args:
        pred: (..., T, J, C) predicted positions.
        gt: (..., T, J, C) ground truth, same shape and units.
        valid: optional (..., T, J) bool; an acceleration at frame t counts only when
            the entry counts at t-1, t and t+1.

    Returns:
        The mean acceleration error in units per frame^2 (times fps^2 for units/s^2);
        NaN if no entry counts (e.g. T < 3).

    Raises:
        ValueError: bad shapes or ``valid`` does not fit.
    """
    p, g, v = _pair(pred, gt, valid, 3)
    ap, ok = _second_difference(p, v)
    ag, _ = _second_difference(g, v)
    return _mean(np.linalg.norm(ap - ag, axis=-1), ok)


def jitter(x: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean acceleration magnitude, a smoothness measure for data with no ground truth.

    Args:
        x: (..., T, J, C) positions.
        valid: optional (..., T, J) bool; an acceleration at frame t counts only when
            the entry counts (and is finite) at t-1, t and t+1.

    Returns:
        The mean |x[t+1] - 2 x[t] + x[t-1]| in units per frame^2; NaN if nothing counts.

    Raises:
        ValueError: ``x`` is not (..., T, J, C) or ``valid`` does not fit.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 3:
        raise ValueError(f"expected shape (..., T, J, C), got {a.shape}")
    v = _valid(a, valid)
    a = np.where(v[..., None], a, 0.0)
    acc, ok = _second_difference(a, v)
    return _mean(np.linalg.norm(acc, axis=-1), ok)


def bone_length_cv(
    x: np.ndarray,
    skeleton_or_bones: Skeleton | np.ndarray | Sequence[tuple[int, int]],
    valid: np.ndarray | None = None,
    bones: Sequence[int] | np.ndarray | None = None,
) -> float:
    """Bone-length consistency: per bone std / mean of its length over time, then the mean.

    A rigid skeleton scores 0; a few per cent is typical of a good 3D estimate. Each
    bone of each sequence gives one coefficient of variation (population std over the
    frames where both its ends count); bones with fewer than 2 such frames or a zero
    mean length are left out; the result is the mean over the remaining bones and
    sequences.

    Args:
        x: (..., T, J, C) positions.
        skeleton_or_bones: a ``Skeleton`` (its ``bones``) or a (B, 2) array of
            (parent, child) joint indices.
        valid: optional (..., T, J) bool; False (or NaN) excludes a joint.
        bones: optional subset: row indices into the bone table.

    Returns:
        The mean coefficient of variation (dimensionless); NaN if no bone counts.

    Raises:
        ValueError: bad shapes or bone indices out of range.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 3:
        raise ValueError(f"expected shape (..., T, J, C), got {a.shape}")
    table = skeleton_or_bones.bones if isinstance(skeleton_or_bones, Skeleton) else skeleton_or_bones
    b = np.asarray(table, dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"bones: expected a (B, 2) table of (parent, child), got shape {b.shape}")
    if bones is not None:
        rows = np.asarray(bones, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(b) or rows.max() >= len(b)):
            raise ValueError(f"bones: row indices must be in [0, {len(b)}), got {rows.min()}..{rows.max()}")
        b = b[rows]
    j = a.shape[-2]
    if b.size and (b.min() < 0 or b.max() >= j):
        raise ValueError(f"bone joint indices must be in [0, {j}), got {b.min()}..{b.max()}")
    v = _valid(a, valid)
    length = np.linalg.norm(a[..., b[:, 1], :] - a[..., b[:, 0], :], axis=-1)  # (..., T, B)
    ok = v[..., b[:, 0]] & v[..., b[:, 1]]
    length = np.where(ok, length, 0.0)
    n = ok.sum(axis=-2)  # (..., B)
    n_safe = np.maximum(n, 1)
    mean = length.sum(axis=-2) / n_safe
    var = (np.where(ok, length - mean[..., None, :], 0.0) ** 2).sum(axis=-2) / n_safe
    counted = (n >= 2) & (mean > 0)
    cv = np.divide(np.sqrt(var), mean, out=np.zeros_like(mean), where=counted)
    return _mean(cv, counted)


def paper_mse(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean squared error over coordinates, as the Skeletor paper reports it.

    Args:
        pred: (..., J, C) predicted positions.
        gt: (..., J, C) ground truth, same shape and units.
        valid: optional (..., J) bool; False (or NaN in either array) excludes an entry
            (all its C coordinates).

    Returns:
        mean((pred - gt)^2) over every coordinate of every counted entry, in squared
        units of the inputs; NaN if no entry counts.

    Raises:
        ValueError: the shapes differ or ``valid`` does not fit.
    """
    p, g, v = _pair(pred, gt, valid, 2)
    return _mean(((p - g) ** 2).mean(axis=-1), v)


def reprojection_error(
    poses: np.ndarray, keypoints: np.ndarray, focal_px: float, image_size: tuple[int, int], min_confidence: float = 0.5
) -> np.ndarray:
    """Image distances between 2D detections and 3D poses seen through a pinhole camera.

    How well a 3D result stays on the person in the image, for data with no 3D truth.
    The camera looks down +z from the origin (the camera frame: x right, y down), its
    principal point at the image centre.

    Args:
        poses: (T, J, 3) camera-frame positions (any unit; z > 0 in front of the camera).
        keypoints: (T, J, 3) detections: x px, y px, confidence.
        focal_px: focal length in pixels.
        image_size: (width, height) in pixels.
        min_confidence: detections below this confidence are not counted.

    Returns:
        (N,) pixel distances, one per counted (frame, joint): detected confidently, and
        the pose finite and in front of the camera.

    Raises:
        ValueError: shapes that are not (T, J, 3) or do not match.
    """
    p = np.asarray(poses, np.float64)
    k = np.asarray(keypoints, np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or k.shape != p.shape:
        raise ValueError(f"expected (T, J, 3) poses and keypoints of the same shape, got {p.shape} and {k.shape}")
    centre = np.array([image_size[0] / 2.0, image_size[1] / 2.0])
    ok = (k[..., 2] >= min_confidence) & np.isfinite(k).all(-1) & np.isfinite(p).all(-1) & (p[..., 2] > 1e-9)
    z = np.where(ok, p[..., 2], 1.0)[..., None]
    proj = focal_px * p[..., :2] / z + centre  # (T, J, 2)
    return np.linalg.norm(proj - k[..., :2], axis=-1)[ok]


def sequence_stats(values: Iterable[float] | np.ndarray) -> dict[str, float]:
    """Minimum, average and maximum of per-sequence metric values (NaNs ignored).

    Args:
        values: one metric value per sequence.

    Returns:
        ``{"min": ..., "ave": ..., "max": ...}``; all NaN when no value is finite.
    """
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).reshape(-1)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"min": float("nan"), "ave": float("nan"), "max": float("nan")}
    return {"min": float(a.min()), "ave": float(a.mean()), "max": float(a.max())}
