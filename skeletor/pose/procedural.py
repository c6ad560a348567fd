"""A procedurally animated person in ``holistic75`` (the project's own work, no data).

The person is a fixed-length rig (average adult proportions, metres) driven by smooth
sums of sinusoids: walking in place with a slow turn, arm gestures and waving, signing-
like hand paths, finger curling, and head turns. Every position comes from forward
kinematics, so bone lengths are exactly constant over time. World frame: y up, the
subject faces +z at rest, x is the subject's left.

Used by the live tool's ``--demo`` source and by tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PersonConfig", "ProceduralPerson"]

# Hand rig in the hand frame (x = towards the thumb side for a left hand, y = along the
# fingers, z = palm normal): metacarpal base offsets and phalanx lengths, metres.
_FINGERS = {  # name: (base offset from the wrist (x, y), segment lengths (3 or 4))
    "thumb": ((0.025, 0.02), (0.035, 0.035, 0.03, 0.025)),
    "index": ((0.022, 0.09), (0.045, 0.026, 0.022)),
    "middle": ((0.0, 0.092), (0.05, 0.03, 0.023)),
    "ring": ((-0.018, 0.086), (0.046, 0.029, 0.022)),
    "pinky": ((-0.035, 0.078), (0.035, 0.021, 0.02)),
}


@dataclass(frozen=True)
class PersonConfig:
    """Look and motion of the procedural person.

    Attributes:
        seed: picks the motion's frequencies and phases.
        height_scale: overall size (1 = average adult).
        walk: amplitude of walking in place (0 = standing).
        turn_deg: amplitude of the slow body turn about the vertical.
        gesture: amplitude of arm gestures.
    """

    seed: int = 0
    height_scale: float = 1.0
    walk: float = 1.0
    turn_deg: float = 35.0
    gesture: float = 1.0


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 0, 0], r[..., 0, 2], r[..., 1, 1], r[..., 2, 0], r[..., 2, 2] = c, s, 1.0, -s, c
    return r


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 0, 0], r[..., 1, 1], r[..., 1, 2], r[..., 2, 1], r[..., 2, 2] = 1.0, c, -s, s, c
    return r


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 0, 0], r[..., 0, 1], r[..., 1, 0], r[..., 1, 1], r[..., 2, 2] = c, -s, s, c, 1.0
    return r


def _apply(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) @ (T, 3) or (3,) -> (T, 3)."""
    return np.einsum("tij,tj->ti", r, np.broadcast_to(v, r.shape[:-1]))


