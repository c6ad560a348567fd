"""The messages of the wire protocol: enums, limits, errors and the pose and subscription records.

Everything here is plain data with its validation; turning it into bytes is
:mod:`skeletor.protocol.codec`, and per-client state is :mod:`skeletor.protocol.session`.
The specification is ``docs/protocol.md`` (summary: the :mod:`skeletor.protocol` docstring).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag, StrEnum
from typing import Any, Final, TypedDict

import numpy as np

__all__ = [
    "PROTOCOL_VERSION",
    "FIELDS",
    "DEFAULT_FIELDS",
    "MAX_MESSAGE_BYTES",
    "MIN_RATE_HZ",
    "PEOPLE",
    "MAX_RATE_HZ",
    "Format",
    "FrameFlag",
    "MessageType",
    "StatusEvent",
    "ErrorCode",
    "CloseCode",
    "ProtocolError",
    "PoseFrame",
    "RigPose",
    "RigLayout",
    "Subscribe",
    "FrameMessage",
]

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 64 * 1024  # largest client -> server message; a subscribe is < 200 bytes
# The range accepted for a subscription's max_rate_hz (inclusive). Both ends keep the rate
# gate's frame interval, 1e9 / rate ns, a finite integer (1 ms to 10 s); a rate of 1e-300 Hz
# would make it infinite.
MIN_RATE_HZ: Final = 0.1  # one frame every 10 s
MAX_RATE_HZ: Final = 1000.0


class Format(StrEnum):
    """How frames are sent to a client."""

    JSON = "json"
    BINARY = "binary"


class FrameFlag(IntFlag):
    """Bits of the binary header's ``flags``: which optional fields follow, in this order."""

    JOINTS = 1
    CONFIDENCE = 2
    RAW_JOINTS = 4
    LATENCY_MS = 8
    ROTATIONS = 16  # opt-in: only a client that names "rotations" ever gets this bit
    PERSON_ID = 32  # opt-in: only a client that subscribes to people "all" gets this bit (and the JSON key)


# Field names, in wire order, and their flag bits.
FIELDS: Final[tuple[str, ...]] = ("joints", "confidence", "raw_joints", "rotations", "latency_ms")
DEFAULT_FIELDS: Final[tuple[str, ...]] = ("joints", "confidence", "latency_ms")
_FIELD_FLAG: Final[dict[str, FrameFlag]] = {
    "joints": FrameFlag.JOINTS,
    "confidence": FrameFlag.CONFIDENCE,
    "raw_joints": FrameFlag.RAW_JOINTS,
    "rotations": FrameFlag.ROTATIONS,
    "latency_ms": FrameFlag.LATENCY_MS,
}
# What a subscription's ``people`` may be: None (the primary person only) or "all".
PEOPLE: Final[tuple[str, ...]] = ("all",)


class MessageType(StrEnum):
    """The ``type`` of every text message."""

    HELLO = "hello"
    SUBSCRIBE = "subscribe"
    SUBSCRIBED = "subscribed"
    FRAME = "frame"
    STATUS = "status"
    ERROR = "error"
    RIG = "rig"  # the person's rest rig (rest offsets), whenever it is (re)calibrated


class StatusEvent(StrEnum):
    """Events announced with ``status`` messages."""

    SOURCE_LOST = "source_lost"  # the camera stopped delivering images (it may come back)
    SOURCE_FOUND = "source_found"  # images flow (again)
    SOURCE_ENDED = "source_ended"  # a file source reached its end; no more frames will come
    NO_PERSON = "no_person"  # images flow but nobody is detected
    PERSON_FOUND = "person_found"  # somebody is detected (again)
    PERSON_APPEARED = "person_appeared"  # a tracked person (``person_id``) appeared (multi-person sources)
    PERSON_LEFT = "person_left"  # a tracked person's track ended; that id never comes back


class ErrorCode(IntEnum):
    """``code`` of ``error`` messages (4000-4999, websocket's private range, so each can also be a close code)."""

    INVALID_JSON = 4000  # a text message that is not a JSON object
    INVALID_MESSAGE = 4001  # a known type with missing, extra or ill-typed keys or values out of range
    UNKNOWN_TYPE = 4002  # a ``type`` this protocol version does not have
    UNSUPPORTED_DATA = 4003  # a binary message where text was expected, or an unreadable binary frame
    VERSION_MISMATCH = 4004  # a message of another protocol version
    MESSAGE_TOO_BIG = 4009  # over the size limit
    TOO_MANY_ERRORS = 4010  # the client kept sending invalid messages


