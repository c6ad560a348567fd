"""LivePipeline on a real video through a stand-in detector: the sinks' lifecycle, a failing
or a stalled sink never stopping the pipeline or the others; detection beside cleaning (every
frame offline, newest wins live), a detector or cleaner exception on one frame, stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.pipeline import LivePipeline, PipelineConfig
from realtime.sinks import SinkContext
from realtime.sinks.background import InBackground
from realtime.sources import CaptureSource
from skeletor.protocol import PoseFrame, StatusEvent
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

CLIP_FRAMES = 58


def test_pipeline_survives_a_failing_sink_and_a_stalled_one(
    clip_detector: Callable[[], Any], collect_sink: type, failing_sink: Any, webcam_video: Path
) -> None:
    gate = threading.Event()

    class Stalled(collect_sink):  # type: ignore[misc, valid-type]
        def write(self, frame: PoseFrame) -> None:
            gate.wait(30)
            super().write(frame)

    good, stalled = collect_sink("good"), Stalled("stalled")
    background = InBackground(stalled)
    det = clip_detector()
    pipe = LivePipeline(
        CaptureSource(webcam_video, det), PipelineConfig(cleaner=CleanerConfig(refine=False)), [failing_sink, background, good]
    )
    pipe.start()
    assert good.context == SinkContext(fps=good.context.fps, skeleton=HOLISTIC75, refiner=good.context.refiner) and stalled.context is good.context
    assert good.context.refiner is not None and "provider" in good.context.refiner
    assert pipe.wait(120), "the pipeline did not finish the video"
    assert pipe.error is None
    assert [f.seq for f in good.frames] == list(range(CLIP_FRAMES))  # every frame despite the failing and the stalled sink
    assert good.events[-1] == StatusEvent.SOURCE_ENDED
    assert pipe.sinks.failures == {"failing": CLIP_FRAMES + len(good.events)}
    gate.set()
    pipe.stop()
    assert good.closed and stalled.closed and det.closed and failing_sink.closed
    assert pipe.sinks.failures["failing"] == CLIP_FRAMES + len(good.events) + 1  # its close failed too
    seqs = [f.seq for f in stalled.frames]
    assert seqs[-1] == CLIP_FRAMES - 1 and len(seqs) + background.frames_dropped == CLIP_FRAMES  # newest wins, none queued


# ---------------------------------------------------------------- detection beside cleaning


class RecordingCleaner(StreamingCleaner):
    """The real cleaner; notes every push (to replay it) and can wait on a gate or fail on one push."""

    def __init__(self, config: CleanerConfig, gate: threading.Event | None = None, fail_at: int | None = None, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.pushes: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()
        self.gate, self.fail_at = gate, fail_at

    def push(self, *args: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.pushes.append(args)
        if len(self.pushes) - 1 == self.fail_at:
            raise FloatingPointError("the refiner's output is not finite")
        return super().push(*args)


def run_pipeline(source: Any, cleaner: StreamingCleaner, sink: Any, **config: Any) -> LivePipeline:
    pipe = LivePipeline(source, PipelineConfig(cleaner=cleaner.config, **config), [sink], cleaner=cleaner)
    pipe.start()
    assert pipe.wait(120), "the pipeline did not finish the video"
    pipe.stop()
    assert pipe.error is None and not pipe.running
    return pipe


def test_offline_every_frame_is_cleaned_in_order_beside_the_detector(
    clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path
) -> None:
    """A video read as fast as possible: detection and cleaning run in two threads, yet every
    frame is cleaned, in order, exactly as one thread cleaning the same detections would
    (lookahead 4 and the refiner on), even with a cleaner far slower than the detector."""
    gate = threading.Event()
    config = CleanerConfig(lookahead=4)
    cleaner = RecordingCleaner(config, gate=gate)
    sink = collect_sink()
    pipe = LivePipeline(CaptureSource(webcam_video, clip_detector()), PipelineConfig(cleaner=config), [sink], cleaner=cleaner)
    assert not pipe.drop_stale  # a video read as fast as possible is not live
    pipe.start()
    deadline = time.monotonic() + 30
    while pipe.stats.detections < 3 and time.monotonic() < deadline:  # the detector runs ahead of the (held) cleaner ...
        time.sleep(0.01)
    time.sleep(0.2)
    assert pipe.stats.detections == 3  # ... by one in the cleaner, one in the hand-over and one waiting to be handed over
    gate.set()
    assert pipe.wait(120)
    pipe.stop()
    assert pipe.error is None and cleaner.threads == {"skeletor-clean"}
    assert [f.seq for f in sink.frames] == list(range(CLIP_FRAMES))
    assert pipe.stats.handoff_dropped == 0 and pipe.stats.frames == CLIP_FRAMES
    assert sink.events[-1] == StatusEvent.SOURCE_ENDED
    reference = StreamingCleaner(config)
    outs = [o for args in cleaner.pushes for o in reference.push(*args)] + reference.flush()
    assert [o.index for o in outs] == list(range(CLIP_FRAMES))
    for frame, o in zip(sink.frames, outs):
        np.testing.assert_array_equal(frame.joints, o.pose)
        assert set(frame.latency_ms) == {"decode", "detect", "uplift", "refine", "pipeline"}
        assert frame.latency_ms["pipeline"] >= frame.latency_ms["detect"] > 0


def test_live_the_newest_detection_wins_and_the_dropped_are_counted(
    clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path
) -> None:
    """With drop_stale (a live source), a cleaner that falls behind skips detections instead of
    queueing them: frames stay in order, and frames + dropped = detections."""
    gate = threading.Event()
    cleaner = RecordingCleaner(CleanerConfig(refine=False), gate=gate)
    sink = collect_sink()
    pipe = LivePipeline(
        CaptureSource(webcam_video, clip_detector()), PipelineConfig(cleaner=cleaner.config, drop_stale=True), [sink], cleaner=cleaner
    )
    pipe.start()
    deadline = time.monotonic() + 30
    while pipe.stats.detections < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()  # the cleaner was held on the first detection while the detector went on
    assert pipe.wait(120)
    pipe.stop()
    st = pipe.stats
    seqs = [f.seq for f in sink.frames]
    assert seqs == sorted(set(seqs)) and seqs[-1] == CLIP_FRAMES - 1
    assert st.detections == CLIP_FRAMES and st.handoff_dropped >= 8
    assert st.frames + st.handoff_dropped == st.detections


class FlakyDetector:
    """A real clip replayed (ClipDetector) that raises on the given calls."""

    def __init__(self, inner: Any, fail_on: set[int]) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0
        self.name, self.skeleton = inner.name, inner.skeleton

    def detect(self, image: Any, t_ns: int) -> Any:
        self.calls += 1
        if self.calls - 1 in self.fail_on:
            raise RuntimeError("graph execution failed")
        return self.inner.detect(image, t_ns)

    def close(self) -> None:
        self.inner.close()


def test_a_detector_exception_skips_that_frame_and_the_stream_goes_on(
    clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fail_on = {5, 20, 21}
    sink = collect_sink()
    pipe = run_pipeline(CaptureSource(webcam_video, FlakyDetector(clip_detector(), fail_on)), StreamingCleaner(CleanerConfig()), sink)
    assert [f.seq for f in sink.frames] == [s for s in range(CLIP_FRAMES) if s not in fail_on]
    st = pipe.stats
    assert (st.detect_errors, st.clean_errors, st.frames_skipped) == (3, 0, 3)
    assert sink.events[-1] == StatusEvent.SOURCE_ENDED
    errors = [r for r in caplog.records if r.name == "realtime.pipeline" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # logged once, with its traceback; then counted
    assert any("3 frame(s) skipped" in r.getMessage() for r in caplog.records if r.name == "realtime.pipeline")


def test_a_cleaner_exception_skips_its_frames_restarts_the_cleaner_and_the_stream_goes_on(
    clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The refiner raising on frame 30 (lookahead 4): that frame and the 4 held for the
    lookahead are skipped and counted, the cleaner starts afresh, later frames come out."""
    lookahead, fail_at = 4, 30
    cleaner = RecordingCleaner(CleanerConfig(lookahead=lookahead), fail_at=fail_at)
    sink = collect_sink()
    pipe = run_pipeline(CaptureSource(webcam_video, clip_detector()), cleaner, sink)
    seqs = [f.seq for f in sink.frames]
    skipped = list(range(fail_at - lookahead, fail_at + 1))
    assert seqs == [s for s in range(CLIP_FRAMES) if s not in skipped]
    st = pipe.stats
    assert (st.detect_errors, st.clean_errors, st.frames_skipped) == (0, 1, len(skipped))
    assert all(np.isfinite(f.joints[:25]).any() for f in sink.frames[-5:])  # cleaned again after the restart
    errors = [r for r in caplog.records if r.name == "realtime.pipeline" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "FloatingPointError" in errors[0].getMessage()


def test_stop_ends_both_threads_mid_stream(clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path) -> None:
    """Stopped while the detector waits on the hand-over and the cleaner on a frame: both
    threads end, and the source, detector and sinks are closed."""
    gate = threading.Event()
    det = clip_detector()
    sink = collect_sink()
    cleaner = RecordingCleaner(CleanerConfig(refine=False), gate=gate)
    pipe = LivePipeline(CaptureSource(webcam_video, det), PipelineConfig(cleaner=cleaner.config), [sink], cleaner=cleaner)
    before = set(threading.enumerate())
    pipe.start()
    workers = {t for t in threading.enumerate() if t not in before and t.name in ("skeletor-detect", "skeletor-clean")}
    assert len(workers) == 2
    deadline = time.monotonic() + 30
    while pipe.stats.detections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipe.running
    threading.Timer(0.2, gate.set).start()  # the cleaner finishes its frame while stop() waits
    pipe.stop(timeout=10)
    assert not pipe.running and pipe.error is None
    assert not [t for t in workers if t.is_alive()]
    assert det.closed and sink.closed and len(sink.frames) <= 2
