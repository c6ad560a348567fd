"""Hand chirality: which side of the palm the fingers are on (a measure of hands mirrored in depth).

A hand's mirror image in depth (every point's depth reflected about the wrist) projects to
almost the same 2D, so a lifting step that picks depths bone by bone (the uplift's
per-bone signs) or a learned refiner can return it; but it is the other hand's shape (a
left hand where a right one is), which no rotation of a rigid hand reproduces, and it
turns the palm's normal round (a rig's hand and forearm then flip).

The cue: fingers and thumb flex towards the palm, never far past straight the other way,
so the finger joints (PIP, DIP, tip of each finger; the thumb's MCP, IP and tip) lie on
the palm's side of the plane through the wrist and the index and little-finger knuckles.
With the plane's normal ``n = (index MCP - wrist) x (pinky MCP - wrist)`` in the camera
frame (x right, y down, z forward: right-handed), the palm side of a real RIGHT hand is
``+n`` and of a real LEFT hand ``-n``. :func:`hand_chirality` is the mean signed distance
of those joints from the plane along the palm side, in units of the hand's size
(wrist -> middle MCP): > 0 is a hand of the right chirality, < 0 a mirrored one (or one
whose fingers bend backwards), near 0 a flat hand (whose mirror image is only a turn of it).
On MediaPipe's own 3D hands (the depth hint of the real ``.pose`` files and videos) each
finger joint lies on the palm's side in 78-87 % of frames.

:func:`detector_hands` puts the detector's own 3D hand (MediaPipe's hand landmarks with
their depth hint: a model that learnt hand shapes, unlike the uplift, which picks each
bone's depth sign, or the refiner, which never saw finger truth) on the uplift's wrist.

Layout: holistic75 (subject's left hand 33-53, right hand 54-74, MediaPipe's 21-point
order); camera frame metres.
"""

from __future__ import annotations

import numpy as np

from skeletor.compiled import njit

__all__ = ["HAND_OFFSETS", "hand_chirality", "detector_hands", "unmirror_hands"]

# First index (the hand's wrist) and palm side (+1: along +n) of each hand in holistic75.
HAND_OFFSETS: dict[str, tuple[int, float]] = {"left": (33, -1.0), "right": (54, 1.0)}
# Joints of a 21-point hand that flex to the palm's side: thumb MCP, IP, tip; PIP, DIP, tip of each finger.
_FLEXING = (2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20)
_WRIST, _INDEX_MCP, _MIDDLE_MCP, _PINKY_MCP = 0, 5, 9, 17


def hand_chirality(pose: np.ndarray, hand: str) -> np.ndarray:
    """Signed palm-side offset of a hand's flexing joints, in hand sizes (see the module docstring).

    Args:
        pose: (..., 75, 3) holistic75 poses, camera frame (x right, y down, z forward).
        hand: ``"left"`` or ``"right"`` (the subject's).

    Returns:
        (...,) > 0: the fingers lie on the palm side of a real hand of that side; < 0:
        mirrored; NaN where a needed joint is missing.

    Raises:
        KeyError: ``hand`` is not ``"left"`` or ``"right"``.
    """
    o, side = HAND_OFFSETS[hand]
    p = np.asarray(pose, np.float64)
    flat = np.ascontiguousarray(p[..., o : o + 21, :]).reshape(-1, 21, 3)  # (N, 21, 3) the hand of each pose
    return _chirality(flat, side).reshape(p.shape[:-2])


