"""The live pipeline: source -> detector -> streaming uplift -> refiner -> sinks.

Threads: the source captures in its own thread (newest frame wins, so a slow detector
makes the source drop stale frames instead of queueing them); this pipeline runs
detection, uplift and refinement in one worker thread, in order, and hands every cleaned
frame to its sinks (:mod:`realtime.sinks`: the websocket server, a recorder, a preview
window). Sinks must be quick; the server's only fills per-client slots. A sink that
raises is logged once and counted, and never stops the pipeline or the other sinks.

Every frame carries its stage timestamps: capture (wall clock, sent to clients as
``t_capture_ns``), and the durations of waiting, detection, uplift and refinement in
``latency_ms``; the server adds encode and send.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from realtime.rig import LiveRig
from realtime.sinks.base import Sink, SinkContext, SinkSet
from skeletor.protocol import PoseFrame, StatusEvent
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

__all__ = ["Detection", "DetectionSource", "PipelineConfig", "PipelineStats", "LivePipeline"]

log = logging.getLogger(__name__)


@dataclass
class Detection:
    """One frame's 2D keypoints, as the detector (or the demo source) gives them.

    Attributes:
        seq: frame counter of the source.
        keypoints: (J, 3) float32 x px, y px, confidence (0 = missing, x, y NaN); holistic75.
        depth: (J,) float32 relative depth hint in pixels (smaller = nearer), NaN unknown; or None.
        person_found: whether any person was detected.
        image_size: (width, height) in pixels.
        t_capture_ns: wall-clock capture time (``time.time_ns()``).
        t_capture_mono_ns: monotonic capture time (``time.monotonic_ns()``).
        detect_ms: time the detector took (0 for the demo source).
        image: the BGR image, when a preview wants it; else None.
        decode_ms: time the capture took to read and decode the image.
    """

    seq: int
    keypoints: np.ndarray
    depth: np.ndarray | None
    person_found: bool
    image_size: tuple[int, int]
    t_capture_ns: int
    t_capture_mono_ns: int
    detect_ms: float = 0.0
    image: np.ndarray | None = None
    decode_ms: float = 0.0


class DetectionSource(Protocol):
    """Where detections come from: a camera or video plus the detector, or the demo."""

    fps: float | None

    def read(self, timeout: float) -> Detection | None:
        """The next detection, or None if none came within ``timeout`` seconds."""
        ...

    @property
    def ended(self) -> bool:
        """True once a finite source (a video without --loop) has no more frames."""
        ...

    @property
    def dropped(self) -> int:
        """Frames the source captured but overwrote before the pipeline took them."""
        ...

    def close(self) -> None:
        """Release the camera / file / threads."""
        ...


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of the live pipeline.

    Attributes:
        cleaner: uplift and refiner settings.
        source_timeout_s: no frame for this long = the source is reported lost.
        max_frames: stop after this many frames (None = run until stopped or the source ends).
    """

    cleaner: CleanerConfig = field(default_factory=CleanerConfig)
    source_timeout_s: float = 2.0
    max_frames: int | None = None


@dataclass
class PipelineStats:
    """Running counters, read by the status line and the benchmarks."""

    frames: int = 0
    dropped: int = 0
    person_frames: int = 0
    recent_ms: deque = field(default_factory=lambda: deque(maxlen=120))  # capture -> cleaned, ms
    recent_t: deque = field(default_factory=lambda: deque(maxlen=120))  # monotonic s of each output

    def fps(self) -> float:
        """Output frames per second over the recent window."""
        if len(self.recent_t) < 2 or self.recent_t[-1] == self.recent_t[0]:
            return 0.0
        return (len(self.recent_t) - 1) / (self.recent_t[-1] - self.recent_t[0])

    def latency_p50_ms(self) -> float:
        """Median capture-to-cleaned latency over the recent window."""
        return float(np.median(self.recent_ms)) if self.recent_ms else float("nan")


StatusCallback = Callable[[StatusEvent, str], None]


