"""The websocket server, run for real on 127.0.0.1 port 0: messages as documented, many
clients, a stalled client, bad input, token and origin checks, shutdown.

Every test is bounded (``run`` puts a deadline on it); frames come from a synthetic T-pose.
``synthetic_frame`` is also used by test_client.py and test_viewer_browser.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.server import PoseServer, ServerConfig, security_warnings
from skeletor.protocol import ErrorCode, PoseFrame, StatusEvent, decode_frame
from skeletor.pose.skeleton import HOLISTIC75

T = TypeVar("T")

# ---------------------------------------------------------------- synthetic poses

_HAND_X = np.array([0.0] + [0.03 * k + 0.02 for _ in range(5) for k in range(1, 5)])  # 21 hand points, outwards
_HAND_Y = np.array([0.0] + [(f - 2) * 0.02 for f in range(5) for _ in range(4)])


def t_pose() -> np.ndarray:
    """A holistic75 T-pose in the camera frame (x right, y down, z forward), metres, 2.5 m from the camera.

    The subject faces the camera, so their left side is on the image's right (+x).
    """
    p = np.zeros((75, 3), np.float32)
    side = {"left": 1.0, "right": -1.0}
    p[0] = (0, -0.65, 2.40)
    for s, base in (("left", 1), ("right", 4)):
        for k in range(3):  # eye inner, eye, eye outer
            p[base + k] = (side[s] * (0.015 + 0.015 * k), -0.68, 2.42)
    body = {
        "ear": (0.075, -0.66, 2.47), "mouth": (0.025, -0.62, 2.41), "shoulder": (0.18, -0.45, 2.5),
        "elbow": (0.45, -0.45, 2.5), "wrist": (0.70, -0.45, 2.5), "pinky": (0.78, -0.43, 2.5),
        "index": (0.79, -0.45, 2.5), "thumb": (0.75, -0.47, 2.48), "hip": (0.10, 0.0, 2.5),
        "knee": (0.10, 0.45, 2.5), "ankle": (0.10, 0.88, 2.52), "heel": (0.10, 0.92, 2.56), "foot_index": (0.10, 0.93, 2.40),
    }  # fmt: skip
    for i, name in enumerate(HOLISTIC75.joints[:33]):
        for s in side:
            part = name.replace(f"{s}_", "").replace(f"_{s}", "")
            if s in name and part in body:
                x, y, z = body[part]
                p[i] = (side[s] * x, y, z)
    for start, wrist, sign in ((33, 15, 1.0), (54, 16, -1.0)):
        p[start : start + 21] = p[wrist] + np.stack([sign * _HAND_X, _HAND_Y, np.zeros(21)], axis=1)
    return p


_T_POSE = t_pose()


def synthetic_frame(seq: int, t_capture_ns: int | None = None) -> PoseFrame:
    """A T-pose swaying a little (period 2 s at 30 fps), with a raw pose and stage latencies."""
    phase = 2 * math.pi * seq / 60
    joints = _T_POSE.copy()
    joints[:, 0] += 0.05 * math.sin(phase)
    joints[13:23, 1] -= 0.1 * (1 + math.sin(phase))  # arms wave
    joints[33:, 1] -= 0.1 * (1 + math.sin(phase))
    conf = np.ones(75, np.float32)
    raw = joints + np.float32(0.01) * np.cos(np.arange(225, dtype=np.float32) + seq).reshape(75, 3)
    return PoseFrame(
        seq=seq,
        t_capture_ns=time.time_ns() if t_capture_ns is None else t_capture_ns,
        joints=joints,
        confidence=conf,
        raw_joints=raw,
        latency_ms={"detect": 9.5, "uplift": 0.4, "refine": 1.1},
    )


# ---------------------------------------------------------------- helpers


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Run a coroutine with a hard deadline (no pytest-asyncio needed)."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def server_config(**kw: Any) -> ServerConfig:
    """Port 0, quick closing: the test setup."""
    return ServerConfig(**{"port": 0, "close_timeout_s": 1.0, **kw})



class Feeder:
    """Publishes synthetic frames at ``rate_hz`` from a task on the server's loop."""

    def __init__(self, server: PoseServer, rate_hz: float) -> None:
        self.server, self.period, self.seq = server, 1.0 / rate_hz, 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            self.server.publish(synthetic_frame(self.seq))
            self.seq += 1
            due += self.period
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def __aenter__(self) -> Feeder:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def open_client(server: PoseServer, subscribe: dict[str, Any] | None = None, **kw: Any) -> ClientConnection:
    """Connect, read hello, optionally subscribe and wait for the answer."""
    ws = await connect(server.url, compression=None, **kw)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    if subscribe is not None:
        await ws.send(json.dumps({"type": "subscribe", **subscribe}))
        while True:
            msg = await ws.recv()
            if isinstance(msg, str) and json.loads(msg)["type"] == "subscribed":
                break
    return ws


