"""A pinhole camera: world frame -> camera frame -> pixels.

Frames and units:
    world:  whatever the caller's mocap uses, in metres; ``up`` names its up axis.
    camera: x right, y down, z forward (away from the camera), metres.
    pixels: x right, y down, origin at the image's top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PinholeCamera", "look_at_rotation", "orbit_camera"]


def look_at_rotation(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera rotation (3, 3) for a camera at ``eye`` looking at ``target``.

    Rows are the camera's x (right), y (down) and z (forward) axes in world coordinates.

    Raises:
        ValueError: ``eye == target`` or the view direction is parallel to ``up``.
    """
    z = np.asarray(target, np.float64) - np.asarray(eye, np.float64)
    n = np.linalg.norm(z)
    if n < 1e-9:
        raise ValueError("camera eye and target coincide")
    z /= n
    x = np.cross(-np.asarray(up, np.float64), z)  # right = down x forward (right-handed x, y, z)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("view direction is parallel to the up axis")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # down
    return np.stack([x, y, z])


@dataclass(frozen=True)
class PinholeCamera:
    """An ideal pinhole camera (no distortion).

    Attributes:
        focal_px: focal length in pixels (same for x and y).
        width: image width in pixels.
        height: image height in pixels.
        rotation: (3, 3) world-to-camera rotation (rows = camera axes in world coordinates).
        position: (3,) camera centre in world coordinates, metres.
    """

    focal_px: float
    width: int
    height: int
    rotation: np.ndarray
    position: np.ndarray

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 3)`` world points (metres) into the camera frame (x right, y down, z forward)."""
        p = np.asarray(points, np.float64) - self.position
        return (p @ self.rotation.T).astype(np.float32)

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Project ``(..., 3)`` camera-frame points to ``(..., 2)`` pixels; points behind the camera give NaN."""
        p = np.asarray(points_cam, np.float64)
        z = p[..., 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = self.focal_px * p[..., :2] / np.where(z > 1e-6, z, np.nan)
        uv[..., 0] += self.width / 2.0
        uv[..., 1] += self.height / 2.0
        return uv.astype(np.float32)

    def world_to_pixels(self, points: np.ndarray) -> np.ndarray:
        """``project(world_to_camera(points))``."""
        return self.project(self.world_to_camera(points))


def orbit_camera(
    target: np.ndarray,
    distance: float,
    yaw_deg: float,
    *,
    up: np.ndarray = np.array([0.0, 1.0, 0.0]),
    front: np.ndarray = np.array([0.0, 0.0, 1.0]),
    height: float = 0.0,
    focal_px: float = 1000.0,
    width: int = 1280,
    height_px: int = 720,
) -> PinholeCamera:
    """A camera on a horizontal circle around ``target``, looking at it.

    Args:
        target: world point the camera looks at (metres).
        distance: horizontal distance from ``target`` (metres).
        yaw_deg: angle around ``up`` from the ``front`` direction; 0 = in front of the subject.
        up: the world's up axis.
        front: the horizontal world direction the subject faces at yaw 0.
        height: camera height above ``target`` along ``up`` (metres).
        focal_px, width, height_px: intrinsics.
    """
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    front = np.asarray(front, np.float64)
    front = front - up * (front @ up)
    front /= np.linalg.norm(front)
    side = np.cross(up, front)
    a = np.deg2rad(yaw_deg)
    direction = np.cos(a) * front + np.sin(a) * side
    eye = np.asarray(target, np.float64) + distance * direction + height * up
    rot = look_at_rotation(eye, target, up)
    return PinholeCamera(float(focal_px), int(width), int(height_px), rot, eye)
