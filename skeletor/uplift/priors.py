"""What each depth-sign state of a bone costs, apart from temporal continuity.

The sign filter (:mod:`skeletor.uplift.signs`) weighs, per bone, "child nearer" against
"child farther than its parent". Continuity alone cannot settle a sign that was never
seen, so these costs do: the detector's depth hint (MediaPipe z) where given, and weak
anatomical priors: the feet and the nose point the way the body faces, the shoulder line
turns with it, the hips are not in front of the neck and turn with the shoulders, knees
bend backwards, elbows forwards, and hands are rarely far behind the body. Each is
scaled by ``UpliftConfig.prior_weight`` (0 turns the priors off; the hint stays).

The arithmetic is in numba-compiled loops (:mod:`skeletor.compiled`): it runs for
every frame of a live stream, on arrays of a few dozen bones, where numpy's per-call
overhead would cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np

from skeletor.compiled import njit
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.tree import NECK, UpliftTree

__all__ = ["SignPriors", "anatomy_costs"]


@njit
def _hint_and_facing(
    cand: np.ndarray, d: np.ndarray, hz: np.ndarray, hint_var2: float, observed: np.ndarray, lengths: np.ndarray,
    children: np.ndarray, parents: np.ndarray, w: float, b_left: int, b_right: int, b_nose: int, b_feet: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """(B, 2) emission costs: the depth hint (``hz`` (76,) metres, NaN unknown; ``hint_var2`` =
    2 hint_std^2, 0 = no hint) and the facing priors (weight ``w``); see :meth:`SignPriors.emission`."""
    e = np.zeros_like(cand)
    if hint_var2 > 0:
        for b in range(len(children)):
            dz = hz[children[b]] - hz[parents[b]]
            if np.isfinite(dz) and observed[children[b]] and observed[parents[b]]:
                for k in range(2):
                    e[b, k] += (cand[b, k] - dz) ** 2 / hint_var2
    if w <= 0:
        return e
    # Facing: r = right->left shoulder vector. Its image x tells whether the body faces
    # the camera (r_x > 0): then the toes and the nose are nearer than ankles / neck.
    r_x = d[b_left, 0] - d[b_right, 0]
    facing = min(max(r_x / (2 * lengths[b_left] + 1e-6), -1.0), 1.0)  # +1 facing the camera, -1 facing away
    # state 0 (child nearer) preferred when facing the camera
    depth_cost = 2.0 * (cand[b_nose, 1] ** 2) / (0.1 * lengths[b_nose] + 1e-3) ** 2 * 0.02
    e[b_nose, 0] += w * max(-facing, 0.0) * depth_cost
    e[b_nose, 1] += w * max(facing, 0.0) * depth_cost
    # Shoulder line depth follows the sideways component of the facing direction, seen
    # from the nose and feet: forward_x > 0 => the left shoulder is farther (dz > 0).
    fwd_x = 0.0
    for b in (b_feet[0], b_feet[1]):
        if observed[children[b]]:
            fwd_x += d[b, 0]
    if observed[children[b_nose]]:
        fwd_x += d[b_nose, 0] * 0.5
    if abs(fwd_x) > 0.02:
        pref = 1 if fwd_x > 0 else 0  # state index preferred for the left shoulder
        cost = w * min(abs(fwd_x) / 0.05, 3.0)
        e[b_left, 1 - pref] += cost
        e[b_right, pref] += cost
    return e


@njit
def _torso_cost(d: np.ndarray, cand: np.ndarray, bones: np.ndarray, bits: np.ndarray, ok: np.ndarray, w: float) -> np.ndarray:  # pragma: no cover - compiled
    """(1, K) anatomical cost of the torso's sign combinations: hips not in front of the
    neck (no backward lean past ~3 deg), hip line turning with the shoulder line; only
    where both flanks are observed.

    Bones ``bones[g]``: neck->L shoulder, neck->R shoulder, L shoulder->L hip, R shoulder->R hip;
    ``cand`` (B, 2) each bone's depth step in its two states; ``bits`` (K, 4) the state bits;
    ``ok`` (1, 4) 1.0 where a bone is observed; ``w`` the prior weight (>= 0).
    """
    n_states = bits.shape[0]
    out = np.zeros((bones.shape[0], n_states))
    for g in range(bones.shape[0]):
        if not (ok[g, 2] > 0 and ok[g, 3] > 0):
            continue
        b0, b1, b2, b3 = bones[g, 0], bones[g, 1], bones[g, 2], bones[g, 3]
        for k in range(n_states):
            z0, z1 = cand[b0, bits[k, 0]], cand[b1, bits[k, 1]]
            z2, z3 = cand[b2, bits[k, 2]], cand[b3, bits[k, 3]]
            rx, ry, rz = d[b0, 0] - d[b1, 0], d[b0, 1] - d[b1, 1], z0 - z1  # right -> left shoulder
            fx, fz = rz, -rx  # r x up, up = (0, -1, 0)
            fn = np.sqrt(fx * fx + fz * fz) + 1e-9
            fx, fz = fx / fn, fz / fn
            lx, ly, lz = d[b0, 0] + d[b2, 0], d[b0, 1] + d[b2, 1], z0 + z2  # left hip, from the neck
            qx, qy, qz = d[b1, 0] + d[b3, 0], d[b1, 1] + d[b3, 1], z1 + z3  # right hip
            mx, my, mz = 0.5 * (lx + qx), 0.5 * (ly + qy), 0.5 * (lz + qz)
            lean = (mx * fx + mz * fz) / (np.sqrt(mx * mx + my * my + mz * mz) + 1e-9)  # > 0: hips in front of the neck
            hx, hy, hz = lx - qx, ly - qy, lz - qz
            twist = (hx * rx + hy * ry + hz * rz) / (np.sqrt(hx * hx + hy * hy + hz * hz) * np.sqrt(rx * rx + ry * ry + rz * rz) + 1e-9)
            out[g, k] = w * (4.0 * max(lean - 0.05, 0.0) + 3.0 * max(0.6 - twist, 0.0))
    return out


@njit
def _limb_cost(
    legs: bool, d: np.ndarray, cand: np.ndarray, bones: np.ndarray, bits: np.ndarray, ok: np.ndarray, r: np.ndarray, f: np.ndarray, w: float
) -> np.ndarray:  # pragma: no cover - compiled
    """(G, K) anatomical cost of each sign combination of the arms or legs.

    (r, f) is the body frame (:func:`_body_frame`): r = right->left shoulder, forward
    f = r x up (up = image up). Knees bend backwards ((thigh x shank) . r > 0), feet point
    forward (foot . f > 0), elbows bend forwards ((upper x forearm) . r < 0), hands are
    rarely far behind the body. ``bits`` (K, n) the state bits, ``ok`` (G, n) 1.0 where a
    bone is observed.
    """
    n_states = bits.shape[0]
    out = np.zeros((bones.shape[0], n_states))
    v = np.empty((bones.shape[1], 3))
    norm = np.empty(bones.shape[1])
    for g in range(bones.shape[0]):
        for k in range(n_states):
            for i in range(bones.shape[1]):
                b = bones[g, i]
                v[i, 0], v[i, 1], v[i, 2] = d[b, 0], d[b, 1], cand[b, bits[k, i]]
                norm[i] = np.sqrt(v[i, 0] ** 2 + v[i, 1] ** 2 + v[i, 2] ** 2) + 1e-9
            # (upper x lower) . r: the bend at the middle joint, as sin(flexion)
            cx = v[0, 1] * v[1, 2] - v[0, 2] * v[1, 1]
            cy = v[0, 2] * v[1, 0] - v[0, 0] * v[1, 2]
            cz = v[0, 0] * v[1, 1] - v[0, 1] * v[1, 0]
            bend = (cx * r[0] + cy * r[1] + cz * r[2]) / (norm[0] * norm[1])
            if legs:  # knees bend backwards, feet point forward, thighs rarely far backwards
                foot = (v[2, 0] * f[0] + v[2, 1] * f[1] + v[2, 2] * f[2]) / norm[2]
                hip_flex = (v[0, 0] * f[0] + v[0, 1] * f[1] + v[0, 2] * f[2]) / norm[0]
                cost = 6.0 * max(-bend, 0.0) * (ok[g, 0] * ok[g, 1])
                cost += 3.0 * max(-foot, 0.0) * ok[g, 2]
                cost += 2.0 * max(-hip_flex - 0.35, 0.0) * ok[g, 0]
            else:  # elbows bend forwards, hands rarely far behind the body
                reach = (v[0, 0] + v[1, 0]) * f[0] + (v[0, 1] + v[1, 1]) * f[1] + (v[0, 2] + v[1, 2]) * f[2]  # metres
                cost = 1.5 * max(bend, 0.0) * (ok[g, 0] * ok[g, 1])
                cost += 1.0 * max(-reach - 0.1, 0.0) / 0.2
            out[g, k] = w * cost
    return out


@njit
def _observed_bones(bones: np.ndarray, observed: np.ndarray, children: np.ndarray, parents: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(G, n) 1.0 where both ends of bone ``bones[g, i]`` are observed, else 0.0."""
    out = np.zeros(bones.shape)
    for g in range(bones.shape[0]):
        for i in range(bones.shape[1]):
            b = bones[g, i]
            if observed[children[b]] and observed[parents[b]]:
                out[g, i] = 1.0
    return out


