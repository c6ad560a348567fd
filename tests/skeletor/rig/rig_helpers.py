"""Helpers for the rig tests: a rigid synthetic person posed by known rotations."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from skeletor.rig import BONES, RestRig, bone_index
from skeletor.rig.humanoid import CANONICAL_REST
from skeletor.rig.limits import TWIST_LIMITS, twist_axis

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
# rig world = diag(1, -1, -1) camera - offset: this puts the person 2.5 m in front of the camera.
OFFSET = np.array([0.1, -1.2, -2.5])


def to_camera(world: np.ndarray) -> np.ndarray:
    """Rig-world points -> camera frame (the inverse of ``camera_to_world`` with ``OFFSET``)."""
    return ((world + OFFSET) * np.array([1.0, -1.0, -1.0])).astype(np.float32)


def quat(axis: str, deg: np.ndarray | float) -> np.ndarray:
    """(4,) or (T, 4) quaternions turning ``deg`` degrees about one axis."""
    q = Rotation.from_euler(axis, np.atleast_1d(deg)[:, None], degrees=True).as_quat()
    return q[0] if np.ndim(deg) == 0 else q


def posed_person(
    frames: int = 60, fps: float = 30.0, scale: float = 1.1, seed: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray, RestRig]:
    """A rigid person: the T-pose rig (scaled) posed by smooth random local rotations.

    Returns (T, 75, 3) camera-frame landmarks, (T, B, 4) the local rotations applied,
    (T, 3) the hips, and the rest rig. Every bone turns up to 35 degrees about each axis
    (the Hips also turn round 120 degrees), starting from the rest pose; Chest and
    UpperChest only twist, and the clavicles and toes stay put, as the rig models them.
    """
    rng = np.random.default_rng(seed)
    rest = RestRig(CANONICAL_REST * scale)
    t = np.arange(frames) / fps
    ramp = np.minimum(1.0, t / 0.5)[:, None, None]  # start from the rest pose: smooth from there
    amp = rng.uniform(5.0, 35.0, size=(len(BONES), 3))
    freq = rng.uniform(0.2, 0.8, size=(len(BONES), 3))
    phase = rng.uniform(0, 2 * np.pi, size=(len(BONES), 3))
    angles = ramp * amp * np.sin(2 * np.pi * freq * t[:, None, None] + phase) * (t[:, None, None] > 0)  # (T, B, 3)
    angles[:, bone_index("Hips"), 1] += 120.0 * np.sin(2 * np.pi * 0.1 * t)  # turning round
    for name in ("Chest", "UpperChest"):  # the rig bends its spine at the Spine; these only twist
        angles[:, bone_index(name), [0, 2]] = 0.0
    angles[:, [bone_index("LeftToes"), bone_index("RightToes")]] = 0.0  # no landmarks turn the toes
    rot = Rotation.from_euler("XYZ", angles.reshape(-1, 3), degrees=True).as_quat().reshape(frames, len(BONES), 4)
    # The rig's clavicles start at the mid-shoulder point, which a shrug would move: they stay.
    rot[:, [bone_index("LeftShoulder"), bone_index("RightShoulder")]] = IDENTITY
    # A person's twists stay in their anatomical ranges (skeletor.rig.limits.TWIST_LIMITS), and
    # a pair sharing a twist axis (Neck / Head, LowerArm / Hand) shares it as the rig does: each
    # limited bone keeps its swing and twists within 40 % of its own share.
    for lim in TWIST_LIMITS:
        a = twist_axis(lim.bones[0])
        own = lim.range_deg * min(lim.share, 1.0 - lim.share if len(lim.bones) > 1 else 1.0)
        tau = np.radians(0.4 * own * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t + rng.uniform(0, 2 * np.pi))) * ramp[:, 0, 0]
        twist = Rotation.from_rotvec(tau[:, None] * a)
        for name in lim.bones:
            b = bone_index(name)
            q = rot[:, b]
            along = q[:, :3] @ a
            tw = Rotation.from_quat(np.concatenate([along[:, None] * a, q[:, 3:]], axis=1))  # q's own twist about a
            rot[:, b] = (Rotation.from_quat(q) * tw.inv() * twist).as_quat()  # its swing, then the new twist
    hips = np.stack([0.2 * np.sin(t), 0.95 + 0.03 * np.sin(3 * t), 0.3 * np.cos(t) - 0.3], axis=1)
    world = rest.landmarks(hips, rot)
    return to_camera(world), rot, hips, rest
