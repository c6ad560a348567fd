"""The humanoid rig: Unity ``HumanBodyBones`` names, the bone tree, and how each bone maps
onto the holistic75 landmarks (:mod:`skeletor.pose.skeleton`: 33 MediaPipe Pose points, then the
subject's left hand 33-53 and right hand 54-74).

Bones (``BONES``, parents before children, depth first; ``PARENTS`` -1 for the root)::

    Hips (mid-hip)
    +- Spine (mid-hip) - Chest - UpperChest (35 % and 70 % of the way to the mid-shoulder)
    |  +- Neck (mid-shoulder) - Head (mid-ear)
    |  +- LeftShoulder (mid-shoulder: the clavicle) - LeftUpperArm (shoulder)
    |  |  - LeftLowerArm (elbow) - LeftHand (the hand model's wrist point)
    |  |    +- LeftThumbProximal (CMC) - LeftThumbIntermediate (MCP) - LeftThumbDistal (IP)
    |  |    +- LeftIndexProximal (MCP) - ...Intermediate (PIP) - ...Distal (DIP); Middle, Ring, Little alike
    |  +- RightShoulder ... (mirrored)
    +- LeftUpperLeg (hip) - LeftLowerLeg (knee) - LeftFoot (ankle) - LeftToes (foot index)
    +- RightUpperLeg ... (mirrored)

Every holistic75 landmark is either the joint of a bone (above) or a *site* carried rigidly
by one bone (``SITE_BONE``): the face points by Head, the heels by the feet, the finger and
thumb tips by the Distal bones, the pose model's wrist by the forearm (the pose and hand
models' wrists are 2-5 cm apart and not rigidly so in cleaned poses; the fingers hang from
the hand model's), the pose model's coarse pinky / index / thumb points by the hands. So
forward kinematics of a rig gives all 75.

Rest pose (the T-pose every bone's rotation is relative to, all world rotations identity):
VRM 1.0's T-pose in the rig world of :mod:`skeletor.rig.axes` (Y up, facing +Z, the
person's left at +X): upright, arms straight out along +-X with palms down, fingers along
the arms, thumbs level at 45 degrees between +-X and +Z, legs straight down, feet flat and
forward. ``CANONICAL_REST`` is that pose for an average adult (metres, mid-hip at the
origin); a person's rest rig keeps its directions and takes their lengths.

How each bone's rotation is observed (``SOLVE``): an *aim* vector the bone's rest
direction is turned onto exactly, and *twist references* in priority order, each a second
vector whose component across the aim fixes the turn about it:

    Hips        aim: the hip line;            twist: the torso (mid-hip -> mid-shoulder), world up
    Spine       aim: the torso;               twist: the shoulder line, the hip line
    Neck        aim: mid-shoulder -> mid-ear; twist: the ear line, the eye line, the shoulder line
    Head        aim: the ear line (eye line, mouth line); twist: mid-ear -> mid-eye, -> nose, the neck
    Shoulder    aim: mid-shoulder -> shoulder; twist: the torso, world up
    UpperArm    aim: the upper arm;  twist: the elbow's bend plane, the chest's forward, the torso
    LowerArm    aim: elbow -> the hand's wrist point (else the pose wrist); twist: the palm's knuckle line
                (index -> pinky MCP), the bend plane, ...
    Hand        aim: wrist -> mid-knuckles; twist: the knuckle line, the palm normal; where the
                wrist and all five knuckles are detected, instead the rotation that best fits
                them (least squares; ``RigSolver`` docs)
    fingers     aim: the phalanx;    twist: across the palm (the palm normal x the hand's aim: the
                fingers' bend axis), the palm normal (thumbs: the reverse)
    UpperLeg    aim: the thigh;      twist: the knee's bend plane, the hips' forward
    LowerLeg    aim: the shin;       twist: the knee's bend plane (a knee is a hinge), the foot (ankle -> toe), the hips' forward
    Foot        aim: ankle -> toe;   twist: the heel (within 45 degrees of last frame's), the shin, the hips' forward

A bend plane counts only when the joint is bent (its weight fades in between 10 and 25
degrees) and only on the side the joint bent last frame (its weight fades out between 60
and 120 degrees away from last frame's twist), so a straight knee, an over-straightened
elbow or a foot flipped in the data never flips the limb. Chest and UpperChest take a third each of the spine's twist (the bend is
the Spine's); Toes never turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75

__all__ = [
    "BONES",
    "PARENTS",
    "NUM_BONES",
    "BONE_INDEX",
    "BONE_POINT",
    "SITE_BONE",
    "POINT_NAMES",
    "CANONICAL_REST",
    "SOLVE",
    "BoneSolve",
    "extended_points",
    "bone_index",
]

_SIDES = ("Left", "Right")
_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
_FINGER_BASE = {"Thumb": 1, "Index": 5, "Middle": 9, "Ring": 13, "Little": 17}  # first point in the 21-point hand
_PHALANGES = ("Proximal", "Intermediate", "Distal")
_HAND0 = {"Left": 33, "Right": 54}
_POSE = {  # the subject's side -> pose landmark indices
    "Left": {
        "shoulder": 11,
        "elbow": 13,
        "wrist": 15,
        "pinky": 17,
        "index": 19,
        "thumb": 21,
        "hip": 23,
        "knee": 25,
        "ankle": 27,
        "heel": 29,
        "toe": 31,
    },
    "Right": {
        "shoulder": 12,
        "elbow": 14,
        "wrist": 16,
        "pinky": 18,
        "index": 20,
        "thumb": 22,
        "hip": 24,
        "knee": 26,
        "ankle": 28,
        "heel": 30,
        "toe": 32,
    },
}

# --------------------------------------------------------------------------- extended points

# holistic75, then virtual points that are fixed linear combinations of it.
MID_HIP, MID_SHOULDER, MID_EAR, MID_EYE, CHEST_POINT, UPPER_CHEST_POINT, L_KNUCKLES, R_KNUCKLES = range(75, 83)
CHEST_AT, UPPER_CHEST_AT = 0.35, 0.70  # fractions of the way from the mid-hip to the mid-shoulder
_VIRTUAL: dict[int, dict[int, float]] = {
    MID_HIP: {23: 0.5, 24: 0.5},
    MID_SHOULDER: {11: 0.5, 12: 0.5},
    MID_EAR: {7: 0.5, 8: 0.5},
    MID_EYE: {2: 0.5, 5: 0.5},
    CHEST_POINT: {23: 0.5 * (1 - CHEST_AT), 24: 0.5 * (1 - CHEST_AT), 11: 0.5 * CHEST_AT, 12: 0.5 * CHEST_AT},
    UPPER_CHEST_POINT: {23: 0.5 * (1 - UPPER_CHEST_AT), 24: 0.5 * (1 - UPPER_CHEST_AT), 11: 0.5 * UPPER_CHEST_AT, 12: 0.5 * UPPER_CHEST_AT},
    L_KNUCKLES: {38: 0.5, 50: 0.5},  # mid of the index and pinky MCPs
    R_KNUCKLES: {59: 0.5, 71: 0.5},
}
NUM_POINTS = 83
POINT_NAMES: tuple[str, ...] = HOLISTIC75.joints + (
    "mid_hip",
    "mid_shoulder",
    "mid_ear",
    "mid_eye",
    "chest",
    "upper_chest",
    "left_knuckles",
    "right_knuckles",
)


def _point_matrix() -> np.ndarray:
    """(83, 75) weights: extended points = this @ holistic75 points."""
    m = np.zeros((NUM_POINTS, 75))
    m[np.arange(75), np.arange(75)] = 1.0
    for p, terms in _VIRTUAL.items():
        for j, w in terms.items():
            m[p, j] = w
    return m


POINT_MATRIX = _point_matrix()


def extended_points(points75: np.ndarray) -> np.ndarray:
    """(..., 83, 3) holistic75 points followed by the virtual points (NaN where a term is NaN)."""
    return np.einsum("pj,...jc->...pc", POINT_MATRIX, np.asarray(points75, dtype=np.float64))


# --------------------------------------------------------------------------- bones


def _bones() -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    names: list[str] = []
    parents: list[int] = []
    points: list[int] = []

    def add(name: str, parent: str | None, point: int) -> None:
        names.append(name)
        parents.append(-1 if parent is None else names.index(parent))
        points.append(point)

    add("Hips", None, MID_HIP)
    add("Spine", "Hips", MID_HIP)
    add("Chest", "Spine", CHEST_POINT)
    add("UpperChest", "Chest", UPPER_CHEST_POINT)
    add("Neck", "UpperChest", MID_SHOULDER)
    add("Head", "Neck", MID_EAR)
    for side in _SIDES:
        p, h = _POSE[side], _HAND0[side]
        add(f"{side}Shoulder", "UpperChest", MID_SHOULDER)
        add(f"{side}UpperArm", f"{side}Shoulder", p["shoulder"])
        add(f"{side}LowerArm", f"{side}UpperArm", p["elbow"])
        add(f"{side}Hand", f"{side}LowerArm", h)  # the hand model's wrist: the fingers hang from it
        for finger in _FINGERS:
            for i, phalanx in enumerate(_PHALANGES):
                parent = f"{side}Hand" if i == 0 else f"{side}{finger}{_PHALANGES[i - 1]}"
                add(f"{side}{finger}{phalanx}", parent, h + _FINGER_BASE[finger] + i)
    for side in _SIDES:
        p = _POSE[side]
        add(f"{side}UpperLeg", "Hips", p["hip"])
        add(f"{side}LowerLeg", f"{side}UpperLeg", p["knee"])
        add(f"{side}Foot", f"{side}LowerLeg", p["ankle"])
        add(f"{side}Toes", f"{side}Foot", p["toe"])
    return tuple(names), tuple(parents), tuple(points)


BONES, PARENTS, BONE_POINT = _bones()
NUM_BONES = len(BONES)
BONE_INDEX: dict[str, int] = {n: i for i, n in enumerate(BONES)}


def bone_index(name: str) -> int:
    """Index of the bone called ``name`` in ``BONES``; ``KeyError`` names the bones."""
    try:
        return BONE_INDEX[name]
    except KeyError:
        raise KeyError(f"no bone {name!r}; the rig's bones are {', '.join(BONES)}") from None


def _sites() -> np.ndarray:
    """(75,) the bone each holistic75 landmark belongs to: its joint, or the bone carrying it."""
    site = np.full(75, -1, dtype=np.int64)
    for b, p in enumerate(BONE_POINT):
        if p < 75:
            site[p] = b
    head = BONE_INDEX["Head"]
    site[:11] = head  # nose, eyes, ears, mouth
    for side in _SIDES:
        p, h = _POSE[side], _HAND0[side]
        hand = BONE_INDEX[f"{side}Hand"]
        site[[p["pinky"], p["index"], p["thumb"]]] = hand
        site[p["wrist"]] = BONE_INDEX[f"{side}LowerArm"]  # the pose model's wrist: where its forearm ends
        site[p["heel"]] = BONE_INDEX[f"{side}Foot"]
        for finger in _FINGERS:
            site[h + _FINGER_BASE[finger] + 3] = BONE_INDEX[f"{side}{finger}Distal"]  # the tip
    assert (site >= 0).all()
    return site


SITE_BONE = _sites()

# --------------------------------------------------------------------------- canonical T-pose


def _canonical_rest() -> np.ndarray:
    """(75, 3) an average adult's T-pose in the rig world (metres, mid-hip at the origin)."""
    x = np.zeros((75, 3))
    # The subject's left side, built at +x; the right side is its mirror image.
    left: dict[int, tuple[float, float, float]] = {
        23: (0.09, 0.0, 0.0), 25: (0.09, -0.43, 0.0), 27: (0.09, -0.85, 0.0),
        11: (0.19, 0.50, 0.0), 13: (0.48, 0.50, 0.0), 15: (0.74, 0.50, 0.0),
        7: (0.075, 0.67, 0.0),  # ears: mid-ear 17 cm above the mid-shoulder
        1: (0.015, 0.685, 0.085), 2: (0.032, 0.685, 0.083), 3: (0.045, 0.685, 0.078),  # eyes 10 degrees above the ear line
        9: (0.024, 0.625, 0.09),
    }  # fmt: skip
    beta = np.radians(20.0)  # the foot's ankle -> toe tip line, standing flat: 7.5 cm ankle height over 19 cm
    left[31] = tuple(np.array(left[27]) + 0.19 * np.array([0.0, -np.sin(beta), np.cos(beta)]))
    left[29] = tuple(np.array(left[27]) + np.array([0.0, -0.06, -0.05]))  # heel: low and behind the ankle
    wrist = np.array(left[15])
    # Knuckles: index and pinky placed evenly about the wrist's line, so the hand points along x.
    palm = {1: (0.025, -0.012, 0.025), 5: (0.085, 0.0, 0.029), 9: (0.088, 0.0, 0.009), 13: (0.083, 0.0, -0.010), 17: (0.075, 0.0, -0.029)}
    phalanx = {
        1: (0.040, 0.032, 0.027),
        5: (0.045, 0.026, 0.022),
        9: (0.050, 0.030, 0.023),
        13: (0.046, 0.029, 0.022),
        17: (0.035, 0.021, 0.020),
    }
    h = 33
    left[h] = tuple(wrist)
    for k, off in palm.items():
        direction = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0) if k == 1 else np.array([1.0, 0.0, 0.0])
        p = wrist + np.array(off)
        left[h + k] = tuple(p)
        for i, length in enumerate(phalanx[k]):
            p = p + length * direction
            left[h + k + i + 1] = tuple(p)
    left[17], left[19], left[21] = left[h + 17], left[h + 5], left[h + 2]  # the pose model's coarse hand points
    for j, v in left.items():
        x[j] = v
    mirror = HOLISTIC75.mirror
    for j, v in left.items():
        m = int(mirror[j]) if j < 33 else j + 21
        if m != j:
            x[m] = (-v[0], v[1], v[2])
    x[0] = (0.0, 0.655, 0.105)  # nose tip
    return x


