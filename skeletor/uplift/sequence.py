"""Whole-sequence uplifts, for offline use when every frame is known in advance.

:func:`uplift_sequence` estimates the bone lengths from the whole clip, runs the streaming
uplift with them for the initial depths, then minimises Zelinka & Kanis' energy over all
frames at once (reprojection + constant bone lengths + smoothness). It is the offline
reference the streaming uplift is compared with. :func:`flat_uplift` is the trivial
baseline: the 2D keypoints at one constant depth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.streaming import StreamingUplifter, fill_unestimated, stack_frames, uplift_streaming
from skeletor.uplift.tree import default_tree, keypoints_with_neck, with_neck_joint

__all__ = ["uplift_sequence", "flat_uplift"]


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
    t = default_tree()
    n = len(seq)
    depth = (lambda i: None) if seq.depth is None else (lambda i: seq.depth[i])
    # 1. Bone lengths from the whole sequence, then a streaming pass that starts with them.
    warm = StreamingUplifter(replace(config, lookahead=0))
    for i in range(n):
        warm.push(seq.keypoints[i], None, depth(i), seq.image_size)
    # the lengths are still estimates: keep the scale quantile they were estimated with
    up = StreamingUplifter(replace(config, lookahead=0, scale_quantile=warm.estimator.scale_quantile), bone_lengths=warm.estimator.lengths.copy())
    up.estimator.sigma = warm.estimator.sigma
    frames = []
    for i in range(n):
        out = up.push(seq.keypoints[i], i / seq.fps, depth(i), seq.image_size)
        frames.append(out)
    init, conf = stack_frames(frames, n)
    fill_unestimated(init)

    # 2. Gradient descent on the energy, over all frames at once.
    xy_px, c = keypoints_with_neck(seq.keypoints, config.min_confidence)  # (T, 76, 2), (T, 76)
    centre, focal = up.camera
    rays = (xy_px - centre) / focal  # (T, 76, 2): x/z, y/z of each observed joint
    w = np.where(np.isfinite(rays).all(-1), c, 0.0)
    rays = np.nan_to_num(rays)
    x = with_neck_joint(init).astype(np.float64)  # (T, 76, 3)
    seen = np.isfinite(x).all(-1).all(0)  # joints estimated in every frame
    x = np.where(np.isfinite(x), x, 0.0)
    lengths_s = np.zeros(t.num_shared)
    np.maximum.at(lengths_s, t.share, warm.estimator.lengths)
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
