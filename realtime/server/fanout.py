"""Fan-out: every client's newest-frame-wins slot, written at once when the client keeps up.

Every client has a slot (a :class:`skeletor.protocol.ClientSession`), an
:class:`asyncio.Event` and one sender task. Each published frame is encoded once per
(format, fields) (:class:`skeletor.protocol.SharedFrame`) and the bytes are shared by every
client that asked for that variant. :meth:`Fanout.publish` (callable from the pipeline
thread) hands the frame to the event loop, which offers it to every slot in one pass:

- a client whose socket has taken everything written so far gets the frame written to its
  transport right there, as websocket frame bytes built once per variant for every client
  (no per-client framing, no task switch, no awaited send), so a healthy client costs one
  socket write per frame and no client waits for another;
- a client with unsent bytes (a slow reader) keeps the frame in its slot, and its sender
  task sends the newest one once its transport has drained: it gets fewer, newer frames and
  never delays the loop or other clients; what it missed is counted in ``frames_dropped``.

Faults are contained to their client. Any exception while offering, encoding or sending to
a client closes that client with 1011 and a reason, logs one line for it (the traceback at
DEBUG), and the loop and every other client go on. A client whose socket takes no data for
``send_timeout_s`` while the server has data for it (it never reads and its buffers are
full) is closed the same way; websockets' keepalive drops one that does not answer a ping
within ``ping_timeout_s`` (a ping waits behind a full buffer, hence the send timeout).

Several people: the pipeline publishes one frame per person per capture (same ``seq``);
each client's session offers a client without ``people`` the primary person's only, and
gives a client of people ``"all"`` a slot per person (``person_left`` drops that person's
waiting frame). Frames of one capture cross from the pipeline thread together: a newer
capture replaces every frame of an older one not yet fanned out, never one person's.

Status messages are queued, never replaced by frames, and the latest of each state group
is replayed to clients that connect later. For each frame the server records how long it
took from :meth:`~Fanout.publish` to the last client's send returning
(:attr:`ServerStats.fanout_ms`): the server's own share of the latency, which for a client
that does not read includes waiting for its socket; how long until the pass had written the
frame to every client that keeps up (``fanout_pass_ms``), and of that how long the frame
waited for the event loop to take it (``fanout_wait_ms``); and the CPU time of the pass over
the clients (``fanout_cpu_ms``), which a busy machine does not inflate.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from realtime.server.config import ServerConfig
from realtime.server.stats import ServerStats
from skeletor.protocol import ClientSession, CloseCode, PoseFrame, SharedFrame, StatusEvent, Subscribe

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


class _Published(SharedFrame):
    """A published frame plus what the fan-out needs: when it was published, how many slots
    still hold it, when the last send of it returned (monotonic ns), and each encoding as a
    complete websocket frame, built once for every client. Each encoding's time goes to
    ``encode_ms`` (the server's ``stats.encode_ms``)."""

    __slots__ = ("t_publish_ns", "holders", "last_sent_ns", "_wire", "_encode_ms")

    def __init__(self, frame: PoseFrame, t_publish_ns: int, encode_ms: deque[float]) -> None:
        super().__init__(frame)
        self.t_publish_ns = t_publish_ns
        self.holders = 1  # the fan-out pass holds it until every slot had its offer
        self.last_sent_ns = 0
        self._wire: dict[int, bytes] = {}
        self._encode_ms = encode_ms

    def _encode(self, sub: Subscribe, person_id: bool) -> str | bytes:
        """Serialise the frame for ``sub``, recording how long it took."""
        t0 = time.perf_counter_ns()
        data = super()._encode(sub, person_id)
        self._encode_ms.append((time.perf_counter_ns() - t0) / 1e6)
        return data

    def wire(self, message: str | bytes) -> bytes:
        """``message`` (one of this frame's encodings) as one unmasked, uncompressed websocket
        frame: a text frame for JSON, a binary frame for bytes; built once per variant.

        A server's frames are never masked, so without a per-connection extension
        (permessage-deflate) these bytes are exactly what ``websockets`` would write for
        every client: the fan-out writes them to each transport as they are.
        """
        data = self._wire.get(id(message))  # the message is kept alive by the SharedFrame's cache
        if data is None:
            if isinstance(message, str):
                frame = Frame(Opcode.TEXT, message.encode())
            else:
                frame = Frame(Opcode.BINARY, message)
            data = self._wire[id(message)] = frame.serialize(mask=False)
        return data


def _write_frame(ws: ServerConnection, data: bytes) -> None:
    """Write one complete websocket frame to ``ws``'s transport (the kernel takes it at once
    when the transport has nothing unsent; the rest is buffered by asyncio)."""
    ws.transport.write(data)


@dataclass(eq=False)
class Client:
    """One connected websocket client: its connection, slot, wake-up event and send state.

    Attributes:
        ws: the connection.
        session: the protocol state (subscription, rate gate, slot, control queue).
        wake: set when the slot or the control queue has something for the sender task.
        peer: ``host:port``, for logs.
        sending: the sender task is inside an awaited send; frames wait in the slot.
        in_slot: the frames waiting in the session's slots, by slot key (for the delivery timing).
        fault: set once the client failed or stalled: the close code and reason it gets.
    """

    ws: ServerConnection
    session: ClientSession
    wake: asyncio.Event
    peer: str
    sending: bool = False
    in_slot: dict[int, _Published] = field(default_factory=dict)
    fault: tuple[CloseCode, str] | None = None


def _describe(exc: BaseException) -> str:
    """One line for the log: the exception (the first of a group, its cause) and where it was raised."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc.__cause__ is not None and not isinstance(exc, ConnectionClosed):
        exc = exc.__cause__
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        last = tb[-1]
        where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


class Fanout:
    """The connected clients and the hand-over of frames and status messages to them.

    Args:
        config: limits per client (message size, errors, unsent bytes, send timeout).
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
        self._pending: list[tuple[PoseFrame, int]] = []  # the newest capture's frames from another thread (+ stamps), not yet fanned out
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
        capture's frames are kept: every person's of it). Does nothing when not attached to a loop.
        """
        loop = self._loop
        if loop is None:
            return
        t_publish_ns = time.monotonic_ns()
        if threading.get_ident() == self._loop_thread:
            self._fanout(frame, t_publish_ns)
            return
        with self._pending_lock:
            pending = self._pending
            schedule = not pending
            if pending:
                last = pending[-1][0]
                if (last.seq, last.t_capture_ns) != (frame.seq, frame.t_capture_ns):  # a newer capture
                    self.stats.frames_coalesced += len(pending)
                    pending.clear()
            pending.append((frame, t_publish_ns))
        if schedule:
            try:
                loop.call_soon_threadsafe(self._take_pending)
            except RuntimeError:  # the loop closed under us: the server is gone
                pass

    def publish_status(self, event: StatusEvent, text: str, person_id: int | None = None) -> None:
        """Queue an encoded ``status`` message for every client and remember it for later ones (thread-safe).

        ``person_id`` with ``person_left``: that person's frames still waiting in slots are dropped.
        """
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._fanout_status(event, text, person_id)
        else:
            try:
                loop.call_soon_threadsafe(self._fanout_status, event, text, person_id)
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
            pending, self._pending = self._pending, []
        for frame, t_publish_ns in pending:
            self._fanout(frame, t_publish_ns)

    def _fanout(self, frame: PoseFrame, t_publish_ns: int) -> None:
        """Offer ``frame`` to every slot; write it at once to clients whose sockets keep up."""
        self.stats.frames_published += 1
        cpu0 = time.thread_time_ns()
        now = time.monotonic_ns()
        if self.clients:
            self.stats.fanout_wait_ms.append((now - t_publish_ns) / 1e6)
        shared = _Published(frame, t_publish_ns, self.stats.encode_ms)
        for client in list(self.clients.values()):
            if client.fault is not None:
                continue
            try:
                if not client.session.offer(shared, now):
                    continue
                key = client.session.slot_key(frame)
                replaced = client.in_slot.pop(key, None)
                if replaced is not None:  # replaced in the slot before it was sent
                    self._settle(replaced, sent=False)
                shared.holders += 1
                client.in_slot[key] = shared
                if client.sending or not self._write_now(client):
                    client.wake.set()
            except Exception as e:  # this client's fault only: close it, go on with the others
                self.fail(client, e)
        self._settle(shared, sent=False)  # the pass's own hold
        if self.clients:
            self.stats.fanout_pass_ms.append((time.monotonic_ns() - t_publish_ns) / 1e6)
            self.stats.fanout_cpu_ms.append((time.thread_time_ns() - cpu0) / 1e6)
        if self._debug:
            log.debug("frame %d to %d clients", frame.seq, len(self.clients))

    def _fanout_status(self, event: StatusEvent, text: str, person_id: int | None = None) -> None:
        group = STATUS_GROUP.get(event)
        if group is not None:  # a state (not a one-off person event): replayed to later clients
            self._last_status[group] = text
        for client in list(self.clients.values()):
            if client.fault is None:
                if event is StatusEvent.PERSON_LEFT and person_id is not None:
                    self._drop_person(client, person_id)
                client.session.queue_control(text)
                client.wake.set()
        log.debug("status %s sent to %d clients", event.value, len(self.clients))

    def _drop_person(self, client: Client, person_id: int) -> None:
        """Drop a person who left from the client's slots."""
        dropped = client.session.drop_person(person_id)
        if dropped is not None:
            for key, held in list(client.in_slot.items()):
                if held is dropped:
                    del client.in_slot[key]
                    self._settle(held, sent=False)

    def _settle(self, frame: _Published, sent: bool) -> None:
        """One holder of ``frame`` is done with it (sent, or replaced / gone); the last one records the time."""
        if sent:
            frame.last_sent_ns = time.monotonic_ns()
        frame.holders -= 1
        if frame.holders == 0 and frame.last_sent_ns:
            self.stats.fanout_ms.append((frame.last_sent_ns - frame.t_publish_ns) / 1e6)

    def _take(self, client: Client) -> tuple[str | bytes, _Published | None] | None:
        """The client's next message, and the frame it is (None for a control message)."""
        item = client.session.next_item()
        if item is None:
            return None
        message, shared = item
        frame = None
        if shared is not None:  # a slot's frame
            for key, held in client.in_slot.items():
                if held is shared:
                    frame = client.in_slot.pop(key)
                    break
        return message, frame

    def _write_now(self, client: Client) -> bool:
        """Write what the client's slot and queue hold straight to its transport, if it keeps up.

        Only while the transport has nothing unsent (the kernel took everything so far): a
        client that lags gets its frames from the sender task, which waits for the transport
        to drain and so always sends the newest. A message is far below the transport's
        high-water mark (a frame is a few KiB, the mark 32 KiB), so a direct write never
        leaves the transport paused: pausing, and the wait it needs, happen in the sender
        task, under ``send_timeout_s``.

        A frame goes out as the bytes :meth:`_Published.wire` built once for every client
        (no per-client framing); a connection with permessage-deflate, and a control message,
        go through ``websockets``' :func:`broadcast` for this one connection.

        Returns:
            True if nothing is left for the sender task.
        """
        ws = client.ws
        transport = ws.transport
        if ws.state is not State.OPEN or transport.is_closing():
            return False  # closing: the sender (or the handler) deals with it
        # Whole frames only: the server never sends a fragmented message, and its sender task
        # is not inside a send (``client.sending``), so these bytes never split another message.
        framed = not ws.protocol.extensions
        while transport.get_write_buffer_size() == 0:
            item = self._take(client)
            if item is None:
                return True
            message, frame = item
            if frame is None:
                broadcast((ws,), message, text=isinstance(message, str), raise_exceptions=True)
                continue
            if framed:
                _write_frame(ws, frame.wire(message))
            else:
                broadcast((ws,), message, text=isinstance(message, str), raise_exceptions=True)
            self._settle(frame, sent=True)
        return not client.session.pending

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
        self._release_slots(client)

    def _release_slots(self, client: Client) -> None:
        """The client's waiting frames will never be sent: settle them."""
        held, client.in_slot = client.in_slot, {}
        for frame in held.values():
            self._settle(frame, sent=False)

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

    def fail(self, client: Client, exc: BaseException) -> None:
        """Close ``client`` with 1011 after a fault of its own; one log line per client."""
        if client.fault is not None:
            return
        client.fault = (CloseCode.INTERNAL_ERROR, "internal error; see the server log")
        self.stats.clients_failed += 1
        log.error("client %s failed: %s; closing it with 1011", client.peer, _describe(exc))
        if self._debug:
            log.debug("client %s: traceback", client.peer, exc_info=exc)
        self._release_slots(client)
        client.wake.set()  # its sender closes it

    def _stalled(self, client: Client) -> None:
        """Close ``client`` with 1011: its socket took no data for ``send_timeout_s``."""
        if client.fault is not None:
            return
        timeout = self.config.send_timeout_s
        client.fault = (CloseCode.INTERNAL_ERROR, f"send timeout: no data taken for {timeout:g} s")
        self.stats.clients_stalled += 1
        log.warning("client %s stalled (its socket took no data for %g s); closing it with 1011", client.peer, timeout)

    async def close(self, client: Client, code: CloseCode, reason: str) -> None:
        """Close with ``code``; a client too stalled to take the close frame is cut off after ``close_timeout_s``."""
        ws = client.ws
        try:
            async with asyncio.timeout(self.config.close_timeout_s):
                await ws.close(code, reason)
        except TimeoutError:
            ws.transport.abort()

    async def send_loop(self, client: Client) -> None:
        """Send what the client's slot holds each time it is woken; close it on a fault or when its session says so."""
        ws, session, wake = client.ws, client.session, client.wake
        timeout = self.config.send_timeout_s
        try:
            while True:
                await wake.wait()
                wake.clear()
                client.sending = True
                try:
                    while client.fault is None and (item := self._take(client)) is not None:
                        message, frame = item
                        try:
                            async with asyncio.timeout(timeout):  # waits while the transport is over its high-water mark
                                await ws.send(message)
                        except TimeoutError:
                            self._stalled(client)
                            break
                        if frame is not None:
                            self._settle(frame, sent=True)
                finally:
                    client.sending = False
                if client.fault is not None:
                    await self.close(client, *client.fault)
                    return
                if session.close_code is not None:
                    await self.close(client, session.close_code, session.close_reason)
                    return
        except ConnectionClosed:
            return
        except Exception as e:
            self.fail(client, e)
            assert client.fault is not None
            await self.close(client, *client.fault)
