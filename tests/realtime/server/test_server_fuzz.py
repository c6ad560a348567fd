"""Fuzzing the live server on loopback: many connections send random and malformed traffic
(every message kind with out-of-range and wrong-typed fields, huge, binary, cut short,
invalid UTF-8, broken websocket frames, broken HTTP) while a healthy client counts its
frames. The server stays up, the healthy client gets >= 90 % of the frames published in the
same window (a ratio of counts, not a rate), and the log grows by at most one line per bad
client. Bounded: a few examples of a dozen clients, each client done within about a second."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.server import ServerConfig, ServerThread
from realtime.sources import DemoConfig, DemoSource
from skeletor.protocol import MessageType, PoseFrame

PUBLISH_HZ = 30.0
MIN_WINDOW = 30  # frames: the healthy client's share is counted over at least this many

# ------------------------------------------------------------------ what bad clients send

_odd_numbers = st.sampled_from([0, -1, 1e-300, 1e-310, 5e-324, -0.0, 1e308, 2**64 + 1, 10**400, 0.1, 1000.0, 1000.0001, float("nan"), float("inf")])
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _odd_numbers | st.text(max_size=20) | st.sampled_from(["json", "binary", "joints"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=15)
_keys = st.sampled_from(["type", "protocol", "format", "fields", "max_rate_hz", "seq", "joints", "event", "code"]) | st.text(max_size=10)
_messages = st.builds(lambda t, extra: {"type": t, **extra}, st.sampled_from([m.value for m in MessageType] + ["nope"]) | _values,
                      st.dictionaries(_keys, _values, max_size=6))  # fmt: skip
_text = _messages.map(lambda m: json.dumps(m, allow_nan=True).encode())
# Payloads of text frames: JSON messages, cut short, invalid UTF-8, huge; and binary frames.
_payloads = (
    _text
    | st.tuples(_text, st.floats(0, 1)).map(lambda p: p[0][: int(len(p[0]) * p[1])])
    | st.binary(max_size=64).map(lambda b: b"\xff" + b)  # never valid UTF-8
    | st.sampled_from([b"\xed\xa0\x80", b"x" * 70_000, b"[" * 20_000])
)


@dataclass
class Frame:
    """One websocket frame as a client would put it on the wire, possibly broken."""

    opcode: int = 1  # 1 text, 2 binary, 0 continuation, 8 close, 9 ping, 10 pong, others reserved
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = True  # clients must mask
    length_delta: int = 0  # declared length minus real length (a lie when not 0)

    def encode(self) -> bytes:
        n = max(0, len(self.payload) + self.length_delta)
        b0 = (0x80 if self.fin else 0) | (self.rsv & 7) << 4 | (self.opcode & 15)
        m = 0x80 if self.masked else 0
        if n < 126:
            head = bytes([b0, m | n])
        elif n < 1 << 16:
            head = bytes([b0, m | 126]) + struct.pack("!H", n)
        else:
            head = bytes([b0, m | 127]) + struct.pack("!Q", min(n, (1 << 63) - 1))
        payload = self.payload
        if self.masked:
            key = os.urandom(4)
            mask = (key * (len(payload) // 4 + 1))[: len(payload)]
            payload = (np.frombuffer(payload, np.uint8) ^ np.frombuffer(mask, np.uint8)).tobytes()
            head += key
        return head + payload


_frames = st.builds(
    Frame,
    opcode=st.sampled_from([1, 1, 1, 2, 0, 8, 9, 10]) | st.integers(0, 15),
    payload=_payloads | st.binary(max_size=200),
    fin=st.sampled_from([True, True, True, False]),
    rsv=st.sampled_from([0, 0, 0, 1, 4]),
    masked=st.sampled_from([True, True, True, False]),
    length_delta=st.sampled_from([0, 0, 0, 0, -1, 5, 1 << 40]),
)


@dataclass
class BadClient:
    """A connection's script: an HTTP request (the real handshake unless broken), frames, and how it ends."""

    request: bytes | None  # None: a proper websocket handshake
    frames: list[Frame]
    flood: int  # invalid messages sent after the frames (16 or more: the server closes with 1008)
    cut: int | None  # send only this many bytes of the frames
    reset: bool  # end with a TCP reset instead of reading the server's answer


_requests = st.none() | st.sampled_from([
    b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",  # no upgrade
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",  # no key
    b"GET /ws HTTP/1.1\r\nHost",  # cut short
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
    b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\nxx",
]) | st.binary(min_size=1, max_size=100)  # fmt: skip
_bad_clients = st.builds(
    BadClient,
    request=st.sampled_from([None, None, None]) | _requests,
    frames=st.lists(_frames, min_size=1, max_size=4),
    flood=st.sampled_from([0, 0, 20]),
    cut=st.none() | st.integers(1, 30),
    reset=st.booleans(),
)


def _handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()  # fmt: skip


