"""Detection sources for the live pipeline: camera, video file, and the built-in demo.

One module, longer than most: the three sources share the capture thread, the pacing that
keeps a live source at its rate, the newest-frame-wins slot and the reconnect logic.

Camera and video frames are read by a capture thread into a one-frame slot: the newest
frame wins, an unread frame that gets overwritten is counted as dropped, and nothing ever
queues up (a slow detector means fewer, fresher frames, never growing latency). A video
read "as fast as possible" instead hands over every frame (blocking), since offline work
must not lose any. Detection runs in the pipeline's worker thread (``read``), so capture
never waits for the detector. A :class:`CaptureSource` is given its detector (any
:class:`realtime.detectors.Detector`); :func:`open_source` builds one from a
:class:`SourceConfig` through the registry in :mod:`realtime.detectors`.

A live source (a camera, a video paced with ``--realtime``, the demo) never delivers
faster than its nominal fps: a :class:`Pacer` spaces the frames, and after a stall (a busy
machine, a slow sink, a suspended laptop) the frames whose time has passed are dropped and
counted (``dropped``), never sent late in a burst to catch up.

A camera that stops delivering (unplugged, taken by another program, or open but giving no
images) is released and reopened with exponential backoff (:class:`ReconnectConfig`); the
pipeline tells clients ``source_lost`` while no frames come and ``source_found`` when they
do again.

The demo source needs no camera and no data file: ``skeletor.pose.procedural``'s animated
person seen by a virtual 1280x720 camera, with detector-like jitter, dropouts, a hand lost
now and then, and a MediaPipe-like depth hint. It enters after the detector stage.
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from realtime.detectors import DEFAULT_DETECTOR, DETECTORS, Detector, DetectorSpec, check_pose, create_detector, detect_people, no_person
from realtime.pipeline import Detection
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND

if TYPE_CHECKING:
    from realtime.detector_process import DetectorProcessSource

__all__ = [
    "SourceError",
    "camera_available",
    "Capture",
    "CaptureSource",
    "DemoConfig",
    "DemoSource",
    "Pacer",
    "ReconnectConfig",
    "SourceConfig",
    "SourceKind",
    "open_source",
]

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


class Pacer:
    """When a live source may deliver its next frame: at its nominal rate, never faster, never in a burst.

    Frames are due every ``1 / fps`` seconds. A frame taken up to half a period late keeps
    the schedule, so small delays do not lower the average rate. A frame taken later
    re-anchors the schedule at that moment: the whole periods that passed are frames the
    source missed (a live source drops them; sending them late, to catch up, would show a
    burst of stale poses), and the next frame is due a full period later. So the average
    rate never exceeds ``fps``, and two frames are at least ``(1/2 - early) / fps`` apart.

    Args:
        fps: the nominal rate (> 0).
        early: a frame that is ready this fraction of a period before it is due may be
            taken (a camera's frames jitter around their due time; 0 for a source that
            makes its frames when asked, like the demo).

    Raises:
        ValueError: fps is not a positive finite number, or ``early`` is not in [0, 0.5).
    """

    def __init__(self, fps: float, early: float = 0.0) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if not 0 <= early < 0.5:
            raise ValueError(f"early must be in [0, 0.5), got {early!r}")
        self.period = 1.0 / fps
        self.early = early
        self._due: float | None = None  # monotonic s when the next frame is due (None: the first frame is due now)

    def delay(self) -> float:
        """Seconds until the next frame may be taken (<= 0: now)."""
        if self._due is None:
            return 0.0
        return self._due - self.early * self.period - time.monotonic()

    def take(self, now: float | None = None) -> int:
        """Note that a frame was taken now (or at ``now``, a ``time.monotonic()`` reading).

        A source that stamps its frame should read the clock once and pass the reading
        here, so its stamps keep the spacing this schedule guarantees.

        Returns:
            The frames missed since the last one: whole periods that passed while the
            source was held up (0 when it is on time).
        """
        now = time.monotonic() if now is None else now
        if self._due is None:
            self._due = now + self.period
            return 0
        late = now - self._due
        if late <= 0.5 * self.period:
            self._due += self.period
            return 0
        self._due = now + self.period
        return int(late // self.period)


@dataclass(frozen=True)
class ReconnectConfig:
    """How a camera that stops delivering images is reopened.

    Attributes:
        lost_after_s: no image for this long (reads failing, or giving nothing) = the camera
            is lost: it is released and reopened.
        first_delay_s: wait before the first attempt to reopen it; each failed attempt
            (the camera cannot be opened, or opens but gives no image for ``lost_after_s``)
            doubles the wait ...
        max_delay_s: ... up to this. A delivered image resets it to ``first_delay_s``.
    """

    lost_after_s: float = 1.0
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        for name in ("lost_after_s", "first_delay_s", "max_delay_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        if self.max_delay_s < self.first_delay_s:
            raise ValueError(f"max_delay_s ({self.max_delay_s}) must be >= first_delay_s ({self.first_delay_s})")


class Capture(Protocol):
    """What :class:`CaptureSource` needs of a capture device: ``cv2.VideoCapture``'s few methods."""

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        """Whether the device or file is open."""
        ...

    def read(self) -> tuple[bool, np.ndarray | None]:
        """Grab and decode the next image: (ok, BGR uint8 image)."""
        ...

    def grab(self) -> bool:
        """Skip the next image (no decoding)."""
        ...

    def get(self, prop: int) -> float:
        """A property (5 = fps)."""
        ...

    def set(self, prop: int, value: float) -> bool:
        """Set a property (1 = the next frame's index)."""
        ...

    def release(self) -> None:
        """Close the device or file."""
        ...


