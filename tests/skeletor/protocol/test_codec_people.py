"""Several people on the wire: person_id (opt-in with people "all"), the people subscription, hello's max_people, per-person slots."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
from protocol_helpers import T_CAPTURE, T_SEND, make_frame

from skeletor.protocol import (
    FIELDS,
    ClientSession,
    ErrorCode,
    Format,
    ProtocolError,
    SharedFrame,
    StatusEvent,
    Subscribe,
    decode_frame,
    encode_frame,
    encode_hello,
    encode_status,
    encode_subscribe,
    encode_subscribed,
    parse_client_message,
    pose_frame_from_message,
)


def test_person_id_is_sent_only_with_people_all(rng: np.random.Generator) -> None:
    frame = dataclasses.replace(make_frame(rng), person_id=3)
    single = make_frame(np.random.default_rng(0))
    # Without the opt-in, a frame of person 3 encodes exactly as a single-person frame would.
    for fmt in ("json", "binary"):
        plain = encode_frame(frame, fmt, FIELDS, T_SEND)
        same = encode_frame(dataclasses.replace(frame, person_id=0), fmt, FIELDS, T_SEND)
        assert plain == same
    assert encode_frame(single, "json", ["joints"], T_SEND) == encode_frame(single, "json", ["joints"], T_SEND, person_id=False)
    text = encode_frame(frame, "json", ["latency_ms"], T_SEND, person_id=True)
    assert text == f'{{"type":"frame","seq":7,"t_capture_ns":{T_CAPTURE},"t_send_ns":{T_SEND},"person_id":3,"latency_ms":{{"detect":12.346,"uplift":0.5,"refine":2.25}}}}'
    assert decode_frame(text)["person_id"] == 3


def test_binary_person_id_is_a_uint32_before_the_latency_tail(rng: np.random.Generator) -> None:
    frame = dataclasses.replace(make_frame(rng), person_id=0x01020304)
    data = encode_frame(frame, "binary", ["joints", "latency_ms"], T_SEND, person_id=True)
    assert isinstance(data, bytes)
    (flags,) = struct.unpack_from("<H", data, 6)
    assert flags == 1 | 8 | 32
    assert data[40 + 900 : 40 + 904] == b"\x04\x03\x02\x01"
    assert data[944:] == b'{"detect":12.346,"uplift":0.5,"refine":2.25}'
    msg = decode_frame(data)
    assert msg["person_id"] == 0x01020304
    np.testing.assert_array_equal(msg["joints"], frame.joints)
    assert pose_frame_from_message(msg).person_id == 0x01020304
    with pytest.raises(ProtocolError) as e:
        decode_frame(data[:-1])
    assert e.value.code == ErrorCode.UNSUPPORTED_DATA
    plain = encode_frame(frame, "binary", ["joints", "latency_ms"], T_SEND)
    assert len(plain) == len(data) - 4 and "person_id" not in decode_frame(plain)


def test_person_id_must_be_a_uint32(rng: np.random.Generator) -> None:
    for bad in (-1, 2**32, True, 1.0):
        with pytest.raises(ValueError):
            dataclasses.replace(make_frame(rng), person_id=bad)


def test_subscribe_people() -> None:
    assert parse_client_message('{"type":"subscribe","people":"all"}') == Subscribe(people="all")
    assert parse_client_message('{"type":"subscribe","people":null}') == Subscribe()
    for bad in ('"some"', "1", "true", '["all"]', '"ALL"'):
        with pytest.raises(ProtocolError) as e:
            parse_client_message(f'{{"type":"subscribe","people":{bad}}}')
        assert e.value.code == ErrorCode.INVALID_MESSAGE
    with pytest.raises(ValueError):
        Subscribe(people="some")
    # People stay out of the bytes of a subscription without them.
    assert encode_subscribe() == '{"type":"subscribe","format":"json","fields":["joints","confidence","latency_ms"],"max_rate_hz":null}'
    assert encode_subscribe(people="all") == '{"type":"subscribe","format":"json","fields":["joints","confidence","latency_ms"],"max_rate_hz":null,"people":"all"}'
    assert encode_subscribed(Subscribe(Format.BINARY, ("joints",), 10, "all")) == '{"type":"subscribed","format":"binary","fields":["joints"],"max_rate_hz":10.0,"people":"all"}'
    assert Subscribe(people="all").flags & 32 and not Subscribe().flags & 32


def test_hello_says_max_people_and_status_carries_person_id() -> None:
    assert json.loads(encode_hello())["max_people"] == 1
    assert json.loads(encode_hello(max_people=3))["max_people"] == 3
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError):
            encode_hello(max_people=bad)  # type: ignore[arg-type]
    assert encode_status(StatusEvent.PERSON_LEFT, t_ns=5, person_id=2) == '{"type":"status","event":"person_left","t_ns":5,"person_id":2}'


def _capture(rng: np.random.Generator, seq: int, ids: list[int]) -> list[SharedFrame]:
    base = make_frame(rng, seq=seq)
    return [SharedFrame(dataclasses.replace(base, person_id=p, primary=(p == min(ids)))) for p in ids]


def test_a_client_without_people_gets_the_primary_person_only(rng: np.random.Generator) -> None:
    s = ClientSession()
    got = []
    for seq in range(4):
        for f in _capture(rng, seq, [1, 2] if seq < 2 else [2, 5]):
            s.offer(f, seq)
        got.append(s.next_message())
        assert s.next_message() is None
    assert [json.loads(m)["seq"] for m in got] == [0, 1, 2, 3]  # type: ignore[arg-type]
    assert all("person_id" not in json.loads(m) for m in got)  # type: ignore[arg-type]
    assert s.frames_offered == 4 and s.frames_dropped == 0


def test_people_all_has_one_slot_per_person_and_drops_a_leaver(rng: np.random.Generator) -> None:
    s = ClientSession()
    s.receive('{"type":"subscribe","people":"all","max_rate_hz":10}')
    assert json.loads(s.next_message())["people"] == "all"  # type: ignore[arg-type]
    for seq in range(3):  # one capture every 50 ms: the 10 Hz gate passes every other capture, all people of it
        for f in _capture(rng, seq, [0, 1, 2]):
            s.offer(f, seq * 50_000_000)
    assert s.frames_rate_limited == 3 and s.frames_dropped == 3
    assert s.drop_person(1) is not None and s.drop_person(1) is None
    msgs = [json.loads(m) for m in iter(s.next_message, None)]  # type: ignore[arg-type]
    assert [(m["seq"], m["person_id"]) for m in msgs] == [(2, 0), (2, 2)]
