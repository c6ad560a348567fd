"""``skeletor relay``: the publisher's frames, served from Redis with the server's own protocol.

A publisher (the websocket server and ``--publish``'s sink, as ``skeletor-live`` runs them)
streams real clip frames at 30 Hz; clients of the server and of relays must get the same
frames (seq numbers and values), through a Redis restart and while another relay restarts.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus

from realtime.client import PoseStream
from realtime.relay import Relay, RelayConfig
from realtime.server import ServerConfig
from realtime.sinks import SinkContext, SinkSet
from realtime.sinks.background import InBackground
from realtime.sinks.redis import RedisPublisherSink, parse_redis_url
from realtime.sinks.websocket import WebsocketSink
from skeletor.protocol import FIELDS, PoseFrame, StatusEvent

REPO = Path(__file__).resolve().parents[2]
FAST = dict(timeout_s=0.5, health_check_s=0.5, backoff_s=(0.05, 0.3))


class Publisher:
    """The publishing side of skeletor-live: its server and the Redis sink, fed real frames at ``hz`` from a thread."""

    def __init__(self, url: str, frames: list[PoseFrame], hz: float = 30.0) -> None:
        self.server = WebsocketSink(ServerConfig(port=0))
        self.redis = RedisPublisherSink(parse_redis_url(url), timeout_s=0.5, backoff_s=(0.05, 0.3))
        self.sinks = SinkSet([self.server, InBackground(self.redis)])
        self.frames = frames
        self.hz = hz
        self.sent = 0
        self.done_at: float | None = None
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Publisher:
        self.sinks.open(SinkContext(fps=self.hz))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(30)
        self.sinks.close()

    @property
    def url(self) -> str:
        assert self.server.server is not None
        return self.server.server.url

    def go(self) -> None:
        self._go.set()

    def finished(self, grace_s: float = 0.5) -> bool:
        """Every frame was written ``grace_s`` ago (time for the last ones to arrive everywhere)."""
        return self.done_at is not None and time.monotonic() > self.done_at + grace_s

    def _run(self) -> None:
        self._go.wait(30)
        for i, f in enumerate(self.frames):
            if i == len(self.frames) // 3:
                self.sinks.status(StatusEvent.NO_PERSON, "nobody in view")  # status events reach relay clients too
            self.sinks.write(f)
            self.sent += 1
            time.sleep(1.0 / self.hz)
        self.done_at = time.monotonic()


def _frames(clip_frames: Callable[[int], list[PoseFrame]], n: int) -> list[PoseFrame]:
    out = []
    for f in clip_frames(n):
        out.append(PoseFrame(f.seq, f.t_capture_ns, f.joints, f.confidence, raw_joints=f.joints * 1.01, latency_ms={"detect": 10.0 + f.seq % 7}))
    return out


class RecordingStream(PoseStream):
    """A :class:`PoseStream` that keeps every status message, not only the last."""

    statuses: list[dict] | None = None

    @property
    def last_status(self) -> dict | None:
        return self.statuses[-1] if self.statuses else None

    @last_status.setter
    def last_status(self, msg: dict | None) -> None:
        if msg is not None and self.statuses is not None:
            self.statuses.append(msg)


async def _collect(url: str, fmt: str, until: Callable[[], bool], fields: tuple[str, ...] = FIELDS, statuses: list | None = None) -> tuple[dict, dict]:
    """(hello, {seq: frame}) of one client, until ``until()`` holds (or 60 s); its status messages appended to ``statuses``."""
    got: dict[int, Any] = {}
    stream = RecordingStream(url, format=fmt, fields=fields)
    stream.statuses = statuses
    async with stream:

        async def read() -> None:
            async for f in stream:
                got[f["seq"]] = f

        task = asyncio.create_task(read())
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return stream.hello, got


def _same_frame(a: dict, b: dict) -> None:
    assert (a["seq"], a["t_capture_ns"]) == (b["seq"], b["t_capture_ns"])
    for key in ("joints", "confidence", "raw_joints"):
        if key in a or key in b:
            np.testing.assert_array_equal(a[key], b[key])
    assert a.get("latency_ms") == b.get("latency_ms")


@pytest.mark.slow
def test_a_relays_clients_get_the_servers_frames(redis_server: Any, clip_frames: Callable[[int], list[PoseFrame]]) -> None:
    """Binary with every field and JSON with the default fields: a relay client's frames equal
    the server client's (same seq numbers, same values), hello and status included; the
    relay's server keeps its token rule."""
    url = redis_server.url("stage")
    frames = _frames(clip_frames, 120)
    with Publisher(url, frames) as pub, Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0), **FAST)) as relay:

        async def main() -> list:
            json_fields = ("joints", "confidence", "latency_ms")
            tasks = [
                _collect(pub.url, "binary", pub.finished),
                _collect(pub.url, "json", pub.finished, json_fields, server_status),
                _collect(relay.url, "binary", pub.finished),
                _collect(relay.url, "json", pub.finished, json_fields, relay_status),
            ]
            running = [asyncio.create_task(t) for t in tasks]
            await asyncio.sleep(1.0)  # every client subscribed
            pub.go()
            return await asyncio.gather(*running)

        server_status: list[dict] = []
        relay_status: list[dict] = []
        (server_hello, server_bin), (_, server_json), (relay_hello, relay_bin), (_, relay_json) = asyncio.run(main())
        with pytest.raises(InvalidStatus) as refused:  # the relay's server enforces a token like any server
            with Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0, token="s3cret"), **FAST)) as guarded:
                asyncio.run(_collect(guarded.url, "json", lambda: True))
        assert refused.value.response.status_code == 401

    assert relay_hello == server_hello and relay_hello["fps"] == 30.0
    assert [(m["event"], m["message"]) for m in relay_status] == [(m["event"], m["message"]) for m in server_status] == [("no_person", "nobody in view")]
    for server_side, relay_side in ((server_bin, relay_bin), (server_json, relay_json)):
        assert len(server_side) >= 0.9 * len(frames) and len(relay_side) >= 0.9 * len(frames)  # newest-wins drops aside
        common = sorted(server_side.keys() & relay_side.keys())
        assert len(common) >= 0.9 * len(frames)
        for seq in common:
            _same_frame(server_side[seq], relay_side[seq])
    assert "raw_joints" in relay_bin[common[0]] and "raw_joints" not in relay_json[common[0]]


