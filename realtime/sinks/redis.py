"""``--publish redis://HOST:PORT/CHANNEL``: every cleaned frame published once to Redis, for relays.

One Redis message per frame, on the channel: the wire protocol's binary frame
(:func:`skeletor.protocol.encode_frame`) with every field (joints, confidence, raw_joints
when the pipeline has them, latency_ms): float32 as the pipeline made them, so a relay
(``skeletor relay``, :mod:`realtime.relay`) decodes the very :class:`~skeletor.protocol.PoseFrame`
and encodes it for its own clients, JSON or binary, any fields, exactly as this machine's
server does. Status events go on the same channel as the protocol's ``status`` JSON. The key
``CHANNEL:hello`` holds the stream's skeleton and fps (a relay's ``hello`` needs them), set
when the stream starts.

The humanoid rig (the ``rotations`` field) is solved only while someone wants it: a relay
whose clients subscribe to ``rotations`` keeps the key ``CHANNEL:wants_rig`` alive (a few
seconds' expiry, renewed every second), and this sink's ``wants_rig`` reads it (at most once
a second, from its own thread). A new rest rig is published as the protocol's ``rig``
message before the first frame that uses it, and kept in ``CHANNEL:rig`` for relays that
start later.

Redis's PUBLISH never waits for subscribers (a subscriber that falls too far behind is
disconnected by Redis, and a relay then reconnects), and this sink runs behind
:class:`~realtime.sinks.background.InBackground`, so neither a slow Redis nor a slow relay
slows the pipeline: frames published while Redis is slow are replaced by newer ones. When
Redis is gone the sink keeps the pipeline's frames out of it and tries again with backoff
(0.2 s doubling to 5 s); ``summary`` says so on the status line.

The ``redis`` client package is the extra ``pip install 'skeletor-live[cluster]'``; it is
imported when the sink opens, so ``skeletor-live`` without ``--publish`` never needs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from realtime.sinks.background import InBackground
from realtime.sinks.base import BaseSink, SinkContext, SinkSpec
from skeletor.protocol import FIELDS, Format, PoseFrame, StatusEvent, encode_frame, encode_rig, encode_status

__all__ = ["SPEC", "RedisAddress", "RedisPublisherSink", "parse_redis_url", "hello_key", "rig_key", "wants_rig_key", "import_redis"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 6379
DEFAULT_CHANNEL = "skeletor"


@dataclass(frozen=True)
class RedisAddress:
    """Where a pose stream lives on Redis: ``redis://[:PASSWORD@]HOST[:PORT]/CHANNEL[?db=N]``.

    Attributes:
        host: the Redis server.
        port: its port (default 6379).
        channel: the pub/sub channel of the stream (default ``skeletor``); one channel per
            performer or stream.
        password: Redis's ``requirepass`` (or None).
        username: a Redis ACL user (or None).
        db: the database of the ``CHANNEL:hello`` key (pub/sub ignores databases).
        tls: ``rediss://``, TLS to Redis.
    """

    host: str
    port: int = DEFAULT_PORT
    channel: str = DEFAULT_CHANNEL
    password: str | None = None
    username: str | None = None
    db: int = 0
    tls: bool = False

    @property
    def url(self) -> str:
        """The address without its password, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{host}:{self.port}/{self.channel}"


def parse_redis_url(url: str) -> RedisAddress:
    """Parse ``redis://[[USER]:PASSWORD@]HOST[:PORT]/CHANNEL[?db=N]`` (``rediss://`` for TLS).

    Args:
        url: what the user typed.

    Returns:
        The address.

    Raises:
        ValueError: another scheme, no host, a bad port or db, or a channel with spaces.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"expected redis://HOST:PORT/CHANNEL, got {url!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}; expected redis://HOST:PORT/CHANNEL")
    channel = unquote(parts.path.lstrip("/")) or DEFAULT_CHANNEL
    if any(c.isspace() for c in channel):
        raise ValueError(f"the channel {channel!r} has spaces")
    query = parse_qs(parts.query)
    try:
        db = int(query.get("db", ["0"])[0])
    except ValueError:
        raise ValueError(f"db must be a number in {url!r}") from None
    return RedisAddress(
        host=parts.hostname,
        port=port,
        channel=channel,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        db=db,
        tls=parts.scheme == "rediss",
    )


def hello_key(channel: str) -> str:
    """The Redis key holding a stream's skeleton and fps: ``CHANNEL:hello``."""
    return f"{channel}:hello"


def rig_key(channel: str) -> str:
    """The Redis key holding a stream's latest rest rig (the protocol's ``rig`` message): ``CHANNEL:rig``."""
    return f"{channel}:rig"


def wants_rig_key(channel: str) -> str:
    """The Redis key relays keep alive while a client of theirs wants ``rotations``: ``CHANNEL:wants_rig``."""
    return f"{channel}:wants_rig"


def import_redis() -> Any:
    """The ``redis`` client package.

    Raises:
        OSError: it is not installed (what to install is in the message).
    """
    try:
        import redis
    except ImportError as e:
        raise OSError(f"the redis package is not installed ({e}); pip install 'skeletor-live[cluster]'") from None
    return redis


