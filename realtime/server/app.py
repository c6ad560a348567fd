"""The websocket + HTTP server: streams pose frames to any number of clients.

One asyncio server (``websockets``' asyncio API) does two jobs on one port:

- ``GET /`` and the viewer's static files (``realtime/viewer/``), served from memory by
  ``process_request``;
- the stream at ``/ws``: the wire protocol of ``skeletor.protocol`` (``docs/protocol.md``).

Every client has a newest-frame-wins slot (a :class:`skeletor.protocol.ClientSession`),
an :class:`asyncio.Event` and one sender task. :meth:`PoseServer.publish` (callable from the
pipeline thread) only puts the frame in each slot and sets each event, so a slow or stalled
client gets fewer, newer frames and never delays the pipeline or other clients; what it
missed is counted in its ``frames_dropped``. Each frame is encoded once per (format,
fields) and the bytes are shared by every client that asked for that variant.

Security: the default bind is loopback. Binding another interface without a token logs a
warning. With ``token`` set, ``/ws`` needs ``?token=...`` or ``Authorization: Bearer ...``
(HTTP 401 otherwise). Browser origins are checked (HTTP 403): by default only local pages
(localhost / loopback / IP-literal same-origin) may connect; ``allowed_origins`` lists
others (``"*"`` allows any). Clients that send no ``Origin`` (non-browser) are not
origin-checked: use a token when that matters.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from skeletor.protocol import (
    ClientSession,
    CloseCode,
    PoseFrame,
    SharedFrame,
    StatusEvent,
    encode_hello,
    encode_status,
)
from skeletor.skeleton import HOLISTIC75, Skeleton

__all__ = ["ServerConfig", "PoseServer", "ServerThread", "security_warnings", "VIEWER_DIR", "WS_PATH"]

log = logging.getLogger(__name__)

WS_PATH = "/ws"
VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The viewer needs nothing from elsewhere; keep it that way.
_CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'"
# Status events that describe a state; new clients get the latest of each group after hello.
_STATUS_GROUP = {
    StatusEvent.SOURCE_LOST: "source",
    StatusEvent.SOURCE_FOUND: "source",
    StatusEvent.SOURCE_ENDED: "source",
    StatusEvent.NO_PERSON: "person",
    StatusEvent.PERSON_FOUND: "person",
}


@dataclass(frozen=True)
class ServerConfig:
    """Settings of :class:`PoseServer` (``skeletor-live`` flags map to these fields).

    Attributes:
        host: interface to bind; loopback by default so nothing leaves the machine.
        port: TCP port; 0 picks a free one (tests).
        token: shared secret required on ``/ws`` (query ``token`` or ``Authorization: Bearer``); None = open.
        allowed_origins: browser origins allowed besides local pages (``"*"`` = any); None = local pages only.
        max_clients: connections beyond this get HTTP 503.
        max_message_bytes: largest client message; bigger ones close the connection with 1009.
        max_errors: invalid client messages tolerated before closing with 1008.
        ping_interval_s: keepalive ping period (None = off); also how stalled clients are found.
        ping_timeout_s: a client that does not answer a ping within this is dropped.
        close_timeout_s: how long a closing handshake may take before the TCP connection is cut.
        compression: permessage-deflate; off, since pose frames barely compress and it costs CPU per client.
        unsent_limit_bytes: unsent bytes the kernel may queue per client (``TCP_NOTSENT_LOWAT``, where the
            OS has it; None = OS default). Small, so a slow client's backlog (and so its latency) stays a few
            frames and newest-frame-wins takes over; in-flight data is not limited by it.
        serve_viewer: serve the browser viewer on ``/``.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] | None = None
    max_clients: int = 500
    max_message_bytes: int = 64 * 1024
    max_errors: int = 16
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    close_timeout_s: float = 2.0
    compression: bool = False
    unsent_limit_bytes: int | None = 16 * 1024
    serve_viewer: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.max_clients < 1 or self.max_message_bytes < 256 or self.max_errors < 1:
            raise ValueError("max_clients and max_errors must be >= 1 and max_message_bytes >= 256")
        if self.token is not None and not self.token:
            raise ValueError("token must be None or a non-empty string")
        if self.allowed_origins is not None:
            object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_warnings(config: ServerConfig) -> list[str]:
    """Problems with a configuration that the server logs at WARNING level when it starts.

    Args:
        config: the server settings.

    Returns:
        One sentence per problem (empty when the setup is safe).
    """
    out = []
    if not _is_loopback(config.host) and config.token is None:
        out.append(
            f"binding {config.host or 'all interfaces'} without a token: anyone who can reach this "
            "machine can watch the pose stream; set a token (clients pass ?token=... or "
            "'Authorization: Bearer ...') or bind 127.0.0.1"
        )
    if config.allowed_origins is not None and "*" in config.allowed_origins:
        out.append("allowed_origins contains '*': any web page the user opens may read the pose stream")
    return out