CANONICAL_REST = _canonical_rest()

# --------------------------------------------------------------------------- observed vectors and solve specs

# A vector is ("d", to, from): point[to] - point[from] (extended points), ("x", a, b): the cross
# product of two named vectors (a cross product may take at most one other), or ("c", (x, y, z)):
# a constant world direction.
_VectorDef = tuple


def _vectors() -> dict[str, _VectorDef]:
    v: dict[str, _VectorDef] = {
        "up": ("c", (0.0, 1.0, 0.0)),
        "hip_line": ("d", 23, 24),
        "torso": ("d", MID_SHOULDER, MID_HIP),
        "shoulder_line": ("d", 11, 12),
        "neck": ("d", MID_EAR, MID_SHOULDER),
        "ear_line": ("d", 7, 8),
        "eye_line": ("d", 3, 6),
        "mouth_line": ("d", 9, 10),
        "face_forward": ("d", MID_EYE, MID_EAR),
        "nose_forward": ("d", 0, MID_EAR),
    }
    v["chest_forward"] = ("x", "shoulder_line", "torso")
    v["hips_forward"] = ("x", "hip_line", "torso")
    for side in _SIDES:
        p, h = _POSE[side], _HAND0[side]
        s = side[0]
        knuckles = L_KNUCKLES if side == "Left" else R_KNUCKLES
        v[f"clavicle{s}"] = ("d", p["shoulder"], MID_SHOULDER)
        v[f"upper_arm{s}"] = ("d", p["elbow"], p["shoulder"])
        v[f"forearm{s}"] = ("d", p["wrist"], p["elbow"])
        v[f"forearm_hand{s}"] = ("d", h, p["elbow"])
        v[f"elbow_axis{s}"] = ("x", f"upper_arm{s}", f"forearm{s}")
        v[f"hand{s}"] = ("d", knuckles, h)
        v[f"knuckle_line{s}"] = ("d", h + 5, h + 17)
        v[f"palm_a{s}"] = ("d", h + 5, h)
        v[f"palm_b{s}"] = ("d", h + 17, h)
        v[f"palm_normal{s}"] = ("x", f"palm_a{s}", f"palm_b{s}")
        v[f"palm_across{s}"] = ("x", f"palm_normal{s}", f"hand{s}")  # the knuckle line made square to the hand
        for finger in _FINGERS:
            k = h + _FINGER_BASE[finger]
            for i in range(3):
                v[f"{finger}{i}{s}"] = ("d", k + i + 1, k + i)
        v[f"thigh{s}"] = ("d", p["knee"], p["hip"])
        v[f"shin{s}"] = ("d", p["ankle"], p["knee"])
        v[f"knee_axis{s}"] = ("x", f"thigh{s}", f"shin{s}")
        v[f"foot{s}"] = ("d", p["toe"], p["ankle"])
        v[f"heel{s}"] = ("d", p["heel"], p["ankle"])
        v[f"shin_up{s}"] = ("d", p["knee"], p["ankle"])
    return v


