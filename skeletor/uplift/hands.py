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

Layout: holistic75 (subject's left hand 33-53, right hand 54-74, MediaPipe's 21-point
order); camera frame metres.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HAND_OFFSETS", "hand_chirality"]

# First index (the hand's wrist) and palm side (+1: along +n) of each hand in holistic75.
HAND_OFFSETS: dict[str, tuple[int, float]] = {"left": (33, -1.0), "right": (54, 1.0)}
# Joints of a 21-point hand that flex to the palm's side: thumb MCP, IP, tip; PIP, DIP, tip of each finger.
_FLEXING = np.array([2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20])
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
    w = p[..., o + _WRIST, :]
    n = np.cross(p[..., o + _INDEX_MCP, :] - w, p[..., o + _PINKY_MCP, :] - w)  # (..., 3)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    size = np.linalg.norm(p[..., o + _MIDDLE_MCP, :] - w, axis=-1) + 1e-12
    off = np.einsum("...jc,...c->...j", p[..., o + _FLEXING, :] - w[..., None, :], n)  # (..., 15) signed distances
    return side * off.mean(-1) / size