@pytest.mark.slow
def test_a_relay_tells_its_clients_when_redis_is_lost_and_found(redis_server: Any, clip_frames: Callable[[int], list[PoseFrame]]) -> None:
    """Redis killed and restarted on its port: the relay's client stays connected, gets
    source_lost and then source_found naming Redis, and frames flow again afterwards."""
    url = redis_server.url("stage")
    frames = _frames(clip_frames, 170)
    statuses: list[dict] = []
    with Publisher(url, frames) as pub, Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0), **FAST)) as relay:

        async def main() -> dict:
            client = asyncio.create_task(_collect(relay.url, "binary", pub.finished, statuses=statuses))
            await asyncio.sleep(1.0)
            pub.go()
            while pub.sent < 40:
                await asyncio.sleep(0.05)
            redis_server.stop()
            while relay.connected or pub.sent < 80:
                await asyncio.sleep(0.05)
            redis_server.start()
            return (await client)[1]

        got = asyncio.run(main())
        reconnects = relay.reconnects
    events = [s["event"] for s in statuses]
    lost, found = events.index("source_lost"), events.index("source_found")
    assert lost < found and "Redis" in statuses[lost]["message"] and statuses[found]["source"] == url
    assert reconnects == 1
    before = [s for s in got if s < 40]
    after = [s for s in got if s >= 100]
    assert len(before) >= 30 and len(after) >= 50  # the stream resumed on the same connection


def _start_relay_process(url: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "realtime.commands", "relay", url, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"stream (ws://\S+)", line)
    assert m, line
    return proc, m.group(1)


