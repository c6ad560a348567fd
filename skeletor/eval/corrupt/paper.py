"""The Skeletor paper's BERT-style corruption of clean 3D sequences: the refiner's training inputs.

``corrupt_paper`` masks a fraction of frames outright and a fraction of single (frame,
joint) entries, and gives a fraction of frames and of entries Gaussian noise of standard
deviation ``s`` per coordinate. Masked entries are zeroed and flagged; the model reads the
flag, never the zeros. ``mask_frames``, ``mask_joints``, ``frame_noise`` and
``joint_noise`` are the building blocks.

Masking picks an exact number of entries per sequence (``ratio`` x the eligible count,
rounded stochastically so that short windows still average the requested ratio), so
measured fractions match the request closely. Only *present* entries are ever picked:
a joint that was already missing is neither masked again nor noised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skeletor.eval.corrupt.common import Corrupted, as_mask, as_points, check_nonneg, check_ratio

__all__ = ["PaperCorruption", "corrupt_paper", "mask_frames", "mask_joints", "frame_noise", "joint_noise"]


@dataclass(frozen=True)
class PaperCorruption:
    """The Skeletor paper's BERT-style corruption of 3D sequences.

    Attributes:
        frame_mask: fraction of frames fully masked (paper: 5-25 %, best 10 %).
        joint_mask: fraction of (frame, joint) entries masked (5-25 %, best 10 %).
        frame_noise: fraction of frames whose whole skeleton gets Gaussian noise.
        joint_noise: fraction of (frame, joint) entries that get Gaussian noise.
        noise_std: noise strength s (paper 0.1-0.9): the standard deviation of the
            Gaussian added to each coordinate, in the units of the data.
    """

    frame_mask: float = 0.10
    joint_mask: float = 0.10
    frame_noise: float = 0.15
    joint_noise: float = 0.15
    noise_std: float = 0.5

    def __post_init__(self) -> None:
        for name in ("frame_mask", "joint_mask", "frame_noise", "joint_noise"):
            check_ratio(name, getattr(self, name))
        check_nonneg("noise_std", self.noise_std)


def _choose(eligible: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Pick ``ratio`` of the eligible entries along the last axis, uniformly without replacement.

    The count per row is ``floor(ratio * n_eligible + u)``, ``u ~ U[0, 1)``: stochastic
    rounding, so even a short row averages exactly ``ratio``.

    Args:
        eligible: (..., N) bool.
        ratio: fraction in [0, 1].
        rng: random generator.

    Returns:
        (..., N) bool, True for picked entries (all of them eligible).
    """
    check_ratio("ratio", ratio)
    if eligible.shape[-1] == 0 or ratio == 0.0:
        return np.zeros(eligible.shape, dtype=bool)
    keys = np.where(eligible, rng.random(eligible.shape), 2.0)  # ineligible entries sort last
    ranks = np.argsort(np.argsort(keys, axis=-1), axis=-1)
    n = eligible.sum(axis=-1, keepdims=True)
    k = np.floor(ratio * n + rng.random(n.shape))
    return (ranks < k) & eligible


