"""Detection sources for the live pipeline: camera, video file, and the built-in demo.

Camera and video frames are read by a capture thread into a one-frame slot: the newest
frame wins, an unread frame that gets overwritten is counted as dropped, and nothing ever
queues up (a slow detector means fewer, fresher frames, never growing latency). A video
read "as fast as possible" instead hands over every frame (blocking), since offline work
must not lose any. Detection runs in the pipeline's worker thread (``read``), so capture
never waits for the detector. A :class:`CaptureSource` is given its detector (any
:class:`realtime.detectors.Detector`); :func:`open_source` builds one from a
:class:`SourceConfig` through the registry in :mod:`realtime.detectors`.

The demo source needs no camera and no data file: ``skeletor.pose.procedural``'s animated
person seen by a virtual 1280x720 camera, with detector-like jitter, dropouts, a hand lost
now and then, and a MediaPipe-like depth hint. It enters after the detector stage.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from realtime.detectors import DEFAULT_DETECTOR, DETECTORS, Detector, check_pose, create_detector
from realtime.pipeline import Detection
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND

__all__ = ["SourceError", "camera_available", "CaptureSource", "DemoConfig", "DemoSource", "SourceConfig", "SourceKind", "open_source"]

log = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source cannot be opened (no such camera, unreadable video)."""


def camera_available(index: int) -> bool:
    """Whether OpenCV can open camera ``index`` and read a frame (quietly, quickly)."""
    import cv2

    if not Path(f"/dev/video{index}").exists() and Path("/dev").is_dir() and not any(Path("/dev").glob("video*")):
        return False  # Linux with no video devices at all: do not even ask OpenCV
    cap = cv2.VideoCapture(index)
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()


@dataclass
class _Frame:
    seq: int
    image: np.ndarray
    t_wall_ns: int
    t_mono_ns: int
    decode_ms: float


