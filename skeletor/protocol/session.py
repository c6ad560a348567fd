"""Per-client state of the protocol (sans-I/O): one encoding per frame shared by all, newest frame wins.

The server feeds a :class:`ClientSession` what its client sends and every published frame,
and asks it what to send next; a :class:`SharedFrame` is encoded at most once per
(format, fields) whatever the number of clients.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from skeletor.protocol.codec import encode_error, encode_frame, encode_subscribed, parse_client_message
from skeletor.protocol.messages import MAX_MESSAGE_BYTES, CloseCode, ErrorCode, Format, PoseFrame, ProtocolError, Subscribe

__all__ = ["SharedFrame", "ClientSession"]


class SharedFrame:
    """One published frame, encoded at most once per (format, fields) and shared by all clients.

    Encoding is lazy: a format nobody subscribes to is never encoded, and a frame that a
    slow client skips costs that client nothing. ``t_send_ns`` is stamped at the first
    encoding of each variant.
    """

    __slots__ = ("frame", "_cache", "_clock")

    def __init__(self, frame: PoseFrame, clock: Callable[[], int] = time.time_ns) -> None:
        """Wrap ``frame``; ``clock`` gives the wall clock in ns for ``t_send_ns``."""
        self.frame = frame
        self._cache: dict[tuple[Format, tuple[str, ...], bool], str | bytes] = {}
        self._clock = clock

    def encoded(self, sub: Subscribe) -> str | bytes:
        """The frame serialised for ``sub`` (cached).

        Args:
            sub: the subscription (format and fields).

        Returns:
            JSON text or binary bytes.
        """
        key = (sub.format, sub.fields, sub.people is not None)
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = self._encode(sub, key[2])
        return data

    def _encode(self, sub: Subscribe, person_id: bool) -> str | bytes:
        """Serialise the frame for ``sub`` (called once per cached variant; a server may
        override it to time the encoding)."""
        return encode_frame(self.frame, sub.format, sub.fields, self._clock(), person_id)


class ClientSession:
    """Sans-I/O state of one connected client: subscription, rate gate, newest-frame-wins slot.

    The server feeds it what the client sends (:meth:`receive`) and every published frame
    (:meth:`offer`), and asks it what to send next (:meth:`next_message`). Control messages
    (hello, answers, errors, status) are never dropped while the queue has room and go
    before frames; frames go through a one-frame slot, so a client that is slower than the
    source gets fewer, newer frames and never a backlog.

    Several people (frames with ``person_id``): a client subscribed without ``people`` is
    offered only the primary person's frames (:attr:`PoseFrame.primary`) and has one slot,
    as with a single person; a client subscribed to people ``"all"`` has one slot per
    person (:meth:`drop_person` forgets one); its rate gate decides once per capture (a
    frame with the ``seq`` and ``t_capture_ns`` of the last one decided gets the same
    answer), so a limit thins captures, never people.

    Attributes:
        subscription: the subscription in force (JSON, default fields, no limit until the
            client subscribes).
        frames_offered: frames published while connected.
        frames_sent: frames handed out by :meth:`next_message`.
        frames_dropped: frames replaced in the slot by a newer one before they could be sent.
        frames_rate_limited: frames skipped to keep to ``max_rate_hz``.
        control_dropped: control messages lost because the client let its queue fill up.
        errors: invalid messages received.
        close_code: set when the connection must be closed (send what is queued, then close).
        close_reason: the reason to send with ``close_code``.
    """

    __slots__ = (
        "subscription", "max_message_bytes", "max_errors", "_slots", "_control", "_next_due_ns", "_gate",
        "frames_offered", "frames_sent", "frames_dropped", "frames_rate_limited",
        "control_dropped", "errors", "close_code", "close_reason",
    )  # fmt: skip

    def __init__(self, *, max_message_bytes: int = MAX_MESSAGE_BYTES, max_errors: int = 16, max_control: int = 64) -> None:
        """Create the state of a newly connected client.

        Args:
            max_message_bytes: largest accepted client message (bytes).
            max_errors: invalid messages tolerated before closing with 1008.
            max_control: length of the control queue.
        """
        self.subscription = Subscribe()
        self.max_message_bytes = max_message_bytes
        self.max_errors = max_errors
        self._slots: dict[int, SharedFrame] = {}  # slot key (person id with people "all", else 0) -> waiting frame
        self._gate: tuple[int, int, bool] | None = None  # (seq, t_capture_ns, passed) of the last capture the rate gate decided
        self._control: deque[str] = deque(maxlen=max_control)
        self._next_due_ns: int | None = None
        self.frames_offered = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.frames_rate_limited = 0
        self.control_dropped = 0
        self.errors = 0
        self.close_code: CloseCode | None = None
        self.close_reason = ""

    def receive(self, data: str | bytes) -> Subscribe | None:
        """Handle one message from the client.

        A valid ``subscribe`` replaces the subscription (and restarts the rate gate) and
        queues a ``subscribed`` answer. An invalid message queues an ``error``; a fatal one
        (binary data, too big, too many errors) also sets :attr:`close_code`.

        Args:
            data: the message as received.

        Returns:
            The new subscription, or ``None`` if the message was rejected.
        """
        if self.close_code is not None:
            return None
        try:
            sub = parse_client_message(data, self.max_message_bytes)
        except ProtocolError as e:
            self.errors += 1
            self.queue_control(encode_error(e.code, e.message))
            close = e.close_code
            if close is None and self.errors >= self.max_errors:
                self.queue_control(encode_error(ErrorCode.TOO_MANY_ERRORS, f"{self.errors} invalid messages; closing"))
                close = CloseCode.POLICY_VIOLATION
            if close is not None:
                self.close_code = close
                self.close_reason = e.message[:100] if close != CloseCode.POLICY_VIOLATION else "too many invalid messages"
            return None
        self.subscription = sub
        self._next_due_ns = None
        self._gate = None
        self.queue_control(encode_subscribed(sub))
        return sub

    def offer(self, frame: SharedFrame, now_ns: int) -> bool:
        """Offer a newly published frame; it replaces any frame still waiting in the slot.

        Args:
            frame: the shared frame.
            now_ns: a monotonic clock reading (ns), for the rate gate.

        Returns:
            ``True`` if the frame was put in the slot (the sender should be woken).
        """
        if self.close_code is not None:
            return False
        pose = frame.frame
        if self.subscription.people is None and not pose.primary:
            return False  # another person's: this client follows the primary person only
        self.frames_offered += 1
        interval = self.subscription.min_interval_ns  # 1 ms to 10 s: Subscribe keeps the rate in range
        if interval is not None:
            gate = self._gate
            if self.subscription.people is not None and gate is not None and gate[0] == pose.seq and gate[1] == pose.t_capture_ns:
                passed = gate[2]  # another person of the capture just decided
            else:
                due = self._next_due_ns
                # Skip (never delay) frames that come too early; a quarter interval of slack
                # keeps a source just above the limit from being halved by jitter.
                passed = due is None or now_ns >= due - interval // 4
                if passed:
                    self._next_due_ns = (now_ns if due is None else max(due, now_ns - interval)) + interval
                self._gate = (pose.seq, pose.t_capture_ns, passed)
            if not passed:
                self.frames_rate_limited += 1
                return False
        key = self.slot_key(pose)
        if self._slots.pop(key, None) is not None:
            self.frames_dropped += 1
        self._slots[key] = frame  # (re)inserted last: the person waiting longest goes first
        return True

    def slot_key(self, frame: PoseFrame) -> int:
        """The slot ``frame`` goes to: its person's with people ``"all"``, else the one slot (0)."""
        return frame.person_id if self.subscription.people is not None else 0

    def drop_person(self, person_id: int) -> SharedFrame | None:
        """Forget a person who left: their frame still waiting (with people ``"all"``) is dropped and returned."""
        if self.subscription.people is None:
            return None
        return self._slots.pop(person_id, None)

    def queue_control(self, text: str) -> None:
        """Queue a control message (hello, status, answer); the oldest is dropped when the queue is full."""
        if len(self._control) == self._control.maxlen:
            self.control_dropped += 1
        self._control.append(text)

    def next_message(self) -> str | bytes | None:
        """The next message to send: queued control messages first, then the waiting frame.

        Returns:
            Text or bytes, or ``None`` when there is nothing to send.
        """
        item = self.next_item()
        return None if item is None else item[0]

    def next_item(self) -> tuple[str | bytes, SharedFrame | None] | None:
        """Like :meth:`next_message`, with the frame the message encodes (None for a control message)."""
        if self._control:
            return self._control.popleft(), None
        if not self._slots:
            return None
        key = next(iter(self._slots))
        slot = self._slots.pop(key)
        self.frames_sent += 1
        return slot.encoded(self.subscription), slot

    @property
    def pending(self) -> bool:
        """Whether :meth:`next_message` has something to give."""
        return bool(self._control) or bool(self._slots)

    def stats(self) -> dict[str, Any]:
        """Counters and the subscription, as a JSON-friendly dict."""
        return {
            "format": self.subscription.format.value,
            "fields": list(self.subscription.fields),
            "max_rate_hz": self.subscription.max_rate_hz,
            "people": self.subscription.people,
            "frames_offered": self.frames_offered,
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "frames_rate_limited": self.frames_rate_limited,
            "control_dropped": self.control_dropped,
            "errors": self.errors,
        }
