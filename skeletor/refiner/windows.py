"""Arithmetic on refiner windows around the model call: what goes in and what comes out.

:func:`window_stats` gives each window's robust root and scale (the shipped files hold the
model's core alone, so the window is centred and scaled here), :func:`normalise_windows` the
model's input from them; :func:`emitted_frame` turns
the model's answer into the emitted pose and its confidence; :func:`carry_hands` puts each
hand, as the input has it, on the refined wrists (``RuntimeConfig.hands_apart``). Plain
loops compiled by numba (:mod:`skeletor.compiled`): they run once a frame on a live stream.

Layout: holistic75 windows (B, T, J, 3) float32, camera frame, any unit; present (B, T, J).
"""

from __future__ import annotations

import numpy as np

from skeletor.compiled import njit
from skeletor.pose.skeleton import LEFT_HAND, RIGHT_HAND

__all__ = ["window_stats", "normalise_windows", "emitted_frame", "carry_hands"]

_HANDS = np.array(LEFT_HAND + RIGHT_HAND)  # (42,) holistic75 hand joints
_HAND_WRIST = np.array([15] * len(LEFT_HAND) + [16] * len(RIGHT_HAND))  # (42,) the body wrist of each


def window_stats(poses: np.ndarray, present: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Robust root and scale of windows of holistic75 poses: ``skeletor.refiner.model.window_stats`` in numpy.

    Root: the lower median, over the frames where both shoulders (joints 11, 12) are
    present, of the mid-shoulder (per coordinate); if no such frame, the mean of all
    present joints; if none, 0. Scale: the lower median of the shoulder width over those
    frames; if no such frame, the RMS distance of the present joints from the root; if
    none, 1; never below ``eps``. The same float32 arithmetic as the graph of layout 1
    (outputs equal within 1e-6), computed here so that the model's graph is its core alone.

    Args:
        poses: (B, T, J, 3) float32 coordinates, 0 where not present.
        present: (B, T, J) bool.
        eps: smallest scale returned.

    Returns:
        (root (B, 3) float32, scale (B,) float32).
    """
    root, scale, n = _shoulder_medians(np.ascontiguousarray(poses, np.float32), np.ascontiguousarray(present, np.bool_))  # (B, 3), (B,), (B,)
    if (n == 0).any():  # no frame with both shoulders: mean and RMS radius of what is present
        w = present.astype(np.float32)[..., None]  # (B, T, J, 1)
        count = np.maximum(w.sum(axis=(1, 2)), np.float32(1.0))  # (B, 1)
        mean = (poses * w).sum(axis=(1, 2)) / count  # (B, 3)
        root = np.where((n > 0)[:, None], root, mean)
        sq = ((poses - root[:, None, None]) ** 2).sum(-1, keepdims=True)  # (B, T, J, 1)
        rms = np.sqrt((sq * w).sum(axis=(1, 2)) / count)[:, 0]  # (B,)
        rms = np.where(present.any(axis=(1, 2)), rms, np.float32(1.0))
        scale = np.where(n > 0, scale, rms)
    return root.astype(np.float32), np.maximum(scale, np.float32(eps)).astype(np.float32)


def normalise_windows(
    poses: np.ndarray, present: np.ndarray, newest_only: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the model's core reads from camera-frame windows, and how to put its answer back.

    A joint counts as present where ``present > 0.5`` and its coordinates are finite;
    absent joints are zeroed (the model reads its mask token there, never their values).

    Args:
        poses: (B, T, J, 3) float32 camera frame, any unit.
        present: (B, T, J) float32 confidence.
        newest_only: normalise only each window's newest frame (a cached model's step reads
            no other); the statistics still come from the whole window.

    Returns:
        (normalised (B, T, J, 3) float32, or (B, 1, J, 3) with ``newest_only``: centred on
        each window's :func:`window_stats` root and divided by its scale; ok (B, T, J)
        float32 1/0; root (B, 3); scale (B,)). The answer ``y`` in model units is
        ``y * scale + root`` in the caller's.
    """
    ok = (present > 0.5) & np.isfinite(poses).all(axis=-1)  # (B, T, J)
    x = np.where(ok[..., None], poses, np.float32(0.0)).astype(np.float32, copy=False)  # (B, T, J, 3)
    root, scale = window_stats(x, ok)  # (B, 3), (B,)
    frames = x[:, -1:] if newest_only else x  # (B, 1 or T, J, 3)
    normalised = (frames - root[:, None, None]) / scale[:, None, None, None]
    return normalised.astype(np.float32, copy=False), ok.astype(np.float32), root, scale


@njit
def _shoulder_medians(poses: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per window of (B, T, J, 3) float32 ``poses`` and (B, T, J) bool ``present``: the lower
    median over the frames with both shoulders of the mid-shoulder (per coordinate, (B, 3))
    and of the shoulder width ((B,)), in float32, and the count of those frames ((B,);
    root and scale are +inf where it is 0)."""
    n_win, n_t = poses.shape[0], poses.shape[1]
    root = np.full((n_win, 3), np.inf, dtype=np.float32)
    scale = np.full(n_win, np.inf, dtype=np.float32)
    count = np.zeros(n_win, dtype=np.int64)
    mid = np.empty((n_t, 3), dtype=np.float32)
    width = np.empty(n_t, dtype=np.float32)
    half = np.float32(0.5)
    for b in range(n_win):
        n = 0
        for t in range(n_t):
            if present[b, t, 11] and present[b, t, 12]:
                ls, rs = poses[b, t, 11], poses[b, t, 12]
                for c in range(3):
                    mid[n, c] = half * (ls[c] + rs[c])
                d0, d1, d2 = ls[0] - rs[0], ls[1] - rs[1], ls[2] - rs[2]
                width[n] = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
                n += 1
        count[b] = n
        if n == 0:
            continue
        k = (n - 1) // 2  # the lower median
        for c in range(3):
            root[b, c] = np.sort(mid[:n, c])[k]
        scale[b] = np.sort(width[:n])[k]
    return root, scale, count


@njit
def emitted_frame(refined: np.ndarray, present: np.ndarray, emit: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(pose (J, 3), confidence (J,)) float32 of a window's emitted frame (index ``emit``)
    from the model's answer ``refined`` (J, 3) float32 and the window's ``present`` (T, J):
    confidence 1 for a joint present in that frame, 0.5 for one present elsewhere in the
    window (the model filled it in), 0 and a NaN pose for one never present."""
    n_t, n_j = present.shape
    pose = np.empty((n_j, 3), dtype=np.float32)
    conf = np.zeros(n_j, dtype=np.float32)
    for j in range(n_j):
        seen = False
        for t in range(n_t):
            if present[t, j] != 0:
                seen = True
                break
        if present[emit, j] > 0:
            conf[j] = 1.0
        elif seen:
            conf[j] = 0.5
        for c in range(3):
            pose[j, c] = refined[j, c] if seen else np.nan
    return pose, conf


def carry_hands(body: np.ndarray, poses: np.ndarray, present: np.ndarray, emit: int) -> np.ndarray:
    """``body`` (B, J, 3), the emitted frames of a call with the hands hidden, with each hand
    joint taken from the input windows (B, T, J, 3), relative to its body wrist; in place.

    Each hand joint comes from the newest frame up to the emitted one (index ``emit``) in
    which it and its wrist are both present in ``present`` (B, T, J) (the emitted frame
    itself while the hand is in view), its offset from that wrist added to the refined
    wrist. A hand joint with no such frame keeps the model's answer (its confidence is 0.5
    or 0: filled in, or missing).
    """
    _carry_hands_onto(body, poses, present, emit, _HANDS, _HAND_WRIST)
    return body


@njit
def _carry_hands_onto(
    body: np.ndarray, poses: np.ndarray, present: np.ndarray, emit: int, joints: np.ndarray, wrists: np.ndarray
) -> None:  # pragma: no cover - compiled
    """:func:`carry_hands` for the hand joints ``joints`` (H,) hanging from ``wrists`` (H,)."""
    for b in range(poses.shape[0]):
        for i in range(joints.shape[0]):
            j, w = joints[i], wrists[i]
            for t in range(emit, -1, -1):  # the newest frame up to the emitted one with the joint and its wrist
                if present[b, t, j] > 0 and present[b, t, w] > 0:
                    for c in range(3):
                        body[b, j, c] = poses[b, t, j, c] - poses[b, t, w, c] + body[b, w, c]
                    break
