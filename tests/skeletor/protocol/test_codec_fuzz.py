"""Fuzzing the codec: whatever bytes or text come in, the codec answers with a value or a
ProtocolError, never another exception; the server's per-client state answers every
message and keeps its frame gate working. Bounded: 120 examples each, no deadline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_helpers import T_SEND, make_frame

from skeletor.protocol import (
    BINARY_HEADER,
    FIELDS,
    ClientSession,
    CloseCode,
    ErrorCode,
    MessageType,
    PoseFrame,
    ProtocolError,
    SharedFrame,
    decode_frame,
    decode_message,
    encode_frame,
    parse_client_message,
)

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that break naive code: extremes of float and int, wrong types, deep and long ones.
_odd_numbers = st.sampled_from([0, -1, 1e-300, 1e-310, 5e-324, -0.0, 1e308, -1e308, 2**63, 2**64 + 1, 10**400, 0.1, 1000.0, 1000.0001])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too (written as the NaN / Infinity tokens)
    | _odd_numbers
    | st.text(max_size=30)
    | st.sampled_from(["json", "binary", "joints", "\ud800", "\x00", "🦴" * 50])
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=25)
_keys = st.sampled_from(["type", "protocol", "format", "fields", "max_rate_hz", "seq", "t_capture_ns", "t_send_ns", "joints",
                         "confidence", "raw_joints", "latency_ms", "event", "message", "code", "skeleton", "fps"]) | st.text(max_size=12)  # fmt: skip
# Every message kind of the protocol, and unknown ones, with any keys and any values.
_messages = st.builds(
    lambda t, extra: {"type": t, **extra} if t is not None else extra,
    st.sampled_from([m.value for m in MessageType] + ["SUBSCRIBE", "", "frame\x00"]) | st.none() | _values,
    st.dictionaries(_keys, _values, max_size=8),
)


def _text(msg: Any) -> str:
    return json.dumps(msg, allow_nan=True, ensure_ascii=False)


# What arrives as a text message: a message as JSON, cut short anywhere, or any text at all
# (lone surrogates included: what a lenient decoder could hand over for invalid UTF-8).
_wire_text = (
    _messages.map(_text)
    | st.tuples(_messages.map(_text), st.floats(0, 1)).map(lambda p: p[0][: int(len(p[0]) * p[1])])
    | st.text(alphabet=st.characters(codec=None), max_size=200)
    | st.sampled_from(["[" * 20_000, '{"type":"subscribe","fields":' + "[" * 5000, "x" * 70_000, "{}" * 40_000, '{"type":"subscribe"}' * 2])
)
_wire = _wire_text | st.binary(max_size=300)


@FUZZ
@given(data=_wire)
def test_client_messages_are_accepted_or_refused_with_a_protocol_error(data: str | bytes) -> None:
    try:
        sub = parse_client_message(data)
    except ProtocolError as e:
        assert isinstance(e.code, ErrorCode) and e.message and len(e.message) <= 300
        return
    assert isinstance(data, str) and sub.fields == tuple(f for f in FIELDS if f in sub.fields)
    assert sub.min_interval_ns is None or 10**6 <= sub.min_interval_ns <= 10**10


@FUZZ
@given(messages=st.lists(_wire, min_size=1, max_size=20), clock=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=8))
def test_a_session_answers_every_message_and_its_frame_gate_never_breaks(messages: list[str | bytes], clock: list[int]) -> None:
    """A client sending any sequence of messages: each one is answered (subscribed or error)
    until the session closes with a documented code, and offering frames never raises."""
    session = ClientSession(max_errors=16)
    shared = SharedFrame(PoseFrame(0, 0, np.zeros((75, 3)), np.ones(75)))
    for data in messages:
        was_open = session.close_code is None
        sub = session.receive(data)
        answers = [json.loads(m) for m in iter(session.next_message, None)]  # type: ignore[arg-type]
        if was_open:
            assert answers and answers[0]["type"] == ("error" if sub is None else "subscribed")
        else:
            assert sub is None and not answers  # closing: nothing more is read
    assert session.close_code in (None, CloseCode.UNSUPPORTED_DATA, CloseCode.MESSAGE_TOO_BIG, CloseCode.POLICY_VIOLATION)
    for now in sorted(clock):
        session.offer(shared, now)
        session.next_message()


@FUZZ
@given(data=_wire)
def test_any_server_message_decodes_or_is_a_protocol_error(data: str | bytes) -> None:
    """The client side of the codec (what every client runs on what it receives)."""
    try:
        msg = decode_message(data)
    except ProtocolError as e:
        assert isinstance(e.code, ErrorCode)
        return
    assert "type" in msg
    if msg["type"] == MessageType.FRAME:
        n = msg["joints"].shape[0] if "joints" in msg else None
        for key in ("joints", "raw_joints"):
            if key in msg:
                assert msg[key].dtype == np.float32 and msg[key].shape == (n, 3)


def _valid_binary() -> bytes:
    frame = make_frame(np.random.default_rng(3))
    data = encode_frame(frame, "binary", FIELDS, T_SEND)
    assert isinstance(data, bytes)
    return data


_BINARY = _valid_binary()


@FUZZ
@given(cut=st.integers(0, len(_BINARY) - 1), tail=st.binary(min_size=1, max_size=16))
def test_a_binary_frame_cut_short_or_with_bytes_after_it_is_refused(cut: int, tail: bytes) -> None:
    for data in (_BINARY[:cut], _BINARY + tail):
        try:
            decode_frame(data)
        except ProtocolError as e:
            assert e.code == ErrorCode.UNSUPPORTED_DATA
        else:
            raise AssertionError(f"a frame of {len(data)} bytes (valid: {len(_BINARY)}) was accepted")


@FUZZ
@given(field=st.sampled_from(BINARY_HEADER.names), value=st.integers(0, 2**64 - 1), flips=st.lists(st.integers(0, len(_BINARY) * 8 - 1), max_size=4))
def test_a_damaged_binary_frame_decodes_to_its_declared_shapes_or_is_refused(field: str, value: int, flips: list[int]) -> None:
    """Any header field set to any value, and any bits flipped anywhere."""
    header = np.frombuffer(_BINARY, dtype=BINARY_HEADER, count=1).copy()
    kind = BINARY_HEADER.fields[field][0]
    bits = 8 * kind.itemsize
    v = value % (1 << bits)
    header[field] = value.to_bytes(8, "little")[: kind.itemsize] if kind.kind == "S" else v - (1 << bits) * (kind.kind == "i" and v >> (bits - 1))
    data = bytearray(header.tobytes() + _BINARY[BINARY_HEADER.itemsize :])
    for bit in flips:
        data[bit // 8] ^= 1 << (bit % 8)
    try:
        msg = decode_frame(bytes(data))
    except ProtocolError:
        return
    n = int(np.frombuffer(bytes(data), dtype=BINARY_HEADER, count=1)[0]["num_joints"])
    for key, shape in (("joints", (n, 3)), ("confidence", (n,)), ("raw_joints", (n, 3))):
        if key in msg:
            assert msg[key].shape == shape  # type: ignore[literal-required]
    assert all(v is None or isinstance(v, float) for v in msg.get("latency_ms", {}).values())
