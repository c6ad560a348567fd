"""What each depth-sign state of a bone costs, apart from temporal continuity.

The sign filter (:mod:`skeletor.uplift.signs`) weighs, per bone, "child nearer" against
"child farther than its parent". Continuity alone cannot settle a sign that was never
seen, so these costs do: the detector's depth hint (MediaPipe z) where given, and weak
anatomical priors: the feet and the nose point the way the body faces, the shoulder line
turns with it, the hips are not in front of the neck and turn with the shoulders, knees
bend backwards, elbows forwards, and hands are rarely far behind the body. Each is
scaled by ``UpliftConfig.prior_weight`` (0 turns the priors off; the hint stays).
"""

from __future__ import annotations

import numpy as np

from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.tree import NECK, UpliftTree

__all__ = ["SignPriors"]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (size 3), the same arithmetic as ``np.cross`` without its axis juggling."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a1 * b2 - a2 * b1
    out[..., 1] = a2 * b0 - a0 * b2
    out[..., 2] = a0 * b1 - a1 * b0
    return out


def _group_vectors(d: np.ndarray, bones: np.ndarray, zc: np.ndarray) -> np.ndarray:
    """(G, n, K, 3) 3D bone vectors of a sign group in each of its K states (2D part shared)."""
    vec = np.empty(zc.shape + (3,))
    vec[..., :2] = d[bones][:, :, None, :]
    vec[..., 2] = zc
    return vec


