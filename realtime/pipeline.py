"""The live pipeline: source -> detector -> streaming uplift -> refiner -> sinks.

One module, longer than most: the two threads, their hand-over, the lookahead bookkeeping
and per-frame fault handling act on the same state; the single- and several-person paths
share all of it.

Threads: the source captures in its own thread (newest frame wins, so a slow detector
makes the source drop stale frames instead of queueing them). This pipeline runs two
workers: the *detect* thread takes each frame from the source (which runs the detector on
it) and hands the detection to the *clean* thread, which runs the streaming uplift and
the refiner and hands every cleaned frame to the sinks (:mod:`realtime.sinks`: the
websocket server, a recorder, a preview window). So detection of frame N+1 overlaps
cleaning of frame N, and the live rate is the detector's rate, not 1 / (detect + clean).

The hand-over between the two is one slot. From a live source (a camera, a video paced at
its fps: ``source.realtime``) the newest detection wins: one the cleaner had no time for is
replaced and counted (``PipelineStats.handoff_dropped``), so latency never builds up. From
an offline source (a video read as fast as possible) the detect thread waits for the slot
instead: every frame is cleaned, in order. Status events (source lost / found / ended,
person lost / found) travel through the same hand-over, in order, and are never dropped;
sinks are only ever called from the clean thread.

Faults: a detector or cleaner exception on one frame skips that frame (the cleaner then
starts afresh, since its state may be half-updated: frames in its lookahead are skipped
too), counts it (``detect_errors``, ``clean_errors``, ``frames_skipped``), is logged once
with its traceback (later ones are counted, and summed up at stop), and the stream goes
on; an exception with ``fatal = True`` from the source (a detector process that died
before its video ended) stops the pipeline with it as ``error`` instead. Sinks must be
quick; the server's only fills per-client slots. A sink that raises is logged once and
counted, and never stops the pipeline or the other sinks.

Every frame carries its stage timestamps: capture (wall clock, sent to clients as
``t_capture_ns``), and the durations of decoding, detection, uplift and refinement and the
whole capture -> cleaned time (``pipeline``, hand-over wait included) in ``latency_ms``;
the server adds encode and send.

Several people: when the source's detector finds more than one person (``max_people`` > 1,
``skeletor-live --people N``), the clean thread runs a
:class:`~skeletor.cleaner.people.MultiPersonCleaner` (tracked ids, one streaming cleaner per
person, one batched refiner call) instead of the single :class:`StreamingCleaner`, and each
capture gives one :class:`PoseFrame` per person followed, all with that capture's ``seq``
and ``t_capture_ns`` and their ``person_id``. The oldest person followed (the lowest id in
the capture's frames) is marked ``primary``: the one person of clients that do not ask for
more. The humanoid rig is solved for one person: the one a sink asks for
(``SinkSet.rig_person``, ``--vmc-person``), else the primary person; when that person
changes, the rig solver starts afresh (a new rest rig, a new ``rig_version``). People appearing and leaving go to
the sinks as ``person_appeared`` / ``person_left`` (``SinkSet.person_event``). A person
who leaves is flushed up to the capture the others are at; their frames past it (captures
in which they were no longer seen, only held) are not sent, so ``seq`` never goes back.
The single-person path is unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from realtime.rig import LiveRig
from realtime.sinks.base import Sink, SinkContext, SinkSet
from skeletor.cleaner.people import MultiPersonCleaner, PeopleConfig, PeopleUpdate, PersonFrame
from skeletor.cleaner.stream import CleanerConfig, CleanFrame, StreamingCleaner
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.protocol import PoseFrame, StatusEvent

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
        people: every person found, from a multi-person detector (in no order: the tracker
            gives ids); ``keypoints``, ``depth`` and ``person_found`` are the first's (the
            largest). Empty from a single-person detector.
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
    people: list = field(default_factory=list)  # list[realtime.detectors.DetectedPose]


class DetectionSource(Protocol):
    """Where detections come from: a camera or video plus the detector, or the demo.

    A source may also have ``realtime`` (bool): True when its frames come at the world's
    pace (a camera, a paced video), so a stale detection may be dropped; without it the
    pipeline cleans every detection (see :attr:`PipelineConfig.drop_stale`). And
    ``max_people`` (int, default 1): more than 1 when its detections carry ``people``
    (the pipeline then follows every person).
    """

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
        drop_stale: at the detect -> clean hand-over, replace a detection the cleaner has not
            taken yet by a newer one (True: live, lowest latency) or wait for the cleaner
            (False: every frame cleaned, in order); None = True exactly when the source says
            it is ``realtime``.
    """

    cleaner: CleanerConfig = field(default_factory=CleanerConfig)
    source_timeout_s: float = 2.0
    max_frames: int | None = None
    drop_stale: bool | None = None


