"""The opt-in ``rotations`` field (the humanoid rig), the ``rig`` message and hello's ``rig``: exact bytes and text."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from protocol_helpers import T_CAPTURE, T_SEND, make_frame

from skeletor import protocol
from skeletor.protocol import (
    DEFAULT_FIELDS,
    FIELDS,
    ROTATIONS_HEADER,
    ErrorCode,
    Format,
    MessageType,
    PoseFrame,
    ProtocolError,
    RigLayout,
    RigPose,
    Subscribe,
    decode_frame,
    decode_message,
    encode_frame,
    encode_hello,
    encode_rig,
    parse_client_message,
    pose_frame_from_message,
    rig_layout_from_hello,
    rotations_layout_table,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def small_rig(version: int = 3) -> RigPose:
    """Three bones with exactly representable values, so the bytes and the JSON can be pinned."""
    rot = np.array([[0.0, 0.0, 0.0, 1.0], [0.5, -0.5, 0.5, 0.5], [0.0, 0.25, 0.0, 0.96875]], dtype=np.float32)
    return RigPose(np.array([0.125, 0.875, -0.25], np.float32), rot, np.array([True, False, True]), version)


def rig52(rng: np.random.Generator, version: int = 7) -> RigPose:
    q = rng.normal(size=(52, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return RigPose(rng.normal(0, 0.5, 3), q, rng.random(52) > 0.3, version, rng.normal(0, 0.1, (52, 3)))


def with_rig(frame: PoseFrame, rig: RigPose | None) -> PoseFrame:
    return PoseFrame(frame.seq, frame.t_capture_ns, frame.joints, frame.confidence, frame.raw_joints, frame.latency_ms, rig)


# ---------------------------------------------------------------- binary


def test_rotations_block_exact_bytes(rng: np.random.Generator) -> None:
    frame = with_rig(make_frame(rng), small_rig())
    data = encode_frame(frame, "binary", ["rotations"], T_SEND)
    assert isinstance(data, bytes)
    assert data[:40] == struct.pack("<4sBBHQqqHHI", b"SKLT", 1, 1, 16, 7, T_CAPTURE, T_SEND, 75, 0, 0)
    block = bytes.fromhex(
        "0300"  # num_bones 3
        "0000"  # reserved
        "03000000"  # rig_version 3
        "0000003e"
        "0000603f"
        "000080be"  # hips 0.125, 0.875, -0.25
        "00000000"
        "00000000"
        "00000000"
        "0000803f"  # bone 0: identity
        "0000003f"
        "000000bf"
        "0000003f"
        "0000003f"  # bone 1: (0.5, -0.5, 0.5, 0.5)
        "00000000"
        "0000803e"
        "00000000"
        "0000783f"  # bone 2: (0, 0.25, 0, 0.96875)
        "010001"  # valid
        "00"  # padding to a multiple of 4
    )
    assert data[40:] == block
    assert ROTATIONS_HEADER.itemsize == 20 and len(block) % 4 == 0


def test_rotations_sit_between_raw_joints_and_the_latency_tail(rng: np.random.Generator) -> None:
    rig = rig52(rng)
    frame = with_rig(make_frame(rng), rig)
    data = encode_frame(frame, "binary", FIELDS, T_SEND)
    assert isinstance(data, bytes)
    (flags,) = struct.unpack_from("<H", data, 6)
    assert flags == 1 | 2 | 4 | 16 | 8
    start = 40 + 4 * (3 * 75 + 75 + 3 * 75)
    assert struct.unpack_from("<HHI3f", data, start)[:3] == (52, 0, 7)
    assert data[start + 20 : start + 20 + 52 * 16] == rig.rotations.astype("<f4").tobytes()
    assert data[start + 20 + 52 * 16 : start + 20 + 52 * 17] == rig.valid.astype(np.uint8).tobytes()
    assert data[start + 904 :] == b'{"detect":12.346,"uplift":0.5,"refine":2.25}'  # 52 bones: 20 + 832 + 52, no padding
    msg = decode_frame(data)
    np.testing.assert_array_equal(msg["rotations"], rig.rotations)
    np.testing.assert_array_equal(msg["hips_position"], rig.hips_position)
    np.testing.assert_array_equal(msg["rotations_valid"], rig.valid)
    assert msg["rig_version"] == 7 and msg["latency_ms"] == {"detect": 12.346, "uplift": 0.5, "refine": 2.25}
    np.testing.assert_array_equal(msg["raw_joints"], frame.raw_joints)


def test_old_subscriptions_get_the_same_bytes_with_or_without_a_rig(rng: np.random.Generator) -> None:
    """An old client never names "rotations": whatever the pipeline attaches, its bytes do not change."""
    plain = make_frame(rng)
    rigged = with_rig(plain, rig52(rng))
    for fmt in Format:
        for fields in (DEFAULT_FIELDS, ("joints", "confidence", "raw_joints", "latency_ms"), ("joints",), ()):
            assert encode_frame(rigged, fmt, fields, T_SEND) == encode_frame(plain, fmt, fields, T_SEND)


def test_no_rig_yet_means_no_rotations(rng: np.random.Generator) -> None:
    frame = make_frame(rng)
    data = encode_frame(frame, "binary", ["joints", "rotations"], T_SEND)
    assert isinstance(data, bytes)
    assert struct.unpack_from("<H", data, 6) == (1,) and len(data) == 940
    text = encode_frame(frame, "json", ["rotations"], T_SEND)
    assert list(json.loads(text)) == ["type", "seq", "t_capture_ns", "t_send_ns"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # the padding cut off
        lambda b: b + b"\x00",  # a trailing byte
        lambda b: b[:40] + b"\x00\x00" + b[42:],  # zero bones
        lambda b: b[:40] + b"\x04\x00" + b[42:],  # a fourth bone the block does not hold
        lambda b: b[:40] + b[40:52],  # cut inside the block header
        lambda b: b[:6] + b"\x30\x00" + b[8:],  # unknown flag bit 32
    ],
)
def test_bad_rotations_blocks_are_rejected(rng: np.random.Generator, mutate) -> None:
    data = encode_frame(with_rig(make_frame(rng), small_rig()), "binary", ["rotations"], T_SEND)
    with pytest.raises(ProtocolError) as e:
        decode_frame(mutate(data))
    assert e.value.code == ErrorCode.UNSUPPORTED_DATA


# ---------------------------------------------------------------- JSON


def test_rotations_json_exact_text(rng: np.random.Generator) -> None:
    frame = with_rig(make_frame(rng), small_rig())
    text = encode_frame(frame, "json", ["rotations", "latency_ms"], T_SEND)
    assert text == (
        '{"type":"frame","seq":7,"t_capture_ns":1700000000123456789,"t_send_ns":1700000000130000000,'
        '"rig_version":3,"hips_position":[0.125,0.875,-0.25],'
        '"rotations":[[0.0,0.0,0.0,1.0],[0.5,-0.5,0.5,0.5],[0.0,0.25,0.0,0.96875]],'
        '"rotations_valid":[1,0,1],'
        '"latency_ms":{"detect":12.346,"uplift":0.5,"refine":2.25}}'
    )
    msg = decode_frame(text)
    np.testing.assert_array_equal(msg["rotations"], small_rig().rotations)
    assert msg["rotations_valid"].tolist() == [True, False, True] and msg["rig_version"] == 3


def test_json_rotations_round_to_1e6_and_keep_their_order(rng: np.random.Generator) -> None:
    rig = rig52(rng)
    msg = json.loads(encode_frame(with_rig(make_frame(rng), rig), "json", FIELDS, T_SEND))
    keys = list(msg)
    assert keys[4:] == ["joints", "confidence", "raw_joints", "rig_version", "hips_position", "rotations", "rotations_valid", "latency_ms"]
    back = decode_frame(json.dumps(msg))
    np.testing.assert_allclose(back["rotations"], rig.rotations, atol=5.1e-7)
    np.testing.assert_allclose(back["hips_position"], rig.hips_position, atol=5.1e-6)
    assert back["joints"].shape == (75, 3) and back["rotations"].shape == (52, 4)  # no "joint count" clash


@pytest.mark.parametrize(
    "patch",
    [
        {"rotations": [[0, 0, 0]]},
        {"rotations": "no"},
        {"rotations_valid": [1, 0]},
        {"hips_position": [0, 1]},
        {"rig_version": 1.5},
    ],
)
def test_malformed_json_rotations_are_invalid_messages(patch: dict) -> None:
    msg = {"type": "frame", "seq": 1, "t_capture_ns": 2, "t_send_ns": 3, "rig_version": 1, "hips_position": [0, 1, 0],
           "rotations": [[0, 0, 0, 1]], "rotations_valid": [1]}  # fmt: skip
    with pytest.raises(ProtocolError) as e:
        decode_frame(json.dumps({**msg, **patch}))
    assert e.value.code == ErrorCode.INVALID_MESSAGE


def test_pose_frame_keeps_the_rig(rng: np.random.Generator) -> None:
    rig = rig52(rng)
    for fmt in Format:
        back = pose_frame_from_message(decode_frame(encode_frame(with_rig(make_frame(rng), rig), fmt, ["joints", "rotations"], T_SEND)))
        assert back.rig is not None and back.rig.rig_version == 7 and back.rig.rest_offsets is None
        np.testing.assert_allclose(back.rig.rotations, rig.rotations, atol=5.1e-7)


# ---------------------------------------------------------------- subscribe, hello, rig message


def test_subscribing_to_rotations() -> None:
    sub = parse_client_message('{"type":"subscribe","format":"binary","fields":["latency_ms","rotations","joints"]}')
    assert sub == Subscribe(Format.BINARY, ("joints", "rotations", "latency_ms"), None)
    assert int(sub.flags) == 1 | 16 | 8
    assert "rotations" not in DEFAULT_FIELDS  # opt-in


def layout() -> RigLayout:
    return RigLayout(
        ("Hips", "Spine", "LeftUpperLeg"),
        (-1, 0, 0),
        [[0, 0, 0], [0, 0.1, 0], [0.09, 0, 0]],
        {"x": "left", "y": "up", "z": "forward"},
        "Y up.",
    )


def test_hello_describes_the_rig() -> None:
    hello = json.loads(encode_hello(fps=30, rig=layout()))
    assert hello["rig"] == {
        "bones": ["Hips", "Spine", "LeftUpperLeg"],
        "parents": [-1, 0, 0],
        "rest_offsets": [[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.09, 0.0, 0.0]],
        "rig_version": 0,
        "units": "m",
        "axes": {"x": "left", "y": "up", "z": "forward"},
        "rotations": "local to the parent bone, relative to the rest T-pose; unit quaternions [x, y, z, w]",
        "convention": "Y up.",
    }
    back = rig_layout_from_hello(hello)
    assert back.bones == layout().bones and back.parents == (-1, 0, 0)
    np.testing.assert_allclose(back.rest_offsets, layout().rest_offsets)
    assert "rig" not in json.loads(encode_hello())
    with pytest.raises(ProtocolError):
        rig_layout_from_hello(json.loads(encode_hello()))


def test_rig_message_exact_text_and_decoding() -> None:
    text = encode_rig(2, np.array([[0.0, 0.0, 0.0], [0.0, 0.184412, 0.0], [-0.090004, 0.0, 1e-7]]))
    assert text == '{"type":"rig","rig_version":2,"rest_offsets":[[0.0,0.0,0.0],[0.0,0.18441,0.0],[-0.09,0.0,0.0]]}'
    msg = decode_message(text)
    assert msg["type"] == MessageType.RIG and msg["rig_version"] == 2
    assert msg["rest_offsets"].dtype == np.float32 and msg["rest_offsets"].shape == (3, 3)
    for bad in ([[0, 0]], None, "x"):
        with pytest.raises(ProtocolError):
            decode_message(json.dumps({"type": "rig", "rig_version": 2, "rest_offsets": bad}))
    with pytest.raises(ValueError):
        encode_rig(1, [[np.nan, 0, 0]])
    with pytest.raises(ValueError):
        encode_rig(-1, [[0, 0, 0]])


def test_rig_pose_and_layout_check_shapes() -> None:
    with pytest.raises(ValueError):
        RigPose(np.zeros(3), np.zeros((52, 3)), np.ones(52, bool))
    with pytest.raises(ValueError):
        RigPose(np.zeros(3), np.zeros((52, 4)), np.ones(51, bool))
    with pytest.raises(ValueError):
        RigPose(np.zeros(2), np.zeros((52, 4)), np.ones(52, bool))
    with pytest.raises(ValueError):
        RigLayout(("A", "B"), (-1, 1), np.zeros((2, 3)), {}, "")  # a bone its own parent
    with pytest.raises(ValueError):
        PoseFrame(0, 0, np.zeros((75, 3)), np.ones(75), rig="not a rig")  # type: ignore[arg-type]


def test_rotations_table_is_in_docs() -> None:
    assert rotations_layout_table() in DOCS.read_text(encoding="utf-8"), "docs/protocol.md must carry rotations_layout_table() unchanged"
    assert protocol.__doc__ is not None and "ROTATIONS_HEADER" in protocol.__doc__
