"""Video files through a detector, every frame (``skeletor clean talk.mp4``)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

from realtime.detectors.base import Detector, check_pose
from skeletor.pose.keypoints import KeypointSequence

__all__ = ["VIDEO_SUFFIXES", "read_video_keypoints"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def read_video_keypoints(path: Path, detector: Detector | None = None, progress: bool | None = None) -> KeypointSequence:
    """Detect every frame of a video file (as fast as possible, none skipped).

    Args:
        path: the video.
        detector: the detector to run (kept open); None = MediaPipe Holistic with its
            defaults, closed at the end.
        progress: a progress bar on stderr (None = when stderr is a terminal).

    Returns:
        The keypoints in the detector's layout, at the video's fps (30 if it states none),
        with the detector's depth hint where it gives one.

    Raises:
        OSError: the file cannot be opened as a video, or has no frames.
    """
    import cv2
    from tqdm import tqdm

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    owned = detector is None
    if detector is None:
        from realtime.detectors.holistic import HolisticDetector

        detector = HolisticDetector()
    kps, depths, size = [], [], None
    t0 = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with tqdm(total=n or None, desc=Path(path).name, unit="frame", disable=not show, leave=False) as bar:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                size = (img.shape[1], img.shape[0])
                pose = detector.detect(img, round(len(kps) * 1e9 / fps))  # the frame's time in the video
                check_pose(detector, pose)
                kps.append(pose.keypoints)
                depths.append(pose.depth)
                bar.update(1)
    finally:
        cap.release()
        if owned:
            detector.close()
    if not kps:
        raise OSError(f"{path}: no frames could be read")
    log.info("%s: %d frames detected by %s in %.1f s", path, len(kps), detector.name, time.perf_counter() - t0)
    depth = None if any(d is None for d in depths) else np.stack(depths)
    return KeypointSequence(np.stack(kps), float(fps), size, skeleton=detector.skeleton.name, depth=depth, name=Path(path).name)
