"""What both corruption families share: the :class:`Corrupted` result and the argument checks.

Every corruption function returns new arrays (float32 for coordinates) and never modifies
its inputs; randomness comes only from its ``rng`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Corrupted", "check_ratio", "check_nonneg", "as_points", "as_mask"]


def check_ratio(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a fraction in [0, 1]."""
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")


def check_nonneg(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite number >= 0."""
    if not (value >= 0.0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def as_points(x: np.ndarray, name: str, channels: int = 3) -> np.ndarray:
    """``x`` as an array, checked to be (..., T, J, channels)."""
    a = np.asarray(x)
    if a.ndim < 3 or a.shape[-1] != channels:
        raise ValueError(f"{name}: expected shape (..., T, J, {channels}), got {a.shape}")
    return a


def as_mask(present: np.ndarray, shape: tuple[int, ...], name: str = "present") -> np.ndarray:
    """``present`` as a bool array, checked to be ``shape`` (an (..., T, J) shape)."""
    p = np.asarray(present)
    if p.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (..., T, J), got {p.shape}")
    return p.astype(bool, copy=False)


@dataclass
class Corrupted:
    """A corrupted sequence and what was done to it.

    Attributes:
        x: (..., T, J, 3) float32 corrupted copy. Entries that are not ``present``
            (masked, or missing on the way in) are set to 0: the model sees the mask
            flag, not these zeros.
        present: (..., T, J) bool, the input is present after corruption (False =
            masked, dropped, or was missing).
        masked: (..., T, J) bool, masked (or dropped) by this corruption; always a
            subset of the entries that were present on the way in.
        noised: (..., T, J) bool, noise added (or the value otherwise falsified) and
            still present.
    """

    x: np.ndarray
    present: np.ndarray
    masked: np.ndarray
    noised: np.ndarray
