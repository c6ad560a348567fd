"""The server's settings, and where the stream is served."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerConfig", "WS_PATH"]

WS_PATH = "/ws"


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
        ping_timeout_s: a client that does not answer a ping within this is dropped (1011).
        send_timeout_s: a client whose socket takes no data for this long while the server has
            data for it (it stopped reading and its buffers are full) is dropped (1011), freeing
            its ``max_clients`` place; None = never. Needed beside the ping: a ping queued
            behind a full buffer is never sent, so its timeout never starts.
        close_timeout_s: how long a closing handshake may take before the TCP connection is cut.
        compression: permessage-deflate; off, since pose frames barely compress and it costs CPU per client.
        unsent_limit_bytes: unsent bytes the kernel may queue per client (``TCP_NOTSENT_LOWAT``, where the
            OS has it; None = OS default). Small, so a slow client's backlog (and so its latency) stays a few
            frames and newest-frame-wins takes over; in-flight data is not limited by it.
        serve_viewer: serve the browser viewer on ``/``.
        freeze_gc: once the server listens, move every object alive (modules, models, the
            viewer's files) to the collector's permanent generation (:func:`gc.freeze`), so a
            full collection, which stops every thread (the event loop included) while it walks
            the tracked objects, only walks those made since (docs/decisions.md, 2026-12-04).
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
    send_timeout_s: float | None = 20.0
    close_timeout_s: float = 2.0
    compression: bool = False
    unsent_limit_bytes: int | None = 16 * 1024
    serve_viewer: bool = True
    freeze_gc: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.max_clients < 1 or self.max_message_bytes < 256 or self.max_errors < 1:
            raise ValueError("max_clients and max_errors must be >= 1 and max_message_bytes >= 256")
        for name in ("ping_interval_s", "ping_timeout_s", "send_timeout_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 seconds or None, got {value}")
        if not self.close_timeout_s > 0:
            raise ValueError(f"close_timeout_s must be > 0 seconds, got {self.close_timeout_s}")
        if self.token is not None and not self.token:
            raise ValueError("token must be None or a non-empty string")
        if self.allowed_origins is not None:
            object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