def _origin_is_local(origin: str, host_header: str | None) -> bool:
    """A page on localhost / a loopback address, or served by this server under an IP-literal host.

    A domain name other than ``localhost`` is never trusted by default: DNS rebinding
    can point any name at this machine.
    """
    try:
        o = urlsplit(origin)
        hostname = o.hostname
    except ValueError:
        return False
    if o.scheme not in ("http", "https") or not hostname:
        return False
    if _is_loopback(hostname):
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return host_header is not None and o.netloc.lower() == host_header.lower()


@dataclass
class _Client:
    ws: ServerConnection
    session: ClientSession
    wake: asyncio.Event
    peer: str


class PoseServer:
    """Streams :class:`~skeletor.protocol.PoseFrame` records over websockets and serves the viewer.

    Use ``await server.start()`` / ``await server.stop()`` (or ``async with``) on the event
    loop; :meth:`publish` and :meth:`publish_status` may be called from any thread.
    """

    def __init__(self, config: ServerConfig = ServerConfig(), *, skeleton: Skeleton = HOLISTIC75, fps: float | None = None) -> None:
        """Prepare a server; nothing listens until :meth:`start`.

        Args:
            config: settings.
            skeleton: the joint layout of the published frames (sent in ``hello``).
            fps: the source's nominal frame rate, for ``hello`` (None if unknown).
        """
        self.config = config
        self.skeleton = skeleton
        self._hello = encode_hello(skeleton, fps)
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._clients: dict[int, _Client] = {}
        self._static: dict[str, tuple[bytes, str]] = {}
        self._last_status: dict[str, str] = {}
        self._pending: PoseFrame | None = None  # newest frame from another thread, not yet fanned out
        self._pending_lock = threading.Lock()
        self._debug = False
        self.frames_published = 0
        self.frames_coalesced = 0  # frames from other threads replaced before the loop took them

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: already started.
            OSError: the address is in use or cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("server already started")
        for warning in security_warnings(self.config):
            log.warning("%s", warning)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._debug = log.isEnabledFor(logging.DEBUG)
        if self.config.serve_viewer:
            self._static = _load_static(VIEWER_DIR)
        c = self.config
        self._server = await serve(
            self._handle,
            c.host,
            c.port,
            compression="deflate" if c.compression else None,
            process_request=self._process_request,
            max_size=c.max_message_bytes,
            ping_interval=c.ping_interval_s,
            ping_timeout=c.ping_timeout_s,
            close_timeout=c.close_timeout_s,
            server_header=None,
        )
        log.info("serving the viewer on %s and the pose stream on %s", self.http_url, self.url)

    async def stop(self) -> None:
        """Close every client with 1001 (going away), stop listening and wait for the handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # closes open connections with 1001
        await server.wait_closed()
        self._loop = None
        log.info("server stopped")

    async def __aenter__(self) -> PoseServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``port=0``).

        Raises:
            RuntimeError: the server is not started.
        """
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The stream's websocket URL, e.g. ``ws://127.0.0.1:8765/ws``."""
        return f"ws://{self._url_host()}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """The viewer's URL, e.g. ``http://127.0.0.1:8765/``."""
        return f"http://{self._url_host()}:{self.port}/"

    def _url_host(self) -> str:
        host = self.config.host or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def num_clients(self) -> int:
        """Connected websocket clients."""
        return len(self._clients)

    def client_stats(self) -> list[dict[str, Any]]:
        """Per-client counters (peer, subscription, frames sent / dropped / rate-limited, errors).

        Call it on the event loop thread for a consistent snapshot.
        """
        return [{"peer": c.peer, **c.session.stats()} for c in list(self._clients.values())]

    # ------------------------------------------------------------------ publishing

    def publish(self, frame: PoseFrame) -> None:
        """Hand a frame to every client's slot; never blocks on clients.

        Thread-safe: from the event loop thread the frame is fanned out at once; from any
        other thread it is passed to the loop (if the loop falls behind, only the newest
        frame is kept). Does nothing when the server is not running.

        Args:
            frame: the pose, with the skeleton's joint count.

        Raises:
            ValueError: the frame's joint count is not the skeleton's.
        """
        if frame.num_joints != self.skeleton.num_joints:
            raise ValueError(f"frame has {frame.num_joints} joints; {self.skeleton.name} has {self.skeleton.num_joints}")
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._fanout(frame)
            return
        with self._pending_lock:
            schedule = self._pending is None
            if not schedule:
                self.frames_coalesced += 1
            self._pending = frame
        if schedule:
            try:
                loop.call_soon_threadsafe(self._take_pending)
            except RuntimeError:  # the loop closed under us: the server is gone
                pass

    def publish_status(self, event: StatusEvent | str, message: str | None = None, **details: Any) -> None:
        """Send a ``status`` message to every client (and remember it for clients that connect later).

        Thread-safe, like :meth:`publish`. Status messages are never replaced by frames.

        Args:
            event: the event, e.g. ``StatusEvent.SOURCE_LOST``.
            message: optional human-readable text.
            **details: extra JSON keys.

        Raises:
            ValueError: an unknown event or details that are not JSON.
        """
        event = StatusEvent(event)
        text = encode_status(event, message, **details)
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._fanout_status(event, text)
        else:
            try:
                loop.call_soon_threadsafe(self._fanout_status, event, text)
            except RuntimeError:
                pass

    def _take_pending(self) -> None:
        with self._pending_lock:
            frame, self._pending = self._pending, None
        if frame is not None:
            self._fanout(frame)

    def _fanout(self, frame: PoseFrame) -> None:
        self.frames_published += 1
        shared = SharedFrame(frame)
        now = time.monotonic_ns()
        for client in self._clients.values():
            if client.session.offer(shared, now):
                client.wake.set()
        if self._debug:
            log.debug("frame %d to %d clients", frame.seq, len(self._clients))

    def _fanout_status(self, event: StatusEvent, text: str) -> None:
        self._last_status[_STATUS_GROUP[event]] = text
        for client in self._clients.values():
            client.session.queue_control(text)
            client.wake.set()
        log.info("status %s sent to %d clients", event.value, len(self._clients))

    # ------------------------------------------------------------------ HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        headers = request.headers
        if url.path == WS_PATH:
            if not self._origin_allowed(headers.get("Origin"), headers.get("Host")):
                log.info("rejected a stream request from origin %r (403)", headers.get("Origin"))
                return _text_response(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
            if not self._authorized(url.query, headers):
                log.info("rejected a stream request without a valid token (401)")
                response = _text_response(http.HTTPStatus.UNAUTHORIZED, "a valid token is required: ?token=... or 'Authorization: Bearer ...'\n")
                response.headers["WWW-Authenticate"] = 'Bearer realm="skeletor"'
                return response
            if len(self._clients) >= self.config.max_clients:
                return _text_response(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
            return None  # go on with the websocket handshake
        if "Upgrade" in headers:
            return _text_response(http.HTTPStatus.NOT_FOUND, f"the pose stream is at {WS_PATH}\n")
        name = "index.html" if url.path == "/" else url.path.lstrip("/")
        entry = self._static.get(name)
        if entry is None:
            return _text_response(http.HTTPStatus.NOT_FOUND, "not found\n")
        body, content_type = entry
        return Response(
            http.HTTPStatus.OK.value,
            "OK",
            Headers(
                [
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-cache"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Content-Security-Policy", _CSP),
                    ("Connection", "close"),
                ]
            ),
            body,
        )

    def _origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True  # not a browser: origins mean nothing there (use a token)
        allowed = self.config.allowed_origins
        if allowed is not None and ("*" in allowed or origin in allowed):
            return True
        return _origin_is_local(origin, host_header)

    def _authorized(self, query: str, headers: Headers) -> bool:
        token = self.config.token
        if token is None:
            return True
        expected = token.encode()
        for given in parse_qs(query).get("token", []):
            if hmac.compare_digest(given.encode(), expected):
                return True
        auth = headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected)

    # ------------------------------------------------------------------ websocket

    async def _handle(self, ws: ServerConnection) -> None:
        peer = _peer_name(ws)
        if len(self._clients) >= self.config.max_clients:  # raced past the HTTP check
            await ws.close(CloseCode.TRY_AGAIN_LATER, "too many clients")
            return
        session = ClientSession(max_message_bytes=self.config.max_message_bytes, max_errors=self.config.max_errors)
        session.queue_control(self._hello)
        for text in self._last_status.values():
            session.queue_control(text)
        self._limit_unsent(ws)
        client = _Client(ws, session, asyncio.Event(), peer)
        client.wake.set()
        key = id(ws)
        self._clients[key] = client
        sender = asyncio.create_task(self._send_loop(client), name=f"pose-sender {peer}")
        log.info("client %s connected (%d clients)", peer, len(self._clients))
        try:
            async for message in ws:
                sub = session.receive(message)
                client.wake.set()
                if self._debug:
                    log.debug("client %s: %s", peer, sub if sub is not None else "invalid message")
                if session.close_code is not None:
                    # The sender flushes the error reply, then closes with the code; a
                    # client too stalled for that is closed without the reply.
                    await asyncio.wait({sender}, timeout=self.config.close_timeout_s)
                    if not sender.done():
                        sender.cancel()
                        await ws.close(session.close_code, session.close_reason)
                    break
        except ConnectionClosed:
            pass
        finally:
            del self._clients[key]
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            code = ws.close_code
            log.info("client %s disconnected (code %s; %s)", peer, code, session.stats())

    def _limit_unsent(self, ws: ServerConnection) -> None:
        limit = self.config.unsent_limit_bytes
        option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        sock = ws.transport.get_extra_info("socket")
        if limit is None or option is None or sock is None:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, limit)
        except OSError as e:  # not TCP (a Unix socket) or not supported here
            if self._debug:
                log.debug("TCP_NOTSENT_LOWAT not set: %s", e)

    async def _send_loop(self, client: _Client) -> None:
        ws, session, wake = client.ws, client.session, client.wake
        try:
            while True:
                await wake.wait()
                wake.clear()
                while (message := session.next_message()) is not None:
                    await ws.send(message)
                if session.close_code is not None:
                    await ws.close(session.close_code, session.close_reason)
                    return
        except ConnectionClosed:
            return
        except Exception:
            log.exception("sender for %s failed; closing it", client.peer)
            await ws.close(CloseCode.INTERNAL_ERROR, "internal error")