class ProceduralPerson:
    """The animated person; :meth:`pose` gives (T, 75, 3) world positions for times t."""

    def __init__(self, config: PersonConfig = PersonConfig()) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        self._f = rng.uniform(0.15, 0.6, size=16)  # Hz of the motion components
        self._p = rng.uniform(0, 2 * np.pi, size=16)

    def _wave(self, t: np.ndarray, i: int, amp: float = 1.0) -> np.ndarray:
        return amp * np.sin(2 * np.pi * self._f[i] * t + self._p[i])

    def pose(self, t: np.ndarray | float) -> np.ndarray:
        """World positions (T, 75, 3) float32, metres, y up, at times ``t`` (seconds)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        cfg, k = self.config, self.config.height_scale
        T = len(t)
        out = np.zeros((T, 75, 3))
        # Body frame: a slow turn about y, walking bob.
        gait = 2 * np.pi * 0.9 * t  # steps at 0.9 Hz
        body = _rot_y(np.deg2rad(cfg.turn_deg) * np.sin(2 * np.pi * 0.05 * t + self._p[0]))
        pelvis = np.stack([np.zeros(T), k * (0.95 + 0.015 * cfg.walk * np.cos(2 * gait)), np.zeros(T)], -1)
        # Legs: hip flexion and knee flexion, opposite phases.
        for side, sgn, hip_j, knee_j, ankle_j, heel_j, toe_j in ((1, 1.0, 23, 25, 27, 29, 31), (-1, -1.0, 24, 26, 28, 30, 32)):
            phase = gait + (0 if side == 1 else np.pi)
            hip = pelvis + _apply(body, np.array([sgn * 0.09 * k, 0.0, 0.0]))
            flex = cfg.walk * 0.35 * np.sin(phase)
            knee_flex = cfg.walk * 0.6 * np.maximum(np.sin(phase + 1.2), 0) + 0.05
            r_thigh = body @ _rot_x(-flex)  # positive flex swings the thigh forward (+z)
            knee = hip + _apply(r_thigh, np.array([0.0, -0.43 * k, 0.0]))
            r_shank = r_thigh @ _rot_x(knee_flex)  # the knee bends backwards
            ankle = knee + _apply(r_shank, np.array([0.0, -0.42 * k, 0.0]))
            r_foot = r_shank @ _rot_x(-knee_flex * 0.5)
            heel = ankle + _apply(r_foot, np.array([0.0, -0.05 * k, -0.05 * k]))
            toe = ankle + _apply(r_foot, np.array([0.0, -0.06 * k, 0.14 * k]))
            out[:, [hip_j, knee_j, ankle_j, heel_j, toe_j]] = np.stack([hip, knee, ankle, heel, toe], 1)
        # Spine and shoulders.
        lean = _rot_x(0.05 + 0.04 * np.sin(2 * np.pi * 0.1 * t))
        twist = _rot_y(0.15 * self._wave(t, 1))
        chest = body @ lean @ twist
        neck = pelvis + _apply(chest, np.array([0.0, 0.52 * k, 0.0]))
        for sgn, sh in ((1.0, 11), (-1.0, 12)):
            out[:, sh] = neck + _apply(chest, np.array([sgn * 0.19 * k, -0.02 * k, 0.0]))
        # Head and face.
        head = chest @ _rot_y(0.5 * self._wave(t, 2)) @ _rot_x(0.15 * self._wave(t, 3))
        face = {
            0: (0.0, 0.17, 0.10), 1: (0.015, 0.2, 0.09), 2: (0.032, 0.2, 0.085), 3: (0.048, 0.2, 0.075),
            4: (-0.015, 0.2, 0.09), 5: (-0.032, 0.2, 0.085), 6: (-0.048, 0.2, 0.075),
            7: (0.075, 0.185, 0.0), 8: (-0.075, 0.185, 0.0), 9: (0.022, 0.14, 0.085), 10: (-0.022, 0.14, 0.085),
        }  # fmt: skip
        for j, off in face.items():
            out[:, j] = neck + _apply(head, np.array(off) * k)
        # Arms: shoulder angles from gestures (waving, signing-like paths), elbow flexion.
        for side, sgn, sh, el, wr, hand0 in ((1, 1.0, 11, 13, 15, 33), (-1, -1.0, 12, 14, 16, 54)):
            i = 4 if side == 1 else 9
            raise_ = 0.6 + 0.5 * cfg.gesture * (1 + self._wave(t, i))  # arm elevation, rad
            swing = 0.5 * cfg.gesture * self._wave(t, i + 1) + 0.3  # forward swing
            r_upper = chest @ _rot_z(sgn * (0.25 + 0.5 * raise_)) @ _rot_x(-swing)
            elbow = out[:, sh] + _apply(r_upper, np.array([0.0, -0.29 * k, 0.0]))
            bend = 0.4 + 0.9 * cfg.gesture * (1 + self._wave(t, i + 2)) / 2 + 0.3 * np.sin(2 * np.pi * 1.5 * t) * (side == 1)
            r_fore = r_upper @ _rot_x(-bend)  # the elbow bends forwards
            wrist = elbow + _apply(r_fore, np.array([0.0, -0.26 * k, 0.0]))
            out[:, el], out[:, wr] = elbow, wrist
            r_hand = r_fore @ _rot_y(sgn * 0.6 * self._wave(t, i + 3)) @ _rot_x(0.3 * self._wave(t, i + 4))
            self._hand(out, t, r_hand, wrist, hand0, sgn, k, i)
            # Pose hand points (pinky, index, thumb knuckles) from the detailed hand.
            base = 15 if side == 1 else 16
            out[:, base + 2] = out[:, hand0 + 17]  # pinky mcp
            out[:, base + 4] = out[:, hand0 + 5]  # index mcp
            out[:, base + 6] = out[:, hand0 + 1]  # thumb base (cmc): a fixed offset from the wrist
        return out.astype(np.float32)

    def _hand(self, out: np.ndarray, t: np.ndarray, r_hand: np.ndarray, wrist: np.ndarray, h0: int, sgn: float, k: float, i: int) -> None:
        """Fill the 21 hand points: fingers curl by a smooth per-finger amount."""
        out[:, h0] = wrist
        down = np.array([0.0, -1.0, 0.0])  # fingers extend along the forearm (hand y points down the arm)
        for f_idx, (name, (base, lengths)) in enumerate(_FINGERS.items()):
            curl = 0.5 + 0.5 * np.sin(2 * np.pi * (0.3 + 0.1 * f_idx) * t + self._p[(i + f_idx) % 16])  # 0..1
            joint = h0 + 1 + 4 * f_idx
            pos = wrist + _apply(r_hand, np.array([sgn * base[0], -base[1], 0.0]) * k) if name != "thumb" else wrist
            r = r_hand @ (_rot_z(sgn * -0.6 * np.ones_like(t)) if name == "thumb" else np.eye(3)[None])
            segs = lengths if name == "thumb" else (0.0,) + lengths  # index..pinky: the mcp is the base point
            pts = []
            for s_i, seg in enumerate(segs):
                if seg > 0:
                    r = r @ _rot_x(curl * (0.5 if name == "thumb" else 0.9) * (s_i > 0))
                    pos = pos + _apply(r, down * seg * k)
                pts.append(pos)
            out[:, joint : joint + 4] = np.stack(pts[-4:], 1)

    def sequence(self, n_frames: int, fps: float) -> np.ndarray:
        """(n_frames, 75, 3) positions sampled at ``fps``."""
        return self.pose(np.arange(n_frames) / fps)