class CloseCode(IntEnum):
    """Websocket close codes the server uses (RFC 6455, section 7.4.1)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001  # server shutting down
    UNSUPPORTED_DATA = 1003  # the client sent a binary message
    POLICY_VIOLATION = 1008  # too many invalid messages
    MESSAGE_TOO_BIG = 1009  # a message over max_message_bytes
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # the server is full


# Errors after which the server closes the connection, and with which code.
_FATAL: Final[dict[ErrorCode, CloseCode]] = {
    ErrorCode.UNSUPPORTED_DATA: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.TOO_MANY_ERRORS: CloseCode.POLICY_VIOLATION,
}


class ProtocolError(Exception):
    """A message that breaks the protocol.

    Attributes:
        code: the :class:`ErrorCode` sent back in the ``error`` message.
        message: a human-readable reason (safe to send to the peer).
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.name} ({int(code)}): {message}")
        self.code = code
        self.message = message

    @property
    def close_code(self) -> CloseCode | None:
        """The close code when the error ends the connection, else ``None`` (the connection stays open)."""
        return _FATAL.get(self.code)


def _as_float32(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


@dataclass(frozen=True)
class RigPose:
    """One frame of the humanoid rig (:mod:`skeletor.rig`): what the ``rotations`` field carries.

    Attributes:
        hips_position: (3,) float32 metres, the Hips joint in the rig world (``hello``'s
            ``rig.axes``: right-handed, Y up, floor at y = 0, the rest pose facing +Z).
        rotations: (B, 4) float32 unit quaternions (x, y, z, w), each bone's local rotation
            relative to the rest T-pose, in the bone order of ``hello``'s ``rig.bones``.
        valid: (B,) bool, True where the bone's rotation was observed this frame (False:
            held while not detected, easing back, or derived).
        rig_version: the rest rig these rotations belong to (the ``rig`` message of that
            version carries its rest offsets); 0 is the average adult of ``hello``.
        rest_offsets: (B, 3) float32 metres, the rest rig of ``rig_version`` (each bone's
            joint from its parent's), or None. Never sent in frames: the ``rig`` message
            carries it when it changes.

    Arrays are converted to contiguous float32 / bool on construction; shapes are checked.
    """

    hips_position: np.ndarray
    rotations: np.ndarray
    valid: np.ndarray
    rig_version: int = 0
    rest_offsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        rot = np.asarray(self.rotations)
        if rot.ndim != 2 or rot.shape[1] != 4 or not 0 < rot.shape[0] < 2**16:
            raise ValueError(f"rotations: expected shape (B, 4) quaternions with 0 < B < 65536, got {rot.shape}")
        b = rot.shape[0]
        if not isinstance(self.rig_version, (int, np.integer)) or not 0 <= int(self.rig_version) < 2**32:
            raise ValueError(f"rig_version must be an integer in [0, 2**32), got {self.rig_version!r}")
        object.__setattr__(self, "rig_version", int(self.rig_version))
        object.__setattr__(self, "rotations", _as_float32("rotations", rot, (b, 4)))
        object.__setattr__(self, "hips_position", _as_float32("hips_position", self.hips_position, (3,)))
        valid = np.ascontiguousarray(self.valid, dtype=bool)
        if valid.shape != (b,):
            raise ValueError(f"valid: expected shape ({b},), got {valid.shape}")
        object.__setattr__(self, "valid", valid)
        if self.rest_offsets is not None:
            object.__setattr__(self, "rest_offsets", _as_float32("rest_offsets", self.rest_offsets, (b, 3)))

    @property
    def num_bones(self) -> int:
        """Number of bones B."""
        return int(self.rotations.shape[0])


@dataclass(frozen=True)
class RigLayout:
    """What ``hello`` says of the rig: its bones, their tree, a rest rig and the axes.

    Attributes:
        bones: B bone names (Unity ``HumanBodyBones`` names), parents before children.
        parents: B parent indices, -1 for the root (Hips).
        rest_offsets: (B, 3) float32 metres, a rest rig (each bone's joint from its parent's,
            rig world axes); ``rig`` messages replace it with the person's.
        axes: the rig world's axes in words, ``{"x": ..., "y": ..., "z": ...}``.
        convention: one sentence each on the world, the rest pose and the quaternions.
    """

    bones: tuple[str, ...]
    parents: tuple[int, ...]
    rest_offsets: np.ndarray
    axes: Mapping[str, str]
    convention: str

    def __post_init__(self) -> None:
        b = len(self.bones)
        if not 0 < b < 2**16 or len(self.parents) != b:
            raise ValueError(f"bones and parents: expected 0 < B < 65536 of each, got {b} and {len(self.parents)}")
        if any(not -1 <= p < i for i, p in enumerate(self.parents)):
            raise ValueError("parents must come before their children (-1 for a root)")
        object.__setattr__(self, "bones", tuple(str(n) for n in self.bones))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "rest_offsets", _as_float32("rest_offsets", self.rest_offsets, (b, 3)))


