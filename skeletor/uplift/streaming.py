"""2D -> 3D uplift with constant bone lengths (after Zelinka & Kanis, WACV 2020).

Model
-----
Weak perspective: a joint at camera-frame position ``(X, Y, Z_t + z)`` appears at pixel
``c + sigma_t * (X, Y)``, where ``sigma_t = f / Z_t`` is the subject's scale in pixels per
metre at frame t and ``c`` the image centre. So each joint's X, Y come straight from its
2D position; what the uplift solves is the depth ``z`` of every joint relative to a root.

Along a bone of 3D length L whose 2D projection has length l (in metres, i.e. pixels /
sigma_t), the depth step is ``dz = +-sqrt(L^2 - l^2)``. The magnitude is known; the sign is
the classic ambiguity. It is resolved per bone by a two-state filter (Viterbi forward
recursion) whose transition cost is temporal continuity of dz and whose emission cost
comes from the detector's depth hint (MediaPipe z) where given, and from weak anatomical
priors: the feet and the nose point the way the body faces, the shoulder line turns with
it, and knees bend backwards.

Bone lengths are not known in advance. They are estimated online as a high quantile of
each bone's observed 2D length (a bone is at its full length when parallel to the image),
blended with an anthropometric prior while few frames have been seen, shared between left
and right twins, and anchored so that the body has an average adult size: **units are
metres under that assumption** (the true scale of a monocular view is unknown; all our
scores are scale-invariant).

The tree is ``holistic75`` plus one virtual joint, the neck (mid-shoulders), which is the
root and the parent of the nose and both shoulders.

Two entry points:
    :class:`StreamingUplifter` -- frame by frame, O(1) per frame (< 1 ms), lookahead k
        (0 = causal; k > 0 emits the frame k behind the newest, with k frames of sign
        back-tracking and smoothing).
    :func:`uplift_sequence` -- the whole-sequence uplift: global bone lengths, Viterbi over
        the whole sequence, then gradient descent on confidence-weighted reprojection
        error + bone-length term + temporal smoothness (left/right share lengths).

Output coordinates: camera frame, x right, y down, z forward, metres (see above).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.pose.skeleton import HOLISTIC75, Skeleton

__all__ = ["UpliftConfig", "StreamingUplifter", "UpliftFrame", "uplift_streaming", "uplift_sequence", "flat_uplift", "fill_unestimated", "UpliftTree"]

log = logging.getLogger(__name__)

NECK = 75  # index of the virtual root joint in the uplift tree

# Anthropometric prior (metres) of an average adult, by holistic75 bone (parent, child) names.
_PRIOR_BODY = {
    ("neck", "nose"): 0.24, ("neck", "left_shoulder"): 0.19,
    ("nose", "left_eye_inner"): 0.035, ("left_eye_inner", "left_eye"): 0.015, ("left_eye", "left_eye_outer"): 0.015,
    ("left_eye_outer", "left_ear"): 0.07, ("nose", "mouth_left"): 0.045,
    ("left_shoulder", "left_elbow"): 0.29, ("left_elbow", "left_wrist"): 0.26,
    ("left_wrist", "left_pinky"): 0.085, ("left_wrist", "left_index"): 0.095, ("left_wrist", "left_thumb"): 0.06,
    ("left_shoulder", "left_hip"): 0.50, ("left_hip", "left_knee"): 0.43, ("left_knee", "left_ankle"): 0.42,
    ("left_ankle", "left_heel"): 0.07, ("left_ankle", "left_foot_index"): 0.15,
    ("left_wrist", "left_hand_wrist"): 0.0,
}  # fmt: skip
_PRIOR_HAND = {
    "thumb_cmc": 0.035, "thumb_mcp": 0.04, "thumb_ip": 0.032, "thumb_tip": 0.026,
    "index_mcp": 0.095, "index_pip": 0.045, "index_dip": 0.026, "index_tip": 0.022,
    "middle_mcp": 0.09, "middle_pip": 0.05, "middle_dip": 0.03, "middle_tip": 0.023,
    "ring_mcp": 0.085, "ring_pip": 0.046, "ring_dip": 0.029, "ring_tip": 0.022,
    "pinky_mcp": 0.08, "pinky_pip": 0.035, "pinky_dip": 0.021, "pinky_tip": 0.02,
}  # fmt: skip
# Bones used to fix the absolute scale (they are long, rarely missing in either use case).
_REFERENCE_BONES = (("neck", "left_shoulder"), ("neck", "right_shoulder"), ("neck", "nose"),
                    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
                    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"))  # fmt: skip


# _BITS[n][k, i] = bit i of state k: the sign state of bone i in a group of n bones.
_BITS = {n: (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1 for n in (1, 2, 3, 4)}


def nanquantile_rows(a: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(a, q, axis=1)`` (linear interpolation) for a 2D array, vectorised.

    numpy's version loops over the rows in Python; this partitions each group of rows
    with the same count of finite values once (see :func:`_quantile_rows`). Rows without
    a finite value give NaN, silently.
    """
    a = np.asarray(a, np.float64)
    finite = np.isfinite(a)
    return _quantile_rows(np.where(finite, a, np.inf), np.add.reduce(finite, axis=1), q)


def _quantile_rows(a: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """(S,) q-quantile (linear interpolation) of the n[i] finite values of each row of ``a``
    (S, N), whose other entries are +inf, so they order last; NaN where n[i] = 0.

    Interpolates between the order statistics around ``q * (n - 1)``, found by
    ``np.partition`` on each group of rows with the same n: linear in N, where a full sort
    of the bone-length history cost a third of a millisecond a frame.
    """
    last = np.maximum(n - 1, 0)
    pos = q * last
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, last)
    frac = pos - lo
    out = np.full(len(a), np.nan)
    for count in np.unique(n[n > 0]):  # usually one or two groups: the body's bones, the hands'
        rows = np.nonzero(n == count)[0]
        k_lo, k_hi = int(lo[rows[0]]), int(hi[rows[0]])
        part = np.partition(a[rows], (k_lo, k_hi) if k_hi != k_lo else k_lo, axis=1)  # (R, N)
        out[rows] = part[:, k_lo] * (1.0 - frac[rows]) + part[:, k_hi] * frac[rows]
    return out


def _with_neck_joint(poses: np.ndarray) -> np.ndarray:
    """(..., 75, 3) poses -> (..., 76, 3) with the uplift tree's virtual neck (mid-shoulder) as joint 75, in their dtype."""
    return np.concatenate([poses, 0.5 * (poses[..., 11:12, :] + poses[..., 12:13, :])], axis=-2)


