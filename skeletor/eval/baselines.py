"""Baseline smoothers and gap fillers to compare the refiner against.

* ``one_euro``: the 1 Euro filter (:mod:`skeletor.cleaner.one_euro`) over a whole
  sequence. Causal. ``tune_one_euro`` grid-searches its parameters against ground truth
  (the benchmark's "tuned One Euro").
* ``savgol``: Savitzky-Golay smoothing over time after filling gaps. **Non-causal**: each
  output frame uses ``window // 2`` future frames, so it is an offline upper bound.
* ``causal_savgol``: a polynomial fitted on the past ``window`` frames only and
  evaluated at the newest one. Causal.
* ``hold_last`` (causal) and ``linear_interpolate`` (non-causal) fill missing entries.

Arrays are (..., T, J, C) with time on axis -3; a missing entry is NaN in any coordinate
or False in an optional (..., T, J) ``valid`` mask. Outputs are new float32 arrays (the
1 Euro filter keeps the input's float dtype); inputs are never modified. An entry that is
never seen stays NaN in every output.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.signal import savgol_coeffs, savgol_filter

from skeletor.cleaner.one_euro import OneEuroFilter, OneEuroParams
from skeletor.eval.metrics import mpjpe

__all__ = [
    "one_euro",
    "tune_one_euro",
    "DEFAULT_ONE_EURO_GRID",
    "savgol",
    "causal_savgol",
    "hold_last",
    "linear_interpolate",
]

log = logging.getLogger(__name__)


def _sequence(x: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """float64 copy of a (..., T, J, C) sequence and its (..., T, J) present mask.

    Raises:
        ValueError: ``x`` is not (..., T, J, C) or ``valid`` does not fit.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 3:
        raise ValueError(f"expected shape (..., T, J, C), got {a.shape}")
    ok = np.isfinite(a).all(axis=-1)
    if valid is not None:
        v = np.asarray(valid)
        if v.shape != ok.shape:
            raise ValueError(f"valid: expected shape {ok.shape} (..., T, J), got {v.shape}")
        ok &= v.astype(bool, copy=False)
    return a, ok


# --------------------------------------------------------------------------------------
# Gap filling
# --------------------------------------------------------------------------------------


def _last_index(ok: np.ndarray) -> np.ndarray:
    """(..., T, J) index of the last present frame at or before t along axis -2; -1 if none."""
    t = ok.shape[-2]
    idx = np.where(ok, np.arange(t)[:, None], -1)
    return np.maximum.accumulate(idx, axis=-2)


def _next_index(ok: np.ndarray) -> np.ndarray:
    """(..., T, J) index of the first present frame at or after t along axis -2; T if none."""
    t = ok.shape[-2]
    idx = np.where(ok, np.arange(t)[:, None], t)
    return np.flip(np.minimum.accumulate(np.flip(idx, axis=-2), axis=-2), axis=-2)


