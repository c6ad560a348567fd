"""The depth-sign filter: which way, towards the camera or away, each bone points in depth.

From 2D alone a bone's depth step is known up to its sign, ``dz = +-sqrt(L^2 - l^2)``.
The sign is chosen by a hidden-Markov filter per sign group: single bones have two states
(child nearer / farther than its parent); the torso (both shoulders, both flanks), each
arm (upper arm, forearm) and each leg (thigh, shank, foot) is one group whose 2^n states
are the sign combinations, so the anatomical priors of :mod:`skeletor.uplift.priors` can
judge the limb as a whole. The transition cost is the temporal continuity of dz (std
``continuity_std`` plus 15 % of the bone's length); the emission cost is those priors and
the detector's depth hint.

Causal output uses the forward (Viterbi filtering) recursion of :class:`SignFilter`. With
lookahead k, the filter keeps each frame's costs and back-pointers (:class:`SignStep`) so
that the frame k behind the newest can be re-decided with the frames after it: the
posterior mean sign by a backward pass (:func:`smoothed_soft`, soft signs) or the best
path by Viterbi back-tracking (:func:`backtrack`, hard signs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skeletor.compiled import njit
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.priors import SignPriors, anatomy_costs
from skeletor.uplift.tree import UpliftTree

__all__ = ["SignStep", "SignFilter", "smoothed_soft", "backtrack"]


@dataclass
class SignStep:
    """The sign filter's output for one frame.

    Attributes:
        sign: (B,) +-1, the most likely sign of each bone given the frames so far.
        soft: (B,) in [-1, 1], the posterior mean sign of each bone given the frames so far.
        back: per sign group, (G, K) the best previous state for each current state
            (kept only with lookahead, for back-tracking).
        hmm: per sign group, this frame's (transition costs (G, K', K), emission costs
            (G, K), forward costs (G, K)) (kept only with lookahead, for smoothing).
    """

    sign: np.ndarray
    soft: np.ndarray
    back: dict[str, np.ndarray]
    hmm: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


class SignFilter:
    """The forward recursion of the sign HMM over a stream, one frame per :meth:`step`."""

    def __init__(self, tree: UpliftTree, config: UpliftConfig) -> None:
        self.tree = tree
        self.config = config
        self.priors = SignPriors(tree, config)
        self.reset()

    def reset(self) -> None:
        """Forget the past: every state equally likely, no previous depth step."""
        t = self.tree
        self._prev_z: np.ndarray = np.zeros((len(t.children), 2))  # candidate dz values (state -, state +) last frame
        # Filter costs per sign group: single bones (2 states), arms (4), legs (8).
        self._groups = [t.sign_groups[name] for name in _GROUPS]  # (G, n) each
        self._bits = [t.group_bits[name] for name in _GROUPS]  # (K, n) each
        self._alpha = [np.zeros((len(g), 2 ** g.shape[1])) for g in self._groups]  # (G, K) forward costs

    def step(
        self, d: np.ndarray, m: np.ndarray, depth: np.ndarray | None, s: float, observed: np.ndarray, lengths: np.ndarray
    ) -> SignStep:
        """Forward recursion (Viterbi filtering) per sign group for one new frame.

        Args:
            d: (B, 2) the frame's 2D bone vectors, metres.
            m: (B,) each bone's depth extent ``sqrt(L^2 - l^2)``, metres (0 = undecidable).
            depth: optional (75,) depth hint, pixels (smaller = nearer), NaN unknown.
            s: the frame's scale, pixels per metre.
            observed: (76,) joints detected in this frame.
            lengths: (B,) the current bone lengths, metres.

        Returns:
            The signs and, with lookahead, the back-pointers and costs (empty at lookahead
            0, where nothing looks back).
        """
        t, cfg = self.tree, self.config
        cand = np.stack([-m, m], axis=-1)  # (B, 2): state bit 0 = child nearer (dz < 0), 1 = farther
        step = _continuity(cand, self._prev_z, cfg.continuity_std + 0.15 * lengths)  # (B, 2, 2)
        single_e = self.priors.emission(cand, d, depth, s, observed, lengths)  # (B, 2)
        sign, soft, groups = _forward(
            step, single_e, cand, d, lengths, observed, t.children, t.bone_parent, *self._groups, *self._bits, *self._alpha,
            cfg.sign_temperature, float(cfg.prior_weight), t.b_shoulder[0], t.b_shoulder[1],
        )  # fmt: skip
        self._alpha = [alpha for _, _, _, alpha in groups]
        back: dict[str, np.ndarray] = {}
        hmm: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if cfg.lookahead > 0:  # back-pointers and costs are kept per frame for back-tracking and lookahead smoothing
            for name, (trans, emit, best_prev, alpha) in zip(_GROUPS, groups):
                back[name] = best_prev
                hmm[name] = (trans, emit, alpha.copy())
        self._prev_z = cand
        return SignStep(sign, soft, back, hmm)


_GROUPS = ("singles", "torso", "arms", "legs")  # the order of the forward step: the shoulders fix the body's facing, which the limbs need


@njit
def _forward(
    step: np.ndarray, single_e: np.ndarray, cand: np.ndarray, d: np.ndarray, lengths: np.ndarray, observed: np.ndarray,
    children: np.ndarray, parents: np.ndarray,
    singles: np.ndarray, torso: np.ndarray, arms: np.ndarray, legs: np.ndarray,
    bits_singles: np.ndarray, bits_torso: np.ndarray, bits_arms: np.ndarray, bits_legs: np.ndarray,
    alpha_singles: np.ndarray, alpha_torso: np.ndarray, alpha_arms: np.ndarray, alpha_legs: np.ndarray,
    temperature: float, w: float, b_left: int, b_right: int,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:  # pragma: no cover - compiled
    """The forward step of every sign group in :data:`_GROUPS` order, each with its anatomical
    costs (:func:`~skeletor.uplift.priors.anatomy_costs`): (sign (B,), soft (B,), per group
    (trans, emit, best previous state, new forward costs) as :func:`_group_forward`)."""
    sign = np.zeros(len(lengths))
    soft = np.zeros(len(lengths))
    out = []
    for k, (bones, bits, alpha) in enumerate(
        ((singles, bits_singles, alpha_singles), (torso, bits_torso, alpha_torso), (arms, bits_arms, alpha_arms), (legs, bits_legs, alpha_legs))
    ):
        extra = anatomy_costs(k, d, cand, sign, lengths, observed, children, parents, bones, bits, w, b_left, b_right)
        out.append(_group_forward(step, single_e, extra, bones, bits, alpha, temperature, sign, soft))
    return sign, soft, out


@njit
def _continuity(cand: np.ndarray, prev_z: np.ndarray, tau: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(B, 2, 2) continuity cost of each bone going from state s' (last frame, ``prev_z``
    (B, 2)) to state s (``cand`` (B, 2)): a Gaussian on the change of dz, std ``tau`` (B,)."""
    out = np.empty((cand.shape[0], 2, 2))
    for b in range(cand.shape[0]):
        var2 = 2 * tau[b] ** 2
        for sp in range(2):
            for sc in range(2):
                out[b, sp, sc] = (cand[b, sc] - prev_z[b, sp]) ** 2 / var2
    return out


