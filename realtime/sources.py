"""Detection sources for the live pipeline: camera, video file, and the built-in demo.

Camera and video frames are read by a capture thread into a one-frame slot: the newest
frame wins, an unread frame that gets overwritten is counted as dropped, and nothing ever
queues up (a slow detector means fewer, fresher frames, never growing latency). A video
read "as fast as possible" instead hands over every frame (blocking), since offline work
must not lose any. Detection runs in the pipeline's worker thread (``read``), so capture
never waits for MediaPipe.

The demo source needs no camera and no data file: ``skeletor.procedural``'s animated
person seen by a virtual 1280x720 camera, with detector-like jitter, dropouts, a hand lost
now and then, and a MediaPipe-like depth hint. It enters after the detector stage.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.detectors.holistic import DetectorConfig, HolisticDetector
from realtime.pipeline import Detection

__all__ = ["SourceError", "camera_available", "CaptureSource", "DemoConfig", "DemoSource", "open_source"]

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
        detector: MediaPipe settings.
        realtime: pace a video at its fps with newest-frame-wins (cameras always are).
        loop: restart a video at its end.
    """

    def __init__(self, target: int | Path, detector: DetectorConfig = DetectorConfig(), realtime: bool = False, loop: bool = False) -> None:
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
        self.realtime = realtime or self.is_camera
        self.loop = loop
        self._detector = HolisticDetector(detector)
        self._cond = threading.Condition()
        self._slot: _Frame | None = None
        self._ended = False
        self._closed = False
        self._dropped = 0
        self._thread = threading.Thread(target=self._capture, name="skeletor-capture", daemon=True)
        self._thread.start()

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
        """Take the newest frame and run the detector on it (None if no frame in ``timeout`` s)."""
        with self._cond:
            if self._slot is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
        if frame is None:
            return None
        t0 = time.perf_counter()
        kp, depth, found = self._detector.detect(frame.image)
        h, w = frame.image.shape[:2]
        return Detection(frame.seq, kp, depth, found, (w, h), frame.t_wall_ns, frame.t_mono_ns,
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
        self._detector.close()


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


class DemoSource:
    """The built-in animated person as a detection source (no camera, no data)."""

    def __init__(self, config: DemoConfig = DemoConfig()) -> None:
        from skeletor.camera import orbit_camera
        from skeletor.procedural import PersonConfig, ProceduralPerson

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
        """(75, 3) camera-frame 3D truth of frame ``seq`` (metres), for tests."""
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
        kp = np.concatenate([px + self._rng.normal(0, cfg.jitter_px, px.shape), np.ones((75, 1))], -1).astype(np.float32)
        kp[:, 2] = np.clip(0.95 - 0.1 * self._rng.random(75), 0, 1)
        missing = self._rng.random(75) < cfg.drop_joint
        for h, sl in enumerate((slice(33, 54), slice(54, 75))):
            if self._hand_lost[h] == 0 and self._rng.random() < cfg.lose_hand:
                self._hand_lost[h] = int(self._rng.integers(5, 25))
            if self._hand_lost[h] > 0:
                missing[sl] = True
                self._hand_lost[h] -= 1
        outside = ~((px[:, 0] >= 0) & (px[:, 0] < cfg.width) & (px[:, 1] >= 0) & (px[:, 1] < cfg.height))
        missing |= outside
        kp[missing] = (np.nan, np.nan, 0.0)
        z_root = 0.5 * (cam[23, 2] + cam[24, 2])
        depth = ((cam[:, 2] - z_root + self._rng.normal(0, 0.05, 75)) * cfg.focal_px / z_root).astype(np.float32)
        depth[missing] = np.nan
        return Detection(seq, kp, depth, True, (cfg.width, cfg.height), time.time_ns(), time.monotonic_ns(), 0.0, None)

    def close(self) -> None:
        """Stop (idempotent)."""
        self._closed = True


def open_source(args: argparse.Namespace) -> tuple[CaptureSource | DemoSource, str]:
    """The source ``skeletor-live``'s flags ask for, and a description of it.

    No source flag: camera 0 if one can be opened, else the demo (saying so).

    Raises:
        SourceError: an explicit ``--camera N`` that cannot be opened, or a bad video.
    """
    det = DetectorConfig(model_complexity=getattr(args, "model_complexity", 1))
    if getattr(args, "demo", False):
        return DemoSource(DemoConfig(max_frames=args.frames)), "the built-in demo"
    if getattr(args, "video", None) is not None:
        return CaptureSource(Path(args.video), det, realtime=args.realtime, loop=args.loop), f"video {args.video}"
    if getattr(args, "camera", None) is not None:
        if not camera_available(args.camera):
            raise SourceError(f"cannot open camera {args.camera}; try another --camera N, --video PATH, or --demo")
        return CaptureSource(int(args.camera), det), f"camera {args.camera}"
    if camera_available(0):
        return CaptureSource(0, det), "camera 0"
    import sys

    print("skeletor-live: no camera found at index 0; serving the built-in demo (--video PATH or --camera N to choose)", file=sys.stderr, flush=True)
    return DemoSource(DemoConfig(max_frames=args.frames)), "the built-in demo (no camera)"
