"""Several mocap people in front of one virtual camera: multi-person test scenes with 3D truth.

Each clip is moved to its own place on the floor (its own horizontal path through the clip,
smoothed as :mod:`skeletor.eval.views` does, is taken out, and the ``path`` given here is put
in), turned to face the camera, and all are seen by one fixed pinhole camera. That makes
"two people side by side" and "two people crossing" from real motion, with the 3D truth of
each in the camera frame, for the tracker and the multi-person cleaner.

Frames and units: mocap in metres, world y up (as ``skeletor.datasets`` loads it); paths are
world (x, z) metres with the camera on the +z side of the origin looking towards -z; truth in the
camera frame (x right, y down, z forward), metres; keypoints in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skeletor.eval.views import View, ViewConfig, _smooth, facing_direction
from skeletor.pose.camera import orbit_camera
from skeletor.pose.keypoints import KeypointSequence

__all__ = ["shared_view", "occlusions"]

_HIPS = (23, 24)


def _facing_camera(x: np.ndarray) -> np.ndarray:
    """(T, 75, 3) turned about the vertical axis so the subject's mean facing direction is +z."""
    f = facing_direction(x)
    a = np.arctan2(f[0], f[2])  # the yaw that turns +z onto f
    c, s = np.cos(-a), np.sin(-a)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # about y, by -a
    return x @ rot.T


def shared_view(
    clips: Sequence[np.ndarray],
    fps: float,
    paths: Sequence[np.ndarray],
    config: ViewConfig = ViewConfig(),
    *,
    distance_m: float = 4.0,
    follow_seconds: float | None = None,
    names: Sequence[str] | None = None,
) -> list[View]:
    """People in one scene, one camera: a :class:`~skeletor.eval.views.View` per person.

    Args:
        clips: each person's (T, 75, 3) holistic75 world positions, metres, y up (NaN =
            joint absent); all as long as the shortest one is used.
        fps: their frame rate.
        paths: each person's place on the floor, world (x, z) metres: (2,) to stay there,
            or (T, 2) to move along it (the clip's own travel is taken out first).
        config: the camera's intrinsics (``focal_px``, ``width``, ``height``) and its
            height above the mean pelvis (``camera_height_m``).
        distance_m: the camera's distance from the origin, on the +z side, looking at it.
        follow_seconds: smoothing window of the clip's own travel that is taken out
            (None = ``config.follow_seconds``).
        names: labels for the keypoint sequences.

    Returns:
        One view per clip: its keypoints (confidence 1 where the joint exists and projects
        inside the image, else 0 and NaN), its camera-frame truth, the shared camera.

    Raises:
        ValueError: clips and paths of different counts or wrong shapes, or a clip without
            both hips in every frame.
    """
    if len(clips) != len(paths) or not clips:
        raise ValueError(f"expected one path per clip, got {len(clips)} clips and {len(paths)} paths")
    t = min(len(c) for c in clips)
    smooth = config.follow_seconds if follow_seconds is None else follow_seconds
    placed = []
    for i, (clip, path) in enumerate(zip(clips, paths)):
        x = np.asarray(clip, np.float64)[:t]
        if x.ndim != 3 or x.shape[1:] != (75, 3):
            raise ValueError(f"clip {i}: expected (T, 75, 3) positions, got {x.shape}")
        root = 0.5 * (x[:, _HIPS[0]] + x[:, _HIPS[1]])
        if not np.isfinite(root).all():
            raise ValueError(f"clip {i}: needs both hips in every frame")
        travel = root.copy()
        travel[:, 1] = 0.0
        travel = _smooth(travel, int(round(smooth * fps / 2)))
        local = _facing_camera(x - travel[:, None, :])  # in place at the origin, facing +z (the camera)
        p = np.asarray(path, np.float64)
        p = np.broadcast_to(p, (t, 2)) if p.shape == (2,) else p[:t]
        if p.shape != (t, 2):
            raise ValueError(f"path {i}: expected (2,) or (T >= {t}, 2), got {np.shape(path)}")
        placed.append(local + np.stack([p[:, 0], np.zeros(t), p[:, 1]], axis=-1)[:, None, :])
    hip_y = float(np.nanmean([np.nanmean(0.5 * (x[:, _HIPS[0], 1] + x[:, _HIPS[1], 1])) for x in placed]))
    cam = orbit_camera(
        np.array([0.0, hip_y, 0.0]), distance_m, 0.0, front=np.array([0.0, 0.0, 1.0]), height=config.camera_height_m,
        focal_px=config.focal_px, width=config.width, height_px=config.height,
    )  # fmt: skip
    views = []
    for i, x in enumerate(placed):
        truth = cam.world_to_camera(x)  # (T, 75, 3)
        px = cam.project(truth)
        inside = (px[..., 0] >= 0) & (px[..., 0] < config.width) & (px[..., 1] >= 0) & (px[..., 1] < config.height)
        ok = np.isfinite(px).all(-1) & inside
        kp = np.concatenate([np.where(ok[..., None], px, np.nan), ok[..., None].astype(np.float32)], axis=-1)
        name = names[i] if names is not None else f"person{i}"
        seq = KeypointSequence(kp.astype(np.float32), fps, (config.width, config.height), name=name)
        views.append(View(seq, truth.astype(np.float32), cam, 0.0, float(np.linalg.norm(truth[:, list(_HIPS)].mean(1), axis=-1).mean())))
    return views


def occlusions(views: Sequence[View], cover: float = 0.5) -> np.ndarray:
    """(T, P) bool: who is hidden behind a nearer person in each frame.

    A person counts as hidden when the bounding box of a nearer person (smaller mean hip
    depth) covers at least ``cover`` of the area of their own bounding box (of the joints in
    the image): the detector would not see them then.
    """
    n, t = len(views), len(views[0].truth)
    boxes = np.full((t, n, 4), np.nan)  # x0, y0, x1, y1
    depth = np.full((t, n), np.inf)
    for p, v in enumerate(views):
        kp = v.keypoints.keypoints
        seen = kp[..., 2] > 0
        xs = np.where(seen, kp[..., 0], np.nan)
        ys = np.where(seen, kp[..., 1], np.nan)
        with np.errstate(all="ignore"):
            boxes[:, p] = np.stack([np.nanmin(xs, 1), np.nanmin(ys, 1), np.nanmax(xs, 1), np.nanmax(ys, 1)], axis=-1)
        depth[:, p] = v.truth[:, list(_HIPS), 2].mean(1)
    hidden = np.zeros((t, n), bool)
    for p in range(n):
        area = (boxes[:, p, 2] - boxes[:, p, 0]) * (boxes[:, p, 3] - boxes[:, p, 1])
        for q in range(n):
            if q == p:
                continue
            w = np.minimum(boxes[:, p, 2], boxes[:, q, 2]) - np.maximum(boxes[:, p, 0], boxes[:, q, 0])
            h = np.minimum(boxes[:, p, 3], boxes[:, q, 3]) - np.maximum(boxes[:, p, 1], boxes[:, q, 1])
            inter = np.clip(w, 0, None) * np.clip(h, 0, None)
            with np.errstate(all="ignore"):
                hidden[:, p] |= (depth[:, q] < depth[:, p]) & (inter >= cover * area)
    return hidden
