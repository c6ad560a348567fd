"""MediaPipe Holistic (0.10.21, video mode) -> ``holistic75`` keypoints.

Output per image: ``keypoints`` (75, 3) float32 = x px, y px, confidence; ``depth`` (75,)
float32 = MediaPipe's relative landmark z in pixels (z times the image width; smaller =
nearer; NaN where missing). Confidence: pose landmarks' visibility; hand landmarks (which
have none) take their pose wrist's visibility when the hand is found. A hand not found =
its 21 joints at confidence 0 with NaN x, y; no person = all 75 at 0.

MediaPipe's ``left_hand_landmarks`` is the subject's left hand, as holistic75's 33-53.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skeletor.keypoints import KeypointSequence

__all__ = ["DetectorConfig", "HolisticDetector", "VIDEO_SUFFIXES", "read_video_keypoints"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class DetectorConfig:
    """MediaPipe Holistic settings.

    Attributes:
        model_complexity: 0 (fastest), 1 (default) or 2 (most accurate) pose model.
        min_detection_confidence: to report a person at all.
        min_tracking_confidence: to keep tracking instead of re-detecting.
        smooth_landmarks: MediaPipe's own smoothing; off, since our refiner cleans up.
    """

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    smooth_landmarks: bool = False


def _landmarks(lms, n: int, w: int, h: int, visibility: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 2) pixels, (n,) confidence, (n,) depth px from a MediaPipe landmark list."""
    a = np.array([(p.x, p.y, p.z, p.visibility if visibility else 1.0) for p in lms.landmark[:n]], dtype=np.float64)
    return a[:, :2] * (w, h), np.clip(a[:, 3], 0.0, 1.0), a[:, 2] * w


class HolisticDetector:
    """A MediaPipe Holistic graph in video mode (frames must come in order)."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        import mediapipe as mp

        self.config = config
        self._graph = mp.solutions.holistic.Holistic(
            static_image_mode=False,
            model_complexity=config.model_complexity,
            smooth_landmarks=config.smooth_landmarks,
            refine_face_landmarks=False,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
        )

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Detect one BGR image.

        Returns:
            (keypoints (75, 3) float32, depth (75,) float32, person_found).

        Raises:
            ValueError: not an (H, W, 3) uint8 image.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}")
        import cv2

        h, w = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        res = self._graph.process(rgb)
        kp = np.full((75, 3), np.nan, dtype=np.float32)
        kp[:, 2] = 0.0
        depth = np.full(75, np.nan, dtype=np.float32)
        if res.pose_landmarks is None:
            return kp, depth, False
        xy, conf, z = _landmarks(res.pose_landmarks, 33, w, h, visibility=True)
        kp[:33, :2], kp[:33, 2], depth[:33] = xy, conf, z
        for lms, start, wrist in ((res.left_hand_landmarks, 33, 15), (res.right_hand_landmarks, 54, 16)):
            if lms is None:
                continue
            hxy, _, hz = _landmarks(lms, 21, w, h, visibility=False)
            kp[start : start + 21, :2] = hxy
            kp[start : start + 21, 2] = max(float(conf[wrist]), 0.5)
            depth[start : start + 21] = depth[wrist] + hz - hz[0]  # hand z is relative to its wrist
        missing = kp[:, 2] <= 0
        kp[missing, :2] = np.nan
        return kp, depth, True

    def close(self) -> None:
        """Free the graph."""
        self._graph.close()

    def __enter__(self) -> HolisticDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_video_keypoints(path: Path, config: DetectorConfig = DetectorConfig(), progress: bool | None = None) -> KeypointSequence:
    """Detect every frame of a video file (as fast as possible, none skipped).

    Raises:
        OSError: the file cannot be opened as a video.
    """
    import sys

    import cv2
    from tqdm import tqdm

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    kps, depths, size = [], [], None
    t0 = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    with HolisticDetector(config) as det, tqdm(total=n or None, desc=Path(path).name, unit="frame", disable=not show, leave=False) as bar:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            size = (img.shape[1], img.shape[0])
            kp, depth, _ = det.detect(img)
            kps.append(kp)
            depths.append(depth)
            bar.update(1)
    cap.release()
    if not kps:
        raise OSError(f"{path}: no frames could be read")
    log.info("%s: %d frames detected in %.1f s", path, len(kps), time.perf_counter() - t0)
    return KeypointSequence(np.stack(kps), float(fps), size, depth=np.stack(depths), name=Path(path).name)
