"""Detector faults: the way a MediaPipe-style detector fails live, simulated on 2D keypoints and on 3D.

The faults, on 2D keypoints ``(..., T, J, 3)`` = x px, y px, confidence: pixel jitter
(white, or AR(1)-correlated over time as real MediaPipe jitter is; optionally stronger on the
hands), dropped frames in bursts, single dropped joints, a hand lost for a while, outlier jumps,
left/right swaps of the whole body and a hand detected on the other arm. A missing keypoint has confidence 0 and NaN x, y, on the way in and
on the way out. Each has its own function (``jitter``, ``drop_frame_bursts``, ...);
``detector_faults`` applies them all from one ``DetectorFaults`` config (its defaults are
the public accuracy benchmark's detector model), and ``detector_faults_3d`` applies the
same faults to 3D sequences, to make the refiner's training inputs look like live input.
All of them run one core that works on (values, present) and does not care whether the
values are pixels or metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from skeletor.eval.corrupt.common import Corrupted, as_mask, as_points, check_nonneg, check_ratio
from skeletor.pose.skeleton import Skeleton

__all__ = [
    "DetectorFaults",
    "detector_faults",
    "detector_faults_3d",
    "jitter",
    "drop_frame_bursts",
    "drop_joints",
    "lose_hand",
    "outliers",
    "swap_left_right",
    "hand_joints",
]


def _check_mean_length(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite mean length >= 1 frame."""
    if not (value >= 1.0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a mean length >= 1 frame, got {value}")


def _check_corr(value: float) -> None:
    """Raise ValueError unless ``value`` is an AR(1) coefficient in (-1, 1)."""
    if not (-1.0 < value < 1.0):
        raise ValueError(f"jitter_corr must be an AR(1) coefficient in (-1, 1), got {value}")


@dataclass(frozen=True)
class DetectorFaults:
    """Detector fault model for 2D keypoints; the defaults are the public accuracy benchmark's.

    Attributes:
        jitter_px: standard deviation of the Gaussian pixel noise on x and y of every
            present keypoint (of the body joints only when ``hand_jitter_px`` is set).
        jitter_corr: AR(1) coefficient of that noise over time, in (-1, 1): 0 = white
            (independent per frame, the benchmark's), 0.5 = each frame's error keeps half
            of the last one's. The marginal standard deviation stays ``jitter_px``.
        hand_jitter_px: standard deviation of the pixel noise on the hand joints
            (``left_hand_*`` / ``right_hand_*``); None = ``jitter_px``.
        drop_frames: fraction of frames dropped entirely (detector returned nothing).
        drop_burst: mean length, in frames, of a burst of dropped frames (geometric).
        drop_joints: probability that a single (frame, joint) keypoint is dropped.
        outliers: probability that a present keypoint jumps away for one frame.
        outlier_min_px: shortest outlier jump, pixels.
        outlier_max_px: longest outlier jump, pixels.
        lose_hand: fraction of frames in which each hand (independently) is lost.
        lose_hand_frames: mean length, in frames, of a hand-loss episode (geometric).
        swaps: fraction of frames in which left and right are swapped (every mirrored
            joint pair: the whole body seen mirrored).
        swap_frames: mean length, in frames, of a swap span (geometric).
        hand_swaps: fraction of frames in which each hand (independently) is detected on the
            other arm: its 21 keypoints are the other hand's, as when MediaPipe Holistic's
            hand crops both follow one hand (``skeletor.eval.real_noise`` measures this).
        hand_swap_frames: mean length, in frames, of such a span (geometric).
    """

    jitter_px: float = 2.5
    jitter_corr: float = 0.0
    hand_jitter_px: float | None = None
    drop_frames: float = 0.10
    drop_burst: float = 3.0
    drop_joints: float = 0.05
    outliers: float = 0.01
    outlier_min_px: float = 30.0
    outlier_max_px: float = 80.0
    lose_hand: float = 0.0
    lose_hand_frames: float = 30.0
    swaps: float = 0.0
    swap_frames: float = 4.0
    hand_swaps: float = 0.0
    hand_swap_frames: float = 1.5

    def __post_init__(self) -> None:
        for name in ("drop_frames", "drop_joints", "outliers", "lose_hand", "swaps", "hand_swaps"):
            check_ratio(name, getattr(self, name))
        for name in ("jitter_px", "outlier_min_px", "outlier_max_px"):
            check_nonneg(name, getattr(self, name))
        for name in ("drop_burst", "lose_hand_frames", "swap_frames", "hand_swap_frames"):
            _check_mean_length(name, getattr(self, name))
        _check_corr(self.jitter_corr)
        if self.hand_jitter_px is not None:
            check_nonneg("hand_jitter_px", self.hand_jitter_px)
        if self.outlier_min_px > self.outlier_max_px:
            raise ValueError(f"outlier_min_px ({self.outlier_min_px}) > outlier_max_px ({self.outlier_max_px})")


def _start_rate(fraction: float, mean_length: float) -> float:
    """Per-frame span start probability giving a stationary covered fraction of ``fraction``.

    A frame is covered unless no earlier span still reaches it:
    ``1 - prod_k (1 - p * P(L > k))`` with ``P(L > k) = (1 - 1/mean_length)^k``; solved
    for ``p`` by bisection (the coverage grows monotonically with ``p``).
    """
    k = np.arange(int(np.ceil(40.0 * mean_length)) + 1)
    survival = (1.0 - 1.0 / mean_length) ** k

    def coverage(p: float) -> float:
        with np.errstate(divide="ignore"):
            return 1.0 - float(np.exp(np.log1p(-p * survival).sum()))

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if coverage(mid) < fraction else (lo, mid)
    return 0.5 * (lo + hi)


def _bursts(shape: tuple[int, ...], fraction: float, mean_length: float, rng: np.random.Generator) -> np.ndarray:
    """Random spans covering about ``fraction`` of the last (time) axis.

    Spans start at random frames (Bernoulli per frame) and last a geometric number of
    frames with mean ``mean_length``; overlapping spans merge. The start rate is chosen
    so that the expected covered fraction is ``fraction``, and the
    process is run from well before frame 0 so that the first frames are not favoured.

    Args:
        shape: (..., T) output shape.
        fraction: expected covered fraction in [0, 1].
        mean_length: mean span length in frames, >= 1.
        rng: random generator.

    Returns:
        (..., T) bool, True inside a span.
    """
    check_ratio("fraction", fraction)
    _check_mean_length("mean length", mean_length)
    if fraction == 0.0 or shape[-1] == 0:
        return np.zeros(shape, dtype=bool)
    if fraction == 1.0:
        return np.ones(shape, dtype=bool)
    t = shape[-1]
    burn_in = int(np.ceil(4.0 * mean_length))
    full = shape[:-1] + (t + burn_in,)
    p_start = _start_rate(fraction, mean_length)
    starts = rng.random(full) < p_start
    lengths = rng.geometric(1.0 / mean_length, size=full)
    frames = np.arange(t + burn_in)
    reach = np.where(starts, frames + lengths, 0)  # exclusive end of a span starting here
    covered = np.maximum.accumulate(reach, axis=-1) > frames
    return covered[..., burn_in:]


def _directions(shape: tuple[int, ...], dim: int, rng: np.random.Generator) -> np.ndarray:
    """(*shape, dim) unit vectors, uniform on the circle / sphere."""
    v = rng.standard_normal(shape + (dim,))
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def hand_joints(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """The subject's left and right hand joints of a layout.

    Args:
        skeleton: a layout whose hand joints are named ``left_hand_*`` / ``right_hand_*``
            (``holistic75``, ``upper50``).

    Returns:
        (left, right): two (21,) int arrays of joint indices.

    Raises:
        ValueError: the layout has no such hand joints.
    """
    left = np.array([i for i, n in enumerate(skeleton.joints) if n.startswith("left_hand_")], dtype=np.int64)
    right = np.array([i for i, n in enumerate(skeleton.joints) if n.startswith("right_hand_")], dtype=np.int64)
    if left.size == 0 or right.size == 0:
        raise ValueError(f"skeleton {skeleton.name!r} has no left_hand_* / right_hand_* joints")
    return left, right


# --------------------------------------------------------------------------------------
# Detector faults: one core working on (values, present), wrapped for 2D and 3D
# --------------------------------------------------------------------------------------
#
# ``vals`` is (..., T, J, C) float32 whose first ``dim`` channels are coordinates (the
# rest, e.g. a confidence, ride along); ``present`` is (..., T, J) bool. Each op returns
# (vals, present, changed) where ``changed`` flags entries whose value was falsified.


_Op = tuple[np.ndarray, np.ndarray, np.ndarray]  # (vals, present, changed)


def _op_jitter(
    vals: np.ndarray,
    present: np.ndarray,
    dim: int,
    sigma: float | np.ndarray,
    rng: np.random.Generator,
    corr: float = 0.0,
) -> _Op:
    """Gaussian noise of std ``sigma`` (a number, or one per joint: (J,)), AR(1) over T with ``corr``.

    White noise (``corr`` 0) is one standard-normal draw per entry times ``sigma``; the
    correlated noise filters the same draws, ``e[0] = z[0]``,
    ``e[t] = corr * e[t-1] + sqrt(1 - corr**2) * z[t]``, so its marginal std is still ``sigma``
    and ``corr`` 0 gives exactly the white noise, draw for draw.
    """
    sig = np.asarray(sigma, dtype=np.float64)
    if sig.ndim not in (0, 1) or (sig.ndim == 1 and sig.shape != (present.shape[-1],)):
        raise ValueError(f"sigma must be a number or one per joint ({present.shape[-1]},), got shape {sig.shape}")
    for s in sig.reshape(-1):
        check_nonneg("sigma", float(s))
    _check_corr(corr)
    if not sig.any():
        return vals, present, np.zeros_like(present)
    noise = rng.standard_normal(vals.shape[:-1] + (dim,), dtype=np.float32)  # (..., T, J, dim)
    if corr != 0.0 and noise.shape[-3] > 1:
        b = np.float32(np.sqrt(1.0 - corr * corr))
        zi = (np.float32(1.0) - b) * noise[..., :1, :, :]  # makes e[0] = z[0]: stationary from frame 0
        noise = lfilter([b], [1.0, -corr], noise, axis=-3, zi=zi)[0].astype(np.float32)
    noise = noise * (np.float32(sigma) if sig.ndim == 0 else sig.astype(np.float32)[:, None])
    out = vals.copy()
    out[..., :dim] = np.where(present[..., None], vals[..., :dim] + noise, vals[..., :dim])
    return out, present, present.copy()


def _op_outliers(
    vals: np.ndarray, present: np.ndarray, dim: int, fraction: float, lo: float, hi: float, rng: np.random.Generator
) -> _Op:
    check_ratio("fraction", fraction)
    check_nonneg("min jump", lo)
    if hi < lo:
        raise ValueError(f"outlier jump range is empty: min {lo} > max {hi}")
    sel = (rng.random(present.shape) < fraction) & present
    jump = _directions(present.shape, dim, rng) * rng.uniform(lo, hi, size=present.shape)[..., None]
    out = vals.copy()
    out[..., :dim] = np.where(sel[..., None], vals[..., :dim] + jump.astype(np.float32), vals[..., :dim])
    return out, present, sel


def _op_drop(vals: np.ndarray, present: np.ndarray, drop: np.ndarray) -> _Op:
    return vals, present & ~drop, np.zeros_like(present)


def _op_swap(vals: np.ndarray, present: np.ndarray, mirror: np.ndarray, spans: np.ndarray) -> _Op:
    if mirror.shape != (present.shape[-1],):
        raise ValueError(f"skeleton has {mirror.shape[0]} joints but the data has {present.shape[-1]}")
    out = np.where(spans[..., None, None], vals[..., mirror, :], vals)
    new_present = np.where(spans[..., None], present[..., mirror], present)
    moved = spans[..., None] & (mirror != np.arange(mirror.size)) & new_present
    return out, new_present, moved


def _op_hand_on_other_arm(
    vals: np.ndarray, present: np.ndarray, skeleton: Skeleton, probability: float, mean_frames: float, rng: np.random.Generator
) -> _Op:
    """Each hand, in spans covering ``probability`` of the frames, takes the other hand's
    keypoints (values and presence): both hands then lie on one arm."""
    left, right = hand_joints(skeleton)
    if max(left.max(), right.max()) >= present.shape[-1]:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the data {present.shape[-1]}")
    spans = _bursts(present.shape[:-2] + (2, present.shape[-2]), probability, mean_frames, rng)  # (..., 2, T) left, right
    out, new_present, moved = vals.copy(), present.copy(), np.zeros_like(present)
    for side, (own, other) in enumerate(((left, right), (right, left))):
        on = spans[..., side, :]  # (..., T)
        out[..., own, :] = np.where(on[..., None, None], vals[..., other, :], vals[..., own, :])
        new_present[..., own] = np.where(on[..., None], present[..., other], present[..., own])
        moved[..., own] = on[..., None] & present[..., other]
    return out, new_present, moved


def _hand_drop(
    present: np.ndarray, skeleton: Skeleton, probability: float, mean_frames: float, rng: np.random.Generator
) -> np.ndarray:
    """(..., T, J) bool: the joints of each hand, in spans covering ``probability`` of the frames."""
    left, right = hand_joints(skeleton)
    if max(left.max(), right.max()) >= present.shape[-1]:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the data {present.shape[-1]}")
    lost = _bursts(present.shape[:-2] + (2, present.shape[-2]), probability, mean_frames, rng)  # (..., 2, T)
    is_left = np.zeros(present.shape[-1], dtype=bool)
    is_left[left] = True
    is_right = np.zeros(present.shape[-1], dtype=bool)
    is_right[right] = True
    return (lost[..., 0, :, None] & is_left) | (lost[..., 1, :, None] & is_right)


def _split_2d(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 copy of 2D keypoints and their (..., T, J) present mask (conf > 0, finite x, y)."""
    kp = as_points(kp, "kp").astype(np.float32, copy=True)
    present = (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(axis=-1)
    return kp, present


def _join_2d(kp: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Keypoints with every non-present entry written as (NaN, NaN, 0)."""
    out = kp.copy()
    out[..., :2] = np.where(present[..., None], kp[..., :2], np.float32(np.nan))
    out[..., 2] = np.where(present, kp[..., 2], np.float32(0.0))
    return out


def jitter(kp: np.ndarray, sigma_px: float | np.ndarray, rng: np.random.Generator, corr: float = 0.0) -> np.ndarray:
    """Add Gaussian pixel noise to the x, y of every present keypoint.

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        sigma_px: standard deviation of the noise on x and on y, pixels: one number, or
            one per joint, shape (J,).
        rng: random generator.
        corr: AR(1) coefficient of the noise over time (axis T), in (-1, 1); the marginal
            std stays ``sigma_px``. 0 (white noise) draws exactly what it always did.

    Returns:
        A new (..., T, J, 3) float32 array; confidences are unchanged.

    Raises:
        ValueError: ``kp`` is not (..., T, J, 3), ``sigma_px`` < 0 or of another shape,
            or ``corr`` outside (-1, 1).
    """
    vals, present = _split_2d(kp)
    vals, present, _ = _op_jitter(vals, present, 2, sigma_px, rng, corr)
    return _join_2d(vals, present)


def drop_frame_bursts(kp: np.ndarray, fraction: float, mean_burst: float, rng: np.random.Generator) -> np.ndarray:
    """Drop whole frames in bursts, as a detector that loses the person for a moment.

    Bursts start at random and last a geometric number of frames with mean
    ``mean_burst``; the start rate is set so that about ``fraction`` of the frames are
    dropped (in expectation; overlapping bursts merge into longer ones).

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        fraction: expected fraction of frames dropped, in [0, 1].
        mean_burst: mean burst length in frames, >= 1.
        rng: random generator.

    Returns:
        A new (..., T, J, 3) float32 array; dropped keypoints are (NaN, NaN, 0).

    Raises:
        ValueError: bad shape, ``fraction`` outside [0, 1] or ``mean_burst`` < 1.
    """
    vals, present = _split_2d(kp)
    frames = _bursts(present.shape[:-1], fraction, mean_burst, rng)
    vals, present, _ = _op_drop(vals, present, frames[..., None])
    return _join_2d(vals, present)


def drop_joints(
    kp: np.ndarray, fraction: float, rng: np.random.Generator, joints: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Drop single keypoints at random (each (frame, joint) independently).

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        fraction: probability that a keypoint is dropped, in [0, 1].
        rng: random generator.
        joints: joint indices that may be dropped (default: all).

    Returns:
        A new (..., T, J, 3) float32 array; dropped keypoints are (NaN, NaN, 0).

    Raises:
        ValueError: bad shape, ``fraction`` outside [0, 1] or a joint index out of range.
    """
    check_ratio("fraction", fraction)
    vals, present = _split_2d(kp)
    drop = rng.random(present.shape) < fraction
    if joints is not None:
        idx = np.asarray(joints, dtype=np.int64).reshape(-1)
        j = present.shape[-1]
        if idx.size and (idx.min() < -j or idx.max() >= j):
            raise ValueError(f"joints: indices must be in [0, {j}), got {idx.min()}..{idx.max()}")
        allowed = np.zeros(j, dtype=bool)
        allowed[idx] = True
        drop &= allowed
    vals, present, _ = _op_drop(vals, present, drop)
    return _join_2d(vals, present)


def lose_hand(
    kp: np.ndarray,
    skeleton: Skeleton,
    rng: np.random.Generator,
    probability: float = 0.05,
    mean_frames: float = 30.0,
) -> np.ndarray:
    """Lose a whole hand (all its 21 keypoints) for a while, as a hand detector does.

    Each hand independently is lost in spans of geometric length (mean
    ``mean_frames``) that cover about ``probability`` of the frames.

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        skeleton: the layout of ``kp``; its hands are the ``left_hand_*`` /
            ``right_hand_*`` joints.
        rng: random generator.
        probability: probability that a given hand is lost in a given frame, in [0, 1].
        mean_frames: mean length of a loss, frames (>= 1).

    Returns:
        A new (..., T, J, 3) float32 array; lost keypoints are (NaN, NaN, 0).

    Raises:
        ValueError: bad shape, a layout without hands or of another joint count, or a
            parameter out of range.
    """
    vals, present = _split_2d(kp)
    vals, present, _ = _op_drop(vals, present, _hand_drop(present, skeleton, probability, mean_frames, rng))
    return _join_2d(vals, present)


def outliers(kp: np.ndarray, fraction: float, min_px: float, max_px: float, rng: np.random.Generator) -> np.ndarray:
    """Make single keypoints jump away: a random direction and a length in [min_px, max_px].

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        fraction: probability that a present keypoint jumps, in [0, 1].
        min_px: shortest jump, pixels.
        max_px: longest jump, pixels.
        rng: random generator.

    Returns:
        A new (..., T, J, 3) float32 array; confidences are unchanged (the detector is
        confidently wrong).

    Raises:
        ValueError: bad shape, ``fraction`` outside [0, 1] or ``min_px`` > ``max_px``.
    """
    vals, present = _split_2d(kp)
    vals, present, _ = _op_outliers(vals, present, 2, fraction, min_px, max_px, rng)
    return _join_2d(vals, present)


def swap_left_right(
    kp: np.ndarray, skeleton: Skeleton, fraction: float, rng: np.random.Generator, mean_frames: float = 4.0
) -> np.ndarray:
    """Swap the subject's left and right joints for short spans (``skeleton.mirror``).

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        skeleton: the layout of ``kp``.
        fraction: expected fraction of frames swapped, in [0, 1].
        rng: random generator.
        mean_frames: mean span length, frames (>= 1).

    Returns:
        A new (..., T, J, 3) float32 array; in a swapped frame joint ``j`` holds what
        joint ``mirror[j]`` held (confidence included).

    Raises:
        ValueError: bad shape, joint count not the layout's, or a parameter out of range.
    """
    vals, present = _split_2d(kp)
    spans = _bursts(present.shape[:-1], fraction, mean_frames, rng)
    vals, present, _ = _op_swap(vals, present, skeleton.mirror, spans)
    return _join_2d(vals, present)


def _faults(
    vals: np.ndarray,
    present: np.ndarray,
    dim: int,
    skeleton: Skeleton,
    cfg: DetectorFaults,
    rng: np.random.Generator,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply every fault of ``cfg`` (pixel quantities times ``scale``); returns (vals, present, changed)."""
    if skeleton.num_joints != present.shape[-1]:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the data {present.shape[-1]}")
    changed = np.zeros_like(present)
    if cfg.swaps > 0.0:
        spans = _bursts(present.shape[:-1], cfg.swaps, cfg.swap_frames, rng)
        vals, present, moved = _op_swap(vals, present, skeleton.mirror, spans)
        changed |= moved
    if cfg.hand_swaps > 0.0:
        vals, present, moved = _op_hand_on_other_arm(vals, present, skeleton, cfg.hand_swaps, cfg.hand_swap_frames, rng)
        changed |= moved
    drop = np.zeros_like(present)
    if cfg.lose_hand > 0.0:
        drop |= _hand_drop(present, skeleton, cfg.lose_hand, cfg.lose_hand_frames, rng)
    if cfg.drop_frames > 0.0:
        drop |= _bursts(present.shape[:-1], cfg.drop_frames, cfg.drop_burst, rng)[..., None]
    if cfg.drop_joints > 0.0:
        drop |= rng.random(present.shape) < cfg.drop_joints
    vals, present, _ = _op_drop(vals, present, drop)
    sigma: float | np.ndarray = cfg.jitter_px * scale
    if cfg.hand_jitter_px is not None:
        sigma = np.full(present.shape[-1], cfg.jitter_px * scale)
        sigma[np.concatenate(hand_joints(skeleton))] = cfg.hand_jitter_px * scale
    vals, present, jittered = _op_jitter(vals, present, dim, sigma, rng, cfg.jitter_corr)
    vals, present, jumped = _op_outliers(
        vals, present, dim, cfg.outliers, cfg.outlier_min_px * scale, cfg.outlier_max_px * scale, rng
    )
    return vals, present, (changed | jittered | jumped) & present


def detector_faults(kp: np.ndarray, skeleton: Skeleton, cfg: DetectorFaults, rng: np.random.Generator) -> np.ndarray:
    """Apply a whole detector fault model to 2D keypoints.

    In order: left/right swaps, a hand on the other arm, hand loss, dropped frame bursts and single dropped
    keypoints, pixel jitter (AR(1) over time when ``cfg.jitter_corr`` is set), outlier jumps. Faults that need a present keypoint only
    touch present ones.

    Args:
        kp: (..., T, J, 3) x px, y px, confidence; missing = confidence 0 (x, y NaN).
        skeleton: the layout of ``kp`` (its mirror and hands are used).
        cfg: the fault model.
        rng: random generator.

    Returns:
        A new (..., T, J, 3) float32 array; missing keypoints are (NaN, NaN, 0).

    Raises:
        ValueError: ``kp`` is not (..., T, J, 3) or J is not the layout's joint count.
    """
    vals, present = _split_2d(kp)
    vals, present, _ = _faults(vals, present, 2, skeleton, cfg, rng, 1.0)
    return _join_2d(vals, present)


def detector_faults_3d(
    x: np.ndarray,
    present: np.ndarray | None,
    skeleton: Skeleton,
    cfg: DetectorFaults,
    rng: np.random.Generator,
    scale: float = 0.004,
) -> Corrupted:
    """Apply the detector fault model to a 3D sequence, to make training inputs look live.

    The same faults as ``detector_faults``, with every pixel quantity (jitter, outlier
    jump lengths) multiplied by ``scale`` and applied isotropically in 3D.

    Args:
        x: (..., T, J, 3) sequence; NaN coordinates mark missing joints.
        present: (..., T, J) bool, or None for "every finite joint".
        skeleton: the layout of ``x``.
        cfg: the fault model (pixel units).
        rng: random generator.
        scale: data units per pixel. The default, 0.004, is metres per pixel for a
            person of about 1.7 m seen about 425 px tall (a 720p frame).

    Returns:
        The corrupted copy (non-present entries zeroed); ``masked`` flags dropped
        entries, ``noised`` the present entries whose value was falsified (jittered,
        jumped, or swapped with the mirror joint).

    Raises:
        ValueError: bad shapes, J not the layout's joint count, or ``scale`` <= 0.
    """
    if not (scale > 0.0 and np.isfinite(scale)):
        raise ValueError(f"scale must be a positive number of data units per pixel, got {scale}")
    x = as_points(x, "x").astype(np.float32, copy=False)
    finite = np.isfinite(x).all(axis=-1)
    present0 = finite if present is None else as_mask(present, x.shape[:-1]) & finite
    vals, present1, noised = _faults(x, present0, 3, skeleton, cfg, rng, scale)
    out = np.where(present1[..., None], vals, np.float32(0.0)).astype(np.float32, copy=False)
    masked = present0 & ~present1
    return Corrupted(x=out, present=present1, masked=masked, noised=noised)
