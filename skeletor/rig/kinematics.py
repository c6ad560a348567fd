"""Forward kinematics of the humanoid rig, and the rest rig it runs on.

Positions are metres in the rig world (:mod:`skeletor.rig.axes`); rotations are each
bone's local rotation relative to the rest T-pose, unit quaternions (x, y, z, w). In the
rest pose every bone's world rotation is the identity, so a bone's rest offset (from its
parent's joint to its own) is simply the difference of their rest positions, in world axes.

    world[b]    = world[parent[b]] * local[b]                  (world[root] = local[root])
    position[b] = position[parent[b]] + world[parent[b]] @ rest_offsets[b]
    position[root] = hips_position
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from skeletor.rig.humanoid import BONE_POINT, NUM_BONES, PARENTS, SITE_BONE, extended_points
from skeletor.rig.quaternion import quat_to_matrix

__all__ = ["RestRig", "forward_kinematics", "world_rotations", "LEVELS"]


def _levels() -> list[np.ndarray]:
    depth = np.zeros(NUM_BONES, dtype=np.int64)
    for b, p in enumerate(PARENTS):  # parents come first in BONES
        depth[b] = 0 if p < 0 else depth[p] + 1
    return [np.nonzero(depth == d)[0] for d in range(int(depth.max()) + 1)]


LEVELS = _levels()  # bone indices by depth in the tree (level 0: the root)
_PARENTS = np.asarray(PARENTS, dtype=np.int64)


def _check(rest_offsets: np.ndarray, hips_position: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    off = np.asarray(rest_offsets, dtype=np.float64)
    hips = np.asarray(hips_position, dtype=np.float64)
    rot = np.asarray(rotations, dtype=np.float64)
    if off.shape != (NUM_BONES, 3):
        raise ValueError(f"rest_offsets: expected ({NUM_BONES}, 3), got {off.shape}")
    if rot.shape[-2:] != (NUM_BONES, 4):
        raise ValueError(f"rotations: expected (..., {NUM_BONES}, 4) quaternions (x, y, z, w), got {rot.shape}")
    if hips.shape != rot.shape[:-2] + (3,):
        raise ValueError(f"hips_position: expected {rot.shape[:-2] + (3,)} for rotations of shape {rot.shape}, got {hips.shape}")
    return off, hips, rot


def world_rotations(rotations: np.ndarray) -> np.ndarray:
    """(..., B, 3, 3) world rotation matrices of (..., B, 4) local quaternions."""
    local = quat_to_matrix(np.asarray(rotations, dtype=np.float64))
    world = np.empty_like(local)
    world[..., 0, :, :] = local[..., 0, :, :]
    for lvl in LEVELS[1:]:
        world[..., lvl, :, :] = world[..., _PARENTS[lvl], :, :] @ local[..., lvl, :, :]
    return world


def forward_kinematics(
    rest_offsets: np.ndarray,
    hips_position: np.ndarray,
    rotations: np.ndarray,
    return_world: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Joint positions of the rig posed by local rotations.

    Args:
        rest_offsets: (B, 3) metres, each bone's joint relative to its parent's in the rest
            pose (``RigSolver.rest_offsets``; the root's row is ignored).
        hips_position: (..., 3) metres, the root (Hips) joint in the rig world.
        rotations: (..., B, 4) local unit quaternions (x, y, z, w), ``RigFrame.rotations``.
        return_world: also return the (..., B, 3, 3) world rotation matrices.

    Returns:
        (..., B, 3) float64 joint positions in the rig world (and the world rotations).

    Raises:
        ValueError: shapes that do not fit the rig.
    """
    off, hips, rot = _check(rest_offsets, hips_position, rotations)
    world = world_rotations(rot)
    pos = np.empty(rot.shape[:-2] + (NUM_BONES, 3))
    pos[..., 0, :] = hips
    for lvl in LEVELS[1:]:
        par = _PARENTS[lvl]
        pos[..., lvl, :] = pos[..., par, :] + np.einsum("...bij,bj->...bi", world[..., par, :, :], off[lvl])
    return (pos, world) if return_world else pos


@dataclass(frozen=True)
class RestRig:
    """A person's rest rig: the T-pose of every holistic75 landmark.

    Attributes:
        points: (75, 3) metres, the landmarks in the rest T-pose, rig world axes, mid-hip
            at the origin (see :mod:`skeletor.rig.humanoid` for the pose).
    """

    points: np.ndarray

    def __post_init__(self) -> None:
        if np.shape(self.points) != (75, 3):
            raise ValueError(f"points: expected (75, 3) holistic75 landmarks, got {np.shape(self.points)}")

    @cached_property
    def joints(self) -> np.ndarray:
        """(B, 3) each bone's joint in the rest pose (Hips at the origin)."""
        return extended_points(self.points)[list(BONE_POINT)]

    @cached_property
    def offsets(self) -> np.ndarray:
        """(B, 3) rest offsets: each bone's joint minus its parent's (root row zero)."""
        j = self.joints
        out = j - j[np.maximum(_PARENTS, 0)]
        out[0] = 0.0
        return out

    @cached_property
    def site_offsets(self) -> np.ndarray:
        """(75, 3) each landmark relative to the joint of the bone carrying it (``SITE_BONE``), rest axes."""
        return np.asarray(self.points, dtype=np.float64) - self.joints[SITE_BONE]

    def landmarks(self, hips_position: np.ndarray, rotations: np.ndarray) -> np.ndarray:
        """(..., 75, 3) all holistic75 landmarks of the posed rig (joints, face, heels, tips).

        Args:
            hips_position: (..., 3) metres, rig world.
            rotations: (..., B, 4) local quaternions.
        """
        pos, world = forward_kinematics(self.offsets, hips_position, rotations, return_world=True)
        bone = SITE_BONE
        return pos[..., bone, :] + np.einsum("...lij,lj->...li", world[..., bone, :, :], self.site_offsets)
