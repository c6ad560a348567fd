"""``--publish redis://HOST:PORT/CHANNEL``: each frame once on a real Redis, lossless; a lost Redis never blocks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from realtime.sinks import SinkContext, sinks_from_args
from realtime.sinks.background import InBackground
from realtime.sinks.redis import RedisAddress, RedisPublisherSink, hello_key, parse_redis_url
from skeletor.protocol import PoseFrame, StatusEvent, decode_frame


def test_redis_urls() -> None:
    assert parse_redis_url("redis://10.0.0.5:6380/stage-a") == RedisAddress("10.0.0.5", 6380, "stage-a")
    assert parse_redis_url("redis://bus") == RedisAddress("bus", 6379, "skeletor")
    full = parse_redis_url("rediss://live:p%40ss@[::1]:7000/perf%2F1?db=3")
    assert (full.host, full.port, full.channel, full.username, full.password, full.db, full.tls) == ("::1", 7000, "perf/1", "live", "p@ss", 3, True)
    assert full.url == "rediss://[::1]:7000/perf/1"  # no password in messages
    for bad in ("http://host:6379/x", "redis://:6379/x", "redis://host:99999/x", "redis://host/x?db=two", "redis://host/a%20b"):
        with pytest.raises(ValueError):
            parse_redis_url(bad)


def test_the_publish_flag_makes_a_background_publisher() -> None:
    from realtime.cli import build_parser

    sinks = sinks_from_args(build_parser().parse_args(["--demo", "--publish", "redis://127.0.0.1:6379/stage"]))
    (publisher,) = [s for s in sinks if s.name == "redis"]
    assert isinstance(publisher, InBackground) and isinstance(publisher.sink, RedisPublisherSink)
    assert publisher.sink.address.channel == "stage"
    assert not [s for s in sinks_from_args(build_parser().parse_args(["--demo"])) if s.name == "redis"]
    with pytest.raises(ValueError, match="redis://"):
        sinks_from_args(build_parser().parse_args(["--demo", "--publish", "nats://127.0.0.1:4222/stage"]))


def _frames(clip_frames: Callable[[int], list[PoseFrame]], n: int) -> list[PoseFrame]:
    """Real clip frames with every field a pipeline fills (raw joints, per-stage latency)."""
    out = []
    for f in clip_frames(n):
        raw = f.joints + np.float32(0.01)
        out.append(PoseFrame(f.seq, f.t_capture_ns, f.joints, f.confidence, raw_joints=raw, latency_ms={"detect": 12.25, "refine": 1.5 + f.seq}))
    return out


def _drain(pubsub: Any, until: float) -> list[bytes]:
    got = []
    while time.monotonic() < until:
        m = pubsub.get_message(timeout=0.1)
        if m is not None and m["type"] == "message":
            got.append(m["data"])
    return got


def test_each_frame_and_status_is_published_once_and_lossless(redis_server: Any, clip_frames: Callable[[int], list[PoseFrame]]) -> None:
    import redis

    address = parse_redis_url(redis_server.url("stage"))
    watcher = redis.Redis(port=redis_server.port)
    pubsub = watcher.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("stage")
    sink = RedisPublisherSink(address)
    sink.open(SinkContext(fps=30.0))
    assert json.loads(watcher.get(hello_key("stage"))) == {"skeleton": "holistic75", "fps": 30.0}
    frames = _frames(clip_frames, 40)
    for f in frames[:20]:
        sink.write(f)
    sink.status(StatusEvent.NO_PERSON, "nobody in view")
    for f in frames[20:]:
        sink.write(f)
    sink.close()
    got = _drain(pubsub, time.monotonic() + 1.0)
    assert len(got) == 41 and sink.published == 40 and sink.lost == 0
    status = json.loads(got[20])
    assert (status["type"], status["event"], status["message"]) == ("status", "no_person", "nobody in view")
    for f, data in zip(frames, got[:20] + got[21:]):
        msg = decode_frame(data)
        assert (msg["seq"], msg["t_capture_ns"]) == (f.seq, f.t_capture_ns)
        np.testing.assert_array_equal(msg["joints"], f.joints)  # float32 as the pipeline made them, NaN where missing
        np.testing.assert_array_equal(msg["confidence"], f.confidence)
        np.testing.assert_array_equal(msg["raw_joints"], f.raw_joints)
        assert msg["latency_ms"] == f.latency_ms
    assert sink.describe() == f"publishing to {address.url}"


def test_no_redis_at_start_is_a_clear_error(redis_server: Any) -> None:
    redis_server.stop()
    sink = RedisPublisherSink(parse_redis_url(redis_server.url("stage")), timeout_s=0.5)
    with pytest.raises(OSError, match=f"cannot publish to redis://127.0.0.1:{redis_server.port}/stage"):
        sink.open(SinkContext(fps=30.0))


def test_a_lost_redis_costs_frames_not_the_pipeline_and_is_found_again(redis_server: Any, clip_frames: Callable[[int], list[PoseFrame]]) -> None:
    """Redis killed mid-stream: the pipeline's writes all return (frames are counted lost, the
    status line says DOWN), and once Redis is back on its port publishing resumes by itself,
    with the stream info key set again in the empty new Redis."""
    import redis

    sink = RedisPublisherSink(parse_redis_url(redis_server.url("stage")), timeout_s=0.5, backoff_s=(0.05, 0.2))
    background = InBackground(sink)
    background.open(SinkContext(fps=30.0))
    frames = _frames(clip_frames, 170)
    for f in frames[:10]:
        background.write(f)
    redis_server.stop()
    for f in frames[10:110]:  # the pipeline at ~100 Hz while Redis is gone
        background.write(f)
        time.sleep(0.01)
    assert sink.lost > 0 and "redis DOWN" in background.summary()
    redis_server.start()
    watcher = redis.Redis(port=redis_server.port)
    pubsub = watcher.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("stage")
    for f in frames[110:]:
        background.write(f)
        time.sleep(0.02)
    got = [decode_frame(d)["seq"] for d in _drain(pubsub, time.monotonic() + 0.5)]
    background.close()
    assert got and got == sorted(got) and got[-1] == 169
    assert watcher.get(hello_key("stage")) is not None and "DOWN" not in background.summary()
