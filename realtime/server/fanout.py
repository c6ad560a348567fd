"""Fan-out: every client's newest-frame-wins slot, and the task that sends from it.

Every client has a slot (a :class:`skeletor.protocol.ClientSession`), an
:class:`asyncio.Event` and one sender task. :meth:`Fanout.publish` (callable from the
pipeline thread) only puts the frame in each slot and sets each event, so a slow or stalled
client gets fewer, newer frames and never delays the pipeline or other clients; what it
missed is counted in its ``frames_dropped``. Each frame is encoded once per (format,
fields) (:class:`skeletor.protocol.SharedFrame`) and the bytes are shared by every client
that asked for that variant. Status messages are queued, never replaced by frames, and the
latest of each state group is replayed to clients that connect later.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from realtime.server.config import ServerConfig
from realtime.server.stats import ServerStats
from skeletor.protocol import ClientSession, CloseCode, PoseFrame, SharedFrame, StatusEvent

__all__ = ["Client", "Fanout", "STATUS_GROUP"]

log = logging.getLogger(__name__)

# Status events that describe a state; new clients get the latest of each group after hello.
STATUS_GROUP = {
    StatusEvent.SOURCE_LOST: "source",
    StatusEvent.SOURCE_FOUND: "source",
    StatusEvent.SOURCE_ENDED: "source",
    StatusEvent.NO_PERSON: "person",
    StatusEvent.PERSON_FOUND: "person",
}


@dataclass
class Client:
    """One connected websocket client: its connection, slot and wake-up event."""

    ws: ServerConnection
    session: ClientSession
    wake: asyncio.Event
    peer: str


class Fanout:
    """The connected clients and the hand-over of frames and status messages to them.

    Args:
        config: limits per client (message size, errors, unsent bytes).
        hello: the ``hello`` message every client gets first.
        stats: the server's counters (updated here).

    Attributes:
        clients: connected clients by ``id`` of their connection (event loop thread only).
    """

    def __init__(self, config: ServerConfig, hello: str, stats: ServerStats) -> None:
        self.config = config
        self.stats = stats
        self.clients: dict[int, Client] = {}
        self._hello = hello
        self._last_status: dict[str, str] = {}
        self._pending: PoseFrame | None = None  # newest frame from another thread, not yet fanned out
        self._pending_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._debug = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop`` (call from its thread): publishing from other threads goes through it."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._debug = log.isEnabledFor(logging.DEBUG)

    def detach(self) -> None:
        """Stop taking frames (the server stopped)."""
        self._loop = None

    # ------------------------------------------------------------------ publishing

    def publish(self, frame: PoseFrame) -> None:
        """Hand a frame to every client's slot; never blocks on clients.

        Thread-safe: from the event loop thread the frame is fanned out at once; from any
        other thread it is passed to the loop (if the loop falls behind, only the newest
        frame is kept). Does nothing when not attached to a loop.
        """
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._fanout(frame)
            return
        with self._pending_lock:
            schedule = self._pending is None
            if not schedule:
                self.stats.frames_coalesced += 1
            self._pending = frame
        if schedule:
            try:
                loop.call_soon_threadsafe(self._take_pending)
            except RuntimeError:  # the loop closed under us: the server is gone
                pass

    def publish_status(self, event: StatusEvent, text: str) -> None:
        """Queue an encoded ``status`` message for every client and remember it for later ones (thread-safe)."""
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

    def publish_control(self, text: str, group: str) -> None:
        """Queue a control message (e.g. ``rig``) for every client; later clients get the latest of ``group`` after hello (thread-safe)."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._fanout_control(text, group)
        else:
            try:
                loop.call_soon_threadsafe(self._fanout_control, text, group)
            except RuntimeError:
                pass

    def _fanout_control(self, text: str, group: str) -> None:
        self._last_status[group] = text
        for client in self.clients.values():
            client.session.queue_control(text)
            client.wake.set()

    def _take_pending(self) -> None:
        with self._pending_lock:
            frame, self._pending = self._pending, None
        if frame is not None:
            self._fanout(frame)

    def _fanout(self, frame: PoseFrame) -> None:
        self.stats.frames_published += 1
        shared = SharedFrame(frame)
        now = time.monotonic_ns()
        for client in self.clients.values():
            if client.session.offer(shared, now):
                client.wake.set()
        if self._debug:
            log.debug("frame %d to %d clients", frame.seq, len(self.clients))

    def _fanout_status(self, event: StatusEvent, text: str) -> None:
        self._last_status[STATUS_GROUP[event]] = text
        for client in self.clients.values():
            client.session.queue_control(text)
            client.wake.set()
        log.info("status %s sent to %d clients", event.value, len(self.clients))

    # ------------------------------------------------------------------ clients

    def add(self, ws: ServerConnection, peer: str) -> Client:
        """Register a new connection: its slot starts with ``hello`` and the latest status of each group."""
        session = ClientSession(max_message_bytes=self.config.max_message_bytes, max_errors=self.config.max_errors)
        session.queue_control(self._hello)
        for text in self._last_status.values():
            session.queue_control(text)
        self._limit_unsent(ws)
        client = Client(ws, session, asyncio.Event(), peer)
        client.wake.set()
        self.clients[id(ws)] = client
        return client

    def remove(self, client: Client) -> None:
        """Forget a connection that closed."""
        del self.clients[id(client.ws)]

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

    async def send_loop(self, client: Client) -> None:
        """Send what the client's slot holds each time it is woken; close it when its session says so."""
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