def connect(address: RedisAddress, timeout_s: float = 2.0, **options: Any) -> Any:
    """A ``redis.Redis`` client for ``address`` (connects lazily, on its first command).

    A failed command raises at once (no retries inside the client): the callers retry with
    their own backoff and meanwhile tell the user, instead of stalling for seconds.

    Args:
        address: the server.
        timeout_s: connect and socket timeout (seconds).
        **options: more ``redis.Redis`` options (``health_check_interval``, ...).
    """
    redis = import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=address.host, port=address.port, db=address.db, password=address.password, username=address.username,
        ssl=address.tls, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, socket_keepalive=True,
        retry=Retry(NoBackoff(), 0), **options,
    )  # fmt: skip


class RedisPublisherSink(BaseSink):
    """Publishes each frame (binary, every field) and status event once to a Redis channel.

    Run it behind :class:`~realtime.sinks.background.InBackground` (``--publish`` does): its
    calls wait on the network.

    Args:
        address: the Redis server and channel.
        timeout_s: connect and socket timeout.
        backoff_s: (first, largest) wait before trying a Redis that failed again.

    Attributes:
        published: frames published.
        lost: frames not published because Redis was unreachable.
    """

    name = "redis"

    def __init__(self, address: RedisAddress, timeout_s: float = 2.0, backoff_s: tuple[float, float] = (0.2, 5.0)) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.published = 0
        self.lost = 0
        self._client: Any = None
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        self._hello = ""
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = backoff_s[0]
        self._rig_version = 0  # the last rest rig published
        self._rig_wanted = False
        self._rig_checked = 0.0

    @property
    def wants_rig(self) -> bool:
        """Whether a relay's client wants ``rotations`` (the last answer of Redis, asked at most once a second)."""
        return self._rig_wanted

    def open(self, context: SinkContext) -> None:
        """Connect, check that Redis answers, and store the stream's hello key.

        Raises:
            OSError: the package is missing or Redis cannot be reached (the message says where).
        """
        redis = import_redis()
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._hello = json.dumps({"skeleton": context.skeleton.name, "fps": context.fps})
        self._client = connect(self.address, self.timeout_s)
        try:
            self._client.set(hello_key(self.address.channel), self._hello)
        except redis.RedisError as e:
            self._client.close()
            raise OSError(f"cannot publish to {self.address.url}: {e}") from None

    def write(self, frame: PoseFrame) -> None:
        """Publish one frame (or count it lost while Redis is down); a new rest rig goes first as a ``rig`` message."""
        rig = frame.rig
        if rig is not None and rig.rig_version != self._rig_version and rig.rest_offsets is not None:
            message = encode_rig(rig.rig_version, rig.rest_offsets)
            if self._send(message, keep=rig_key(self.address.channel)):
                self._rig_version = rig.rig_version
        data = encode_frame(frame, Format.BINARY, FIELDS, time.time_ns())
        if self._send(data):
            self.published += 1
        else:
            self.lost += 1
        now = time.monotonic()
        if now >= self._rig_checked + 1.0 and self._down_since is None:
            self._rig_checked = now
            try:
                self._rig_wanted = self._client.exists(wants_rig_key(self.address.channel)) > 0
            except self._errors:
                pass  # the next publish notices a lost Redis

    def status(self, event: StatusEvent, text: str) -> None:
        """Publish a status event as the protocol's ``status`` message (as the server sends it to its clients)."""
        self._send(encode_status(event, text))

    def close(self) -> None:
        """Close the connection."""
        if self._client is not None:
            self._client.close()

    def describe(self) -> str:
        """Where the stream is published."""
        return f"publishing to {self.address.url}"

    def summary(self) -> str:
        """Frames published, or that Redis is unreachable."""
        if self._down_since is not None:
            return f"redis DOWN {time.monotonic() - self._down_since:.0f} s"
        return f"redis {self.published}"

    def _send(self, data: bytes | str, keep: str | None = None) -> bool:
        """Publish ``data`` (and store it under the key ``keep``); False while Redis is unreachable."""
        now = time.monotonic()
        if self._down_since is not None and now < self._retry_at:
            return False
        try:
            if self._down_since is not None:
                self._client.set(hello_key(self.address.channel), self._hello)  # Redis may have restarted empty
                self._rig_version = 0  # and without the rest rig: published again with the next frame
            if keep is not None:
                self._client.set(keep, data)
            self._client.publish(self.address.channel, data)
        except self._errors as e:
            if self._down_since is None:
                self._down_since = now
                log.warning("lost Redis at %s (%s); frames are not published until it is back", self.address.url, e)
            self._retry_at = now + self._backoff
            self._backoff = min(2 * self._backoff, self.backoff_s[1])
            return False
        if self._down_since is not None:
            log.warning("Redis at %s is back after %.1f s", self.address.url, now - self._down_since)
            self._down_since, self._backoff = None, self.backoff_s[0]
        return True


def _add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("publish (fan-out through Redis to `skeletor relay` processes)")
    group.add_argument("--publish", default=None, metavar="redis://HOST:PORT/CHANNEL",
                       help="publish every cleaned frame once to this Redis channel; each `skeletor relay "
                       "redis://HOST:PORT/CHANNEL` serves it to its own clients (extra: pip install "
                       "'skeletor-live[cluster]'). A slow or lost Redis never slows the stream")  # fmt: skip


def _from_args(args: argparse.Namespace) -> InBackground | None:
    """The publisher ``--publish`` asks for, in its own thread; None without the flag.

    Raises:
        ValueError: not a redis:// URL.
    """
    if not getattr(args, "publish", None):
        return None
    return InBackground(RedisPublisherSink(parse_redis_url(args.publish)))


SPEC = SinkSpec(add_options=_add_options, from_args=_from_args)
