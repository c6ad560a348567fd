"""Several people per image: MediaPipe's PoseLandmarker (Tasks API) + MediaPipe Hands -> ``holistic75``.

MediaPipe Holistic follows one person. The Tasks API's ``PoseLandmarker`` finds up to
``num_poses`` people, but it reads a ``.task`` model bundle that MediaPipe hosts online. The
mediapipe wheel already ships the two models inside that bundle
(``modules/pose_detection/pose_detection.tflite``, ``modules/pose_landmark/pose_landmark_full.tflite``,
the ones Holistic runs); they lack only the input-normalisation metadata the Tasks API reads.
:func:`pose_landmarker_bundle` adds it with MediaPipe's own ``MetadataWriter`` (detector input
mean 127.5, std 127.5, i.e. [-1, 1]; landmark model mean 0, std 255, i.e. [0, 1]; one feature
output per output tensor) and zips the two with ``create_model_asset_bundle`` as
``pose_detector.tflite`` and ``pose_landmarks_detector.tflite``. It is built from the installed
wheel at first use into a cache folder (``$SKELETOR_CACHE`` or ``~/.cache/skeletor``), under a
name keyed by the mediapipe version and the models' bytes, so a new wheel gets a new bundle;
the project never ships Google's model files.

Hands come from ``mp.solutions.hands`` over the whole image (``max_num_hands`` = 2 per person);
each hand goes to the body whose wrist is nearest its own (one hand per wrist, matched as an
assignment, and only within ``MultiPoseConfig.hand_gate`` of the body's size). The side
(left / right hand) is the side of the wrist it matched, so it never depends on MediaPipe's
handedness label (which assumes a mirrored image).

Per person, as :mod:`realtime.detectors.holistic` gives one: ``keypoints`` (75, 3) float32
x px, y px, confidence (pose landmarks' visibility; a found hand takes its wrist's visibility,
at least 0.5); ``depth`` (75,) float32, the landmarks' relative z times the image width (the
same pose model as Holistic's, so the same depth hint the uplift reads; a hand's z is relative
to its wrist and is put on the body wrist's). People come largest first.

``skeletor-live --people N`` (N > 1) selects this detector with ``num_poses = N``; ``--people 1``
(the default) leaves the default detector, Holistic, exactly as it is. The live pipeline
takes one person per image (``detect``, the largest); ``skeletor clean --people N`` cleans
everyone (:mod:`skeletor.cleaner.people`).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.detectors.base import DetectedPose, DetectorSpec, no_person
from skeletor.cleaner.people import MAX_PEOPLE
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND, Skeleton

__all__ = ["MAX_PEOPLE", "MultiPoseConfig", "MultiPoseDetector", "SPEC", "assign_hands", "cache_dir", "pose_landmarker_bundle"]

log = logging.getLogger(__name__)

POSE_LANDMARKS = LEFT_HAND[0]  # 33: MediaPipe Pose's landmarks come first in holistic75
HAND_POINTS = len(LEFT_HAND)  # 21
_WRISTS = (HOLISTIC75.index("left_wrist"), HOLISTIC75.index("right_wrist"))  # body wrists, in the order of _HAND_STARTS
_HAND_STARTS = (LEFT_HAND[0], RIGHT_HAND[0])  # the subject's left hand, then right, in holistic75
_SHOULDERS, _HIPS = (11, 12), (23, 24)

# What goes into the bundle, and how (the Tasks API's file names inside the zip; input normalisation).
_BUNDLE_MODELS = (  # (name in the bundle, path inside the mediapipe package, input mean, input std)
    ("pose_detector.tflite", "modules/pose_detection/pose_detection.tflite", 127.5, 127.5),
    ("pose_landmarks_detector.tflite", "modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0),
)
_BUNDLE_RECIPE = 1  # bump when the recipe above changes, so cached bundles are rebuilt


def cache_dir() -> Path:
    """Where built model files are kept: ``$SKELETOR_CACHE``, else ``~/.cache/skeletor``."""
    env = os.environ.get("SKELETOR_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/skeletor").expanduser()


def _with_metadata(model: bytes, mean: float, std: float, name: str) -> bytes:
    """``model`` (a .tflite) with image-input normalisation and one feature output per output tensor."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

    buf = bytearray(model)
    outputs = len(writer_utils.get_output_tensor_types(buf))
    writer = metadata_writer.MetadataWriter.create(buf).add_general_info(name).add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(outputs):
        writer.add_feature_output()
    return bytes(writer.populate()[0])


