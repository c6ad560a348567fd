"""The server's counters: frames published and coalesced, clients dropped, fan-out time, and each client's."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

if TYPE_CHECKING:
    from realtime.server.fanout import Client

__all__ = ["ServerStats", "client_stats", "peer_name"]


@dataclass
class ServerStats:
    """Server-wide counters.

    Attributes:
        frames_published: frames fanned out to the clients' slots.
        frames_coalesced: frames from other threads replaced by a newer one before the
            event loop took them (the loop fell behind the pipeline).
        clients_failed: clients closed with 1011 after a fault of their own (an exception
            while offering, encoding or sending to them).
        clients_stalled: clients closed with 1011 because their socket took no data for
            ``send_timeout_s``.
        fanout_ms: for each recent frame that reached a client: ms from ``publish`` to the
            last client's send returning (the server's own share of the latency).
        fanout_pass_ms: for each frame published while clients were connected: ms from
            ``publish`` to the end of the event loop's pass over the clients, when every
            client whose socket keeps up has been written the frame (slower ones hold it in
            their slot); unlike ``fanout_ms`` it does not wait for any client to read.
        fanout_wait_ms: the part of ``fanout_pass_ms`` before the pass starts (the hand-over
            from the publishing thread to the event loop).
        fanout_cpu_ms: for each recent frame published while clients were connected: the
            event loop thread's CPU time for the pass over the clients (offer, encode, direct
            writes), ms; unlike ``fanout_ms`` it does not count time the thread waited for a core.
        encode_ms: for each encoding of a recent frame (one per format and set of fields
            that some client takes, shared by all of them): ms the event loop thread spent
            serialising it.
    """

    frames_published: int = 0
    frames_coalesced: int = 0
    clients_failed: int = 0
    clients_stalled: int = 0
    fanout_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    fanout_pass_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    fanout_wait_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    fanout_cpu_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    encode_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


def client_stats(clients: Iterable[Client]) -> list[dict[str, Any]]:
    """Per-client counters: peer, subscription, frames sent / dropped / rate-limited, errors."""
    return [{"peer": c.peer, **c.session.stats()} for c in list(clients)]


def peer_name(ws: ServerConnection) -> str:
    """``host:port`` of the client, for logs and stats (``?`` when unknown)."""
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except (TypeError, ValueError):
        return "?"
