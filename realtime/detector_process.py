"""The capture and the detector in a child process (``skeletor-live --detector-process``).

A detector is native code (MediaPipe's graph, TFLite): when it crashes in one process, it
takes the server, its clients' connections and the recording down with it. A
:class:`DetectorProcessSource` runs a :class:`~realtime.sources.CaptureSource` (the camera
or video and its detector) in a spawned child process and hands its detections to the
pipeline over a pipe: the child captures and detects at its own pace; the parent only
unpickles each ``Detection`` (a few kilobytes; the camera image too only when ``images`` is
True, for ``--preview``). It does not make the live rate faster: in one process the live
rate is already the detector's when a core is free (``skeletor bench latency --pin``;
BENCHMARKS.md), so it is an option, not the default.

It is a :class:`~realtime.pipeline.DetectionSource` like the one it wraps: ``read``,
``ended``, ``dropped`` (the child's count, sent with every detection, plus the
detections dropped here), ``fps``, ``realtime`` and ``max_people``. From a live source (a
camera, a paced video) ``read`` returns the newest detection the child has sent: after the
parent was held up, the older ones waiting in the pipe are dropped and counted, never
delivered late in a burst, as in-process. Faults:

- a source that cannot be opened in the child raises :class:`~realtime.sources.SourceError`
  (or the ``ValueError`` / ``ImportError`` of a bad detector) from the constructor, as
  in-process;
- a detector error on one frame is raised from ``read`` as :class:`DetectorFrameError`
  carrying the child's traceback, so the pipeline skips that frame and goes on;
- a child that dies (a crash inside the detector's native code, killed by the system):
  for a camera, a new child is started (at most ``max_restarts`` times in a row, each
  after ``restart_delay_s``; ``seq`` goes on from the last frame's), the frames meanwhile
  are the camera's outage (the pipeline reports ``source_lost`` / ``source_found``); for
  a video, ``read`` raises :class:`DetectorProcessDied`, which the pipeline treats as
  fatal (``fatal = True``): a video whose frames cannot all be detected stops with an
  error instead of ending early as if complete.

The child ignores SIGINT (Ctrl-C reaches the whole process group; the parent decides when
to stop) and exits when told to, or when the parent is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime.pipeline import Detection

__all__ = ["DetectorFrameError", "DetectorProcessDied", "DetectorProcessSource"]

log = logging.getLogger(__name__)

_READY, _FAILED, _DETECTION, _ERROR, _ENDED = "ready", "failed", "detection", "error", "ended"


class DetectorFrameError(RuntimeError):
    """The detector raised on one frame in the child process (the message has its traceback)."""


class DetectorProcessDied(RuntimeError):
    """The detector's process exited while a video still had frames; the stream cannot go on complete."""

    fatal = True  # the pipeline stops instead of skipping a frame


@dataclass(frozen=True)
class _SourceInfo:
    """What the parent needs to know of the child's source, sent once it opened."""

    fps: float | None
    realtime: bool
    max_people: int
    is_camera: bool
    detector_name: str