def _gather(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a[..., idx[..., t, j], j, :] for (..., T, J, C) ``a`` and (..., T, J) frame indices."""
    t = a.shape[-3]
    return np.take_along_axis(a, np.clip(idx, 0, t - 1)[..., None], axis=-3)


def hold_last(x: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Fill each missing entry with the last value seen before it (causal).

    Args:
        x: (..., T, J, C) sequence; NaN marks a missing entry.
        valid: optional (..., T, J) bool; False marks a missing entry too.

    Returns:
        A (..., T, J, C) float32 copy with gaps filled; entries before a joint's first
        appearance stay NaN.

    Raises:
        ValueError: ``x`` is not (..., T, J, C) or ``valid`` does not fit.
    """
    a, ok = _sequence(x, valid)
    last = _last_index(ok)
    out = np.where((last >= 0)[..., None], _gather(a, last), np.nan)
    return out.astype(np.float32)


def linear_interpolate(x: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Fill each gap linearly between the present values around it; hold the edges.

    Non-causal (it uses the next present value). Leading gaps take the first present
    value, trailing gaps the last.

    Args:
        x: (..., T, J, C) sequence; NaN marks a missing entry.
        valid: optional (..., T, J) bool; False marks a missing entry too.

    Returns:
        A (..., T, J, C) float32 copy with gaps filled; joints never present stay NaN.

    Raises:
        ValueError: ``x`` is not (..., T, J, C) or ``valid`` does not fit.
    """
    a, ok = _sequence(x, valid)
    t = ok.shape[-2]
    prev, nxt = _last_index(ok), _next_index(ok)
    has_prev, has_next = prev >= 0, nxt < t
    frames = np.arange(t)[:, None]
    span = np.where(has_prev & has_next, nxt - prev, 1)
    w = np.where(has_prev & has_next, (frames - prev) / np.maximum(span, 1), 0.0)  # weight of the next value
    w = np.where(~has_prev & has_next, 1.0, w)  # leading gap: take the next (first) value
    before = _gather(a, np.where(has_prev, prev, nxt))
    after = _gather(a, np.where(has_next, nxt, prev))
    out = (1.0 - w[..., None]) * before + w[..., None] * after
    out = np.where((has_prev | has_next)[..., None], out, np.nan)
    return np.where(ok[..., None], a, out).astype(np.float32)


# --------------------------------------------------------------------------------------
# Savitzky-Golay
# --------------------------------------------------------------------------------------


def _check_savgol(window: int, order: int) -> None:
    if not (isinstance(window, (int, np.integer)) and isinstance(order, (int, np.integer))):
        raise ValueError(f"window and order must be integers, got {window!r} and {order!r}")
    if order < 0 or window <= order:
        raise ValueError(f"need 0 <= order < window, got window={window}, order={order}")


def savgol(x: np.ndarray, window: int, order: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Savitzky-Golay smoothing along time, after filling gaps linearly.

    **Non-causal**: output frame t uses frames up to ``t + window // 2``. Gaps are
    filled by ``linear_interpolate`` first (so the output has no holes except joints
    never seen), then ``scipy.signal.savgol_filter`` runs along axis -3 with
    ``mode="interp"`` (a polynomial fit at the two ends). A sequence shorter than
    ``window`` is smoothed with the longest odd window that fits (or returned filled,
    unsmoothed, if that is not longer than ``order``).

    Args:
        x: (..., T, J, C) sequence; NaN marks a missing entry.
        window: window length in frames; odd, > ``order``.
        order: polynomial order.
        valid: optional (..., T, J) bool; False marks a missing entry too.

    Returns:
        (..., T, J, C) float32 smoothed copy.

    Raises:
        ValueError: bad shapes, an even window, or ``order`` >= ``window``.
    """
    _check_savgol(window, order)
    if window % 2 == 0:
        raise ValueError(f"window must be odd for the centred Savitzky-Golay filter, got {window}")
    filled = linear_interpolate(x, valid).astype(np.float64)
    t = filled.shape[-3]
    w = window if t >= window else (t if t % 2 else t - 1)
    if w <= order:
        return filled.astype(np.float32)
    seen = np.isfinite(filled).all(axis=(-3, -1), keepdims=True)  # joints present at least once
    smooth = savgol_filter(np.where(seen, filled, 0.0), w, order, axis=-3, mode="interp")
    return np.where(seen, smooth, np.nan).astype(np.float32)


def causal_savgol(x: np.ndarray, window: int, order: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Causal Savitzky-Golay: fit a polynomial on the past window, evaluate at the newest sample.

    Output frame t is the value at t of the degree-``order`` least-squares polynomial
    through frames ``t - window + 1 .. t``. The first ``window - 1`` frames use the
    frames available (with the order lowered to fit). Gaps are filled by ``hold_last``
    first, so nothing from the future is used; while a joint's window still reaches
    back before its first appearance, its held raw value is output.

    Args:
        x: (..., T, J, C) sequence; NaN marks a missing entry.
        window: past window length in frames (any length > ``order``).
        order: polynomial order (1 = local linear trend; higher follows faster motion
            but passes more noise).
        valid: optional (..., T, J) bool; False marks a missing entry too.

    Returns:
        (..., T, J, C) float32 filtered copy; NaN only before a joint is first seen.

    Raises:
        ValueError: bad shapes, or ``order`` >= ``window``.
    """
    _check_savgol(window, order)
    held = hold_last(x, valid).astype(np.float64)
    t = held.shape[-3]
    out = np.full_like(held, np.nan)
    # Warm-up frames: fit on the n = t + 1 samples available.
    for n in range(1, min(window, t + 1)):
        k = savgol_coeffs(n, min(order, n - 1), pos=n - 1, use="dot")  # (n,)
        out[..., n - 1, :, :] = np.einsum("...tjc,t->...jc", held[..., :n, :, :], k)
    if t >= window:
        k = savgol_coeffs(window, order, pos=window - 1, use="dot")  # (window,), oldest first
        past = np.lib.stride_tricks.sliding_window_view(held, window, axis=-3)  # (..., T-w+1, J, C, w)
        out[..., window - 1 :, :, :] = past @ k
    return np.where(np.isfinite(out), out, held).astype(np.float32)


# --------------------------------------------------------------------------------------
def one_euro(
    x: np.ndarray,
    fps: float,
    min_cutoff: float,
    beta: float,
    d_cutoff: float = 1.0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Run a 1 Euro filter over a whole sequence sampled at ``fps``.

    Args:
        x: (..., T, J, C) sequence; NaN marks a missing entry.
        fps: frames per second (frame t is at t / fps seconds).
        min_cutoff: cutoff frequency (Hz) at rest.
        beta: speed coefficient (per data unit per second).
        d_cutoff: cutoff frequency (Hz) of the speed estimate.
        valid: optional (..., T, J) bool; False marks a missing entry too.

    Returns:
        (..., T, J, C) float32 filtered sequence; missing entries hold the last
        filtered value, and are NaN before a joint is first seen.

    Raises:
        ValueError: bad shapes, ``fps`` <= 0 or bad filter parameters.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be > 0, got {fps}")
    a, ok = _sequence(x, valid)
    a = np.where(ok[..., None], a, np.nan)
    f = OneEuroFilter(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
    out = np.empty(a.shape, dtype=np.float32)
    for i in range(a.shape[-3]):  # causal recursion over time; each step is vectorised over (..., J, C)
        out[..., i, :, :] = f(a[..., i, :, :], i / fps)
    return out


DEFAULT_ONE_EURO_GRID: Mapping[str, Sequence[float]] = {
    "min_cutoff": (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
    "beta": (0.0, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0),
    "d_cutoff": (1.0,),
}
"""Default search grid (56 points): wide and log-spaced, so it suits metres and pixels alike,
and reaches high cutoffs (little smoothing) for fast motion such as signing hands."""


def tune_one_euro(
    noisy: np.ndarray,
    clean: np.ndarray,
    fps: float,
    grid: Mapping[str, Sequence[float]] | None = None,
    valid: np.ndarray | None = None,
) -> tuple[OneEuroParams, float]:
    """Grid-search the 1 Euro parameters that minimise MPJPE against ground truth.

    This is the benchmark's "tuned One Euro" baseline: an upper bound on what the
    filter can do when its parameters are chosen with knowledge of the truth.

    Args:
        noisy: (..., T, J, C) input sequence; NaN marks a missing entry.
        clean: (..., T, J, C) ground truth, same shape and units.
        fps: frames per second.
        grid: values to try per parameter: keys ``min_cutoff``, ``beta`` and
            optionally ``d_cutoff`` (missing keys take ``DEFAULT_ONE_EURO_GRID``'s).
        valid: optional (..., T, J) bool mask of the input's present entries.

    Returns:
        (best parameters, their MPJPE in the units of ``clean``). Ties go to the first
        combination tried.

    Raises:
        ValueError: shapes differ, an unknown grid key, an empty grid, or no entry
            could be scored.
    """
    n = np.asarray(noisy)
    c = np.asarray(clean)
    if n.shape != c.shape:
        raise ValueError(f"noisy and clean must have the same shape, got {n.shape} and {c.shape}")
    g = dict(DEFAULT_ONE_EURO_GRID)
    if grid is not None:
        unknown = set(grid) - set(g)
        if unknown:
            raise ValueError(f"unknown grid keys {sorted(unknown)}; expected {sorted(g)}")
        g.update(grid)
    if any(len(v) == 0 for v in g.values()):
        raise ValueError("every grid axis needs at least one value")
    best: tuple[OneEuroParams, float] | None = None
    for mc, b, dc in itertools.product(g["min_cutoff"], g["beta"], g["d_cutoff"]):
        params = OneEuroParams(min_cutoff=float(mc), beta=float(b), d_cutoff=float(dc))
        score = mpjpe(one_euro(n, fps, params.min_cutoff, params.beta, params.d_cutoff, valid), c)
        log.debug("one euro %s: mpjpe %.6g", params, score)
        if math.isfinite(score) and (best is None or score < best[1]):
            best = (params, score)
    if best is None:
        raise ValueError("no entry could be scored (all NaN?)")
    return best
