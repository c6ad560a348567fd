"""Sources a detector process builds in the tests: module-level, so a spawned child can unpickle them.

The detector replays a real MediaPipe Holistic clip (the conftest's :class:`ClipDetector`)
and can be told to fail: raise on one frame, or kill its whole process (``os._exit``, as a
crash in native code would) once, the first time it reaches a frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from realtime.detectors import DetectedPose
from realtime.sources import CaptureSource
from skeletor.datasets.poseformat import load_pose_file
from stand_ins import ClipDetector, StandInCamera


class FaultyClipDetector(ClipDetector):
    """A :class:`ClipDetector` that raises on call ``raise_at`` and exits its process on call
    ``crash_at``: every time without a ``crash_marker``; with one, only while it does not
    exist (the crash creates it, so a restarted process goes on)."""

    def __init__(self, clip_path: Path, raise_at: int | None, crash_at: int | None, crash_marker: Path | None) -> None:
        super().__init__(load_pose_file(clip_path))
        self.raise_at, self.crash_at, self.crash_marker = raise_at, crash_at, crash_marker

    def detect(self, image: np.ndarray, t_ns: int) -> DetectedPose:
        n = len(self.calls)
        if n == self.crash_at and (self.crash_marker is None or not self.crash_marker.exists()):
            if self.crash_marker is not None:
                self.crash_marker.touch()
            os._exit(3)
        if n == self.raise_at:
            self.calls.append((image.shape, image.dtype, t_ns))
            raise RuntimeError(f"the detector failed on call {n}")
        return super().detect(image, t_ns)


def video_source(
    video: Path, clip_path: Path, raise_at: int | None = None, crash_at: int | None = None, crash_marker: Path | None = None
) -> CaptureSource:
    """A real video read as fast as possible (every frame), with the replaying detector."""
    return CaptureSource(video, FaultyClipDetector(clip_path, raise_at, crash_at, crash_marker))


def camera_source(clip_path: Path, crash_at: int | None = None, crash_marker: Path | None = None) -> CaptureSource:
    """A stand-in camera at 100 fps, with the replaying detector."""
    return CaptureSource(0, FaultyClipDetector(clip_path, None, crash_at, crash_marker), open_capture=StandInCamera(fps=100.0).open)


def wrong_skeleton_source(video: Path) -> CaptureSource:
    """What a child does with a detector the cleaner cannot take: its constructor raises ValueError."""
    raise ValueError("detector 'clip' gives upper50 keypoints; the cleaner takes holistic75")
