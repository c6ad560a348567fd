"""The pinhole camera: a proper rotation, the documented axes, projection."""

import numpy as np

from skeletor.pose.camera import orbit_camera


def test_orbit_camera_axes_follow_the_convention() -> None:
    # Subject at the origin facing +z (world y up); camera in front of it, 3 m away.
    cam = orbit_camera(np.zeros(3), 3.0, 0.0, front=np.array([0.0, 0.0, 1.0]))
    assert np.isclose(np.linalg.det(cam.rotation), 1.0)  # a rotation, never a reflection
    p = cam.world_to_camera(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert np.allclose(p[0], [0, 0, 3])  # target straight ahead, z forward
    assert p[1, 1] < 0  # world up is camera -y (y points down)
    # The subject's left hand side (+x when facing +z with y up) appears on the image right.
    assert p[2, 0] > 0


def test_projection_centres_and_scales() -> None:
    cam = orbit_camera(np.zeros(3), 2.0, 30.0, focal_px=1000.0, width=1280, height_px=720)
    uv = cam.world_to_pixels(np.zeros((1, 3)))
    assert np.allclose(uv, [[640, 360]], atol=1e-3)
    behind = cam.project(np.array([[0.0, 0.0, -1.0]]))
    assert np.isnan(behind).all()