@dataclass
class PipelineStats:
    """Running counters, read by the status line and the benchmarks.

    Attributes:
        frames: cleaned frames handed to the sinks.
        dropped: frames the source overwrote before the detector took them.
        person_frames: detections with a person.
        detections: frames the detector finished (with or without a person).
        handoff_dropped: detections replaced at the hand-over before the cleaner took them
            (live sources only: the cleaner fell behind the detector).
        handoff_wait_s: time the detect thread waited for the clean thread (offline sources
            only: the cleaner was slower than the detector); ~0 means the cleaner kept up.
        detect_errors: frames skipped because the detector (or the source) raised.
        clean_errors: exceptions from the cleaner (each restarts it).
        frames_skipped: frames lost to those errors (a cleaner error also loses the frames
            in its lookahead).
        recent_ms: capture -> cleaned latency of the recent outputs, ms.
        recent_t: monotonic seconds of the recent outputs.
        recent_detect_t: monotonic seconds of the recent detections.
    """

    frames: int = 0
    dropped: int = 0
    person_frames: int = 0
    detections: int = 0
    handoff_dropped: int = 0
    handoff_wait_s: float = 0.0
    detect_errors: int = 0
    clean_errors: int = 0
    frames_skipped: int = 0
    recent_ms: deque = field(default_factory=lambda: deque(maxlen=120))
    recent_t: deque = field(default_factory=lambda: deque(maxlen=120))
    recent_detect_t: deque = field(default_factory=lambda: deque(maxlen=120))

    def fps(self) -> float:
        """Output frames per second over the recent window."""
        return _rate(self.recent_t)

    def detect_fps(self) -> float:
        """Detections per second over the recent window (the detector's own rate)."""
        return _rate(self.recent_detect_t)

    def latency_p50_ms(self) -> float:
        """Median capture-to-cleaned latency over the recent window."""
        return float(np.median(self.recent_ms)) if self.recent_ms else float("nan")


def _rate(times: deque) -> float:
    """Events per second from their monotonic times (0 with fewer than two)."""
    if len(times) < 2 or times[-1] == times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


StatusCallback = Callable[[StatusEvent, str], None]

_END = object()  # the hand-over's end-of-stream marker


