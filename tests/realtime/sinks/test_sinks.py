"""The sink seam: the registry behind skeletor-live's output flags, SinkSet's isolation of a
failing sink, and the shipped sinks (recording, preview) on their own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.cli import build_parser
from realtime.pipeline import Detection
from realtime.sinks import SINKS, FunctionSink, Sink, SinkContext, SinkError, SinkSet, sinks_from_args
from realtime.sinks.preview import Preview
from realtime.sinks.recording import RecordingSink
from realtime.sinks.websocket import WebsocketSink
from skeletor.protocol import StatusEvent
from skeletor.io.recording import read_jsonl
from skeletor.pose.skeleton import HOLISTIC75


def test_registry_builds_the_sinks_the_flags_ask_for(tmp_path: Path) -> None:
    assert list(SINKS) == ["websocket", "record", "preview", "vmc", "redis"]
    kinds = lambda words: [type(s) for s in sinks_from_args(build_parser().parse_args(words))]  # noqa: E731
    assert kinds([]) == [WebsocketSink]
    assert kinds(["--record", str(tmp_path / "a.jsonl"), "--preview"]) == [WebsocketSink, RecordingSink, Preview]
    sink = sinks_from_args(build_parser().parse_args(["--port", "0", "--token", "s3", "--allowed-origin", "https://a.example"]))[0]
    assert (sink.config.port, sink.config.token, sink.config.allowed_origins) == (0, "s3", ("https://a.example",))
    with pytest.raises(ValueError, match="can only record to .jsonl or .npz"):
        sinks_from_args(build_parser().parse_args(["--record", str(tmp_path / "a.txt")]))
    with pytest.raises(ValueError, match="port must be in"):
        sinks_from_args(build_parser().parse_args(["--port", "70000"]))


def test_a_failing_sink_is_logged_once_counted_and_never_stops_the_others(
    clip_frames: Any, collect_sink: type, failing_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first, last, bad = collect_sink("first"), collect_sink("last"), failing_sink
    sinks = SinkSet([first, bad, last])
    frames = clip_frames(30)
    with caplog.at_level(logging.ERROR, logger="realtime.sinks.base"):
        sinks.open(SinkContext(fps=24.0))
        for f in frames:
            sinks.write(f)
        sinks.status(StatusEvent.SOURCE_ENDED, "done")
        sinks.close()
    for good in (first, last):
        assert [f.seq for f in good.frames] == list(range(30)) and good.events == [StatusEvent.SOURCE_ENDED] and good.closed
    assert sinks.failures == {"failing": 32} and sinks.total_failures == 32  # 30 writes, 1 status, 1 close
    assert bad.closed
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "failing" in errors[0].getMessage() and errors[0].exc_info is not None


def test_a_sink_that_cannot_open_is_fatal_and_the_opened_ones_are_closed(collect_sink: type) -> None:
    class NoPort(collect_sink):  # type: ignore[misc, valid-type]
        def open(self, context: SinkContext) -> None:
            raise OSError("cannot serve on 127.0.0.1:1: permission denied")

    first, broken, never = collect_sink("first"), NoPort("broken"), collect_sink("never")
    sinks = SinkSet([first, broken, never])
    with pytest.raises(SinkError, match="broken: cannot serve") as exc:
        sinks.open(SinkContext())
    assert isinstance(exc.value.__cause__, OSError) and exc.value.sink == "broken"
    assert first.closed and never.context is None and not never.closed


def test_callables_are_sinks_too(clip_frames: Any) -> None:
    got: list[int] = []
    sinks = SinkSet([lambda f: got.append(f.seq)])
    assert isinstance(sinks.sinks[0], FunctionSink) and isinstance(sinks.sinks[0], Sink)
    sinks.open(SinkContext())
    for f in clip_frames(5):
        sinks.write(f)
    sinks.close()
    assert got == [0, 1, 2, 3, 4]


def test_recording_sink_writes_every_frame_at_the_context_fps(clip_frames: Any, tmp_path: Path) -> None:
    frames = clip_frames(40)
    sink = RecordingSink(tmp_path / "rec.jsonl")
    sink.open(SinkContext(fps=24.0, skeleton=HOLISTIC75))
    assert sink.describe() == f"recording {tmp_path / 'rec.jsonl'}"
    for f in frames:
        sink.write(f)
    sink.close()
    back = read_jsonl(tmp_path / "rec.jsonl")
    assert back.fps == 24.0 and len(back.poses3d) == 40
    np.testing.assert_allclose(back.poses3d[7], frames[7].joints, atol=1e-4)  # .jsonl keeps ~0.1 mm


def test_recording_sink_says_why_it_cannot_open(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(OSError, match="--record: "):
        RecordingSink(tmp_path / "dir.jsonl").open(SinkContext(fps=30.0))


def test_preview_keeps_the_latest_pose_and_the_image_behind_it(clip_frames: Any, holistic_clip: Any) -> None:
    preview = Preview()
    image = np.zeros((720, 540, 3), np.uint8)
    frames = clip_frames(3)
    kp = holistic_clip.keypoints[2]
    sinks = SinkSet([preview])
    sinks.see_input(Detection(2, kp, None, True, (540, 720), 0, 0, image=image))
    for f in frames:
        sinks.write(f)
    assert preview._image is image and preview._keypoints is kp
    np.testing.assert_array_equal(preview._joints, frames[-1].joints)
    sinks.see_input(Detection(3, kp, None, True, (1280, 720), 0, 0, image=None))  # the demo: no image
    assert preview._image is image