@pytest.mark.slow
def test_relay_clients_keep_streaming_while_another_relay_is_killed_and_restarted(
    redis_server: Any, clip_frames: Callable[[int], list[PoseFrame]]
) -> None:
    """Two relays (one in its own process); that process is killed (SIGKILL) and started again:
    the other relay's client gets every frame meanwhile, and the restarted relay's new client streams."""
    url = redis_server.url("stage")
    frames = _frames(clip_frames, 170)
    with Publisher(url, frames) as pub, Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0), **FAST)) as relay:
        other, other_url = _start_relay_process(url)
        try:

            async def main() -> tuple[dict, dict, dict]:
                steady = asyncio.create_task(_collect(relay.url, "binary", pub.finished))
                victim = asyncio.create_task(_collect(other_url, "binary", lambda: pub.sent >= 60))
                await asyncio.sleep(1.0)
                pub.go()
                got_victim = (await victim)[1]
                other.kill()
                other.wait(10)
                nonlocal restarted
                restarted, restarted_url = await asyncio.to_thread(_start_relay_process, url)
                got_restarted = (await _collect(restarted_url, "binary", pub.finished))[1]
                return (await steady)[1], got_victim, got_restarted

            restarted: subprocess.Popen[str] | None = None
            got_steady, got_victim, got_restarted = asyncio.run(main())
        finally:
            for p in (other, restarted):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait(10)
    seqs = sorted(got_steady)
    assert seqs[0] <= 2 and seqs[-1] == len(frames) - 1
    assert len(seqs) >= 0.95 * len(frames)  # every frame but newest-wins drops, through the other relay's death and restart
    assert got_victim and max(got_victim) >= 55
    assert got_restarted and min(got_restarted) > max(got_victim) and max(got_restarted) == len(frames) - 1


async def _raw_collect(url: str, fields: tuple[str, ...], until: Callable[[], bool]) -> tuple[list[dict], dict[int, dict]]:
    """A client reading every message itself: (its ``rig`` messages, {seq: frame})."""
    import websockets

    from skeletor.protocol import decode_message, encode_subscribe

    rigs: list[dict] = []
    got: dict[int, dict] = {}
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        await ws.send(encode_subscribe("binary", fields))
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            try:
                msg = decode_message(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                continue
            if msg["type"] == "rig":
                rigs.append(msg)
            elif msg["type"] == "frame":
                got[msg["seq"]] = msg
    return rigs, got


@pytest.mark.slow
def test_rotations_reach_relay_clients_and_are_solved_only_while_wanted(redis_server: Any, rigged_frames: list[PoseFrame]) -> None:
    """The publisher solves the rig only while a relay's client subscribes to ``rotations``
    (through CHANNEL:wants_rig); that client then gets the server client's ``rig`` message and
    rotations, and a relay started later gets the rest rig from Redis."""
    url = redis_server.url("stage")
    frames = [f for f in rigged_frames if f.rig is not None]
    fields = ("joints", "rotations")
    with Publisher(url, frames) as pub, Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0), **FAST)) as relay:
        assert not pub.redis.wants_rig and not pub.sinks.wants_rig

        async def main() -> tuple:
            server_side = asyncio.create_task(_raw_collect(pub.url, fields, pub.finished))
            relay_side = asyncio.create_task(_raw_collect(relay.url, fields, pub.finished))
            deadline = time.monotonic() + 10
            while not pub.redis.wants_rig and time.monotonic() < deadline:
                pub.redis.write(frames[0])  # wants_rig is read from Redis as frames are published
                await asyncio.sleep(0.2)
            wanted = pub.redis.wants_rig
            pub.go()
            return wanted, await server_side, await relay_side

        wanted, (server_rigs, server_frames), (relay_rigs, relay_frames) = asyncio.run(main())
        with Relay(RelayConfig(parse_redis_url(url), ServerConfig(port=0), **FAST)) as late:
            end = time.monotonic() + 2.0
            late_rigs, _ = asyncio.run(_raw_collect(late.url, fields, lambda: time.monotonic() > end))
    assert wanted
    assert server_rigs and [r["rig_version"] for r in relay_rigs][-1:] == [server_rigs[-1]["rig_version"]]
    np.testing.assert_array_equal(relay_rigs[-1]["rest_offsets"], server_rigs[-1]["rest_offsets"])
    common = sorted(server_frames.keys() & relay_frames.keys())
    assert len(common) >= 0.9 * len(frames)
    for seq in common:
        for key in ("rotations", "rotations_valid", "hips_position", "rig_version"):
            np.testing.assert_array_equal(relay_frames[seq][key], server_frames[seq][key])
    assert late_rigs and late_rigs[0]["rig_version"] == server_rigs[-1]["rig_version"]