@njit
def _chirality(hands: np.ndarray, side: float) -> np.ndarray:  # pragma: no cover - compiled
    """(N,) :func:`hand_chirality` of (N, 21, 3) hands (NaN joints give NaN)."""
    out = np.empty(hands.shape[0])
    for h in range(hands.shape[0]):
        p = hands[h]
        w = p[_WRIST]
        a, b = p[_INDEX_MCP] - w, p[_PINKY_MCP] - w
        n = np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])  # palm normal
        n /= np.sqrt(n[0] ** 2 + n[1] ** 2 + n[2] ** 2) + 1e-12
        m = p[_MIDDLE_MCP] - w
        size = np.sqrt(m[0] ** 2 + m[1] ** 2 + m[2] ** 2) + 1e-12
        total = 0.0
        for j in _FLEXING:
            total += (p[j, 0] - w[0]) * n[0] + (p[j, 1] - w[1]) * n[1] + (p[j, 2] - w[2]) * n[2]  # signed distance
        out[h] = side * (total / len(_FLEXING)) / size
    return out


def detector_hands(pose: np.ndarray, keypoints: np.ndarray, depth: np.ndarray | None) -> np.ndarray:
    """``pose`` with each fully detected hand's shape taken from the detector's 3D hand.

    A hand whose 21 points are all detected (confidence > 0) with a finite depth hint gets
    the detector's points relative to its wrist (x px, y px, depth px: the detector's
    camera frame, z forward), scaled to metres by the least-squares factor between their
    image-plane offsets and the uplift's lateral offsets from the same wrist (the uplift
    places joints on their viewing rays, so the two differ by the scale at the hand), and
    put on the uplift's hand wrist. Other hands are left as the uplift placed them. The
    caller puts bones back to its rig's lengths (directions are what this changes).

    Why: on the 10 real MediaPipe Holistic ``.pose`` clips with depth hints, the detector's
    hands have their fingers on the palm side (:func:`hand_chirality` > 0) more often and
    move about half as much relative to the wrist as the uplift's, whose per-bone depth
    signs flip finger by finger (``skeletor bench rig``, docs/decisions.md).

    Args:
        pose: (75, 3) the uplift's pose, camera frame metres (x right, y down, z forward).
        keypoints: (75, 3) the detector's x px, y px, confidence.
        depth: (75,) the detector's depth hint in pixels (smaller = nearer), or None.

    Returns:
        (75, 3) float32, a new array (``pose`` itself is not changed).
    """
    out = np.array(pose, np.float32)
    if depth is None:
        return out
    kp = np.asarray(keypoints, np.float32)
    hint = np.concatenate([kp[:, :2], np.asarray(depth, np.float32)[:, None]], -1)  # (75, 3) px
    for o, _side in HAND_OFFSETS.values():
        hand = slice(o, o + 21)
        if not ((kp[hand, 2] > 0).all() and np.isfinite(hint[hand]).all() and np.isfinite(out[hand]).all()):
            continue
        rel_px = hint[hand] - hint[o]  # (21, 3) the detector's hand around its wrist
        rel_up = out[hand, :2] - out[o, :2]  # (21, 2) the uplift's lateral offsets, metres
        den = float((rel_px[:, :2] ** 2).sum())
        if den <= 0.0:
            continue
        scale = float((rel_up * rel_px[:, :2]).sum()) / den  # metres per pixel at the hand
        if scale > 0.0:
            out[hand] = out[o] + scale * rel_px
    return out


def unmirror_hands(pose: np.ndarray) -> np.ndarray:
    """``pose`` with each mirrored hand (:func:`hand_chirality` < 0) reflected in depth about its wrist.

    Fingers flex towards the palm, never far past straight the other way, so a hand whose
    finger joints lie on the back of its palm is the other hand's shape (module docstring):
    its depth mirror image projects to the same 2D (to first order: every point keeps its
    image-plane offset from the wrist) and has the fingers on the palm side.

    Args:
        pose: (75, 3) holistic75, camera frame (x right, y down, z forward).

    Returns:
        (75, 3) float32, a new array; hands with a missing joint are left as they are.
    """
    out = np.array(pose, np.float32)
    for hand, (o, _side) in HAND_OFFSETS.items():
        c = hand_chirality(out, hand)
        if np.isfinite(c) and c < 0:
            out[o : o + 21, 2] = 2 * out[o, 2] - out[o : o + 21, 2]
    return out
