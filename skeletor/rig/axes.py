"""The rig's world frame, stated once, and the conversions to each target.

The rig world (every position and rotation the rig solver outputs)
    Right-handed, **Y up**, metres. In the rest pose the person faces **+Z** and their
    own left is at **+X**; the floor is the plane **y = 0**. This is glTF's and VRM 1.0's
    model space, so a VRM avatar's normalised bones take our rotations as they are.

From the camera frame (x right, y down, z forward, metres: what the cleaner outputs)
    A 180 degree turn about x, ``(x, y, z) -> (x, -y, -z)``, then a shift
    ``world = CAMERA_TO_WORLD @ camera - world_offset`` that puts the floor at y = 0 and
    the person's first hips position over the origin (``RigFrame.world_offset``). A person
    facing the camera faces +Z. The camera is taken to be level (its y axis vertical).

Targets
    * Unity (:func:`to_unity`): left-handed, Y up, the avatar facing +Z with its left at
      -X, as the VMC protocol sends: x is mirrored, ``(x, y, z) -> (-x, y, z)``, and a
      quaternion ``(x, y, z, w) -> (x, -y, -z, w)``.
    * BVH (:func:`to_bvh`): the rig world in centimetres (or metres), Y up as it is (Blender's
      BVH import defaults, Forward -Z, Up Y, show the person facing the front view), or
      Z up: a +90 degree turn about x, ``(x, y, z) -> (x, -z, y)`` (import with Forward Y, Up Z).
"""

from __future__ import annotations

import numpy as np

__all__ = ["AXES", "CAMERA_TO_WORLD", "Y_UP_TO_Z_UP", "camera_to_world", "to_bvh", "to_unity"]

AXES = (
    "rig world: right-handed, Y up, metres; rest pose faces +Z with the person's left at +X; floor at y = 0 "
    "(glTF / VRM 1.0 model space). world = diag(1, -1, -1) @ camera - world_offset, camera x right, y down, z forward. "
    "Rotations: unit quaternions (x, y, z, w), each bone's local rotation relative to a T-pose rest rig whose bones "
    "all have identity world rotations (arms along +-X, palms down, thumbs 45 degrees between +-X and +Z, legs down, "
    "feet forward)."
)

CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])  # camera (x right, y down, z forward) -> rig world axes
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 degrees about x
_UNITY_MIRROR = np.array([-1.0, 1.0, 1.0])
_UNITY_QUAT = np.array([1.0, -1.0, -1.0, 1.0])
_UNITS_PER_M = {"cm": 100.0, "m": 1.0}


def camera_to_world(points: np.ndarray, world_offset: np.ndarray | None = None) -> np.ndarray:
    """Camera-frame points -> rig-world points.

    Args:
        points: (..., 3) camera frame (x right, y down, z forward), metres.
        world_offset: (3,) the frame's ``RigFrame.world_offset``; None = no shift (axes only).

    Returns:
        (..., 3) float64 ``(x, -y, -z) - world_offset``.
    """
    p = np.asarray(points, dtype=np.float64) * np.diag(CAMERA_TO_WORLD)
    return p if world_offset is None else p - np.asarray(world_offset, dtype=np.float64)


def to_unity(position: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rig world -> Unity (left-handed, Y up, the avatar facing +Z): what a VMC sender sends.

    Args:
        position: (..., 3) positions (metres), e.g. ``RigFrame.hips_position``.
        rotations: (..., 4) quaternions (x, y, z, w), e.g. ``RigFrame.rotations`` (local or world).

    Returns:
        ``(position, rotations)`` in Unity's axes: ``(-x, y, z)`` and ``(x, -y, -z, w)``,
        the same dtypes as given.
    """
    p = np.asarray(position)
    q = np.asarray(rotations)
    return (p * _UNITY_MIRROR).astype(p.dtype), (q * _UNITY_QUAT).astype(q.dtype)


def to_bvh(
    position: np.ndarray,
    rotations: np.ndarray | None = None,
    *,
    up: str = "y",
    units: str = "cm",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rig world -> a BVH file's axes and units.

    Args:
        position: (..., 3) positions or offsets, metres.
        rotations: optional (..., 3, 3) rotation matrices (local or world) to express in the
            same axes (they are quaternions elsewhere; BVH wants Euler angles, which
            :mod:`skeletor.rig.bvh` takes from these matrices).
        up: ``"y"`` (the rig world as it is) or ``"z"`` (+90 degrees about x).
        units: ``"cm"`` (the BVH convention) or ``"m"``.

    Returns:
        ``(position, rotations)`` float64 in the file's axes (rotations None if not given).

    Raises:
        ValueError: an unknown ``up`` or ``units``.
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    if units not in _UNITS_PER_M:
        raise ValueError(f"units must be one of {sorted(_UNITS_PER_M)}, got {units!r}")
    p = np.asarray(position, dtype=np.float64) * _UNITS_PER_M[units]
    r = None if rotations is None else np.asarray(rotations, dtype=np.float64)
    if up == "z":
        a = Y_UP_TO_Z_UP
        p = p @ a.T
        r = None if r is None else a @ r @ a.T
    return p, r
