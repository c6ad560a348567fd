"""Anatomical twist limits of the humanoid rig: swing-twist decomposition, per-bone ranges.

A bone's local rotation q (relative to the rest T-pose, :mod:`skeletor.rig.humanoid`) is
split into a *twist* T about the bone's rest axis a and a *swing* S (a turn about an axis
across a): q = S * T. The twist angle is ``2 atan2(q.xyz . a, q.w)``. A child joint that
lies on the bone's axis is placed by the swing alone, so changing only the twist moves no
such joint; landmarks off the axis (the finger knuckles on the Hand, the face on the Head,
the heel on the Foot) turn with it.

Where the solver's twist follows landmarks that can flip (the ear line, the heel, the palm
knuckles), a solved local twist can reach half a turn, which no human joint makes. Each
entry of ``TWIST_LIMITS`` bounds the twist of one bone, or of a pair of bones that share a
twist axis (Neck and Head about the vertical; LowerArm and Hand about the forearm), with the
pair's total twist shared between them as humanoid rigs do (Unity's avatar "Lower Arm
Twist" and the Neck / Head "Turn" muscles: half each by default). Sharing a pair's total
keeps the second bone's world rotation exactly as solved, so the Hand's knuckles (the palm
plane) and the Head's face stay where the landmarks put them whenever the total is in range.
A single bone may name the child on its axis that takes the twist it gives up (``then``: a
finger's phalanges in turn), so the child keeps its world rotation and the finger below a
bent joint does not turn.

Causal and continuous: each pair and each bone keeps last frame's limited twist, reads this
frame's as the turn nearest to it (so a reference flipping by half a turn does not jump to
the other limit) and clips it to the range; a clip is continuous in the twist, and any
remaining jump (the reading crossing the antipode of last frame's) is eased by the solver's
flip guard. A pair whose range is half a turn or more (the forearm's share) is read nearest
rest instead: holding there would stick for half the circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skeletor.rig.humanoid import BONE_INDEX, SOLVE, rest_vector

__all__ = ["TWIST_LIMITS", "TwistLimit", "TwistLimiter", "twist_angles"]


@dataclass(frozen=True)
class TwistLimit:
    """The twist range of one bone, or of a bone and its child sharing one twist axis.

    Attributes:
        bones: one bone name, or (parent, child) on the same rest axis.
        range_deg: the (total) twist stays within +-range_deg of the rest pose.
        share: the first bone's fraction of the total (1.0 for a single bone).
        why: the source of the range.
        then: for a single bone, its child on the same rest axis that takes the twist it gives
            up (so the child's world rotation, and every joint below it, stays as solved; the
            child's own limit then applies): a finger's next phalanx.
    """

    bones: tuple[str, ...]
    range_deg: float
    share: float
    why: str
    then: str | None = None


_PHALANGES = ("Proximal", "Intermediate", "Distal")


def _limits() -> tuple[TwistLimit, ...]:
    out = [
        TwistLimit(("Neck", "Head"), 80.0, 0.5,
                   "cervical axial rotation ~70-90 deg each way (AAOS normal 80 deg), most of it at the atlas/axis; "
                   "Unity's Neck Turn and Head Turn muscles default to +-40 deg each"),
    ]  # fmt: skip
    for side in ("Left", "Right"):
        out.append(TwistLimit((f"{side}LowerArm", f"{side}Hand"), 180.0, 0.5,
                              "the forearm's roll shared half and half with the hand (Unity's avatar Lower Arm Twist "
                              "0.5), so each stays within Unity's Forearm Twist range, +-90 deg; the total is not "
                              "clipped to the anatomical +-80 deg of pronation / supination (AAOS) because near a "
                              "straight elbow the UpperArm's twist is ambiguous and the forearm's local twist "
                              "carries the shoulder's rotation: clipping it would turn the palm off its knuckles"))  # fmt: skip
        out.append(TwistLimit((f"{side}Foot",), 35.0, 1.0,
                              "the foot turns about its long axis only by subtalar inversion / eversion "
                              "(AAOS 35 / 15 deg); Unity's Foot Twist muscle +-30 deg"))  # fmt: skip
        for finger in ("Thumb", "Index", "Middle", "Ring", "Little"):
            for i, phalanx in enumerate(_PHALANGES):
                thumb_base = finger == "Thumb" and phalanx == "Proximal"
                out.append(TwistLimit((f"{side}{finger}{phalanx}",), 40.0 if thumb_base else 15.0, 1.0,
                                      "the thumb's metacarpal pronates ~30-40 deg in opposition (CMC saddle joint)"
                                      if thumb_base else
                                      "finger joints are hinges (MCP: + abduction) with a few degrees of passive "
                                      "axial play; Unity's humanoid fingers have no twist muscle",
                                      then=f"{side}{finger}{_PHALANGES[i + 1]}" if i < 2 else None))  # fmt: skip
    return tuple(out)


TWIST_LIMITS: tuple[TwistLimit, ...] = _limits()


_TURN = 2.0 * math.pi


def twist_axis(bone: str) -> np.ndarray:
    """(3,) the unit rest axis a bone's twist is measured about (rig world = rest local axes).

    The bone's rest direction (its aim), except Neck and Head, which turn about the vertical
    (the Head's aim is the ear line, across the head).
    """
    if bone in ("Neck", "Head"):
        return np.array([0.0, 1.0, 0.0])
    v = rest_vector(SOLVE[BONE_INDEX[bone]].aims[0])
    return v / np.linalg.norm(v)


def twist_angles(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(...,) radians in (-pi, pi]: the twist of (..., 4) quaternions (x, y, z, w) about (..., 3) unit axes."""
    t = 2.0 * np.arctan2(np.einsum("...i,...i->...", q[..., :3], axis), q[..., 3])
    return (t + math.pi) % (2.0 * math.pi) - math.pi


def _twist_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * angle
    out = np.empty((len(axis), 4))
    out[:, :3] = axis * np.sin(half)[:, None]
    out[:, 3] = np.cos(half)
    return out


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamilton product of (n, 4) quaternions (x, y, z, w)."""
    ax, ay, az, aw = a.T
    bx, by, bz, bw = b.T
    out = np.empty_like(a)
    out[:, 0] = aw * bx + ax * bw + ay * bz - az * by
    out[:, 1] = aw * by - ax * bz + ay * bw + az * bx
    out[:, 2] = aw * bz + ax * by - ay * bx + az * bw
    out[:, 3] = aw * bw - ax * bx - ay * by - az * bz
    return out


class TwistLimiter:
    """Applies ``TWIST_LIMITS`` to a frame's local rotations, causally (state: last limited twists)."""

    def __init__(self, limits: tuple[TwistLimit, ...] = TWIST_LIMITS) -> None:
        """Args:
        limits: the groups to limit (each bone in at most one).
        """
        self.limits = limits
        first = [BONE_INDEX[lim.bones[0]] for lim in limits]
        second = [BONE_INDEX[lim.bones[1]] if len(lim.bones) > 1 else -1 for lim in limits]
        self.first = np.array(first, dtype=np.int64)
        self.pair = np.array([s >= 0 for s in second])
        self.second = np.array(second, dtype=np.int64)  # -1: a single bone
        self.axis = np.stack([twist_axis(lim.bones[0]) for lim in limits])  # (G, 3)
        for lim, a in zip(limits, self.axis):
            if len(lim.bones) > 1 and float(np.dot(twist_axis(lim.bones[1]), a)) < 0.99:
                raise AssertionError(f"{lim.bones}: a shared twist needs one axis")
        self.then = np.array([BONE_INDEX[lim.then] if lim.then else -1 for lim in limits], dtype=np.int64)
        self.range = np.radians([lim.range_deg for lim in limits])
        self.share = np.array([lim.share for lim in limits])
        bone_range = np.full(len(BONE_INDEX), np.inf)  # each bone's own limit (share of its group's)
        bone_axis = np.zeros((len(BONE_INDEX), 3))
        for g, lim in enumerate(limits):
            for k, name in enumerate(lim.bones):
                b = BONE_INDEX[name]
                bone_range[b] = self.range[g] * (self.share[g] if k == 0 else 1.0 - self.share[g])
                bone_axis[b] = self.axis[g]
        self.bone_range, self.bone_axis = bone_range, bone_axis
        self.limited = np.nonzero(np.isfinite(bone_range))[0]  # the bones with a twist limit
        pos = {int(b): i for i, b in enumerate(self.limited)}  # bone -> its row among the limited
        self._axis = bone_axis[self.limited]  # (L, 3)
        self._range = bone_range[self.limited]
        gp = np.nonzero(self.pair)[0]
        self._p1 = np.array([pos[int(self.first[g])] for g in gp], dtype=np.int64)
        self._p2 = np.array([pos[int(self.second[g])] for g in gp], dtype=np.int64)
        self._p_range, self._p_share = self.range[gp], self.share[gp]
        # Chains of single bones, each passing its excess to the next (``then``): (C, 3) rows, -1 padded.
        targets = {int(t) for t in self.then if t >= 0}
        chains = []
        for g in np.nonzero(~self.pair)[0]:
            if int(self.first[g]) in targets:
                continue
            chain, k = [], int(g)
            while True:
                chain.append(pos[int(self.first[k])])
                if self.then[k] < 0:
                    break
                k = first.index(int(self.then[k]))
            chains.append(chain)
        depth = max((len(c) for c in chains), default=1)
        self._chains = np.array([c + [-1] * (depth - len(c)) for c in chains], dtype=np.int64).reshape(-1, depth)
        self.reset()

    def reset(self) -> None:
        """Forget last frame's twists (the next frame reads each total nearest to rest)."""
        self._prev = np.zeros(len(self.limited))  # last limited twist of each bone (a pair's total on its first)

    def apply(self, q: np.ndarray, used: np.ndarray) -> np.ndarray:
        """(B, 4) local rotations with every group's twist shared and within its range.

        Args:
            q: (B, 4) local unit quaternions (x, y, z, w), this frame's solved targets.
            used: (B,) bool, bones solved this frame: a group's state moves only when its
                first bone is.
        """
        lb = self.limited
        ql = q[lb]
        t = twist_angles(ql, self._axis)  # (L,) each limited bone's solved twist
        into = np.zeros_like(t)  # twist handed in from the parent (left-multiplied: its world kept)
        off = np.zeros_like(t)  # twist taken off the bone itself (right-multiplied: its swing kept)
        prev, new_prev = self._prev, self._prev.copy()
        ok = used[lb]
        # Pairs: the total, read nearest last frame's and clipped, then shared. A range of half a
        # turn or more is a share only (nothing to hold: the total is read nearest rest).
        p1, p2, rng = self._p1, self._p2, self._p_range
        if len(p1):
            total = t[p1] + t[p2]
            base = np.where(rng < math.pi, prev[p1], 0.0)
            lim = np.minimum(np.maximum(base + (total - base + math.pi) % _TURN - math.pi, -rng), rng)
            new_f = self._p_share * lim
            delta = t[p1] - new_f
            off[p1], into[p2], off[p2] = delta, delta, t[p2] + delta - (lim - new_f)
            new_prev[p1] = np.where(ok[p1], lim, prev[p1])
        # Chains: each bone clipped in turn, its excess passed down to the next.
        carry = np.zeros(len(self._chains))
        for col in self._chains.T:
            has = col >= 0
            i = col[has]
            c = carry[has]
            reading = t[i] + c
            r = self._range[i]
            lim = np.minimum(np.maximum(prev[i] + (reading - prev[i] + math.pi) % _TURN - math.pi, -r), r)
            into[i], off[i] = c, reading - lim
            new_prev[i] = np.where(ok[i], lim, prev[i])
            carry[has] = off[i]
        self._prev = new_prev
        out = q.copy()
        out[lb] = _mul(_mul(_twist_quat(self._axis, into), ql), _twist_quat(self._axis, -off))
        return out

    def clamp_single(self, q: np.ndarray, bones: np.ndarray) -> np.ndarray:
        """(n, 4) ``q`` of ``bones`` with each one's twist clipped to its own share of its range (stateless)."""
        r = self.bone_range[bones]
        a = self.bone_axis[bones]
        t = twist_angles(q, a)
        new = np.minimum(np.maximum(t, -r), r)
        return _mul(q, _twist_quat(a, np.where(np.isfinite(r), new - t, 0.0)))
