"""InBackground: a sink that blocks gets its own thread and a newest-frame-wins slot."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from realtime.sinks import SinkContext
from realtime.sinks.background import InBackground
from skeletor.protocol import PoseFrame, StatusEvent


def test_a_blocked_sink_never_blocks_the_writer_and_gets_the_newest_frame(clip_frames: Any, collect_sink: type) -> None:
    gate, entered = threading.Event(), threading.Event()

    class Blocked(collect_sink):  # type: ignore[misc, valid-type]
        def write(self, frame: PoseFrame) -> None:
            entered.set()
            gate.wait(10)
            super().write(frame)

    inner = Blocked("blocked")
    sink = InBackground(inner)
    sink.open(SinkContext(fps=24.0))
    assert inner.context.fps == 24.0
    frames = clip_frames(50)
    sink.write(frames[0])
    assert entered.wait(5)  # the worker is inside the blocked write with frame 0
    for f in frames[1:]:
        sink.write(f)  # returns at once although the sink is stuck
    sink.status(StatusEvent.SOURCE_ENDED, "the source has no more frames")
    assert sink.frames_dropped == 48  # 1-48 were replaced in the slot; 49 waits there
    assert sink.summary() == "blocked skipped 48"
    gate.set()
    sink.close()  # delivers what is pending, then closes the inner sink
    assert [f.seq for f in inner.frames] == [0, 49]
    assert inner.events == [StatusEvent.SOURCE_ENDED] and inner.closed


def test_a_failing_background_sink_is_counted_and_keeps_getting_frames(
    clip_frames: Any, collect_sink: type, caplog: pytest.LogCaptureFixture
) -> None:
    delivered = threading.Semaphore(0)

    class Flaky(collect_sink):  # type: ignore[misc, valid-type]
        def write(self, frame: PoseFrame) -> None:
            try:
                if frame.seq % 2 == 0:
                    raise TimeoutError("redis did not answer")
                super().write(frame)
            finally:
                delivered.release()

    inner = Flaky("flaky")
    sink = InBackground(inner)
    sink.open(SinkContext())
    with caplog.at_level(logging.ERROR, logger="realtime.sinks.background"):
        for f in clip_frames(6):
            sink.write(f)
            assert delivered.acquire(timeout=5)  # one at a time, so none is skipped
        sink.close()
    assert sink.failures == 3 and [f.seq for f in inner.frames] == [1, 3, 5]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
