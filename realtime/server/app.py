"""The websocket + HTTP server: streams pose frames to any number of clients.

One asyncio server (``websockets``' asyncio API) does two jobs on one port:

- ``GET /`` and the viewer's static files (``realtime/viewer/``), served from memory by
  ``process_request`` (:mod:`realtime.server.static`);
- the stream at ``/ws``: the wire protocol of ``skeletor.protocol`` (``docs/protocol.md``),
  fanned out to every client through its own newest-frame-wins slot
  (:mod:`realtime.server.fanout`).

Requests to ``/ws`` are checked first (:mod:`realtime.server.auth`: token, browser origin)
and refused with 503 beyond ``max_clients``. This module ties those together: the
server's lifecycle, its URLs, the HTTP routing and each connection's receive loop.
"""

from __future__ import annotations

import asyncio
import gc
import http
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from realtime.server.auth import check_stream_request, security_warnings
from realtime.server.config import WS_PATH, ServerConfig
from realtime.server.fanout import Fanout
from realtime.server.static import VIEWER_DIR, load_static, static_response, text_response
from realtime.server.stats import ServerStats, client_stats, peer_name
from skeletor.protocol import CloseCode, PoseFrame, RigLayout, StatusEvent, encode_hello, encode_rig, encode_status
from skeletor.pose.skeleton import HOLISTIC75, Skeleton

__all__ = ["PoseServer"]

log = logging.getLogger(__name__)


class _ConnectionLog(logging.LoggerAdapter):
    """The logger handed to ``websockets``: its per-connection INFO lines ("connection open",
    "connection closed", "connection rejected") go to DEBUG, since the server writes one line
    per client itself (when it leaves, with its close code and counters); a flood of bad
    connections then grows the log by one line each, not four. Warnings and errors pass unchanged."""

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)  # type: ignore[arg-type]


class PoseServer:
    """Streams :class:`~skeletor.protocol.PoseFrame` records over websockets and serves the viewer.

    Use ``await server.start()`` / ``await server.stop()`` (or ``async with``) on the event
    loop; :meth:`publish` and :meth:`publish_status` may be called from any thread.
    """

    def __init__(
        self,
        config: ServerConfig = ServerConfig(),
        *,
        skeleton: Skeleton = HOLISTIC75,
        fps: float | None = None,
        rig: RigLayout | None = None,
        max_people: int = 1,
        refiner: Mapping[str, Any] | None = None,
    ) -> None:
        """Prepare a server; nothing listens until :meth:`start`.

        Args:
            config: settings.
            skeleton: the joint layout of the published frames (sent in ``hello``).
            fps: the source's nominal frame rate, for ``hello`` (None if unknown).
            rig: the humanoid rig behind the ``rotations`` field, for ``hello``
                (default :func:`realtime.rig.rig_layout`).
            max_people: the most people the source follows (``hello``'s ``max_people``).
            refiner: how the refiner runs (provider, threads), for ``hello`` (None = not said).
        """
        from realtime.rig import rig_layout

        self.config = config
        self.skeleton = skeleton
        self.stats = ServerStats()
        self._fanout = Fanout(config, encode_hello(skeleton, fps, rig or rig_layout(), max_people, refiner), self.stats)
        self._rig_wanted = False
        self._server: Server | None = None
        self._static: dict[str, tuple[bytes, str]] = {}
        self._debug = False

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
        self._fanout.attach(asyncio.get_running_loop())
        self._debug = log.isEnabledFor(logging.DEBUG)
        if self.config.serve_viewer:
            self._static = load_static(VIEWER_DIR)
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
            logger=_ConnectionLog(logging.getLogger("websockets.server"), {}),
        )
        if c.freeze_gc:
            gc.freeze()  # start-up's objects leave the collector's passes (ServerConfig.freeze_gc)
        log.info("serving the viewer on %s and the pose stream on %s", self.http_url, self.url)

    async def stop(self) -> None:
        """Close every client with 1001 (going away), stop listening and wait for the handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # closes open connections with 1001
        await server.wait_closed()
        self._fanout.detach()
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

    # ------------------------------------------------------------------ stats

    @property
    def num_clients(self) -> int:
        """Connected websocket clients."""
        return len(self._fanout.clients)

    @property
    def frames_published(self) -> int:
        """Frames fanned out to the clients' slots."""
        return self.stats.frames_published

    @property
    def frames_coalesced(self) -> int:
        """Frames from other threads replaced by a newer one before the event loop took them."""
        return self.stats.frames_coalesced

    def client_stats(self) -> list[dict[str, Any]]:
        """Per-client counters (peer, subscription, frames sent / dropped / rate-limited, errors).

        Call it on the event loop thread for a consistent snapshot.
        """
        return client_stats(self._fanout.clients.values())

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
        self._fanout.publish(frame)

    def publish_rig(self, rig_version: int, rest_offsets: Any) -> None:
        """Send a ``rig`` message (the person's rest rig) to every client, and to later ones after ``hello``.

        Thread-safe, like :meth:`publish`; call it before publishing the first frame of that version.

        Args:
            rig_version: the version frames carry in ``rig_version``.
            rest_offsets: (B, 3) metres, rig world axes.
        """
        self._fanout.publish_control(encode_rig(rig_version, rest_offsets), "rig")

    @property
    def wants_rotations(self) -> bool:
        """Whether a connected client is subscribed to ``rotations`` (callable from any thread).

        A snapshot of the clients' subscriptions; when the client set changes under it (a
        connection opening or closing that instant) the previous answer is returned.
        """
        try:
            self._rig_wanted = any("rotations" in c.session.subscription.fields for c in list(self._fanout.clients.values()))
        except RuntimeError:  # the dict changed size while being copied
            pass
        return self._rig_wanted

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
        person_id = details.get("person_id")
        self._fanout.publish_status(event, encode_status(event, message, **details), person_id if isinstance(person_id, int) else None)

    # ------------------------------------------------------------------ HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        headers = request.headers
        if url.path == WS_PATH:
            refusal = check_stream_request(self.config, url.query, headers)
            if refusal is not None:
                return refusal
            if len(self._fanout.clients) >= self.config.max_clients:
                return text_response(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
            return None  # go on with the websocket handshake
        if "Upgrade" in headers:
            return text_response(http.HTTPStatus.NOT_FOUND, f"the pose stream is at {WS_PATH}\n")
        return static_response(self._static, url.path)

    # ------------------------------------------------------------------ websocket

    async def _handle(self, ws: ServerConnection) -> None:
        peer = peer_name(ws)
        if len(self._fanout.clients) >= self.config.max_clients:  # raced past the HTTP check
            await ws.close(CloseCode.TRY_AGAIN_LATER, "too many clients")
            return
        client = self._fanout.add(ws, peer)
        session = client.session
        sender = asyncio.create_task(self._fanout.send_loop(client), name=f"pose-sender {peer}")
        log.debug("client %s connected (%d clients)", peer, len(self._fanout.clients))
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
                        await self._fanout.close(client, session.close_code, session.close_reason)
                    break
            if client.fault is not None:  # the sender is closing it (a fault or a stall): let it finish
                await asyncio.wait({sender}, timeout=2 * self.config.close_timeout_s)
        except ConnectionClosed:
            pass
        except Exception as e:  # a fault while handling this client's message: close it, never the server
            self._fanout.fail(client, e)
            await asyncio.wait({sender}, timeout=2 * self.config.close_timeout_s)
        finally:
            self._fanout.remove(client)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if ws.state is not State.CLOSED:
                ws.transport.abort()
            code = ws.close_code
            log.info("client %s disconnected (code %s; %s)", peer, code, session.stats())
