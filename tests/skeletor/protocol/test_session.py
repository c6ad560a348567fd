"""Per-client state: one encoding per variant, newest frame wins, control first, rate gate, error budget."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


# Any JSON value a client could put in a subscribe's keys (hypothesis draws from these).
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=20)
_rates = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(10**30), max_value=10**30) | st.sampled_from([1e-300, 1e-310, 5e-324, 0.1, 1000.0]) | _json
_subscribes = st.fixed_dictionaries(
    {"type": st.just("subscribe")},
    optional={
        "format": st.sampled_from(["json", "binary"]) | _json,
        "fields": st.lists(st.sampled_from(["joints", "confidence", "raw_joints", "latency_ms"]), max_size=5) | _json,
        "max_rate_hz": _rates,
        "protocol": st.just(1) | _json,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=_subscribes, clock=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=6))
def test_any_subscribe_is_answered_and_an_accepted_one_never_breaks_the_frame_gate(msg: dict[str, Any], clock: list[int]) -> None:
    """Defect: an accepted subscribe (max_rate_hz 1e-300) made every offer() raise, which stopped
    the server's fan-out for every client. Whatever a client sends, receive() answers with
    ``subscribed`` or ``error`` and never raises; offer() then never raises at any clock reading."""
    session = ClientSession()
    sub = session.receive(json.dumps(msg))
    answer = json.loads(session.next_message())  # type: ignore[arg-type]
    assert answer["type"] == ("error" if sub is None else "subscribed")
    if sub is not None:
        assert sub.max_rate_hz is None or 0.1 <= sub.max_rate_hz <= 1000
    shared = SharedFrame(PoseFrame(0, 0, np.zeros((75, 3)), np.ones(75)))
    for now_ns in sorted(clock):
        session.offer(shared, now_ns)
        session.next_message()
    assert session.frames_offered == len(clock) and session.frames_sent >= 1


def test_a_slow_subscription_still_gets_its_first_frame_and_then_one_per_interval(rng: np.random.Generator) -> None:
    """0.1 Hz (the lowest accepted rate): a frame at once, then one per 10 s of a 30 fps source."""
    s = ClientSession()
    assert s.receive('{"type":"subscribe","max_rate_hz":0.1}') is not None
    s.next_message()
    shared = SharedFrame(make_frame(rng))
    sent = sum(s.offer(shared, int(i * 1e9 / 30)) for i in range(30 * 35))  # 35 s
    assert sent == 4  # t = 0, 10, 20, 30 s
