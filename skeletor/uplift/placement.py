"""Placing the joints in 3D once the bones' lengths, 2D vectors and depth signs are known.

Perspective (the default, ``UpliftConfig.perspective``): each joint lies on its pixel's
viewing ray at its bone's length from its parent, walked level by level from the root.
Weak perspective: each joint is its parent plus the bone (2D vector, signed depth extent),
as the sign filter modelled it.

Positions are in the camera frame (x right, y down, z forward), metres, with the neck
(joint 75) included.
"""

from __future__ import annotations

import numpy as np

from skeletor.compiled import njit
from skeletor.uplift.tree import NECK, UpliftTree

__all__ = ["perspective_positions", "weak_perspective_positions"]


def perspective_positions(
    tree: UpliftTree,
    rays: np.ndarray,
    lengths: np.ndarray,
    m: np.ndarray,
    root: np.ndarray,
    sign: np.ndarray,
    rigid: bool,
) -> np.ndarray:
    """(76, 3) joints on their viewing rays, each at its bone length from its parent.

    For a parent at P and a child ray r, |lambda r - P| = L has two roots, the nearer
    and the farther of the two depth solutions. The sign filter weighed the states
    "child nearer / farther than its parent by m" (m = the bone's weak-perspective
    depth extent), so the child is put at depth ``P_z + sign * m`` on its ray (a soft
    sign gives the expected depth), kept between the two roots, and then at length L
    from P along that direction. An uncertain bone thus lies at its parent's depth, as
    the filter assumed, and not perpendicular to its child's viewing ray (the midpoint
    of the two roots), which for a bone far from the optical axis is a tilt towards the
    camera (``test_uncertain_bone_lies_at_its_parents_depth``). When the ray passes farther than L
    from P (noise), the child goes towards the ray's closest point, at distance L.

    Args:
        tree: the uplift tree.
        rays: (76, 3) each joint's viewing ray (x/z, y/z, 1).
        lengths: (B,) bone lengths, metres.
        m: (B,) each bone's weak-perspective depth extent, metres.
        root: (3,) the neck's position, metres (its depth is used: the neck lies on its ray).
        sign: (B,) the sign of each bone's depth step, in [-1, 1] (soft signs in between).
        rigid: put every bone back at its length (``UpliftConfig.rigid_soft_signs``), not
            only those out of reach.
    """
    return _on_rays(tree.children, tree.bone_parent, rays, lengths, m, root, sign, rigid)


@njit
def _on_rays(
    children: np.ndarray, parents: np.ndarray, rays: np.ndarray, lengths: np.ndarray, m: np.ndarray, root: np.ndarray, sign: np.ndarray, rigid: bool
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`perspective_positions` for bones numbered so that a parent is placed before its children."""
    pos = np.zeros((rays.shape[0], 3))
    pos[NECK] = rays[NECK] * root[2]
    for b in range(len(children)):
        r, p = rays[children[b]], pos[parents[b]]  # (3,) child ray, parent position
        a = r[0] * r[0] + r[1] * r[1] + r[2] * r[2]
        bb = r[0] * p[0] + r[1] * p[1] + r[2] * p[2]
        disc = bb * bb - a * ((p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) - lengths[b] ** 2)
        sq = np.sqrt(max(disc, 0.0))
        # The child's depth: its parent's plus the sign's share of the bone's depth
        # extent m (what the sign filter weighed), kept between the two roots (r_z = 1: lambda = z).
        lam = min(max(p[2] + sign[b] * m[b], (bb - sq) / a), (bb + sq) / a)
        v = lam * r - p  # (3,) parent -> child on the ray
        # Bones put back at their length L, along their direction from the parent:
        # * out of reach (the 2D bone is longer than L allows): the child sits at the
        #   ray's closest point, a small reprojection error instead of a shortened bone;
        # * with rigid_soft_signs, every bone: a soft sign lands between the two depth
        #   solutions, i.e. nearer the parent than L.
        stretch = 1.0
        if rigid or disc < 0:
            stretch = lengths[b] / max(np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), 1e-9)
        pos[children[b]] = p + v * stretch
    return pos


def weak_perspective_positions(tree: UpliftTree, root: np.ndarray, d: np.ndarray, m: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """(76, 3) the root plus, for each joint, the bones on its path: 2D vector and ``sign * m`` in depth.

    Args:
        tree: the uplift tree.
        root: (3,) the neck's position, metres.
        d: (B, 2) the 2D bone vectors, metres.
        m: (B,) each bone's depth extent, metres.
        sign: (B,) the sign of each bone's depth step, in [-1, 1].
    """
    bones3 = np.concatenate([d, (sign * m)[:, None]], axis=-1)  # (B, 3)
    return root[None, :] + tree.ancestors @ bones3  # (76, 3)
