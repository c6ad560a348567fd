"""Video files through a detector, every frame (``skeletor clean talk.mp4``; ``--people N`` for several people)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from realtime.detectors.base import Detector, check_pose, detect_people
from skeletor.pose.keypoints import KeypointSequence

if TYPE_CHECKING:
    from skeletor.cleaner.people import PeopleKeypoints

__all__ = ["VIDEO_SUFFIXES", "read_video_keypoints", "read_video_people"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _video_frames(path: Path, progress: bool | None) -> Iterator[tuple[float, np.ndarray]]:
    """``(fps, image)`` for every frame of a video file, in order, with a progress bar on
    stderr (None = when stderr is a terminal); fps is the file's, 30 if it states none.

    Raises:
        OSError: the file cannot be opened as a video.
    """
    import cv2
    from tqdm import tqdm

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open as a video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with tqdm(total=n or None, desc=Path(path).name, unit="frame", disable=not show, leave=False) as bar:
            while True:
                ok, img = cap.read()
                if not ok:
                    return
                yield fps, img
                bar.update(1)
    finally:
        cap.release()



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
    owned = detector is None
    if detector is None:
        from realtime.detectors.holistic import HolisticDetector

        detector = HolisticDetector()
    kps, depths, size, fps = [], [], None, 30.0
    t0 = time.perf_counter()
    try:
        for fps, img in _video_frames(path, progress):
            size = (img.shape[1], img.shape[0])
            pose = detector.detect(img, round(len(kps) * 1e9 / fps))  # the frame's time in the video
            check_pose(detector, pose)
            kps.append(pose.keypoints)
            depths.append(pose.depth)
    finally:
        if owned:
            detector.close()
    if not kps:
        raise OSError(f"{path}: no frames could be read")
    log.info("%s: %d frames detected by %s in %.1f s", path, len(kps), detector.name, time.perf_counter() - t0)
    depth = None if any(d is None for d in depths) else np.stack(depths)
    return KeypointSequence(np.stack(kps), float(fps), size, skeleton=detector.skeleton.name, depth=depth, name=Path(path).name)


def read_video_people(path: Path, people: int, detector: Detector | None = None, progress: bool | None = None) -> PeopleKeypoints:
    """Detect everyone in every frame of a video file (``skeletor clean --people N``).

    Args:
        path: the video.
        people: the most people per frame (the multi-person detector's ``people``).
        detector: the detector to run (kept open); None = the multi-person detector
            (:mod:`realtime.detectors.multipose`) for ``people``, closed at the end.
        progress: a progress bar on stderr (None = when stderr is a terminal).

    Returns:
        Every frame's people in the detector's order (no ids yet: the cleaner tracks them),
        at the video's fps (30 if it states none), with their depth hints.

    Raises:
        OSError: the file cannot be opened as a video, or has no frames.
    """
    from skeletor.cleaner.people import PeopleKeypoints

    owned = detector is None
    if detector is None:
        from realtime.detectors.multipose import MultiPoseConfig, MultiPoseDetector

        detector = MultiPoseDetector(MultiPoseConfig(people=people))
    frames: list[list] = []
    size, fps = None, 30.0
    t0 = time.perf_counter()
    try:
        for fps, img in _video_frames(path, progress):
            size = (img.shape[1], img.shape[0])
            frames.append(detect_people(detector, img, round(len(frames) * 1e9 / fps))[:people])
    finally:
        if owned:
            detector.close()
    if not frames or size is None:
        raise OSError(f"{path}: no frames could be read")
    j = detector.skeleton.num_joints
    slots = max(1, max(len(f) for f in frames))
    kp = np.full((len(frames), slots, j, 3), np.nan, np.float32)
    kp[..., 2] = 0.0
    depth = np.full((len(frames), slots, j), np.nan, np.float32)
    for t, found in enumerate(frames):
        for p, pose in enumerate(found):
            kp[t, p] = pose.keypoints
            if pose.depth is not None:
                depth[t, p] = pose.depth
    log.info("%s: %d frames, up to %d people, detected by %s in %.1f s", path, len(frames), slots, detector.name, time.perf_counter() - t0)
    return PeopleKeypoints(kp, float(fps), size, depth=depth, name=Path(path).name)
