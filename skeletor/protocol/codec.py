"""The codec of the wire protocol: messages to JSON text or binary bytes and back, with no socket.

One module, longer than most: each message's encoder and decoder sit side by side, so the
JSON keys and the binary layout are defined once and checked together.

Strings and bytes go in, Python objects come out, and the other way round (sans-I/O): the
asyncio server in ``realtime/`` and the clients are thin wrappers, so every message is
tested byte for byte. The binary frame layout is :data:`BINARY_HEADER` (documented in the
:mod:`skeletor.protocol` docstring and ``docs/protocol.md``, both carrying
:func:`binary_layout_table`); client messages are validated strictly by
:func:`parse_client_message`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75, Skeleton
from skeletor.protocol.messages import (
    DEFAULT_FIELDS,
    FIELDS,
    MAX_MESSAGE_BYTES,
    PEOPLE,
    PROTOCOL_VERSION,
    ErrorCode,
    Format,
    FrameFlag,
    FrameMessage,
    MessageType,
    PoseFrame,
    ProtocolError,
    RigLayout,
    RigPose,
    StatusEvent,
    Subscribe,
    _fields_to_flags,
)

__all__ = [
    "MAGIC",
    "BINARY_HEADER",
    "ROTATIONS_HEADER",
    "encode_hello",
    "encode_rig",
    "encode_frame",
    "encode_status",
    "encode_error",
    "encode_subscribe",
    "encode_subscribed",
    "decode_message",
    "decode_frame",
    "pose_frame_from_message",
    "parse_client_message",
    "binary_layout_table",
    "rotations_layout_table",
    "rig_layout_from_hello",
]

MAGIC: Final = b"SKLT"
JSON_DECIMALS_M: Final = 5  # JSON coordinates are rounded to 10 um (binary keeps full float32)
JSON_DECIMALS_CONF: Final = 4
JSON_DECIMALS_MS: Final = 3
JSON_DECIMALS_QUAT: Final = 6  # 1e-6 in a quaternion component: about 0.0001 degrees

# The binary frame header, little-endian, no padding: the one definition of the layout.
BINARY_HEADER: Final = np.dtype(
    [
        ("magic", "S4"),
        ("version", "u1"),
        ("kind", "u1"),
        ("flags", "<u2"),
        ("seq", "<u8"),
        ("t_capture_ns", "<i8"),
        ("t_send_ns", "<i8"),
        ("num_joints", "<u2"),
        ("latency_bytes", "<u2"),
        ("reserved", "<u4"),
    ]
)
BINARY_KIND_FRAME: Final = 1

# The ``rotations`` block of a binary frame (flag 16), little-endian, after ``raw_joints`` and
# before the latency JSON: this header, then B x 4 float32 quaternions (x, y, z, w), then B
# uint8 valid flags, zero-padded to a multiple of 4 bytes.
ROTATIONS_HEADER: Final = np.dtype(
    [
        ("num_bones", "<u2"),
        ("reserved", "<u2"),
        ("rig_version", "<u4"),
        ("hips_position", "<f4", (3,)),
    ]
)
_ROTATIONS_DOC: Final[dict[str, str]] = {
    "num_bones": "B, the number of bones (hello's `rig.bones`)",
    "reserved": "0; ignored by readers",
    "rig_version": "the rest rig of these rotations (the `rig` message of that version)",
    "hips_position": "x, y, z of the Hips joint, metres, rig world",
}

# What each header field means; binary_layout_table() renders the documented table from it.
_HEADER_DOC: Final[dict[str, str]] = {
    "magic": "`SKLT`",
    "version": "protocol version (1)",
    "kind": "message kind (1 = frame)",
    "flags": "fields that follow: 1 joints, 2 confidence, 4 raw_joints, 16 rotations, 32 person_id, 8 latency_ms",
    "seq": "frame counter from the source",
    "t_capture_ns": "wall clock (Unix epoch, ns) when the image was captured",
    "t_send_ns": "wall clock (Unix epoch, ns) when the server encoded the message",
    "num_joints": "J, the number of joints (75 for holistic75)",
    "latency_bytes": "length of the latency_ms JSON at the end (0 if absent)",
    "reserved": "0; ignored by readers",
}


# --------------------------------------------------------------------------- encoding


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _offsets_json(a: np.ndarray) -> list[Any]:
    return np.round(np.nan_to_num(a.astype(np.float64)), JSON_DECIMALS_M).tolist()


def encode_hello(
    skeleton: Skeleton = HOLISTIC75,
    fps: float | None = None,
    rig: RigLayout | None = None,
    max_people: int = 1,
    refiner: Mapping[str, Any] | None = None,
) -> str:
    """The ``hello`` message a server sends first on every connection.

    Args:
        skeleton: the layout of the streamed joints.
        fps: the source's nominal frame rate, ``None`` if unknown.
        rig: the humanoid rig behind the ``rotations`` field (bones, parents, a rest rig,
            axes), sent as the ``rig`` key; None = no ``rig`` key.
        max_people: the most people the source follows at once (1 = a single-person
            source, whose frames are all ``person_id`` 0); sent as ``max_people``.
        refiner: how the server's refiner runs (e.g. ``{"provider": "CPUExecutionProvider",
            "threads": 1}``, or ``{"provider": None}`` when it is off), sent as the
            ``refiner`` key; None = no ``refiner`` key.

    Returns:
        The JSON text.

    Raises:
        ValueError: ``fps`` is not a positive finite number, or ``max_people`` is not an integer >= 1.
    """
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be None or a positive number, got {fps!r}")
    if isinstance(max_people, bool) or not isinstance(max_people, int) or max_people < 1:
        raise ValueError(f"max_people must be an integer >= 1, got {max_people!r}")
    hello: dict[str, Any] = {
            "type": MessageType.HELLO.value,
            "protocol": PROTOCOL_VERSION,
            "skeleton": {
                "name": skeleton.name,
                "joints": list(skeleton.joints),
                "parents": list(skeleton.parents),
                "edges": [[a, b] for a, b in skeleton.edges],
            },
            "units": "m",
            "axes": {"x": "right", "y": "down", "z": "forward"},
            "fps": None if fps is None else float(fps),
            "formats": [f.value for f in Format],
            "fields": list(FIELDS),
            "default_fields": list(DEFAULT_FIELDS),
            "max_people": max_people,
        }
    if rig is not None:
        hello["rig"] = {
            "bones": list(rig.bones),
            "parents": list(rig.parents),
            "rest_offsets": _offsets_json(rig.rest_offsets),
            "rig_version": 0,
            "units": "m",
            "axes": dict(rig.axes),
            "rotations": "local to the parent bone, relative to the rest T-pose; unit quaternions [x, y, z, w]",
            "convention": rig.convention,
        }
    if refiner is not None:
        hello["refiner"] = dict(refiner)
    return _dumps(hello)


def encode_rig(rig_version: int, rest_offsets: np.ndarray) -> str:
    """The ``rig`` message: the person's rest rig, sent when it is (re)calibrated.

    Args:
        rig_version: the version frames name in ``rig_version`` (>= 1).
        rest_offsets: (B, 3) metres, each bone's joint from its parent's in the rest
            T-pose, rig world axes, in the order of ``hello``'s ``rig.bones``.

    Returns:
        The JSON text: ``{"type": "rig", "rig_version": int, "rest_offsets": [[x, y, z], ...]}``.

    Raises:
        ValueError: a version out of range or offsets that are not (B, 3) finite numbers.
    """
    off = np.asarray(rest_offsets, dtype=np.float64)
    if off.ndim != 2 or off.shape[1] != 3 or not 0 < off.shape[0] < 2**16 or not np.isfinite(off).all():
        raise ValueError(f"rest_offsets: expected (B, 3) finite numbers, got shape {off.shape}")
    if isinstance(rig_version, bool) or not isinstance(rig_version, (int, np.integer)) or not 0 <= int(rig_version) < 2**32:
        raise ValueError(f"rig_version must be an integer in [0, 2**32), got {rig_version!r}")
    return _dumps({"type": MessageType.RIG.value, "rig_version": int(rig_version), "rest_offsets": _offsets_json(off)})


def _rows_json(a: np.ndarray) -> list[Any]:
    """(J, 3) float32 -> nested lists rounded to 10 um, ``None`` for a joint with any non-finite coordinate."""
    rounded = np.round(a.astype(np.float64), JSON_DECIMALS_M)
    finite = np.isfinite(a).all(axis=1)
    if finite.all():
        return rounded.tolist()
    return [row if ok else None for row, ok in zip(rounded.tolist(), finite.tolist())]


def _latency_clean(latency: Mapping[str, float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v in latency.items():
        v = float(v)
        out[str(k)] = round(v, JSON_DECIMALS_MS) if math.isfinite(v) else None
    return out


def encode_frame(frame: PoseFrame, fmt: Format | str, fields: Iterable[str], t_send_ns: int, person_id: bool = False) -> str | bytes:
    """Serialise one frame for subscribers of ``fmt`` asking for ``fields``.

    Args:
        frame: the pose.
        fmt: ``"json"`` (returns text) or ``"binary"`` (returns bytes, layout in the module docstring).
        fields: optional fields to include, a subset of :data:`FIELDS` (order does not matter).
            ``raw_joints`` and ``rotations`` are left out when the frame has none.
        t_send_ns: wall clock (ns) stamped into the message as ``t_send_ns``.
        person_id: include the frame's ``person_id`` (JSON key; binary flag 32, a uint32
            after the rotations block): for subscribers of people ``"all"`` only, so that
            every other client's bytes are those of a single-person stream.

    Returns:
        ``str`` for JSON, ``bytes`` for binary.

    Raises:
        ValueError: unknown format or field, or a latency object too long for the binary header.
    """
    flags = _fields_to_flags(fields)
    if person_id:
        flags |= FrameFlag.PERSON_ID
    if frame.raw_joints is None:
        flags &= ~FrameFlag.RAW_JOINTS
    if frame.rig is None:
        flags &= ~FrameFlag.ROTATIONS
    fmt = Format(fmt)
    if fmt is Format.BINARY:
        return _encode_binary(frame, flags, t_send_ns)
    msg: dict[str, Any] = {
        "type": MessageType.FRAME.value,
        "seq": frame.seq,
        "t_capture_ns": frame.t_capture_ns,
        "t_send_ns": int(t_send_ns),
    }
    if flags & FrameFlag.JOINTS:
        msg["joints"] = _rows_json(frame.joints)
    if flags & FrameFlag.CONFIDENCE:
        conf = np.where(np.isfinite(frame.confidence), frame.confidence, 0.0).astype(np.float64)
        msg["confidence"] = np.round(conf, JSON_DECIMALS_CONF).tolist()
    if flags & FrameFlag.RAW_JOINTS:
        assert frame.raw_joints is not None
        msg["raw_joints"] = _rows_json(frame.raw_joints)
    if flags & FrameFlag.ROTATIONS:
        assert frame.rig is not None
        msg.update(_rig_json(frame.rig))
    if flags & FrameFlag.PERSON_ID:
        msg["person_id"] = frame.person_id
    if flags & FrameFlag.LATENCY_MS:
        msg["latency_ms"] = _latency_clean(frame.latency_ms)
    return _dumps(msg)


def _rig_json(rig: RigPose) -> dict[str, Any]:
    """The four JSON keys of the ``rotations`` field (a non-finite value becomes ``null``)."""
    rot = np.round(rig.rotations.astype(np.float64), JSON_DECIMALS_QUAT)
    hips = np.round(rig.hips_position.astype(np.float64), JSON_DECIMALS_M)
    rows = rot.tolist()
    if not np.isfinite(rot).all():
        finite = np.isfinite(rot).all(axis=1).tolist()
        rows = [r if ok else None for r, ok in zip(rows, finite)]
    return {
        "rig_version": rig.rig_version,
        "hips_position": hips.tolist() if np.isfinite(hips).all() else None,
        "rotations": rows,
        "rotations_valid": rig.valid.astype(np.uint8).tolist(),
    }


def _rig_binary(rig: RigPose) -> bytes:
    """The ``rotations`` block of a binary frame (:data:`ROTATIONS_HEADER`, quaternions, valid flags, padding)."""
    b = rig.num_bones
    header = np.zeros((), dtype=ROTATIONS_HEADER)
    header["num_bones"] = b
    header["rig_version"] = rig.rig_version
    header["hips_position"] = rig.hips_position
    pad = -b % 4
    return b"".join([header.tobytes(), rig.rotations.astype("<f4", copy=False).tobytes(), rig.valid.astype(np.uint8).tobytes(), bytes(pad)])


def _rig_block_bytes(num_bones: int) -> int:
    return ROTATIONS_HEADER.itemsize + 16 * num_bones + num_bones + (-num_bones % 4)


def _encode_binary(frame: PoseFrame, flags: FrameFlag, t_send_ns: int) -> bytes:
    latency = _dumps(_latency_clean(frame.latency_ms)).encode() if flags & FrameFlag.LATENCY_MS else b""
    if len(latency) > 0xFFFF:
        raise ValueError(f"latency_ms encodes to {len(latency)} bytes; the binary header allows 65535")
    header = np.zeros((), dtype=BINARY_HEADER)
    header["magic"] = MAGIC
    header["version"] = PROTOCOL_VERSION
    header["kind"] = BINARY_KIND_FRAME
    header["flags"] = int(flags)
    header["seq"] = frame.seq
    header["t_capture_ns"] = frame.t_capture_ns
    header["t_send_ns"] = t_send_ns
    header["num_joints"] = frame.num_joints
    header["latency_bytes"] = len(latency)
    parts = [header.tobytes()]
    if flags & FrameFlag.JOINTS:
        parts.append(frame.joints.astype("<f4", copy=False).tobytes())
    if flags & FrameFlag.CONFIDENCE:
        parts.append(frame.confidence.astype("<f4", copy=False).tobytes())
    if flags & FrameFlag.RAW_JOINTS:
        assert frame.raw_joints is not None
        parts.append(frame.raw_joints.astype("<f4", copy=False).tobytes())
    if flags & FrameFlag.ROTATIONS:
        assert frame.rig is not None
        parts.append(_rig_binary(frame.rig))
    if flags & FrameFlag.PERSON_ID:
        parts.append(np.uint32(frame.person_id).astype("<u4").tobytes())
    parts.append(latency)
    return b"".join(parts)


def encode_status(event: StatusEvent | str, message: str | None = None, t_ns: int | None = None, **details: Any) -> str:
    """A ``status`` message.

    Args:
        event: a :class:`StatusEvent` (or its string value).
        message: optional human-readable text.
        t_ns: wall clock of the event (default: now).
        **details: extra JSON-serialisable keys (e.g. ``source="camera 0"``).

    Returns:
        The JSON text.

    Raises:
        ValueError: unknown event, a detail that overrides a protocol key, or one that is not JSON.
    """
    event = StatusEvent(event)
    clash = {"type", "event", "message", "t_ns"} & details.keys()
    if clash:
        raise ValueError(f"status details must not override {sorted(clash)}")
    msg: dict[str, Any] = {"type": MessageType.STATUS.value, "event": event.value, "t_ns": time.time_ns() if t_ns is None else int(t_ns)}
    if message is not None:
        msg["message"] = str(message)
    msg.update(details)
    try:
        return _dumps(msg)
    except (TypeError, ValueError) as e:
        raise ValueError(f"status details must be JSON-serialisable: {e}") from None


def encode_error(code: ErrorCode, message: str) -> str:
    """An ``error`` message: ``{"type": "error", "code": int, "message": str}``.

    Args:
        code: the error code.
        message: a human-readable reason.

    Returns:
        The JSON text.
    """
    return _dumps({"type": MessageType.ERROR.value, "code": int(code), "message": message})


def encode_subscribe(
    format: Format | str = Format.JSON, fields: Iterable[str] | None = None, max_rate_hz: float | None = None, people: str | None = None
) -> str:
    """A client's ``subscribe`` message.

    Args:
        format: ``"json"`` or ``"binary"``.
        fields: frame fields to receive (default :data:`DEFAULT_FIELDS`).
        max_rate_hz: highest average frame rate wanted, ``None`` for every frame.
        people: ``"all"`` for every person's frames; ``None`` (no ``people`` key sent) for
            the primary person's only.

    Returns:
        The JSON text.

    Raises:
        ValueError: an invalid format, field, rate or people.
    """
    sub = Subscribe(Format(format), DEFAULT_FIELDS if fields is None else tuple(fields), max_rate_hz, people)
    return _dumps(_subscription_json(MessageType.SUBSCRIBE, sub))


def _subscription_json(kind: MessageType, sub: Subscribe) -> dict[str, Any]:
    """A subscribe / subscribed object; ``people`` only when set (the bytes of a subscription without it are unchanged)."""
    obj: dict[str, Any] = {"type": kind.value, "format": sub.format.value, "fields": list(sub.fields), "max_rate_hz": sub.max_rate_hz}
    if sub.people is not None:
        obj["people"] = sub.people
    return obj


def encode_subscribed(sub: Subscribe) -> str:
    """The server's ``subscribed`` answer: the subscription now in force.

    Args:
        sub: the accepted subscription.

    Returns:
        The JSON text.
    """
    return _dumps(_subscription_json(MessageType.SUBSCRIBED, sub))


def binary_layout_table() -> str:
    """The binary header as a Markdown table, generated from :data:`BINARY_HEADER`.

    Returns:
        The table (header row, separator, one row per field), lines joined by ``\\n``.
    """
    names = {"S": "bytes", "u": "uint", "i": "int"}
    lines = ["| offset | size | field | type | meaning |", "|---:|---:|---|---|---|"]
    fields = BINARY_HEADER.fields
    assert fields is not None  # a structured dtype
    for name, (dt, offset, *_) in fields.items():
        kind = f"bytes[{dt.itemsize}]" if dt.kind == "S" else f"{names[dt.kind]}{8 * dt.itemsize}"
        lines.append(f"| {offset} | {dt.itemsize} | `{name}` | {kind} | {_HEADER_DOC[name]} |")
    return "\n".join(lines)


def rotations_layout_table() -> str:
    """The binary ``rotations`` block as a Markdown table, generated from :data:`ROTATIONS_HEADER`.

    Returns:
        The table: the header's fields, then the quaternions, the valid flags and the padding.
    """
    names = {"u": "uint", "f": "float"}
    lines = ["| offset | size | field | type | meaning |", "|---:|---:|---|---|---|"]
    fields = ROTATIONS_HEADER.fields
    assert fields is not None
    for name, (dt, offset, *_) in fields.items():
        base = dt.base if dt.subdtype is not None else dt
        count = int(np.prod(dt.shape)) if dt.shape else 1
        kind = f"{names[base.kind]}{8 * base.itemsize}" + (f"[{count}]" if count > 1 else "")
        lines.append(f"| {offset} | {dt.itemsize} | `{name}` | {kind} | {_ROTATIONS_DOC[name]} |")
    h = ROTATIONS_HEADER.itemsize
    lines.append(f"| {h} | 16 B | `rotations` | float32[B][4] | each bone's local quaternion x, y, z, w, in `rig.bones` order |")
    lines.append(f"| {h} + 16 B | B | `valid` | uint8[B] | 1 = observed this frame, 0 = held / easing / derived |")
    lines.append(f"| {h} + 17 B | (-B) mod 4 | padding | zeros | the block ends on a multiple of 4 bytes |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- decoding


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads_object(text: str | bytes) -> dict[str, Any]:
    """Parse strict JSON (no NaN/Infinity) that must be an object with a string ``type``."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"not valid JSON: {str(e)[:80]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "missing string key 'type'")
    return obj


