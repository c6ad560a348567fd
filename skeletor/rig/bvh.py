"""``skeletor export-bvh``: cleaned 3D poses -> a BVH animation on a fixed-length rig.

The rig
    One BVH joint per tracked point, named as in Mixamo (hands: HumanIK's ``InHand``
    metacarpals) where the meaning matches, so retargeting tools recognise it::

        Hips (mid-hip, the root)
        +- LeftUpLeg (hip) - LeftLeg (knee) - LeftFoot (ankle) - LeftToeBase (foot index)
        |                                                      \\- LeftHeel
        +- RightUpLeg ... (mirrored)
        \\- Spine (mid-hip, zero offset: the torso, mid-hip to mid-shoulder)
           +- Neck (mid-shoulder) - Head (mid-ear, or the nose when the ears are never seen)
           |                        \\- Nose, LeftEyeInner, LeftEye, LeftEyeOuter, ..., LeftEar,
           |                           RightEar, MouthLeft, MouthRight (a rigid face)
           +- LeftShoulder (mid-shoulder, zero offset: the clavicle) - LeftArm (shoulder)
           |  - LeftForeArm (elbow) - LeftWrist (wrist) - LeftHand (the hand's wrist point)
           |    +- LeftHandMiddle1..4 (MCP, PIP, DIP, tip)
           |    +- LeftInHandThumb (wrist, zero offset: the metacarpal) - LeftHandThumb1..4
           |    |  (CMC, MCP, IP, tip)
           |    \\- LeftInHandIndex / Ring / Pinky - LeftHandIndex1..4 / Ring1..4 / Pinky1..4
           \\- RightShoulder ... (mirrored)

    When the hips are never seen (sign-language data, a webcam framing the upper body),
    the root is ``Chest`` at the mid-shoulder and the legs are left out. A point the clip
    never shows is left out with everything beneath it; a helper joint (Spine, Neck, the
    clavicles, the metacarpals) left with no children is dropped. The data has two wrist
    estimates, the body model's (where the forearm ends) and the hand model's (where the
    fingers start; they can be centimetres apart, e.g. in OpenPose-style data such as
    Phoenix14T): ``LeftWrist`` sits on the first and links the forearm to ``LeftHand`` on
    the second (a link without rotation when they coincide). The pose model's coarse
    pinky, index and thumb points (17-22) are not used: the 21-point hands replace them.

Bone lengths and rest pose
    Every bone's length is its median over the clip (frames where both ends are seen).
    The rest pose (all rotations zero) is an ideal T-pose built from those lengths:
    facing +z, the subject's left at +x, legs straight down, arms and fingers straight
    out along +/-x, palms forward and thumbs up (so forearm rotation in everyday poses
    stays far from the Euler singularity). Directions no ideal pose fixes take their
    clip median in the parent's frame: the metacarpals' fan, the face points around the
    head, the heel under the ankle.

Rotations
    Each joint's rotation turns its rest bone onto the observed bone exactly (the swing);
    the twist about the bone comes from a second direction where one exists: the hip
    line (Hips), the shoulder line (Spine), the ear or eye line (Neck, Head), the
    knuckle line index->pinky (Hand: forearm rotation shows on the hand), the bend
    plane of the knee or elbow (thigh, upper arm), the heel (foot). When that direction
    is missing or nearly parallel to the bone (a straight knee) the twist fades smoothly
    to the last well-defined one. Shins, forearms, fingers and thumbs take the minimal
    rotation from their parent, so knees, elbows and finger joints are hinges. A frame
    where a joint's bone is missing (NaN) keeps the joint's previous local rotation (the
    rest pose before it is first seen), so the file never holds NaN. Forward kinematics
    of the file gives back every observed point exactly up to the bone-length variation
    of the input (and the rigid fit of the face points and the heel).

Axes, units, channels
    Our camera frame (x right, y down, z forward, metres) becomes a right-handed Y-up
    world by a 180 degree rotation about x: (x, y, z) -> (x, -y, -z), in centimetres by
    default; Blender's BVH import defaults (Forward -Z, Up Y) read it as is, the subject
    facing Blender's front view. With ``up="z"`` the world is Z-up instead,
    (x, y, z) -> (x, z, -y), the subject facing -y (import with Forward Y, Up Z). The root has 6 channels (Xposition Yposition Zposition Zrotation Xrotation
    Yrotation), every other joint 3 (Zrotation Xrotation Yrotation): intrinsic Z, X, Y
    Euler angles in degrees, R = Rz Rx Ry, chosen frame to frame on the branch closest to
    the previous frame (no 360 degree jumps). The root's OFFSET is zero, so its position
    channels are world positions under either reading of the format. Leaves end in an
    ``End Site`` half as long as their bone. The root stays where the camera saw it (a
    subject 2.5 m from the camera is 250 cm along -z in the Y-up file).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from skeletor.keypoints import KeypointFormatError, PoseSequence, load_poses
from skeletor.skeleton import HOLISTIC75, upper50_to_holistic75

__all__ = [
    "POINT_NAMES",
    "BvhConfig",
    "BvhMotion",
    "add_parser",
    "camera_to_bvh_world",
    "poses_to_bvh",
    "run",
    "solve_bvh",
    "write_bvh",
]

log = logging.getLogger(__name__)

# Extended point array: holistic75, then virtual points, then a constant direction.
MID_HIP, MID_SHOULDER, MID_EAR, _UP = 75, 76, 77, 78
POINT_NAMES: tuple[str, ...] = HOLISTIC75.joints + ("mid_hip", "mid_shoulder", "mid_ear")
_UNITS_PER_M = {"cm": 100.0, "m": 1.0}
# Y-up world -> Z-up world: (x, y, z) -> (x, -z, y), a +90 degree rotation about x.
_Y_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# Twist weight: the second direction's component across the bone, as a fraction of its
# length (sine of the angle between them), from which it starts to count and fully counts.
_TWIST_LO, _TWIST_HI = 0.1, 0.3


@dataclass(frozen=True)
class BvhConfig:
    """How :func:`poses_to_bvh` writes the file.

    Attributes:
        up: ``"y"`` (Y-up world, Blender's default BVH import) or ``"z"`` (Z-up world).
        units: ``"cm"`` (the BVH convention) or ``"m"``: input metres are scaled to these.
        min_confidence: points with a lower confidence count as missing (0 = use every
            finite point, including the cleaner's estimates through gaps).
        decimals: digits after the point in the motion data (4 = 0.1 um at cm, 1e-4 deg).
    """

    up: str = "y"
    units: str = "cm"
    min_confidence: float = 0.0
    decimals: int = 4

    def __post_init__(self) -> None:
        if self.up not in ("y", "z"):
            raise ValueError(f"up must be 'y' or 'z', got {self.up!r}")
        if self.units not in _UNITS_PER_M:
            raise ValueError(f"units must be one of {sorted(_UNITS_PER_M)}, got {self.units!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        if not 1 <= self.decimals <= 9:
            raise ValueError(f"decimals must be in [1, 9], got {self.decimals!r}")


@dataclass(frozen=True)
class BvhMotion:
    """A solved BVH animation (what :meth:`to_text` writes).

    Attributes:
        names: joint names in file order (parents before children, depth first).
        parents: index of each joint's parent in ``names``, -1 for the root.
        points: index of the point each joint sits on, into :data:`POINT_NAMES`
            (holistic75 joints, then ``mid_hip``, ``mid_shoulder``, ``mid_ear``).
        offsets: (J, 3) rest offsets from the parent, file units and axes (root: zeros).
        end_sites: (J, 3) End Site offsets of leaf joints, NaN rows for the others.
        root_position: (T, 3) root position channels, file units and axes.
        euler_deg: (T, J, 3) local rotations as (Z, X, Y) intrinsic Euler angles, degrees.
        fps: frames per second.
        config: the settings the motion was made with.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    points: tuple[int, ...]
    offsets: np.ndarray
    end_sites: np.ndarray
    root_position: np.ndarray
    euler_deg: np.ndarray
    fps: float
    config: BvhConfig

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.root_position.shape[0])

    def channels(self) -> np.ndarray:
        """(T, 6 + 3 (J - 1)) motion rows in file order: root position, then each joint's Z X Y."""
        return np.concatenate([self.root_position, self.euler_deg.reshape(self.num_frames, -1)], axis=1)

    def to_text(self) -> str:
        """The BVH file text.

        Raises:
            ValueError: joints not in depth-first order (the motion columns follow the
                hierarchy), or a non-finite value (the solver never makes one).
        """
        d = self.config.decimals
        children: dict[int, list[int]] = {}
        for j, p in enumerate(self.parents):
            children.setdefault(p, []).append(j)
        lines = ["HIERARCHY"]
        emitted: list[int] = []

        def vec(v: np.ndarray) -> str:
            return " ".join(f"{float(x):.{d}f}" for x in v)

        def emit(j: int, depth: int) -> None:
            emitted.append(j)
            pad = "\t" * depth
            lines.append(f"{pad}{'ROOT' if self.parents[j] < 0 else 'JOINT'} {self.names[j]}")
            lines.append(f"{pad}{{")
            lines.append(f"{pad}\tOFFSET {vec(self.offsets[j])}")
            if self.parents[j] < 0:
                lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
            else:
                lines.append(f"{pad}\tCHANNELS 3 Zrotation Xrotation Yrotation")
            for c in children.get(j, []):
                emit(c, depth + 1)
            if not children.get(j):
                lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {vec(self.end_sites[j])}", f"{pad}\t}}"])
            lines.append(f"{pad}}}")

        emit(0, 0)
        if emitted != list(range(len(self.names))):
            raise ValueError("joints must be listed depth first, parents before children, one root first")
        data = self.channels()
        if not (np.isfinite(data).all() and np.isfinite(self.offsets).all()):
            raise ValueError("non-finite values in the BVH motion")
        lines += ["MOTION", f"Frames: {self.num_frames}", f"Frame Time: {1.0 / self.fps:.8f}"]
        buf = io.StringIO()
        buf.write("\n".join(lines) + "\n")
        np.savetxt(buf, data, fmt=f"%.{d}f", delimiter=" ")
        return buf.getvalue()


