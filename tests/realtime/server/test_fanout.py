"""The fan-out on a real server (127.0.0.1, port 0): one client's fault or stall closes that
client alone, with a code and one log line, while the clients before and after it keep
receiving; stalled clients give their ``max_clients`` place back.

Bounds here are deadlines for things to happen, never speeds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import struct
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection

import realtime.server.fanout as fanout
from realtime.server import PoseServer
from skeletor.protocol import ClientSession, SharedFrame, decode_frame
from test_server import (
    Feeder,
    expect_close,
    handshake,
    masked_text_frame,
    open_client,
    raw_http,
    run,
    server_config,
    synthetic_frame,
    wait_until,
)

POISON_RATE_HZ = 7.5  # the subscription that marks a client whose offers / encodings / sends fail


async def frames_after(ws: ClientConnection, after_seq: int, n: int, timeout: float = 20.0) -> list[int]:
    """The seqs of the first ``n`` frames with a seq above ``after_seq`` (fails if they do not come)."""
    seqs: list[int] = []
    async with asyncio.timeout(timeout):
        while len(seqs) < n:
            data = await ws.recv()
            if isinstance(data, bytes) or '"type":"frame"' in data:
                seq = decode_frame(data)["seq"]
                if seq > after_seq:
                    seqs.append(seq)
    return seqs


def inject_fault(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Make every ``where`` (offer, encode or send) fail for clients subscribed at POISON_RATE_HZ."""
    if where == "offer":  # what an overflowing rate gate did (issue: max_rate_hz 1e-300)
        offer = ClientSession.offer

        def failing_offer(self: ClientSession, frame: SharedFrame, now_ns: int) -> bool:
            if self.subscription.max_rate_hz == POISON_RATE_HZ:
                raise OverflowError("cannot convert float infinity to integer")
            return offer(self, frame, now_ns)

        monkeypatch.setattr(ClientSession, "offer", failing_offer)
    elif where == "encode":
        encoded = SharedFrame.encoded

        def failing_encoded(self: SharedFrame, sub: Any) -> str | bytes:
            if sub.max_rate_hz == POISON_RATE_HZ:
                raise ValueError("cannot encode this frame")
            return encoded(self, sub)

        monkeypatch.setattr(SharedFrame, "encoded", failing_encoded)
    else:  # every way a message leaves: the direct writes (framed bytes, broadcast) and the sender task's awaited send
        broadcast, write_frame, send = fanout.broadcast, fanout._write_frame, ServerConnection.send  # noqa: SLF001

        def poisoned(ws: ServerConnection) -> bool:
            client = SERVERS[-1]._fanout.clients.get(id(ws))  # noqa: SLF001
            return client is not None and client.session.subscription.max_rate_hz == POISON_RATE_HZ

        def failing_broadcast(connections: Any, message: Any, **kw: Any) -> None:
            connections = list(connections)
            if any(poisoned(c) for c in connections):
                raise ExceptionGroup("skipped broadcast", [RuntimeError("failed to write message")])
            broadcast(connections, message, **kw)

        def failing_write_frame(ws: ServerConnection, data: bytes) -> None:
            if poisoned(ws):
                raise ConnectionResetError("the write failed")
            write_frame(ws, data)

        async def failing_send(self: ServerConnection, message: Any, **kw: Any) -> None:
            if poisoned(self):
                raise ConnectionResetError("the write failed")
            await send(self, message, **kw)

        monkeypatch.setattr(fanout, "broadcast", failing_broadcast)
        monkeypatch.setattr(fanout, "_write_frame", failing_write_frame)
        monkeypatch.setattr(ServerConnection, "send", failing_send)


SERVERS: list[PoseServer] = []  # the server under test, for the send fault


