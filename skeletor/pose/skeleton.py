"""Skeleton layouts: joint names, bone trees and left/right mirror pairs.

Pure data, no I/O. Two layouts matter:

``holistic75`` -- the live skeleton, what the tool streams.
    0-32  MediaPipe Pose landmarks, in MediaPipe's order.
    33-53 the subject's LEFT hand, MediaPipe's 21-point hand order.
    54-74 the subject's RIGHT hand, same order.

``upper50`` -- the Skeletor paper's / Phoenix14T layout (OpenPose BODY 0-7, then the
subject's left hand 8-28 and right hand 29-49, OpenPose 21-point hand order, which is
the same order as MediaPipe's hand).

"Left" and "right" are always the subject's own, never the image's.

Each layout has a bone tree (``parents``, -1 for a root), a list of drawable
``edges`` (the tree plus a few non-tree segments such as the hip line), and a
``mirror`` permutation that swaps left and right joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "Skeleton",
    "HOLISTIC75",
    "UPPER50",
    "get_skeleton",
    "upper50_to_holistic75",
    "holistic75_to_upper50",
    "POSE_BODY_JOINTS",
    "LEFT_HAND",
    "RIGHT_HAND",
]

HAND_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip

# Parent of each hand point inside one 21-point hand (0 = wrist is the hand's root).
HAND_PARENTS: tuple[int, ...] = (
    -1,
    0, 1, 2, 3,
    0, 5, 6, 7,
    0, 9, 10, 11,
    0, 13, 14, 15,
    0, 17, 18, 19,
)  # fmt: skip

POSE33_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear",
    "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
    "left_pinky", "right_pinky",
    "left_index", "right_index",
    "left_thumb", "right_thumb",
    "left_hip", "right_hip",
    "left_knee", "right_knee",
    "left_ankle", "right_ankle",
    "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip

# Bone tree of the 33 pose landmarks. Two roots: the nose (head) and the left shoulder
# (body). The uplift joins them through a virtual mid-shoulder "neck" (skeletor.uplift.tree).
POSE33_PARENTS: tuple[int, ...] = (
    -1,          # 0 nose: head root
    0, 1, 2,     # left eye inner, eye, outer
    0, 4, 5,     # right eye inner, eye, outer
    3, 6,        # ears from the outer eye corners
    0, 0,        # mouth corners from the nose
    -1, 11,      # left shoulder: body root; right shoulder from the left
    11, 12,      # elbows
    13, 14,      # wrists
    15, 16,      # pinky knuckles
    15, 16,      # index knuckles
    15, 16,      # thumbs
    11, 12,      # hips from the shoulders (torso sides)
    23, 24,      # knees
    25, 26,      # ankles
    27, 28,      # heels
    27, 28,      # foot index (toes)
)  # fmt: skip

# Indices (holistic75 / MediaPipe Pose) of the main body joints: the ones a mocap
# skeleton without face or fingers can give, and that the accuracy benchmark scores.
POSE_BODY_JOINTS: tuple[int, ...] = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 31, 32)
LEFT_HAND: tuple[int, ...] = tuple(range(33, 54))
RIGHT_HAND: tuple[int, ...] = tuple(range(54, 75))

UPPER8_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip
UPPER8_PARENTS: tuple[int, ...] = (1, -1, 1, 2, 3, 1, 5, 6)


def _mirror_by_name(names: tuple[str, ...]) -> tuple[int, ...]:
    """Permutation that swaps every ``left_*`` / ``*_left`` joint with its right twin."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        if n.startswith("left_"):
            out.append(index["right_" + n[5:]])
        elif n.startswith("right_"):
            out.append(index["left_" + n[6:]])
        elif n.endswith("_left"):
            out.append(index[n[:-5] + "_right"])
        elif n.endswith("_right"):
            out.append(index[n[:-6] + "_left"])
        else:
            out.append(index[n])
    return tuple(out)


