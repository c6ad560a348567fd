"""Fault injection for the live pipeline, through its seams (stand-in detector, camera and file):
a camera that disappears or gives no images, a disk that fills up under a recording, and
SIGINT / SIGTERM to a running ``skeletor-live``. Each fault has one promise, stated in
docs/reliability.md: the stream goes on, or stops cleanly, and says why."""

from __future__ import annotations

import asyncio
import builtins
import errno
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

import skeletor.io.recording
from realtime.pipeline import LivePipeline, PipelineConfig
from realtime.server import ServerConfig
from realtime.sinks.recording import RecordingSink
from realtime.sinks.websocket import WebsocketSink
from realtime.sources import CaptureSource, DemoConfig, DemoSource, ReconnectConfig
from skeletor.cleaner.stream import CleanerConfig
from skeletor.protocol import StatusEvent
from skeletor.io.recording import read_jsonl
from skeletor.pose.keypoints import load_poses


class _FillsUp(io.RawIOBase):
    """A real file on a disk with ``budget`` bytes free: the write that crosses it is cut
    short (as write(2) is), every later one raises ENOSPC."""

    def __init__(self, path: Any, mode: str, budget: int) -> None:
        self._file = io.FileIO(path, mode.replace("b", "").replace("t", ""))
        self.budget = budget
        self.refused = 0  # writes refused with ENOSPC

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.budget <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        data = bytes(b)[: self.budget]
        self._file.write(data)
        self.budget -= len(data)
        return len(data)

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()


def _disk_with(budget: int, monkeypatch: pytest.MonkeyPatch) -> list[_FillsUp]:
    """Files the recorder creates from now on live on a disk with ``budget`` bytes free."""
    made: list[_FillsUp] = []

    def fake_open(path: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None, newline: str | None = None) -> Any:
        if not any(m in mode for m in "wxa"):
            return builtins.open(path, mode, buffering, encoding=encoding, newline=newline)
        raw = _FillsUp(path, mode, budget)
        made.append(raw)
        buf = io.BufferedWriter(raw, buffer_size=buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE)
        return buf if "b" in mode else io.TextIOWrapper(buf, encoding=encoding or "utf-8", newline=newline)

    monkeypatch.setattr(skeletor.io.recording, "open", fake_open, raising=False)
    return made


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_a_full_disk_stops_the_recording_with_one_message_and_the_stream_goes_on(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, collect_sink: type
) -> None:
    """The disk fills up mid-run: the recording stops with one line saying so (no traceback),
    every other sink keeps getting every frame, and the file holds whole frames only."""
    files = _disk_with(60_000, monkeypatch)  # ~15 .jsonl frames, ~40 spool records
    path = tmp_path / f"rec{suffix}"
    rec, collect = RecordingSink(path), collect_sink()
    n = 120
    pipe = LivePipeline(DemoSource(DemoConfig(paced=False, max_frames=n)), PipelineConfig(cleaner=CleanerConfig(refine=False)), [rec, collect])
    with caplog.at_level(logging.INFO):
        pipe.start()
        assert pipe.wait(60)
        pipe.stop()
    assert pipe.error is None
    assert [f.seq for f in collect.frames] == list(range(n))  # the stream went on
    assert "recording stopped" in rec.summary()
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    msg = problems[0].getMessage()
    assert str(path) in msg and "No space left on device" in msg and "stream goes on" in msg
    assert problems[0].exc_info is None and "\n" not in msg
    assert files[0].refused <= 3  # the failed write and the close's flushes; none for the ~100 frames after it
    kept = rec.frames_kept
    assert 0 < kept < n
    if suffix == ".jsonl":
        lines = path.read_text().splitlines()
        assert path.read_bytes().endswith(b"\n")  # valid to the last whole frame: nothing cut short
        msgs = [json.loads(line) for line in lines]  # every line is whole JSON
        assert msgs[0]["type"] == "hello" and [m["seq"] for m in msgs[1:]] == list(range(kept))
        back = read_jsonl(path)
    else:
        back = load_poses(path)  # the spool, cut to whole records, was finished into the .npz
        assert not (tmp_path / "rec.npz.spool").exists()
    assert len(back.poses3d) == kept
    np.testing.assert_allclose(back.poses3d[kept - 1], collect.frames[kept - 1].joints, atol=1e-4, equal_nan=True)