# --------------------------------------------------------------------------- rig description

# A vector observed in the data: sum of coef * point, optionally normalised.
_Terms = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class _Vec:
    terms: _Terms
    rest: tuple[float, float, float]  # the same vector's direction in the rest pose
    unit: bool = False  # normalise the observed vector (bend references)


@dataclass(frozen=True)
class _Spec:
    name: str
    point: int
    parent: str | None
    # "zero", "data" (clip median offset in the parent's frame: rigid parts), "aim" (along
    # the parent's aim in the rest pose) or a rest direction.
    offset: str | tuple[float, float, float]
    aim: _Vec | None = None  # the bone whose direction is matched exactly
    twist: tuple[_Vec, ...] = ()  # second directions for the twist, in priority order
    helper: bool = False  # dropped when it ends up without children
    aim_from_data: bool = False  # the aim's rest direction is its clip median in the parent's frame


def _d(a: int, b: int, rest: Sequence[float], unit: bool = False) -> _Vec:
    """The vector a - b."""
    r = np.asarray(rest, dtype=np.float64)
    r = r / np.linalg.norm(r)
    return _Vec(((a, 1.0), (b, -1.0)), (float(r[0]), float(r[1]), float(r[2])), unit)


_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
_NEG_Y, _NEG_Z = (0.0, -1.0, 0.0), (0.0, 0.0, -1.0)
_WORLD_UP = _Vec(((_UP, 1.0),), _Y)
_FACE_UP = _Vec(((2, 0.5), (5, 0.5), (9, -0.5), (10, -0.5)), _Y)  # mid-eyes minus mid-mouth
_FINGERS = (("Thumb", 1), ("Index", 5), ("Middle", 9), ("Ring", 13), ("Pinky", 17))
_FACE = (
    (0, "Nose"), (1, "LeftEyeInner"), (2, "LeftEye"), (3, "LeftEyeOuter"), (4, "RightEyeInner"), (5, "RightEye"),
    (6, "RightEyeOuter"), (7, "LeftEar"), (8, "RightEar"), (9, "MouthLeft"), (10, "MouthRight"),
)  # fmt: skip