_CAP_PROP_POS_FRAMES = 1  # cv2.CAP_PROP_POS_FRAMES
_CAP_PROP_FPS = 5  # cv2.CAP_PROP_FPS


def _open_cv2(target: int | str) -> Capture:
    import cv2

    return cv2.VideoCapture(target)


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
        reconnect: how a camera that stops delivering is reopened.
        open_capture: opens the device or file (default ``cv2.VideoCapture``); tests pass a
            stand-in camera.

    Attributes:
        reconnects: times a lost camera was reopened.
        reconnect_delays: the wait before each attempt to reopen it, in order (seconds).

    Raises:
        SourceError: the camera or video cannot be opened.
    """

    def __init__(
        self,
        target: int | Path,
        detector: Detector,
        realtime: bool = False,
        loop: bool = False,
        reconnect: ReconnectConfig = ReconnectConfig(),
        open_capture: Callable[[int | str], Capture] = _open_cv2,
    ) -> None:
        self._open_capture = open_capture
        try:
            self._open(target)
        except BaseException:
            detector.close()
            raise
        self.realtime = realtime or self.is_camera
        self.loop = loop
        self.detector = detector
        self.reconnect = reconnect
        self.reconnects = 0
        self.reconnect_delays: list[float] = []
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._slot: _Frame | None = None
        self._ended = False
        self._closed = False
        self._dropped = 0
        # Delivery to the pipeline is paced for live sources with a known rate: a camera
        # that hands over its buffered images at once after a hiccup, or a paced video,
        # never goes faster than its fps. A camera's images may come a little early.
        self._pacer = Pacer(self.fps, early=0.25) if (self.realtime and self.fps) else None
        self._thread = threading.Thread(target=self._capture, name="skeletor-capture", daemon=True)
        self._thread.start()

    def _open(self, target: int | Path) -> None:
        self.is_camera = isinstance(target, int)
        self.target = target
        if not self.is_camera and not Path(target).is_file():
            raise SourceError(f"{target}: no such video file")
        self._cap = self._open_capture(target if self.is_camera else str(target))
        if not self._cap.isOpened():
            self._cap.release()
            if self.is_camera:
                raise SourceError(f"cannot open camera {target}; try --camera N for another one, --video PATH, or --demo")
            raise SourceError(f"{target}: cannot open as a video")
        fps = self._cap.get(_CAP_PROP_FPS)
        self.fps: float | None = float(fps) if fps and math.isfinite(fps) and fps > 0 else None

    @property
    def ended(self) -> bool:
        """The video has no more frames (and its last one was taken)."""
        with self._cond:
            return self._ended and self._slot is None

    @property
    def dropped(self) -> int:
        """Frames skipped: overwritten before the pipeline took them, or (a paced video) skipped after a stall."""
        return self._dropped

    def _read_image(self) -> tuple[np.ndarray | None, float]:
        """The next image (None when the device gives none) and the milliseconds reading it took."""
        t_read = time.perf_counter()
        try:
            ok, image = self._cap.read()
        except Exception as e:  # a driver error (cv2.error) is a failed read, like (False, None)
            log.debug("%s: read failed: %s", self._what(), e)
            ok, image = False, None
        ms = 1000 * (time.perf_counter() - t_read)
        return (image if ok and image is not None and getattr(image, "size", 0) else None), ms

    def _what(self) -> str:
        return f"camera {self.target}" if self.is_camera else str(self.target)

    def _capture(self) -> None:
        seq = 0
        # A paced video is read at its own fps: frames whose time passed while this thread
        # was held up are skipped unread (and counted), never decoded and sent late.
        video_pacer = Pacer(self.fps) if (self.realtime and self.fps and not self.is_camera) else None
        last_image = time.monotonic()
        backoff = self.reconnect.first_delay_s
        outage = False  # the camera was found lost and has not delivered since
        while not self._closed:
            taken: tuple[int, int] | None = None  # (wall, monotonic) ns when a paced video's frame was due and taken
            if video_pacer is not None:
                wait = video_pacer.delay()
                if wait > 0 and self._closing.wait(wait):
                    break
                taken = time.time_ns(), time.monotonic_ns()
                for _ in range(video_pacer.take(taken[1] / 1e9)):
                    if not self._cap.grab():
                        break
                    seq += 1
                    self._dropped += 1
            image, decode_ms = self._read_image()
            if image is None:
                if self.loop and not self.is_camera:
                    self._cap.set(_CAP_PROP_POS_FRAMES, 0)
                    continue
                if not self.is_camera:
                    break
                if time.monotonic() - last_image < self.reconnect.lost_after_s:
                    self._closing.wait(0.05)  # a hiccup: try again shortly
                    continue
                if not outage:
                    outage = True
                    log.warning("%s gave no image for %.1f s; reopening it (retrying with backoff up to %g s)",
                                self._what(), self.reconnect.lost_after_s, self.reconnect.max_delay_s)  # fmt: skip
                if not self._reopen(backoff):
                    break  # closed while waiting
                backoff = min(2 * backoff, self.reconnect.max_delay_s)
                last_image = time.monotonic()  # the reopened camera gets lost_after_s to deliver
                continue
            if outage:
                outage = False
                backoff = self.reconnect.first_delay_s
                log.info("%s delivers images again", self._what())
            last_image = time.monotonic()
            # A camera's image is captured when its read returns; a paced video's frame is stamped
            # when it was taken, so a read held up (a slow disk, a busy machine) cannot bunch the
            # stamps the pacer spaced.
            t_wall_ns, t_mono_ns = taken if taken is not None else (time.time_ns(), time.monotonic_ns())
            frame = _Frame(seq, image, t_wall_ns, t_mono_ns, decode_ms)
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

    def _reopen(self, delay: float) -> bool:
        """Release the camera, wait ``delay`` s, open it again; False if closed meanwhile.

        Opening may fail (the camera is still gone): the caller then finds no image again
        and comes back with a longer delay.
        """
        try:
            self._cap.release()
        except Exception as e:
            log.debug("%s: release failed: %s", self._what(), e)
        self.reconnect_delays.append(delay)
        if self._closing.wait(delay):
            return False
        try:
            cap = self._open_capture(self.target)  # type: ignore[arg-type]
            opened = bool(cap.isOpened())
        except Exception as e:
            log.debug("%s: reopening failed: %s", self._what(), e)
            cap, opened = None, False
        if opened:
            self._cap = cap
            self.reconnects += 1
            log.debug("%s reopened (attempt %d)", self._what(), len(self.reconnect_delays))
        else:
            if cap is not None:
                cap.release()
            self._cap = _Closed()
            log.debug("%s: still cannot be opened (attempt %d)", self._what(), len(self.reconnect_delays))
        return True

    def read(self, timeout: float) -> Detection | None:
        """Take the newest frame and run the detector on it (None if no frame in ``timeout`` s).

        A live source with a known fps delivers at most at that rate (:class:`Pacer`).

        Raises:
            ValueError: the detector's keypoints are not in its skeleton's shape.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._pacer is not None:
                wait = self._pacer.delay()
                if wait > 0:
                    if wait > timeout:
                        self._cond.wait(timeout)
                        return None
                    self._cond.wait_for(lambda: self._closed, wait)
            if self._slot is None and not self._ended:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            frame, self._slot = self._slot, None
            self._cond.notify_all()
        if frame is None:
            return None
        if self._pacer is not None:
            self._pacer.take()  # frames missed meanwhile were overwritten in the slot: counted there
        t0 = time.perf_counter()
        people: list = []
        if self.max_people > 1:
            people = detect_people(self.detector, frame.image, frame.t_mono_ns)
            for p in people:
                check_pose(self.detector, p)
            pose = people[0] if people else no_person(self.detector.skeleton)
        else:
            pose = self.detector.detect(frame.image, frame.t_mono_ns)
            check_pose(self.detector, pose)
        h, w = frame.image.shape[:2]
        return Detection(frame.seq, pose.keypoints, pose.depth, pose.person_found, (w, h), frame.t_wall_ns, frame.t_mono_ns,
                         1000 * (time.perf_counter() - t0), frame.image, frame.decode_ms, people)  # fmt: skip

    @property
    def max_people(self) -> int:
        """The most people a detection carries (the detector's ``max_people``; 1 for a single-person detector)."""
        return int(getattr(self.detector, "max_people", 1))

    def close(self) -> None:
        """Stop capturing and free the camera / file and the detector (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(2.0)
        self._cap.release()
        self.detector.close()


class _Closed:
    """The capture between a failed reopening and the next attempt: gives no images."""

    def isOpened(self) -> bool:  # noqa: N802
        return False

    def read(self) -> tuple[bool, None]:
        return False, None

    def grab(self) -> bool:
        return False

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        pass


@dataclass(frozen=True)
class DemoConfig:
    """The demo source.

    Attributes:
        fps: frames per second (paced in real time unless ``paced`` is False): never more;
            frames whose time passed while the reader was held up are dropped, not sent late.
        seed: the person's motion and the noise.
        width, height, focal_px: the virtual camera.
        distance_m: camera distance from the person.
        jitter_px: detector-like pixel noise.
        drop_joint: probability that a single keypoint is missing.
        lose_hand: probability per frame that a hand starts being lost (for about half a second).
        paced: deliver frames at ``fps`` (live) or as fast as asked (tests, benchmarks).
        max_frames: end after delivering this many frames (None = never).
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
    """The built-in animated person as a detection source (no camera, no data).

    Paced, it behaves as a live camera: frame ``seq`` shows the person at ``seq / fps``
    seconds, frames come at most at ``fps`` (:class:`Pacer`), and after a stall the frames
    whose time has passed are dropped (counted in ``dropped``, skipped in ``seq``), so the
    person moves on in real time instead of catching up in a burst.
    """

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
        self._delivered = 0
        self._dropped = 0
        self._pacer = Pacer(config.fps)
        self._hand_lost = np.zeros(2, dtype=int)  # frames left without each hand
        self._closed = False

    @property
    def ended(self) -> bool:
        """True after ``max_frames`` frames."""
        return self.config.max_frames is not None and self._delivered >= self.config.max_frames

    @property
    def dropped(self) -> int:
        """Frames skipped because the reader was held up for more than half a period (paced only)."""
        return self._dropped

    def truth(self, seq: int) -> np.ndarray:
        """(J, 3) holistic75 camera-frame 3D truth of frame ``seq`` (metres), for tests."""
        return self._camera.world_to_camera(self._person.pose(seq / self.config.fps))[0]

    def read(self, timeout: float) -> Detection | None:
        """The next frame's detection; paced at ``fps`` when ``config.paced``."""
        cfg = self.config
        if self._closed or self.ended:
            return None
        if cfg.paced:
            wait = self._pacer.delay()
            if wait > timeout:
                time.sleep(timeout)
                return None
            if wait > 0:
                time.sleep(wait)
        # Stamped when the frame is taken, before it is rendered: rendering on a loaded machine
        # can be held up, and a stamp taken after it would bunch frames the pacer spaced.
        t_wall_ns, t_mono_ns = time.time_ns(), time.monotonic_ns()
        if cfg.paced:
            missed = self._pacer.take(t_mono_ns / 1e9)
            self._seq += missed  # the person moves on in real time; the frames in between are dropped
            self._dropped += missed
        seq = self._seq
        self._seq += 1
        self._delivered += 1
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
        return Detection(seq, kp, depth, True, (cfg.width, cfg.height), t_wall_ns, t_mono_ns, 0.0, None)

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
        detector_process: run a camera's or video's capture and detector in a child process
            (:mod:`realtime.detector_process`): a detector that crashes in native code is
            restarted (a camera) or reported (a video) instead of taking the live tool down;
            False = in this process (the demo always is).
        images: pass the camera image along with each detection (``--preview`` draws on it);
            from a detector process it crosses the process boundary only when True.
    """

    kind: SourceKind = "auto"
    camera: int = 0
    video: Path | None = None
    realtime: bool = False
    loop: bool = False
    detector: str = DEFAULT_DETECTOR
    detector_options: tuple[tuple[str, Any], ...] | Mapping[str, Any] = field(default=())
    max_frames: int | None = None
    detector_process: bool = False
    images: bool = True

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


def open_source(config: SourceConfig) -> tuple[CaptureSource | DetectorProcessSource | DemoSource, str]:
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
        TimeoutError: a detector process did not open its source in time.
    """
    demo = DemoConfig(max_frames=config.max_frames)
    if config.kind == "demo":
        return DemoSource(demo), "the built-in demo"
    if config.kind == "video":
        assert config.video is not None
        if not config.video.is_file():
            raise SourceError(f"{config.video}: no such video file")
        source = _capture_source(config, config.video)
        return source, f"video {config.video} ({_where(source)})"
    if config.kind == "camera":
        if not camera_available(config.camera):
            raise SourceError(f"cannot open camera {config.camera}; try another --camera N, --video PATH, or --demo")
        source = _capture_source(config, config.camera)
        return source, f"camera {config.camera} ({_where(source)})"
    if camera_available(0):
        source = _capture_source(config, 0)
        return source, f"camera 0 ({_where(source)})"
    print("skeletor-live: no camera found at index 0; serving the built-in demo (--video PATH or --camera N to choose)", file=sys.stderr, flush=True)
    return DemoSource(demo), "the built-in demo (no camera)"