def parse_client_message(data: str | bytes, max_size: int = MAX_MESSAGE_BYTES) -> Subscribe:
    """Validate one client -> server message (strictly) and return it.

    Protocol version 1 has one client message, ``subscribe``; every key but ``type`` is
    optional (defaults: ``json``, :data:`DEFAULT_FIELDS`, no rate limit) and unknown keys
    are rejected, as are wrong types, unknown or repeated fields and rates outside
    [:data:`MIN_RATE_HZ`, :data:`MAX_RATE_HZ`] = [0.1, 1000] Hz (so every accepted
    subscription has a finite frame interval). An optional ``"protocol": 1`` is accepted.

    Args:
        data: the message as received (``str`` for a text message, ``bytes`` for binary).
        max_size: largest accepted message in bytes (UTF-8 for text).

    Returns:
        The :class:`Subscribe` request.

    Raises:
        ProtocolError: with ``UNSUPPORTED_DATA`` for a binary message, ``MESSAGE_TOO_BIG``,
            ``INVALID_JSON``, ``UNKNOWN_TYPE``, ``VERSION_MISMATCH`` or ``INVALID_MESSAGE``.
    """
    if not isinstance(data, str):
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, "binary messages are not accepted; send JSON text")
    if len(data) > max_size or len(data.encode("utf-8", "surrogatepass")) > max_size:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_BIG, f"message over {max_size} bytes")
    obj = _loads_object(data)
    if obj["type"] != MessageType.SUBSCRIBE:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {obj['type'][:40]!r}; expected 'subscribe'")
    extra = obj.keys() - {"type", "protocol", "format", "fields", "max_rate_hz", "people"}
    if extra:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"unknown key(s) {sorted(k[:40] for k in extra)[:5]} in subscribe")
    if "protocol" in obj and (type(obj["protocol"]) is not int or obj["protocol"] != PROTOCOL_VERSION):
        raise ProtocolError(ErrorCode.VERSION_MISMATCH, f"this server speaks protocol {PROTOCOL_VERSION}")
    fmt = obj.get("format", Format.JSON.value)
    if not isinstance(fmt, str) or fmt not in {f.value for f in Format}:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'format' must be \"json\" or \"binary\"")
    fields = obj.get("fields", list(DEFAULT_FIELDS))
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"'fields' must be a list of strings from {list(FIELDS)}")
    rate = obj.get("max_rate_hz")
    people = obj.get("people")
    if people is not None and (not isinstance(people, str) or people not in PEOPLE):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'people' must be null or \"all\"")
    try:
        return Subscribe(Format(fmt), tuple(fields), rate, people)
    except ValueError as e:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, str(e)[:200]) from None