def _rig_specs(seen: np.ndarray, wrists_apart: tuple[bool, bool]) -> list[_Spec]:
    """The joint specs for a clip whose seen points are ``seen`` ((79,) bool), parents first.

    ``wrists_apart`` (left, right): the pose wrist and the hand's wrist point are apart
    (more than 1 mm), so the link between them has a direction.
    """
    specs: list[_Spec] = []
    has_hips = bool(seen[MID_HIP])
    if has_hips:
        specs.append(_Spec("Hips", MID_HIP, None, "zero", _d(23, 24, _X), (_d(MID_SHOULDER, MID_HIP, _Y),)))
        for side, s, hip, knee, ankle, heel, toe in (("Left", 1.0, 23, 25, 27, 29, 31), ("Right", -1.0, 24, 26, 28, 30, 32)):
            bend = _d(knee, ankle, _Z, unit=True)  # the knee points forward: the thigh's twist
            foot = _d(toe, ankle, _Z)
            specs += [
                _Spec(f"{side}UpLeg", hip, "Hips", (s, 0.0, 0.0), _d(knee, hip, _NEG_Y), (bend, foot)),
                _Spec(f"{side}Leg", knee, f"{side}UpLeg", "aim", _d(ankle, knee, _NEG_Y)),  # a hinge
                _Spec(f"{side}Foot", ankle, f"{side}Leg", "aim", foot, (_d(ankle, heel, _Y), _d(knee, ankle, _Y))),
                _Spec(f"{side}ToeBase", toe, f"{side}Foot", "aim"),
                _Spec(f"{side}Heel", heel, f"{side}Foot", "data"),
            ]
        specs.append(_Spec("Spine", MID_HIP, "Hips", "zero", _d(MID_SHOULDER, MID_HIP, _Y), (_d(11, 12, _X), _d(23, 24, _X)), helper=True))
        torso, at_neck = "Spine", "aim"
        clavicle_up: tuple[_Vec, ...] = (_d(MID_SHOULDER, MID_HIP, _Y), _WORLD_UP)
    else:
        specs.append(_Spec("Chest", MID_SHOULDER, None, "zero", _d(11, 12, _X), (_WORLD_UP,)))
        torso, at_neck = "Chest", "zero"
        clavicle_up = (_WORLD_UP,)

    # Neck and head. The head sits at the mid-ear when the ears are seen, else on the nose.
    head = MID_EAR if seen[MID_EAR] else 0
    neck_rest = _Y if head == MID_EAR else (0.0, 0.94, 0.34)  # the nose is ahead of the neck
    lines = [v for v, ok in ((_d(7, 8, _X), seen[7] and seen[8]), (_d(2, 5, _X), seen[2] and seen[5]), (_d(9, 10, _X), seen[9] and seen[10])) if ok]
    specs.append(_Spec("Neck", MID_SHOULDER, torso, at_neck, _d(head, MID_SHOULDER, neck_rest), tuple(lines) + (_d(11, 12, _X),), helper=True))
    face_twist = ((_d(0, MID_EAR, _Z),) if head == MID_EAR else ()) + (_FACE_UP,)
    specs.append(_Spec("Head", head, "Neck", "aim", lines[0] if lines else None, face_twist))
    specs += [_Spec(name, p, "Head", "data") for p, name in _FACE if p != head]

    for side, s, sh, el, wr, h in (("Left", 1.0, 11, 13, 15, 33), ("Right", -1.0, 12, 14, 16, 54)):
        out = (s, 0.0, 0.0)
        wrist = wr if seen[wr] else h  # where the forearm ends: the pose wrist, else the hand's wrist point
        palm = h if seen[h] else wr  # where the fingers hang from: the hand's own wrist point
        knuckles = _d(h + 5, h + 17, _Y)  # index MCP - pinky MCP: up in the rest pose (thumbs up)
        specs += [
            _Spec(f"{side}Shoulder", MID_SHOULDER, torso, at_neck, _d(sh, MID_SHOULDER, out), clavicle_up, helper=True),
            _Spec(f"{side}Arm", sh, f"{side}Shoulder", "aim", _d(el, sh, out), (_d(el, wrist, _NEG_Z, unit=True),)),
            _Spec(f"{side}ForeArm", el, f"{side}Arm", "aim", _d(wrist, el, out)),  # a hinge
        ]
        hand_parent, hand_offset = f"{side}ForeArm", "aim"
        if palm != wrist:  # the body's and the hand's wrist estimates: a short link joins them
            apart = wrists_apart[side == "Right"]
            link = _d(palm, wrist, out) if apart else None  # no direction when they coincide
            specs.append(_Spec(f"{side}Wrist", wrist, hand_parent, "aim", link, aim_from_data=True))
            hand_parent, hand_offset = f"{side}Wrist", "aim" if apart else "zero"
        specs.append(_Spec(f"{side}Hand", palm, hand_parent, hand_offset, _d(h + 9, palm, out), (knuckles,)))
        for finger, k in _FINGERS:
            rest = (s, 1.0, 0.0) if finger == "Thumb" else out  # thumbs up and out, fingers straight out
            base = f"{side}Hand{finger}"
            first_parent = f"{side}Hand"
            if finger != "Middle":  # the metacarpal: its own direction from the wrist (the palm is not rigid)
                first_parent = f"{side}InHand{finger}"
                specs.append(_Spec(first_parent, palm, f"{side}Hand", "zero", _d(h + k, palm, out), helper=True, aim_from_data=True))
            for i in range(4):
                p = h + k + i
                parent = first_parent if i == 0 else f"{base}{i}"
                aim = _d(p + 1, p, rest) if i < 3 else None
                specs.append(_Spec(f"{base}{i + 1}", p, parent, "aim", aim))
    return specs


