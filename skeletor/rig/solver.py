"""The streaming rig solver: cleaned holistic75 3D poses in, a humanoid rig out, frame by frame.

One module, longer than most: calibration, the per-bone solve, twist, continuity and the
floor act on the same per-frame state; split, each part would need all of it.

In: one cleaned frame at a time (``StreamingCleaner`` output): (75, 3) float32 camera-frame
points (x right, y down, z forward, metres; NaN = missing) and (75,) confidences.
Out: a :class:`RigFrame`: the Hips position (metres) in the rig world and every bone's
local rotation (unit quaternion x, y, z, w) relative to the rest T-pose, on the bones of
:mod:`skeletor.rig.humanoid` (Unity ``HumanBodyBones`` names). Axes: :mod:`skeletor.rig.axes`
(right-handed, Y up, floor at y = 0, the rest pose facing +Z; ``AXES``).

Causal and O(1) a frame: nothing looks ahead, and every frame is a fixed number of
vectorised numpy operations (no loop over bones; a loop over the tree's 11 levels only in
frames where a solved bone hangs from a held one). ~0.5 ms a frame on the project's 2-core
CPU (``skeletor bench rig``).

Rotations (see :mod:`skeletor.rig.humanoid` for which landmarks turn which bone)
    Each bone's world rotation turns its rest direction exactly onto the observed aim
    vector; the turn about it comes from its twist references, blended by how well each is
    defined this frame, starting from last frame's twist, so the twist stays where it was
    when no reference is usable. The Hand is the exception where its wrist and five
    knuckles are detected: the rotation that best fits them (Kabsch), since the rig's palm
    is rigid and the detected one is not. Local rotation = parent's world^-1 * world. Each
    quaternion takes the sign nearest last frame's (no hemisphere flips).

Anatomical limits (:mod:`skeletor.rig.limits`)
    Each solved local rotation's twist about its bone's rest axis is kept within the range
    in ``TWIST_LIMITS`` (neck and head turn, forearm roll shared with the hand, foot, finger
    phalanges); the swing is kept, so joints on the bone's axis do not move, and the twist a
    finger phalanx gives up goes to the next one, so the finger below it does not move
    either. A twist passing its limit holds there; an ease between two rotations is kept in
    range too.

Missing joints and continuity
    A joint counts as detected when it is finite with confidence >= ``min_confidence``
    (the cleaner carries a lost joint with fading confidence, so a short loss stays
    detected). A bone whose aim is not detected holds its last local rotation
    (``RigFrame.valid`` False); when it comes back it eases from the held rotation to the
    observed one over ``ease_s`` seconds. A bone whose local rotation would turn more than
    ``max_step_deg`` in one frame (a 180 degree flip of a twist reference) eases there the
    same way instead of jumping. When the hips are not detected (an upper-body framing)
    the Hips hold their rotation (the rest pose's if never seen) and hang under the
    shoulders as in the rest pose: the torso's turn goes to the Spine, its tilt to the
    clavicles.

Rest rig and calibration
    Bone lengths, the palm's shape (knuckles around the wrist) and the face's shape (eyes,
    ears, nose, mouth around the mid-ear) are the medians of the person's cleaned poses over
    the first ``calibration_s`` seconds in which the shoulders are detected; the cleaned
    poses already have the cleaner's fixed bone lengths, so this is the cleaner's rig. A
    quantity whose landmarks were not detected then takes the cleaner's undetected estimate
    (or an average adult's proportions scaled to the shoulders) and is measured again once
    they have been detected for as many frames; each such update bumps ``rig_version``.
    After that the rig is held. Directions come from the T-pose, except the heel, which
    takes an average foot's shape scaled to the person's ankle-to-toe length: the cleaned
    heel is not reliable enough to place it (19.6 cm from the ankle on the real dance clip).
    :meth:`RigSolver.calibrate` calibrates from a whole clip instead (``export-bvh``).

Floor and origin
    The floor is the lowest point of the rig's detected feet (heel and toe sites): set when
    the feet are first detected (so they stand on y = 0), then followed slowly, faster down
    (``floor_fall_s``) than up (``floor_rise_s``) so a jump does not lift it. Until feet
    are seen the floor is where the rest rig's feet would stand under the first frame's
    Hips. The origin's x and z are the Hips' at calibration (``origin="person"``) or the
    camera's (``origin="camera"``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from skeletor.rig.axes import AXES
from skeletor.rig.humanoid import (
    BONE_INDEX,
    BONES,
    CANONICAL_REST,
    MID_EAR,
    MID_HIP,
    MID_SHOULDER,
    NUM_BONES,
    PARENTS,
    POINT_MATRIX,
    SOLVE,
    VECTOR_NAMES,
    VECTORS,
    extended_points,
    rest_vector,
)
from skeletor.rig.kinematics import LEVELS, RestRig
from skeletor.rig.limits import TwistLimiter
from skeletor.rig.quaternion import align_signs, quat_from_matrix, quat_slerp, quat_to_matrix

__all__ = ["AXES", "BONES", "PARENTS", "RigConfig", "RigFrame", "RigSolver", "RestRig"]

log = logging.getLogger(__name__)

_FLIP = np.array([1.0, -1.0, -1.0])  # camera axes -> rig world axes (see skeletor.rig.axes)
_EPS = 1e-9
# A twist reference's weight rises from 0 to 1 as its component across the aim (sine of the
# angle between them) goes from LO to HI; for a bend axis (a cross product) the measure is
# the sine of the joint's bend.
_TWIST_LO, _TWIST_HI = math.sin(math.radians(10.0)), math.sin(math.radians(30.0))
_BEND_LO, _BEND_HI = math.sin(math.radians(10.0)), math.sin(math.radians(25.0))
_GATE_SOFT = 30.0  # degrees either side of a gate over which a reference's weight fades (no jumps)


@dataclass(frozen=True)
class RigConfig:
    """Settings of :class:`RigSolver`.

    Attributes:
        min_confidence: a joint counts as detected at or above this confidence (and finite).
            0.5 keeps the cleaner's carried estimates for about the first 10 frames of a
            loss (their confidence fades 4 % a frame), then holds.
        fps: frame rate assumed when ``push`` gets no timestamps (seconds = index / fps).
        calibration_s: seconds of detected shoulders before the rest rig is measured and
            the first frame is emitted.
        ease_s: seconds a returning (or flipping) bone takes to ease to its observed rotation.
        max_step_deg: a local rotation turning more than this in one frame eases instead
            of jumping (the flip guard); natural motion stays far below it.
        forget_after_s: after this long with no one, the next person is calibrated afresh.
        floor_rise_s, floor_fall_s: time constants of the floor following the lowest foot
            point up and down.
        origin: ``"person"`` (x, z of the Hips at calibration are the origin) or ``"camera"``.
    """

    min_confidence: float = 0.3
    fps: float = 30.0
    calibration_s: float = 0.5
    ease_s: float = 0.25
    max_step_deg: float = 100.0
    forget_after_s: float = 2.0
    floor_rise_s: float = 5.0
    floor_fall_s: float = 1.0
    origin: str = "person"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be > 0, got {self.fps!r}")
        for name in ("calibration_s", "ease_s", "forget_after_s", "floor_rise_s", "floor_fall_s"):
            v = getattr(self, name)
            if not v >= 0:  # (inf is allowed: never)
                raise ValueError(f"{name} must be >= 0 seconds, got {v!r}")
        if not 0.0 < self.max_step_deg <= 180.0:
            raise ValueError(f"max_step_deg must be in (0, 180], got {self.max_step_deg!r}")
        if self.origin not in ("person", "camera"):
            raise ValueError(f"origin must be 'person' or 'camera', got {self.origin!r}")


@dataclass
class RigFrame:
    """One solved frame.

    Attributes:
        index: count of frames pushed before this one (from 0, since the solver's creation or reset).
        timestamp: the timestamp given with the frame (None if none was).
        hips_position: (3,) float32 metres, the Hips joint (mid-hip) in the rig world.
        rotations: (B, 4) float32 unit quaternions (x, y, z, w): each bone's local rotation
            relative to the rest T-pose, in ``BONES`` order.
        valid: (B,) bool, True where the bone's rotation was observed this frame; False
            where it is held (not detected), easing back, or derived (the spine of a person
            whose hips are not detected).
        world_offset: (3,) float64: rig world = diag(1, -1, -1) @ camera - world_offset
            (:func:`skeletor.rig.axes.camera_to_world`), this frame's floor and origin.
        rig_version: the rest rig this frame belongs to (``RigSolver.rig_version``).
    """

    index: int
    timestamp: float | None
    hips_position: np.ndarray
    rotations: np.ndarray
    valid: np.ndarray
    world_offset: np.ndarray
    rig_version: int


# --------------------------------------------------------------------------- static tables


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > _EPS, n, 1.0)


_I1, _I2 = np.array([1, 2, 0]), np.array([2, 0, 1])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (numpy's ``cross`` costs ~10x more on small arrays)."""
    return a[..., _I1] * b[..., _I2] - a[..., _I2] * b[..., _I1]


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


class _Tables:
    """Index arrays for the vectorised solve, built once from :mod:`skeletor.rig.humanoid`."""

    def __init__(self) -> None:
        kinds = {n: VECTORS[n][0] for n in VECTOR_NAMES}
        nested = {n for n in VECTOR_NAMES if kinds[n] == "x" and "x" in (kinds[VECTORS[n][1]], kinds[VECTORS[n][2]])}
        order = (
            [n for n in VECTOR_NAMES if kinds[n] == "d"]
            + [n for n in VECTOR_NAMES if kinds[n] == "c"]
            + [n for n in VECTOR_NAMES if kinds[n] == "x" and n not in nested]
            + [n for n in VECTOR_NAMES if n in nested]
        )
        self.vi = {n: i for i, n in enumerate(order)}
        lin = [n for n in order if kinds[n] == "d"]
        self.n_lin = len(lin)
        self.lin_w = np.stack([POINT_MATRIX[VECTORS[n][1]] - POINT_MATRIX[VECTORS[n][2]] for n in lin])  # (L, 75)
        support = np.stack([(POINT_MATRIX[VECTORS[n][1]] != 0) | (POINT_MATRIX[VECTORS[n][2]] != 0) for n in lin])
        self.lin_support = support.astype(np.float64)  # (L, 75)
        self.const = np.array([VECTORS[n][1] for n in order if kinds[n] == "c"], dtype=np.float64).reshape(-1, 3)
        cross = [n for n in order if kinds[n] == "x"]
        self.cross_a = np.array([self.vi[VECTORS[n][1]] for n in cross], dtype=np.int64)
        self.cross_b = np.array([self.vi[VECTORS[n][2]] for n in cross], dtype=np.int64)
        self.is_cross = np.array([kinds[n] == "x" for n in order])
        self.n_cross1 = len(cross) - len(nested)  # crosses of plain vectors; the rest take one of those
        self.n_vec = len(order)

        solved = [b for b, s in enumerate(SOLVE) if s.fixed is None]
        self.solved = np.array(solved, dtype=np.int64)
        ka = max(len(SOLVE[b].aims) for b in solved)
        k = max(len(SOLVE[b].twists) for b in solved)
        n = len(solved)
        self.aim = np.zeros((n, ka), dtype=np.int64)
        self.aim_mask = np.zeros((n, ka), dtype=bool)
        self.ref = np.zeros((n, k), dtype=np.int64)
        self.ref_mask = np.zeros((n, k), dtype=bool)
        self.gate_lo = np.full((n, k), -3.0)  # gate: the weight fades out as the cosine to the
        self.gate_hi = np.full((n, k), -2.0)  # lower-priority twist falls from gate_hi to gate_lo
        self.lo = np.zeros((n, k))
        self.hi = np.ones((n, k))
        self.coef = np.zeros((n, k, 2))
        self.rest_frame = np.zeros((n, 3, 3))
        for i, b in enumerate(solved):
            spec = SOLVE[b]
            a_rest = _unit(rest_vector(spec.aims[0]))
            for j, name in enumerate(spec.aims):
                self.aim[i, j], self.aim_mask[i, j] = self.vi[name], True
                if np.dot(_unit(rest_vector(name)), a_rest) < 0.99:
                    raise AssertionError(f"{BONES[b]}: aim {name} does not point like {spec.aims[0]} in the rest pose")
            e = None
            for j, (name, gate) in enumerate(spec.twists):
                r = rest_vector(name)
                rho = r - np.dot(r, a_rest) * a_rest
                if np.linalg.norm(rho) < 0.2 * np.linalg.norm(r):
                    raise AssertionError(f"{BONES[b]}: twist reference {name} is along the bone in the rest pose")
                rho = _unit(rho)
                e = rho if e is None else e
                self.ref[i, j], self.ref_mask[i, j] = self.vi[name], True
                if gate is not None:
                    self.gate_lo[i, j] = math.cos(math.radians(min(gate + _GATE_SOFT, 180.0)))
                    self.gate_hi[i, j] = math.cos(math.radians(max(gate - _GATE_SOFT, 0.0)))
                bend = kinds[name] == "x"
                self.lo[i, j], self.hi[i, j] = (_BEND_LO, _BEND_HI) if bend else (_TWIST_LO, _TWIST_HI)
                self.coef[i, j] = (np.dot(e, rho), np.dot(e, np.cross(a_rest, rho)))  # e in candidate j's rest frame
            assert e is not None
            self.rest_frame[i] = np.stack([a_rest, e, np.cross(a_rest, e)], axis=-1)  # columns
        self.rest_frame_t = np.swapaxes(self.rest_frame, -1, -2)
        self.inv_span = 1.0 / (self.hi - self.lo)
        self.gate_inv = 1.0 / (self.gate_hi - self.gate_lo)
        self.parents = np.asarray(PARENTS, dtype=np.int64)
        self.spine, self.chest, self.upper_chest, self.hips = (BONE_INDEX[n] for n in ("Spine", "Chest", "UpperChest", "Hips"))
        self.toes = np.array([BONE_INDEX["LeftToes"], BONE_INDEX["RightToes"]])
        self.feet = np.array([BONE_INDEX["LeftFoot"], BONE_INDEX["RightFoot"]])
        self.legs = [[BONE_INDEX[f"{side}{b}"] for b in ("UpperLeg", "LowerLeg", "Foot")] for side in ("Left", "Right")]
        self.leg_chain = [BONE_INDEX["Hips"]] + self.legs[0] + self.legs[1]
        self.soles = [(29, 31, 27), (30, 32, 28)]  # heel, toe tip, ankle of each foot
        slot = {b: i for i, b in enumerate(solved)}
        self.palm_slot = np.array([slot[BONE_INDEX["LeftHand"]], slot[BONE_INDEX["RightHand"]]])  # in ``solved``
        if not np.allclose(_unit(rest_vector(SOLVE[self.spine].aims[0])), [0.0, 1.0, 0.0]):
            raise AssertionError("the spine's twist split assumes the torso points along +Y at rest")


_T = _Tables()
_POINT_SUPPORT = (POINT_MATRIX != 0).astype(np.float64)  # (83, 75)


def _ancestors() -> np.ndarray:
    """(B, B) float: [b, a] = 1 where bone a is a proper ancestor of bone b."""
    anc = np.zeros((NUM_BONES, NUM_BONES))
    for b in range(NUM_BONES):
        p = PARENTS[b]
        while p >= 0:
            anc[b, p] = 1.0
            p = PARENTS[p]
    return anc


_ANCESTORS = _ancestors()

# --------------------------------------------------------------------------- calibration quantities

_SIDE = {"L": {"sh": 11, "el": 13, "wr": 15, "hip": 23, "knee": 25, "ankle": 27, "heel": 29, "toe": 31, "h": 33, "coarse": (17, 19, 21)},
         "R": {"sh": 12, "el": 14, "wr": 16, "hip": 24, "knee": 26, "ankle": 28, "heel": 30, "toe": 32, "h": 54, "coarse": (18, 20, 22)}}  # fmt: skip
_FINGER_BASES = {"Thumb": 1, "Index": 5, "Middle": 9, "Ring": 13, "Little": 17}


def _segments() -> list[tuple[str, int, int]]:
    """(name, from point, to point) of every length in the rest rig (extended point indices)."""
    seg = [("hip", MID_HIP, 23), ("torso", MID_HIP, MID_SHOULDER), ("clavicle", MID_SHOULDER, 11), ("neck", MID_SHOULDER, MID_EAR)]
    for s, p in _SIDE.items():
        seg += [(f"upper_arm{s}", p["sh"], p["el"]), (f"forearm{s}", p["el"], p["h"]), (f"forearm_pose{s}", p["el"], p["wr"]), (f"thigh{s}", p["hip"], p["knee"]),
                (f"shin{s}", p["knee"], p["ankle"]), (f"foot{s}", p["ankle"], p["toe"])]  # fmt: skip
        for finger, k in _FINGER_BASES.items():
            seg += [(f"{finger}{i}{s}", p["h"] + k + i, p["h"] + k + i + 1) for i in range(3)]
    return seg


_SEGMENTS = _segments()
_SEG_INDEX = {name: i for i, (name, _, _) in enumerate(_SEGMENTS)}
_SEG_FROM = np.array([a for _, a, _ in _SEGMENTS], dtype=np.int64)
_SEG_TO = np.array([b for _, _, b in _SEGMENTS], dtype=np.int64)
_SEG_SUPPORT = ((POINT_MATRIX[_SEG_FROM] != 0) | (POINT_MATRIX[_SEG_TO] != 0)).astype(np.float64)  # (S, 75)
# Layouts: points carried rigidly by a bone, measured in the bone's solved frame.
_PALM_POINTS = {s: np.array([p["h"] + 1, p["h"] + 5, p["h"] + 9, p["h"] + 13, p["h"] + 17, *p["coarse"]]) for s, p in _SIDE.items()}
_PALM_WRISTS = np.array([_SIDE[s]["h"] for s in ("L", "R")])  # the hand model's wrist of each hand
_PALM_KNUCKLES = np.stack([_PALM_POINTS[s][:5] for s in ("L", "R")])  # (2, 5) thumb base and the four knuckles
_FACE_POINTS = np.arange(11)
_LAYOUTS = {"palmL": (BONE_INDEX["LeftHand"], 33, _PALM_POINTS["L"]), "palmR": (BONE_INDEX["RightHand"], 54, _PALM_POINTS["R"]),
            "wristL": (BONE_INDEX["LeftLowerArm"], 13, np.array([15])), "wristR": (BONE_INDEX["RightLowerArm"], 14, np.array([16])),
            "face": (BONE_INDEX["Head"], MID_EAR, _FACE_POINTS)}  # fmt: skip
_CANON_EXT = extended_points(CANONICAL_REST)
_CANON_LENGTHS = np.linalg.norm(_CANON_EXT[_SEG_TO] - _CANON_EXT[_SEG_FROM], axis=-1)
_CANON_LAYOUTS = {k: CANONICAL_REST[pts] - _CANON_EXT[origin] for k, (_, origin, pts) in _LAYOUTS.items()}
_CANON_HEEL = {s: CANONICAL_REST[p["heel"]] - CANONICAL_REST[p["ankle"]] for s, p in _SIDE.items()}


def build_rest(lengths: dict[str, float], layouts: dict[str, np.ndarray]) -> np.ndarray:
    """(75, 3) the rest T-pose from segment lengths and layouts (directions from ``CANONICAL_REST``).

    Args:
        lengths: metres for every segment name of the rig (``_SEGMENTS``).
        layouts: ``palmL``, ``palmR`` (9, 3) and ``face`` (11, 3) offsets in the carrying
            bone's rest frame (world axes at rest), from the wrist and the mid-ear.

    Returns:
        The landmarks, mid-hip at the origin.
    """
    c = CANONICAL_REST
    r = np.zeros((75, 3))
    x, y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    r[23], r[24] = lengths["hip"] * x, -lengths["hip"] * x
    mid_sh = lengths["torso"] * y
    r[11], r[12] = mid_sh + lengths["clavicle"] * x, mid_sh - lengths["clavicle"] * x
    r[_FACE_POINTS] = mid_sh + lengths["neck"] * y + layouts["face"]
    for s, p in _SIDE.items():
        sign = 1.0 if s == "L" else -1.0
        r[p["el"]] = r[p["sh"]] + sign * lengths[f"upper_arm{s}"] * x
        r[p["h"]] = r[p["el"]] + sign * lengths[f"forearm{s}"] * x
        r[p["wr"]] = r[p["el"]] + layouts[f"wrist{s}"][0]
        r[_PALM_POINTS[s]] = r[p["h"]] + layouts[f"palm{s}"]
        h = p["h"]
        for finger, k in _FINGER_BASES.items():
            direction = _unit(c[h + k + 3] - c[h + k])  # a straight finger: one direction for its three bones
            for i in range(3):
                r[h + k + i + 1] = r[h + k + i] + lengths[f"{finger}{i}{s}"] * direction
        r[p["knee"]] = r[p["hip"]] - lengths[f"thigh{s}"] * y
        r[p["ankle"]] = r[p["knee"]] - lengths[f"shin{s}"] * y
        foot = lengths[f"foot{s}"]
        r[p["toe"]] = r[p["ankle"]] + foot * _unit(c[p["toe"]] - c[p["ankle"]])
        r[p["heel"]] = r[p["ankle"]] + _CANON_HEEL[s] * (foot / np.linalg.norm(c[p["toe"]] - c[p["ankle"]]))
    return r


class _Calibration:
    """Samples of the rest rig's quantities, and which are still being measured."""

    def __init__(self) -> None:
        self.lengths_detected: list[np.ndarray] = []  # per frame (S,), NaN where not detected
        self.count = np.zeros(len(_SEGMENTS), dtype=np.int64)  # detected samples of each length
        self.lengths_any: list[np.ndarray] = []  # per frame (S,), NaN where not finite
        self.layouts: dict[str, list[np.ndarray]] = {k: [] for k in _LAYOUTS}
        self.window = 0  # frames in the first window (set when the rig is first built)
        self.pending_lengths = np.ones(len(_SEGMENTS), dtype=bool)
        self.pending_layouts = {k: True for k in _LAYOUTS}
        self.lengths = _CANON_LENGTHS.copy()
        self.layout_values = {k: v.copy() for k, v in _CANON_LAYOUTS.items()}

    @property
    def pending(self) -> bool:
        return bool(self.pending_lengths.any() or any(self.pending_layouts.values()))

    def rest(self) -> np.ndarray:
        return build_rest({name: float(self.lengths[i]) for i, (name, _, _) in enumerate(_SEGMENTS)}, self.layout_values)


# --------------------------------------------------------------------------- the solver


class RigSolver:
    """Streaming rig solver (see the module docstring). One instance per person stream.

    Typical use::

        solver = RigSolver(RigConfig())
        for frame in cleaner_frames:
            rig = solver.push(frame.pose, frame.confidence, frame.timestamp)
            if rig is not None:
                positions = forward_kinematics(solver.rest_offsets, rig.hips_position, rig.rotations)
    """

    def __init__(self, config: RigConfig = RigConfig()) -> None:
        """Args:
        config: settings.
        """
        self.config = config
        self.reset()

    # ------------------------------------------------------------------ public state

    @property
    def calibrated(self) -> bool:
        """True once the rest rig has been measured (frames are emitted from then on)."""
        return self._rig_version > 0

    @property
    def rig_version(self) -> int:
        """0 before calibration; +1 each time the rest rig changes (a client re-reads ``rest_offsets``)."""
        return self._rig_version

    @property
    def rest_rig(self) -> RestRig:
        """The current rest rig (the average adult's before calibration)."""
        return self._rest

    @property
    def rest_offsets(self) -> np.ndarray:
        """(B, 3) float32 metres: each bone's rest offset from its parent's joint (rig world axes)."""
        return self._rest.offsets.astype(np.float32)

    @property
    def flips_guarded(self) -> int:
        """How many times a bone's rotation would have jumped more than ``max_step_deg`` and eased instead."""
        return self._flips

    def reset(self) -> None:
        """Forget the person: calibration, held rotations, floor and origin."""
        self._rig_version = 0
        self._cal = _Calibration()
        self._rest = RestRig(CANONICAL_REST.copy())
        self._pushed = 0
        self._first_t: float | None = None  # when the current person's shoulders were first detected
        self._last_person_t: float | None = None
        self._prev_t: float | None = None
        self._dt = 1.0 / self.config.fps  # seconds since the last push
        self._u = np.ascontiguousarray(_T.rest_frame[:, :, 1])  # (S, 3) last twist direction of each solved bone (world)
        self._quat = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (NUM_BONES, 1))  # (B, 4) last output quaternions
        self._used = np.zeros(NUM_BONES, dtype=bool)  # bones solved (not held) last frame
        self._ease_from = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (NUM_BONES, 1))
        self._ease = np.ones(NUM_BONES)  # ease progress, 1 = done
        self._flips = 0
        self._limiter = TwistLimiter()  # anatomical twist ranges (skeletor.rig.limits)
        self._limited = np.zeros(NUM_BONES, dtype=bool)
        self._limited[self._limiter.limited] = True
        self._started = False  # a rig has been emitted since the last reset
        self._floor: float | None = None
        self._feet_seen = False
        self._origin_xz: np.ndarray | None = None

    # ------------------------------------------------------------------ calibration

    def calibrate(self, poses: np.ndarray, confidence: np.ndarray | None = None) -> None:
        """Measure the rest rig from a whole clip (medians over its frames), then hold it.

        For offline use (``export-bvh``): frames pushed afterwards are emitted from the
        first one. Quantities the clip never shows detected take the undetected estimates
        or the average adult's proportions (see the module docstring).

        Args:
            poses: (T, 75, 3) camera-frame metres, NaN where missing.
            confidence: (T, 75) or None (every finite joint detected).

        Raises:
            ValueError: wrong shapes, or no frame with both shoulders detected.
        """
        p = np.asarray(poses, dtype=np.float64)
        if p.ndim != 3 or p.shape[1:] != (75, 3):
            raise ValueError(f"poses: expected (T, 75, 3) holistic75 joints, got shape {p.shape}")
        c = np.ones(p.shape[:2]) if confidence is None else np.asarray(confidence, dtype=np.float64)
        if c.shape != p.shape[:2]:
            raise ValueError(f"confidence: expected shape {p.shape[:2]}, got {c.shape}")
        cal = _Calibration()
        u = self._u.copy()
        frames = 0
        for t in range(len(p)):
            frame = self._prepare(p[t], c[t])
            if frame is None:
                continue
            world, _, u, bone_det = self._solve(frame, u)
            self._sample(cal, frame, world, bone_det)
            frames += 1
        if frames == 0:
            raise ValueError("no frame shows both shoulders detected: cannot calibrate the rig")
        self._finish_calibration(cal, frames, final=True)

    def _sample(self, cal: _Calibration, frame: dict, world: np.ndarray, bone_detected: np.ndarray) -> None:
        """Add one frame's lengths and layouts to ``cal`` (after the first rig: only what is still pending)."""
        pts, raw = frame["points"], frame["raw_points"]
        seg_det = (_SEG_SUPPORT @ (~frame["detected"]).astype(np.float64)) == 0
        first = self._rig_version == 0
        if first or (seg_det & cal.pending_lengths).any():  # bounded: each kept row adds to a pending count
            lengths = np.linalg.norm(pts[_SEG_TO] - pts[_SEG_FROM], axis=-1)
            cal.lengths_detected.append(np.where(seg_det, lengths, np.nan))
            cal.count += seg_det
        if first:
            cal.lengths_any.append(np.linalg.norm(raw[_SEG_TO] - raw[_SEG_FROM], axis=-1))
        for key, (bone, origin, idx) in _LAYOUTS.items():
            if cal.pending_layouts[key] and bone_detected[bone] and frame["detected"][idx].all():
                cal.layouts[key].append((pts[idx] - pts[origin]) @ world[bone])  # rows: world^T (p - origin)

    def _finish_calibration(self, cal: _Calibration, frames: int, final: bool = False) -> bool:
        """Set the quantities that have enough samples; returns True if the rest rig changed."""
        first = self._rig_version == 0
        need = max(3, frames // 2) if first else max(1, cal.window)
        det = np.array(cal.lengths_detected) if cal.lengths_detected else np.full((0, len(_SEGMENTS)), np.nan)
        count = np.isfinite(det).sum(0)
        changed = False
        ready = cal.pending_lengths & (count >= (1 if final else need))
        if ready.any():
            cal.lengths[ready] = np.nanmedian(det[:, ready], axis=0)
            changed = True
        cal.pending_lengths &= ~ready
        if first:
            any_ = np.array(cal.lengths_any)
            fallback = cal.pending_lengths & np.isfinite(any_).any(0)
            if fallback.any():
                cal.lengths[fallback] = np.nanmedian(any_[:, fallback], axis=0)
            # Never seen at all: an average adult scaled to this person's shoulders.
            scale = float(np.clip(cal.lengths[_SEG_INDEX["clavicle"]] / _CANON_LENGTHS[_SEG_INDEX["clavicle"]], 0.6, 1.6))
            unseen = cal.pending_lengths & ~np.isfinite(any_).any(0)
            cal.lengths[unseen] = _CANON_LENGTHS[unseen] * scale
            for s in ("L", "R"):  # no hand seen: the forearm ends at the pose model's wrist
                fa, fp = _SEG_INDEX[f"forearm{s}"], _SEG_INDEX[f"forearm_pose{s}"]
                if cal.pending_lengths[fa] and not cal.pending_lengths[fp]:
                    cal.lengths[fa] = cal.lengths[fp]
            for key, samples in cal.layouts.items():
                if not samples or len(samples) < (1 if final else need):
                    if key.startswith("wrist"):
                        sign = 1.0 if key == "wristL" else -1.0
                        cal.layout_values[key] = np.array([[sign * cal.lengths[_SEG_INDEX[f"forearm_pose{key[-1]}"]], 0.0, 0.0]])
                    else:
                        cal.layout_values[key] = _CANON_LAYOUTS[key] * scale
            cal.window = frames
            changed = True
        for key, samples in cal.layouts.items():
            if cal.pending_layouts[key] and samples and len(samples) >= (1 if final else need):
                cal.layout_values[key] = np.median(np.array(samples), axis=0)
                cal.pending_layouts[key] = False
                changed = True
        if final:
            cal.pending_lengths[:] = False
            cal.pending_layouts = {k: False for k in cal.pending_layouts}
        if changed:
            self._cal = cal
            self._rest = RestRig(cal.rest())
            self._rig_version += 1
            log.debug("rest rig v%d from %d frames; still measuring %d lengths", self._rig_version, frames, int(cal.pending_lengths.sum()))
        self._cal = cal
        return changed

    # ------------------------------------------------------------------ per frame

    def _prepare(self, joints: np.ndarray, confidence: np.ndarray | None) -> dict | None:
        """World-axis points, detection masks and the points the solve uses; None if no shoulders."""
        x = np.asarray(joints, dtype=np.float64)
        if x.shape != (75, 3):
            raise ValueError(f"joints: expected (75, 3) holistic75 points, got shape {x.shape}")
        finite = np.isfinite(x).all(-1)
        if confidence is None:
            detected = finite
        else:
            c = np.asarray(confidence, dtype=np.float64)
            if c.shape != (75,):
                raise ValueError(f"confidence: expected (75,), got shape {c.shape}")
            detected = finite & (c >= self.config.min_confidence)
        if not (detected[11] and detected[12]):
            return None
        w = np.where(finite[:, None], x * _FLIP, 0.0)
        usable = detected.copy()
        hips_derived = not (detected[23] and detected[24])
        if hips_derived:
            # Hips not detected: they hold their last rotation and hang under the shoulders
            # as in the rest pose, so the torso's turn goes to the Spine and its tilt to the
            # clavicles.
            held = quat_to_matrix(self._quat[_T.hips])
            rest = self._rest.points
            mid = 0.5 * (w[11] + w[12]) - held @ (0.5 * (rest[11] + rest[12]) - 0.5 * (rest[23] + rest[24]))
            w[23], w[24] = mid + held @ (rest[23] - 0.5 * (rest[23] + rest[24])), mid + held @ (rest[24] - 0.5 * (rest[23] + rest[24]))
            usable[23] = usable[24] = True
        w0 = np.where(usable[:, None], w, 0.0)
        pts = POINT_MATRIX @ w0  # (83, 3)
        raw = POINT_MATRIX @ np.where(finite[:, None], x * _FLIP, 0.0)
        raw[(_POINT_SUPPORT @ (~finite).astype(np.float64)) > 0] = np.nan  # where any term is missing
        return {"world75": w0, "points": pts, "raw_points": raw, "detected": detected, "usable": usable, "hips_derived": hips_derived}

    def _solve(self, frame: dict, prev_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World rotations of every bone from the frame's vectors.

        Returns:
            world (B, 3, 3), used (B,) (aim usable: rotation from this frame), new twist
            directions (S, 3), and detected (B,) (aim from detected joints only).
        """
        t = _T
        usable = frame["usable"]
        detected = frame["detected"]
        w0 = frame["world75"]
        n_lin, n_head, n1 = t.n_lin, t.n_lin + len(t.const), t.n_lin + len(t.const) + t.n_cross1
        vec = np.empty((t.n_vec, 3))
        vec[:n_lin] = t.lin_w @ w0  # (V, 3): point differences, constants, cross products
        vec[n_lin:n_head] = t.const
        missing = t.lin_support @ np.stack([~usable, ~detected], axis=1).astype(np.float64)  # (L, 2)
        flags = np.ones((t.n_vec, 2), dtype=bool)  # usable, detected
        flags[:n_lin] = missing == 0
        for lo, hi in ((n_head, n1), (n1, t.n_vec)):  # crosses of plain vectors, then of those
            a_i, b_i = t.cross_a[lo - n_head : hi - n_head], t.cross_b[lo - n_head : hi - n_head]
            vec[lo:hi] = _cross(vec[a_i], vec[b_i])
            flags[lo:hi] = flags[a_i] & flags[b_i]
        ok, det = flags[:, 0], flags[:, 1]
        norm = _norm(vec)
        scale = norm.copy()
        scale[t.is_cross] = norm[t.cross_a] * norm[t.cross_b] if len(t.cross_a) else scale[t.is_cross]
        ok &= norm > _EPS

        # The aim: the first usable candidate.
        aim_ok = ok[t.aim] & t.aim_mask  # (S, KA)
        first = np.argmax(aim_ok, axis=1)
        aim_idx = t.aim[np.arange(len(first)), first]
        used = aim_ok.any(1)
        a = vec[aim_idx] / np.maximum(norm[aim_idx], _EPS)[:, None]  # (S, 3)

        # Twist candidates: each one's twist direction u_k, across the aim.
        r = vec[t.ref]  # (S, K, 3)
        r_perp = r - np.einsum("ski,si->sk", r, a)[..., None] * a[:, None]
        pn = _norm(r_perp)
        s = pn / np.maximum(scale[t.ref], _EPS)
        x = np.minimum(np.maximum((s - t.lo) * t.inv_span, 0.0), 1.0)
        weight = x * x * (3.0 - 2.0 * x) * (ok[t.ref] & t.ref_mask & (pn > _EPS))
        r_hat = r_perp / np.maximum(pn, _EPS)[..., None]
        u_k = t.coef[..., 0:1] * r_hat + t.coef[..., 1:2] * _cross(a[:, None], r_hat)
        acc = prev_u - np.einsum("si,si->s", prev_u, a)[:, None] * a
        n_acc = _norm(acc)[:, None]
        if (n_acc < 1e-6).any():
            fallback = _unit(_cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])))
            acc = np.where(n_acc > 1e-6, acc / np.maximum(n_acc, 1e-12), fallback)
        else:
            acc = acc / n_acc
        last = acc  # last frame's twist: a gated reference must agree with it
        for k in range(t.ref.shape[1] - 1, -1, -1):  # lowest priority first; each overrides by its weight
            uk = u_k[:, k]
            g = np.minimum(np.maximum((np.einsum("si,si->s", uk, last) - t.gate_lo[:, k]) * t.gate_inv[:, k], 0.0), 1.0)
            wk = weight[:, k] * g * g * (3.0 - 2.0 * g)
            blended = acc + wk[:, None] * (uk - acc)
            nb = _norm(blended)[:, None]
            acc = np.where(nb > 1e-6, blended / np.maximum(nb, 1e-12), uk)
        frame_obs = np.stack([a, acc, _cross(a, acc)], axis=-1)  # (S, 3, 3) columns
        world_s = frame_obs @ t.rest_frame_t
        new_u = np.where(used[:, None], acc, prev_u)

        self._fit_palms(world_s, new_u, used, frame)
        world = np.broadcast_to(np.eye(3), (NUM_BONES, 3, 3)).copy()
        world[t.solved] = world_s
        used_all = np.zeros(NUM_BONES, dtype=bool)
        used_all[t.solved] = used
        det_all = np.zeros(NUM_BONES, dtype=bool)
        det_all[t.solved] = used & det[aim_idx]
        # Chest and UpperChest: a third each of the spine's twist (the Spine keeps the bend).
        sp, ch, uc, hp = t.spine, t.chest, t.upper_chest, t.hips
        # Twist about the torso's rest axis (+Y) of the Hips -> torso rotation L: with its
        # quaternion (x, y, z, w), phi = 2 atan2(y, w) = 2 atan2(L02 - L20, 1 + trace L).
        total = world[hp].T @ world[sp]
        phi = 2.0 * math.atan2(total[0, 2] - total[2, 0], 1.0 + total[0, 0] + total[1, 1] + total[2, 2])
        c3, s3 = math.cos(phi / 3.0), math.sin(phi / 3.0)
        third = np.array([[c3, 0.0, -s3], [0.0, 1.0, 0.0], [s3, 0.0, c3]])  # turns back by phi / 3 about +Y
        world[uc] = world[sp]
        world[ch] = world[uc] @ third
        world[sp] = world[ch] @ third
        used_all[[ch, uc]] = used_all[sp]
        det_all[[ch, uc]] = det_all[sp]
        world[t.toes] = world[t.feet]  # toes never turn
        used_all[t.toes] = used_all[t.feet]
        det_all[t.toes] = det_all[t.feet]
        if frame["hips_derived"]:
            det_all[[hp, sp, ch, uc]] = False
        return world, used_all, new_u, det_all

    def _fit_palms(self, world_s: np.ndarray, new_u: np.ndarray, used: np.ndarray, frame: dict) -> None:
        """Turn each Hand to the rotation that best fits its five knuckles (in place).

        The aim and twist give a Hand that is exact for one direction (wrist -> mid-knuckles)
        and one line (index -> pinky knuckle); the rig's palm is rigid while the detected
        knuckles fan and cup, so the finger bases land off by whatever the palm's shape
        differs by elsewhere, and every finger carries that offset to its tip. Where the wrist
        and all five knuckles (thumb base, index, middle, ring, pinky) are usable, the Hand's
        world rotation is instead the least-squares fit (Kabsch) of the rest palm's knuckle
        offsets onto the observed knuckle directions at the rest offsets' lengths: the
        rotation that puts the rig's knuckles, and so the fingers hanging from them, nearest
        the cleaned ones. ``new_u`` (the twist remembered for the next frame) follows it.
        """
        t = _T
        usable = frame["usable"]
        ok = [s for s in range(2) if used[t.palm_slot[s]] and usable[_PALM_KNUCKLES[s]].all() and usable[_PALM_WRISTS[s]]]
        if not ok:
            return
        rest, pts = self._rest.points, frame["points"]
        kn, wr = _PALM_KNUCKLES[ok], _PALM_WRISTS[ok]
        a = rest[kn] - rest[wr][:, None]  # (H, 5, 3) the rest palm's knuckle offsets (world axes at rest)
        d = pts[kn] - pts[wr][:, None]  # (H, 5, 3) observed wrist -> knuckle
        d *= (_norm(a) / np.maximum(_norm(d), _EPS))[..., None]  # at the rest offsets' lengths
        u_, _, vt = np.linalg.svd(np.swapaxes(a, -1, -2) @ d)  # (H, 3, 3) of sum_k a_k d_k^T
        r = np.swapaxes(vt, -1, -2) @ np.swapaxes(u_, -1, -2)  # world rotation: d_k ~ r @ a_k
        flip = np.linalg.det(r) < 0  # a reflection fits better (a mirrored hand): nearest rotation
        if flip.any():
            vt[flip, 2] *= -1.0
            r[flip] = np.swapaxes(vt[flip], -1, -2) @ np.swapaxes(u_[flip], -1, -2)
        slots = t.palm_slot[ok]
        world_s[slots] = r
        new_u[slots] = np.einsum("hij,hj->hi", r, t.rest_frame[slots, :, 1])  # twist direction: rest frame column 2

    def push(self, joints: np.ndarray, confidence: np.ndarray | None, timestamp: float | None = None) -> RigFrame | None:
        """Solve one cleaned frame.

        Args:
            joints: (75, 3) float32 holistic75 points, camera frame (x right, y down,
                z forward), metres; NaN where missing.
            confidence: (75,) float32 in [0, 1] (None: every finite joint is detected).
            timestamp: seconds (any origin, increasing); None = frame count / ``config.fps``.

        Returns:
            The rig for this frame, or None while calibrating or when no one is detected
            (both shoulders are needed).

        Raises:
            ValueError: wrong shapes.
        """
        cfg = self.config
        t = timestamp if timestamp is not None else self._pushed / cfg.fps
        index = self._pushed
        self._pushed += 1
        dt = 1.0 / cfg.fps if self._prev_t is None else max(t - self._prev_t, 0.0)
        self._prev_t = t
        self._dt = dt
        frame = self._prepare(joints, confidence)
        if frame is None:
            self._used[:] = False  # no one: every bone eases back when the person does
            return None
        if self._last_person_t is not None and t - self._last_person_t >= cfg.forget_after_s and self.calibrated:
            log.info("a person after %.1f s with no one: calibrating the rig afresh", t - self._last_person_t)
            pushed = self._pushed
            self.reset()
            self._pushed = pushed
        self._last_person_t = t
        if self._first_t is None:
            self._first_t = t

        world, used, self._u, detected = self._solve(frame, self._u)
        cal = self._cal
        if cal.pending:
            self._sample(cal, frame, world, detected)
            if not self.calibrated:
                frames = len(cal.lengths_detected)
                if t - self._first_t >= cfg.calibration_s and frames >= 3:
                    self._finish_calibration(cal, frames)
            elif (cal.pending_lengths & (cal.count >= cal.window)).any() or any(
                cal.pending_layouts[k] and len(v) >= cal.window for k, v in cal.layouts.items()
            ):
                self._finish_calibration(cal, cal.window)
        if not self.calibrated:
            self._hold_for_next(world, used)
            return None

        if not self._started:  # the first rig: from this frame's rotations, nothing to ease from
            self._hold_for_next(world, used)
            self._started = True
        quat = self._outputs(world, used, dt)
        hips_w = frame["points"][MID_HIP]
        offset = self._world_offset(frame, hips_w, quat)
        valid = detected & (self._ease >= 1.0)
        return RigFrame(
            index=index,
            timestamp=timestamp,
            hips_position=(hips_w - offset).astype(np.float32),
            rotations=quat.astype(np.float32),
            valid=valid,
            world_offset=offset,
            rig_version=self._rig_version,
        )

    def _hold_for_next(self, world: np.ndarray, used: np.ndarray) -> None:
        """Before the first emitted frame: start from this frame's rotations (no easing)."""
        par = _T.parents
        local = np.swapaxes(world[np.maximum(par, 0)], -1, -2) @ world
        local[0] = world[0]
        q = self._limiter.apply(quat_from_matrix(local), used)
        self._quat = np.where(used[:, None], align_signs(q, self._quat), self._quat)
        self._used = used.copy()

    def _outputs(self, world: np.ndarray, used: np.ndarray, dt: float) -> np.ndarray:
        """(B, 4) local rotations to output: solved, held, easing back, or flip-guarded.

        A solved bone's local rotation is taken in its parent's *solved* frame when the parent
        is solved this frame (so it rides rigidly on a parent that is easing), else in the
        parent's output frame (a held parent: the bone's world rotation stays as observed).
        """
        par = _T.parents
        target = np.swapaxes(world[np.maximum(par, 0)], -1, -2) @ world
        target[0] = world[0]
        target_q = self._limiter.apply(quat_from_matrix(target), used)
        orphan = used & ~used[np.maximum(par, 0)]
        orphan[0] = False
        if not orphan.any():
            quat = self._decide(np.arange(NUM_BONES), target_q, used, dt)
        else:  # walk down the tree: held parents' output frames are needed
            quat = np.empty((NUM_BONES, 4))
            out_world = np.empty_like(target)
            for lvl in LEVELS:
                t_l = target_q[lvl]
                if lvl[0] != 0 and orphan[lvl].any():
                    o = orphan[lvl]
                    t_l = t_l.copy()
                    q_o = quat_from_matrix(np.swapaxes(out_world[par[lvl[o]]], -1, -2) @ world[lvl[o]])
                    t_l[o] = self._limiter.clamp_single(q_o, lvl[o])
                quat[lvl] = self._decide(lvl, t_l, used[lvl], dt)
                m = quat_to_matrix(quat[lvl])
                out_world[lvl] = m if lvl[0] == 0 else out_world[par[lvl]] @ m
        quat = align_signs(quat, self._quat)
        self._quat = quat
        self._used = used.copy()
        return quat

    def _decide(self, bones: np.ndarray, target: np.ndarray, used: np.ndarray, dt: float) -> np.ndarray:
        """(n, 4) the output local rotations of ``bones`` given their solved ``target`` quaternions.

        Held where not ``used``; easing from the held rotation where a bone comes back;
        else ``target``. Whatever the output would be, a bone that would turn more than
        ``max_step_deg`` from last frame's output starts easing from it instead (the flip
        guard), so no output ever jumps.
        """
        cfg = self.config
        held = self._quat[bones]
        ease = self._ease[bones]
        returning = used & ~self._used[bones]
        ease[returning] = 0.0
        self._ease_from[bones[returning]] = held[returning]
        step = dt / cfg.ease_s + 1e-9 if cfg.ease_s > 0 else 1.0  # (+1e-9: n steps of 1/n reach 1)
        out = np.where(used[:, None], target, held)
        cos_half = math.cos(math.radians(cfg.max_step_deg) / 2.0)
        for attempt in range(2):  # the second pass restarts the ease of guarded bones
            moving = used & (ease < 1.0)
            if moving.any():
                m = np.nonzero(moving)[0]
                prog = np.minimum(ease[m] + step, 1.0)
                out[m] = quat_slerp(self._ease_from[bones[m]], target[m], prog * prog * (3.0 - 2.0 * prog))
                lim = m[self._limited[bones[m]]]  # an ease between two in-range twists can leave the range
                if len(lim):
                    out[lim] = self._limiter.clamp_single(out[lim], bones[lim])
            if attempt == 1:
                break
            jump = used & (np.abs(np.einsum("bi,bi->b", out, held)) < cos_half)
            if not jump.any():
                break
            self._flips += int(jump.sum())
            log.debug("flip guard: %s", ", ".join(BONES[b] for b in bones[jump]))
            ease[jump] = 0.0
            self._ease_from[bones[jump]] = held[jump]
            out[jump] = held[jump]
        # A twist clipped near a half-turn swing (where twist is ill-defined) can still jump: hold.
        still = used & (np.abs(np.einsum("bi,bi->b", out, held)) < cos_half)
        out[still] = held[still]
        moving = used & (ease < 1.0)
        ease[moving] = np.minimum(ease[moving] + step, 1.0)
        self._ease[bones] = ease
        return out

    def _world_offset(self, frame: dict, hips_w: np.ndarray, quat: np.ndarray) -> np.ndarray:
        """This frame's world offset (floor and origin), updating the floor from the rig's feet.

        The feet are the output rig's (forward kinematics of ``local`` from the Hips), so the
        floor is where the avatar's heels and toes are, whatever the cleaned legs' lengths.
        ``quat``: (B, 4) this frame's output local rotations.
        """
        cfg = self.config
        rest = self._rest
        det = frame["detected"]
        lows = []
        seen = [det[ankle] and det[toe] for ankle, toe in ((27, 31), (28, 32))]
        if any(seen):
            off = rest.offsets
            local = quat_to_matrix(quat[_T.leg_chain])  # (7, 3, 3): Hips, then each leg's three
            local = dict(zip(_T.leg_chain, local))
            w_hips = local[_T.hips]
            for side, ok in enumerate(seen):
                if not ok:
                    continue
                upper, lower, foot = _T.legs[side]
                w_upper = w_hips @ local[upper]
                w_lower = w_upper @ local[lower]
                w_foot = w_lower @ local[foot]
                ankle = hips_w + w_hips @ off[upper] + w_upper @ off[lower] + w_lower @ off[foot]
                heel, toe, ankle_point = _T.soles[side]
                ends = ankle + (rest.points[[heel, toe]] - rest.points[ankle_point]) @ w_foot.T
                lows.append(float(ends[:, 1].min()))
        if lows:
            low = min(lows)
            if not self._feet_seen:
                self._floor, self._feet_seen = low, True
            else:
                assert self._floor is not None
                tau = cfg.floor_fall_s if low < self._floor else cfg.floor_rise_s
                self._floor += (low - self._floor) * (1.0 if tau <= 0 else min(1.0, self._dt / tau))
        elif self._floor is None:
            # No feet yet: the rest rig's feet under this frame's Hips.
            feet = rest.points[[29, 30, 31, 32]]
            hips = 0.5 * (rest.points[23] + rest.points[24])
            self._floor = float(hips_w[1] - (hips[1] - feet[:, 1].min()))
        if self._origin_xz is None:
            self._origin_xz = np.array([hips_w[0], hips_w[2]]) if cfg.origin == "person" else np.zeros(2)
        return np.array([self._origin_xz[0], self._floor, self._origin_xz[1]])