async def collect(ws: ClientConnection, seconds: float) -> list[tuple[int, float]]:
    """(seq, latency ms = receipt - capture) of every frame received for ``seconds``."""
    out: list[tuple[int, float]] = []
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            async with asyncio.timeout(left):
                data = await ws.recv()
            if isinstance(data, bytes) or '"type":"frame"' in data:
                f = decode_frame(data)
                out.append((f["seq"], (time.time_ns() - f["t_capture_ns"]) / 1e6))
    except TimeoutError:
        pass
    return out


async def expect_close(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, list[Any]]:
    """Read until the server closes; returns the close code and the text messages seen."""
    seen: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                m = await ws.recv()
                if isinstance(m, str):
                    seen.append(json.loads(m))
    except ConnectionClosed as e:
        return (e.rcvd.code if e.rcvd else None), seen
    raise AssertionError("not closed")


async def next_of_type(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            m = await ws.recv()
            if isinstance(m, str) and (msg := json.loads(m))["type"] == kind:
                return msg


async def raw_http(port: int, request: str, read_all: bool = True) -> tuple[str, dict[str, str], bytes, socket.socket]:
    """Send a raw HTTP request; returns the status line, headers, body and the open socket."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, request.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = await loop.sock_recv(sock, 1)  # byte by byte: leave websocket frames unread
        if not chunk:
            break
        buf += chunk
    head, _, _ = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    body = b""
    if read_all:
        while chunk := await loop.sock_recv(sock, 65536):
            body += chunk
        sock.close()
    return lines[0], headers, body, sock


def handshake(port: int, path: str = "/ws", **headers: str) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    host = headers.pop("Host", None) or f"127.0.0.1:{port}"
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )


def masked_text_frame(text: str) -> bytes:
    """A client -> server websocket text frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


async def wait_until(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- messages as documented


def test_hello_as_documented() -> None:
    async def main() -> None:
        async with PoseServer(server_config(), fps=30.0) as server:
            async with connect(server.url, compression=None) as ws:
                hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["protocol"] == 1
        assert hello["skeleton"]["name"] == "holistic75"
        assert hello["skeleton"]["joints"] == list(HOLISTIC75.joints)
        assert hello["skeleton"]["parents"] == list(HOLISTIC75.parents)
        assert hello["skeleton"]["edges"] == [list(e) for e in HOLISTIC75.edges]
        assert hello["units"] == "m" and hello["axes"] == {"x": "right", "y": "down", "z": "forward"}
        assert hello["fps"] == 30.0

    run(main())


def test_json_and_binary_frames_as_documented() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            default = await open_client(server)  # never subscribes: JSON, default fields
            js = await open_client(server, {"format": "json", "fields": ["joints", "raw_joints"]})
            binary = await open_client(server, {"format": "binary", "fields": ["joints", "confidence", "raw_joints", "latency_ms"], "max_rate_hz": None})
            frame = synthetic_frame(42)
            before = time.time_ns()
            server.publish(frame)
            d = json.loads(await default.recv())
            assert list(d) == ["type", "seq", "t_capture_ns", "t_send_ns", "joints", "confidence", "latency_ms"]
            assert d["seq"] == 42 and d["t_capture_ns"] == frame.t_capture_ns and before <= d["t_send_ns"] <= time.time_ns()
            np.testing.assert_allclose(d["joints"], frame.joints, atol=6e-6)
            assert d["confidence"] == [1.0] * 75 and d["latency_ms"] == {"detect": 9.5, "uplift": 0.4, "refine": 1.1}
            j = json.loads(await js.recv())
            assert list(j) == ["type", "seq", "t_capture_ns", "t_send_ns", "joints", "raw_joints"]
            assert frame.raw_joints is not None
            np.testing.assert_allclose(j["raw_joints"], frame.raw_joints, atol=6e-6)
            b = await binary.recv()
            assert isinstance(b, bytes) and b[:4] == b"SKLT" and struct.unpack_from("<H", b, 6) == (15,)
            m = decode_frame(b)
            np.testing.assert_array_equal(m["joints"], frame.joints)
            np.testing.assert_array_equal(m["raw_joints"], frame.raw_joints)
            np.testing.assert_array_equal(m["confidence"], frame.confidence)
            assert m["seq"] == 42 and before <= m["t_send_ns"] <= time.time_ns()  # stamped when this variant was encoded
            for ws in (default, js, binary):
                await ws.close()

    run(main())


def test_publish_from_another_thread() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            ws = await open_client(server, {"format": "binary", "fields": ["joints"]})
            n = 200

            def pipeline() -> None:
                for i in range(n):
                    server.publish(synthetic_frame(i))
                    time.sleep(0.002)

            thread = threading.Thread(target=pipeline)
            thread.start()
            seqs = [s for s, _ in await collect(ws, 1.5)]
            thread.join(5)
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[-1] == n - 1
            assert len(seqs) > n // 2
            assert server.frames_published + server.frames_coalesced == n
            await ws.close()

    run(main())


def test_max_rate_hz_skips_frames() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            slow = await open_client(server, {"format": "binary", "fields": [], "max_rate_hz": 10})
            fast = await open_client(server, {"format": "binary", "fields": []})
            async with Feeder(server, 50):
                got_slow, got_fast = await asyncio.gather(collect(slow, 1.5), collect(fast, 1.5))
                assert len(await slow.recv()) == 40  # fields [] -> the header alone
            assert 11 <= len(got_slow) <= 19, len(got_slow)  # 10 Hz for 1.5 s
            assert len(got_fast) >= 60
            await slow.close()
            await fast.close()

    run(main())


def test_publish_rejects_a_foreign_joint_count() -> None:
    server = PoseServer(server_config())
    with pytest.raises(ValueError, match="75"):
        server.publish(PoseFrame(0, 0, np.zeros((50, 3)), np.ones(50)))
    server.publish(synthetic_frame(0))  # not started: ignored


def test_status_messages_reach_current_and_later_clients() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            a = await open_client(server)
            server.publish_status(StatusEvent.SOURCE_LOST, "camera unplugged")
            server.publish_status(StatusEvent.NO_PERSON)
            s1 = await next_of_type(a, "status")
            s2 = await next_of_type(a, "status")
            assert (s1["event"], s1["message"], s2["event"]) == ("source_lost", "camera unplugged", "no_person")
            server.publish_status(StatusEvent.SOURCE_FOUND)
            await next_of_type(a, "status")
            b = await open_client(server)  # gets the current state right after hello
            events = {(await next_of_type(b, "status"))["event"] for _ in range(2)}
            assert events == {"source_found", "no_person"}
            await a.close()
            await b.close()

    run(main())


# ---------------------------------------------------------------- many clients, stalled client


def test_fifty_clients_all_receive_frames(capsys: pytest.CaptureFixture[str]) -> None:
    rate, seconds = 30.0, 2.0

    async def main() -> tuple[list[list[tuple[int, float]]], int]:
        async with PoseServer(server_config()) as server:
            clients = await asyncio.gather(
                *(open_client(server, {"format": "binary" if i % 2 else "json"}) for i in range(50))
            )
            assert server.num_clients == 50
            async with Feeder(server, rate) as feeder:
                got = await asyncio.gather(*(collect(ws, seconds) for ws in clients))
                published = feeder.seq
            await asyncio.gather(*(ws.close() for ws in clients))
            await wait_until(lambda: server.num_clients == 0)
            return got, published

    got, published = run(main())
    latencies = [lat for per_client in got for _, lat in per_client]
    counts = [len(g) for g in got]
    with capsys.disabled():
        print(f"\n50 clients, {published} frames at {rate:g} Hz: received per client min {min(counts)} max {max(counts)}; "
              f"delivery latency p50 {pct(latencies, 50):.2f} ms p95 {pct(latencies, 95):.2f} ms max {max(latencies):.1f} ms")  # fmt: skip
    assert min(counts) >= 0.8 * (rate * seconds - 3)
    for per_client in got:
        seqs = [s for s, _ in per_client]
        assert seqs == sorted(seqs)  # newest wins: never out of order
    assert pct(latencies, 50) < 50.0


def test_stalled_client_does_not_slow_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    rate, seconds, n = 100.0, 1.5, 10

    async def measure(stall: bool) -> tuple[list[list[tuple[int, float]]], dict[str, Any] | None]:
        async with PoseServer(server_config(ping_interval_s=None)) as server:
            stalled = None
            if stall:
                # A client that subscribes to the biggest frames, then never reads again.
                status, _, _, stalled = await raw_http(server.port, handshake(server.port), read_all=False)
                assert status.startswith("HTTP/1.1 101")
                sub = json.dumps({"type": "subscribe", "fields": ["joints", "confidence", "raw_joints", "latency_ms"]})
                await asyncio.get_running_loop().sock_sendall(stalled, masked_text_frame(sub))
            clients = await asyncio.gather(*(open_client(server, {"format": "json"}) for _ in range(n)))
            async with Feeder(server, rate):
                got = await asyncio.gather(*(collect(ws, seconds) for ws in clients))
            stats = [s for s in server.client_stats() if "raw_joints" in s["fields"]]
            await asyncio.gather(*(ws.close() for ws in clients))
            if stalled is not None:
                stalled.close()
            return got, (stats[0] if stats else None)

    base, _ = run(measure(False))
    with_stall, stalled_stats = run(measure(True))
    assert stalled_stats is not None

    def summary(got: list[list[tuple[int, float]]]) -> tuple[float, float, float]:
        lat = [v for g in got for _, v in g]
        return float(np.mean([len(g) for g in got])) / seconds, pct(lat, 50), pct(lat, 95)

    (fps0, p50_0, p95_0), (fps1, p50_1, p95_1) = summary(base), summary(with_stall)
    with capsys.disabled():
        print(f"\n{n} clients at {rate:g} Hz: without a stalled client {fps0:.1f} frames/s, latency p50 {p50_0:.2f} p95 {p95_0:.2f} ms; "
              f"with one {fps1:.1f} frames/s, p50 {p50_1:.2f} p95 {p95_1:.2f} ms; stalled client: {stalled_stats}")  # fmt: skip
    assert fps1 >= 0.85 * fps0
    assert p50_1 <= p50_0 + 10.0 and p95_1 <= max(3 * p95_0, p95_0 + 25.0)
    # The stalled client's (small) kernel buffer filled, then it was only ever handed the newest
    # frame. Without TCP_NOTSENT_LOWAT the kernel would swallow the whole test's output instead.
    if hasattr(socket, "TCP_NOTSENT_LOWAT"):
        assert stalled_stats["frames_dropped"] > 0
    assert stalled_stats["frames_sent"] + stalled_stats["frames_dropped"] >= stalled_stats["frames_offered"] - 1


def test_disconnects_are_cleaned_up_at_once() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            clients = [await open_client(server) for _ in range(3)]
            assert server.num_clients == 3
            await clients[0].close()
            clients[1].transport.abort()  # vanishes without a closing handshake
            await wait_until(lambda: server.num_clients == 1, timeout=2.0)
            async with Feeder(server, 50):
                assert len(await collect(clients[2], 0.3)) > 3
            await clients[2].close()
            await wait_until(lambda: server.num_clients == 0, timeout=2.0)

    run(main())


def test_max_clients_answers_503() -> None:
    async def main() -> None:
        async with PoseServer(server_config(max_clients=2)) as server:
            a, b = await open_client(server), await open_client(server)
            with pytest.raises(InvalidStatus) as e:
                await connect(server.url)
            assert e.value.response.status_code == 503
            await a.close()
            await wait_until(lambda: server.num_clients == 1)
            c = await open_client(server)
            await b.close()
            await c.close()

    run(main())


# ---------------------------------------------------------------- bad input


def test_malformed_messages_get_errors_or_close_codes_and_others_keep_receiving() -> None:
    async def main() -> None:
        async with PoseServer(server_config(max_errors=5)) as server, Feeder(server, 50) as feeder:
            observer = await open_client(server, {"format": "binary", "fields": ["joints"]})
            seen: list[int] = []

            async def watch() -> None:
                while True:
                    seen.append(decode_frame(await observer.recv())["seq"])

            watcher = asyncio.create_task(watch())

            # Recoverable: an error message, and the connection stays usable.
            ws = await open_client(server)
            bad_messages: list[tuple[str, int]] = [
                ("this is not json", ErrorCode.INVALID_JSON),
                ("[1, 2, 3]", ErrorCode.INVALID_JSON),
                ('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE),
                ('{"type": "subscribe", "fields": ["bones"]}', ErrorCode.INVALID_MESSAGE),
            ]
            for bad, expected in bad_messages:
                await ws.send(bad)
                err = await next_of_type(ws, "error")
                assert err["code"] == expected and isinstance(err["message"], str)
            await ws.send('{"type": "subscribe", "format": "binary"}')
            assert (await next_of_type(ws, "subscribed"))["format"] == "binary"
            # The fifth invalid message is one too many: policy violation.
            await ws.send('{"type": "subscribe", "max_rate_hz": "fast"}')
            code, msgs = await expect_close(ws)
            assert code == 1008 and [m["code"] for m in msgs if m["type"] == "error"][-2:] == [4001, ErrorCode.TOO_MANY_ERRORS]

            # Binary garbage: error, then 1003.
            ws = await open_client(server)
            await ws.send(b"\x00\xff\xfe garbage \x81")
            code, msgs = await expect_close(ws)
            assert code == 1003 and msgs[-1] == {"type": "error", "code": 4003, "message": "binary messages are not accepted; send JSON text"}

            # Oversized: closed with 1009 by the websocket layer before any parsing.
            ws = await open_client(server)
            await ws.send('{"type": "subscribe", "pad": "' + "x" * (64 * 1024) + '"}')
            code, _ = await expect_close(ws)
            assert code == 1009

            # Garbage that is not even a websocket frame: the connection is failed (1002), nothing else.
            _, _, _, sock = await raw_http(server.port, handshake(server.port), read_all=False)
            await asyncio.get_running_loop().sock_sendall(sock, os.urandom(64))
            sock.close()

            n = len(seen)
            await asyncio.sleep(0.3)
            assert len(seen) > n + 5, "the observer stopped receiving"
            assert seen == sorted(seen) and seen[-1] >= feeder.seq - 3
            assert server.num_clients == 1
            watcher.cancel()
            await observer.close()

    run(main())


# ---------------------------------------------------------------- security


def test_token_is_required_when_set() -> None:
    async def main() -> None:
        async with PoseServer(server_config(token="s3cret")) as server:
            for headers in (None, {"Authorization": "Bearer wrong"}):
                with pytest.raises(InvalidStatus) as e:
                    await connect(server.url, additional_headers=headers)
                assert e.value.response.status_code == 401
                assert e.value.response.headers["WWW-Authenticate"].startswith("Bearer")
            with pytest.raises(InvalidStatus) as e:
                await connect(server.url + "?token=s3cre")
            assert e.value.response.status_code == 401
            a = await open_client(server, additional_headers={"Authorization": "Bearer s3cret"})
            ws = await connect(server.url + "?token=s3cret")
            assert json.loads(await ws.recv())["type"] == "hello"
            status, _, body, _ = await raw_http(server.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n")
            assert status.startswith("HTTP/1.1 200") and b"viewer.js" in body  # the page itself is public
            await a.close()
            await ws.close()

    run(main())


def test_origins_are_checked() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            port = server.port
            for origin in ("https://evil.example", f"http://evil.example:{port}", "null"):
                with pytest.raises(InvalidStatus) as e:
                    await connect(server.url, origin=origin)  # type: ignore[arg-type]
                assert e.value.response.status_code == 403, origin
            for good in (f"http://127.0.0.1:{port}", "http://localhost:3000", None):
                ws = await open_client(server, origin=good)
                await ws.close()
            # DNS rebinding: a page on a domain name that resolves here is not "same origin".
            status, *_ = await raw_http(port, handshake(port, Origin=f"http://rebind.example:{port}", Host=f"rebind.example:{port}"))
            assert status.startswith("HTTP/1.1 403")
        async with PoseServer(server_config(allowed_origins=("https://tool.example",))) as server:
            ws = await open_client(server, origin="https://tool.example")
            await ws.close()
            with pytest.raises(InvalidStatus) as e:
                await connect(server.url, origin="https://tool.example.evil")  # type: ignore[arg-type]
            assert e.value.response.status_code == 403

    run(main())


def test_security_warnings() -> None:
    assert security_warnings(ServerConfig()) == []
    assert security_warnings(ServerConfig(host="::1")) == []
    assert security_warnings(ServerConfig(host="localhost")) == []
    (w,) = security_warnings(ServerConfig(host="0.0.0.0"))
    assert "without a token" in w
    assert security_warnings(ServerConfig(host="0.0.0.0", token="t")) == []
    assert len(security_warnings(ServerConfig(host="192.168.1.20", allowed_origins=("*",)))) == 2


def test_start_logs_security_warnings(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with PoseServer(server_config(allowed_origins=("*",))):
            pass

    with caplog.at_level(logging.WARNING, logger="realtime.server"):
        run(main())
    assert any(r.levelno == logging.WARNING and "'*'" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- HTTP and shutdown


def test_http_serves_the_viewer_and_nothing_else() -> None:
    async def main() -> None:
        async with PoseServer(server_config()) as server:
            port = server.port

            async def get(path: str) -> tuple[str, dict[str, str], bytes]:
                status, headers, body, _ = await raw_http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
                return status, headers, body

            status, headers, body = await get("/")
            assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/html")
            assert b'<script src="viewer.js"></script>' in body and b"http" not in body.replace(b"http-equiv", b"")
            assert "default-src 'self'" in headers["content-security-policy"]
            status, headers, body = await get("/viewer.js")
            assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/javascript")
            assert b"viewerStats" in body and int(headers["content-length"]) == len(body)
            for path in ("/../server.py", "/%2e%2e/server.py", "/viewer/../../server.py", "/nope.html", "/ws/x"):
                status, _, _ = await get(path)
                assert status.startswith("HTTP/1.1 404"), path
            status, _, _ = await get("/ws")
            assert status.startswith("HTTP/1.1 426")  # a plain GET on the stream: upgrade required

    run(main())


def test_stop_closes_clients_with_1001() -> None:
    async def main() -> None:
        server = PoseServer(server_config())
        await server.start()
        clients = [await open_client(server) for _ in range(3)]
        t0 = time.monotonic()
        async with Feeder(server, 30):
            await asyncio.sleep(0.1)
            await server.stop()
        assert time.monotonic() - t0 < 3.0
        for ws in clients:
            code, _ = await expect_close(ws)
            assert code == 1001
        with pytest.raises(OSError):
            await connect(f"ws://127.0.0.1:{clients[0].remote_address[1]}/ws", open_timeout=2)

    run(main())
