"""``skeletor relay redis://HOST:PORT/CHANNEL``: a pose server whose frames come from Redis.

``skeletor-live --publish redis://HOST:PORT/CHANNEL`` puts every cleaned frame once on a
Redis channel (:mod:`realtime.sinks.redis`); each relay subscribes to it and serves the same
websocket protocol and browser viewer as ``skeletor-live`` itself (hello, subscribe, formats,
fields, rate limits, token and origin rules) to its own clients: it *is* that server
(:class:`realtime.server.PoseServer`, unchanged), fed by Redis instead of a pipeline. The
frames on Redis are binary with every field, so a relay's clients get the bytes the
publisher's own clients get (``t_send_ns`` aside: it is the relay's send time).

One thread reads Redis and hands each frame to the server, which keeps one newest-frame-wins
slot per client; it never waits for clients, so a relay keeps up with Redis however slow
its clients are, and Redis never waits for a relay (PUBLISH does not; a relay that cannot
keep up at all is disconnected by Redis and reconnects). When Redis goes away the relay
tells its clients (a ``source_lost`` status naming Redis), tries again with backoff (0.2 s
doubling to 5 s) and says ``source_found`` when the stream is back; the clients stay
connected throughout. Many relays on many machines fan one performer out to thousands of
clients; they know nothing of each other.

Rotations (the humanoid rig) cost the publisher a solve per frame, so it solves them only on
demand: while a client of a relay subscribes to ``rotations`` the relay keeps the key
``CHANNEL:wants_rig`` alive, and it passes on the publisher's ``rig`` messages (the rest rig;
the latest is kept in ``CHANNEL:rig`` for relays and clients that come later).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from realtime.server import ServerConfig, ServerThread
from realtime.sinks.redis import RedisAddress, connect, hello_key, import_redis, parse_redis_url, rig_key, wants_rig_key
from skeletor.pose.skeleton import HOLISTIC75, get_skeleton
from skeletor.protocol import MAGIC, MessageType, ProtocolError, StatusEvent, decode_frame, pose_frame_from_message

__all__ = ["RelayConfig", "Relay", "add_parser", "run"]

log = logging.getLogger(__name__)

_STATUS_KEYS = {"type", "event", "message", "t_ns"}
_WANTS_RIG_TTL_S = 5  # how long a relay's "a client wants rotations" outlives the relay's last word


@dataclass(frozen=True)
class RelayConfig:
    """Settings of a relay (``skeletor relay`` flags map to these fields).

    Attributes:
        address: the Redis server and channel to relay.
        server: the websocket server's settings (the same as ``skeletor-live``'s).
        timeout_s: connect and socket timeout towards Redis.
        health_check_s: how often an idle Redis connection is checked (a dead one is only
            noticed by a command).
        backoff_s: (first, largest) wait between reconnection attempts; doubled each time.
    """

    address: RedisAddress
    server: ServerConfig = field(default_factory=ServerConfig)
    timeout_s: float = 2.0
    health_check_s: float = 2.0
    backoff_s: tuple[float, float] = (0.2, 5.0)

    def __post_init__(self) -> None:
        first, largest = self.backoff_s
        if not 0 < first <= largest or self.timeout_s <= 0 or self.health_check_s <= 0:
            raise ValueError(f"timeouts must be > 0 and backoff (first, largest) with 0 < first <= largest, got {self.backoff_s}")


class Relay:
    """Subscribes to a Redis channel and serves its frames over websockets.

    ``start()`` returns once the server listens (whether or not Redis is reachable yet);
    ``stop()`` closes the clients (1001) and the Redis connection.

    Attributes:
        frames: frames relayed (handed to the server).
        bad_messages: messages on the channel that were not protocol frames or statuses.
        reconnects: times Redis was lost and found again.
        connected: whether the relay is subscribed right now.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.frames = 0
        self.bad_messages = 0
        self.reconnects = 0
        self.connected = False
        self.server: ServerThread | None = None
        self._redis = import_redis()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Relay:
        """Read the stream's skeleton and fps from Redis (if it answers), start the server and the reader.

        Returns:
            ``self``.

        Raises:
            OSError: the server's address cannot be bound.
        """
        skeleton, fps = self._stream_info()
        server = ServerThread(self.config.server, skeleton=skeleton, fps=fps)
        try:
            server.start()
        except RuntimeError as e:
            raise OSError(f"cannot serve on {self.config.server.host}:{self.config.server.port}: {e.__cause__ or e}") from e
        self.server = server
        self._thread = threading.Thread(target=self._run, name="relay-redis", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading Redis and stop the server (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The stream's websocket URL."""
        if self.server is None:
            raise RuntimeError("relay not started")
        return self.server.url

    @property
    def http_url(self) -> str:
        """The viewer's URL."""
        if self.server is None:
            raise RuntimeError("relay not started")
        return self.server.http_url

    # ------------------------------------------------------------------ Redis

    def _stream_info(self) -> tuple[Any, float | None]:
        """The publisher's skeleton and fps from its hello key; holistic75 and unknown fps when Redis has none."""
        client = connect(self.config.address, self.config.timeout_s)
        try:
            raw = client.get(hello_key(self.config.address.channel))
        except self._redis.RedisError as e:
            log.warning("Redis at %s does not answer (%s); serving without its stream info", self.config.address.url, e)
            return HOLISTIC75, None
        finally:
            client.close()
        if raw is None:
            log.info("no stream info at %s yet (no publisher has started); fps unknown", hello_key(self.config.address.channel))
            return HOLISTIC75, None
        try:
            info = json.loads(raw)
            fps = info.get("fps")
            return get_skeleton(info.get("skeleton", HOLISTIC75.name)), (float(fps) if fps else None)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("unreadable stream info at %s (%s); using holistic75", hello_key(self.config.address.channel), e)
            return HOLISTIC75, None

    def _run(self) -> None:
        cfg = self.config
        errors = (self._redis.ConnectionError, self._redis.TimeoutError, OSError)
        backoff = cfg.backoff_s[0]
        lost_at: float | None = None
        while not self._stop.is_set():
            client = connect(cfg.address, cfg.timeout_s, health_check_interval=cfg.health_check_s)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(cfg.address.channel)
                self.connected = True
                if lost_at is not None:
                    self.reconnects += 1
                    self._say(StatusEvent.SOURCE_FOUND, f"relay reconnected to Redis at {cfg.address.url} after {time.monotonic() - lost_at:.1f} s")
                    lost_at = None
                backoff = cfg.backoff_s[0]
                rig = client.get(rig_key(cfg.address.channel))
                if rig is not None:
                    self._relay(rig)  # the current rest rig, for clients that subscribe to rotations
                checked = 0.0
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._relay(message["data"])
                    now = time.monotonic()
                    if now >= checked + 1.0:
                        checked = now
                        self._ask_for_rig(client)
            except errors as e:
                self.connected = False
                if lost_at is None:
                    lost_at = time.monotonic()
                    self._say(StatusEvent.SOURCE_LOST, f"relay lost Redis at {cfg.address.url} ({e}); reconnecting")
                self._stop.wait(backoff)
                backoff = min(2 * backoff, cfg.backoff_s[1])
            finally:
                self.connected = False
                try:
                    pubsub.close()
                    client.close()
                except errors:
                    pass

    def _ask_for_rig(self, client: Any) -> None:
        """Keep ``CHANNEL:wants_rig`` alive while a client of this relay subscribes to ``rotations``."""
        server = self.server
        if server is not None and server.server.wants_rotations:
            client.set(wants_rig_key(self.config.address.channel), "1", ex=_WANTS_RIG_TTL_S)

    def _say(self, event: StatusEvent, text: str) -> None:
        log.warning("%s", text)
        if self.server is not None:
            self.server.publish_status(event, text, source=self.config.address.url)

    def _relay(self, data: bytes) -> None:
        """One message from the channel: a binary frame to every client's slot, a status to every client."""
        server = self.server
        if server is None:
            return
        try:
            if data[:4] == MAGIC:
                server.publish(pose_frame_from_message(decode_frame(data)))
                self.frames += 1
                return
            msg = json.loads(data)
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == MessageType.RIG:
                server.publish_rig(int(msg["rig_version"]), np.asarray(msg["rest_offsets"], dtype=np.float64))
                return
            if kind != MessageType.STATUS:
                raise ValueError(f"not a frame, rig or status message: {data[:40]!r}")
            details = {k: v for k, v in msg.items() if k not in _STATUS_KEYS}
            server.publish_status(StatusEvent(msg["event"]), msg.get("message"), **details)
        except (ProtocolError, ValueError, KeyError, TypeError) as e:
            self.bad_messages += 1
            if self.bad_messages == 1:  # once; then only counted
                log.warning("ignoring a message on %s that is not the pose protocol: %s", self.config.address.url, e)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``relay`` on the ``skeletor`` parser."""
    from realtime.sinks import websocket

    p = sub.add_parser(
        "relay",
        help="serve a stream that skeletor-live --publish puts on Redis (fan-out over many machines)",
        description=(
            "Subscribe to the Redis channel that `skeletor-live --publish redis://HOST:PORT/CHANNEL` publishes to, and "
            "serve that stream with the same websocket protocol and browser viewer as skeletor-live, to this relay's "
            "own clients. Run one relay per machine (or per few hundred clients); they are independent of each other. "
            "When Redis is lost, clients stay connected and get a status message, and the relay reconnects. "
            "Needs the extra: pip install 'skeletor-live[cluster]'."
        ),
        epilog="exit status: 0 stopped (Ctrl-C or --seconds); 2 bad options, the redis package missing, or the port in use",
    )
    p.add_argument("source", metavar="redis://HOST:PORT/CHANNEL", help="the Redis server and channel skeletor-live publishes to")
    websocket.SPEC.add_options(p)  # the server's own flags: --host, --port, --token, --allowed-origin, --max-clients
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: run until Ctrl-C)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``skeletor relay`` until Ctrl-C (or ``--seconds``); returns the exit status."""
    from realtime.sinks import websocket

    try:
        address = parse_redis_url(args.source)
        server = websocket.SPEC.from_args(args)
        assert server is not None  # the websocket sink is always on
        config = RelayConfig(address=address, server=server.config)  # type: ignore[attr-defined]
        if args.seconds is not None and not args.seconds > 0:
            raise ValueError(f"--seconds must be positive, got {args.seconds}")
        relay = Relay(config)
    except (ValueError, OSError) as e:
        print(f"skeletor relay: error: {e}", file=sys.stderr)
        return 2
    try:
        relay.start()
    except OSError as e:
        print(f"skeletor relay: error: {e}", file=sys.stderr)
        return 2
    print(f"skeletor relay: {address.url} -> viewer {relay.http_url}  stream {relay.url}", flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while not stop.wait(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        relay.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(f"skeletor relay: stopped; {relay.frames} frames relayed, {relay.reconnects} reconnection(s) to Redis", flush=True)
    return 0