def _int_key(obj: Mapping[str, Any], key: str) -> int:
    v = obj.get(key)
    if type(v) is not int:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"frame key {key!r} must be an integer")
    return v


def _rows_from_json(v: Any, key: str) -> np.ndarray:
    if not isinstance(v, list):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"frame key {key!r} must be a list")
    try:
        rows = [[math.nan] * 3 if r is None else r for r in v]
        arr = np.array(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"frame key {key!r} must hold [x, y, z] numbers or null") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"frame key {key!r}: expected (J, 3), got shape {arr.shape}")
    return arr


def _latency_from_json(lat: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in lat.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "latency_ms values must be numbers or null")
        out[str(k)] = math.nan if v is None else float(v)
    return out


def _frame_from_json(obj: dict[str, Any]) -> FrameMessage:
    out = FrameMessage(
        type=MessageType.FRAME.value,
        seq=_int_key(obj, "seq"),
        t_capture_ns=_int_key(obj, "t_capture_ns"),
        t_send_ns=_int_key(obj, "t_send_ns"),
    )
    for key in ("joints", "raw_joints"):
        if key in obj:
            out[key] = _rows_from_json(obj[key], key)  # type: ignore[literal-required]
    if "confidence" in obj:
        try:
            out["confidence"] = np.array(obj["confidence"], dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame key 'confidence' must be a list of numbers") from None
    if "latency_ms" in obj:
        lat = obj["latency_ms"]
        if not isinstance(lat, dict):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame key 'latency_ms' must be an object")
        out["latency_ms"] = _latency_from_json(lat)
    sizes = {a.shape[0] for k, a in out.items() if isinstance(a, np.ndarray)}
    if len(sizes) > 1:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"frame arrays disagree on the joint count: {sorted(sizes)}")
    if "rotations" in obj:
        out.update(_rig_from_json(obj))  # type: ignore[typeddict-item]
    if "person_id" in obj:
        pid = _int_key(obj, "person_id")
        if not 0 <= pid < 2**32:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame key 'person_id' must be in [0, 2**32)")
        out["person_id"] = pid
    return out