async def _run_bad_client(port: int, script: BadClient) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        if script.request is not None:
            w.write(script.request)
        else:
            w.write(_handshake(port))
            await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            data = b"".join(f.encode() for f in script.frames) + Frame(1, b"{}").encode() * script.flood
            w.write(data[: script.cut] if script.cut is not None else data)
        await w.drain()
        if script.reset:
            w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        await asyncio.wait_for(r.read(), 1.0)  # the server's answer, up to its closing the connection
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        w.close()


# ------------------------------------------------------------------ the healthy side


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _publisher(server: ServerThread, stop: threading.Event, count: list[int]) -> None:
    """The pipeline's part: demo poses at PUBLISH_HZ, seq = how many were published before."""
    demo = DemoSource(DemoConfig(paced=False))
    poses = [demo.truth(i) for i in range(60)]
    conf = np.ones(len(poses[0]), np.float32)
    i = 0
    while not stop.wait(1.0 / PUBLISH_HZ):
        server.publish(PoseFrame(seq=i, t_capture_ns=0, joints=poses[i % len(poses)], confidence=conf))
        i += 1
        count[0] = i


async def _session(server: ServerThread, published: list[int], bad: list[BadClient], lines: _Lines) -> tuple[float, int, int]:
    """A healthy client watches while the bad clients run; (share of frames it got, bad clients, log lines)."""
    seqs: list[int] = []
    first = asyncio.Event()

    async def healthy(ws: websockets.ClientConnection) -> None:
        async for msg in ws:
            obj = json.loads(msg)
            if obj["type"] == "frame":
                seqs.append(obj["seq"])
                first.set()

    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        watcher = asyncio.create_task(healthy(ws))
        await asyncio.wait_for(first.wait(), 10)
        lines.records.clear()
        start = published[0]
        await asyncio.gather(*(_run_bad_client(server.port, b) for b in bad))
        while published[0] < start + MIN_WINDOW:  # a window long enough for a share to mean something
            await asyncio.sleep(0.02)
        end = published[0]
        for _ in range(100):  # the server finishes closing the bad connections (bounded)
            if server.server.num_clients == 1 and seqs and seqs[-1] >= end:
                break
            await asyncio.sleep(0.05)
        n_lines = len(lines.records)
        watcher.cancel()
    got = len({s for s in seqs if start <= s < end})
    return got / max(1, end - start), end - start, n_lines


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(bad=st.lists(_bad_clients, min_size=8, max_size=12))
def test_fuzzed_clients_never_stop_the_server_starve_a_healthy_one_or_flood_the_log(bad: list[BadClient]) -> None:
    lines = _Lines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(lines)
    root.setLevel(logging.INFO)
    stop = threading.Event()
    published = [0]
    try:
        with ServerThread(ServerConfig(port=0, max_errors=16), fps=PUBLISH_HZ) as server:
            feeder = threading.Thread(target=_publisher, args=(server, stop, published), daemon=True)
            feeder.start()
            share, window, n_lines = asyncio.run(asyncio.wait_for(_session(server, published, bad, lines), 60))
            stop.set()
            feeder.join(5)

            async def still_serving() -> str:
                async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                    return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]

            assert asyncio.run(still_serving()) == "hello"  # the server is up
    finally:
        stop.set()
        root.removeHandler(lines)
        root.setLevel(old_level)
    assert share >= 0.9, f"the healthy client got {share:.0%} of the {window} frames published while {len(bad)} bad clients ran"
    worst = [f"{r.levelname} {r.name}: {r.getMessage()[:120]}" for r in lines.records]
    assert n_lines <= len(bad), f"{n_lines} log lines for {len(bad)} bad clients:\n" + "\n".join(worst[:20])
    assert not any(r.exc_info for r in lines.records), "a traceback in the log:\n" + "\n".join(worst)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (Frame(1, b"\xff\xfe{}"), 1007),  # text that is not UTF-8
        (Frame(1, b"{}", masked=False), 1002),  # a client frame without a mask
        (Frame(3, b"x"), 1002),  # a reserved opcode
        (Frame(1, b"{}", rsv=4), 1002),  # a reserved bit
    ],
    ids=["invalid-utf8", "unmasked", "reserved-opcode", "reserved-bit"],
)
def test_broken_framing_is_closed_with_its_close_code(frame: Frame, code: int) -> None:
    """The codes docs/reliability.md lists for what the websocket layer itself refuses."""

    async def close_code(port: int) -> int:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(_handshake(port))
        await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        w.write(frame.encode())
        data = await asyncio.wait_for(r.read(), 5)  # hello, then the server's close frame, then EOF
        w.close()
        at = data.rfind(b"\x88")  # the close frame: 0x88, a length, then the code
        return struct.unpack("!H", data[at + 2 : at + 4])[0]

    with ServerThread(ServerConfig(port=0)) as server:
        assert asyncio.run(close_code(server.port)) == code
