"""Virtual camera views of 3D mocap: 2D keypoints like a detector's, with the 3D truth.

Used by the public accuracy benchmark and to turn mocap into training data. The camera
travels with the subject (it follows the horizontal root trajectory, smoothed over
``follow_seconds``), so a walking subject stays ``distance`` metres away, as on a treadmill
in front of a webcam; its yaw around the subject is fixed for the clip.

Frames and units: mocap in metres, world y up (as loaded by ``skeletor.datasets``); the
truth is returned in the camera frame (x right, y down, z forward), metres; keypoints in
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skeletor.pose.camera import PinholeCamera, orbit_camera
from skeletor.pose.keypoints import KeypointSequence

__all__ = ["ViewConfig", "View", "random_view", "detector_depth_hint", "facing_direction"]


@dataclass(frozen=True)
class ViewConfig:
    """How the virtual camera is placed.

    Attributes:
        focal_px: focal length in pixels.
        width, height: image size in pixels.
        distance_m: (min, max) horizontal camera distance from the subject's root.
        yaw_deg: (min, max) camera angle around the subject; 0 = straight in front.
        camera_height_m: camera height above the subject's root (pelvis).
        follow_seconds: smoothing window of the root trajectory the camera follows.
    """

    focal_px: float = 1000.0
    width: int = 1280
    height: int = 720
    distance_m: tuple[float, float] = (2.5, 3.5)
    yaw_deg: tuple[float, float] = (-60.0, 60.0)
    camera_height_m: float = 0.3
    follow_seconds: float = 1.0


@dataclass
class View:
    """One virtual view of a clip.

    Attributes:
        keypoints: the 2D keypoints (holistic75, pixels, confidence 1 where the joint
            exists and projects inside the image, else 0 and NaN).
        truth: (T, 75, 3) float32 camera-frame 3D truth, metres (NaN where the mocap lacks the joint).
        camera: the (last frame's) camera; the camera translates with the subject.
        yaw_deg, distance_m: the drawn placement.
    """

    keypoints: KeypointSequence
    truth: np.ndarray
    camera: PinholeCamera
    yaw_deg: float
    distance_m: float


def facing_direction(positions: np.ndarray) -> np.ndarray:
    """Mean horizontal direction (unit, y-up world) the subject faces: right->left shoulder x up."""
    r = np.nanmean(positions[:, 11] - positions[:, 12], axis=0)
    f = np.cross(r, np.array([0.0, 1.0, 0.0]))
    f[1] = 0.0
    n = np.linalg.norm(f)
    return f / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding; k = half-width in frames."""
    if k <= 0 or len(x) < 2:
        return x
    pad = np.pad(x, ((k, k), (0, 0)), mode="edge")
    c = np.cumsum(np.concatenate([np.zeros((1, x.shape[1])), pad]), axis=0)
    return (c[2 * k + 1 :] - c[: -2 * k - 1]) / (2 * k + 1)


def random_view(
    positions: np.ndarray,
    fps: float,
    config: ViewConfig,
    rng: np.random.Generator,
    *,
    yaw_deg: float | None = None,
    distance_m: float | None = None,
    name: str = "",
) -> View:
    """Project a mocap clip through a virtual camera placed at random (or as given).

    Args:
        positions: (T, 75, 3) holistic75 world positions, metres, y up; NaN = joint absent.
        fps: frame rate.
        config: camera placement ranges.
        rng: random generator for the placement.
        yaw_deg, distance_m: fix the placement instead of drawing it.
        name: label for the keypoint sequence.

    Raises:
        ValueError: positions of the wrong shape, or no hip joints to follow.
    """
    x = np.asarray(positions, np.float64)
    if x.ndim != 3 or x.shape[1:] != (75, 3):
        raise ValueError(f"expected (T, 75, 3) positions, got {x.shape}")
    root = 0.5 * (x[:, 23] + x[:, 24])
    if not np.isfinite(root).all():
        raise ValueError("the clip needs both hips in every frame to place the camera")
    track = root.copy()
    track[:, 1] = 0.0
    track = _smooth(track, int(round(config.follow_seconds * fps / 2)))
    local = x - track[:, None, :]  # subject relative to the followed trajectory
    yaw = float(rng.uniform(*config.yaw_deg)) if yaw_deg is None else float(yaw_deg)
    dist = float(rng.uniform(*config.distance_m)) if distance_m is None else float(distance_m)
    target = np.array([0.0, float(np.nanmean(root[:, 1])), 0.0])
    cam = orbit_camera(
        target, dist, yaw, front=facing_direction(x), height=config.camera_height_m,
        focal_px=config.focal_px, width=config.width, height_px=config.height,
    )  # fmt: skip
    truth = cam.world_to_camera(local)  # (T, 75, 3)
    px = cam.project(truth)
    inside = (px[..., 0] >= 0) & (px[..., 0] < config.width) & (px[..., 1] >= 0) & (px[..., 1] < config.height)
    ok = np.isfinite(px).all(-1) & inside
    kp = np.concatenate([np.where(ok[..., None], px, np.nan), ok[..., None].astype(np.float32)], axis=-1)
    seq = KeypointSequence(kp.astype(np.float32), fps, (config.width, config.height), name=name)
    return View(seq, truth.astype(np.float32), cam, yaw, dist)


def detector_depth_hint(
    truth: np.ndarray,
    present: np.ndarray,
    focal_px: float,
    rng: np.random.Generator,
    noise_m: float = 0.10,
    bias_m: float = 0.05,
) -> np.ndarray:
    """A MediaPipe-like relative depth hint from the 3D truth: (T, 75) pixels, NaN where absent.

    MediaPipe's landmark z is a learned, noisy depth relative to the hips, in the same
    pixel scale as x. This imitates it: true depth relative to the mid-hip, plus per-frame
    Gaussian noise (``noise_m``) and a per-joint constant bias (``bias_m``), in pixels at
    the subject's distance.
    """
    z_root = np.nanmean(truth[:, [23, 24], 2], axis=1, keepdims=True)  # (T, 1)
    rel = truth[..., 2] - z_root
    hint = rel + rng.normal(0.0, noise_m, rel.shape) + rng.normal(0.0, bias_m, (1, rel.shape[1]))
    return np.where(present, hint * focal_px / z_root, np.nan).astype(np.float32)
