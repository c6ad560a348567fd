"""Python client of the pose stream, and ``skeletor subscribe``.

::

    import asyncio
    from realtime.client import frames

    async def main():
        async for f in frames("ws://127.0.0.1:8765/ws", format="binary"):
            print(f["seq"], f["joints"][0])        # (75, 3) float32, metres, x right, y down, z forward

    asyncio.run(main())

:class:`PoseStream` is the same with the ``hello`` message at hand (skeleton, fps) and
deterministic clean-up (``async with``). ``skeletor subscribe URL`` prints frames/s and
latency percentiles: :func:`run_subscribe`. The wire format is ``skeletor.protocol``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TextIO, overload
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from skeletor.protocol import (
    DEFAULT_FIELDS,
    ErrorCode,
    FIELDS,
    PROTOCOL_VERSION,
    Format,
    FrameMessage,
    MessageType,
    PoseFrame,
    ProtocolError,
    decode_message,
    encode_subscribe,
    pose_frame_from_message,
)

__all__ = ["stream_url", "PoseStream", "frames", "SubscribeStats", "run_subscribe", "add_parser", "run"]

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8765/ws"


def stream_url(url: str) -> str:
    """Normalise a server address to the stream's websocket URL.

    ``http``/``https`` become ``ws``/``wss``; an empty path or ``/`` becomes ``/ws``; a
    bare ``host:port`` gets ``ws://``.

    Args:
        url: what the user typed, e.g. ``127.0.0.1:8765`` or ``http://host:8765/``.

    Returns:
        e.g. ``ws://127.0.0.1:8765/ws``.

    Raises:
        ValueError: not a websocket or http URL.
    """
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected a ws://host:port/ws URL, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class PoseStream:
    """A connection to the pose stream: ``hello`` at hand, frames as an async iterator.

    ::

        async with PoseStream(url, format="binary") as stream:
            print(stream.hello["skeleton"]["joints"][:3])
            async for frame in stream:
                ...

    Frames sent before the server confirmed the subscription (in the default format) are
    skipped. Status messages are logged and kept in :attr:`last_status`; an ``error`` from
    the server raises :class:`~skeletor.protocol.ProtocolError`.
    """

    def __init__(
        self,
        url: str,
        *,
        format: Format | str = Format.JSON,
        fields: Iterable[str] | None = None,
        max_rate_hz: float | None = None,
        token: str | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        """Describe the connection; it opens in ``async with`` (or :meth:`open`).

        Args:
            url: the server's stream URL (normalised by :func:`stream_url`).
            format: ``"json"`` or ``"binary"`` frames.
            fields: frame fields (default :data:`~skeletor.protocol.DEFAULT_FIELDS`).
            max_rate_hz: highest average frame rate wanted; None = every frame.
            token: the server's token, sent as ``Authorization: Bearer``.
            open_timeout: seconds allowed for connecting and the hello.

        Raises:
            ValueError: a bad URL, format, field or rate.
        """
        self.url = stream_url(url)
        self.subscribe_message = encode_subscribe(format, fields, max_rate_hz)
        self.token = token
        self.open_timeout = open_timeout
        self.hello: dict[str, Any] = {}
        self.subscription: dict[str, Any] | None = None
        self.last_status: dict[str, Any] | None = None
        self._ws: ClientConnection | None = None

    async def open(self) -> PoseStream:
        """Connect, read ``hello``, send the subscription.

        Returns:
            ``self``.

        Raises:
            OSError: the server cannot be reached.
            websockets.exceptions.InvalidStatus: HTTP refusal (401 bad token, 403 origin, 503 full).
            ProtocolError: the server speaks another protocol version.
            TimeoutError: no hello within ``open_timeout``.
        """
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        self._ws = await connect(
            self.url, additional_headers=headers, compression=None, open_timeout=self.open_timeout, max_size=2**22
        )
        try:
            async with asyncio.timeout(self.open_timeout):
                hello = decode_message(await self._ws.recv())
            if hello.get("type") != MessageType.HELLO or hello.get("protocol") != PROTOCOL_VERSION:
                raise ProtocolError(ErrorCode.VERSION_MISMATCH, f"expected a protocol {PROTOCOL_VERSION} hello, got {str(hello)[:120]}")
            self.hello = hello
            await self._ws.send(self.subscribe_message)
        except BaseException:
            await self._ws.close()
            raise
        return self

    async def close(self) -> None:
        """Close the connection (code 1000)."""
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> PoseStream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[FrameMessage]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[FrameMessage]:
        if self._ws is None:
            raise RuntimeError("open the stream first (async with PoseStream(...))")
        try:
            async for data in self._ws:
                msg = decode_message(data)
                kind = msg["type"]
                if kind == MessageType.FRAME:
                    if self.subscription is not None:
                        yield msg  # type: ignore[misc]
                elif kind == MessageType.SUBSCRIBED:
                    self.subscription = msg
                elif kind == MessageType.STATUS:
                    self.last_status = msg
                    log.info("server status: %s %s", msg.get("event"), msg.get("message", ""))
                elif kind == MessageType.ERROR:
                    code = msg.get("code")
                    error = ErrorCode(code) if code in set(ErrorCode) else ErrorCode.INVALID_MESSAGE
                    raise ProtocolError(error, f"server error {code}: {msg.get('message')}")
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code not in (1000, 1001):
                raise
            log.info("server closed the stream (%s)", e.rcvd)


@overload
def frames(
    url: str,
    *,
    format: Format | str = ...,
    fields: Iterable[str] | None = ...,
    token: str | None = ...,
    max_rate_hz: float | None = ...,
    as_pose_frames: Literal[False] = ...,
) -> AsyncIterator[FrameMessage]: ...
@overload
def frames(
    url: str,
    *,
    format: Format | str = ...,
    fields: Iterable[str] | None = ...,
    token: str | None = ...,
    max_rate_hz: float | None = ...,
    as_pose_frames: Literal[True],
) -> AsyncIterator[PoseFrame]: ...
async def frames(
    url: str,
    *,
    format: Format | str = Format.JSON,
    fields: Iterable[str] | None = None,
    token: str | None = None,
    max_rate_hz: float | None = None,
    as_pose_frames: bool = False,
) -> AsyncIterator[FrameMessage | PoseFrame]:
    """Iterate over the frames of a server until it closes.

    Args:
        url: e.g. ``ws://127.0.0.1:8765/ws``.
        format: ``"json"`` or ``"binary"``.
        fields: frame fields (default joints, confidence, latency_ms).
        token: the server's token, if it has one.
        max_rate_hz: highest average frame rate wanted.
        as_pose_frames: yield :class:`~skeletor.protocol.PoseFrame` records instead of
            :class:`~skeletor.protocol.FrameMessage` dicts (which also carry ``t_send_ns``).

    Yields:
        One decoded frame per message: ``seq``, ``t_capture_ns``, ``t_send_ns`` and the
        subscribed fields (numpy arrays for poses).

    Raises:
        OSError, websockets.exceptions.InvalidStatus, ProtocolError: as :meth:`PoseStream.open`.
    """
    async with PoseStream(url, format=format, fields=fields, token=token, max_rate_hz=max_rate_hz) as stream:
        async for msg in stream:
            yield pose_frame_from_message(msg) if as_pose_frames else msg


@dataclass(frozen=True)
class SubscribeStats:
    """What :func:`run_subscribe` measured.

    Attributes:
        frames: frames received.
        seconds: measuring time.
        fps: frames per second received.
        missed: frames the server skipped for us (gaps in ``seq``).
        latency_ms_p50, latency_ms_p95: end-to-end latency, capture -> received
            (``time.time_ns() - t_capture_ns``; same-machine clocks, or synchronised ones).
        transport_ms_p50, transport_ms_p95: server encode -> received (``- t_send_ns``).
    """

    frames: int
    seconds: float
    fps: float
    missed: int
    latency_ms_p50: float
    latency_ms_p95: float
    transport_ms_p50: float
    transport_ms_p95: float


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


async def _measure(stream: PoseStream, seconds: float, out: TextIO | None) -> SubscribeStats:
    latency: list[float] = []
    transport: list[float] = []
    missed = 0
    last_seq: int | None = None
    start = time.monotonic()
    next_report = start + 1.0
    window: list[float] = []

    def report(now: float) -> None:
        if out is not None and window:
            print(f"{now - start:6.1f} s  {len(window):4d} frames/s  latency p50 {_pct(window, 50):6.1f} ms  p95 {_pct(window, 95):6.1f} ms", file=out, flush=True)

    async def consume() -> None:
        nonlocal missed, last_seq, next_report, window
        async for f in stream:
            now_ns = time.time_ns()
            latency.append((now_ns - f["t_capture_ns"]) / 1e6)
            transport.append((now_ns - f["t_send_ns"]) / 1e6)
            window.append(latency[-1])
            if last_seq is not None and f["seq"] > last_seq + 1:
                missed += f["seq"] - last_seq - 1
            last_seq = f["seq"]
            now = time.monotonic()
            if now >= next_report:
                report(now)
                window = []
                next_report += 1.0

    try:
        await asyncio.wait_for(consume(), timeout=seconds)
    except TimeoutError:
        pass
    elapsed = time.monotonic() - start
    return SubscribeStats(
        frames=len(latency),
        seconds=elapsed,
        fps=len(latency) / elapsed if elapsed > 0 else 0.0,
        missed=missed,
        latency_ms_p50=_pct(latency, 50),
        latency_ms_p95=_pct(latency, 95),
        transport_ms_p50=_pct(transport, 50),
        transport_ms_p95=_pct(transport, 95),
    )


def run_subscribe(
    url: str,
    seconds: float = 10.0,
    format: Format | str = Format.JSON,
    *,
    fields: Iterable[str] | None = None,
    token: str | None = None,
    max_rate_hz: float | None = None,
    out: TextIO | None = None,
    quiet: bool = False,
) -> SubscribeStats:
    """Subscribe for ``seconds``, print a line per second and a summary, return the numbers.

    Args:
        url: the server's stream URL.
        seconds: how long to listen (the connection time is not counted).
        format: ``"json"`` or ``"binary"``.
        fields: frame fields (default joints, confidence, latency_ms).
        token: the server's token.
        max_rate_hz: highest average frame rate wanted.
        out: where to print (default ``sys.stdout``).
        quiet: print nothing.

    Returns:
        The measured :class:`SubscribeStats`.

    Raises:
        OSError, websockets.exceptions.InvalidStatus, ProtocolError: as :meth:`PoseStream.open`.
    """

    out = None if quiet else (out or sys.stdout)

    async def main() -> SubscribeStats:
        async with PoseStream(url, format=format, fields=fields, token=token, max_rate_hz=max_rate_hz) as stream:
            if out is not None:
                sk = stream.hello.get("skeleton", {})
                print(f"connected to {stream.url}: protocol {stream.hello.get('protocol')}, {sk.get('name')} ({len(sk.get('joints', []))} joints), fps {stream.hello.get('fps')}", file=out)
            return await _measure(stream, seconds, out)

    stats = asyncio.run(main())
    if out is not None:
        print(
            f"{stats.frames} frames in {stats.seconds:.1f} s = {stats.fps:.1f} frames/s ({stats.missed} skipped by the server); "
            f"latency capture->here p50 {stats.latency_ms_p50:.1f} ms p95 {stats.latency_ms_p95:.1f} ms; "
            f"server->here p50 {stats.transport_ms_p50:.1f} ms p95 {stats.transport_ms_p95:.1f} ms",
            file=out,
        )
    return stats


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``subscribe`` on the ``skeletor`` parser."""
    p = subparsers.add_parser(
        "subscribe",
        help="connect to a running skeletor-live and print frames/s and latency",
        description="Subscribe to a Skeletor Live pose stream, print frames/s and end-to-end latency (p50/p95) every second and a summary.",
    )
    p.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"stream URL (default {DEFAULT_URL}; host:port is enough)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to listen (default 10)")
    p.add_argument("--format", choices=[f.value for f in Format], default=Format.JSON.value, help="frame encoding (default json)")
    p.add_argument("--fields", default=",".join(DEFAULT_FIELDS), help=f"comma-separated frame fields from {','.join(FIELDS)} (default %(default)s)")
    p.add_argument("--max-rate", type=float, default=None, metavar="HZ", help="ask the server for at most this many frames per second")
    p.add_argument("--token", default=os.environ.get("SKELETOR_TOKEN"), help="the server's token (default: $SKELETOR_TOKEN)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``skeletor subscribe``; returns 0, 1 when the server cannot be reached or refuses, 2 for bad arguments."""
    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    try:
        stream_url(args.url)
        encode_subscribe(args.format, fields, args.max_rate)
        if not (math.isfinite(args.seconds) and args.seconds > 0):
            raise ValueError(f"--seconds must be positive, got {args.seconds}")
    except ValueError as e:
        print(f"skeletor subscribe: {e}", file=sys.stderr)
        return 2
    try:
        stats = run_subscribe(args.url, args.seconds, args.format, fields=fields, token=args.token, max_rate_hz=args.max_rate)
    except InvalidStatus as e:
        code = e.response.status_code
        hint = {401: " (wrong or missing --token)", 403: " (origin refused)", 503: " (server full)"}.get(code, "")
        print(f"skeletor subscribe: the server refused the connection: HTTP {code}{hint}", file=sys.stderr)
        return 1
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ProtocolError, ConnectionClosed) as e:
        print(f"skeletor subscribe: cannot stream from {args.url}: {e}", file=sys.stderr)
        return 1
    return 0 if stats.frames > 0 else 1
