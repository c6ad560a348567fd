"""A sink that may block (a network publisher, a slow disk) run in its own thread.

The pipeline's ``write`` only puts the frame in a one-frame slot, newest frame wins: if
the wrapped sink is still busy with an older frame, the unsent one in the slot is replaced
and counted in ``frames_dropped``. So a stalled sink gets fewer, newer frames and the
pipeline (and every other sink) never waits for it. Status events are queued, not
replaced (up to ``max_status``; they are rare). On :meth:`InBackground.close` what is still
in the slot is delivered before the wrapped sink is closed.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from realtime.sinks.base import BaseSink, Sink, SinkContext
from skeletor.protocol import PoseFrame, StatusEvent

__all__ = ["InBackground"]

log = logging.getLogger(__name__)


class InBackground(BaseSink):
    """Runs ``sink`` in a thread of its own behind a newest-frame-wins slot.

    Args:
        sink: the sink that may block; its ``open`` runs in the caller's thread (so a
            failure to open is reported as for any sink), ``write``, ``status`` and
            ``close`` in the worker thread.
        max_status: status events kept while the sink is busy (the oldest are dropped).
        close_timeout_s: how long :meth:`close` waits for the sink to finish.

    Attributes:
        frames_dropped: frames replaced in the slot before the sink took them.
        failures: exceptions the wrapped sink raised (the first is logged with its traceback).
    """

    def __init__(self, sink: Sink, max_status: int = 64, close_timeout_s: float = 5.0) -> None:
        self.sink = sink
        self.name = sink.name
        self.close_timeout_s = close_timeout_s
        self.frames_dropped = 0
        self.failures = 0
        self._cond = threading.Condition()
        self._frame: PoseFrame | None = None
        self._status: collections.deque[tuple[StatusEvent, str]] = collections.deque(maxlen=max_status)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def open(self, context: SinkContext) -> None:
        """Open the wrapped sink, then start the worker."""
        self.sink.open(context)
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    def write(self, frame: PoseFrame) -> None:
        """Put ``frame`` in the slot (never blocks on the wrapped sink)."""
        with self._cond:
            if self._frame is not None:
                self.frames_dropped += 1
            self._frame = frame
            self._cond.notify()

    def status(self, event: StatusEvent, text: str) -> None:
        """Queue a status event for the wrapped sink."""
        with self._cond:
            self._status.append((event, text))
            self._cond.notify()

    def close(self) -> None:
        """Deliver what is pending, stop the worker, close the wrapped sink (idempotent)."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(self.close_timeout_s)
            if self._thread.is_alive():
                log.warning("sink %s still busy after %.1f s; closing it anyway", self.name, self.close_timeout_s)
        self.sink.close()

    @property
    def wants_rig(self) -> bool:
        """Whether the wrapped sink wants the humanoid rig on its frames."""
        return bool(getattr(self.sink, "wants_rig", False))

    def describe(self) -> str:
        """The wrapped sink's startup words."""
        fn = getattr(self.sink, "describe", None)
        return str(fn() or "") if callable(fn) else ""

    def summary(self) -> str:
        """The wrapped sink's status words, and the frames it missed."""
        fn = getattr(self.sink, "summary", None)
        words = [str(fn() or "")] if callable(fn) else []
        if self.frames_dropped:
            words.append(f"{self.name} skipped {self.frames_dropped}")
        return " ".join(w for w in words if w)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._frame is None and not self._status and not self._stopping:
                    self._cond.wait()
                statuses = list(self._status)
                self._status.clear()
                frame, self._frame = self._frame, None
                if frame is None and not statuses and self._stopping:
                    return
            for event, text in statuses:
                self._call(self.sink.status, event, text)
            if frame is not None:
                self._call(self.sink.write, frame)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            self.failures += 1
            if self.failures == 1:
                log.exception("sink %s failed (it keeps getting frames; further failures are only counted)", self.name)
