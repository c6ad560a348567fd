"""Stand-ins for the realtime tests: a detector that replays a real MediaPipe Holistic clip,
a sink that keeps what it is given, and a camera that can be unplugged.

They are what a new detector or a new output looks like: a class with the protocol's few
members. Tests register them with one line (``monkeypatch.setitem(DETECTORS, ...)``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime.sinks import BaseSink, SinkContext
from skeletor.pose.keypoints import KeypointSequence
from skeletor.protocol import PoseFrame, StatusEvent
from stand_ins import ClipDetector, StandInCamera

WEBCAM_VIDEO = "slp_pose_test_video.mp4"  # 58 frames, 540 x 720, a person waving (SOURCES.md)
WEBCAM_FRAMES = 58


class CollectSink(BaseSink):
    """Keeps the context, every frame and every status event; notes ``close``."""

    def __init__(self, name: str = "collect") -> None:
        self.name = name
        self.context: SinkContext | None = None
        self.frames: list[PoseFrame] = []
        self.events: list[StatusEvent] = []
        self.closed = False

    def open(self, context: SinkContext) -> None:
        self.context = context

    def write(self, frame: PoseFrame) -> None:
        self.frames.append(frame)

    def status(self, event: StatusEvent, text: str) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


class FailingSink:
    """A sink whose every call after ``open`` raises, as a network sink's does when its peer is gone."""

    name = "failing"

    def __init__(self) -> None:
        self.closed = False

    def open(self, context: SinkContext) -> None:
        pass

    def write(self, frame: PoseFrame) -> None:
        raise ConnectionError("the peer went away")

    def status(self, event: StatusEvent, text: str) -> None:
        raise ConnectionError("the peer went away")

    def close(self) -> None:
        self.closed = True
        raise ConnectionError("the peer went away")


@pytest.fixture(scope="session")
def holistic_clip(data_dir: Path) -> KeypointSequence:
    """A real MediaPipe Holistic clip (pose-format's test data, 170 frames, 1250 x 1250 px)."""
    from skeletor.datasets.poseformat import load_pose_file

    return load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose")


@pytest.fixture(scope="session")
def webcam_video(data_dir: Path) -> Path:
    """A real webcam-style video (58 frames)."""
    return data_dir / "videos" / WEBCAM_VIDEO


@pytest.fixture
def clip_detector(holistic_clip: KeypointSequence) -> Callable[[], ClipDetector]:
    """Makes :class:`ClipDetector` s replaying ``holistic_clip``."""
    return lambda: ClipDetector(holistic_clip)


@pytest.fixture
def clip_frames(holistic_clip: KeypointSequence) -> Callable[[int], list[PoseFrame]]:
    """Makes ``n`` pose frames from the real clip (keypoints / 1000 as joints: the values only
    need to be real and distinct, for equality checks)."""

    def make(n: int) -> list[PoseFrame]:
        out = []
        for i in range(n):
            kp = holistic_clip.keypoints[i]
            joints = np.where(kp[:, 2:] > 0, kp / 1000, np.nan).astype(np.float32)
            out.append(PoseFrame(seq=i, t_capture_ns=1_000_000 * i, joints=joints, confidence=kp[:, 2].copy()))
        return out

    return make


@pytest.fixture
def collect_sink() -> type[CollectSink]:
    """The :class:`CollectSink` class."""
    return CollectSink


@pytest.fixture
def failing_sink() -> FailingSink:
    """A :class:`FailingSink`."""
    return FailingSink()


@pytest.fixture(scope="session")
def rigged_frames(holistic_clip: KeypointSequence) -> list[PoseFrame]:
    """The real clip cleaned (uplift + refiner) and given its humanoid rig by :class:`realtime.rig.LiveRig`,
    at 30 frames/s; the first frames (while the rig calibrates) have none."""
    from realtime.rig import LiveRig
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence

    out = clean_sequence(holistic_clip, StreamingCleaner(CleanerConfig()))
    rig = LiveRig(lambda: True)
    return [
        rig.attach(PoseFrame(seq=i, t_capture_ns=round(i * 1e9 / 30), joints=out.poses3d[i], confidence=out.confidence[i]))
        for i in range(len(out.poses3d))
    ]


@pytest.fixture
def stand_in_camera() -> type[StandInCamera]:
    """The :class:`StandInCamera` class."""
    return StandInCamera


class RedisProcess:
    """A Debian ``redis-server`` on loopback, on a free port, with no persistence; stop / start it again on the same port."""

    def __init__(self, executable: str) -> None:
        import socket

        self.executable = executable
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, channel: str) -> str:
        return f"redis://127.0.0.1:{self.port}/{channel}"

    def start(self) -> RedisProcess:
        import redis

        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    """A running ``redis-server`` (skips when it or the ``redis`` package is absent)."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install -y redis-server); the Redis relay tests need it")
    pytest.importorskip("redis", reason="the redis package is not installed: pip install -e '.[cluster]'")
    server = RedisProcess(executable).start()
    yield server
    server.stop()
