"""How well a solved rig reproduces the cleaned poses, and how smoothly it moves.

Two forward-kinematics errors per holistic75 landmark, in metres, each only where the
landmark was detected (finite, confidence >= the solver's ``min_confidence``) and the rig
was emitted:

``raw``
    distance between the rig's landmark (:meth:`RestRig.landmarks`) and the cleaned
    landmark mapped into the rig world with that frame's ``world_offset``. It includes the
    difference between the rig's held bone lengths and the cleaned pose's lengths that
    frame (the cleaner's lengths keep converging for seconds; its finger lengths vary by
    3-14 % frame to frame on the real clips).
``rig_lengths``
    the same against the cleaned pose *at the rig's own bone lengths*: walking out from the
    rig's Hips, each detected landmark is placed from its parent's placed position along
    the cleaned direction (parent -> landmark) at the rig's rest distance. This is what the
    rotations alone can reproduce; what remains is the rig holding its shape where the
    cleaned pose does not (the palm's and the face's point layouts, the heel) and bones
    held while undetected.

Body parts (``PARTS``): body (nose, shoulders, elbows, wrists, hips, knees), face (eyes,
ears, mouth), feet (ankles, toe tips), heels, fingers (every hand point but the hand's
wrist), palm (the hand's wrist point and the pose model's coarse hand points).
"""

from __future__ import annotations

import numpy as np

from skeletor.rig.axes import camera_to_world
from skeletor.rig.clip import RigClip
from skeletor.rig.humanoid import BONE_POINT, NUM_BONES, PARENTS, POINT_MATRIX, SITE_BONE, extended_points
from skeletor.rig.kinematics import forward_kinematics
from skeletor.rig.quaternion import quat_angle

__all__ = ["PARTS", "fk_errors", "rotation_steps", "summarize"]

PARTS: dict[str, tuple[int, ...]] = {
    "body": (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26),
    "face": tuple(range(1, 11)),
    "feet": (27, 28, 31, 32),
    "heels": (29, 30),
    "fingers": tuple(j for j in range(33, 75) if j not in (33, 54)),
    "palm": (17, 18, 19, 20, 21, 22, 33, 54),
}
_SUPPORT = (POINT_MATRIX != 0).astype(np.float64)  # (83, 75)
_PARENTS = np.asarray(PARENTS)


def fk_errors(clip: RigClip, poses: np.ndarray, confidence: np.ndarray, min_confidence: float) -> dict[str, np.ndarray]:
    """(T, 75) forward-kinematics errors in metres, NaN where not scored (see the module docstring).

    Args:
        clip: the solved clip (:func:`skeletor.rig.clip.solve_clip`).
        poses: (T, 75, 3) the cleaned poses it was solved from, camera frame, metres.
        confidence: (T, 75) their confidences.
        min_confidence: a landmark counts as detected at or above this.

    Returns:
        ``{"raw": (T, 75), "rig_lengths": (T, 75)}``.
    """
    p = np.asarray(poses, dtype=np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    rest = clip.rest
    lm = rest.landmarks(clip.hips_position, clip.rotations)  # (T, 75, 3)
    joints = forward_kinematics(rest.offsets, clip.hips_position, clip.rotations)  # (T, B, 3)
    obs = camera_to_world(p, clip.world_offset[:, None, :])  # (T, 75, 3)
    det = np.isfinite(p).all(-1) & (c >= min_confidence) & clip.emitted[:, None]  # (T, 75)
    ext = extended_points(np.where(det[..., None], obs, 0.0))  # (T, 83, 3)
    det_ext = (np.einsum("pj,tj->tp", _SUPPORT, (~det).astype(np.float64)) == 0) & clip.emitted[:, None]

    # Bone joints at the rig's lengths along the cleaned directions, from the rig's Hips.
    length = np.linalg.norm(rest.offsets, axis=-1)
    placed = np.empty_like(joints)
    placed[:, 0] = joints[:, 0]
    for b in range(1, NUM_BONES):
        a, e = BONE_POINT[_PARENTS[b]], BONE_POINT[b]
        d = ext[:, e] - ext[:, a]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        ok = det_ext[:, a] & det_ext[:, e] & (n[:, 0] > 1e-9)
        along = placed[:, _PARENTS[b]] + d / np.maximum(n, 1e-12) * length[b]
        same = det_ext[:, e] & (length[b] < 1e-9)  # a zero-length bone (Spine): on its parent
        placed[:, b] = np.where(ok[:, None], along, np.where(same[:, None], placed[:, _PARENTS[b]], joints[:, b]))
    # Every landmark: a bone's joint, or a site at its rest distance from its bone's joint.
    target = np.empty_like(lm)
    site_len = np.linalg.norm(rest.site_offsets, axis=-1)
    for j in range(75):
        b = SITE_BONE[j]
        if BONE_POINT[b] == j:
            target[:, j] = placed[:, b]
            continue
        d = obs[:, j] - ext[:, BONE_POINT[b]]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        ok = det[:, j] & det_ext[:, BONE_POINT[b]] & (n[:, 0] > 1e-9)
        target[:, j] = np.where(ok[:, None], placed[:, b] + d / np.maximum(n, 1e-12) * site_len[j], lm[:, j])
    raw = np.where(det, np.linalg.norm(lm - obs, axis=-1), np.nan)
    rig = np.where(det, np.linalg.norm(lm - target, axis=-1), np.nan)
    return {"raw": raw, "rig_lengths": rig}


def rotation_steps(clip: RigClip, observed_only: bool = True) -> np.ndarray:
    """(T - 1, B) degrees each bone's local rotation turns from one frame to the next.

    Args:
        clip: the solved clip.
        observed_only: NaN where the bone was not observed (``valid``) in both frames.
    """
    q = clip.rotations
    step = np.degrees(quat_angle(q[1:], q[:-1]))
    if observed_only:
        step = np.where(clip.valid[1:] & clip.valid[:-1], step, np.nan)
    return step


def summarize(errors: np.ndarray) -> dict[str, dict[str, float]]:
    """Median and 95th percentile (centimetres) and count of ``(T, 75)`` errors per body part."""
    out = {}
    for part, idx in PARTS.items():
        v = errors[:, list(idx)]
        v = v[np.isfinite(v)]
        if v.size:
            out[part] = {"median_cm": float(np.median(v) * 100), "p95_cm": float(np.percentile(v, 95) * 100), "n": int(v.size)}
        else:
            out[part] = {"median_cm": float("nan"), "p95_cm": float("nan"), "n": 0}
    return out