@pytest.mark.parametrize("where", ["offer", "encode", "send"])
def test_a_client_that_fails_is_closed_with_1011_and_the_others_keep_receiving(
    where: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    inject_fault(monkeypatch, where)
    caplog.set_level(logging.INFO, logger="realtime.server")

    async def main() -> None:
        async with PoseServer(server_config()) as server, Feeder(server, 60) as feeder:
            SERVERS.append(server)
            before = await open_client(server, {"format": "json"})
            poisoned = []
            for _ in range(2):
                ws = await open_client(server)
                await ws.send(json.dumps({"type": "subscribe", "max_rate_hz": POISON_RATE_HZ}))
                poisoned.append(ws)
            for ws in poisoned:
                code, _ = await expect_close(ws, timeout=10.0)
                assert code == 1011 and ws.close_reason and "internal error" in ws.close_reason
            closed_at = feeder.seq
            after = await open_client(server, {"format": "binary"})
            for ws in (before, after):  # before and after the faulty ones: frames go on, in order
                seqs = await frames_after(ws, closed_at, 10)
                assert seqs == sorted(set(seqs))
            await wait_until(lambda: server.num_clients == 2)
            assert server.stats.clients_failed == 2
            assert feeder.seq - closed_at >= 10  # frames kept coming while the faulty clients were gone
            await before.close()
            await after.close()

    run(main())
    errors = [r for r in caplog.records if r.name == "realtime.server.fanout" and r.levelno >= logging.ERROR]
    assert len(errors) == 2, [r.getMessage() for r in errors]  # one line per failing client, not one per frame
    assert all("closing it with 1011" in r.getMessage() and "\n" not in r.getMessage() for r in errors)
    assert not [r for r in caplog.records if r.name.startswith("asyncio") and r.levelno >= logging.ERROR]


async def stalled_client(port: int) -> Any:
    """A websocket client that subscribes to the biggest frames, then never reads (4 KiB receive buffer)."""
    status, _, _, sock = await raw_http(port, handshake(port), read_all=False)
    assert status.startswith("HTTP/1.1 101")
    sub = json.dumps({"type": "subscribe", "fields": ["joints", "confidence", "raw_joints", "latency_ms"]})
    await asyncio.get_running_loop().sock_sendall(sock, masked_text_frame(sub))
    return sock


def test_stalled_clients_are_dropped_and_their_places_freed(caplog: pytest.LogCaptureFixture) -> None:
    """Clients whose socket buffers are full are closed after ``send_timeout_s`` (keepalive off
    here: a ping behind a full buffer is never sent), while a healthy client keeps receiving."""
    caplog.set_level(logging.INFO, logger="realtime.server")
    stalled_n = 3

    async def main() -> None:
        config = server_config(ping_interval_s=None, send_timeout_s=0.5, close_timeout_s=0.5, max_clients=stalled_n + 1)
        async with PoseServer(config) as server, Feeder(server, 100) as feeder:
            healthy = await open_client(server, {"format": "json"})
            socks = [await stalled_client(server.port) for _ in range(stalled_n)]
            await wait_until(lambda: server.num_clients == stalled_n + 1)
            start = feeder.seq
            seqs = await frames_after(healthy, start, 20)
            await wait_until(lambda: server.num_clients == 1, timeout=30.0)
            assert server.stats.clients_stalled == stalled_n
            dropped_at = feeder.seq
            assert seqs == sorted(set(seqs))
            assert await frames_after(healthy, dropped_at, 10)  # the healthy client never stopped
            # Their places are free again: max_clients more clients get in.
            more = [await open_client(server) for _ in range(stalled_n)]
            assert server.num_clients == stalled_n + 1
            for s in socks:
                s.close()
            for ws in (healthy, *more):
                await ws.close()

    run(main(), timeout=60.0)
    stalls = [r.getMessage() for r in caplog.records if r.name == "realtime.server.fanout" and "stalled" in r.getMessage()]
    assert len(stalls) == stalled_n and all("closing it with 1011" in m for m in stalls)


def test_a_silent_client_is_dropped_by_the_keepalive() -> None:
    """No frames flowing: a client that never answers a ping is closed after ping_interval + ping_timeout."""

    async def main() -> None:
        async with PoseServer(server_config(ping_interval_s=0.2, ping_timeout_s=0.2, close_timeout_s=0.5)) as server:
            sock = await stalled_client(server.port)
            await wait_until(lambda: server.num_clients == 1)
            await wait_until(lambda: server.num_clients == 0, timeout=10.0)
            sock.close()

    run(main())


def test_the_server_records_its_own_fanout_time() -> None:
    """Each frame that reached a client leaves one fan-out time (publish -> last send returned);
    each frame published to clients one pass time (publish -> pass done), of which the wait for
    the event loop is a part."""

    async def main() -> None:
        async with PoseServer(server_config()) as server:
            clients = [await open_client(server, {"format": f}) for f in ("json", "binary", "json")]
            async with Feeder(server, 60) as feeder:
                for ws in clients:
                    await frames_after(ws, 0, 10)
            times = list(server.stats.fanout_ms)
            assert 10 <= len(times) <= feeder.seq and all(t >= 0 for t in times)
            passes, waits = list(server.stats.fanout_pass_ms), list(server.stats.fanout_wait_ms)
            assert len(passes) == len(waits) == len(server.stats.fanout_cpu_ms) >= len(times)
            assert all(0 <= w <= p for w, p in zip(waits, passes, strict=True))
            for ws in clients:
                await ws.close()

    run(main())


def test_the_server_records_each_encoding_once_for_all_its_clients() -> None:
    """Three JSON clients with the same fields share one encoding a frame, and one time is
    recorded for it; a binary client adds one more encoding a frame, not one a client."""

    async def main() -> None:
        async with PoseServer(server_config()) as server:
            json_clients = [await open_client(server, {"format": "json"}) for _ in range(3)]
            async with Feeder(server, 60):
                for ws in json_clients:
                    await frames_after(ws, 0, 10)
            published = server.stats.frames_published
            json_only = list(server.stats.encode_ms)
            assert 10 <= len(json_only) <= published and all(t >= 0 for t in json_only)
            binary = await open_client(server, {"format": "binary"})
            async with Feeder(server, 60):
                await frames_after(binary, 0, 10)
            both = len(server.stats.encode_ms) - len(json_only)  # the binary client's 10 frames at least
            assert 10 <= both <= 2 * (server.stats.frames_published - published)  # at most one JSON + one binary a frame
            for ws in (*json_clients, binary):
                await ws.close()

    run(main())


def test_server_config_refuses_timeouts_that_are_not_positive() -> None:
    for name in ("ping_interval_s", "ping_timeout_s", "send_timeout_s", "close_timeout_s"):
        with pytest.raises(ValueError, match=name):
            server_config(**{name: 0})
    assert server_config(send_timeout_s=None).send_timeout_s is None


async def read_ws_frame(sock: Any) -> tuple[int, bytes, bytes]:
    """One server -> client websocket frame off a raw socket: (first byte, whole frame bytes, payload); fails if masked."""
    loop = asyncio.get_running_loop()

    async def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = await loop.sock_recv(sock, n - len(buf))
            assert chunk, "the server closed the connection"
            buf += chunk
        return buf

    head = await exactly(2)
    assert not head[1] & 0x80, "a server's frames are never masked"
    n = head[1] & 0x7F
    ext = await exactly({126: 2, 127: 8}.get(n, 0))
    if n == 126:
        n = struct.unpack(">H", ext)[0]
    elif n == 127:
        n = struct.unpack(">Q", ext)[0]
    payload = await exactly(n)
    return head[0], head + ext + payload, payload


def test_a_frame_is_one_websocket_frame_built_once_for_every_client() -> None:
    """Raw sockets read what the server writes: each frame is a complete, unmasked text (JSON) or
    binary frame, and clients of one variant get the very same bytes (one encoding, one framing)."""

    async def main() -> None:
        async with PoseServer(server_config()) as server:
            socks = []
            for fmt in ("json", "json", "binary"):
                status, _, _, sock = await raw_http(server.port, handshake(server.port), read_all=False)
                assert status.startswith("HTTP/1.1 101")
                opcode, _, hello = await read_ws_frame(sock)
                assert opcode == 0x81 and json.loads(hello)["type"] == "hello"
                await asyncio.get_running_loop().sock_sendall(sock, masked_text_frame(json.dumps({"type": "subscribe", "format": fmt})))
                opcode, _, answer = await read_ws_frame(sock)
                assert opcode == 0x81 and json.loads(answer)["type"] == "subscribed"
                socks.append(sock)
            await wait_until(lambda: server.num_clients == 3)
            frame = synthetic_frame(7)
            server.publish(frame)
            got = [await read_ws_frame(sock) for sock in socks]
            (op1, wire1, text1), (op2, wire2, _), (op3, _, binary) = got
            assert op1 == op2 == 0x81 and op3 == 0x82  # FIN + text, FIN + binary
            assert wire1 == wire2  # same bytes on the wire, t_send_ns included
            d = json.loads(text1)
            assert d["type"] == "frame" and d["seq"] == 7
            np.testing.assert_allclose(d["joints"], frame.joints, atol=6e-6)
            m = decode_frame(binary)
            assert m["seq"] == 7
            np.testing.assert_array_equal(m["joints"], frame.joints)
            for sock in socks:
                sock.close()

    run(main())


def test_clients_with_and_without_compression_get_the_same_frames() -> None:
    """With permessage-deflate on, a client that negotiated it gets each frame compressed for its
    own connection, and a client without it the shared bytes; both decode to the same frame."""

    async def main() -> None:
        async with PoseServer(server_config(compression=True)) as server:
            plain = await open_client(server, {"format": "json"})
            deflate = await connect(server.url, compression="deflate")
            assert json.loads(await deflate.recv())["type"] == "hello"
            assert deflate.protocol.extensions and not plain.protocol.extensions
            async with Feeder(server, 60):
                a, b = await frames_after(plain, 0, 10), await frames_after(deflate, 0, 10)
            assert a == sorted(set(a)) and b == sorted(set(b))
            frame = synthetic_frame(10_000)
            server.publish(frame)
            for ws in (plain, deflate):
                while (d := json.loads(await ws.recv())).get("seq") != 10_000:
                    pass
                np.testing.assert_allclose(d["joints"], frame.joints, atol=6e-6)
                await ws.close()

    run(main())


@pytest.mark.parametrize("freeze", [True, False])
def test_start_up_objects_leave_the_collectors_passes(freeze: bool) -> None:
    """With ``freeze_gc`` the objects alive when the server starts are frozen (full collections skip them)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    async def main() -> None:
        async with PoseServer(server_config(freeze_gc=freeze)):
            assert (gc.get_freeze_count() > 0) is freeze

    try:
        run(main())
    finally:
        gc.unfreeze()
