"""The Blender add-on's networking without Blender: its standard-library WebSocket client against a
real server (handshake, token, pings answered, newest frame kept, the rest rig followed)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from realtime.server import ServerConfig, ServerThread
from skeletor.protocol import PoseFrame
from skeletor_live.stream import StreamThread  # loaded without bpy (conftest.py)


def wait(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition never met")


class Feeder:
    """Publishes rigged frames at 30 Hz, each new rest rig first (as the websocket sink does)."""

    def __init__(self, st: ServerThread, frames: list[PoseFrame]) -> None:
        self.st, self.frames, self.sent = st, frames, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        version = 0
        while not self._stop.wait(1 / 30):
            f = self.frames[self.sent % len(self.frames)]
            if f.rig is not None and f.rig.rig_version != version and f.rig.rest_offsets is not None:
                version = f.rig.rig_version
                self.st.publish_rig(version, f.rig.rest_offsets)
            self.st.publish(dataclasses.replace(f, seq=self.sent))
            self.sent += 1

    def __enter__(self) -> Feeder:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(5)


@pytest.mark.slow
def test_stream_thread_receives_the_rig_and_answers_pings(rigged_frames: list[PoseFrame]) -> None:
    config = ServerConfig(port=0, token="s3cret", ping_interval_s=0.3, ping_timeout_s=0.5)
    with ServerThread(config, fps=30) as st, Feeder(st, rigged_frames) as feeder:
        wrong = StreamThread(st.url, token="nope")
        wrong.start()
        wait(lambda: "401" in wrong.status)
        wrong.stop()

        stream = StreamThread(st.url, token="s3cret")
        stream.start()
        try:
            wait(lambda: stream.rig is not None and stream.frames >= 10)
            assert stream.rig is not None and len(stream.rig["bones"]) == 52 and stream.rig["bones"][0] == "Hips"
            last_version = max(f.rig.rig_version for f in rigged_frames if f.rig is not None)
            wait(
                lambda: any(
                    np.allclose(stream.rest_offsets, f.rig.rest_offsets, atol=1e-5)
                    for f in rigged_frames
                    if f.rig is not None and f.rig.rig_version == last_version
                )
            )
            frame = stream.take()
            assert frame is not None and len(frame.rotations) == 52
            assert stream.take() is None or stream.take() is None  # newest frame wins: taken frames are gone
            src = next(f for f in rigged_frames if f.rig is not None and f.rig.rig_version == frame.rig_version)
            assert src.rig is not None
            np.testing.assert_allclose(np.linalg.norm(np.array(frame.rotations), axis=1), 1.0, atol=1e-5)
            # Over 2 s the server pings about 6 times and drops a client that does not answer in 0.5 s.
            before = stream.frames
            time.sleep(2.0)
            assert stream.frames > before + 30 and stream.status.startswith("connected")
            assert st.call(lambda: st.server.num_clients) == 1
        finally:
            stream.stop()
            stream.join(5)
        assert not stream.is_alive() and stream.status == "stopped"
        assert feeder.sent > 60