def _rig_from_json(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``rotations`` field's keys of a JSON frame, as arrays (null rows / hips become NaN)."""
    rot, valid, hips = obj["rotations"], obj.get("rotations_valid"), obj.get("hips_position")
    try:
        rows = np.array([[math.nan] * 4 if r is None else r for r in rot], dtype=np.float32)
        ok = np.array(valid, dtype=np.int64)
        position = np.full(3, np.nan, dtype=np.float32) if hips is None else np.array(hips, dtype=np.float32)
    except (TypeError, ValueError):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame keys 'rotations', 'rotations_valid', 'hips_position' must hold numbers") from None
    if rows.ndim != 2 or rows.shape[1] != 4 or ok.shape != (rows.shape[0],) or position.shape != (3,):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"rotations: expected (B, 4) with B valid flags and 3 hips numbers, got {rows.shape}, {ok.shape}, {position.shape}")
    return {"rig_version": _int_key(obj, "rig_version"), "hips_position": position, "rotations": rows, "rotations_valid": ok != 0}


def _frame_from_binary(data: bytes | bytearray | memoryview) -> FrameMessage:
    buf = bytes(data)
    if len(buf) < BINARY_HEADER.itemsize:
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"binary message of {len(buf)} bytes is shorter than the {BINARY_HEADER.itemsize}-byte header")
    h = np.frombuffer(buf, dtype=BINARY_HEADER, count=1)[0]
    if bytes(h["magic"]) != MAGIC:
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"bad magic {bytes(buf[:4])!r}; expected {MAGIC!r}")
    if int(h["version"]) != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.VERSION_MISMATCH, f"binary frame of protocol {int(h['version'])}; this reader speaks {PROTOCOL_VERSION}")
    if int(h["kind"]) != BINARY_KIND_FRAME:
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"unknown binary message kind {int(h['kind'])}")
    raw_flags = int(h["flags"])
    if raw_flags & ~int(FrameFlag.JOINTS | FrameFlag.CONFIDENCE | FrameFlag.RAW_JOINTS | FrameFlag.ROTATIONS | FrameFlag.PERSON_ID | FrameFlag.LATENCY_MS):
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"unknown flag bits in {raw_flags:#06x}")
    flags = FrameFlag(raw_flags)
    n = int(h["num_joints"])
    lat_bytes = int(h["latency_bytes"])
    if lat_bytes and not flags & FrameFlag.LATENCY_MS:
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, "latency bytes without the latency_ms flag")
    counts = [(FrameFlag.JOINTS, "joints", 3), (FrameFlag.CONFIDENCE, "confidence", 1), (FrameFlag.RAW_JOINTS, "raw_joints", 3)]
    floats = sum(n * c for f, _, c in counts if flags & f)
    rig_at = BINARY_HEADER.itemsize + 4 * floats
    rig_bytes = 0
    if flags & FrameFlag.ROTATIONS:
        if len(buf) < rig_at + ROTATIONS_HEADER.itemsize:
            raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"binary frame of {len(buf)} bytes ends before its rotations block")
        rig_bytes = _rig_block_bytes(int(np.frombuffer(buf, dtype=ROTATIONS_HEADER, count=1, offset=rig_at)[0]["num_bones"]))
    person_bytes = 4 if flags & FrameFlag.PERSON_ID else 0
    expected = rig_at + rig_bytes + person_bytes + lat_bytes
    if len(buf) != expected:
        raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, f"binary frame of {len(buf)} bytes; its header says {expected}")
    out = FrameMessage(type=MessageType.FRAME.value, seq=int(h["seq"]), t_capture_ns=int(h["t_capture_ns"]), t_send_ns=int(h["t_send_ns"]))
    offset = BINARY_HEADER.itemsize
    for flag, key, c in counts:
        if flags & flag:
            a = np.frombuffer(buf, dtype="<f4", count=n * c, offset=offset).astype(np.float32)
            out[key] = a.reshape(n, 3) if c == 3 else a  # type: ignore[literal-required]
            offset += 4 * n * c
    if flags & FrameFlag.ROTATIONS:
        r = np.frombuffer(buf, dtype=ROTATIONS_HEADER, count=1, offset=offset)[0]
        b = int(r["num_bones"])
        if b == 0:
            raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, "a rotations block with no bones")
        out["rig_version"] = int(r["rig_version"])
        out["hips_position"] = np.array(r["hips_position"], dtype=np.float32)
        q_at = offset + ROTATIONS_HEADER.itemsize
        out["rotations"] = np.frombuffer(buf, dtype="<f4", count=4 * b, offset=q_at).astype(np.float32).reshape(b, 4)
        out["rotations_valid"] = np.frombuffer(buf, dtype=np.uint8, count=b, offset=q_at + 16 * b) != 0
        offset += rig_bytes
    if flags & FrameFlag.PERSON_ID:
        out["person_id"] = int(np.frombuffer(buf, dtype="<u4", count=1, offset=offset)[0])
        offset += 4
    if flags & FrameFlag.LATENCY_MS:
        try:
            lat = json.loads(buf[offset:].decode("utf-8")) if lat_bytes else {}
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, "latency_ms is not valid UTF-8 JSON") from None
        if not isinstance(lat, dict):
            raise ProtocolError(ErrorCode.UNSUPPORTED_DATA, "latency_ms is not a JSON object")
        out["latency_ms"] = _latency_from_json(lat)
    return out


