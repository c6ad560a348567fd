"""``--preview``: an OpenCV window with the camera image, the 2D keypoints, and the cleaned
3D skeleton drawn from the side of a small inset (so depth is visible).

A sink: frames and the detections behind them arrive from the pipeline thread
(``write`` / ``see_input``, which only keep the latest) and are drawn by ``pump()`` on the
main thread, which is where OpenCV's GUI must run (``skeletor-live`` calls it ten times a
second). Its flag: ``--preview``.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import TYPE_CHECKING

import numpy as np

from realtime.sinks.base import BaseSink, SinkSpec
from skeletor.protocol import PoseFrame
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, Skeleton

if TYPE_CHECKING:
    from realtime.pipeline import Detection

__all__ = ["Preview", "SPEC", "draw_skeleton_views"]

log = logging.getLogger(__name__)

WINDOW = "skeletor-live preview (q to close)"


def draw_skeleton_views(joints: np.ndarray, size: int = 360, skeleton: Skeleton = HOLISTIC75) -> np.ndarray:
    """Render a (J, 3) camera-frame skeleton as two side-by-side views (front, side), BGR uint8.

    Front: x right, y down (as the camera sees it). Side: z to the right, y down. Hand
    bones (holistic75's hands) are drawn orange, the body green.
    """
    import cv2

    canvas = np.full((size, 2 * size, 3), 24, np.uint8)
    ok = np.isfinite(joints).all(-1)
    if ok.sum() < 2:
        return canvas
    centre = np.nanmedian(joints[ok], axis=0)
    span = max(float(np.nanmax(np.abs(joints[ok] - centre))), 1e-3)
    scale = 0.42 * size / span
    for view, (a, b) in enumerate(((0, 1), (2, 1))):
        pts = (joints[:, [a, b]] - centre[[a, b]]) * scale + size / 2
        pts[:, 0] += view * size
        for p, c in skeleton.edges:
            if ok[p] and ok[c]:
                colour = (90, 200, 255) if c >= LEFT_HAND[0] else (120, 255, 120)
                cv2.line(canvas, tuple(int(v) for v in pts[p]), tuple(int(v) for v in pts[c]), colour, 2, cv2.LINE_AA)
    cv2.putText(canvas, "front", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1)
    cv2.putText(canvas, "side (z right)", (size + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1)
    return canvas


class Preview(BaseSink):
    """The preview window; thread-safe producers, main-thread drawing."""

    name = "preview"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._keypoints: np.ndarray | None = None
        self._joints: np.ndarray | None = None
        self._open = True

    def show_image(self, image: np.ndarray, keypoints: np.ndarray | None) -> None:
        """Set the latest camera image (BGR) and its (J, 3) 2D keypoints (any thread)."""
        with self._lock:
            self._image, self._keypoints = image, keypoints

    def show_pose(self, frame: PoseFrame) -> None:
        """Set the latest cleaned pose (any thread)."""
        with self._lock:
            self._joints = frame.joints

    def write(self, frame: PoseFrame) -> None:
        """The sink's frames: :meth:`show_pose`."""
        self.show_pose(frame)

    def see_input(self, detection: Detection) -> None:
        """The image and keypoints behind the next frame (none for the demo, which has no image)."""
        if detection.image is not None:
            self.show_image(detection.image, detection.keypoints)

    def pump(self) -> None:
        """Draw the latest state and handle window events (main thread only)."""
        if not self._open:
            return
        import cv2

        with self._lock:
            image, kp, joints = self._image, self._keypoints, self._joints
        panels = []
        if image is not None:
            img = image.copy()
            if kp is not None:
                for x, y, c in kp:
                    if c > 0 and np.isfinite(x) and np.isfinite(y):
                        cv2.circle(img, (int(x), int(y)), 3, (0, 255, 255), -1)
            h = 360
            panels.append(cv2.resize(img, (int(img.shape[1] * h / img.shape[0]), h)))
        if joints is not None:
            panels.append(draw_skeleton_views(joints))
        if panels:
            cv2.imshow(WINDOW, np.hstack(panels) if len(panels) > 1 else panels[0])
        if (cv2.waitKey(1) & 0xFF) == ord("q"):
            self.close()

    def close(self) -> None:
        """Close the window (idempotent)."""
        if self._open:
            self._open = False
            try:
                import cv2

                cv2.destroyWindow(WINDOW)
            except Exception:  # no GUI backend (headless): nothing to close
                log.debug("no preview window to close")


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument_group("preview").add_argument(
        "--preview", action="store_true", help="OpenCV window: the image with 2D keypoints and the cleaned 3D skeleton"
    )


def _from_args(args: argparse.Namespace) -> Preview | None:
    return Preview() if args.preview else None


SPEC = SinkSpec(add_options=_add_options, from_args=_from_args)
