"""Unit quaternions and rotation matrices, vectorised over leading axes.

Quaternions are ``(..., 4)`` arrays in ``(x, y, z, w)`` order (scipy's, Unity's and
glTF's order), active rotations: ``rotate(q, v) = q v q*``. Matrices are ``(..., 3, 3)``
with ``R @ v`` rotating column vectors. Everything here is plain numpy so the streaming
solver pays no per-call overhead of ``scipy.spatial.transform.Rotation``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "align_signs",
    "quat_angle",
    "quat_conj",
    "quat_from_matrix",
    "quat_mul",
    "quat_slerp",
    "quat_to_matrix",
]


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``) of ``(..., 4)`` quaternions."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion)."""
    return q * np.array([-1.0, -1.0, -1.0, 1.0], dtype=q.dtype)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices of unit ``(..., 4)`` quaternions."""
    x, y, z, w = np.moveaxis(q, -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    m = np.stack(
        [
            1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
            2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
            2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
        ],
        axis=-1,
    )  # fmt: skip
    return m.reshape(q.shape[:-1] + (3, 3))


def quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit ``(..., 4)`` quaternions of ``(..., 3, 3)`` rotation matrices (w >= 0).

    Each component's magnitude comes from the diagonal, its sign from the off-diagonal
    (relative to w, which is taken >= 0); where w is about 0 the x, y, z signs are taken
    relative to the largest of them. Accurate to ~1e-8 for proper rotation matrices.
    """
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    w = 0.5 * np.sqrt(np.maximum(1.0 + m00 + m11 + m22, 0.0))
    x = 0.5 * np.sqrt(np.maximum(1.0 + m00 - m11 - m22, 0.0))
    y = 0.5 * np.sqrt(np.maximum(1.0 - m00 + m11 - m22, 0.0))
    z = 0.5 * np.sqrt(np.maximum(1.0 - m00 - m11 + m22, 0.0))
    sx, sy, sz = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]  # 4 w (x, y, z)
    # Near w = 0 those differences vanish: take signs from x y, x z, y z products instead.
    pxy, pxz, pyz = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]  # 4 x y, 4 x z, 4 y z
    small = w < 1e-3
    sw = np.ones_like(w)
    if np.any(small):
        big_x = (x >= y) & (x >= z)
        big_y = ~big_x & (y >= z)
        sw = np.where(small, np.where(big_x, sx, np.where(big_y, sy, sz)), sw)  # 4 w * (the largest), its sign
        sx = np.where(small, np.where(big_x, 1.0, np.where(big_y, pxy, pxz)), sx)
        sy = np.where(small, np.where(big_x, pxy, np.where(big_y, 1.0, pyz)), sy)
        sz = np.where(small, np.where(big_x, pxz, np.where(big_y, pyz, 1.0)), sz)
    q = np.stack([np.copysign(x, sx), np.copysign(y, sy), np.copysign(z, sz), np.copysign(w, sw)], axis=-1)
    q = q / np.sqrt(np.sum(q * q, axis=-1, keepdims=True))
    return np.where(q[..., 3:4] < 0, -q, q)


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians of the rotation taking ``a`` to ``b`` (sign-insensitive), in [0, pi]."""
    dot = np.abs(np.sum(a * b, axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def quat_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1) along the shorter arc."""
    t = np.asarray(t, dtype=np.float64)[..., None] if np.ndim(t) else float(t)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, 0.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(small, 1.0, sin))
    wb = np.where(small, t, np.sin(t * theta) / np.where(small, 1.0, sin))
    q = wa * a + wb * b
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def align_signs(q: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``q`` with each quaternion's sign chosen so its dot product with ``reference`` is >= 0.

    ``q`` and ``-q`` are the same rotation; choosing the sign closest to the previous frame
    keeps every component continuous over time (no hemisphere flips for interpolating clients).
    """
    return np.where(np.sum(q * reference, axis=-1, keepdims=True) < 0, -q, q)