def _child_main(build: Callable[[], Any], conn: multiprocessing.connection.Connection, stop: Any, images: bool) -> None:
    """The child: open the source, send its detections until told to stop or it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    try:
        source = build()
    except BaseException as e:  # the parent re-raises it as the constructor's error
        conn.send((_FAILED, type(e).__name__, str(e)))
        conn.close()
        return
    try:
        conn.send((_READY, _SourceInfo(source.fps, bool(source.realtime), int(source.max_people), bool(source.is_camera), source.detector.name)))
        while not stop.is_set() and (parent is None or parent.is_alive()):
            try:
                det = source.read(timeout=0.2)
            except Exception as e:
                conn.send((_ERROR, f"{type(e).__name__}: {e}", traceback.format_exc()))
                continue
            if det is None:
                if source.ended:
                    conn.send((_ENDED, source.dropped))
                    break
                continue
            if not images:
                det.image = None
            conn.send((_DETECTION, det, source.dropped))
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the parent is gone or closed its end: nothing to send to
    finally:
        source.close()
        conn.close()


class DetectorProcessSource:
    """A capture source (camera or video + detector) run in a child process; see the module docstring.

    Args:
        build: makes the source in the child (a :class:`~realtime.sources.CaptureSource`);
            must be picklable (a module-level function, or a ``functools.partial`` of one),
            since the child is spawned, not forked (forking a process with threads running
            is unsafe).
        images: send each detection's camera image too (for ``--preview``); else the
            parent's detections have ``image`` None.
        start_timeout_s: how long the child may take to open the source (importing the
            detector's library, loading its models).
        max_restarts: new children for a camera whose child died, in a row (a child that
            delivered frames again resets the count).
        restart_delay_s: wait before each restart.

    Raises:
        SourceError, ValueError, ImportError, OSError: the child could not open the source
            (the child's exception type where it is one of these, else RuntimeError).
        TimeoutError: the child did not open the source within ``start_timeout_s``.
    """

    def __init__(
        self,
        build: Callable[[], Any],
        images: bool = False,
        start_timeout_s: float = 120.0,
        max_restarts: int = 3,
        restart_delay_s: float = 1.0,
    ) -> None:
        self._build = build
        self._images = images
        self._start_timeout_s = start_timeout_s
        self.max_restarts = max_restarts
        self.restart_delay_s = restart_delay_s
        self.restarts = 0  # children started after one died
        self._restarts_in_a_row = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # read and close may come from different threads
        self._ended = False
        self._closed = False
        self._dropped_before = 0  # frames the earlier children dropped
        self._child_dropped = 0  # frames this child dropped, as it last said
        self._stale = 0  # a live source's detections that waited in the pipe behind newer ones, dropped here
        self._held: tuple | None = None  # a message read past the newest detection, for the next read
        self._seq_offset = 0  # a restarted child counts its frames from 0 again: seq never goes back
        self._next_seq = 0
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._stop: Any = None
        info = self._start()
        self.fps = info.fps
        self.realtime = info.realtime
        self.max_people = info.max_people
        self.is_camera = info.is_camera
        self.detector_name = info.detector_name

    @property
    def pid(self) -> int | None:
        """The child's process id (None once closed)."""
        return self._process.pid if self._process is not None else None

    def _start(self) -> _SourceInfo:
        """Spawn a child and wait until its source is open; its description."""
        parent_conn, child_conn = self._ctx.Pipe(duplex=False)
        self._stop = self._ctx.Event()
        self._process = self._ctx.Process(
            target=_child_main, args=(self._build, child_conn, self._stop, self._images), name="skeletor-detector", daemon=True
        )
        self._process.start()
        child_conn.close()  # the parent's copy: EOF on parent_conn once the child is gone
        self._conn = parent_conn
        if not parent_conn.poll(self._start_timeout_s):
            self._kill()
            raise TimeoutError(f"the detector process did not open its source within {self._start_timeout_s:g} s")
        try:
            msg = parent_conn.recv()
        except EOFError:
            code = self._kill()
            raise RuntimeError(
                f"the detector process exited while opening its source (exit code {code}; its stderr says why). A script "
                "that opens a source when it is imported needs `if __name__ == \"__main__\":` around that code, since the "
                "process is spawned and imports the main module again"
            ) from None
        if msg[0] == _FAILED:
            self._kill()
            raise _reraised(msg[1], msg[2])
        return msg[1]

    def read(self, timeout: float) -> Detection | None:
        """The child's next detection, or None if none came within ``timeout`` seconds.

        Raises:
            DetectorFrameError: the detector raised on this frame (the next read goes on).
            DetectorProcessDied: the child died while reading a video (fatal).
        """
        with self._lock:
            if self._ended or self._closed or self._conn is None:
                return None
            if self._held is not None:  # a message found behind a detection by the last read
                msg, self._held = self._held, None
            else:
                msg = self._receive(timeout)
                if msg is None:
                    return None
            if msg[0] == _DETECTION and self.realtime:
                msg = self._newest(msg)
            kind = msg[0]
            if kind == _DETECTION:
                det: Detection = msg[1]
                det.seq += self._seq_offset
                self._next_seq = det.seq + 1
                self._child_dropped = msg[2]
                self._restarts_in_a_row = 0
                return det
            if kind == _ERROR:
                raise DetectorFrameError(f"{msg[1]} (in the detector process)\n{msg[2]}")
            if kind == _ENDED:
                self._child_dropped = msg[1]
                self._ended = True
            return None

    def _receive(self, timeout: float) -> tuple | None:
        """The child's next message, or None after ``timeout`` s (or when the child died and was restarted)."""
        assert self._conn is not None
        try:
            if not self._conn.poll(timeout):
                return None
            return self._conn.recv()
        except (EOFError, OSError):
            self._child_died()
            return None

    def _newest(self, msg: tuple) -> tuple:
        """A live source's newest detection already sent: after the parent was held up (a stall,
        a slow start) the older ones queued in the pipe are stale, and are dropped and counted
        instead of delivered in a burst. Another message behind them is kept for the next read."""
        conn = self._conn
        try:
            while conn is not None and conn.poll(0):
                nxt = conn.recv()
                if nxt[0] != _DETECTION:
                    self._held = nxt
                    break
                msg = nxt
                self._stale += 1
        except (EOFError, OSError):
            pass  # the next read finds the pipe closed and handles the dead child
        return msg

    def _child_died(self) -> None:
        """The pipe closed without an end message: restart for a camera, fail for a video."""
        code = self._kill()
        if not self.is_camera:
            self._ended = True
            raise DetectorProcessDied(f"the detector process exited (exit code {code}) before the video ended")
        if self._restarts_in_a_row >= self.max_restarts:
            self._ended = True
            raise DetectorProcessDied(f"the detector process exited (exit code {code}) {self._restarts_in_a_row + 1} times in a row; giving up")
        log.warning("the detector process exited (exit code %s); starting a new one in %g s", code, self.restart_delay_s)
        time.sleep(self.restart_delay_s)
        self._restarts_in_a_row += 1
        self.restarts += 1
        self._dropped_before += self._child_dropped
        self._child_dropped = 0
        self._held = None
        self._seq_offset = self._next_seq
        self._start()

    def _kill(self) -> int | None:
        """End the child (asked first, then terminated) and close the pipe; its exit code."""
        process, conn = self._process, self._conn
        if self._stop is not None:
            self._stop.set()
        if process is not None:
            # Drain what the child still sends, so one blocked on a full pipe can see the stop.
            end = time.monotonic() + 3.0
            while process.is_alive() and time.monotonic() < end:
                try:
                    if conn is not None and conn.poll(0.05):
                        conn.recv()
                except (EOFError, OSError):
                    process.join(max(0.0, end - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(2.0)
        if conn is not None:
            conn.close()
        self._conn = None
        return process.exitcode if process is not None else None

    @property
    def ended(self) -> bool:
        """The video had no more frames (or the child could not go on), and everything sent was read."""
        return self._ended

    @property
    def dropped(self) -> int:
        """Frames the source skipped (overwritten or, paced, after a stall), as the child counts them."""
        return self._dropped_before + self._child_dropped + self._stale

    def close(self) -> None:
        """Stop the child and wait for it to close its camera / file and detector (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._kill()
            self._process = None


def _reraised(name: str, message: str) -> Exception:
    """The parent's exception for a child that could not open its source: same type where it is a known one."""
    from realtime.sources import SourceError

    known: dict[str, type[Exception]] = {
        "SourceError": SourceError, "ValueError": ValueError, "ImportError": ImportError, "ModuleNotFoundError": ImportError,
        "OSError": OSError, "FileNotFoundError": OSError,
    }  # fmt: skip
    return known.get(name, RuntimeError)(message if name in known else f"{name}: {message}")