@dataclass(frozen=True)
class PoseFrame:
    """One pose as the pipeline produces it and the server streams it.

    Attributes:
        seq: frame counter from the source (>= 0).
        t_capture_ns: wall clock (``time.time_ns()``) when the image was captured.
        joints: (J, 3) float32 cleaned pose, camera frame x right, y down, z forward, metres;
            NaN rows for missing joints.
        confidence: (J,) float32, 0 = missing.
        raw_joints: optional (J, 3) uplift-only pose before the refiner.
        latency_ms: per-stage durations in milliseconds (``detect``, ``uplift``, ``refine``, ...).
        rig: optional humanoid rig of this pose (the ``rotations`` field), when one was
            solved (only while some output asks for it; see ``realtime.rig``).
        person_id: the tracked person this pose is (0 for a single-person source; ids of a
            multi-person source are never reused in a run). Sent as ``person_id`` to
            clients subscribed to people ``"all"``.
        primary: whether this is the primary person's frame: the oldest person followed
            (the lowest live id), whom a client that does not subscribe to ``people`` gets.
            Never sent; always True for a single-person source.

    Arrays are converted to contiguous float32 on construction; shapes are checked.
    """

    seq: int
    t_capture_ns: int
    joints: np.ndarray
    confidence: np.ndarray
    raw_joints: np.ndarray | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    rig: RigPose | None = None
    person_id: int = 0
    primary: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.person_id, bool) or not isinstance(self.person_id, (int, np.integer)) or not 0 <= int(self.person_id) < 2**32:
            raise ValueError(f"person_id must be an integer in [0, 2**32), got {self.person_id!r}")
        object.__setattr__(self, "person_id", int(self.person_id))
        object.__setattr__(self, "primary", bool(self.primary))
        if self.rig is not None and not isinstance(self.rig, RigPose):
            raise ValueError(f"rig must be a RigPose or None, got {type(self.rig).__name__}")
        if not isinstance(self.seq, (int, np.integer)) or not 0 <= int(self.seq) < 2**64:
            raise ValueError(f"seq must be an integer in [0, 2**64), got {self.seq!r}")
        if not isinstance(self.t_capture_ns, (int, np.integer)) or not -(2**63) <= int(self.t_capture_ns) < 2**63:
            raise ValueError(f"t_capture_ns must be a 64-bit integer, got {self.t_capture_ns!r}")
        joints = np.asarray(self.joints)
        if joints.ndim != 2 or joints.shape[1] != 3 or not 0 < joints.shape[0] < 2**16:
            raise ValueError(f"joints: expected shape (J, 3) with 0 < J < 65536, got {joints.shape}")
        n = joints.shape[0]
        object.__setattr__(self, "seq", int(self.seq))
        object.__setattr__(self, "t_capture_ns", int(self.t_capture_ns))
        object.__setattr__(self, "joints", _as_float32("joints", joints, (n, 3)))
        object.__setattr__(self, "confidence", _as_float32("confidence", self.confidence, (n,)))
        if self.raw_joints is not None:
            object.__setattr__(self, "raw_joints", _as_float32("raw_joints", self.raw_joints, (n, 3)))

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return int(self.joints.shape[0])