def _text_response(status: http.HTTPStatus, text: str) -> Response:
    body = text.encode()
    return Response(
        status.value,
        status.phrase,
        Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), ("Connection", "close")]),
        body,
    )


def _peer_name(ws: ServerConnection) -> str:
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except (TypeError, ValueError):
        return "?"


def _load_static(folder: Path) -> dict[str, tuple[bytes, str]]:
    """The viewer's files (top level of ``folder``, known types only), read once into memory."""
    if not folder.is_dir():
        log.warning("viewer folder %s is missing; / will answer 404", folder)
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        content_type = _CONTENT_TYPES.get(path.suffix.lower())
        if path.is_file() and content_type is not None:
            out[path.name] = (path.read_bytes(), content_type)
    return out


class ServerThread:
    """A :class:`PoseServer` on its own event loop in a background thread.

    For synchronous callers (a pipeline loop, tests): ``start()`` returns once the server
    listens; ``publish`` / ``publish_status`` go straight to the server (they are
    thread-safe); ``stop()`` closes clients with 1001 and joins the thread.
    """

    def __init__(self, config: ServerConfig = ServerConfig(), **kwargs: Any) -> None:
        """Prepare the server; nothing runs until :meth:`start`.

        Args:
            config: settings, as for :class:`PoseServer`.
            **kwargs: ``skeleton`` and ``fps``, as for :class:`PoseServer`.
        """
        self.server = PoseServer(config, **kwargs)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start the thread and wait until the server listens.

        Args:
            timeout: seconds to wait.

        Returns:
            ``self``.

        Raises:
            RuntimeError: the server did not come up (the cause is chained).
        """
        self._thread = threading.Thread(target=self._run, name="pose-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError("the pose server did not start") from self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as e:
                self._error = e
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.server.stop()

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (clients get 1001) and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The stream's websocket URL."""
        return self.server.url

    @property
    def http_url(self) -> str:
        """The viewer's URL."""
        return self.server.http_url

    def publish(self, frame: PoseFrame) -> None:
        """Same as :meth:`PoseServer.publish`."""
        self.server.publish(frame)

    def publish_status(self, event: StatusEvent | str, message: str | None = None, **details: Any) -> None:
        """Same as :meth:`PoseServer.publish_status`."""
        self.server.publish_status(event, message, **details)

    def call(self, fn: Any, timeout: float = 5.0) -> Any:
        """Run ``fn()`` on the server's loop and return its result (e.g. ``server.client_stats``)."""
        if self._loop is None:
            raise RuntimeError("not started")

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)