@njit
def _body_frame(d: np.ndarray, sign: np.ndarray, lengths: np.ndarray, b_left: int, b_right: int) -> tuple[bool, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The body frame from the chosen torso signs: (defined, r = right -> left shoulder, forward
    f = r x up), unit vectors; not defined when the shoulders coincide."""
    r = np.zeros(3)
    f = np.zeros(3)
    r[0], r[1] = d[b_left, 0] - d[b_right, 0], d[b_left, 1] - d[b_right, 1]
    r[2] = sign[b_left] * np.sqrt(max(lengths[b_left] ** 2 - (d[b_left, 0] ** 2 + d[b_left, 1] ** 2), 0.0)) - sign[b_right] * np.sqrt(
        max(lengths[b_right] ** 2 - (d[b_right, 0] ** 2 + d[b_right, 1] ** 2), 0.0)
    )
    nr = np.sqrt(r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
    if nr < 1e-6:
        return False, r, f
    r /= nr
    f[0], f[2] = r[2], -r[0]  # r x up, up = (0, -1, 0)
    f /= max(np.sqrt(f[0] ** 2 + f[2] ** 2), 1e-9)
    return True, r, f


@njit
def anatomy_costs(
    group: int, d: np.ndarray, cand: np.ndarray, sign: np.ndarray, lengths: np.ndarray, observed: np.ndarray, children: np.ndarray,
    parents: np.ndarray, bones: np.ndarray, bits: np.ndarray, w: float, b_left: int, b_right: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """(G, K) the anatomical cost of each state of a sign group: 0 = singles (none), 1 = the
    torso, 2 = the arms, 3 = the legs. The limbs' need the body frame of the torso's chosen
    signs (already in ``sign``); none while it is undefined, or with ``w`` (the prior
    weight) <= 0."""
    if group == 0 or w <= 0:
        return np.zeros((bones.shape[0], bits.shape[0]))
    ok = _observed_bones(bones, observed, children, parents)
    if group == 1:
        return _torso_cost(d, cand, bones, bits, ok, w)
    have, r, f = _body_frame(d, sign, lengths, b_left, b_right)
    if not have:
        return np.zeros((bones.shape[0], bits.shape[0]))
    return _limb_cost(group == 3, d, cand, bones, bits, ok, r, f, w)


class SignPriors:
    """The depth hint's and the facing priors' costs of each bone's sign state, for one uplift tree and config.

    (The group priors, torso and limbs, are :func:`anatomy_costs`, which the sign filter
    calls inside its compiled forward step.)
    """

    def __init__(self, tree: UpliftTree, config: UpliftConfig) -> None:
        self.tree = tree
        self.config = config
        self._feet = np.array(tree.b_feet, dtype=np.int64)
        self._no_hint = np.full(tree.num_joints, np.nan)

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
        hz, var2 = self._no_hint, 0.0
        if depth is not None and np.isfinite(cfg.hint_std):
            hz = np.empty(t.num_joints)
            hz[:75] = np.asarray(depth, np.float64) / s  # metres, smaller = nearer
            hz[NECK] = 0.5 * (hz[11] + hz[12])
            var2 = 2 * cfg.hint_std**2
        return _hint_and_facing(
            cand, d, hz, var2, observed, lengths, t.children, t.bone_parent, float(cfg.prior_weight), t.b_shoulder[0], t.b_shoulder[1], t.b_nose, self._feet
        )