def _capture_source(config: SourceConfig, target: int | Path) -> CaptureSource | DetectorProcessSource:
    """Camera or video ``target`` with the configured detector: in a child process when
    ``config.detector_process`` and the detector can be sent there (its registry entry
    pickles: module-level functions do; one registered at run time as a closure runs here)."""
    if config.detector_process:
        from realtime.detector_process import DetectorProcessSource

        build = functools.partial(open_capture_source, config, target, DETECTORS[config.detector])
        try:
            pickle.dumps(build)
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            log.info("detector %r cannot be sent to a child process (%s); running it in this process", config.detector, e)
        else:
            return DetectorProcessSource(build, images=config.images)
    return open_capture_source(config, target)


def open_capture_source(config: SourceConfig, target: int | Path, spec: DetectorSpec | None = None) -> CaptureSource:
    """Camera or video ``target`` with the configured detector, in this process (what a
    detector process runs); ``spec``: the detector's registry entry (default: looked up by name)."""
    is_video = not isinstance(target, int)
    detector = _detector(config, spec)
    return CaptureSource(target, detector, realtime=config.realtime and is_video, loop=config.loop and is_video)


def _where(source: CaptureSource | DetectorProcessSource) -> str:
    """The detector's name, and where it runs."""
    if isinstance(source, CaptureSource):
        return source.detector.name
    return f"{source.detector_name}, in its own process"


def _detector(config: SourceConfig, spec: DetectorSpec | None = None) -> Detector:
    """The configured detector; refused unless it gives the cleaner's layout."""
    detector = create_detector(config.detector, config.options, spec)
    if detector.skeleton.name != HOLISTIC75.name:
        detector.close()
        raise ValueError(
            f"detector {config.detector!r} gives {detector.skeleton.name} keypoints; the cleaner takes "
            f"{HOLISTIC75.name}: map them in the detector (as skeletor.pose.skeleton.upper50_to_holistic75 does for upper50)"
        )
    return detector
