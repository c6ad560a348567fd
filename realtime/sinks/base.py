"""The output stage: where cleaned pose frames go (websocket clients, a file, a window, ...).

A sink is handed every cleaned :class:`~skeletor.protocol.PoseFrame` by the pipeline's
worker thread, in order, and the pipeline's status events (source lost, person found, ...).
**A sink must be quick**: it runs inside the pipeline's loop, so a sink that waits (on a
socket, a slow disk, a lock held by a GUI) delays every later frame for everyone. Put the
frame somewhere and return; if the work can block, wrap the sink in
:class:`realtime.sinks.background.InBackground`, which gives it its own thread and a
newest-frame-wins slot.

A sink's exception never stops the pipeline or the other sinks: :class:`SinkSet` logs the
first one of each sink with its traceback, counts them all (``failures``), and keeps
calling it (a network sink may recover). Only :meth:`Sink.open` failing is fatal: the user
asked for that output and it cannot be had (``skeletor-live`` exits with code 2).

Sinks are picked on the command line through the registry in :mod:`realtime.sinks`; each
entry is a :class:`SinkSpec`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from skeletor.protocol import PoseFrame, StatusEvent
from skeletor.pose.skeleton import HOLISTIC75, Skeleton

if TYPE_CHECKING:
    from realtime.pipeline import Detection

__all__ = ["BaseSink", "FunctionSink", "Sink", "SinkContext", "SinkError", "SinkSet", "SinkSpec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkContext:
    """What a sink learns when the stream starts.

    Attributes:
        fps: the source's nominal frame rate (None if it states none, e.g. some cameras).
        skeleton: the joint layout of ``PoseFrame.joints``.
        max_people: the most people the pipeline follows (1: every frame is person 0;
            more: one frame per person per capture, ``PoseFrame.person_id``, the oldest
            person's marked ``PoseFrame.primary``).
        refiner: how the refiner runs, for outputs that tell their clients (the provider
            ``auto`` picked and the threads; ``{"provider": None}`` when it is off), or None.
    """

    fps: float | None = None
    skeleton: Skeleton = HOLISTIC75
    max_people: int = 1
    refiner: Mapping[str, Any] | None = None


@runtime_checkable
class Sink(Protocol):
    """A destination of cleaned frames. Subclass :class:`BaseSink` to get no-op defaults.

    Attributes:
        name: a short name for logs and the status line (``"websocket"``, ``"record"``).
    """

    name: str

    def open(self, context: SinkContext) -> None:
        """Get ready (bind a port, create a file) before the first frame.

        Raises:
            OSError, ValueError: the output cannot be had; the message says why.
        """
        ...

    def write(self, frame: PoseFrame) -> None:
        """Take one cleaned frame (pipeline thread; must return quickly)."""
        ...

    def status(self, event: StatusEvent, text: str) -> None:
        """Take a status event (pipeline thread; must return quickly)."""
        ...

    def close(self) -> None:
        """Finish (flush a file, close connections); called once, after the last frame."""
        ...


class BaseSink:
    """No-op defaults for every :class:`Sink` method but ``write``, and the optional hooks.

    Optional hooks, called where a subclass defines them:

    - ``see_input(detection)``: the detection (with its camera image) that a frame about to
      be written came from (the preview draws it);
    - ``pump()``: work that must run on the main thread (GUI windows), about 10 times a second;
    - ``describe()``: a few words for the startup line (the viewer's URL);
    - ``summary()``: a few words for the once-a-second status line (``clients 3``).
    - ``person_event(event, text, person_id)``: a ``person_appeared`` / ``person_left``
      status with the person's id (a sink without it gets ``status(event, text)``).

    ``wants_rig`` (an attribute or property, False here) asks the pipeline to solve the
    humanoid rig and attach it to the frames (``PoseFrame.rig``): the VMC sender always
    does, the websocket server while a client subscribes to ``rotations``.
    """

    wants_rig = False

    name = "sink"

    def open(self, context: SinkContext) -> None:
        """Nothing to prepare."""

    def write(self, frame: PoseFrame) -> None:
        """Take one cleaned frame; subclasses must define it."""
        raise NotImplementedError(f"{type(self).__name__} must define write(frame)")

    def status(self, event: StatusEvent, text: str) -> None:
        """Ignore status events."""

    def close(self) -> None:
        """Nothing to finish."""

    def describe(self) -> str:
        """Nothing to say at startup."""
        return ""

    def summary(self) -> str:
        """Nothing to add to the status line."""
        return ""


class FunctionSink(BaseSink):
    """A plain ``frame -> None`` callable as a sink (tests, benchmarks, quick hooks)."""

    def __init__(self, fn: Callable[[PoseFrame], None], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def write(self, frame: PoseFrame) -> None:
        """Call the function."""
        self.fn(frame)


class SinkError(RuntimeError):
    """A sink could not be opened; ``sink`` names it and the cause is chained."""

    def __init__(self, sink: str, cause: BaseException) -> None:
        super().__init__(f"{sink}: {cause}")
        self.sink = sink


@dataclass(frozen=True)
class SinkSpec:
    """A registry entry: a sink's command-line options and how to build it from them.

    Attributes:
        add_options: adds the sink's flags to ``skeletor-live``'s parser.
        from_args: the sink the parsed flags ask for, or None when they ask for none (e.g.
            no ``--record``). Raises ``ValueError`` for bad values (exit code 2).
    """

    add_options: Callable[[argparse.ArgumentParser], None]
    from_args: Callable[[argparse.Namespace], Sink | None]


class SinkSet:
    """Several sinks run in order, each isolated from the others' failures.

    Args:
        sinks: :class:`Sink` objects, or plain ``frame -> None`` callables (wrapped in
            :class:`FunctionSink`).

    Attributes:
        sinks: the sinks, in order.
        failures: exceptions raised so far, per sink name (write, status, hooks and close).
    """

    def __init__(self, sinks: Iterable[Sink | Callable[[PoseFrame], None]] = ()) -> None:
        self.sinks: list[Sink] = [s if isinstance(s, Sink) else FunctionSink(s) for s in sinks]
        self.failures: dict[str, int] = {}
        self._opened: list[Sink] = []
        self._watchers = [s for s in self.sinks if callable(getattr(s, "see_input", None))]
        self._pumps = [s for s in self.sinks if callable(getattr(s, "pump", None))]

    def __len__(self) -> int:
        return len(self.sinks)

    def open(self, context: SinkContext) -> None:
        """Open every sink, in order.

        Raises:
            SinkError: one could not be opened (those opened before it are closed again).
        """
        for sink in self.sinks:
            try:
                sink.open(context)
            except Exception as e:
                self.close()
                raise SinkError(sink.name, e) from e
            self._opened.append(sink)

    def write(self, frame: PoseFrame) -> None:
        """Hand ``frame`` to every sink."""
        for sink in self.sinks:
            try:
                sink.write(frame)
            except Exception as e:
                self._failed(sink, "write", e)

    def see_input(self, detection: Detection) -> None:
        """Show the detection behind the next frame to the sinks that want it."""
        for sink in self._watchers:
            try:
                sink.see_input(detection)  # type: ignore[attr-defined]
            except Exception as e:
                self._failed(sink, "see_input", e)

    def status(self, event: StatusEvent, text: str) -> None:
        """Hand a status event to every sink."""
        for sink in self.sinks:
            try:
                sink.status(event, text)
            except Exception as e:
                self._failed(sink, "status", e)

    def person_event(self, event: StatusEvent, text: str, person_id: int) -> None:
        """Hand a person's appearing / leaving to every sink: to ``person_event`` where a sink has it, else ``status``."""
        for sink in self.sinks:
            hook = getattr(sink, "person_event", None)
            try:
                if callable(hook):
                    hook(event, text, person_id)
                else:
                    sink.status(event, text)
            except Exception as e:
                self._failed(sink, "status", e)

    def pump(self) -> None:
        """Run the sinks' main-thread work (call from the main thread)."""
        for sink in self._pumps:
            try:
                sink.pump()  # type: ignore[attr-defined]
            except Exception as e:
                self._failed(sink, "pump", e)

    def describe(self) -> list[str]:
        """The sinks' startup words (empty ones left out)."""
        return [t for t in (self._hook(s, "describe") for s in self.sinks) if t]

    def summary(self) -> list[str]:
        """The sinks' status-line words (empty ones left out)."""
        return [t for t in (self._hook(s, "summary") for s in self.sinks) if t]

    def close(self) -> None:
        """Close every opened sink, in order (idempotent); reports what failed on the way."""
        opened, self._opened = self._opened, []
        for sink in opened:
            try:
                sink.close()
            except Exception as e:
                self._failed(sink, "close", e)
        if opened and self.failures:
            log.warning("sink failures over the run: %s", ", ".join(f"{k} {v}" for k, v in self.failures.items()))

    @property
    def wants_rig(self) -> bool:
        """Whether some sink wants the humanoid rig on the frames now (``BaseSink.wants_rig``)."""
        for sink in self.sinks:
            try:
                if getattr(sink, "wants_rig", False):
                    return True
            except Exception as e:
                self._failed(sink, "wants_rig", e)
        return False

    @property
    def rig_person(self) -> int | None:
        """The person whose rig a sink asked for (its ``rig_person``, e.g. ``--vmc-person``); None = the primary person."""
        for sink in self.sinks:
            person = getattr(sink, "rig_person", None)
            if isinstance(person, int):
                return person
        return None

    @property
    def total_failures(self) -> int:
        """Failures of all sinks together."""
        return sum(self.failures.values())

    def _hook(self, sink: Sink, method: str) -> str:
        fn = getattr(sink, method, None)
        if not callable(fn):
            return ""
        try:
            return str(fn() or "")
        except Exception as e:
            self._failed(sink, method, e)
            return ""

    def _failed(self, sink: Sink, method: str, error: Exception) -> None:
        n = self.failures.get(sink.name, 0) + 1
        self.failures[sink.name] = n
        if n == 1:  # once, with the traceback; then only counted (the status line shows the count)
            log.error(
                "sink %s failed in %s (it keeps getting frames; further failures are only counted)", sink.name, method, exc_info=error
            )
