"""The codec: exact bytes of the binary layout, round trips, JSON frames, strict client parsing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from protocol_helpers import T_CAPTURE, T_SEND, make_frame

from skeletor import protocol
from skeletor.protocol import (
    BINARY_HEADER,
    DEFAULT_FIELDS,
    ErrorCode,
    Format,
    ProtocolError,
    StatusEvent,
    Subscribe,
    binary_layout_table,
    decode_frame,
    decode_message,
    encode_error,
    encode_frame,
    encode_hello,
    encode_status,
    encode_subscribe,
    parse_client_message,
    pose_frame_from_message,
)
from skeletor.pose.skeleton import HOLISTIC75

DOCS = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


# ---------------------------------------------------------------- binary layout


def test_binary_header_layout_is_pinned() -> None:
    # Changing this layout breaks every client (viewer.js, Unity, Godot): bump the protocol version.
    assert BINARY_HEADER.itemsize == 40
    assert BINARY_HEADER.fields is not None
    offsets = {name: f[1] for name, f in BINARY_HEADER.fields.items()}
    assert offsets == {
        "magic": 0, "version": 4, "kind": 5, "flags": 6, "seq": 8, "t_capture_ns": 16,
        "t_send_ns": 24, "num_joints": 32, "latency_bytes": 34, "reserved": 36,
    }  # fmt: skip
    assert BINARY_HEADER.itemsize % 4 == 0  # float32 payload stays 4-byte aligned (JS Float32Array)


def test_binary_frame_exact_bytes(rng: np.random.Generator) -> None:
    frame = make_frame(rng)
    data = encode_frame(frame, "binary", ["confidence", "joints"], T_SEND)
    assert isinstance(data, bytes)
    expected_header = bytes.fromhex(
        "534b4c54"  # magic "SKLT"
        "01"  # version
        "01"  # kind: frame
        "0300"  # flags: joints | confidence
        "0700000000000000"  # seq 7
        "15cd853dfe9c9717"  # t_capture_ns 1_700_000_000_123_456_789
        "80a4e93dfe9c9717"  # t_send_ns 1_700_000_000_130_000_000
        "4b00"  # num_joints 75
        "0000"  # latency_bytes 0
        "00000000"  # reserved
    )
    assert data[:40] == expected_header
    assert data[:40] == struct.pack("<4sBBHQqqHHI", b"SKLT", 1, 1, 3, 7, T_CAPTURE, T_SEND, 75, 0, 0)
    assert len(data) == 40 + 75 * 3 * 4 + 75 * 4
    # Payload: joints row-major x, y, z as little-endian float32, then confidence.
    assert data[40 : 40 + 12] == struct.pack("<3f", *frame.joints[0])
    assert np.isnan(np.frombuffer(data, "<f4", 3, 40 + 12 * 5)).all()
    assert data[40 + 900 :] == frame.confidence.astype("<f4").tobytes()


def test_binary_latency_tail_is_utf8_json(rng: np.random.Generator) -> None:
    frame = make_frame(rng)
    data = encode_frame(frame, "binary", ["latency_ms"], T_SEND)
    assert isinstance(data, bytes)
    (flags,) = struct.unpack_from("<H", data, 6)
    (latency_bytes,) = struct.unpack_from("<H", data, 34)
    assert flags == 8
    assert data[40:] == b'{"detect":12.346,"uplift":0.5,"refine":2.25}'
    assert latency_bytes == len(data) - 40


def test_binary_round_trip_is_exact(rng: np.random.Generator) -> None:
    frame = make_frame(rng)
    data = encode_frame(frame, "binary", protocol.FIELDS, T_SEND)
    msg = decode_frame(data)
    assert (msg["seq"], msg["t_capture_ns"], msg["t_send_ns"]) == (7, T_CAPTURE, T_SEND)
    np.testing.assert_array_equal(msg["joints"], frame.joints)  # NaN rows compare equal here
    np.testing.assert_array_equal(msg["confidence"], frame.confidence)
    assert frame.raw_joints is not None
    np.testing.assert_array_equal(msg["raw_joints"], frame.raw_joints)
    assert msg["latency_ms"] == {"detect": 12.346, "uplift": 0.5, "refine": 2.25}
    back = pose_frame_from_message(msg)
    np.testing.assert_array_equal(back.joints, frame.joints)


def test_layout_table_is_in_docstring_and_docs() -> None:
    table = binary_layout_table()
    assert table.count("\n") == 1 + len(BINARY_HEADER.descr)
    assert protocol.__doc__ is not None and table in protocol.__doc__
    assert table in DOCS.read_text(encoding="utf-8"), "docs/protocol.md must carry binary_layout_table() unchanged"


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda b: b[:39], ErrorCode.UNSUPPORTED_DATA),  # shorter than the header
        (lambda b: b"XXXX" + b[4:], ErrorCode.UNSUPPORTED_DATA),  # bad magic
        (lambda b: b[:4] + b"\x02" + b[5:], ErrorCode.VERSION_MISMATCH),
        (lambda b: b[:5] + b"\x09" + b[6:], ErrorCode.UNSUPPORTED_DATA),  # unknown kind
        (lambda b: b[:6] + b"\x13\x00" + b[8:], ErrorCode.UNSUPPORTED_DATA),  # unknown flag bit 16
        (lambda b: b[:-4], ErrorCode.UNSUPPORTED_DATA),  # truncated payload
        (lambda b: b + b"\x00", ErrorCode.UNSUPPORTED_DATA),  # trailing byte
    ],
)
def test_bad_binary_frames_are_rejected(rng: np.random.Generator, mutate, code: ErrorCode) -> None:
    data = encode_frame(make_frame(rng), "binary", ["joints", "confidence"], T_SEND)
    assert isinstance(data, bytes)
    with pytest.raises(ProtocolError) as e:
        decode_frame(mutate(data))
    assert e.value.code == code


# ---------------------------------------------------------------- JSON


def test_json_frame_as_documented(rng: np.random.Generator) -> None:
    frame = make_frame(rng)
    text = encode_frame(frame, Format.JSON, DEFAULT_FIELDS, T_SEND)
    assert isinstance(text, str)
    msg = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert list(msg) == ["type", "seq", "t_capture_ns", "t_send_ns", "joints", "confidence", "latency_ms"]
    assert msg["type"] == "frame" and msg["seq"] == 7 and msg["t_capture_ns"] == T_CAPTURE and msg["t_send_ns"] == T_SEND
    assert len(msg["joints"]) == 75 and msg["joints"][5] is None  # missing joint: null
    assert msg["joints"][0] == [round(float(v), 5) for v in frame.joints[0]]
    assert msg["confidence"][5] == 0.0 and msg["confidence"][0] == round(float(frame.confidence[0]), 4)
    assert msg["latency_ms"] == {"detect": 12.346, "uplift": 0.5, "refine": 2.25}
    assert "raw_joints" not in msg  # only when asked for
    decoded = decode_frame(text)
    assert np.isnan(decoded["joints"][5]).all()
    np.testing.assert_allclose(decoded["joints"], frame.joints, atol=6e-6)


def test_json_raw_joints_only_when_asked_and_present(rng: np.random.Generator) -> None:
    with_raw = json.loads(encode_frame(make_frame(rng), "json", ["raw_joints"], T_SEND))
    assert list(with_raw) == ["type", "seq", "t_capture_ns", "t_send_ns", "raw_joints"]
    no_raw = json.loads(encode_frame(make_frame(rng, raw=False), "json", ["raw_joints", "joints"], T_SEND))
    assert "raw_joints" not in no_raw and "joints" in no_raw
    binary = encode_frame(make_frame(rng, raw=False), "binary", ["raw_joints"], T_SEND)
    assert isinstance(binary, bytes)
    assert struct.unpack_from("<H", binary, 6) == (0,) and len(binary) == 40


def test_hello_carries_the_holistic75_skeleton() -> None:
    hello = json.loads(encode_hello(HOLISTIC75, fps=30))
    assert hello["type"] == "hello" and hello["protocol"] == 1
    sk = hello["skeleton"]
    assert sk["name"] == "holistic75" and len(sk["joints"]) == 75 and len(sk["parents"]) == 75
    assert sk["joints"][0] == "nose" and sk["joints"][33] == "left_hand_wrist" and sk["joints"][74] == "right_hand_pinky_tip"
    assert sk["parents"][0] == -1 and sk["parents"][11] == -1 and sk["parents"][33] == 15  # left hand hangs off the left wrist
    assert [23, 24] in sk["edges"] and [11, 13] in sk["edges"]
    assert all(0 <= a < 75 and 0 <= b < 75 for a, b in sk["edges"])
    assert hello["units"] == "m" and hello["axes"] == {"x": "right", "y": "down", "z": "forward"}
    assert hello["fps"] == 30.0
    assert json.loads(encode_hello())["fps"] is None


def test_status_and_error_messages() -> None:
    s = json.loads(encode_status(StatusEvent.SOURCE_LOST, "camera 0 unplugged", t_ns=5, source="camera 0"))
    assert s == {"type": "status", "event": "source_lost", "t_ns": 5, "message": "camera 0 unplugged", "source": "camera 0"}
    with pytest.raises(ValueError):
        encode_status("exploded")
    with pytest.raises(ValueError):
        encode_status(StatusEvent.NO_PERSON, type="frame")
    assert json.loads(encode_error(ErrorCode.UNKNOWN_TYPE, "no")) == {"type": "error", "code": 4002, "message": "no"}
    assert decode_message(encode_status("person_found", t_ns=1))["event"] == "person_found"


# ---------------------------------------------------------------- client messages


def test_subscribe_defaults_and_canonical_order() -> None:
    assert parse_client_message('{"type":"subscribe"}') == Subscribe(Format.JSON, DEFAULT_FIELDS, None)
    sub = parse_client_message('{"type":"subscribe","format":"binary","fields":["raw_joints","joints"],"max_rate_hz":20,"protocol":1}')
    assert sub == Subscribe(Format.BINARY, ("joints", "raw_joints"), 20.0)
    assert int(sub.flags) == 5
    assert parse_client_message(encode_subscribe("binary", ["confidence"], 2.5)) == Subscribe(Format.BINARY, ("confidence",), 2.5)
    assert parse_client_message('{"type":"subscribe","fields":[]}').fields == ()


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "data, code",
    [
        ("hello", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_JSON),
        ('"subscribe"', ErrorCode.INVALID_JSON),
        ('{"type": "subscribe", "max_rate_hz": NaN}', ErrorCode.INVALID_JSON),
        (DEEP, ErrorCode.MESSAGE_TOO_BIG),
        ('{"format": "json"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": 3}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "unsubscribe"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "frame", "seq": 1}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "subscribe", "extra": 1}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "protocol": 2}', ErrorCode.VERSION_MISMATCH),
        ('{"type": "subscribe", "protocol": true}', ErrorCode.VERSION_MISMATCH),
        ('{"type": "subscribe", "format": "xml"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "format": 1}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "fields": "joints"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "fields": ["joints", 3]}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "fields": ["bones"]}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "fields": ["joints", "joints"]}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": true}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": "10"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": 0}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": -5}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": 1e9}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "subscribe", "max_rate_hz": 1e999}', ErrorCode.INVALID_MESSAGE),  # parses as inf
        (b'{"type": "subscribe"}', ErrorCode.UNSUPPORTED_DATA),  # binary message
        (b"\x00\xff\x13", ErrorCode.UNSUPPORTED_DATA),
    ],
)
def test_invalid_client_messages(data: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as e:
        parse_client_message(data, max_size=64 * 1024)
    assert e.value.code == code
    assert e.value.message and len(e.value.message) < 300


def test_deep_nesting_under_the_size_limit_is_invalid_json_not_a_crash() -> None:
    with pytest.raises(ProtocolError) as e:
        parse_client_message(DEEP, max_size=10**6)
    assert e.value.code == ErrorCode.INVALID_JSON


def test_size_limit_counts_utf8_bytes() -> None:
    msg = '{"type":"subscribe","format":"' + "é" * 40 + '"}'
    assert len(msg) < 100 < len(msg.encode())
    with pytest.raises(ProtocolError) as e:
        parse_client_message(msg, max_size=100)
    assert e.value.code == ErrorCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    "rate",
    ["1e-300", "1e-310", "5e-324", "0", "0.05", "-1", "-0.0", "1000.5", "1e999", "-1e999", "1" + "0" * 400, '"10"', "true", "[30]", "{}"],
)
def test_subscribe_rates_outside_0_1_to_1000_hz_are_invalid_messages(rate: str) -> None:
    """Defect: 1e-300 Hz used to be accepted and overflowed the rate gate on every frame; a
    400-digit integer raised OverflowError out of the parser instead of a ProtocolError."""
    with pytest.raises(ProtocolError) as e:
        parse_client_message('{"type": "subscribe", "max_rate_hz": ' + rate + "}")
    assert e.value.code == ErrorCode.INVALID_MESSAGE
    assert "max_rate_hz" in e.value.message and len(e.value.message) < 300


def test_subscribe_rate_bounds_are_inclusive() -> None:
    assert parse_client_message('{"type": "subscribe", "max_rate_hz": 0.1}').max_rate_hz == 0.1
    assert parse_client_message('{"type": "subscribe", "max_rate_hz": 1000}').max_rate_hz == 1000.0
    assert parse_client_message('{"type": "subscribe", "max_rate_hz": null}').max_rate_hz is None