@dataclass(frozen=True)
class Skeleton:
    """A named joint layout with its bone tree.

    Attributes:
        name: the layout's identifier, as stored in files (``"holistic75"``).
        joints: joint names, in array order.
        parents: parent index of each joint, -1 for a root.
        extra_edges: drawable segments that are not tree bones (e.g. the hip line).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    extra_edges: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"{self.name}: {len(self.joints)} names but {len(self.parents)} parents")
        if len(self.topological_order) != len(self.joints):
            raise ValueError(f"{self.name}: parents do not form a forest (a cycle or a bad index)")

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return len(self.joints)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Joint indices ordered so that every parent comes before its children."""
        children: dict[int, list[int]] = {}
        for j, p in enumerate(self.parents):
            children.setdefault(p, []).append(j)
        order: list[int] = []
        stack = list(reversed(children.get(-1, [])))
        while stack and len(order) <= len(self.parents):
            j = stack.pop()
            order.append(j)
            stack.extend(reversed(children.get(j, [])))
        return tuple(order)

    @cached_property
    def bones(self) -> np.ndarray:
        """(B, 2) int array of (parent, child) for every non-root joint, parents' bones first."""
        pairs = [(self.parents[j], j) for j in self.topological_order if self.parents[j] >= 0]
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Segments to draw: tree bones plus ``extra_edges``."""
        return tuple((int(p), int(c)) for p, c in self.bones) + self.extra_edges

    @cached_property
    def mirror(self) -> np.ndarray:
        """(J,) permutation swapping left and right joints (``x[mirror]`` is the mirrored pose)."""
        return np.array(_mirror_by_name(self.joints), dtype=np.int64)

    @cached_property
    def bone_mirror(self) -> np.ndarray:
        """(B,) index of each bone's left/right twin (itself for central bones)."""
        pair_to_bone = {frozenset((int(p), int(c))): b for b, (p, c) in enumerate(self.bones)}
        m = self.mirror
        twins = [pair_to_bone.get(frozenset((int(m[p]), int(m[c]))), b) for b, (p, c) in enumerate(self.bones)]
        return np.array(twins, dtype=np.int64)

    def index(self, name: str) -> int:
        """Array index of the joint called ``name``."""
        try:
            return self.joints.index(name)
        except ValueError:
            raise KeyError(f"{self.name} has no joint {name!r}") from None


def _holistic75() -> Skeleton:
    names = POSE33_NAMES + tuple("left_hand_" + n for n in HAND_NAMES) + tuple("right_hand_" + n for n in HAND_NAMES)
    left = tuple(15 if p < 0 else p + 33 for p in HAND_PARENTS)  # hand wrist hangs off the pose wrist
    right = tuple(16 if p < 0 else p + 54 for p in HAND_PARENTS)
    extra = ((23, 24), (9, 10), (29, 31), (30, 32), (17, 19), (18, 20))
    return Skeleton("holistic75", names, POSE33_PARENTS + left + right, extra)


def _upper50() -> Skeleton:
    names = UPPER8_NAMES + tuple("left_hand_" + n for n in HAND_NAMES) + tuple("right_hand_" + n for n in HAND_NAMES)
    left = tuple(7 if p < 0 else p + 8 for p in HAND_PARENTS)
    right = tuple(4 if p < 0 else p + 29 for p in HAND_PARENTS)
    return Skeleton("upper50", names, UPPER8_PARENTS + left + right)


HOLISTIC75 = _holistic75()
UPPER50 = _upper50()
_SKELETONS = {s.name: s for s in (HOLISTIC75, UPPER50)}


def get_skeleton(name: str) -> Skeleton:
    """Look up a layout by name; raises ``KeyError`` naming the known layouts."""
    try:
        return _SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; expected one of {sorted(_SKELETONS)}") from None


# upper50 index -> holistic75 index for every joint the two layouts share (all but the neck).
UPPER50_TO_HOLISTIC75: dict[int, int] = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15}
UPPER50_TO_HOLISTIC75.update({8 + i: 33 + i for i in range(21)})
UPPER50_TO_HOLISTIC75.update({29 + i: 54 + i for i in range(21)})


def upper50_to_holistic75(x: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Map ``(..., 50, C)`` upper50 arrays onto ``(..., 75, C)`` holistic75.

    The neck (upper50 joint 1) has no holistic75 twin and is dropped; holistic75 joints
    that upper50 lacks (face details, hips, legs) are set to ``fill``. For a
    confidence channel pass a ``(..., 50, 1)`` array and ``fill=0``.
    """
    if x.shape[-2] != 50:
        raise ValueError(f"expected (..., 50, C) upper50 joints, got shape {x.shape}")
    out = np.full(x.shape[:-2] + (75, x.shape[-1]), fill, dtype=x.dtype)
    src = np.fromiter(UPPER50_TO_HOLISTIC75.keys(), dtype=np.int64)
    dst = np.fromiter(UPPER50_TO_HOLISTIC75.values(), dtype=np.int64)
    out[..., dst, :] = x[..., src, :]
    return out


def holistic75_to_upper50(x: np.ndarray) -> np.ndarray:
    """Map ``(..., 75, C)`` holistic75 arrays onto ``(..., 50, C)`` upper50.

    The neck is the mid-point of the two shoulders (for a confidence channel, use the
    result's neck only as an estimate: it averages the shoulders' values).
    """
    if x.shape[-2] != 75:
        raise ValueError(f"expected (..., 75, C) holistic75 joints, got shape {x.shape}")
    out = np.empty(x.shape[:-2] + (50, x.shape[-1]), dtype=x.dtype)
    src = np.fromiter(UPPER50_TO_HOLISTIC75.values(), dtype=np.int64)
    dst = np.fromiter(UPPER50_TO_HOLISTIC75.keys(), dtype=np.int64)
    out[..., dst, :] = x[..., src, :]
    out[..., 1, :] = 0.5 * (x[..., 11, :] + x[..., 12, :])
    return out
