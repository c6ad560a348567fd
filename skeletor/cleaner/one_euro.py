"""The 1 Euro filter (Casiez, Roussel & Vogel, CHI 2012): an adaptive, causal low-pass filter.

The cleaner's ``--smooth`` runs it live; :mod:`skeletor.eval.baselines` runs it over whole
sequences as a baseline. A missing entry (NaN) neither updates nor is emitted; see
:class:`OneEuroFilter`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skeletor.compiled import njit

__all__ = ["OneEuroParams", "OneEuroFilter"]


@dataclass(frozen=True)
class OneEuroParams:
    """Parameters of the 1 Euro filter.

    Attributes:
        min_cutoff: cutoff frequency (Hz) at rest; lower = smoother but laggier.
        beta: how fast the cutoff rises with speed (per data unit per second); higher =
            less lag on fast motion, more jitter passed.
        d_cutoff: cutoff frequency (Hz) of the speed estimate's own low-pass filter.
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and math.isfinite(self.min_cutoff)):
            raise ValueError(f"min_cutoff must be > 0 Hz, got {self.min_cutoff}")
        if not (self.d_cutoff > 0 and math.isfinite(self.d_cutoff)):
            raise ValueError(f"d_cutoff must be > 0 Hz, got {self.d_cutoff}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be >= 0, got {self.beta}")


@njit
def _one_euro_step(
    a: np.ndarray, ok: np.ndarray, x: np.ndarray, dx: np.ndarray, last_t: np.ndarray, t: float, min_cutoff: float, beta: float, d_cutoff: float
) -> None:  # pragma: no cover - compiled
    """One frame of the filter, in place, entry by entry (all (N,) arrays).

    ``a`` the new values, valid where ``ok``; ``x``, ``dx`` the filtered value and speed;
    ``last_t`` each entry's last observation time (NaN until seen). An entry seen before
    is filtered over the time since its last observation; one seen for the first time is
    taken as it is; a missing one keeps its state.
    """
    for i in range(a.shape[0]):
        if not ok[i]:
            continue
        if np.isfinite(last_t[i]):
            dt = t - last_t[i]
            r = 2.0 * np.pi * d_cutoff * dt  # the speed's low-pass: alpha = r / (r + 1)
            dx[i] = dx[i] + r / (r + 1.0) * ((a[i] - x[i]) / dt - dx[i])
            r = 2.0 * np.pi * (min_cutoff + beta * abs(dx[i])) * dt  # the cutoff rises with speed
            x[i] = x[i] + r / (r + 1.0) * (a[i] - x[i])
        else:
            x[i] = a[i]
        last_t[i] = t


class OneEuroFilter:
    """The 1 Euro filter, vectorised over every entry of a frame of any shape, e.g. (J, C).

    Each scalar is filtered independently. A missing entry (NaN, or False in
    ``valid``) is held: the output repeats its last filtered value and its state is
    left untouched, so a gap does not poison it; when it comes back, the time step is
    measured from its last observation. An entry never seen yet outputs NaN.

    Example::

        f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
        for t, frame in zip(timestamps, frames):   # frame: (J, 3)
            smooth = f(frame, t)
    """

    __slots__ = ("min_cutoff", "beta", "d_cutoff", "_x", "_dx", "_t", "_t_last")

    def __init__(self, *, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        """Create a filter.

        Args:
            min_cutoff: cutoff frequency (Hz) at rest.
            beta: speed coefficient (per data unit per second).
            d_cutoff: cutoff frequency (Hz) of the speed estimate.

        Raises:
            ValueError: a cutoff <= 0 or a negative beta.
        """
        p = OneEuroParams(min_cutoff=float(min_cutoff), beta=float(beta), d_cutoff=float(d_cutoff))
        self.min_cutoff = p.min_cutoff
        self.beta = p.beta
        self.d_cutoff = p.d_cutoff
        self._x: np.ndarray | None = None  # last filtered value per entry (NaN until seen)
        self._dx: np.ndarray | None = None  # last filtered speed per entry
        self._t: np.ndarray | None = None  # time of each entry's last observation (NaN until seen)
        self._t_last: float | None = None  # timestamp of the last call

    def __repr__(self) -> str:
        return f"OneEuroFilter(min_cutoff={self.min_cutoff}, beta={self.beta}, d_cutoff={self.d_cutoff})"

    def reset(self) -> None:
        """Forget all state; the next call starts afresh (and may use any timestamp)."""
        self._x = self._dx = self._t = None
        self._t_last = None

    def __call__(self, x: np.ndarray, t: float, valid: np.ndarray | None = None) -> np.ndarray:
        """Filter one frame.

        Args:
            x: one frame, e.g. (J, C); the same shape on every call until ``reset``.
            t: its timestamp in seconds; must increase strictly from call to call.
            valid: optional bool mask of shape ``x.shape[:-1]`` (e.g. (J,)); False
                marks a missing entry (as NaN does).

        Returns:
            The filtered frame, same shape, in ``x``'s float dtype (float32 for
            non-float input).

        Raises:
            ValueError: a timestamp not after the previous one (or not finite), a
                change of shape, or a ``valid`` of the wrong shape.
        """
        a = np.asarray(x)
        dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float32)
        a = a.astype(np.float64)
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite, got {t}")
        if self._t_last is not None and t <= self._t_last:
            raise ValueError(f"timestamps must increase: got {t} after {self._t_last}")
        ok = np.isfinite(a)
        if valid is not None:
            v = np.asarray(valid, dtype=bool)
            if a.ndim == 0 or v.shape != a.shape[:-1]:
                raise ValueError(f"valid: expected shape {a.shape[:-1]}, got {v.shape}")
            ok &= v[..., None]
        if self._x is None:
            self._x = np.full(a.shape, np.nan)
            self._dx = np.zeros(a.shape)
            self._t = np.full(a.shape, np.nan)
        elif a.shape != self._x.shape:
            raise ValueError(f"frame shape changed from {self._x.shape} to {a.shape}; call reset() first")
        assert self._dx is not None and self._t is not None
        _one_euro_step(a.ravel(), ok.ravel(), self._x.ravel(), self._dx.ravel(), self._t.ravel(), t, self.min_cutoff, self.beta, self.d_cutoff)
        self._t_last = t
        return self._x.astype(dtype)