def decode_message(data: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode any server -> client message (the client side of the codec).

    Frames (JSON or binary) come back as a :class:`FrameMessage` with numpy arrays; other
    messages as the parsed JSON object. Unknown types are returned as they are, so that a
    client keeps working when a later server adds messages (clients should ignore them).

    Args:
        data: one websocket message.

    Returns:
        The message as a dict with at least ``type``.

    Raises:
        ProtocolError: unreadable JSON, a frame with ill-typed keys, or a bad binary frame.
    """
    if not isinstance(data, str):
        return dict(_frame_from_binary(data))
    obj = _loads_object(data)
    if obj["type"] == MessageType.FRAME:
        return dict(_frame_from_json(obj))
    if obj["type"] == MessageType.RIG:
        return _rig_message(obj)
    return obj


def _rig_message(obj: dict[str, Any]) -> dict[str, Any]:
    """A ``rig`` message with ``rest_offsets`` as a (B, 3) float32 array."""
    try:
        off = np.array(obj.get("rest_offsets"), dtype=np.float32)
    except (TypeError, ValueError):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "rig key 'rest_offsets' must be a list of [x, y, z]") from None
    if off.ndim != 2 or off.shape[1] != 3:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"rig key 'rest_offsets': expected (B, 3), got shape {off.shape}")
    return {**obj, "rig_version": _int_key(obj, "rig_version"), "rest_offsets": off}


def rig_layout_from_hello(hello: Mapping[str, Any]) -> RigLayout:
    """The rig that a ``hello`` message describes (its ``rig`` key).

    Args:
        hello: a decoded ``hello`` message.

    Returns:
        Bones, parents, the hello's rest rig (an average adult's: ``rig`` messages bring
        the person's), axes and convention.

    Raises:
        ProtocolError: the hello has no ``rig`` (a server without rotations) or a malformed one.
    """
    rig = hello.get("rig")
    if not isinstance(rig, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "this server's hello describes no rig (it has no 'rotations' field)")
    try:
        return RigLayout(tuple(rig["bones"]), tuple(rig["parents"]), np.array(rig["rest_offsets"], dtype=np.float32), dict(rig["axes"]), str(rig["convention"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"malformed rig in hello: {str(e)[:100]}") from None


def decode_frame(data: str | bytes | bytearray | memoryview) -> FrameMessage:
    """Decode one ``frame`` message, JSON or binary.

    Args:
        data: one websocket message.

    Returns:
        The frame, with ``joints`` / ``raw_joints`` as (J, 3) float32 (NaN rows where missing),
        ``confidence`` as (J,) float32 and ``latency_ms`` as a dict, when present.

    Raises:
        ProtocolError: not a frame, or a malformed one.
    """
    msg = decode_message(data)
    if msg["type"] != MessageType.FRAME:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"expected a frame, got a {str(msg['type'])[:40]!r} message")
    return FrameMessage(**msg)  # type: ignore[typeddict-item]


def pose_frame_from_message(msg: FrameMessage) -> PoseFrame:
    """Turn a decoded frame back into a :class:`PoseFrame`.

    Args:
        msg: a decoded frame that carries ``joints``.

    Returns:
        The pose; confidence is 1 for every finite joint when it was not subscribed to; the
        rig (without rest offsets: those come in ``rig`` messages) when it was.

    Raises:
        ValueError: the frame has no joints.
    """
    if "joints" not in msg:
        raise ValueError("the frame carries no joints; subscribe to the 'joints' field")
    joints = msg["joints"]
    conf = msg.get("confidence")
    if conf is None:
        conf = np.isfinite(joints).all(axis=1).astype(np.float32)
    rig = None
    if "rotations" in msg:
        rig = RigPose(msg["hips_position"], msg["rotations"], msg["rotations_valid"], msg["rig_version"])
    return PoseFrame(msg["seq"], msg["t_capture_ns"], joints, conf, msg.get("raw_joints"), dict(msg.get("latency_ms", {})), rig, msg.get("person_id", 0))
