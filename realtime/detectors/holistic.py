"""MediaPipe Holistic (0.10.21, video mode) -> ``holistic75`` keypoints: the default detector.

Output per image: ``keypoints`` (75, 3) float32 = x px, y px, confidence; ``depth`` (75,)
float32 = MediaPipe's relative landmark z in pixels (z times the image width; smaller =
nearer; NaN where missing). Confidence: pose landmarks' visibility; hand landmarks (which
have none) take their pose wrist's visibility when the hand is found. A hand not found =
its 21 joints at confidence 0 with NaN x, y; no person = all 75 at 0.

MediaPipe's ``left_hand_landmarks`` is the subject's left hand, as holistic75's
``LEFT_HAND`` (33-53). Its one ``skeletor-live`` option is ``--model-complexity``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime.detectors.base import DetectedPose, DetectorSpec, no_person
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND, Skeleton

__all__ = ["HolisticConfig", "HolisticDetector", "SPEC"]

log = logging.getLogger(__name__)

POSE_LANDMARKS = LEFT_HAND[0]  # MediaPipe Pose's 33 landmarks come first in holistic75
HAND_POINTS = len(LEFT_HAND)  # 21
_HANDS = (  # (MediaPipe result attribute, first holistic75 index, the pose wrist the hand hangs off)
    ("left_hand_landmarks", LEFT_HAND[0], HOLISTIC75.index("left_wrist")),
    ("right_hand_landmarks", RIGHT_HAND[0], HOLISTIC75.index("right_wrist")),
)


@dataclass(frozen=True)
class HolisticConfig:
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

    def __post_init__(self) -> None:
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity!r}")


def _landmarks(lms, n: int, w: int, h: int, visibility: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 2) pixels, (n,) confidence, (n,) depth px from a MediaPipe landmark list."""
    a = np.array([(p.x, p.y, p.z, p.visibility if visibility else 1.0) for p in lms.landmark[:n]], dtype=np.float64)
    return a[:, :2] * (w, h), np.clip(a[:, 3], 0.0, 1.0), a[:, 2] * w


class HolisticDetector:
    """A MediaPipe Holistic graph in video mode (frames must come in order); a :class:`~realtime.detectors.base.Detector`."""

    name = "holistic"
    skeleton: Skeleton = HOLISTIC75

    def __init__(self, config: HolisticConfig = HolisticConfig()) -> None:
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
        self._closed = False

    def detect(self, image: np.ndarray, t_ns: int = 0) -> DetectedPose:
        """Detect one BGR image.

        Args:
            image: (H, W, 3) uint8 BGR.
            t_ns: capture time (unused: this graph's video mode takes frames in order).

        Returns:
            holistic75 keypoints (75, 3) float32, depth (75,) float32, person_found.

        Raises:
            ValueError: not an (H, W, 3) uint8 image.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
        import cv2

        h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        res = self._graph.process(rgb)
        if res.pose_landmarks is None:
            return no_person(self.skeleton)
        kp, depth, _ = no_person(self.skeleton)
        xy, conf, z = _landmarks(res.pose_landmarks, POSE_LANDMARKS, w, h, visibility=True)
        kp[:POSE_LANDMARKS, :2], kp[:POSE_LANDMARKS, 2], depth[:POSE_LANDMARKS] = xy, conf, z
        for attr, start, wrist in _HANDS:
            lms = getattr(res, attr)
            if lms is None:
                continue
            hand = slice(start, start + HAND_POINTS)
            hxy, _, hz = _landmarks(lms, HAND_POINTS, w, h, visibility=False)
            kp[hand, :2] = hxy
            kp[hand, 2] = max(float(conf[wrist]), 0.5)
            depth[hand] = depth[wrist] + hz - hz[0]  # hand z is relative to its wrist
        missing = kp[:, 2] <= 0
        kp[missing, :2] = np.nan
        return DetectedPose(kp, depth, True)

    def close(self) -> None:
        """Free the graph (idempotent)."""
        if not self._closed:
            self._closed = True
            self._graph.close()

    def __enter__(self) -> HolisticDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("holistic detector (--detector holistic)")
    g.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1, help="MediaPipe Holistic's pose model: 0 fast, 1 default, 2 accurate")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"model_complexity": getattr(args, "model_complexity", 1)}


def _create(options: Mapping[str, Any]) -> HolisticDetector:
    return HolisticDetector(HolisticConfig(**options))


SPEC = DetectorSpec(
    summary="MediaPipe Holistic 0.10 (CPU): body, both hands, a depth hint",
    create=_create,
    add_options=_add_options,
    options_from_args=_options_from_args,
)
