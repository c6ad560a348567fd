"""LivePipeline on a real video through a stand-in detector: the sinks' lifecycle, and a
failing or a stalled sink never stopping the pipeline or the others."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from realtime.pipeline import LivePipeline, PipelineConfig
from realtime.sinks import SinkContext
from realtime.sinks.background import InBackground
from realtime.sources import CaptureSource
from skeletor.protocol import PoseFrame, StatusEvent
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.cleaner.stream import CleanerConfig

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
    assert good.context == SinkContext(fps=good.context.fps, skeleton=HOLISTIC75) and stalled.context is good.context
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