class _Handoff:
    """Detect thread -> clean thread: status events in order, at most one detection waiting.

    ``drop_stale``: a new detection replaces one still waiting (counted in ``dropped``);
    otherwise :meth:`put_detection` waits until the clean thread took the waiting one.
    """

    def __init__(self, drop_stale: bool) -> None:
        self.drop_stale = drop_stale
        self.dropped = 0
        self.waited_s = 0.0  # time put_detection spent waiting for the clean thread
        self._cond = threading.Condition()
        self._items: deque[object] = deque()  # Detection, (StatusEvent, text) or _END
        self._detection: Detection | None = None  # the one detection in _items, if any
        self._closed = False

    def put_detection(self, det: Detection) -> bool:
        """Hand over ``det``; False if the hand-over was closed (the pipeline stops)."""
        with self._cond:
            if self._detection is not None:
                if self.drop_stale:
                    stale = self._detection
                    self._items = deque(x for x in self._items if x is not stale)
                    self.dropped += 1
                else:
                    t0 = time.monotonic()
                    while self._detection is not None and not self._closed:
                        self._cond.wait()
                    self.waited_s += time.monotonic() - t0
            if self._closed:
                return False
            self._detection = det
            self._items.append(det)
            self._cond.notify_all()
            return True

    def put(self, item: object) -> None:
        """Hand over a status event or the end marker (never dropped, never waits)."""
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def get(self, timeout: float) -> object | None:
        """The next item, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items or self._closed:
                return None
            item = self._items.popleft()
            if item is self._detection:
                self._detection = None
                self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake both threads; nothing more is handed over."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _latency(det: Detection, timings: Mapping[str, float], stages: tuple[str, ...], now_mono: int) -> dict[str, float]:
    """A frame's ``latency_ms``: the capture's decode and detect times, the cleaner's
    ``stages`` (from its last push), and capture -> now through the whole pipeline."""
    return {
        "decode": det.decode_ms,
        "detect": det.detect_ms,
        **{k: timings.get(k, 0.0) for k in stages},
        "pipeline": (now_mono - det.t_capture_mono_ns) / 1e6,
    }


def _pose_frame(det: Detection, f: CleanFrame, latency: dict[str, float], **person: Any) -> PoseFrame:
    """The frame sinks get for one cleaned pose of capture ``det`` (``person``: its id and whether primary)."""
    return PoseFrame(
        seq=det.seq,
        t_capture_ns=det.t_capture_ns,
        joints=np.nan_to_num(f.pose, nan=np.nan),  # infinities to finite; missing joints stay NaN
        confidence=f.confidence,
        raw_joints=f.raw_pose,
        latency_ms=latency,
        **person,
    )


def refiner_info(cleaner: StreamingCleaner | MultiPersonCleaner) -> dict[str, Any]:
    """How the cleaner's refiner runs, as ``hello`` tells clients: the execution provider it
    runs on (what ``--provider auto`` picked) and its threads; ``provider`` None when off."""
    providers = getattr(cleaner.refiner, "providers", None)
    if not providers:
        return {"provider": None}
    config = cleaner.config.cleaner if isinstance(cleaner, MultiPersonCleaner) else cleaner.config
    return {"provider": providers[0], "threads": config.runtime.threads}


class LivePipeline:
    """Runs detections through the streaming cleaner and fans the results out to sinks.

    Two worker threads (see the module docstring): ``skeletor-detect`` reads the source
    (which runs the detector) and ``skeletor-clean`` runs the cleaner and the sinks.
    """

    def __init__(
        self,
        source: DetectionSource,
        config: PipelineConfig = PipelineConfig(),
        sinks: SinkSet | Iterable[Sink | Callable[[PoseFrame], None]] = (),
        status: StatusCallback | None = None,
        cleaner: StreamingCleaner | MultiPersonCleaner | None = None,
    ) -> None:
        """Prepare the pipeline; nothing runs until :meth:`start`.

        Args:
            source: the detection source (owned: closed by :meth:`stop`).
            config: settings.
            sinks: :class:`~realtime.sinks.base.Sink` s (owned: opened by :meth:`start`,
                closed by :meth:`stop`) or plain ``frame -> None`` callables, given every
                cleaned :class:`PoseFrame` and every status event, in order, from the clean
                thread.
            status: also called with status events (source lost/found/ended, person lost/found).
            cleaner: a ready cleaner (default: built from ``config.cleaner``): a
                :class:`MultiPersonCleaner` when the source's ``max_people`` > 1, else a
                :class:`StreamingCleaner`.
        """
        self.source = source
        self.config = config
        self.sinks = sinks if isinstance(sinks, SinkSet) else SinkSet(sinks)
        self._status_callback = status
        self.max_people = int(getattr(source, "max_people", 1) or 1)
        if cleaner is None:
            cleaner = MultiPersonCleaner(PeopleConfig(cleaner=config.cleaner)) if self.max_people > 1 else StreamingCleaner(config.cleaner)
        self.cleaner = cleaner
        self.people: MultiPersonCleaner | None = cleaner if isinstance(cleaner, MultiPersonCleaner) else None
        self.rig = LiveRig(lambda: self.sinks.wants_rig)  # joint rotations, only while an output wants them
        self.stats = PipelineStats()
        drop = config.drop_stale
        self.drop_stale = bool(getattr(source, "realtime", False)) if drop is None else drop
        self._handoff = _Handoff(self.drop_stale)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pending: dict[int, Detection] = {}  # detections in the cleaner's lookahead, by push index
        self._rig_person: int | None = None  # the person the rig was last solved for (several people)
        self._index = 0  # pushes into the cleaner since it last started afresh
        self.error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> LivePipeline:
        """Open the sinks, then run the detect and clean threads.

        Raises:
            realtime.sinks.base.SinkError: a sink could not be opened (the others are closed
                again; the source stays open until :meth:`stop`).
        """
        self.sinks.open(
            SinkContext(fps=self.source.fps, skeleton=HOLISTIC75, max_people=self.max_people, refiner=refiner_info(self.cleaner))
        )  # the cleaner's layout
        self._threads = [
            threading.Thread(target=self._guarded, args=(self._detect_loop,), name="skeletor-detect", daemon=True),
            threading.Thread(target=self._guarded, args=(self._clean_loop,), name="skeletor-clean", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads, close the source, then the sinks (idempotent)."""
        self._stop.set()
        self._handoff.close()
        end = time.monotonic() + timeout
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, end - time.monotonic()))
        self.source.close()
        self.sinks.close()
        st = self.stats
        if st.detect_errors or st.clean_errors:
            log.warning(
                "%d frame(s) skipped: %d detector error(s), %d cleaner error(s)", st.frames_skipped, st.detect_errors, st.clean_errors
            )

    def status(self, event: StatusEvent, text: str) -> None:
        """Send a status event to the sinks (and the ``status`` callback)."""
        self.sinks.status(event, text)
        if self._status_callback is not None:
            self._status_callback(event, text)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the workers end (source ended, max_frames, or stop); True if they did."""
        end = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
        return not self.running

    @property
    def running(self) -> bool:
        """A worker thread is alive."""
        return any(t.is_alive() for t in self._threads)

    # -- the workers -------------------------------------------------------------------
    def _guarded(self, loop: Callable[[], None]) -> None:
        """Run one worker; an error that escapes it stops the pipeline (reported by the CLI)."""
        try:
            loop()
        except BaseException as e:  # the thread must not die silently
            if self.error is None:
                self.error = e
            log.exception("pipeline stopped by an error")
            self._stop.set()
            self._handoff.close()

    def _detect_loop(self) -> None:
        """Read the source (the detector runs in ``read``) and hand the detections over."""
        person = None
        source_ok = True
        last_frame = time.monotonic()
        put = self._handoff.put
        while not self._stop.is_set():
            try:
                det = self.source.read(timeout=0.1)
            except Exception as e:  # this frame's fault: skip it, go on (unless the source cannot go on)
                if getattr(e, "fatal", False):
                    raise
                self._count_error("detect", e)
                continue
            if det is None:
                if self.source.ended:
                    put(_END)
                    return
                if source_ok and time.monotonic() - last_frame > self.config.source_timeout_s:
                    source_ok = False
                    put((StatusEvent.SOURCE_LOST, "no frames from the source"))
                continue
            last_frame = time.monotonic()
            self.stats.detections += 1
            self.stats.recent_detect_t.append(last_frame)
            if not source_ok:
                source_ok = True
                put((StatusEvent.SOURCE_FOUND, "frames are coming again"))
            if det.person_found != person:
                person = det.person_found
                put((StatusEvent.PERSON_FOUND, "a person is in view") if person else (StatusEvent.NO_PERSON, "no person in view"))
            self.stats.person_frames += int(det.person_found)
            self.stats.dropped = self.source.dropped
            if not self._handoff.put_detection(det):
                return
            self.stats.handoff_dropped = self._handoff.dropped
            self.stats.handoff_wait_s = self._handoff.waited_s

    def _clean_loop(self) -> None:
        """Take detections and events in order; clean, and hand frames and events to the sinks."""
        max_frames = self.config.max_frames
        while not self._stop.is_set():
            item = self._handoff.get(timeout=0.1)
            if item is None:
                continue
            if item is _END:
                self._flush()
                self.status(StatusEvent.SOURCE_ENDED, "the source has no more frames")
                return
            if isinstance(item, Detection):
                self._clean(item)
                if max_frames is not None and self.stats.frames >= max_frames:
                    self._stop.set()
                    self._handoff.close()
                    return
            else:
                self.status(*item)  # type: ignore[misc]

    def _clean(self, det: Detection) -> None:
        """Push one detection through the cleaner and emit what became ready."""
        if self.people is not None:
            self._clean_people(self.people, det)
            return
        self._pending[self._index] = det
        self._index += 1
        try:
            outs = self.cleaner.push(det.keypoints, det.t_capture_mono_ns / 1e9, det.depth, det.image_size)  # seconds, for --smooth
        except Exception as e:
            self._restart_cleaner(e)
            return
        self._emit(outs)

    def _flush(self) -> None:
        if self.people is not None:
            try:
                frames = self.people.flush()
            except Exception as e:
                self._restart_cleaner(e)
                return
            self._emit_people(frames, self.people.last_timings_ms)
            self._pending.clear()
            return
        try:
            outs = self.cleaner.flush()
        except Exception as e:
            self._restart_cleaner(e)
            return
        self._emit(outs)

    def _restart_cleaner(self, exc: Exception) -> None:
        """The cleaner raised: its state may be half-updated, so it starts afresh; the frame
        that failed and those in its lookahead are skipped."""
        self._count_error("clean", exc, skipped=len(self._pending))
        self._pending.clear()
        self._index = 0
        if self.people is not None:
            for pid in self.people.people:  # everyone is forgotten; their ids never come back
                self._person_event(StatusEvent.PERSON_LEFT, pid)
        self.cleaner.reset()

    def _count_error(self, stage: str, exc: Exception, skipped: int = 1) -> None:
        """Count a stage's failure; the first of each stage is logged with its traceback."""
        st = self.stats
        first = (st.detect_errors if stage == "detect" else st.clean_errors) == 0
        if stage == "detect":
            st.detect_errors += 1
        else:
            st.clean_errors += 1
        st.frames_skipped += skipped
        if first:
            log.error("%s failed on a frame (%s: %s); skipping it and going on (later failures are counted)",
                      "the detector" if stage == "detect" else "the cleaner", type(exc).__name__, exc, exc_info=exc)  # fmt: skip
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s failed again: %r", stage, exc)

    def _count_output(self, latency: dict[str, float], now_mono: int) -> None:
        """One capture's output in the running stats (the status line and benchmarks read them)."""
        self.stats.frames += 1
        self.stats.recent_ms.append(latency["pipeline"])
        self.stats.recent_t.append(now_mono / 1e9)

    def _emit(self, outs: list[CleanFrame]) -> None:
        timings = self.cleaner.last_timings_ms
        for f in outs:
            det = self._pending.pop(f.index, None)
            if det is None:
                continue
            now_mono = time.monotonic_ns()
            latency = _latency(det, timings, ("uplift", "refine"), now_mono)
            frame = self.rig.attach(_pose_frame(det, f, latency))
            self._count_output(latency, now_mono)
            self.sinks.see_input(det)
            self.sinks.write(frame)

    # -- several people ----------------------------------------------------------------
    def _clean_people(self, people: MultiPersonCleaner, det: Detection) -> None:
        """Push one capture's people through the multi-person cleaner; emit, per capture, one frame per person."""
        index = self._index
        self._pending[index] = det
        self._index += 1
        try:
            update: PeopleUpdate = people.push([(p.keypoints, p.depth) for p in det.people], det.t_capture_mono_ns / 1e9, det.image_size)
        except Exception as e:
            self._restart_cleaner(e)
            return
        for pid in update.appeared:
            self._person_event(StatusEvent.PERSON_APPEARED, pid)
        cutoff = index - people.lookahead  # the capture the people followed are output at now
        self._emit_people([f for f in update.frames if f.frame_index <= cutoff], people.last_timings_ms)
        for pid in update.left:
            self._person_event(StatusEvent.PERSON_LEFT, pid)
        for k in [k for k in self._pending if k <= cutoff]:
            del self._pending[k]

    def _person_event(self, event: StatusEvent, person_id: int) -> None:
        """A person appeared or left: to the sinks (with the id) and the status callback."""
        text = f"person {person_id} {'appeared' if event is StatusEvent.PERSON_APPEARED else 'left'}"
        self.sinks.person_event(event, text, person_id)
        if self._status_callback is not None:
            self._status_callback(event, text)

    def _emit_people(self, frames: list[PersonFrame], timings: dict[str, float]) -> None:
        """Hand ``frames`` to the sinks capture by capture (in order), people in id order, the lowest id primary."""
        by_capture: dict[int, list[PersonFrame]] = {}
        for f in frames:
            by_capture.setdefault(f.frame_index, []).append(f)
        for index in sorted(by_capture):
            det = self._pending.get(index)
            if det is None:
                continue
            group = sorted(by_capture[index], key=lambda f: f.person_id)
            now_mono = time.monotonic_ns()
            latency = _latency(det, timings, ("track", "uplift", "refine"), now_mono)
            self.sinks.see_input(det)
            wanted = self.sinks.rig_person
            rigged = group[0].person_id if wanted is None else wanted
            if rigged != self._rig_person and any(pf.person_id == rigged for pf in group):
                if self._rig_person is not None:
                    self.rig.solver.reset()  # another body: calibrate afresh
                self._rig_person = rigged
            for i, pf in enumerate(group):
                frame = _pose_frame(det, pf.frame, latency, person_id=pf.person_id, primary=i == 0)
                if pf.person_id == rigged:
                    frame = self.rig.attach(frame)  # one person's rig: --vmc-person's, else the primary's
                self.sinks.write(frame)
            self._count_output(latency, now_mono)