FAST_RECONNECT = ReconnectConfig(lost_after_s=0.1, first_delay_s=0.02, max_delay_s=0.1)


def test_a_camera_unplugged_mid_run_is_reopened_with_backoff_and_clients_are_told(
    clip_detector: Callable[[], Any], stand_in_camera: type, collect_sink: type, caplog: pytest.LogCaptureFixture
) -> None:
    """The cable is pulled while a client watches: the camera is reopened with doubling waits
    (two attempts fail, one opens but gives no image, the fourth works), the client gets
    ``source_lost`` then ``source_found`` and frames again, and nothing else stops."""
    camera = stand_in_camera(fps=60.0, opens=("ok", "fail", "fail", "dark", "ok"))
    source = CaptureSource(0, clip_detector(), reconnect=FAST_RECONNECT, open_capture=camera.open)
    collect, server = collect_sink(), WebsocketSink(ServerConfig(port=0))
    pipe = LivePipeline(source, PipelineConfig(cleaner=CleanerConfig(refine=False), source_timeout_s=0.15), [server, collect])
    watching = threading.Event()
    seen: list[str] = []  # status events and "frame", as the client got them

    async def client() -> None:
        assert server.server is not None
        async with websockets.connect(server.server.url) as ws:
            frames_after_found = 0
            while frames_after_found < 10:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg["type"] == "status":
                    seen.append(msg["event"])
                elif msg["type"] == "frame":
                    seen.append("frame")
                    if seen.count("frame") >= 5:
                        watching.set()
                    frames_after_found += "source_found" in seen

    with caplog.at_level(logging.INFO, logger="realtime.sources"):
        pipe.start()
        try:
            watcher = threading.Thread(target=asyncio.run, args=(client(),), daemon=True)
            watcher.start()
            assert watching.wait(30), "the client got no frames"
            camera.unplug()
            watcher.join(60)
            assert not watcher.is_alive(), f"the client never saw the camera come back: {seen[-5:]}"
        finally:
            pipe.stop()
    assert pipe.error is None
    assert camera.attempts == ["ok", "fail", "fail", "dark", "ok"]
    assert source.reconnect_delays == [0.02, 0.04, 0.08, 0.1]  # doubling, capped at max_delay_s
    assert source.reconnects == 2  # the dark opening and the good one
    lost, found = seen.index("source_lost"), seen.index("source_found")
    assert "frame" in seen[:lost] and lost < found and "frame" in seen[found:]
    assert collect.events.index(StatusEvent.SOURCE_LOST) < collect.events.index(StatusEvent.SOURCE_FOUND)
    notes = [r.getMessage() for r in caplog.records if r.name == "realtime.sources" and r.levelno >= logging.INFO]
    assert len(notes) == 2 and "camera 0 gave no image" in notes[0] and "camera 0 delivers images again" in notes[1], notes


def test_a_camera_that_never_comes_back_is_retried_at_the_longest_wait_until_closed(
    clip_detector: Callable[[], Any], stand_in_camera: type
) -> None:
    camera = stand_in_camera(fps=60.0, opens=("ok",) + ("fail",) * 1000)
    source = CaptureSource(0, clip_detector(), reconnect=FAST_RECONNECT, open_capture=camera.open)
    assert source.read(5.0) is not None
    camera.unplug()
    deadline = time.monotonic() + 30
    while len(source.reconnect_delays) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert source.reconnect_delays[:6] == [0.02, 0.04, 0.08, 0.1, 0.1, 0.1]
    assert source.read(0.05) is None and not source.ended  # a lost camera is not an ended video
    source.close()  # wakes the capture thread from its wait
    assert not source._thread.is_alive()