def _select(specs: list[_Spec], seen: np.ndarray) -> list[_Spec]:
    """Keep joints whose point and parent are kept; drop childless helpers; order depth first."""
    kept: dict[str, _Spec] = {}
    for s in specs:
        if seen[s.point] and (s.parent is None or s.parent in kept):
            kept[s.name] = s
    while True:
        parents = {s.parent for s in kept.values()}
        drop = [n for n, s in kept.items() if s.helper and n not in parents]
        if not drop:
            break
        for n in drop:
            del kept[n]
    children: dict[str | None, list[_Spec]] = {}
    for s in kept.values():
        children.setdefault(s.parent, []).append(s)
    order: list[_Spec] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        s = stack.pop()
        order.append(s)
        stack.extend(reversed(children.get(s.name, [])))
    return order


# --------------------------------------------------------------------------- rotation helpers


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1)
    return v / np.where(n > 0, n, 1.0)[..., None], n


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frames with columns a, b made perpendicular to a, a x b (a unit)."""
    e2, _ = _unit(b - np.sum(a * b, axis=-1, keepdims=True) * a)
    return np.stack([a, e2, np.cross(a, e2)], axis=-1)


def _any_perpendicular(u: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors perpendicular to the unit vectors ``u``."""
    helper = np.where(np.abs(u[:, :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    return _unit(np.cross(u, helper))[0]


def _swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors ``u`` onto unit vectors ``v``."""
    axis, s = _unit(np.cross(u, v))
    c = np.sum(u * v, axis=-1)
    axis = np.where((s < 1e-9)[:, None], _any_perpendicular(u), axis)
    return Rotation.from_rotvec(axis * np.arctan2(s, c)[:, None]).as_matrix()


def _slerp(ra: np.ndarray, rb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations a fraction ``w`` (T,) of the way from ``ra`` to ``rb``."""
    if np.all(w <= 0.0):
        return ra
    if np.all(w >= 1.0):
        return rb
    delta = Rotation.from_matrix(np.swapaxes(ra, -1, -2) @ rb).as_rotvec()
    return ra @ Rotation.from_rotvec(delta * w[:, None]).as_matrix()


def _last_index(mask: np.ndarray, strict: bool = False) -> np.ndarray:
    """(T,) index of the last True at or before (``strict``: before) each frame, -1 if none."""
    idx = np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))
    if strict:
        idx = np.concatenate([[-1], idx[:-1]])
    return idx


def _take(mats: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``mats[idx]`` with the identity where ``idx`` is -1."""
    out = mats[np.maximum(idx, 0)]
    out[idx < 0] = np.eye(3)
    return out


def _observe(v: _Vec, x: np.ndarray) -> np.ndarray:
    """(T, 3) the observed vector (NaN where a point is missing)."""
    out = sum(c * x[:, i] for i, c in v.terms)
    return _unit(out)[0] if v.unit else out


def _solve_joint(spec: _Spec, x: np.ndarray, parent: np.ndarray, a_rest: np.ndarray | None) -> np.ndarray:
    """(T, 3, 3) world rotations of one joint whose aim points along ``a_rest`` in the rest pose."""
    t = len(x)
    eye = np.broadcast_to(np.eye(3), (t, 3, 3))
    if spec.aim is None or a_rest is None:  # a leaf: no local rotation
        return parent.copy()
    a_obs, a_len = _unit(_observe(spec.aim, x))
    seen = np.isfinite(a_obs).all(-1) & (a_len > 1e-9)
    a_hat = np.where(seen[:, None], a_obs, parent @ a_rest)
    if not spec.twist:  # minimal rotation from the parent's frame
        world = _swing(parent @ a_rest, a_hat) @ parent
    else:
        rots, weights = [], []
        for v in spec.twist:
            b = _observe(v, x)
            ok = np.isfinite(b).all(-1) & seen
            b = np.where(ok[:, None], b, 0.0)
            across = np.linalg.norm(b - np.sum(b * a_hat, -1, keepdims=True) * a_hat, axis=-1)
            ratio = across / np.maximum(np.linalg.norm(b, axis=-1), 1e-12)
            u = np.clip((ratio - _TWIST_LO) / (_TWIST_HI - _TWIST_LO), 0.0, 1.0)
            weights.append(np.where(ok, u * u * (3.0 - 2.0 * u), 0.0))
            b = np.where((weights[-1] > 0)[:, None], b, _any_perpendicular(a_hat))
            rest = _frame(a_rest[None], np.array(v.rest)[None])[0]
            rots.append(_frame(a_hat, b) @ rest.T)

        def blend(start: np.ndarray) -> np.ndarray:
            out = start
            for r, w in zip(reversed(rots), reversed(weights)):
                out = _slerp(out, r, w)
            return out

        # Frames where some second direction fully counts do not depend on the fallback;
        # elsewhere the twist falls back to the last such frame's local rotation.
        settled = np.any(np.stack(weights) >= 1.0, axis=0) & seen
        local_settled = np.swapaxes(parent, -1, -2) @ blend(np.array(eye))
        base = parent @ _take(local_settled, _last_index(settled, strict=True))
        fallback = _swing(base @ a_rest, a_hat) @ base
        world = blend(fallback)
    local = np.swapaxes(parent, -1, -2) @ world
    local = _take(local, _last_index(seen))  # a missing bone keeps its previous local rotation
    return parent @ local


def _euler_continuous(mats: np.ndarray) -> np.ndarray:
    """(T, J, 3) ZXY intrinsic Euler degrees of (T, J, 3, 3) rotations, continuous over time.

    Each rotation has two ZXY solutions, (z, x, y) and (z + 180, 180 - x, y + 180); every
    frame takes the one closest to the previous frame, each angle shifted by 360 degrees
    to the value nearest the previous one.
    """
    t, j = mats.shape[:2]
    flat = Rotation.from_matrix(mats.reshape(-1, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: the angles are still exact
        e1 = flat.as_euler("ZXY", degrees=True).reshape(t, j, 3)
    e2 = e1 + np.array([180.0, 0.0, 180.0])
    e2[..., 1] = 180.0 - e1[..., 1]
    out = np.empty_like(e1)
    out[0] = e1[0]
    for i in range(1, t):
        prev = out[i - 1]
        c1 = e1[i] + 360.0 * np.round((prev - e1[i]) / 360.0)
        c2 = e2[i] + 360.0 * np.round((prev - e2[i]) / 360.0)
        closer = np.abs(c1 - prev).sum(-1) <= np.abs(c2 - prev).sum(-1)
        out[i] = np.where(closer[:, None], c1, c2)
    return out


# --------------------------------------------------------------------------- public API


def camera_to_bvh_world(poses: np.ndarray, config: BvhConfig | None = None) -> np.ndarray:
    """Camera-frame points (x right, y down, z forward, metres) -> the BVH world of ``config``.

    Args:
        poses: (..., 3) points.
        config: up axis and units (default Y-up, centimetres).

    Returns:
        (..., 3) float64: (x, -y, -z) for Y-up, (x, z, -y) for Z-up, times 100 for centimetres.
    """
    config = config or BvhConfig()
    p = np.asarray(poses, dtype=np.float64) * np.array([1.0, -1.0, -1.0]) * _UNITS_PER_M[config.units]
    return p @ _Y_TO_Z_UP.T if config.up == "z" else p


def _extended(world: np.ndarray) -> np.ndarray:
    """(T, 79, 3): holistic75, mid-hip, mid-shoulder, mid-ear, and the constant Y-up unit vector."""
    t = len(world)
    mids = [0.5 * (world[:, a] + world[:, b]) for a, b in ((23, 24), (11, 12), (7, 8))]
    up = np.broadcast_to(np.array([0.0, 1.0, 0.0]), (t, 3))
    return np.concatenate([world, np.stack(mids + [up], axis=1)], axis=1)


def _median_direction(to_local: np.ndarray, vectors: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Unit median direction of (T, 3) ``vectors`` mapped by (T, 3, 3) ``to_local``; ``default`` if none is seen."""
    u, n = _unit(np.einsum("tij,tj->ti", to_local, vectors))
    ok = np.isfinite(u).all(-1) & (n > 1e-9)
    if not ok.any():
        return default
    d, n = _unit(np.median(u[ok], axis=0))
    return d if n > 1e-9 else default


def _median_length(x: np.ndarray, a: int, b: int) -> float | None:
    d = np.linalg.norm(x[:, a] - x[:, b], axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else None


def solve_bvh(
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> BvhMotion:
    """Fit the fixed-length rig (see the module docstring) to a pose sequence.

    Args:
        poses: (T, 75, 3) holistic75 poses, camera frame (x right, y down, z forward),
            metres; NaN where a point is missing.
        confidence: optional (T, 75) confidences; points below ``config.min_confidence``
            count as missing.
        fps: frames per second (> 0).
        config: axes, units and precision (default :class:`BvhConfig`).

    Returns:
        The solved :class:`BvhMotion`.

    Raises:
        ValueError: wrong shapes, a bad fps, no frames, or neither both hips nor both
            shoulders seen together in any frame (nothing to hang the rig on).
    """
    config = config or BvhConfig()
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (75, 3):
        raise ValueError(f"poses: expected (T, 75, 3) holistic75 joints, got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("poses: no frames")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if confidence is not None:
        c = np.asarray(confidence, dtype=np.float64)
        if c.shape != p.shape[:2]:
            raise ValueError(f"confidence: expected shape {p.shape[:2]}, got {c.shape}")
        if config.min_confidence > 0:
            p = np.where((c >= config.min_confidence)[..., None], p, np.nan)
    p = np.where(np.isfinite(p).all(-1, keepdims=True), p, np.nan)
    # Solve in the Y-up world; a Z-up file is the same motion with its axes renamed at the end.
    x = _extended(camera_to_bvh_world(p, BvhConfig(units=config.units)))
    seen = np.isfinite(x).all(-1).any(0)
    if not (seen[MID_HIP] or seen[MID_SHOULDER]):
        raise ValueError("no frame shows both hips or both shoulders: cannot place the rig's root")
    apart = [(_median_length(x, wr, h) or 0.0) > 0.001 * _UNITS_PER_M[config.units] for wr, h in ((15, 33), (16, 54))]
    specs = _select(_rig_specs(seen, (apart[0], apart[1])), seen)
    index = {s.name: i for i, s in enumerate(specs)}
    t, n = len(x), len(specs)
    world = np.empty((n, t, 3, 3))
    offsets = np.zeros((n, 3))
    default_len = 0.05 * _UNITS_PER_M[config.units]
    aim_rest: dict[int, np.ndarray] = {}
    for i, s in enumerate(specs):
        parent_world = world[index[s.parent]] if s.parent is not None else np.broadcast_to(np.eye(3), (t, 3, 3))
        if s.parent is not None and s.offset != "zero":
            pi = index[s.parent]
            length = _median_length(x, s.point, specs[pi].point)
            if length is None:
                log.warning("%s and its parent are never seen together; using a %.3g bone", s.name, default_len)
                length = default_len
            if s.offset == "data":
                rel = x[:, s.point] - x[:, specs[pi].point]
                direction = _median_direction(np.swapaxes(world[pi], -1, -2), rel, np.array(_Y))
            elif s.offset == "aim":
                direction = aim_rest[pi]
            else:
                direction = np.asarray(s.offset) / np.linalg.norm(s.offset)
            offsets[i] = direction * length
        if s.aim is not None:
            rest = np.array(s.aim.rest)
            if s.aim_from_data:
                rest = _median_direction(np.swapaxes(parent_world, -1, -2), _observe(s.aim, x), rest)
            aim_rest[i] = rest
        world[i] = _solve_joint(s, x, parent_world, aim_rest.get(i))

    parents = tuple(index[s.parent] if s.parent is not None else -1 for s in specs)
    local = np.empty((t, n, 3, 3))
    for i, pi in enumerate(parents):
        local[:, i] = world[i] if pi < 0 else np.swapaxes(world[pi], -1, -2) @ world[i]
    root = x[:, specs[0].point]
    idx = _last_index(np.isfinite(root).all(-1))
    idx = np.where(idx < 0, int(np.argmax(idx >= 0)), idx)  # back-fill the start
    root = root[idx]
    has_child = {pi for pi in parents if pi >= 0}
    ends = np.full((n, 3), np.nan)
    for i in range(n):
        if i not in has_child:
            o = offsets[i]
            ends[i] = 0.5 * o if np.linalg.norm(o) > 1e-9 else np.array(_Y) * 2 * default_len
    if config.up == "z":
        a = _Y_TO_Z_UP
        offsets, ends, root = offsets @ a.T, ends @ a.T, root @ a.T
        local = a @ local @ a.T
    log.debug("BVH rig: %d joints (%s), %d frames", n, ", ".join(s.name for s in specs), t)
    return BvhMotion(
        names=tuple(s.name for s in specs),
        parents=parents,
        points=tuple(s.point for s in specs),
        offsets=offsets,
        end_sites=ends,
        root_position=root,
        euler_deg=_euler_continuous(local),
        fps=float(fps),
        config=config,
    )


def poses_to_bvh(
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> str:
    """BVH text for a pose sequence: :func:`solve_bvh`, then :meth:`BvhMotion.to_text`.

    Args:
        poses: (T, 75, 3) holistic75 poses, camera frame, metres; NaN where missing.
        confidence: optional (T, 75) confidences.
        fps: frames per second.
        config: axes, units and precision.

    Returns:
        The file text (never holds NaN).

    Raises:
        ValueError: see :func:`solve_bvh`.
    """
    return solve_bvh(poses, confidence, fps, config).to_text()


def write_bvh(
    path: str | Path,
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> BvhMotion:
    """Write :func:`poses_to_bvh` to ``path`` (through a temporary file, then renamed).

    Args:
        path: the ``.bvh`` file.
        poses: (T, 75, 3) holistic75 poses, camera frame, metres; NaN where missing.
        confidence: optional (T, 75) confidences.
        fps: frames per second.
        config: axes, units and precision.

    Returns:
        The solved motion (joint names, offsets, channels).

    Raises:
        ValueError: see :func:`solve_bvh`.
        OSError: the file cannot be written.
    """
    motion = solve_bvh(poses, confidence, fps, config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(motion.to_text(), encoding="ascii")
    tmp.replace(path)
    return motion


# --------------------------------------------------------------------------- CLI

_DESCRIPTION = """\
Turn cleaned 3D poses into a BVH animation (Blender, MotionBuilder, Maya, game engines).

Input: a pose .npz (the output of `skeletor clean`, or `skeletor-live --record x.npz`) or a
.jsonl recording (`skeletor-live --record x.jsonl`); camera frame, metres.

The rig is fixed-length: each bone's length is its median over the clip, and the rest pose
is a T-pose built from those lengths (facing +z, the subject's left at +x, legs down, arms
and fingers straight out, palms forward, thumbs up). Joints, Mixamo names: Hips (mid-hip
root), legs (UpLeg, Leg, Foot, ToeBase, Heel), Spine, Neck (mid-shoulder), Head (mid-ear)
with the face points, clavicles (LeftShoulder/RightShoulder), Arm, ForeArm, Wrist, Hand, one
metacarpal per finger (InHandThumb/Index/Ring/Pinky) and the 21-point hands' fingers
(Thumb/Index/Middle/Ring/Pinky 1-4). Points never seen in the clip are left out (no legs
for upper-body data: the root is then Chest, at the mid-shoulder).

Each joint's rotation points its rest bone exactly at the observed bone; the twist about
the bone comes from a second direction (hip line, shoulder line, ear or eye line, knuckle
line, knee/elbow bend plane, heel), else the smallest rotation: knees, elbows and fingers
are hinges. Frames where a point is missing keep the previous rotation; the file never
holds NaN. Axes: Y-up (default; read it with Blender's BVH import defaults, Forward -Z
Up Y) or Z-up (import with Forward Y, Up Z); centimetres by default. Rotation channels:
Zrotation Xrotation Yrotation on every joint (R = Rz Rx Ry, degrees).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export-bvh`` on the ``skeletor`` parser."""
    p = sub.add_parser(
        "export-bvh",
        help="turn cleaned 3D poses (.npz / .jsonl recording) into a BVH animation on a fixed-length rig",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("poses", type=Path, metavar="POSES", help="pose .npz (skeletor clean output or a recording) or a .jsonl recording")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.bvh", help="BVH file to write")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the animation (default: the input's)")
    p.add_argument("--up", choices=("y", "z"), default="y", help="world up axis (default y: Blender's BVH import defaults)")
    p.add_argument("--scale", choices=("cm", "m"), default="cm", help="file units (default cm, the BVH convention)")
    p.add_argument(
        "--min-confidence", type=float, default=0.0, metavar="C",
        help="treat points with a lower confidence as missing (default 0: use the cleaner's estimates through gaps)",
    )  # fmt: skip
    p.set_defaults(run=run)


def _read_input(path: Path) -> PoseSequence:
    if not path.is_file():
        raise KeypointFormatError(f"{path}: no such file")
    if path.suffix.lower() == ".jsonl":
        from skeletor.recording import read_jsonl

        return read_jsonl(path)
    seq = load_poses(path)
    if seq.skeleton == "upper50":
        conf = upper50_to_holistic75(seq.confidence[..., None], fill=0.0)[..., 0]
        return PoseSequence(upper50_to_holistic75(seq.poses3d), conf, seq.fps)
    if seq.skeleton != "holistic75":
        raise KeypointFormatError(f"{path}: skeleton {seq.skeleton!r} is not supported; expected 'holistic75'")
    return seq


def run(args: argparse.Namespace) -> int:
    """Export one file; a bad input or setting is reported in one line with exit code 2."""
    try:
        config = BvhConfig(up=args.up, units=args.scale, min_confidence=args.min_confidence)
        seq = _read_input(args.poses)
        motion = write_bvh(args.output, seq.poses3d, seq.confidence, args.fps or seq.fps, config)
    except (KeypointFormatError, ValueError, OSError) as e:
        msg = str(e) if str(args.poses) in str(e) else f"{args.poses}: {e}"
        print(f"skeletor export-bvh: error: {msg}", file=sys.stderr)
        return 2
    print(
        f"skeletor export-bvh: wrote {args.output} ({motion.num_frames} frames at {motion.fps:g} fps, "
        f"{len(motion.names)} joints, root {motion.names[0]})",
        file=sys.stderr,
    )
    return 0
