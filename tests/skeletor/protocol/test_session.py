"""Per-client state: one encoding per variant, newest frame wins, control first, rate gate, error budget."""

from __future__ import annotations

import json

import numpy as np
from protocol_helpers import T_SEND, make_frame

from skeletor.protocol import ClientSession, CloseCode, ErrorCode, Format, PoseFrame, SharedFrame, Subscribe


def test_shared_frame_encodes_once_per_variant(rng: np.random.Generator) -> None:
    calls = []

    def clock() -> int:
        calls.append(1)
        return T_SEND + len(calls)

    shared = SharedFrame(make_frame(rng), clock)
    a = shared.encoded(Subscribe(Format.BINARY))
    assert shared.encoded(Subscribe(Format.BINARY)) is a
    assert shared.encoded(Subscribe(Format.BINARY, ("latency_ms", "confidence", "joints"))) is a  # same set, any order
    shared.encoded(Subscribe(Format.JSON))
    assert len(calls) == 2


def test_session_newest_frame_wins_and_control_goes_first(rng: np.random.Generator) -> None:
    s = ClientSession()
    s.queue_control("hello")
    frames = [SharedFrame(make_frame(rng, seq=i)) for i in range(3)]
    for i, f in enumerate(frames):
        assert s.offer(f, now_ns=i)
    s.queue_control("status")
    assert s.next_message() == "hello"
    assert s.next_message() == "status"
    newest = s.next_message()
    assert isinstance(newest, str) and json.loads(newest)["seq"] == 2
    assert s.next_message() is None and not s.pending
    assert (s.frames_offered, s.frames_sent, s.frames_dropped) == (3, 1, 2)


def test_session_subscribe_changes_the_waiting_frame_format(rng: np.random.Generator) -> None:
    s = ClientSession()
    s.offer(SharedFrame(make_frame(rng)), 0)
    assert s.receive('{"type":"subscribe","format":"binary","fields":["joints"]}') is not None
    assert json.loads(s.next_message())["type"] == "subscribed"  # type: ignore[arg-type]
    data = s.next_message()
    assert isinstance(data, bytes) and len(data) == 40 + 900


def test_session_rate_limit_skips_without_delay(rng: np.random.Generator) -> None:
    s = ClientSession()
    s.receive('{"type":"subscribe","max_rate_hz":20}')
    shared = SharedFrame(make_frame(rng))
    sent = 0
    period = 1e9 / 30  # a 30 fps source for 3 s, with +-3 ms of jitter
    jitter = rng.uniform(-3e6, 3e6, 90)
    for i in range(90):
        if s.offer(shared, int(i * period + jitter[i])):
            sent += 1
            s.next_message()
    assert 58 <= sent <= 62, sent  # 20 Hz over 3 s
    assert s.frames_rate_limited == 90 - sent
    # A source just above the limit is not halved by jitter.
    s.receive('{"type":"subscribe","max_rate_hz":30}')
    accepted = sum(s.offer(shared, int(i * 1e9 / 31 + jitter[i % 90])) for i in range(93))
    assert accepted >= 85


def test_session_errors_and_close_codes() -> None:
    s = ClientSession(max_errors=3)
    assert s.receive("nope") is None and s.close_code is None
    assert json.loads(s.next_message())["code"] == ErrorCode.INVALID_JSON  # type: ignore[arg-type]
    s.receive('{"type":"x"}')
    s.receive('{"type":"y"}')
    assert s.close_code == CloseCode.POLICY_VIOLATION and s.errors == 3
    codes = [json.loads(m)["code"] for m in iter(s.next_message, None)]  # type: ignore[arg-type]
    assert codes == [ErrorCode.UNKNOWN_TYPE, ErrorCode.UNKNOWN_TYPE, ErrorCode.TOO_MANY_ERRORS]

    b = ClientSession()
    b.receive(b"\x01\x02")
    assert b.close_code == CloseCode.UNSUPPORTED_DATA
    assert not b.offer(SharedFrame(PoseFrame(0, 0, np.zeros((75, 3)), np.ones(75))), 0)  # closing: no more frames