@njit
def _group_forward(
    step: np.ndarray, single_e: np.ndarray, extra: np.ndarray, bones: np.ndarray, bits: np.ndarray, alpha: np.ndarray,
    temperature: float, sign: np.ndarray, soft: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """One forward step of a sign group's HMM (min-sum), and its bones' signs.

    A group of n bones has K = 2^n states; state k gives bone i the state bit
    ``bits[k, i]`` (0 = child nearer). Costs: the transition from k' to k is the sum of its
    bones' continuity costs ``step`` (B, 2, 2); the emission the sum of their ``single_e``
    (B, 2) plus the group's anatomical ``extra`` (G, K).

    Args:
        step, single_e, extra: as above.
        bones: (G, n) the groups' bones.
        bits: (K, n) the state bits.
        alpha: (G, K) last frame's forward costs.
        temperature: of the posterior over the states.
        sign: (B,) written for the group's bones: the best state's sign, +-1.
        soft: (B,) written for the group's bones: the posterior mean sign.

    Returns:
        trans (G, K', K), emit (G, K), the best previous state of each state (G, K), and the
        new forward costs (G, K), shifted to a minimum of 0 and capped at 50 (bounded
        memory: evidence can always be overturned).
    """
    n_groups, n = bones.shape
    n_states = bits.shape[0]
    trans = np.empty((n_groups, n_states, n_states))
    emit = np.empty((n_groups, n_states))
    best_prev = np.empty((n_groups, n_states), dtype=np.int64)
    new = np.empty((n_groups, n_states))
    post = np.empty(n_states)
    for g in range(n_groups):
        for k in range(n_states):
            e = 0.0
            for i in range(n):
                e += single_e[bones[g, i], bits[k, i]]
            emit[g, k] = e + extra[g, k]
            for kp in range(n_states):
                c = 0.0
                for i in range(n):
                    c += step[bones[g, i], bits[kp, i], bits[k, i]]
                trans[g, kp, k] = c
        for k in range(n_states):
            arg, low = 0, alpha[g, 0] + trans[g, 0, k]
            for kp in range(1, n_states):
                v = alpha[g, kp] + trans[g, kp, k]
                if v < low:
                    arg, low = kp, v
            best_prev[g, k] = arg
            new[g, k] = low + emit[g, k]
        floor = new[g].min()
        best, total = 0, 0.0
        for k in range(n_states):
            new[g, k] = min(new[g, k] - floor, 50.0)
            if new[g, k] < new[g, best]:
                best = k
            post[k] = np.exp(-new[g, k] / temperature)
            total += post[k]
        for i in range(n):
            mean = 0.0
            for k in range(n_states):
                mean += post[k] / total * (2.0 * bits[k, i] - 1.0)
            sign[bones[g, i]] = 2.0 * bits[best, i] - 1.0
            soft[bones[g, i]] = mean
    return trans, emit, best_prev, new


def smoothed_soft(steps: Sequence[SignStep], tree: UpliftTree, temperature: float) -> np.ndarray:
    """(B,) posterior mean sign of the oldest of ``steps`` (oldest first) given all of them.

    Backward pass over the steps (the forward costs ``alpha`` are stored per frame),
    summing over paths: beta_j(s) = -log sum_s' exp(-[trans_{j+1}(s, s') +
    emit_{j+1}(s') + beta_{j+1}(s')]); the posterior of the oldest frame is then
    exp(-(alpha + beta) / temperature).
    """
    oldest = steps[0]
    soft = oldest.soft.copy()
    for name, bones in tree.sign_groups.items():
        if name not in oldest.hmm:
            continue
        beta = np.zeros_like(oldest.hmm[name][2])  # (G, K) at the newest frame
        for j in range(len(steps) - 1, 0, -1):
            trans, emit, _ = steps[j].hmm[name]
            c = trans + (emit + beta)[:, None, :]  # (G, K', K)
            cmin = c.min(axis=2, keepdims=True)
            beta = (cmin - np.log(np.exp(-(c - cmin)).sum(axis=2, keepdims=True)))[:, :, 0]  # (G, K') soft-min: sum over paths
            beta -= beta.min(axis=1, keepdims=True)
        cost = oldest.hmm[name][2] + beta
        post = np.exp(-(cost - cost.min(axis=1, keepdims=True)) / temperature)
        post /= post.sum(1, keepdims=True)  # (G, K)
        soft[bones] = post @ tree.group_sign_bits[name]  # (G, n)
    return soft


def backtrack(steps: Sequence[SignStep], tree: UpliftTree) -> list[np.ndarray]:
    """Best sign (+-1 per bone) of every one of ``steps`` (oldest first), by Viterbi back-tracking from the newest."""
    groups = tree.sign_groups
    last = steps[-1]
    state = {}
    for name, bones in groups.items():
        # recover the newest frame's group states from its chosen signs
        state[name] = ((last.sign[bones] > 0).astype(np.int64) * (1 << np.arange(bones.shape[1]))).sum(1)
    signs = []
    for k in range(len(steps) - 1, -1, -1):
        sign = np.zeros_like(last.sign)
        for name, bones in groups.items():
            sign[bones] = tree.group_sign_bits[name][state[name]]
        signs.append(sign)
        if k > 0:
            back = steps[k].back
            state = {name: back[name][np.arange(len(st)), st] for name, st in state.items()}
    return signs[::-1]
