"""The websocket + HTTP server as a sink: every frame to every client, the viewer on ``/``.

``publish`` only fills each client's newest-frame-wins slot (see :mod:`realtime.server`),
so this sink never waits for a client. Its flags: ``--host``, ``--port``, ``--token`` /
``--no-token``, ``--allowed-origin``, ``--max-clients``. It is always on.

Serving other machines (any ``--host`` that is not loopback) needs a token (``--token`` or
``$SKELETOR_TOKEN``), or an explicit ``--no-token`` from a user who means it: an open
stream is refused before anything starts rather than merely warned about.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket

from realtime.server import ServerConfig, ServerThread
from realtime.server.auth import is_loopback
from realtime.sinks.base import BaseSink, SinkContext, SinkSpec
from skeletor.protocol import PoseFrame, StatusEvent

__all__ = ["SPEC", "WebsocketSink"]


class WebsocketSink(BaseSink):
    """Serves the stream on ``ws://HOST:PORT/ws`` and the viewer on ``http://HOST:PORT/``.

    Args:
        config: the server's settings.

    Attributes:
        server: the running server thread (None until :meth:`open`).
    """

    name = "websocket"

    def __init__(self, config: ServerConfig = ServerConfig()) -> None:
        self.config = config
        self.server: ServerThread | None = None
        self._rig_version = 0  # the last rest rig sent to the clients

    def open(self, context: SinkContext) -> None:
        """Start the server; ``hello`` carries the context's skeleton, fps and refiner.

        Raises:
            OSError: the address cannot be bound (in use, not this machine's).
        """
        server = ServerThread(
            self.config, skeleton=context.skeleton, fps=context.fps, max_people=context.max_people, refiner=context.refiner
        )
        try:
            server.start()
        except RuntimeError as e:
            raise OSError(_bind_failure(self.config, e.__cause__ or e)) from e
        self.server = server

    @property
    def wants_rig(self) -> bool:
        """True while a client is subscribed to ``rotations`` (the pipeline then solves the rig)."""
        return self.server is not None and self.server.server.wants_rotations

    def write(self, frame: PoseFrame) -> None:
        """Offer the frame to every client's slot (never blocks); a new rest rig goes first as a ``rig`` message."""
        if self.server is None:
            return
        rig = frame.rig
        if rig is not None and rig.rig_version != self._rig_version and rig.rest_offsets is not None:
            self._rig_version = rig.rig_version
            self.server.publish_rig(rig.rig_version, rig.rest_offsets)
        self.server.publish(frame)

    def status(self, event: StatusEvent, text: str) -> None:
        """Send a ``status`` message to every client."""
        if self.server is not None:
            self.server.publish_status(event, text)

    def person_event(self, event: StatusEvent, text: str, person_id: int) -> None:
        """Send a ``person_appeared`` / ``person_left`` status with ``person_id`` (a leaver's waiting frames are dropped)."""
        if self.server is not None:
            self.server.publish_status(event, text, person_id=person_id)

    def close(self) -> None:
        """Stop the server; clients get close code 1001 (going away)."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def describe(self) -> str:
        """The viewer's and the stream's URLs."""
        return "" if self.server is None else f"viewer {self.server.http_url}  stream {self.server.url}"

    def summary(self) -> str:
        """Connected clients."""
        return "" if self.server is None else f"clients {self.server.server.num_clients:3d}"


def _bind_failure(config: ServerConfig, cause: BaseException) -> str:
    """One line saying why ``config``'s address could not be served, and what to do about it."""
    where = f"{config.host}:{config.port}"
    code = getattr(cause, "errno", None)
    if code == errno.EADDRINUSE:
        return f"cannot serve on {where}: the port is in use by another program; choose another with --port N (0 = any free port) or stop that program"
    if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(cause, socket.gaierror):
        return f"cannot serve on {where}: {config.host} is not an address of this machine; check --host (127.0.0.1 = this machine only)"
    if code == errno.EACCES:
        return f"cannot serve on {where}: permission denied (ports below 1024 need privileges); choose another with --port N"
    return f"cannot serve on {where}: {cause}"


def _add_options(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("server (websocket stream + browser viewer)")
    net.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    net.add_argument("--port", type=int, default=8765, help="TCP port for http:// (viewer) and ws:// (stream); default 8765")
    auth = net.add_mutually_exclusive_group()
    auth.add_argument(
        "--token",
        default=None,
        help="shared secret clients must send (default: $SKELETOR_TOKEN); needed for any --host but loopback",
    )
    auth.add_argument(
        "--no-token",
        action="store_true",
        help="serve a non-loopback --host without a token (anyone who can reach this machine can watch the stream)",
    )
    net.add_argument(
        "--allowed-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="browser origin allowed besides local pages (repeatable; '*' = any)",
    )
    net.add_argument("--max-clients", type=int, default=500, help="most simultaneous clients (default 500)")


def _from_args(args: argparse.Namespace) -> WebsocketSink:
    """The server the flags describe (always one).

    The token is ``--token``, else ``$SKELETOR_TOKEN``; ``--no-token`` means none, whatever
    the environment says.

    Raises:
        ValueError: a bad port, client limit or empty token; or a non-loopback ``--host``
            with neither a token nor ``--no-token``.
    """
    token = None if args.no_token else (args.token if args.token is not None else os.environ.get("SKELETOR_TOKEN")) or None
    if token is None and not args.no_token and not is_loopback(args.host):
        raise ValueError(
            f"--host {args.host or repr('')} serves other machines: give --token SECRET (or set $SKELETOR_TOKEN) "
            "so only clients that know it can watch, or --no-token to serve everyone who can reach this machine"
        )
    return WebsocketSink(
        ServerConfig(
            host=args.host,
            port=args.port,
            token=token,
            allowed_origins=tuple(args.allowed_origin) if args.allowed_origin else None,
            max_clients=args.max_clients,
        )  # fmt: skip
    )


SPEC = SinkSpec(add_options=_add_options, from_args=_from_args)