class SignPriors:
    """The depth hint's and the anatomy's costs of each sign state, for one uplift tree and config."""

    def __init__(self, tree: UpliftTree, config: UpliftConfig) -> None:
        self.tree = tree
        self.config = config

    def emission(
        self, cand: np.ndarray, d: np.ndarray, depth: np.ndarray | None, s: float, observed: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """(B, 2) cost of each bone's two sign states from the depth hint and the facing priors.

        Args:
            cand: (B, 2) the depth step of each bone in state 0 (child nearer) and 1 (farther), metres.
            d: (B, 2) the 2D bone vectors, metres.
            depth: optional (75,) depth hint, pixels (smaller = nearer), NaN unknown.
            s: the frame's scale, pixels per metre.
            observed: (76,) joints detected in this frame.
            lengths: (B,) the current bone lengths, metres.
        """
        t, cfg = self.tree, self.config
        e = np.zeros_like(cand)
        if depth is not None and np.isfinite(cfg.hint_std):
            hz = np.concatenate([np.asarray(depth, np.float64), [np.nan]]) / s  # metres, smaller = nearer
            hz[NECK] = 0.5 * (hz[11] + hz[12])
            dz_hint = hz[t.children] - hz[t.bone_parent]
            ok = np.isfinite(dz_hint) & observed[t.children] & observed[t.bone_parent]
            e[ok] += (cand[ok] - dz_hint[ok, None]) ** 2 / (2 * cfg.hint_std**2)
        w = cfg.prior_weight
        if w <= 0:
            return e
        # Facing: r = right->left shoulder vector. Its image x tells whether the body faces
        # the camera (r_x > 0): then the toes and the nose are nearer than ankles / neck.
        r_x = d[t.b_shoulder[0], 0] - d[t.b_shoulder[1], 0]
        width = 2 * lengths[t.b_shoulder[0]] + 1e-6
        facing = float(np.clip(r_x / width, -1, 1))  # +1 facing the camera, -1 facing away
        for bone in (t.b_nose,):
            # state 0 (child nearer) preferred when facing the camera
            e[bone, 0] += w * max(-facing, 0) * 2.0 * (cand[bone, 1] ** 2) / (0.1 * lengths[bone] + 1e-3) ** 2 * 0.02
            e[bone, 1] += w * max(facing, 0) * 2.0 * (cand[bone, 1] ** 2) / (0.1 * lengths[bone] + 1e-3) ** 2 * 0.02
        # Shoulder line depth follows the sideways component of the facing direction, seen
        # from the nose and feet: forward_x > 0 => the left shoulder is farther (dz > 0).
        fwd_x = 0.0
        for bone in (*t.b_feet, t.b_nose):
            ch = t.children[bone]
            if observed[ch]:
                fwd_x += d[bone, 0] * (1.0 if bone != t.b_nose else 0.5)
        if abs(fwd_x) > 0.02:
            sgn = 1 if fwd_x > 0 else 0  # state index preferred for the left shoulder
            for bone, pref in ((t.b_shoulder[0], sgn), (t.b_shoulder[1], 1 - sgn)):
                e[bone, 1 - pref] += w * min(abs(fwd_x) / 0.05, 3.0)
        return e

    def torso(self, d: np.ndarray, zc: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """(1, K) anatomical cost of the torso's sign combinations: hips not in front of the
        neck (no backward lean past ~3 deg), hip line turning with the shoulder line.

        Bones: neck->L shoulder, neck->R shoulder, L shoulder->L hip, R shoulder->R hip.
        """
        t, w = self.tree, self.config.prior_weight
        if w <= 0:
            return np.zeros(zc.shape[::2])
        bones = t.torso
        vec = _group_vectors(d, bones, zc)  # (1, 4, K, 3)
        r = vec[:, 0] - vec[:, 1]  # (1, K, 3) right -> left shoulder
        f = np.zeros_like(r)  # r x up, up = (0, -1, 0)
        f[..., 0], f[..., 2] = r[..., 2], -r[..., 0]
        f /= np.sqrt(np.add.reduce(f * f, axis=-1, keepdims=True)) + 1e-9
        hip_l, hip_r = vec[:, 0] + vec[:, 2], vec[:, 1] + vec[:, 3]  # from the neck
        mid_hip = 0.5 * (hip_l + hip_r)
        lean = np.add.reduce(mid_hip * f, axis=-1) / (np.sqrt(np.add.reduce(mid_hip * mid_hip, axis=-1)) + 1e-9)  # > 0: hips in front of the neck
        h = hip_l - hip_r
        twist = np.add.reduce(h * r, axis=-1) / (np.sqrt(np.add.reduce(h * h, axis=-1)) * np.sqrt(np.add.reduce(r * r, axis=-1)) + 1e-9)
        ok = observed[t.children[bones]] & observed[t.bone_parent[bones]]  # (1, 4)
        return w * (ok[:, 2] & ok[:, 3])[:, None] * (4.0 * np.maximum(lean - 0.05, 0) + 3.0 * np.maximum(0.6 - twist, 0))

    def body_frame(self, d: np.ndarray, sign: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Unit vectors (right -> left shoulder, forward = that x up) from the chosen torso signs; None if undefined."""
        t = self.tree
        if self.config.prior_weight <= 0:
            return None
        ls, rs = t.b_shoulder
        r = np.array([d[ls, 0] - d[rs, 0], d[ls, 1] - d[rs, 1], 0.0])
        r[2] = sign[ls] * np.sqrt(max(lengths[ls] ** 2 - d[ls] @ d[ls], 0.0)) - sign[rs] * np.sqrt(
            max(lengths[rs] ** 2 - d[rs] @ d[rs], 0.0)
        )
        nr = np.linalg.norm(r)
        if nr < 1e-6:
            return None
        r /= nr
        f = np.array([r[2], 0.0, -r[0]])  # r x up, up = (0, -1, 0)
        f /= max(np.linalg.norm(f), 1e-9)
        return r, f

    def limb(
        self, name: str, bones: np.ndarray, d: np.ndarray, zc: np.ndarray, frame: tuple[np.ndarray, np.ndarray], observed: np.ndarray
    ) -> np.ndarray:
        """(G, K) anatomical cost of each sign combination of the arms or legs.

        ``frame`` = (r, f): r = right->left shoulder, forward f = r x up (up = image up).
        Knees bend backwards ((thigh x shank) . r > 0), feet point forward (foot . f > 0),
        elbows bend forwards ((upper x forearm) . r < 0), hands are rarely far behind the body.
        """
        t, w = self.tree, self.config.prior_weight
        r, f = frame
        vec = _group_vectors(d, bones, zc)  # (G, n, K, 3)
        ok = observed[t.children[bones]] & observed[t.bone_parent[bones]]  # (G, n)
        norms = np.sqrt(np.add.reduce(vec * vec, axis=-1)) + 1e-9  # (G, n, K)
        if name == "legs":
            knee = _cross(vec[:, 0], vec[:, 1]) @ r / (norms[:, 0] * norms[:, 1])  # (G, K) = sin(flexion)
            foot = vec[:, 2] @ f / norms[:, 2]
            cost = 6.0 * np.maximum(-knee, 0) * (ok[:, 0] & ok[:, 1])[:, None]
            cost += 3.0 * np.maximum(-foot, 0) * ok[:, 2][:, None]
            hip_flex = vec[:, 0] @ f / norms[:, 0]  # thighs rarely point far backwards
            cost += 2.0 * np.maximum(-hip_flex - 0.35, 0) * ok[:, 0][:, None]
        else:
            elbow = _cross(vec[:, 0], vec[:, 1]) @ r / (norms[:, 0] * norms[:, 1])
            reach = (vec[:, 0] + vec[:, 1]) @ f  # wrist relative to shoulder along forward, metres
            cost = 1.5 * np.maximum(elbow, 0) * (ok[:, 0] & ok[:, 1])[:, None]
            cost += 1.0 * np.maximum(-reach - 0.1, 0) / 0.2
        return w * cost