class LivePipeline:
    """Runs detections through the streaming cleaner and fans the results out to sinks."""

    def __init__(
        self,
        source: DetectionSource,
        config: PipelineConfig = PipelineConfig(),
        sinks: SinkSet | Iterable[Sink | Callable[[PoseFrame], None]] = (),
        status: StatusCallback | None = None,
        cleaner: StreamingCleaner | None = None,
    ) -> None:
        """Args:
            source: the detection source (owned: closed by :meth:`stop`).
            config: settings.
            sinks: :class:`~realtime.sinks.base.Sink` s (owned: opened by :meth:`start`,
                closed by :meth:`stop`) or plain ``frame -> None`` callables, given every
                cleaned :class:`PoseFrame` and every status event, in order.
            status: also called with status events (source lost/found/ended, person lost/found).
            cleaner: a ready cleaner (default: built from ``config.cleaner``).
        """
        self.source = source
        self.config = config
        self.sinks = sinks if isinstance(sinks, SinkSet) else SinkSet(sinks)
        self._status_callback = status
        self.cleaner = cleaner or StreamingCleaner(config.cleaner)
        self.rig = LiveRig(lambda: self.sinks.wants_rig)  # joint rotations, only while an output wants them
        self.stats = PipelineStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: dict[int, Detection] = {}  # detections waiting for the lookahead
        self.error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> LivePipeline:
        """Open the sinks, then run the worker in a background thread.

        Raises:
            realtime.sinks.base.SinkError: a sink could not be opened (the others are closed
                again; the source stays open until :meth:`stop`).
        """
        self.sinks.open(SinkContext(fps=self.source.fps, skeleton=HOLISTIC75))  # the cleaner's layout
        self._thread = threading.Thread(target=self._run_safely, name="skeletor-pipeline", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker, close the source, then the sinks (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.source.close()
        self.sinks.close()

    def status(self, event: StatusEvent, text: str) -> None:
        """Send a status event to the sinks (and the ``status`` callback)."""
        self.sinks.status(event, text)
        if self._status_callback is not None:
            self._status_callback(event, text)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (source ended, max_frames, or stop); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """The worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- the worker --------------------------------------------------------------------
    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as e:  # reported by the CLI; the thread must not die silently
            self.error = e
            log.exception("pipeline stopped by an error")

    def run(self) -> None:
        """The worker loop (runs in the calling thread until the source ends or stop())."""
        person = None
        source_ok = True
        last_frame = time.monotonic()
        index = 0
        while not self._stop.is_set():
            det = self.source.read(timeout=0.1)
            if det is None:
                if self.source.ended:
                    self._flush()
                    self.status(StatusEvent.SOURCE_ENDED, "the source has no more frames")
                    break
                if source_ok and time.monotonic() - last_frame > self.config.source_timeout_s:
                    source_ok = False
                    self.status(StatusEvent.SOURCE_LOST, "no frames from the source")
                continue
            last_frame = time.monotonic()
            if not source_ok:
                source_ok = True
                self.status(StatusEvent.SOURCE_FOUND, "frames are coming again")
            if det.person_found != person:
                person = det.person_found
                if person:
                    self.status(StatusEvent.PERSON_FOUND, "a person is in view")
                else:
                    self.status(StatusEvent.NO_PERSON, "no person in view")
            self.stats.person_frames += int(det.person_found)
            self.stats.dropped = self.source.dropped
            self._pending[index] = det
            index += 1
            outs = self.cleaner.push(det.keypoints, det.t_capture_mono_ns / 1e9, det.depth, det.image_size)  # seconds, for --smooth
            self._emit(outs)
            if self.config.max_frames is not None and self.stats.frames >= self.config.max_frames:
                break

    def _flush(self) -> None:
        self._emit(self.cleaner.flush())

    def _emit(self, outs: list) -> None:
        timings = self.cleaner.last_timings_ms
        for f in outs:
            det = self._pending.pop(f.index, None)
            if det is None:
                continue
            now_mono = time.monotonic_ns()
            latency = {
                "decode": det.decode_ms,
                "detect": det.detect_ms,
                "uplift": timings.get("uplift", 0.0),
                "refine": timings.get("refine", 0.0),
                "pipeline": (now_mono - det.t_capture_mono_ns) / 1e6,
            }
            frame = PoseFrame(
                seq=det.seq,
                t_capture_ns=det.t_capture_ns,
                joints=np.nan_to_num(f.pose, nan=np.nan),
                confidence=f.confidence,
                raw_joints=f.raw_pose,
                latency_ms=latency,
            )
            frame = self.rig.attach(frame)
            self.stats.frames += 1
            self.stats.recent_ms.append(latency["pipeline"])
            self.stats.recent_t.append(now_mono / 1e9)
            self.sinks.see_input(det)
            self.sinks.write(frame)