VECTORS = _vectors()
VECTOR_NAMES: tuple[str, ...] = tuple(VECTORS)
# Rest directions of the hinge axes: the T-pose is straight, so they come from the bend a
# joint makes: an elbow folds the forearm forward (+Z), a knee folds the shin backward (-Z).
_HINGE_REST = {
    "elbow_axisL": np.cross([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
    "elbow_axisR": np.cross([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
    "knee_axisL": np.cross([0.0, -1.0, 0.0], [0.0, 0.0, -1.0]),
    "knee_axisR": np.cross([0.0, -1.0, 0.0], [0.0, 0.0, -1.0]),
}


def rest_vector(name: str, rest75: np.ndarray = CANONICAL_REST) -> np.ndarray:
    """(3,) the vector ``name`` in a rest pose (hinge axes: their bent-joint direction)."""
    if name in _HINGE_REST:
        return np.asarray(_HINGE_REST[name], dtype=np.float64)
    kind, a, b = (*VECTORS[name], None)[:3]
    if kind == "c":
        return np.asarray(a, dtype=np.float64)
    if kind == "x":
        return np.cross(rest_vector(a, rest75), rest_vector(b, rest75))
    pts = extended_points(rest75)
    return pts[a] - pts[b]


@dataclass(frozen=True)
class BoneSolve:
    """How one bone's world rotation is observed (see the module docstring).

    Attributes:
        aims: vector names, first valid one wins (all point the same way in the rest pose).
        twists: (vector name, gate degrees or None) in priority order; a gated reference
            counts only within that angle of what the lower-priority ones give.
        fixed: ``"twist"`` (a share of the Spine's twist: Chest, UpperChest) or ``"identity"``
            (Toes); such a bone is not solved from vectors.
    """

    aims: tuple[str, ...] = ()
    twists: tuple[tuple[str, float | None], ...] = ()
    fixed: str | None = None


def _solve_specs() -> tuple[BoneSolve, ...]:
    specs: dict[str, BoneSolve] = {
        "Hips": BoneSolve(("hip_line",), (("torso", None), ("up", None))),
        "Spine": BoneSolve(("torso",), (("shoulder_line", None), ("hip_line", None))),
        "Chest": BoneSolve(fixed="twist"),
        "UpperChest": BoneSolve(fixed="twist"),
        "Neck": BoneSolve(("neck",), (("ear_line", None), ("eye_line", None), ("shoulder_line", None))),
        "Head": BoneSolve(("ear_line", "eye_line", "mouth_line"), (("face_forward", None), ("nose_forward", None), ("neck", None))),
    }
    for side in _SIDES:
        s = side[0]
        specs[f"{side}Shoulder"] = BoneSolve((f"clavicle{s}",), (("torso", None), ("up", None)))
        specs[f"{side}UpperArm"] = BoneSolve((f"upper_arm{s}",), ((f"elbow_axis{s}", 90.0), ("chest_forward", None), ("torso", None)))
        specs[f"{side}LowerArm"] = BoneSolve(
            (f"forearm_hand{s}", f"forearm{s}"),
            ((f"knuckle_line{s}", None), (f"elbow_axis{s}", 90.0), ("chest_forward", None), ("torso", None)),
        )
        specs[f"{side}Hand"] = BoneSolve((f"hand{s}",), ((f"knuckle_line{s}", None), (f"palm_normal{s}", None)))
        for finger in _FINGERS:
            refs = (((f"palm_normal{s}", None), (f"palm_across{s}", None)) if finger == "Thumb"
                    else ((f"palm_across{s}", None), (f"palm_normal{s}", None)))  # fmt: skip
            for i, phalanx in enumerate(_PHALANGES):
                specs[f"{side}{finger}{phalanx}"] = BoneSolve((f"{finger}{i}{s}",), refs)
        specs[f"{side}UpperLeg"] = BoneSolve((f"thigh{s}",), ((f"knee_axis{s}", 90.0), ("hips_forward", None)))
        specs[f"{side}LowerLeg"] = BoneSolve((f"shin{s}",), ((f"knee_axis{s}", 90.0), (f"foot{s}", None), ("hips_forward", None)))
        specs[f"{side}Foot"] = BoneSolve((f"foot{s}",), ((f"heel{s}", 45.0), (f"shin_up{s}", None), ("hips_forward", None)))
        specs[f"{side}Toes"] = BoneSolve(fixed="identity")
    return tuple(specs[name] for name in BONES)


SOLVE = _solve_specs()