def pose_landmarker_bundle(folder: Path | None = None) -> Path:
    """The PoseLandmarker ``.task`` bundle built from the installed mediapipe wheel (built once, then cached).

    The file name holds a hash of the mediapipe version, the two source models' bytes and
    the recipe, so another wheel gets its own bundle. The bundle is written to a temporary
    file in the same folder and renamed into place, so a reader never sees half a file and
    two processes building at once both end with a whole one.

    Args:
        folder: the cache folder (None = :func:`cache_dir` / ``mediapipe``).

    Returns:
        The bundle's path.

    Raises:
        ImportError: mediapipe is not installed.
        OSError: the wheel lacks one of the models, or the folder cannot be written.
    """
    import mediapipe

    package = Path(mediapipe.__file__).resolve().parent
    folder = Path(folder) if folder is not None else cache_dir() / "mediapipe"
    sources = []
    digest = hashlib.sha256(f"{mediapipe.__version__}/{_BUNDLE_RECIPE}".encode())
    for name, rel, mean, std in _BUNDLE_MODELS:
        path = package / rel
        if not path.is_file():
            raise OSError(f"{path}: not in this mediapipe wheel ({mediapipe.__version__}); the multi-person detector needs it")
        data = path.read_bytes()
        digest.update(f"{name}/{mean}/{std}/{len(data)}".encode())
        digest.update(data)
        sources.append((name, data, mean, std))
    target = folder / f"pose_landmarker-{mediapipe.__version__}-{digest.hexdigest()[:16]}.task"
    if target.is_file():
        return target
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    folder.mkdir(parents=True, exist_ok=True)
    models = {name: _with_metadata(data, mean, std, name) for name, data, mean, std in sources}
    fd, tmp = tempfile.mkstemp(prefix=".pose_landmarker-", suffix=".task.tmp", dir=folder)
    os.close(fd)
    try:
        model_asset_bundle_utils.create_model_asset_bundle(models, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("built the PoseLandmarker bundle from mediapipe %s: %s", mediapipe.__version__, target)
    return target


@dataclass(frozen=True)
class MultiPoseConfig:
    """Settings of the multi-person detector.

    Attributes:
        people: the most people per image (PoseLandmarker's ``num_poses``), 1 to ``MAX_PEOPLE``.
        hands: detect hands (MediaPipe Hands, ``max_num_hands`` = 2 x ``people``); off = bodies only.
        min_detection_confidence: PoseLandmarker's pose detector score to report a person.
        min_presence_confidence: its landmark model's score that a person is there.
        min_tracking_confidence: its score to keep tracking a person instead of detecting anew.
        min_hand_confidence: MediaPipe Hands' detection and tracking confidence.
        hand_model_complexity: MediaPipe Hands' landmark model, 0 (lite) or 1 (full).
        hand_gate: a hand goes to a body's wrist only when its own wrist lies within this
            share of that body's size (the larger of its shoulder width and its torso
            length, in pixels): the two wrists are the same joint seen by two models, a few
            pixels apart when both are right, so 0.5 keeps another person's hand held near
            this one's from being taken for it in most poses.
        cache_dir: the bundle's cache folder (None = ``$SKELETOR_CACHE`` or ``~/.cache/skeletor``).
    """

    people: int = 2
    hands: bool = True
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_hand_confidence: float = 0.5
    hand_model_complexity: int = 1
    hand_gate: float = 0.5
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.people <= MAX_PEOPLE:
            raise ValueError(f"people must be in [1, {MAX_PEOPLE}], got {self.people!r}")
        if self.hand_model_complexity not in (0, 1):
            raise ValueError(f"hand_model_complexity must be 0 or 1, got {self.hand_model_complexity!r}")
        for name in ("min_detection_confidence", "min_presence_confidence", "min_tracking_confidence", "min_hand_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.hand_gate > 0:
            raise ValueError(f"hand_gate must be > 0, got {self.hand_gate!r}")


def body_size_px(keypoints: np.ndarray) -> float:
    """A body's size in pixels: the larger of its shoulder width and torso length (NaN when neither is seen)."""
    xy = keypoints[:, :2].astype(np.float64)
    shoulders = np.linalg.norm(xy[_SHOULDERS[0]] - xy[_SHOULDERS[1]])
    torso = np.linalg.norm(xy[list(_SHOULDERS)].mean(0) - xy[list(_HIPS)].mean(0))
    sizes = [s for s in (shoulders, torso) if np.isfinite(s)]
    return max(sizes) if sizes else float("nan")


def assign_hands(bodies: Sequence[np.ndarray], hand_wrists: np.ndarray, gate: float) -> list[tuple[int, int, int]]:
    """Give each hand to the body wrist nearest it: one hand per wrist, the pairs of least total distance.

    Args:
        bodies: each body's (75, 3) keypoints (pixels; its wrists are used).
        hand_wrists: (H, 2) each found hand's own wrist, pixels.
        gate: a pair farther apart than ``gate`` x the body's size (:func:`body_size_px`) is never made.

    Returns:
        (hand index, body index, side) per hand given, side 0 = the subject's left, 1 = right.
    """
    from scipy.optimize import linear_sum_assignment

    hands = np.asarray(hand_wrists, np.float64).reshape(-1, 2)
    if len(hands) == 0 or len(bodies) == 0:
        return []
    wrists = np.array([[b[w, :2] for w in _WRISTS] for b in bodies], np.float64).reshape(-1, 2)  # (2B, 2): body b's side s at 2b + s
    size = np.repeat([body_size_px(b) for b in bodies], 2)  # (2B,)
    dist = np.linalg.norm(hands[:, None, :] - wrists[None, :, :], axis=-1) / size[None, :]  # (H, 2B) in body sizes
    far = ~(dist <= gate)  # NaN (a wrist or a size unknown) counts as far
    cost = np.where(far, 1e6, dist)
    rows, cols = linear_sum_assignment(cost)
    return [(int(h), int(c // 2), int(c % 2)) for h, c in zip(rows, cols) if not far[h, c]]


def _pose_arrays(landmarks: Sequence[Any], w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(75, 3) keypoints and (75,) depth of one PoseLandmarker person (hands still missing)."""
    a = np.array([(p.x, p.y, p.z, p.visibility if p.visibility is not None else 1.0) for p in landmarks[:POSE_LANDMARKS]], np.float64)
    kp, depth, _ = no_person(HOLISTIC75)
    kp[:POSE_LANDMARKS, :2] = a[:, :2] * (w, h)
    kp[:POSE_LANDMARKS, 2] = np.clip(a[:, 3], 0.0, 1.0)
    depth[:POSE_LANDMARKS] = a[:, 2] * w
    return kp, depth


class MultiPoseDetector:
    """PoseLandmarker (video mode, ``num_poses = people``) + MediaPipe Hands; a
    :class:`~realtime.detectors.base.MultiPersonDetector` (frames must come in time order)."""

    name = "multipose"
    skeleton: Skeleton = HOLISTIC75

    def __init__(self, config: MultiPoseConfig = MultiPoseConfig()) -> None:
        """Build the bundle if it is not cached yet, then both graphs.

        Raises:
            ImportError: mediapipe is not installed.
            OSError: the bundle cannot be built (see :func:`pose_landmarker_bundle`).
        """
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self.config = config
        self.max_people = config.people
        bundle = pose_landmarker_bundle(Path(config.cache_dir) / "mediapipe" if config.cache_dir else None)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=config.people,
            min_pose_detection_confidence=config.min_detection_confidence,
            min_pose_presence_confidence=config.min_presence_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
            output_segmentation_masks=False,
        )
        self._mp = mp
        self._pose = vision.PoseLandmarker.create_from_options(options)
        self._hands = None
        if config.hands:
            self._hands = mp.solutions.hands.Hands(
                static_image_mode=False,
                max_num_hands=2 * config.people,
                model_complexity=config.hand_model_complexity,
                min_detection_confidence=config.min_hand_confidence,
                min_tracking_confidence=config.min_hand_confidence,
            )
        self._last_ms = -1
        self._closed = False
        self.last_timings_ms: dict[str, float] = {}  # the last call's stage durations: pose, hands

    def detect_people(self, image: np.ndarray, t_ns: int = 0) -> list[DetectedPose]:
        """Everyone in one BGR image, largest first (see :meth:`~realtime.detectors.base.MultiPersonDetector.detect_people`).

        Args:
            image: (H, W, 3) uint8 BGR.
            t_ns: capture time, nanoseconds; PoseLandmarker's video mode needs it increasing
                (a time not after the last one is moved 1 ms past it).

        Returns:
            Up to ``config.people`` holistic75 detections.

        Raises:
            ValueError: not an (H, W, 3) uint8 image.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
        import time

        import cv2

        h, w = image.shape[:2]
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        ms = max(int(t_ns) // 1_000_000, self._last_ms + 1)
        self._last_ms = ms
        t0 = time.perf_counter()
        result = self._pose.detect_for_video(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb), ms)
        t1 = time.perf_counter()
        people = [_pose_arrays(lms, w, h) for lms in result.pose_landmarks]
        people.sort(key=lambda p: -_area(p[0]))
        if self._hands is not None and people:
            rgb.flags.writeable = False
            self._add_hands(self._hands.process(rgb), people, w, h)
        self.last_timings_ms = {"pose": 1000 * (t1 - t0), "hands": 1000 * (time.perf_counter() - t1)}
        out = []
        for kp, depth in people:
            kp[kp[:, 2] <= 0, :2] = np.nan
            out.append(DetectedPose(kp, depth.astype(np.float32), True))
        return out

    def _add_hands(self, res: Any, people: list[tuple[np.ndarray, np.ndarray]], w: int, h: int) -> None:
        """Put MediaPipe Hands' hands into the bodies whose wrists are nearest (in place)."""
        if not res.multi_hand_landmarks:
            return
        hands = [
            np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark[:HAND_POINTS]], np.float64) for lms in res.multi_hand_landmarks
        ]
        for hand, body, side in assign_hands([kp for kp, _ in people], np.array([hd[0, :2] for hd in hands]), self.config.hand_gate):
            kp, depth = people[body]
            wrist, start = _WRISTS[side], _HAND_STARTS[side]
            joints = slice(start, start + HAND_POINTS)
            kp[joints, :2] = hands[hand][:, :2]
            kp[joints, 2] = max(float(kp[wrist, 2]), 0.5)
            depth[joints] = depth[wrist] + hands[hand][:, 2] - hands[hand][0, 2]  # hand z is relative to its wrist

    def detect(self, image: np.ndarray, t_ns: int = 0) -> DetectedPose:
        """The largest person in one BGR image (or no one): the :class:`~realtime.detectors.base.Detector` view."""
        people = self.detect_people(image, t_ns)
        return people[0] if people else no_person(self.skeleton)

    def close(self) -> None:
        """Free both graphs (idempotent)."""
        if not self._closed:
            self._closed = True
            self._pose.close()
            if self._hands is not None:
                self._hands.close()

    def __enter__(self) -> MultiPoseDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _area(kp: np.ndarray) -> float:
    """Bounding-box area (px^2) of a body's confident pose landmarks: who is "largest"."""
    seen = kp[:POSE_LANDMARKS][kp[:POSE_LANDMARKS, 2] > 0, :2]
    if len(seen) < 2:
        return 0.0
    span = seen.max(0) - seen.min(0)
    return float(span[0] * span[1])


class _PeopleAction(argparse.Action):
    """``--people N``: N > 1 also selects this detector, when ``--detector`` was left at its default."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        setattr(namespace, self.dest, values)
        if values > 1 and getattr(namespace, "detector", None) == parser.get_default("detector"):
            namespace.detector = MultiPoseDetector.name


def _people(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_PEOPLE:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PEOPLE} people, got {text}")
    return value


def _add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("multi-person detector (--detector multipose, or --people N > 1)")
    g.add_argument(
        "--people", type=_people, default=1, action=_PeopleAction, metavar="N",
        help="detect up to N people: N > 1 uses MediaPipe's PoseLandmarker (built at first use from the installed "
        "mediapipe's own models) and MediaPipe Hands; each person is tracked and cleaned, "
        "and the stream carries one frame per person (clients that subscribe with people \"all\"; others get the "
        "oldest person); 1 keeps the default detector (default 1)",
    )  # fmt: skip
    g.add_argument("--no-hands", action="store_true", help="with --people: bodies only, no hand detection (faster)")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"people": getattr(args, "people", 1), "hands": not getattr(args, "no_hands", False)}


def _create(options: Mapping[str, Any]) -> MultiPoseDetector:
    return MultiPoseDetector(MultiPoseConfig(**options))


SPEC = DetectorSpec(
    summary="MediaPipe PoseLandmarker + Hands 0.10 (CPU): several people (--people N), body, hands, a depth hint",
    create=_create,
    add_options=_add_options,
    options_from_args=_options_from_args,
)
