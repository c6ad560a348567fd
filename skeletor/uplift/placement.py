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
    t = tree
    # Everything that does not depend on the parents' positions, for all bones at once (bones
    # are numbered level by level, so each level below takes a slice, not a gather).
    child_rays = rays[t.children]  # (B, 3)
    ray_sq = np.add.reduce(child_rays * child_rays, axis=-1)  # (B,)
    len_sq = lengths**2  # (B,)
    step = sign * m  # (B,) the sign's share of each bone's depth extent
    pos = np.zeros((t.num_joints, 3))
    pos[NECK] = rays[NECK] * root[2]
    for lvl, ch, pa in t.level_index:
        r, p = child_rays[lvl], pos[pa]  # (n, 3) child rays, parent positions
        a = ray_sq[lvl]
        b = np.add.reduce(r * p, axis=-1)
        disc = b * b - a * (np.add.reduce(p * p, axis=-1) - len_sq[lvl])
        sq = np.sqrt(np.maximum(disc, 0.0))
        # The child's depth: its parent's plus the sign's share of the bone's depth
        # extent m (what the sign filter weighed), kept between the two roots.
        lam = np.minimum(np.maximum(p[:, 2] + step[lvl], (b - sq) / a), (b + sq) / a)  # r_z = 1: lambda = z
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