def _finite_or_zero(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN and inf replaced by 0 (``np.nan_to_num`` without its slow inf handling)."""
    return np.where(np.isfinite(x), x, 0.0)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (size 3), the same arithmetic as ``np.cross`` without its axis juggling."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a1 * b2 - a2 * b1
    out[..., 1] = a2 * b0 - a0 * b2
    out[..., 2] = a0 * b1 - a1 * b0
    return out


def _left(name: str) -> str:
    return name.replace("right_", "left_").replace("_right", "_left")


@dataclass(frozen=True)
class UpliftConfig:
    """Settings of the uplift (streaming and whole-sequence).

    Attributes:
        focal_px: focal length in pixels, used only to place the subject at a plausible
            distance (z of the root); None = the larger image side (a ~55 deg webcam).
        min_confidence: joints below this confidence are treated as missing.
        length_quantile: quantile of observed 2D bone lengths taken as the 3D length.
        length_history: frames of history for the online bone-length estimate.
        prior_frames: weight (in frames) of the anthropometric prior in the length estimate.
        scale_quantile: quantile of per-bone (2D length / 3D length) ratios giving the scale.
            Together with ``length_quantile`` it sets how long bones are relative to their
            2D lengths, i.e. how much depth the uplift gives the body: a higher scale
            quantile assumes more bones are seen at full length, and yields more depth.
            None = 0.8 with a known rig (``bone_lengths`` given), 0.6 with lengths
            estimated online. Estimated lengths err per bone (+-5-10 %), and an overlong
            bone gets depth it does not have: the lower quantile gives less depth overall.
            0.9 / 0.6 (were 0.85 / 0.8) were chosen on views of Bandai *training* clips and
            on the PyMO walk (N-MPJPE 117 -> 109 mm and 144 -> 122 mm there; the test
            split was not used).
        scale_smoothing: exponential smoothing of the per-frame scale (0 = none).
        continuity_std: std (metres per frame, plus 15 % of the bone length) of depth steps.
        hint_std: std (metres) trusted in a detector's depth hint; inf ignores hints.
        prior_weight: weight of the anatomical sign priors (facing, knees).
        outlier_ratio: a joint whose 2D bone exceeds this times its 3D length, and which
            jumped, is treated as missing for the frame.
        max_jump_m: a joint moving more than this (metres) in one frame is an outlier.
        carry_half_life: frames over which a missing joint's output confidence halves.
        lookahead: frames of delay (0 = causal). k > 0 back-tracks depth signs k frames.
        limb_ratio_floor: (legs, arms): each of thigh and shank is at least ``legs`` times
            the other, each of upper arm and forearm at least ``arms`` times the other.
            A bone's length is a high quantile of its 2D lengths, which a bone never seen
            straight across the image (a runner's always-bent shank) underestimates; these
            anthropometric bounds (thigh and shank ~0.245 of body height each, forearm
            ~0.8 of the upper arm: Winter, Biomechanics of Human Movement) catch the worst
            of it. (0, 0) turns them off. Legs at 0.95: a standing person's shank leans in
            depth and is never seen at full length, the thigh is; people's thigh/shank
            ratios differ by a few per cent. Chosen on Bandai *training* views, the PyMO
            walk, and training views of bodies whose bones were each rescaled by a random
            ~4 % (human variation): 0.85 -> 0.95 gave -2.4, -1.0 and -1.9 mm N-MPJPE there
            (1.0 was better on the first only; with bones rescaled by up to 18 % each, far
            beyond human spread, 0.95 costs 2.4 mm). On the test split: -1.3 mm. Re-checked
            after undecided bones went to their parent's depth (training views, PyMO,
            re-proportioned bodies): 0.9 is worse on all three (+1.4 / +0.5 / +0.7 mm), 1.0
            better on the first only (-1.5 / +1.6 / +1.1).
        soft_signs: causal output uses the posterior mean of each bone's depth sign (the
            minimum-mean-square-error choice) instead of the single most likely sign; an
            uncertain bone is drawn shorter in depth rather than confidently wrong.
        sign_temperature: temperature of that posterior (< 1 sharpens it towards hard
            signs: longer, steadier bones, larger errors when the sign is wrong).
        rigid_soft_signs: after a soft sign has placed a child between its two depth
            solutions (nearer its parent than the bone's length), stretch the bone back to
            its length along the same direction, so every bone keeps its length (the
            uplift's promise). Costs 0.7 mm N-MPJPE on the public benchmark and halves the
            bone-length CV there (5.2 -> 2.4 %; about 3 mm before undecided bones were
            placed at their parent's depth).
        perspective: place each joint on its pixel's viewing ray at its bone's length from
            its parent (full pinhole model, needs a focal length) instead of weak perspective.
    """

    focal_px: float | None = None
    min_confidence: float = 0.3
    length_quantile: float = 0.9
    length_history: int = 300
    prior_frames: float = 1.0
    scale_quantile: float | None = None
    scale_smoothing: float = 0.8
    continuity_std: float = 0.03
    hint_std: float = 0.15
    prior_weight: float = 1.0
    outlier_ratio: float = 1.3
    max_jump_m: float = 0.6
    carry_half_life: float = 15.0
    lookahead: int = 0
    limb_ratio_floor: tuple[float, float] = (0.95, 0.7)
    perspective: bool = True
    soft_signs: bool = True
    sign_temperature: float = 1.0
    rigid_soft_signs: bool = True

    def focal_length(self, image_size: tuple[int, int]) -> float:
        """The focal length (pixels) the uplift assumes for images of ``image_size`` (width, height)."""
        return float(self.focal_px or max(image_size))


class UpliftTree:
    """The uplift's bone tree: a skeleton plus a virtual neck root (index J)."""

    def __init__(self, skeleton: Skeleton = HOLISTIC75) -> None:
        if skeleton.name != "holistic75":
            raise ValueError(f"the uplift works on holistic75, got {skeleton.name}")
        self.skeleton = skeleton
        j = skeleton.num_joints
        parents = list(skeleton.parents) + [-1]
        for k in (0, 11, 12):  # nose and both shoulders hang off the virtual neck
            parents[k] = NECK
        self.parents = np.array(parents, dtype=np.int64)
        self.num_joints = j + 1
        names = list(skeleton.joints) + ["neck"]
        self.names = names
        # Bones = every joint but the root, grouped into levels (depth in the tree).
        depth = np.zeros(j + 1, dtype=np.int64)
        order = self._order()
        for c in order:
            if parents[c] >= 0:
                depth[c] = depth[parents[c]] + 1
        self.children = np.array([c for c in order if parents[c] >= 0], dtype=np.int64)  # (B,)
        self.bone_parent = self.parents[self.children]
        self.bone_of_child = np.full(j + 1, -1, dtype=np.int64)
        self.bone_of_child[self.children] = np.arange(len(self.children))
        self.levels = [np.nonzero(depth[self.children] == d)[0] for d in range(1, int(depth.max()) + 1)]
        # Left/right twins share a length: map each bone to a canonical "left" bone id.
        key = {}
        share = np.zeros(len(self.children), dtype=np.int64)
        for b, (p, c) in enumerate(zip(self.bone_parent, self.children)):
            k2 = (_left(names[p]), _left(names[c]))
            share[b] = key.setdefault(k2, len(key))
        self.share = share
        self.num_shared = len(key)
        first: dict[int, int] = {}
        for b_, sh in enumerate(share):
            first.setdefault(int(sh), b_)
        self.share_first = np.array(sorted(first.values()))  # one bone per shared length
        self.share_second = np.array([b_ for b_ in range(len(share)) if b_ not in first.values()])  # their twins
        self.share_size = np.bincount(share, minlength=self.num_shared).astype(np.float64)
        self.share_first_shared = share[self.share_first]  # (S,) their shared-length ids
        self.share_second_shared = share[self.share_second]
        self.prior = np.array([self._prior(names[p], names[c]) for p, c in zip(self.bone_parent, self.children)])
        self.prior_shared = np.zeros(self.num_shared)
        self.prior_shared[share] = self.prior  # (S,)
        self.reference = np.array(
            [b for b, (p, c) in enumerate(zip(self.bone_parent, self.children)) if (names[p], names[c]) in _REFERENCE_BONES]
        )
        idx = {n: i for i, n in enumerate(names)}
        b = lambda p, c: int(self.bone_of_child[idx[c]])  # noqa: E731 (bone id by joint names)
        self.b_shoulder = (b("neck", "left_shoulder"), b("neck", "right_shoulder"))
        self.b_nose = b("neck", "nose")
        self.b_feet = (b("left_ankle", "left_foot_index"), b("right_ankle", "right_foot_index"))
        # Limb chains whose depth signs are chosen jointly (anatomy couples them).
        self.legs = np.array([[b(f"{s}_hip", f"{s}_knee"), b(f"{s}_knee", f"{s}_ankle"), b(f"{s}_ankle", f"{s}_foot_index")]
                              for s in ("left", "right")])  # (2, 3): thigh, shank, foot
        self.arms = np.array([[b(f"{s}_shoulder", f"{s}_elbow"), b(f"{s}_elbow", f"{s}_wrist")]
                              for s in ("left", "right")])  # (2, 2): upper arm, forearm
        self.torso = np.array([[b("neck", "left_shoulder"), b("neck", "right_shoulder"),
                                b("left_shoulder", "left_hip"), b("right_shoulder", "right_hip")]])  # (1, 4)
        grouped = set(self.legs.ravel()) | set(self.arms.ravel()) | set(self.torso.ravel())
        self.singles = np.array([k for k in range(len(self.children)) if k not in grouped])[:, None]  # (S, 1)
        self.hips = (idx["left_hip"], idx["right_hip"])
        # Precomputed for the streaming hot path (numpy call overhead dominates there):
        # Bones are in breadth-first order, so each level is a contiguous range: a slice.
        assert all((np.diff(lvl) == 1).all() for lvl in self.levels)
        self.level_index = [(slice(int(lvl[0]), int(lvl[-1]) + 1), self.children[lvl], self.bone_parent[lvl]) for lvl in self.levels]
        self.depth = depth  # (J+1,) bones between each joint and the root
        self.sign_groups = {"singles": self.singles, "torso": self.torso, "arms": self.arms, "legs": self.legs}
        # Flat indices into (B, 2) per-bone-and-state and (B, 2, 2) per-bone-and-state-pair tables:
        # state k of a group of n bones gives bone i the state bit _BITS[n][k, i].
        self.group_state_index = {name: g[:, :, None] * 2 + _BITS[g.shape[1]].T[None] for name, g in self.sign_groups.items()}  # (G, n, K)
        self.group_pair_index = {
            name: g[:, :, None, None] * 4 + 2 * _BITS[g.shape[1]].T[None, :, :, None] + _BITS[g.shape[1]].T[None, :, None, :]
            for name, g in self.sign_groups.items()
        }  # (G, n, K', K): previous state K', current state K
        self.group_sign_bits = {name: 2.0 * _BITS[g.shape[1]] - 1.0 for name, g in self.sign_groups.items()}  # (K, n) +-1

    def shared_id(self, child: str) -> int:
        """The shared-length id (left/right twins share one) of the bone ending at joint ``child``."""
        return int(self.share[self.bone_of_child[self.names.index(child)]])

    def _order(self) -> list[int]:
        order, frontier = [], [i for i, p in enumerate(self.parents) if p < 0]
        while frontier:
            order += frontier
            frontier = [c for c in range(len(self.parents)) if self.parents[c] in set(frontier)]
        return order

    @staticmethod
    def _prior(p: str, c: str) -> float:
        lp, lc = _left(p), _left(c)
        if (lp, lc) in _PRIOR_BODY:
            return _PRIOR_BODY[(lp, lc)]
        if lc.startswith("left_hand_"):
            return _PRIOR_HAND.get(lc[len("left_hand_") :], 0.03)
        if lp == "nose" and lc == "mouth_left":
            return 0.045
        return 0.05

    def bone_lengths_of(self, poses: np.ndarray) -> np.ndarray:
        """(B,) mean bone lengths of ``(T, 75, 3)`` 3D poses (NaN for bones never seen), in tree order."""
        p = np.asarray(poses, np.float64)
        if p.ndim != 3 or p.shape[1:] != (75, 3):
            raise ValueError(f"expected (T, 75, 3) poses, got {p.shape}")
        p = _with_neck_joint(p)  # (T, 76, 3)
        ln = np.linalg.norm(p[:, self.children] - p[:, self.bone_parent], axis=-1)  # (T, B)
        ok = np.isfinite(ln)
        return np.where(ok.any(0), np.where(ok, ln, 0.0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)

    def impose_lengths(self, pose: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(75, 3) ``pose`` with every tree bone set to ``lengths`` (B,), directions kept.

        Walks from the root (the mid-shoulder neck) outwards, so each joint moves along its
        bone only. Joints that are NaN stay NaN, and their subtrees keep their own offsets.
        """
        # Without a level loop: a joint is its anchor's input position plus the bones at
        # their lengths on the path down from it, where its anchor is its deepest
        # ancestor-or-self whose bone has no direction (a NaN end, or zero length), else the
        # root. Such a joint keeps its own position (NaN stays NaN, and a joint below one
        # hangs from its own input position), exactly as a walk from the root would do.
        p = _with_neck_joint(np.asarray(pose)).astype(np.float64)  # (76, 3)
        v = p[self.children] - p[self.bone_parent]  # (B, 3) the input bones
        n = np.sqrt(np.add.reduce(v * v, axis=-1))  # (B,), NaN where an end is NaN
        ok = n > 1e-9  # False for NaN too
        step = np.where(ok[:, None], v / np.where(ok, n, 1.0)[:, None] * np.asarray(lengths)[:, None], 0.0)  # (B, 3)
        anchor = np.zeros(self.num_joints, dtype=bool)  # (J+1,) the root and every child of a bone without direction
        anchor[self.children[~ok]] = True
        anchor[self.parents < 0] = True
        nearest = np.argmax(self.ancestors_or_self * ((self.depth + 1) * anchor)[None, :], axis=1)  # (J+1,) deepest anchor
        reach = self.ancestors @ step  # (J+1, 3) sum of the steps from the root to each joint
        out = p[nearest] + reach - reach[nearest]
        return out[:75].astype(np.float32)

    def rescale_bones(self, poses: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """``(T, 75, 3)`` poses with every bone scaled by its shared length's factor.

        A body of other proportions making the same motion: each joint keeps its bone's
        direction, the mid-shoulder neck stays where it is. Left/right twins share a factor.

        Args:
            poses: (T, 75, 3) positions (any frame, any unit); NaN joints stay NaN.
            factors: (S,) positive, one per shared length (``num_shared``, see ``share``).

        Raises:
            ValueError: wrong shapes, or a factor that is not positive.
        """
        p = np.asarray(poses, np.float64)
        f = np.asarray(factors, np.float64)
        if p.ndim != 3 or p.shape[1:] != (75, 3):
            raise ValueError(f"expected (T, 75, 3) poses, got {p.shape}")
        if f.shape != (self.num_shared,) or not (f > 0).all():
            raise ValueError(f"expected {self.num_shared} positive factors, got shape {f.shape}")
        p = _with_neck_joint(p)  # (T, 76, 3)
        out = p.copy()
        for sl, ch, pa in self.level_index:
            out[:, ch] = out[:, pa] + (p[:, ch] - p[:, pa]) * f[self.share[sl]][None, :, None]
        return out[:, :75].astype(np.float32)

    @cached_property
    def ancestors_or_self(self) -> np.ndarray:
        """(J+1, J+1) bool matrix: entry (j, k) is True when k is j or one of j's ancestors."""
        a = np.eye(self.num_joints, dtype=bool)
        for j in range(self.num_joints):
            k = j
            while self.parents[k] >= 0:
                k = self.parents[k]
                a[j, k] = True
        return a

    @cached_property
    def ancestors(self) -> np.ndarray:
        """(J+1, B) 0/1 matrix: entry (j, b) = 1 when bone b lies on the path root -> j,
        i.e. when b's child is j or one of j's ancestors."""
        return self.ancestors_or_self[:, self.children].astype(np.float64)


_TREE: UpliftTree | None = None


def _tree() -> UpliftTree:
    global _TREE
    if _TREE is None:
        _TREE = UpliftTree()
    return _TREE


def _with_neck(kp: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """Split (..., 75, 3) keypoints into (..., 76, 2) positions and (..., 76) confidences with the neck added."""
    xy = kp[..., :2].astype(np.float64)
    c = kp[..., 2].astype(np.float64)
    c = np.where(np.isfinite(xy).all(-1) & np.isfinite(c) & (c >= min_conf), c, 0.0)
    neck_xy = 0.5 * (xy[..., 11, :] + xy[..., 12, :])
    neck_c = np.minimum(c[..., 11], c[..., 12])
    xy = np.concatenate([xy, neck_xy[..., None, :]], axis=-2)
    c = np.concatenate([c, neck_c[..., None]], axis=-1)
    xy = np.where(c[..., None] > 0, xy, np.nan)
    return xy, c


@dataclass
class UpliftFrame:
    """One uplifted frame.

    Attributes:
        index: the input frame this output belongs to (0-based count of pushes).
        pose: (75, 3) float32, camera frame (x right, y down, z forward), metres.
        confidence: (75,) float32: the joint's detection confidence, decaying while it is
            carried through a gap; 0 for a joint never seen (its pose is NaN).
        timestamp: the timestamp given with the input frame.
        observed: (75,) bool: the joint was detected in this very frame (confidently, not an
            outlier), so its pose lies on (or, where its bone cannot reach, near) its
            detection's viewing ray; False while carried. None when not known.
    """

    index: int
    pose: np.ndarray
    confidence: np.ndarray
    timestamp: float | None = None
    observed: np.ndarray | None = None


@dataclass
class _Solved:
    """Per-frame state kept for back-tracking (lookahead)."""

    index: int
    timestamp: float | None
    d: np.ndarray  # (B, 2) bone 2D vectors, metres
    m: np.ndarray  # (B,) depth magnitude of each bone
    sign: np.ndarray  # (B,) +-1 chosen
    back: dict[str, np.ndarray]  # per sign group (G, K): best previous state for each current state
    root: np.ndarray  # (3,) neck position, camera frame metres
    conf: np.ndarray  # (76,) output confidence
    soft: np.ndarray  # (B,) posterior mean sign in [-1, 1]
    rays: np.ndarray  # (76, 3) viewing ray of every joint (x/z, y/z, 1), carried joints included
    lengths: np.ndarray  # (B,) bone lengths used
    hmm: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # per sign group: trans (G, K', K), emit (G, K), alpha (G, K)
    observed: np.ndarray  # (76,) bool: detected (confidently, not an outlier) in this frame


class StreamingUplifter:
    """Streaming sliding-window uplift: one 2D frame in, one 3D frame out.

    Receptive field: all past frames (bone lengths use the last ``length_history``);
    lookahead: ``config.lookahead`` frames (the output lags the input by that many).
    """

    def __init__(
        self, config: UpliftConfig = UpliftConfig(), skeleton: Skeleton = HOLISTIC75, bone_lengths: np.ndarray | None = None
    ) -> None:
        """Args:
            config: settings.
            skeleton: must be holistic75.
            bone_lengths: optional known rig, (B,) metres in ``UpliftTree`` bone order (see
                :meth:`UpliftTree.bone_lengths_of`); NaN entries are estimated online.
        """
        self.config = config
        self.tree = _tree() if skeleton is HOLISTIC75 else UpliftTree(skeleton)
        if bone_lengths is not None and np.shape(bone_lengths) != self.tree.prior.shape:
            raise ValueError(f"bone_lengths: expected shape {self.tree.prior.shape}, got {np.shape(bone_lengths)}")
        self._known = None if bone_lengths is None else np.asarray(bone_lengths, np.float64)
        t = self.tree
        r_leg, r_arm = config.limb_ratio_floor
        pairs = [("left_ankle", "left_knee", r_leg), ("left_knee", "left_ankle", r_leg),
                 ("left_wrist", "left_elbow", r_arm), ("left_elbow", "left_wrist", r_arm)]  # fmt: skip
        # each bone at least ratio x its neighbour (a ratio < 1 never lifts both of a pair)
        self._floor_bone = np.array([t.shared_id(a) for a, _, _ in pairs])
        self._floor_of = np.array([t.shared_id(b) for _, b, _ in pairs])
        self._floor_ratio = np.array([r for _, _, r in pairs])
        self._scale_quantile = config.scale_quantile if config.scale_quantile is not None else (0.6 if bone_lengths is None else 0.8)
        self.reset()

    @property
    def lookahead(self) -> int:
        """Frames between the newest input and the emitted output."""
        return self.config.lookahead

    @property
    def bone_lengths(self) -> np.ndarray:
        """(B,) the current bone-length estimate, metres, in ``UpliftTree`` bone order."""
        return self._lengths.copy()

    def reset(self) -> None:
        """Forget everything (a new person or a cut in the video)."""
        t = self.tree
        b = len(t.children)
        self._pooled = np.full((t.num_shared, 2 * self.config.length_history), np.inf)  # see _update_lengths
        self._hist_n = 0
        self._lengths = t.prior.copy() if self._known is None else np.where(np.isfinite(self._known), self._known, t.prior)
        self._sigma: float | None = None
        self._prev_xy: np.ndarray | None = None  # (76, 2) metres, last solved 2D (incl. carried)
        self._prev_px: np.ndarray | None = None  # (76, 2) pixels of the last observed positions
        self._prev_d: np.ndarray | None = None
        self._prev_z: np.ndarray = np.zeros((b, 2))  # candidate dz values (state -, state +) last frame
        # Filter costs per sign group: single bones (2 states), arms (4), legs (8).
        self._alpha = {name: np.zeros((len(g), 2 ** g.shape[1])) for name, g in self.tree.sign_groups.items()}
        self._seen = np.zeros(t.num_joints, dtype=bool)
        self._last_conf = np.zeros(t.num_joints)
        self._missing_for = np.zeros(t.num_joints)
        self._centre: np.ndarray | None = None
        self._focal: float | None = None
        self._buffer: deque[_Solved] = deque()
        self._count = 0
        self._emitted = 0

    # ----------------------------------------------------------------------------------
    def push(
        self,
        keypoints: np.ndarray,
        timestamp: float | None = None,
        depth: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> UpliftFrame | None:
        """Add one 2D frame; return the frame ``lookahead`` behind it (None while filling).

        Args:
            keypoints: (75, 3) x px, y px, confidence (0 = missing). A dropped frame is all
                confidence 0: every joint is then carried from the previous frame.
            timestamp: passed through to the output.
            depth: optional (75,) relative depth hint in pixels (smaller = nearer), NaN unknown.
            image_size: (width, height); sets the image centre and the default focal length.

        Raises:
            ValueError: keypoints (or depth) of the wrong shape.
        """
        kp = np.asarray(keypoints)
        if kp.shape != (75, 3):
            raise ValueError(f"expected keypoints of shape (75, 3), got {kp.shape}")
        if depth is not None and np.shape(depth) != (75,):
            raise ValueError(f"expected depth of shape (75,), got {np.shape(depth)}")
        if self._centre is None or image_size is not None:
            self._set_camera(image_size, kp)
        solved = self._solve(kp, depth, timestamp)
        self._buffer.append(solved)
        self._count += 1
        if len(self._buffer) > self.lookahead:
            return self._emit()
        return None

    def flush(self) -> list[UpliftFrame]:
        """Emit the frames still held back by the lookahead (end of a stream)."""
        if self.config.soft_signs or self.lookahead == 0:
            return [self._emit() for _ in range(len(self._buffer))]  # each smoothed over what is left
        return [self._emit(st) for st in self._backtrack()]

    # ----------------------------------------------------------------------------------
    def _set_camera(self, image_size: tuple[int, int] | None, kp: np.ndarray) -> None:
        if image_size is None:
            finite = kp[kp[:, 2] > 0, :2]
            w = float(np.nanmax(finite[:, 0]) * 1.2) if len(finite) else 1280.0
            h = float(np.nanmax(finite[:, 1]) * 1.2) if len(finite) else 720.0
            image_size = (int(max(w, 64)), int(max(h, 64)))
        self._centre = np.array([image_size[0] / 2.0, image_size[1] / 2.0])
        self._focal = self.config.focal_length(image_size)

    def _estimate_scale(self, xy_px: np.ndarray, c: np.ndarray) -> float | None:
        """Pixels per metre of this frame from bones seen at full length."""
        t = self.tree
        ok = (c[t.children] > 0) & (c[t.bone_parent] > 0) & (t.prior > 0.02)
        if np.count_nonzero(ok) < 2:
            return None
        v = xy_px[t.children[ok]] - xy_px[t.bone_parent[ok]]
        l2d = np.sqrt(np.add.reduce(v * v, axis=-1))
        ratio = l2d / np.maximum(self._lengths[ok], 1e-6)
        # Weighted towards long bones: weight by length so fingers do not dominate.
        order = np.argsort(ratio)
        w = self._lengths[ok][order]
        cw = np.cumsum(w) / w.sum()
        return float(ratio[order][np.searchsorted(cw, self._scale_quantile)])

    def _update_lengths(self, d: np.ndarray, valid: np.ndarray) -> None:
        """Online bone lengths from observed 2D lengths (metres)."""
        t, cfg = self.tree, self.config
        row = np.where(valid, np.sqrt(np.add.reduce(d * d, axis=-1)), np.inf)  # (B,) observed 2D lengths, inf = not seen
        # Ring buffer of the last H frames, left/right twins pooled: (S, 2H), one row per
        # shared length; frame slot k in columns 2k (first twin) and 2k + 1 (second twin).
        k = self._hist_n % cfg.length_history
        self._pooled[t.share_first_shared, 2 * k] = row[t.share_first]
        self._pooled[t.share_second_shared, 2 * k + 1] = row[t.share_second]
        self._hist_n += 1
        filled = self._pooled[:, : 2 * min(self._hist_n, cfg.length_history)]  # (S, 2n)
        counts = np.add.reduce(filled < np.inf, axis=1)  # (S,) observations of each length
        q = _quantile_rows(filled, counts, cfg.length_quantile)  # (S,), NaN where a length has no observation
        n_obs = counts / t.share_size  # (S,) frames observed
        prior_s = t.prior_shared
        seen = counts > 0  # q is NaN exactly where a length has no observation
        est = np.where(seen, (n_obs * np.where(seen, q, 0.0) + cfg.prior_frames * prior_s) / (n_obs + cfg.prior_frames), prior_s)
        est[self._floor_bone] = np.maximum(est[self._floor_bone], self._floor_ratio * est[self._floor_of])  # limb ratio floors
        lengths = est[t.share]
        ref = t.reference
        seen_ref = n_obs[t.share[ref]] > 0
        if seen_ref.any():  # anchor the absolute size on the reference bones
            lengths *= t.prior[ref][seen_ref].sum() / max(lengths[ref][seen_ref].sum(), 1e-9)
        if self._known is not None:
            lengths = np.where(np.isfinite(self._known), self._known, lengths)
        self._lengths = lengths

    def _solve(self, kp: np.ndarray, depth: np.ndarray | None, timestamp: float | None) -> _Solved:
        t, cfg = self.tree, self.config
        xy_px, c_raw = _with_neck(kp, 0.0)
        c = np.where(c_raw >= cfg.min_confidence, c_raw, 0.0)

        sigma = self._estimate_scale(xy_px, c)
        if sigma is not None:
            self._sigma = sigma if self._sigma is None else cfg.scale_smoothing * self._sigma + (1 - cfg.scale_smoothing) * sigma
        s = self._sigma or 300.0
        xy = (xy_px - self._centre) / s  # (76, 2) metres at the subject's depth

        # Outliers: a joint that jumped far, or jumped and now makes one of its bones too long.
        if self._prev_xy is not None:
            step = xy - self._prev_xy
            jump = np.sqrt(np.add.reduce(step * step, axis=-1))  # (J+1,) metres moved since the last frame
            bone = xy[t.children] - xy[t.bone_parent]
            bone_len = np.sqrt(np.add.reduce(bone * bone, axis=-1))
            long = (bone_len > cfg.outlier_ratio * self._lengths + 0.02) & (c[t.children] > 0) & (c[t.bone_parent] > 0)
            too_long = np.zeros(t.num_joints, dtype=bool)
            # Blame the end of an over-long bone that moved more since the last frame.
            pj, cj = t.bone_parent[long], t.children[long]
            blame = np.where(_finite_or_zero(jump[cj]) >= _finite_or_zero(jump[pj]), cj, pj)
            too_long[blame] = True
            outlier = (c > 0) & ((jump > cfg.max_jump_m) | (too_long & (jump > 0.05)))
            outlier[NECK] = False
            if outlier.any():
                c = np.where(outlier, 0.0, c)
                if outlier[11] or outlier[12]:
                    c[NECK] = 0.0
        observed = c > 0
        # A joint never seen confidently is still placed from its weak detections (at its
        # parent's depth), so every joint the input ever saw comes out finite.
        weak = (c_raw > 0) & ~observed & ~self._seen & np.isfinite(xy).all(-1)

        # Bone 2D vectors: a joint seen now sits where it was seen; a missing one hangs off
        # its nearest seen ancestor (or the root) through the bones carried from the last frame.
        b = len(t.children)
        prev_d = self._prev_d if self._prev_d is not None else np.zeros((b, 2))
        root_xy = xy[NECK] if observed[NECK] or self._prev_xy is None else self._prev_xy[NECK]
        if not np.isfinite(root_xy).all():
            root_xy = np.zeros(2)
        here = observed | weak  # (J+1,) joints placed from this frame's 2D
        anchor = here.copy()
        anchor[NECK] = True
        nearest = np.argmax(t.ancestors_or_self * ((t.depth + 1) * anchor)[None, :], axis=1)  # (J+1,) deepest anchored ancestor-or-self
        base = np.where(here[:, None], xy, 0.0)  # (J+1, 2)
        base[NECK] = root_xy
        carried = t.ancestors @ prev_d  # (J+1, 2): root -> joint sum of the carried bones
        pos = base[nearest] + (carried - carried[nearest])  # (J+1, 2)
        d = np.where(here[t.children][:, None], pos[t.children] - pos[t.bone_parent], prev_d)  # (B, 2)
        valid = observed[t.children] & observed[t.bone_parent]
        if valid.any():
            self._update_lengths(d, valid)
        lengths = self._lengths
        l2d = np.sqrt(np.add.reduce(d * d, axis=-1))
        over = l2d > lengths
        # Clip 2D bones that exceed their 3D length (noise): keep direction, shorten.
        d = np.where(over[:, None], d * (lengths / np.maximum(l2d, 1e-9))[:, None], d)
        m = np.sqrt(np.maximum(lengths**2 - np.minimum(l2d, lengths) ** 2, 0.0))

        m = np.where(weak[t.children], 0.0, m)
        sign, back, hmm = self._choose_signs(d, m, depth, s, observed)
        self._prev_d = d

        # Confidence of the output: observation, decaying while carried.
        self._seen |= observed | weak
        self._missing_for = np.where(observed | weak, 0.0, self._missing_for + 1)
        self._last_conf = np.where(observed | weak, np.maximum(c, c_raw * weak), self._last_conf)
        conf = np.where(self._seen, self._last_conf * 0.5 ** (self._missing_for / cfg.carry_half_life), 0.0)

        depth_root = self._focal / s
        root = np.array([pos[NECK, 0], pos[NECK, 1], depth_root])
        rays = np.concatenate([pos * (s / self._focal), np.ones((t.num_joints, 1))], axis=-1)  # (76, 3)
        self._prev_xy = pos[NECK] + t.ancestors @ d  # (J+1, 2) from the (clipped) bones, for the next frame's jump test
        return _Solved(self._count, timestamp, d, m, sign, back, root, conf, self._soft.copy(), rays, lengths.copy(), hmm, observed)

    def _choose_signs(
        self, d: np.ndarray, m: np.ndarray, depth: np.ndarray | None, s: float, observed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Forward recursion (Viterbi filtering) per sign group.

        Returns the signs, the back-pointers (hard back-tracking) and, per group, this
        frame's (transition costs, emission costs, forward costs) for the soft smoothing;
        the last two are empty at lookahead 0, where nothing looks back.

        Single bones have two states (child nearer / farther than its parent). Each leg
        (thigh, shank, foot) and arm (upper arm, forearm) is one group whose 2^n states are
        the sign combinations, so anatomical priors can judge the limb as a whole.
        """
        t, cfg = self.tree, self.config
        cand = np.stack([-m, m], axis=-1)  # (B, 2): state bit 0 = child nearer (dz < 0), 1 = farther
        tau = cfg.continuity_std + 0.15 * self._lengths
        # (B, 2, 2) continuity cost of each bone going from state s' (last frame) to state s
        step = (cand[:, None, :] - self._prev_z[:, :, None]) ** 2 / (2 * tau[:, None, None] ** 2)
        single_e = self._emission(cand, d, depth, s, observed)  # (B, 2)
        sign = np.zeros(len(m))
        self._soft = np.zeros(len(m))
        back: dict[str, np.ndarray] = {}
        hmm: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        frame = None
        keep = self.lookahead > 0  # back-pointers and costs are for back-tracking / smoothing only
        # Singles first: the shoulders fix the body's facing, which the limb priors need.
        for name in ("singles", "torso", "arms", "legs"):
            bones = t.sign_groups[name]  # (G, n)
            trans = np.add.reduce(step.ravel()[t.group_pair_index[name]], axis=1)  # (G, K', K)
            # emission: hints on each bone (sum over the group's bones), plus limb priors
            emit = np.add.reduce(single_e.ravel()[t.group_state_index[name]], axis=1)  # (G, K)
            if name == "torso":
                emit = emit + self._torso_prior(d, cand.ravel()[t.group_state_index[name]], observed)
            elif name != "singles":
                if frame is None:
                    frame = self._body_frame(d, sign)
                if frame is not None:
                    emit = emit + self._limb_prior(name, bones, d, cand.ravel()[t.group_state_index[name]], frame, observed)
            total = self._alpha[name][:, :, None] + trans
            if keep:
                back[name] = total.argmin(axis=1)  # (G, K)
            alpha = np.minimum.reduce(total, axis=1) + emit
            alpha -= np.minimum.reduce(alpha, axis=1, keepdims=True)
            np.minimum(alpha, 50.0, out=alpha)  # bounded memory: evidence can always be overturned
            self._alpha[name] = alpha
            if keep:
                hmm[name] = (trans, emit, alpha.copy())  # kept per frame for lookahead smoothing
            best = alpha.argmin(axis=1)  # (G,)
            signs = t.group_sign_bits[name]  # (K, n)
            sign[bones] = signs[best]
            post = np.exp(-alpha / cfg.sign_temperature)
            post /= np.add.reduce(post, axis=1, keepdims=True)  # (G, K) posterior over the group's states
            self._soft[bones] = post @ signs  # (G, n) expected sign of each bone
        self._prev_z = cand
        return sign, back, hmm

    @staticmethod
    def _group_vectors(d: np.ndarray, bones: np.ndarray, zc: np.ndarray) -> np.ndarray:
        """(G, n, K, 3) 3D bone vectors of a sign group in each of its K states (2D part shared)."""
        vec = np.empty(zc.shape + (3,))
        vec[..., :2] = d[bones][:, :, None, :]
        vec[..., 2] = zc
        return vec

    def _torso_prior(self, d: np.ndarray, zc: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """(1, K) anatomical cost of the torso's sign combinations: hips not in front of the
        neck (no backward lean past ~3 deg), hip line turning with the shoulder line.

        Bones: neck->L shoulder, neck->R shoulder, L shoulder->L hip, R shoulder->R hip.
        """
        t, w = self.tree, self.config.prior_weight
        if w <= 0:
            return np.zeros(zc.shape[::2])
        bones = t.torso
        vec = self._group_vectors(d, bones, zc)  # (1, 4, K, 3)
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

    def _body_frame(self, d: np.ndarray, sign: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Unit vectors (right -> left shoulder, forward = that x up) from the chosen torso signs; None if undefined."""
        t = self.tree
        if self.config.prior_weight <= 0:
            return None
        ls, rs = t.b_shoulder
        r = np.array([d[ls, 0] - d[rs, 0], d[ls, 1] - d[rs, 1], 0.0])
        r[2] = sign[ls] * np.sqrt(max(self._lengths[ls] ** 2 - d[ls] @ d[ls], 0.0)) - sign[rs] * np.sqrt(
            max(self._lengths[rs] ** 2 - d[rs] @ d[rs], 0.0)
        )
        nr = np.linalg.norm(r)
        if nr < 1e-6:
            return None
        r /= nr
        f = np.array([r[2], 0.0, -r[0]])  # r x up, up = (0, -1, 0)
        f /= max(np.linalg.norm(f), 1e-9)
        return r, f

    def _limb_prior(
        self, name: str, bones: np.ndarray, d: np.ndarray, zc: np.ndarray, frame: tuple[np.ndarray, np.ndarray], observed: np.ndarray
    ) -> np.ndarray:
        """(G, K) anatomical cost of each sign combination of the arms or legs.

        ``frame`` = (r, f): r = right->left shoulder, forward f = r x up (up = image up).
        Knees bend backwards ((thigh x shank) . r > 0), feet point forward (foot . f > 0),
        elbows bend forwards ((upper x forearm) . r < 0), hands are rarely far behind the body.
        """
        t, w = self.tree, self.config.prior_weight
        r, f = frame
        vec = self._group_vectors(d, bones, zc)  # (G, n, K, 3)
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

    def _emission(
        self, cand: np.ndarray, d: np.ndarray, depth: np.ndarray | None, s: float, observed: np.ndarray
    ) -> np.ndarray:
        """(B, 2) cost of each sign candidate from the depth hint and anatomical priors."""
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
        width = 2 * self._lengths[t.b_shoulder[0]] + 1e-6
        facing = float(np.clip(r_x / width, -1, 1))  # +1 facing the camera, -1 facing away
        for bone in (t.b_nose,):
            # state 0 (child nearer) preferred when facing the camera
            e[bone, 0] += w * max(-facing, 0) * 2.0 * (cand[bone, 1] ** 2) / (0.1 * self._lengths[bone] + 1e-3) ** 2 * 0.02
            e[bone, 1] += w * max(facing, 0) * 2.0 * (cand[bone, 1] ** 2) / (0.1 * self._lengths[bone] + 1e-3) ** 2 * 0.02
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

    def _smoothed_soft(self) -> np.ndarray:
        """(B,) posterior mean sign of the oldest buffered frame given every buffered frame.

        Backward pass over the buffer (the forward costs ``alpha`` are stored per frame),
        summing over paths: beta_j(s) = -log sum_s' exp(-[trans_{j+1}(s, s') +
        emit_{j+1}(s') + beta_{j+1}(s')]); the posterior of the oldest frame is then
        exp(-(alpha + beta) / temperature).
        """
        oldest = self._buffer[0]
        soft = oldest.soft.copy()
        for name, bones in self.tree.sign_groups.items():
            if name not in oldest.hmm:
                continue
            beta = np.zeros_like(oldest.hmm[name][2])  # (G, K) at the newest frame
            for j in range(len(self._buffer) - 1, 0, -1):
                trans, emit, _ = self._buffer[j].hmm[name]
                c = trans + (emit + beta)[:, None, :]  # (G, K', K)
                cmin = c.min(axis=2, keepdims=True)
                beta = (cmin - np.log(np.exp(-(c - cmin)).sum(axis=2, keepdims=True)))[:, :, 0]  # (G, K') soft-min: sum over paths
                beta -= beta.min(axis=1, keepdims=True)
            cost = oldest.hmm[name][2] + beta
            post = np.exp(-(cost - cost.min(axis=1, keepdims=True)) / self.config.sign_temperature)
            post /= post.sum(1, keepdims=True)  # (G, K)
            soft[bones] = post @ self.tree.group_sign_bits[name]  # (G, n)
        return soft

    def _backtrack(self) -> list[np.ndarray]:
        """Best sign (+-1 per bone) of every buffered frame, oldest first (Viterbi back-tracking)."""
        groups = self.tree.sign_groups
        last = self._buffer[-1]
        state = {}
        for name, bones in groups.items():
            # recover the newest frame's group states from its chosen signs
            state[name] = ((last.sign[bones] > 0).astype(np.int64) * (1 << np.arange(bones.shape[1]))).sum(1)
        signs = []
        for k in range(len(self._buffer) - 1, -1, -1):
            sign = np.zeros_like(last.sign)
            for name, bones in groups.items():
                sign[bones] = self.tree.group_sign_bits[name][state[name]]
            signs.append(sign)
            if k > 0:
                back = self._buffer[k].back
                state = {name: back[name][np.arange(len(st)), st] for name, st in state.items()}
        return signs[::-1]

    def _perspective_positions(self, frame: _Solved, sign: np.ndarray) -> np.ndarray:
        """(76, 3) joints on their viewing rays, each at its bone length from its parent.

        For a parent at P and a child ray r, |lambda r - P| = L has two roots, the nearer
        and the farther of the two depth solutions. The sign filter weighed the states
        "child nearer / farther than its parent by m" (m = the bone's weak-perspective
        depth extent), so the child is put at depth ``P_z + sign * m`` on its ray (a soft
        sign gives the expected depth), kept between the two roots, and then at length L
        from P along that direction. An uncertain bone thus lies at its parent's depth, as
        the filter assumed. (Interpolating between the two roots instead, as before, put an
        uncertain bone perpendicular to its child's viewing ray: the shanks of a bowing
        mocap clip, ~1.2 m below the camera, tilted 12 deg towards it. N-MPJPE of the
        streaming uplift -4.9 / -5.3 / -5.8 mm on Bandai training views, the PyMO walk and
        training views of re-proportioned bodies.) When the ray passes farther than L
        from P (noise), the child goes towards the ray's closest point, at distance L.
        """
        t = self.tree
        rays, lengths = frame.rays, frame.lengths
        ray_sq = np.add.reduce(rays * rays, axis=-1)  # (J+1,)
        len_sq = lengths**2  # (B,)
        rigid = self.config.rigid_soft_signs
        pos = np.zeros((t.num_joints, 3))
        pos[NECK] = rays[NECK] * frame.root[2]
        for lvl, ch, pa in t.level_index:
            r, p = rays[ch], pos[pa]  # (n, 3) child rays, parent positions
            a = ray_sq[ch]
            b = np.add.reduce(r * p, axis=-1)
            disc = b * b - a * (np.add.reduce(p * p, axis=-1) - len_sq[lvl])
            sq = np.sqrt(np.maximum(disc, 0.0))
            # The child's depth: its parent's plus the sign's share of the bone's depth
            # extent m (what the sign filter weighed), kept between the two roots.
            lam = np.clip(p[:, 2] + sign[lvl] * frame.m[lvl], (b - sq) / a, (b + sq) / a)  # r_z = 1: lambda = z
            v = lam[:, None] * r - p  # (n, 3) parent -> child on the ray
            # Bones put back at their length L, along their direction from the parent:
            # * out of reach (the 2D bone is longer than L allows): the child sits at the
            #   ray's closest point, a small reprojection error instead of a shortened bone;
            # * with rigid_soft_signs, every bone: a soft sign lands between the two depth
            #   solutions, i.e. nearer the parent than L.
            stretch = lengths[lvl] / np.maximum(np.sqrt(np.add.reduce(v * v, axis=-1)), 1e-9)
            if not rigid:
                stretch = np.where(disc < 0, stretch, 1.0)
            pos[ch] = p + v * stretch[:, None]
        return pos

    def _emit(self, state: np.ndarray | None = None) -> UpliftFrame:
        """Pop the oldest buffered frame; with lookahead its signs use the frames after it.

        Soft signs: the posterior mean sign given the frames up to the newest (forward-
        backward over the buffer; causal: the filtered posterior). Hard signs: Viterbi
        back-tracking from the newest frame.
        """
        if self.config.soft_signs:
            soft = self._smoothed_soft() if len(self._buffer) > 1 else self._buffer[0].soft
            frame = self._buffer.popleft()
            sign = soft
        else:
            if state is None and self.lookahead > 0:
                state = self._backtrack()[0]
            frame = self._buffer.popleft()
            sign = frame.sign if state is None else state
        if self.config.perspective:
            pos = self._perspective_positions(frame, sign)
        else:
            bones3 = np.concatenate([frame.d, (sign * frame.m)[:, None]], axis=-1)  # (B, 3)
            pos = frame.root[None, :] + self.tree.ancestors @ bones3  # (76, 3)
        pose = pos[:75].astype(np.float32)
        conf = frame.conf[:75].astype(np.float32)
        pose[conf <= 0] = np.nan
        self._emitted += 1
        return UpliftFrame(frame.index, pose, conf, frame.timestamp, frame.observed[:75].copy())


def _stack(frames: list[UpliftFrame], n: int) -> tuple[np.ndarray, np.ndarray]:
    poses = np.full((n, 75, 3), np.nan, dtype=np.float32)
    conf = np.zeros((n, 75), dtype=np.float32)
    for f in frames:
        poses[f.index], conf[f.index] = f.pose, f.confidence
    return poses, conf


def fill_unestimated(poses: np.ndarray) -> None:
    """Fill, in place, the frames in which a joint the input saw has no estimate.

    Those are the frames before its first estimate (a stream cannot know them) and, after
    the cleaner started afresh for a new person (``CleanerConfig.forget_after_s``), the
    frames until the joint is seen again. Each takes the joint from the nearest earlier
    estimated frame (the first one for frames before it), keeping its offset from the
    body's centre (mean of the joints estimated in both frames), so every joint the input
    ever saw is finite in every frame.
    """
    finite = np.isfinite(poses).all(-1)  # (T, J)
    for j in np.nonzero(finite.any(0) & ~finite.all(0))[0]:
        have = np.flatnonzero(finite[:, j])
        for t in np.flatnonzero(~finite[:, j]):
            k = np.searchsorted(have, t)
            src = int(have[k - 1] if k > 0 else have[0])  # the last estimate before t, else the first after
            common = finite[t] & finite[src]
            shift = poses[t, common].mean(0) - poses[src, common].mean(0) if common.any() else 0.0
            poses[t, j] = poses[src, j] + shift


def uplift_streaming(seq: KeypointSequence, config: UpliftConfig = UpliftConfig()) -> PoseSequence:
    """Run :class:`StreamingUplifter` over a whole sequence (what ``skeletor clean --no-refine`` does)."""
    up = StreamingUplifter(config)
    frames = []
    for i in range(len(seq)):
        out = up.push(seq.keypoints[i], i / seq.fps, None if seq.depth is None else seq.depth[i], seq.image_size)
        if out is not None:
            frames.append(out)
    frames += up.flush()
    poses, conf = _stack(frames, len(seq))
    fill_unestimated(poses)
    return PoseSequence(poses, conf, seq.fps, "holistic75", seq.keypoints)


def flat_uplift(seq: KeypointSequence, config: UpliftConfig = UpliftConfig()) -> PoseSequence:
    """Baseline: the 2D keypoints at a constant depth (scaled like the streaming uplift)."""
    ref = uplift_streaming(seq, config)
    poses = ref.poses3d.copy()
    with np.errstate(all="ignore"):
        depth = np.nanmedian(np.where(np.isfinite(poses[..., 2]), poses[..., 2], np.nan), axis=1, keepdims=True)
    poses[..., 2] = np.where(np.isfinite(poses[..., 2]), depth, np.nan)
    return PoseSequence(poses, ref.confidence, seq.fps, "holistic75", seq.keypoints)


def uplift_sequence(
    seq: KeypointSequence,
    config: UpliftConfig = UpliftConfig(),
    *,
    iterations: int = 200,
    smooth_weight: float = 2.0,
    length_weight: float = 4.0,
    learning_rate: float = 0.002,
) -> PoseSequence:
    """Whole-sequence uplift: bone lengths from the whole clip, a streaming pass for the
    initial depths, then gradient descent over all frames (Zelinka & Kanis' energy).

    Energy (metres): sum_t,j c_tj |x_tj,xy - z_tj ray_tj,xy|^2 (perspective reprojection:
    each joint stays on its pixel's viewing ray) + length_weight * sum_t,b (|bone_tb| - L_b)^2
    + smooth_weight * sum_t,j |x_t+1,j - 2 x_tj + x_t-1,j|^2. L is shared by left/right twins
    and optimised with the poses (Adam).

    Args:
        seq: holistic75 2D keypoints.
        config: uplift settings; ``lookahead`` is ignored (the whole sequence is seen).
        iterations, smooth_weight, length_weight, learning_rate: the descent.

    Returns:
        The poses, camera frame, metres (see the module docstring).
    """
    t = _tree()
    n = len(seq)
    depth = (lambda i: None) if seq.depth is None else (lambda i: seq.depth[i])
    # 1. Bone lengths from the whole sequence, then a streaming pass that starts with them.
    warm = StreamingUplifter(replace(config, lookahead=0))
    for i in range(n):
        warm.push(seq.keypoints[i], None, depth(i), seq.image_size)
    # the lengths are still estimates: keep the scale quantile they were estimated with
    up = StreamingUplifter(replace(config, lookahead=0, scale_quantile=warm._scale_quantile), bone_lengths=warm._lengths.copy())
    up._sigma = warm._sigma
    frames = []
    for i in range(n):
        out = up.push(seq.keypoints[i], i / seq.fps, depth(i), seq.image_size)
        frames.append(out)
    init, conf = _stack(frames, n)
    fill_unestimated(init)

    # 2. Gradient descent on the energy, over all frames at once.
    xy_px, c = _with_neck(seq.keypoints, config.min_confidence)  # (T, 76, 2), (T, 76)
    rays = (xy_px - up._centre) / up._focal  # (T, 76, 2): x/z, y/z of each observed joint
    w = np.where(np.isfinite(rays).all(-1), c, 0.0)
    rays = np.nan_to_num(rays)
    x = _with_neck_joint(init).astype(np.float64)  # (T, 76, 3)
    seen = np.isfinite(x).all(-1).all(0)  # joints estimated in every frame
    x = np.where(np.isfinite(x), x, 0.0)
    lengths_s = np.zeros(t.num_shared)
    np.maximum.at(lengths_s, t.share, warm._lengths)
    pc, cc = t.bone_parent, t.children
    bone_ok = (seen[pc] & seen[cc]).astype(np.float64)
    m1, v1 = np.zeros_like(x), np.zeros_like(x)
    mL, vL = np.zeros_like(lengths_s), np.zeros_like(lengths_s)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for it in range(1, iterations + 1):
        g = np.zeros_like(x)
        res = x[..., :2] - x[..., 2:3] * rays  # (T, 76, 2) off-ray error, metres
        g[..., :2] += 2 * w[..., None] * res
        g[..., 2] -= 2 * (w[..., None] * res * rays).sum(-1)
        vec = x[:, cc] - x[:, pc]  # (T, B, 3)
        ln = np.linalg.norm(vec, axis=-1) + 1e-9
        r = (ln - lengths_s[t.share]) * bone_ok  # (T, B)
        gb = (2 * length_weight * r / ln)[..., None] * vec
        np.add.at(g, (slice(None), cc), gb)
        np.add.at(g, (slice(None), pc), -gb)
        gL = np.zeros_like(lengths_s)
        np.add.at(gL, t.share, -2 * length_weight * r.sum(0))
        if n >= 3:
            acc = x[2:] - 2 * x[1:-1] + x[:-2]
            ga = 2 * smooth_weight * acc
            g[2:] += ga
            g[1:-1] -= 2 * ga
            g[:-2] += ga
        g[:, ~seen] = 0.0
        m1 = b1 * m1 + (1 - b1) * g
        v1 = b2 * v1 + (1 - b2) * g * g
        x -= learning_rate * (m1 / (1 - b1**it)) / (np.sqrt(v1 / (1 - b2**it)) + eps)
        mL = b1 * mL + (1 - b1) * gL
        vL = b2 * vL + (1 - b2) * gL * gL
        lengths_s = np.maximum(lengths_s - learning_rate * (mL / (1 - b1**it)) / (np.sqrt(vL / (1 - b2**it)) + eps), 0.0)
    poses = x[:, :75].astype(np.float32)
    poses[:, ~np.isfinite(init).all(-1).any(0)] = np.nan
    return PoseSequence(poses, conf, seq.fps, "holistic75", seq.keypoints)
