"""Bone lengths seen by the refiner, for the cleaned skeleton's rig.

The uplift estimates each bone's length from 2D alone: a high quantile of its projected
lengths. A bone that is never seen across the image (a standing person's shank leaning in
depth, a forearm held towards the camera) is estimated short, and the estimate grows as
the person shows more of their poses, so early frames get shorter bones than later ones.
The refiner's output has depth: the median of its 3D bone lengths over the recent frames
does not share that bias (it has its own, towards the bodies it was trained on). The
cleaner keeps each body bone at a weighted mean of the two (``CleanerConfig.refined_lengths``).

With weight 0.5 against 0 (``skeletor bench accuracy``): N-MPJPE 56.5 against 60.0 mm on
the public benchmark; on its 10 real MediaPipe clips arm bone-length CV 2.76 against
3.29 %, at the price of a skeleton slightly further from its detections (reprojection
5.1 against 4.3 % of a shoulder width). Hand bones keep the uplift's lengths: the
refiner's finger lengths are less steady than the uplift's, since its supervised
training pairs have no hands. How 0.5 was chosen: docs/decisions.md.

Units: metres, camera frame (x right, y down, z forward), ``UpliftTree`` bone order.
"""

from __future__ import annotations

import numpy as np

from skeletor.pose.skeleton import LEFT_HAND, RIGHT_HAND
from skeletor.compiled import njit
from skeletor.uplift import UpliftTree
from skeletor.uplift.tree import with_neck_joint
from skeletor.uplift.lengths import SortedRing

__all__ = ["RefinedBoneLengths"]


@njit
def _bone_lengths(p: np.ndarray, children: np.ndarray, parents: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(n,) the length of each bone (``children[i]``, ``parents[i]``) of ``p`` (J+1, 3); NaN where an end is NaN."""
    out = np.empty(len(children))
    for i in range(len(children)):
        c, a = children[i], parents[i]
        out[i] = np.sqrt((p[c, 0] - p[a, 0]) ** 2 + (p[c, 1] - p[a, 1]) ** 2 + (p[c, 2] - p[a, 2]) ** 2)
    return out


class RefinedBoneLengths:
    """Running median of the refined skeleton's body bone lengths, left/right twins pooled.

    Receptive field: the last ``history`` frames pushed (causal, O(history) a frame).
    """

    def __init__(self, tree: UpliftTree, history: int = 300) -> None:
        """Args:
            tree: the uplift's bone tree (bone order and left/right twins).
            history: frames of history for the median (the uplift's ``length_history``).
        """
        if history < 1:
            raise ValueError(f"history must be >= 1 frame, got {history}")
        self.tree = tree
        self.history = history
        body = ~np.isin(tree.children, LEFT_HAND + RIGHT_HAND)  # (B,) bones ending at a body joint
        self._rows = np.unique(tree.share[body])  # (R,) shared lengths of body bones
        self._row_of_shared = np.full(tree.num_shared, -1)
        self._row_of_shared[self._rows] = np.arange(len(self._rows))
        self._bone_row = np.where(body, self._row_of_shared[tree.share], -1)  # (B,) -1 for hand bones
        self._twin_slot = np.zeros(len(tree.children), dtype=np.int64)  # 0 for a first twin, 1 for the second
        self._twin_slot[tree.share_second] = 1
        self._body = self._bone_row >= 0  # (B,) body bones
        self._body_rows, self._body_slots = self._bone_row[self._body], self._twin_slot[self._body]  # their row and column in a frame
        self._body_ends = tree.children[self._body], tree.bone_parent[self._body]  # their child and parent joints
        self.reset()

    def reset(self) -> None:
        """Forget all frames (a new person)."""
        self._lengths = SortedRing(len(self._rows), 2 * self.history)  # (R, 2H): frame k in columns 2k, 2k + 1
        self._n = 0

    def push(self, pose: np.ndarray) -> None:
        """Add one refined (75, 3) pose (metres; NaN joints add nothing)."""
        p = with_neck_joint(np.asarray(pose, np.float64))  # (76, 3)
        self._lengths.put(self._body_rows, 2 * (self._n % self.history) + self._body_slots, _bone_lengths(p, *self._body_ends))
        self._n += 1

    def median(self) -> np.ndarray:
        """(B,) the median length of each body bone over the history; NaN for hand bones and bones not seen."""
        per_row = self._lengths.quantile(0.5)  # (R,)
        return np.where(self._bone_row >= 0, per_row[np.maximum(self._bone_row, 0)], np.nan)

    def blend(self, lengths: np.ndarray, weight: float) -> np.ndarray:
        """(B,) ``lengths`` (the uplift's) moved ``weight`` of the way to the refined median.

        The median is first scaled so that the uplift's reference bones (shoulders, upper
        arms, torso sides, nose) keep their total: the uplift sets the body's size, the
        refiner informs its proportions. Bones without a median keep ``lengths``.
        """
        lengths = np.asarray(lengths, np.float64)
        med = self.median()
        ref = self.tree.reference
        ok = np.isfinite(med[ref])
        if weight == 0.0 or not ok.any():
            return lengths
        med = med * (lengths[ref][ok].sum() / max(med[ref][ok].sum(), 1e-9))
        return np.where(np.isfinite(med), (1.0 - weight) * lengths + weight * med, lengths)