def _pick_frames(present: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """(..., T, J) bool: the present entries of ``ratio`` of the frames that have any."""
    frames = _choose(present.any(axis=-1), ratio, rng)
    return frames[..., None] & present


def _pick_entries(present: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """(..., T, J) bool: ``ratio`` of the present (frame, joint) entries of each sequence."""
    flat = present.reshape(present.shape[:-2] + (-1,))
    return _choose(flat, ratio, rng).reshape(present.shape)


def mask_frames(present: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Pick whole frames to mask.

    Per sequence, ``ratio`` of the frames that have at least one present joint are
    picked (an exact count, stochastically rounded), uniformly without replacement.

    Args:
        present: (..., T, J) bool, entries available to mask.
        ratio: fraction of frames to mask, in [0, 1].
        rng: random generator.

    Returns:
        (..., T, J) bool, the newly masked entries (the present joints of the picked frames).

    Raises:
        ValueError: ``present`` has fewer than 2 dimensions or ``ratio`` is outside [0, 1].
    """
    p = np.asarray(present)
    if p.ndim < 2:
        raise ValueError(f"present: expected shape (..., T, J), got {p.shape}")
    return _pick_frames(p.astype(bool, copy=False), ratio, rng)


def mask_joints(present: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Pick single (frame, joint) entries to mask.

    Per sequence, ``ratio`` of the present entries are picked (an exact count,
    stochastically rounded), uniformly without replacement.

    Args:
        present: (..., T, J) bool, entries available to mask.
        ratio: fraction of present entries to mask, in [0, 1].
        rng: random generator.

    Returns:
        (..., T, J) bool, the newly masked entries.

    Raises:
        ValueError: ``present`` has fewer than 2 dimensions or ``ratio`` is outside [0, 1].
    """
    p = np.asarray(present)
    if p.ndim < 2:
        raise ValueError(f"present: expected shape (..., T, J), got {p.shape}")
    return _pick_entries(p.astype(bool, copy=False), ratio, rng)


def _add_noise(x: np.ndarray, where: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """float32 copy of ``x`` with N(0, std^2) added to every coordinate of the ``where`` entries."""
    check_nonneg("std", std)
    noise = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(std)
    return np.where(where[..., None], x + noise, x).astype(np.float32, copy=False)


def frame_noise(x: np.ndarray, ratio: float, std: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise to every joint of a fraction of the frames.

    Args:
        x: (..., T, J, 3) sequence; NaN coordinates mark missing joints, which stay NaN
            and are not flagged.
        ratio: fraction of frames (among frames with any present joint) to noise, in [0, 1].
        std: standard deviation of the noise per coordinate, in the units of ``x``.
        rng: random generator.

    Returns:
        (noisy x as float32, (..., T, J) bool of the noised entries).

    Raises:
        ValueError: ``x`` is not (..., T, J, 3), or ``ratio`` / ``std`` out of range.
    """
    x = as_points(x, "x")
    present = np.isfinite(x).all(axis=-1)
    sel = _pick_frames(present, ratio, rng)
    return _add_noise(x, sel, std, rng), sel


def joint_noise(x: np.ndarray, ratio: float, std: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise to a fraction of the (frame, joint) entries.

    Args:
        x: (..., T, J, 3) sequence; NaN coordinates mark missing joints, which stay NaN
            and are not flagged.
        ratio: fraction of present entries to noise, in [0, 1].
        std: standard deviation of the noise per coordinate, in the units of ``x``.
        rng: random generator.

    Returns:
        (noisy x as float32, (..., T, J) bool of the noised entries).

    Raises:
        ValueError: ``x`` is not (..., T, J, 3), or ``ratio`` / ``std`` out of range.
    """
    x = as_points(x, "x")
    present = np.isfinite(x).all(axis=-1)
    sel = _pick_entries(present, ratio, rng)
    return _add_noise(x, sel, std, rng), sel


def corrupt_paper(
    x: np.ndarray, present: np.ndarray | None, cfg: PaperCorruption, rng: np.random.Generator
) -> Corrupted:
    """Corrupt a clean 3D sequence the way the Skeletor paper trains its model.

    1. ``cfg.frame_mask`` of the frames are masked whole and, independently,
       ``cfg.joint_mask`` of the present entries are masked (the two may overlap, so
       about ``1 - (1 - frame_mask) (1 - joint_mask)`` of the entries end up masked).
    2. Among what is still present, ``cfg.frame_noise`` of the frames and
       ``cfg.joint_noise`` of the entries are picked; every picked entry gets one draw
       of N(0, ``cfg.noise_std``^2) per coordinate (an entry picked twice is noised once).
    3. Everything not present is set to 0.

    Args:
        x: (..., T, J, 3) clean sequence, any units (``noise_std`` is in the same units).
            NaN coordinates mark missing joints.
        present: (..., T, J) bool, or None for "every finite joint". Entries that are
            not present (or not finite) are treated as missing: never masked or noised.
        cfg: corruption ratios and noise strength.
        rng: random generator.

    Returns:
        The corrupted copy and its ``present`` / ``masked`` / ``noised`` flags.

    Raises:
        ValueError: ``x`` is not (..., T, J, 3) or ``present`` does not match it.
    """
    x = as_points(x, "x").astype(np.float32, copy=False)
    finite = np.isfinite(x).all(axis=-1)
    present0 = finite if present is None else as_mask(present, x.shape[:-1]) & finite

    masked = _pick_frames(present0, cfg.frame_mask, rng) | _pick_entries(present0, cfg.joint_mask, rng)
    visible = present0 & ~masked
    noised = _pick_frames(visible, cfg.frame_noise, rng) | _pick_entries(visible, cfg.joint_noise, rng)

    out = _add_noise(x, noised, cfg.noise_std, rng)
    out = np.where(visible[..., None], out, np.float32(0.0)).astype(np.float32, copy=False)
    return Corrupted(x=out, present=visible, masked=masked, noised=noised)