class CaptureSource:
    """A camera or a video file, captured in a thread, detected on ``read``.

    Args:
        target: camera index (int) or video path.
        detector: runs on every frame the pipeline takes; owned from here on (closed by
            :meth:`close`, also when this constructor fails).
        realtime: pace a video at its fps with newest-frame-wins (cameras always are).
        loop: restart a video at its end.

    Raises:
        SourceError: the camera or video cannot be opened.
    """

    def __init__(self, target: int | Path, detector: Detector, realtime: bool = False, loop: bool = False) -> None:
        try:
            self._open(target)
        except BaseException:
            detector.close()
            raise
        self.realtime = realtime or self.is_camera
        self.loop = loop
        self.detector = detector
        self._cond = threading.Condition()
        self._slot: _Frame | None = None
        self._ended = False
        self._closed = False
        self._dropped = 0
        self._thread = threading.Thread(target=self._capture, name="skeletor-capture", daemon=True)
        self._thread.start()

    def _open(self, target: int | Path) -> None:
        import cv2

        self.is_camera = isinstance(target, int)
        self.target = target
        if not self.is_camera and not Path(target).is_file():
            raise SourceError(f"{target}: no such video file")
        self._cap = cv2.VideoCapture(target if self.is_camera else str(target))
        if not self._cap.isOpened():
            self._cap.release()
            if self.is_camera:
                raise SourceError(f"cannot open camera {target}; try --camera N for another one, --video PATH, or --demo")
            raise SourceError(f"{target}: cannot open as a video")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = float(fps) if fps and fps > 0 else None

    @property
    def ended(self) -> bool:
        """The video has no more frames (and its last one was taken)."""
        with self._cond:
            return self._ended and self._slot is None

    @property
    def dropped(self) -> int:
        """Captured frames overwritten before the pipeline took them."""
        return self._dropped

    def _capture(self) -> None:
        seq = 0
        period = 1.0 / self.fps if (self.fps and not self.is_camera) else 0.0
        next_t = time.monotonic()
        while not self._closed:
            t_read = time.perf_counter()
            ok, image = self._cap.read()
            decode_ms = 1000 * (time.perf_counter() - t_read)
            if not ok:
                if self.loop and not self.is_camera:
                    self._cap.set(1, 0)  # cv2.CAP_PROP_POS_FRAMES
                    continue
                if self.is_camera:  # a camera hiccup: the pipeline reports "source lost" on timeout
                    time.sleep(0.05)
                    continue
                break
            if self.realtime and period:
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
            frame = _Frame(seq, image, time.time_ns(), time.monotonic_ns(), decode_ms)
            seq += 1
            with self._cond:
                if self.realtime:
                    if self._slot is not None:
                        self._dropped += 1  # newest wins: the unread frame is stale
                    self._slot = frame
                    self._cond.notify_all()
                else:  # offline: hand over every frame
                    while self._slot is not None and not self._closed:
                        self._cond.wait(0.1)
                    self._slot = frame
                    self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def read(self, timeout: float) -> Detection | None:
        """Take the newest frame and run the detector on it (None if no frame in ``timeout`` s).

        Raises:
            ValueError: the detector's keypoints are not in its skeleton's shape.
        """
        with self._cond:
            if self._slot is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
        if frame is None:
            return None
        t0 = time.perf_counter()
        pose = self.detector.detect(frame.image, frame.t_mono_ns)
        check_pose(self.detector, pose)
        h, w = frame.image.shape[:2]
        return Detection(frame.seq, pose.keypoints, pose.depth, pose.person_found, (w, h), frame.t_wall_ns, frame.t_mono_ns,
                         1000 * (time.perf_counter() - t0), frame.image, frame.decode_ms)  # fmt: skip

    def close(self) -> None:
        """Stop capturing and free the camera / file and the detector (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        self._thread.join(2.0)
        self._cap.release()
        self.detector.close()


@dataclass(frozen=True)
class DemoConfig:
    """The demo source.

    Attributes:
        fps: frames per second (paced in real time unless ``paced`` is False).
        seed: the person's motion and the noise.
        width, height, focal_px: the virtual camera.
        distance_m: camera distance from the person.
        jitter_px: detector-like pixel noise.
        drop_joint: probability that a single keypoint is missing.
        lose_hand: probability per frame that a hand starts being lost (for about half a second).
        paced: deliver frames at ``fps`` (live) or as fast as asked (tests, benchmarks).
        max_frames: end after this many frames (None = never).
    """

    fps: float = 30.0
    seed: int = 0
    width: int = 1280
    height: int = 720
    focal_px: float = 1000.0
    distance_m: float = 2.8
    jitter_px: float = 1.5
    drop_joint: float = 0.02
    lose_hand: float = 0.01
    paced: bool = True
    max_frames: int | None = None


_HANDS = (slice(LEFT_HAND[0], LEFT_HAND[-1] + 1), slice(RIGHT_HAND[0], RIGHT_HAND[-1] + 1))
_HIPS = [HOLISTIC75.index("left_hip"), HOLISTIC75.index("right_hip")]


class DemoSource:
    """The built-in animated person as a detection source (no camera, no data)."""

    def __init__(self, config: DemoConfig = DemoConfig()) -> None:
        from skeletor.pose.camera import orbit_camera
        from skeletor.pose.procedural import PersonConfig, ProceduralPerson

        self.config = config
        self.fps: float | None = config.fps
        self._person = ProceduralPerson(PersonConfig(seed=config.seed))
        self._camera = orbit_camera(np.array([0.0, 1.0, 0.0]), config.distance_m, 15.0, height=0.2,
                                    focal_px=config.focal_px, width=config.width, height_px=config.height)  # fmt: skip
        self._rng = np.random.default_rng(config.seed)
        self._seq = 0
        self._t0 = time.monotonic()
        self._hand_lost = np.zeros(2, dtype=int)  # frames left without each hand
        self._closed = False

    @property
    def ended(self) -> bool:
        """True after ``max_frames`` frames."""
        return self.config.max_frames is not None and self._seq >= self.config.max_frames

    @property
    def dropped(self) -> int:
        """The demo never drops frames."""
        return 0

    def truth(self, seq: int) -> np.ndarray:
        """(J, 3) holistic75 camera-frame 3D truth of frame ``seq`` (metres), for tests."""
        return self._camera.world_to_camera(self._person.pose(seq / self.config.fps))[0]

    def read(self, timeout: float) -> Detection | None:
        """The next frame's detection; paced at ``fps`` when ``config.paced``."""
        cfg = self.config
        if self._closed or self.ended:
            return None
        if cfg.paced:
            due = self._t0 + self._seq / cfg.fps
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(timeout)
                return None
            time.sleep(max(wait, 0.0))
        seq = self._seq
        self._seq += 1
        cam = self.truth(seq)
        px = self._camera.project(cam)
        j = HOLISTIC75.num_joints
        kp = np.concatenate([px + self._rng.normal(0, cfg.jitter_px, px.shape), np.ones((j, 1))], -1).astype(np.float32)
        kp[:, 2] = np.clip(0.95 - 0.1 * self._rng.random(j), 0, 1)
        missing = self._rng.random(j) < cfg.drop_joint
        for h, sl in enumerate(_HANDS):
            if self._hand_lost[h] == 0 and self._rng.random() < cfg.lose_hand:
                self._hand_lost[h] = int(self._rng.integers(5, 25))
            if self._hand_lost[h] > 0:
                missing[sl] = True
                self._hand_lost[h] -= 1
        outside = ~((px[:, 0] >= 0) & (px[:, 0] < cfg.width) & (px[:, 1] >= 0) & (px[:, 1] < cfg.height))
        missing |= outside
        kp[missing] = (np.nan, np.nan, 0.0)
        z_root = cam[_HIPS, 2].mean()
        depth = ((cam[:, 2] - z_root + self._rng.normal(0, 0.05, j)) * cfg.focal_px / z_root).astype(np.float32)
        depth[missing] = np.nan
        return Detection(seq, kp, depth, True, (cfg.width, cfg.height), time.time_ns(), time.monotonic_ns(), 0.0, None)

    def close(self) -> None:
        """Stop (idempotent)."""
        self._closed = True


