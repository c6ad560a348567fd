"""The uplift's bone tree: holistic75 plus a virtual neck root, with its anthropometric prior.

:class:`UpliftTree` is the skeleton every other part of the uplift indexes into: bones in
breadth-first order (one level = one contiguous slice, so the hot paths work level by
level), left/right twins mapped to one shared length, the sign groups whose depth signs
are chosen together, and the prior bone lengths of an average adult (metres). It also
measures, imposes and rescales bone lengths of 3D poses (the refiner's bone lengths and
the benchmarks' re-proportioned bodies use those).

The neck (mid-shoulders) is joint 75 (:data:`NECK`): the root, and the parent of the nose
and both shoulders. :func:`with_neck_joint` and :func:`keypoints_with_neck` add it to 3D
poses and to 2D keypoints.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75, Skeleton
from skeletor.compiled import njit

__all__ = ["NECK", "UpliftTree", "default_tree", "with_neck_joint", "keypoints_with_neck"]

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


_ANCHOR_CACHE = 4096  # detection patterns whose deepest anchors UpliftTree keeps (76 int64 each: ~2.5 MB at most)


def with_neck_joint(poses: np.ndarray) -> np.ndarray:
    """(..., 75, 3) poses -> (..., 76, 3) with the uplift tree's virtual neck (mid-shoulder) as joint 75, in their dtype."""
    return np.concatenate([poses, 0.5 * (poses[..., 11:12, :] + poses[..., 12:13, :])], axis=-2)


def keypoints_with_neck(kp: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
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


@njit
def _impose_lengths(p: np.ndarray, lengths: np.ndarray, children: np.ndarray, parents: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(J+1, 3) :meth:`UpliftTree.impose_lengths` of ``p`` (J+1, 3), bones numbered so that a
    parent comes before its children: each bone with a direction (both ends finite, length
    > 1e-9) is laid from its parent's new place at its length; a bone of no length (both
    ends finite, as the wrist -> hand wrist bone of length 0 is) moves with its parent; a
    bone with a NaN end leaves its child where it was (NaN stays NaN), and the subtree
    below hangs from there."""
    out = p.copy()
    for b in range(len(children)):
        c, a = children[b], parents[b]
        v = p[c] - p[a]
        n = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        if n > 1e-9:  # False for NaN too
            out[c] = out[a] + v * (lengths[b] / n)
        elif n == n:  # no length, no direction: keep the offset from the parent
            out[c] = out[a] + v
    return out


def _left(name: str) -> str:
    return name.replace("right_", "left_").replace("_right", "_left")


class UpliftTree:
    """The uplift's bone tree: a skeleton plus a virtual neck root (index J)."""

    def __init__(self, skeleton: Skeleton = HOLISTIC75) -> None:
        if skeleton.name != "holistic75":
            raise ValueError(f"the uplift works on holistic75, got {skeleton.name}")
        self.skeleton = skeleton
        self._anchor_cache: dict[bytes, np.ndarray] = {}  # deepest_anchor's answers by anchor pattern
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
        # Bones are in breadth-first order (a parent's bone before its children's), so each
        # level is a contiguous range: a slice (the compiled loops walk bones in this order).
        assert all((np.diff(lvl) == 1).all() for lvl in self.levels)
        self.level_index = [(slice(int(lvl[0]), int(lvl[-1]) + 1), self.children[lvl], self.bone_parent[lvl]) for lvl in self.levels]
        self.depth = depth  # (J+1,) bones between each joint and the root
        self.sign_groups = {"singles": self.singles, "torso": self.torso, "arms": self.arms, "legs": self.legs}
        # state k of a group of n bones gives bone i the state bit _BITS[n][k, i] (0: child nearer)
        self.group_bits = {name: _BITS[g.shape[1]] for name, g in self.sign_groups.items()}  # (K, n) 0 / 1
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
        p = with_neck_joint(p)  # (T, 76, 3)
        ln = np.linalg.norm(p[:, self.children] - p[:, self.bone_parent], axis=-1)  # (T, B)
        ok = np.isfinite(ln)
        return np.where(ok.any(0), np.where(ok, ln, 0.0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)

    def impose_lengths(self, pose: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(75, 3) ``pose`` with every tree bone set to ``lengths`` (B,), directions kept.

        Walks from the root (the mid-shoulder neck) outwards, so each joint moves along its
        bone only. A bone of no length (a joint on its parent, as the hand's wrist on the
        body's) moves with its parent: its direction is undefined, not its place. Joints
        that are NaN stay NaN, and their subtrees keep their own offsets.
        """
        p = with_neck_joint(np.asarray(pose)).astype(np.float64)  # (76, 3)
        return _impose_lengths(p, np.asarray(lengths, np.float64), self.children, self.bone_parent)[:75].astype(np.float32)

    def deepest_anchor(self, anchor: np.ndarray) -> np.ndarray:
        """(J+1,) int: for each joint, its deepest ancestor-or-self marked in ``anchor`` (J+1,) bool.

        Joint 0 where none is marked. The streaming uplift asks this every frame, mostly
        with the same few patterns (which joints are detected), so answers are kept (at
        most ``_ANCHOR_CACHE`` patterns); the tree is otherwise read-only, and a pattern
        computed twice by two threads gives the same answer.
        """
        key = np.packbits(anchor).tobytes()
        nearest = self._anchor_cache.get(key)
        if nearest is None:
            nearest = np.argmax(self.ancestors_or_self * ((self.depth + 1) * anchor)[None, :], axis=1)
            nearest.flags.writeable = False
            if len(self._anchor_cache) >= _ANCHOR_CACHE:
                self._anchor_cache.clear()
            self._anchor_cache[key] = nearest
        return nearest

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
        p = with_neck_joint(p)  # (T, 76, 3)
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


_DEFAULT: UpliftTree | None = None


def default_tree() -> UpliftTree:
    """The holistic75 uplift tree, built once and shared (it is read-only)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = UpliftTree()
    return _DEFAULT