@dataclass(frozen=True)
class Subscribe:
    """A client's subscription: what it gets, how, and how often.

    Attributes:
        format: ``json`` text frames or ``binary`` frames.
        fields: optional frame fields, a subset of :data:`FIELDS`, kept in wire order.
        max_rate_hz: upper bound on the average frame rate (frames are skipped, never
            delayed, to keep to it), in [:data:`MIN_RATE_HZ`, :data:`MAX_RATE_HZ`] Hz;
            ``None`` = every frame.
        people: ``None``: the primary person's frames only (what every client got before
            multi-person sources: one frame per capture, no ``person_id``); ``"all"``: one
            frame per person per capture (same ``seq``), each carrying ``person_id``.

    Raises:
        ValueError: an unknown format, fields that are not distinct names from
            :data:`FIELDS`, a rate that is not a real number in the range (``True``,
            ``"10"``, NaN, infinities and integers too large for a float are refused), or
            ``people`` other than None and ``"all"``.
    """

    format: Format = Format.JSON
    fields: tuple[str, ...] = DEFAULT_FIELDS
    max_rate_hz: float | None = None
    people: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", Format(self.format))
        names = f"a list of distinct names from {list(FIELDS)}"
        if isinstance(self.fields, (str, bytes)) or not isinstance(self.fields, Iterable):
            raise ValueError(f"fields must be {names}, got {type(self.fields).__name__}")
        fields = tuple(self.fields)
        if not all(isinstance(f, str) for f in fields):
            raise ValueError(f"fields must be {names}, got a {sorted({type(f).__name__ for f in fields if not isinstance(f, str)})[0]}")
        unknown = [f[:40] for f in fields if f not in _FIELD_FLAG]
        if unknown:
            raise ValueError(f"unknown field(s) {unknown[:5]}; expected a subset of {list(FIELDS)}")
        if len(set(fields)) != len(fields):
            raise ValueError(f"fields must not repeat, got {list(fields)}")
        if self.people is not None and (not isinstance(self.people, str) or self.people not in PEOPLE):
            raise ValueError(f"people must be null or \"all\", got {repr(self.people)[:40]}")
        object.__setattr__(self, "fields", tuple(f for f in FIELDS if f in fields))
        if self.max_rate_hz is not None:
            object.__setattr__(self, "max_rate_hz", _rate_hz(self.max_rate_hz))

    @property
    def min_interval_ns(self) -> int | None:
        """The rate gate's frame interval, ``1e9 / max_rate_hz`` ns (1 ms to 10 s); ``None`` without a limit."""
        return None if self.max_rate_hz is None else int(1e9 / self.max_rate_hz)

    @property
    def flags(self) -> FrameFlag:
        """The binary header flags for these fields (and ``person_id`` with people ``"all"``)."""
        flags = _fields_to_flags(self.fields)
        return flags | FrameFlag.PERSON_ID if self.people is not None else flags


def _rate_hz(value: object) -> float:
    """``value`` as a rate in [MIN_RATE_HZ, MAX_RATE_HZ] Hz; ``ValueError`` for anything else."""
    rate = math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        try:
            rate = float(value)
        except OverflowError:  # an integer beyond float's range
            pass
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:  # NaN fails this too
        shown = f"an integer of {value.bit_length()} bits" if isinstance(value, int) and value.bit_length() > 64 else repr(value)[:40]
        raise ValueError(f"max_rate_hz must be null or a number in [{MIN_RATE_HZ:g}, {MAX_RATE_HZ:g}] Hz, got {shown}")
    return rate


def _fields_to_flags(fields: Iterable[str]) -> FrameFlag:
    flags = FrameFlag(0)
    for f in fields:
        try:
            flags |= _FIELD_FLAG[f]
        except KeyError:
            raise ValueError(f"unknown field {f!r}; expected one of {list(FIELDS)}") from None
    return flags


class FrameMessage(TypedDict, total=False):
    """A decoded ``frame`` message: the JSON keys, with numpy arrays for the poses.

    ``type``, ``seq``, ``t_capture_ns`` and ``t_send_ns`` are always there; the others
    only when subscribed to (``raw_joints`` also only when the pipeline has one; the four
    keys of the ``rotations`` field, ``rig_version``, ``hips_position``, ``rotations`` and
    ``rotations_valid``, only when the frame has a solved rig).
    """

    type: str
    seq: int
    t_capture_ns: int
    t_send_ns: int
    joints: np.ndarray  # (J, 3) float32, NaN rows for missing joints
    confidence: np.ndarray  # (J,) float32
    raw_joints: np.ndarray  # (J, 3) float32
    rig_version: int  # the rotations' rest rig (with ``rotations``)
    hips_position: np.ndarray  # (3,) float32 metres, rig world
    rotations: np.ndarray  # (B, 4) float32 local quaternions (x, y, z, w)
    rotations_valid: np.ndarray  # (B,) bool
    person_id: int  # the tracked person (to subscribers of people "all")
    latency_ms: dict[str, float]