SourceKind = Literal["auto", "camera", "video", "demo"]


@dataclass(frozen=True)
class SourceConfig:
    """Which source to open, and how (``skeletor-live``'s source, video and detector flags map here).

    Attributes:
        kind: ``"camera"`` (``camera``), ``"video"`` (``video``), ``"demo"`` (the built-in
            animated person; no detector), or ``"auto"``: camera 0 if one can be opened,
            else the demo, saying so.
        camera: the camera index for ``"camera"``.
        video: the file for ``"video"``.
        realtime: pace a video at its own fps, newest frame wins (cameras always are);
            False = every frame, as fast as the pipeline takes them.
        loop: restart a video at its end.
        detector: the detector's name in :data:`realtime.detectors.DETECTORS`.
        detector_options: the detector's own options (e.g. ``{"model_complexity": 2}`` for
            ``holistic``); stored as sorted ``(key, value)`` pairs so the config stays hashable.
        max_frames: the demo ends after this many frames (None = never).
    """

    kind: SourceKind = "auto"
    camera: int = 0
    video: Path | None = None
    realtime: bool = False
    loop: bool = False
    detector: str = DEFAULT_DETECTOR
    detector_options: tuple[tuple[str, Any], ...] | Mapping[str, Any] = field(default=())
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "camera", "video", "demo"):
            raise ValueError(f"kind must be auto, camera, video or demo, got {self.kind!r}")
        if self.kind == "video" and self.video is None:
            raise ValueError("a video source needs a video path")
        if self.video is not None:
            object.__setattr__(self, "video", Path(self.video))
        if self.camera < 0:
            raise ValueError(f"camera index must be >= 0, got {self.camera}")
        if self.max_frames is not None and self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; expected one of: {', '.join(sorted(DETECTORS))}")
        opts = self.detector_options
        pairs = opts.items() if isinstance(opts, Mapping) else opts
        object.__setattr__(self, "detector_options", tuple(sorted((str(k), v) for k, v in pairs)))

    @property
    def options(self) -> dict[str, Any]:
        """``detector_options`` as a dict."""
        return dict(self.detector_options)


def open_source(config: SourceConfig) -> tuple[CaptureSource | DemoSource, str]:
    """Open the source ``config`` asks for, with its detector; and a description of it.

    Args:
        config: which source; ``"auto"`` tries camera 0, else serves the demo (and says so
            on stderr).

    Returns:
        The source (the caller closes it) and a few words for the startup line.

    Raises:
        SourceError: a camera that cannot be opened, or a bad video.
        ValueError: the detector refuses its options.
        ImportError: the detector's library is not installed.
    """
    demo = DemoConfig(max_frames=config.max_frames)
    if config.kind == "demo":
        return DemoSource(demo), "the built-in demo"
    if config.kind == "video":
        assert config.video is not None
        if not config.video.is_file():
            raise SourceError(f"{config.video}: no such video file")
        source = CaptureSource(config.video, _detector(config), realtime=config.realtime, loop=config.loop)
        return source, f"video {config.video} ({source.detector.name})"
    if config.kind == "camera":
        if not camera_available(config.camera):
            raise SourceError(f"cannot open camera {config.camera}; try another --camera N, --video PATH, or --demo")
        source = CaptureSource(config.camera, _detector(config))
        return source, f"camera {config.camera} ({source.detector.name})"
    if camera_available(0):
        source = CaptureSource(0, _detector(config))
        return source, f"camera 0 ({source.detector.name})"
    print("skeletor-live: no camera found at index 0; serving the built-in demo (--video PATH or --camera N to choose)", file=sys.stderr, flush=True)
    return DemoSource(demo), "the built-in demo (no camera)"


def _detector(config: SourceConfig) -> Detector:
    """The configured detector; refused unless it gives the cleaner's layout."""
    detector = create_detector(config.detector, config.options)
    if detector.skeleton.name != HOLISTIC75.name:
        detector.close()
        raise ValueError(
            f"detector {config.detector!r} gives {detector.skeleton.name} keypoints; the cleaner takes "
            f"{HOLISTIC75.name}: map them in the detector (as skeletor.pose.skeleton.upper50_to_holistic75 does for upper50)"
        )
    return detector
