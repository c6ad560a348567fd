"""Recording the live pose stream to disk as it runs (``skeletor-live --record PATH``).

One module, longer than most: both formats share the writer thread, the crash guarantees
and the recovery of an interrupted file, which must stay in step.

The suffix picks the format:

``.jsonl``: a transcript of protocol v1 (``skeletor.protocol``)
    The first line is the ``hello`` message (skeleton, units ``"m"``, axes x right, y down,
    z forward, fps); every further line is one JSON ``frame`` message, exactly what a
    websocket JSON subscriber receives: ``seq``, ``t_capture_ns``, ``t_send_ns`` (here:
    when the frame was recorded), ``joints`` (null for a missing joint), ``confidence``,
    ``latency_ms``. So ``skeletor.protocol.decode_message`` reads every line, and
    :func:`read_jsonl` turns the file into a :class:`~skeletor.pose.keypoints.PoseSequence`.
    What survives a crash (the default ``flush_every=1``): every frame is handed to the
    operating system before ``write()`` returns, so a process that is killed (``kill -9``,
    an out-of-memory kill, a crash in native code) loses no frame whose ``write()`` had
    returned, and the file is valid to the last whole frame: at most one line at its end,
    the frame being written at the moment of the kill, can be cut short, and
    :func:`read_jsonl` skips it. What the OS holds reaches the disk within its own
    writeback time (seconds); only a power cut or an OS crash before that loses it.
    ``close()`` flushes and fsyncs. A write that fails (the disk is full, the device gone)
    stops the recording at once: the file is cut back to the last whole frame that reached
    the OS and closed, and :class:`RecordingError` says how many frames it holds; later
    frames are ignored. A larger ``flush_every`` batches writes (to the OS
    every ``flush_every`` frames, or with the first frame after ``flush_interval_s``):
    cheaper, but a kill then loses the frames written since the last flush, and if the
    source stalls they wait for the next frame. The cost of the default is small: about
    0.2 ms a frame for a ``.jsonl`` line (mostly the JSON encoding), 7 us for a spool record.

``.npz``: the output pose format (``skeletor.pose.keypoints``, ``load_poses`` reads it)
    Frames are appended, as they come, to a spool file next to the target
    (``PATH.spool``: one JSON header line, then fixed-size little-endian records
    ``seq`` u8, ``t_capture_ns`` i8, ``joints`` f4 (J, 3), ``confidence`` f4 (J,)).
    ``close()`` writes the ``.npz`` (atomically) and deletes the spool. A process killed
    before ``close()`` leaves the spool, holding every frame whose ``write()`` had
    returned (as for ``.jsonl``; a record cut short by the kill is dropped);
    :func:`recover_npz` finishes it. A failed write cuts the spool back to whole records
    and finishes the ``.npz`` from them; if that cannot be written either (a full disk),
    the spool is kept for :func:`recover_npz`.

Several people (``skeletor-live --people N``, N > 1)
    Every person's frames are kept. ``.jsonl``: ``hello`` has ``max_people``, and every
    frame line carries ``person_id`` (as a people ``"all"`` subscriber gets it); one line
    per person per capture, with the capture's ``seq``. :func:`read_jsonl_people` reads
    every person, :func:`read_jsonl` one (``person=ID``). ``.npz``: each record of the
    spool also has ``person_id`` u4 (header ``"people": true``), and ``close()`` writes one
    file per person, ``PATH.person{ID}.npz`` (the layout of ``skeletor clean --people``,
    docs/formats.md): all of them span the whole recording (frame t is the same capture
    in every file), NaN and confidence 0 where that person was not followed.

Skipped source frames
    The pipeline drops camera frames when it runs slower than the camera (newest frame
    wins), which shows as gaps in ``seq``. Both readers put each frame at index
    ``seq - first seq`` so the sequence keeps the source's frame rate, and fill skipped
    frames as the pose format does for gaps: confidence 0 and an estimated position,
    linearly interpolated across gaps up to ``max_gap_s``, the last pose held across
    longer ones. If ``seq`` ever goes backwards (a restarted source), frames are kept in
    recorded order instead.

Threads, signals, exit
    ``write`` is called from the pipeline thread and is cheap (one encoded line or one
    packed record into a buffered file). ``close`` is idempotent and may be called from
    another thread, a signal handler (also while this thread is inside ``write``: the
    close then happens as soon as that write returns) or ``atexit`` (every open recorder
    registers itself, so a normal interpreter exit finishes the file).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self, TextIO

import numpy as np

from skeletor.pose.keypoints import KeypointFormatError, PoseSequence, save_poses
from skeletor.protocol import (
    FIELDS,
    MessageType,
    PoseFrame,
    ProtocolError,
    decode_message,
    encode_frame,
    encode_hello,
    pose_frame_from_message,
)
from skeletor.pose.skeleton import HOLISTIC75, Skeleton, get_skeleton

__all__ = [
    "SUFFIXES", "Recorder", "RecorderConfig", "RecordingError", "iter_jsonl", "read_jsonl", "read_jsonl_people",
    "recover_npz", "person_path", "spool_path",
]  # fmt: skip

log = logging.getLogger(__name__)

SUFFIXES: tuple[str, ...] = (".jsonl", ".npz")
_SPOOL_FORMAT = "skeletor-pose-spool"
_SPOOL_VERSION = 1
_RECORD_HEAD = struct.Struct("<Qq")  # seq, t_capture_ns


@dataclass(frozen=True)
class RecorderConfig:
    """How a :class:`Recorder` writes.

    Attributes:
        flush_every: hand buffered data to the OS at least every this many frames. 1 (the
            default) makes every frame survive a killed process (see the module docstring).
        flush_interval_s: ... and with the first frame this many seconds after the last flush
            (matters only with ``flush_every`` > 1).
        fields: frame fields in ``.jsonl`` lines (protocol names: ``joints``,
            ``confidence``, ``raw_joints``, ``latency_ms``); ``.npz`` keeps joints and confidence.
        fill_gaps: when finishing an ``.npz``, put frames at their ``seq`` and fill skipped ones.
        max_gap_s: longest gap filled by interpolation; longer gaps hold the last pose.
    """

    flush_every: int = 1
    flush_interval_s: float = 0.5
    fields: tuple[str, ...] = ("joints", "confidence", "latency_ms")
    fill_gaps: bool = True
    max_gap_s: float = 0.5

    def __post_init__(self) -> None:
        if self.flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {self.flush_every}")
        if not (math.isfinite(self.flush_interval_s) and self.flush_interval_s >= 0):
            raise ValueError(f"flush_interval_s must be >= 0, got {self.flush_interval_s}")
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown or "joints" not in self.fields:
            raise ValueError(f"fields must include 'joints' and be a subset of {list(FIELDS)}, got {list(self.fields)}")
        if not (math.isfinite(self.max_gap_s) and self.max_gap_s >= 0):
            raise ValueError(f"max_gap_s must be >= 0, got {self.max_gap_s}")


def person_path(path: str | os.PathLike[str], person_id: int) -> Path:
    """The file of one person of a multi-person ``.npz`` recording to ``path``: ``OUT.person{ID}.npz``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.person{person_id}{p.suffix}")


def spool_path(path: str | os.PathLike[str]) -> Path:
    """The spool file an ``.npz`` recording to ``path`` appends to (``PATH.spool``)."""
    p = Path(path)
    return p.with_name(p.name + ".spool")


class RecordingError(OSError):
    """Writing a recording failed (a full disk, a vanished device): the recording has stopped.

    The file was cut back to the last whole frame and closed; the message says what it holds.

    Attributes:
        frames_kept: frames in the file (every one whole).
    """

    def __init__(self, message: str, frames_kept: int) -> None:
        super().__init__(message)
        self.frames_kept = frames_kept


class Recorder:
    """Writes :class:`~skeletor.protocol.PoseFrame` s to a ``.jsonl`` or ``.npz`` file while a stream runs.

    Make one with :meth:`open`; use it as a context manager or call :meth:`close`.

    Attributes:
        path: the target file.
        fps: the source's nominal frame rate.
        skeleton: the joint layout of the frames.
        config: flushing and gap settings.
        frames_written: frames accepted so far.
        frames_kept: frames handed to the OS whole (all of them after a successful ``close``).
        frames_ignored: frames that came after ``close`` or a failed write (the pipeline may
            still be stopping).
        max_people: more than 1: every frame's ``person_id`` is kept (see the module docstring).
    """

    def __init__(self, path: Path, fps: float, skeleton: Skeleton, config: RecorderConfig, max_people: int = 1) -> None:
        """Use :meth:`open`."""
        self.path = path
        self.max_people = max_people
        self.fps = float(fps)
        self.skeleton = skeleton
        self.config = config
        self.frames_written = 0
        self.frames_kept = 0
        self.frames_ignored = 0
        self._bytes_written = 0  # bytes given to the file object, header included
        self._bytes_kept = 0  # ... of which the OS has all (the file's size at the last good flush)
        self._writing: Path = path  # the file appended to (an .npz's spool)
        self._lock = threading.RLock()
        self._closed = False
        self._busy: int | None = None  # thread id inside write/flush
        self._close_pending = False
        self._since_flush = 0
        self._last_flush = time.monotonic()
        self._file: TextIO | BinaryIO | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        fps: float,
        skeleton: Skeleton | str = HOLISTIC75,
        config: RecorderConfig | None = None,
        max_people: int = 1,
    ) -> Recorder:
        """Start recording to ``path``; the suffix (``.jsonl`` or ``.npz``) picks the format.

        Args:
            path: the file to record to (its folder is created). An existing ``.jsonl``
                or ``.npz`` there is replaced.
            fps: the source's nominal frame rate (> 0).
            skeleton: the frames' layout (default ``holistic75``).
            config: flushing and gap settings.
            max_people: the most people the stream follows; more than 1 keeps each frame's
                ``person_id`` (an ``.npz`` becomes one file per person).

        Returns:
            An open recorder.

        Raises:
            ValueError: another suffix, or a bad fps.
            FileExistsError: an ``.npz`` target whose spool is left from an interrupted
                recording (finish it with :func:`recover_npz`, or delete it).
            OSError: the file cannot be created.
        """
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"{p}: can only record to {' or '.join(SUFFIXES)} files, got {p.suffix or 'no suffix'!r}")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        skel = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        impl = _JsonlRecorder if suffix == ".jsonl" else _NpzRecorder
        if isinstance(max_people, bool) or not isinstance(max_people, int) or max_people < 1:
            raise ValueError(f"max_people must be an integer >= 1, got {max_people!r}")
        rec = impl(p, fps, skel, config or RecorderConfig(), max_people)
        rec._start()
        atexit.register(rec.close)
        log.info("recording to %s", p)
        return rec

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def write(self, frame: PoseFrame) -> None:
        """Append one frame; with the default config it is in the OS's hands when this returns (survives ``kill -9``).

        A frame that comes after :meth:`close` (or after a failed write) is counted in
        ``frames_ignored`` and dropped.

        Raises:
            ValueError: the frame has another joint count than the skeleton.
            RecordingError: the write failed (e.g. the disk is full): the recording is
                stopped, its file cut back to the last whole frame.
        """
        if frame.num_joints != self.skeleton.num_joints:
            raise ValueError(f"frame has {frame.num_joints} joints; the recording's {self.skeleton.name} has {self.skeleton.num_joints}")
        with self._lock:
            if self._closed or self._file is None:
                self.frames_ignored += 1
                return
            self._busy = threading.get_ident()
            try:
                self._put(self._encode(frame))
                self.frames_written += 1
                self._since_flush += 1
                if self._since_flush >= self.config.flush_every or time.monotonic() - self._last_flush >= self.config.flush_interval_s:
                    self._flush_locked()
            except OSError as e:
                raise self._fail(e) from e
            finally:
                self._busy = None
                if self._close_pending:  # close() was asked for (by a signal handler) during this write
                    self.close()

    def flush(self) -> None:
        """Hand everything written so far to the operating system.

        Raises:
            RecordingError: that failed; the recording is stopped (see :meth:`write`).
        """
        with self._lock:
            if self._file is not None and not self._closed:
                self._busy = threading.get_ident()
                try:
                    self._flush_locked()
                except OSError as e:
                    raise self._fail(e) from e
                finally:
                    self._busy = None
                    if self._close_pending:
                        self.close()

    def close(self) -> None:
        """Flush and finish the file. Idempotent; safe from other threads, signal handlers and ``atexit``.

        Raises:
            RecordingError: the last frames could not be flushed (the file is cut back to
                the last whole frame, as for a failed :meth:`write`).
            OSError: the final ``.npz`` cannot be written (its spool is then kept).
        """
        if self._busy == threading.get_ident():  # a signal handler interrupted our own write
            self._close_pending = True
            return
        with self._lock:
            if self._closed:
                return
            f = self._file
            if f is not None:
                try:
                    self._flush_locked()
                    os.fsync(f.fileno())
                except OSError as e:
                    raise self._fail(e) from e
            self._closed = True
            atexit.unregister(self.close)
            self._file = None
            if f is not None:
                f.close()
            self._finish()
        log.info("recorded %d frames to %s", self.frames_written, self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, data: str | bytes) -> None:
        """Write ``data`` to the file and count its bytes."""
        assert self._file is not None
        self._file.write(data)  # type: ignore[arg-type]
        self._bytes_written += len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode("utf-8"))

    def _flush_locked(self) -> None:
        assert self._file is not None
        self._file.flush()
        self._bytes_kept, self.frames_kept = self._bytes_written, self.frames_written
        self._since_flush = 0
        self._last_flush = time.monotonic()

    def _fail(self, error: OSError) -> RecordingError:
        """Stop after a failed write: close the file, cut it back to the last whole frame, finish it.

        Called with the lock held. Returns the error to raise, saying what the file holds.
        """
        self._closed = True
        atexit.unregister(self.close)
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()  # closes the descriptor even when its last flush fails again
            except OSError:
                pass
        reason = error.strerror or str(error)
        try:
            os.truncate(self._writing, self._bytes_kept)  # a short write may have left part of a frame
        except OSError as e:
            log.warning("%s: could not cut the file back to its last whole frame: %s", self._writing, e.strerror or e)
        kept = self.frames_kept
        try:
            self._finish()
            holds = f"{self.path} holds the first {kept} frames, each one whole"
        except (OSError, KeypointFormatError) as e:
            holds = (f"the first {kept} frames are in {self._writing} (finish it with skeletor.io.recording.recover_npz"
                     f"({str(self.path)!r}) when there is room; {getattr(e, 'strerror', None) or e})")  # fmt: skip
        return RecordingError(f"{self.path}: {reason}; recording stopped, {holds}", kept)

    # format-specific parts
    def _start(self) -> None:
        raise NotImplementedError

    def _encode(self, frame: PoseFrame) -> str | bytes:
        raise NotImplementedError

    def _finish(self) -> None:
        pass


class _JsonlRecorder(Recorder):
    def _start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8", newline="\n", buffering=1 << 16)  # noqa: SIM115 (open until close())
        self._put(encode_hello(self.skeleton, self.fps, max_people=self.max_people) + "\n")
        self._flush_locked()

    def _encode(self, frame: PoseFrame) -> str:
        return str(encode_frame(frame, "json", self.config.fields, time.time_ns(), person_id=self.max_people > 1)) + "\n"


class _NpzRecorder(Recorder):
    def _start(self) -> None:
        spool = spool_path(self.path)
        if spool.exists():
            raise FileExistsError(
                f"{spool} is left from an interrupted recording; finish it with "
                f"skeletor.io.recording.recover_npz({str(self.path)!r}) or delete it"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": _SPOOL_FORMAT,
            "version": _SPOOL_VERSION,
            "fps": self.fps,
            "skeleton": self.skeleton.name,
            "num_joints": self.skeleton.num_joints,
            "fill_gaps": self.config.fill_gaps,
            "max_gap_s": self.config.max_gap_s,
        }
        if self.max_people > 1:
            header["people"] = True  # records end with person_id u4
        self._writing = spool
        self._file = open(spool, "xb", buffering=1 << 16)  # noqa: SIM115 (open until close())
        self._put((json.dumps(header) + "\n").encode())
        self._flush_locked()

    def _encode(self, frame: PoseFrame) -> bytes:
        record = _RECORD_HEAD.pack(frame.seq, frame.t_capture_ns) + frame.joints.astype("<f4").tobytes() + frame.confidence.astype("<f4").tobytes()
        return record + struct.pack("<I", frame.person_id) if self.max_people > 1 else record

    def _finish(self) -> None:
        recover_npz(self.path)


# --------------------------------------------------------------------------- reading


def _record_dtype(num_joints: int, people: bool = False) -> np.dtype:
    fields = [("seq", "<u8"), ("t_capture_ns", "<i8"), ("joints", "<f4", (num_joints, 3)), ("confidence", "<f4", (num_joints,))]
    return np.dtype(fields + [("person_id", "<u4")] if people else fields)


def _assemble_people(
    person_ids: np.ndarray, seqs: np.ndarray, joints: np.ndarray, conf: np.ndarray, fps: float, skeleton: str, fill_gaps: bool, max_gap_s: float, where: str
) -> dict[int, PoseSequence]:
    """Frames of several people in recorded order -> one sequence per person, all spanning the whole recording."""
    out: dict[int, PoseSequence] = {}
    first = int(seqs.min()) if len(seqs) else 0
    total = int(seqs.max()) - first + 1 if len(seqs) else 0
    for pid in sorted({int(p) for p in person_ids}):
        mine = person_ids == pid
        seq = _assemble(seqs[mine], joints[mine], conf[mine], fps, skeleton, fill_gaps, max_gap_s, f"{where} person {pid}")
        if not fill_gaps or np.any(np.diff(seqs[mine].astype(np.int64)) <= 0):
            out[pid] = seq  # in recorded order: no common time axis
            continue
        start = int(seqs[mine].min()) - first
        poses = np.full((total,) + seq.poses3d.shape[1:], np.nan, np.float32)
        c = np.zeros((total,) + seq.confidence.shape[1:], np.float32)
        poses[start : start + len(seq.poses3d)], c[start : start + len(seq.poses3d)] = seq.poses3d, seq.confidence
        out[pid] = PoseSequence(poses, c, fps, skeleton)
    return out


def _assemble(
    seqs: np.ndarray, joints: np.ndarray, conf: np.ndarray, fps: float, skeleton: str, fill_gaps: bool, max_gap_s: float, where: str
) -> PoseSequence:
    """Frames in recorded order -> a PoseSequence at the source's frame rate (see the module docstring)."""
    n = len(seqs)
    seen = np.isfinite(joints).all(-1)  # a joint with any non-finite coordinate is missing: NaN, confidence 0
    joints = np.where(seen[..., None], joints, np.nan).astype(np.float32)
    conf = np.where(seen & np.isfinite(conf), conf, 0.0).astype(np.float32)
    if n == 0 or not fill_gaps:
        return PoseSequence(joints, conf, fps, skeleton)
    s = seqs.astype(np.int64)
    if np.any(np.diff(s) <= 0):
        log.warning("%s: frame numbers (seq) are not increasing; keeping the frames in recorded order", where)
        return PoseSequence(joints, conf, fps, skeleton)
    index = s - s[0]
    total = int(index[-1]) + 1
    if total > n:
        log.info("%s: %d skipped source frames filled (confidence 0)", where, total - n)
    out = np.empty((total,) + joints.shape[1:], np.float32)
    out_conf = np.zeros((total,) + conf.shape[1:], np.float32)
    out[index], out_conf[index] = joints, conf
    missing = np.setdiff1d(np.arange(total), index)
    if missing.size:
        nxt = np.searchsorted(index, missing)  # index of the next recorded frame
        a, b = index[nxt - 1], index[nxt]
        w = ((missing - a) / (b - a)).astype(np.float32)
        w = np.where(b - a - 1 <= max_gap_s * fps, w, 0.0)  # long gaps: hold the last pose
        out[missing] = (1 - w)[:, None, None] * out[a] + w[:, None, None] * out[b]
    return PoseSequence(out, out_conf, fps, skeleton)


def recover_npz(path: str | os.PathLike[str]) -> PoseSequence | dict[int, PoseSequence]:
    """Turn the spool of an ``.npz`` recording into the ``.npz`` (what ``close()`` does).

    Use it after a process was killed while recording. Complete records are kept (a
    record cut short by the kill is dropped); the spool is deleted once the ``.npz`` is
    written.

    Args:
        path: the ``.npz`` target (or its ``.spool`` file).

    Returns:
        The recorded sequence, as written; for a multi-person recording, each person's
        (person id -> sequence), written to :func:`person_path` files.

    Raises:
        KeypointFormatError: no spool, or one that is not a pose spool.
        OSError: the ``.npz`` cannot be written.
    """
    p = Path(path)
    target = p.with_name(p.name[: -len(".spool")]) if p.name.endswith(".spool") else p
    spool = spool_path(target)
    try:
        raw = spool.read_bytes()
    except FileNotFoundError:
        raise KeypointFormatError(f"{spool}: no recording spool to recover") from None
    end = raw.find(b"\n")
    try:
        header = json.loads(raw[:end])
        if header.get("format") != _SPOOL_FORMAT or header.get("version") != _SPOOL_VERSION:
            raise ValueError(f"not a {_SPOOL_FORMAT} v{_SPOOL_VERSION} header")
        num_joints, fps, skeleton = int(header["num_joints"]), float(header["fps"]), str(header["skeleton"])
    except (ValueError, KeyError, TypeError) as e:
        raise KeypointFormatError(f"{spool}: unreadable spool header ({e})") from None
    people = bool(header.get("people", False))
    dtype = _record_dtype(num_joints, people)
    body = raw[end + 1 :]
    count = len(body) // dtype.itemsize
    if len(body) % dtype.itemsize:
        log.warning("%s: dropping a record cut short (%d bytes)", spool, len(body) % dtype.itemsize)
    rec = np.frombuffer(body, dtype=dtype, count=count)
    if people:
        each = _assemble_people(
            rec["person_id"], rec["seq"], rec["joints"], rec["confidence"], fps, skeleton,
            bool(header.get("fill_gaps", True)), float(header.get("max_gap_s", 0.5)), str(spool),
        )  # fmt: skip
        for pid, person in each.items():
            save_poses(person_path(target, pid), person)
        spool.unlink()
        log.info("wrote %d people's files beside %s (%d records)", len(each), target, count)
        return each
    seq = _assemble(
        rec["seq"], rec["joints"], rec["confidence"], fps, skeleton,
        bool(header.get("fill_gaps", True)), float(header.get("max_gap_s", 0.5)), str(spool),
    )  # fmt: skip
    save_poses(target, seq)
    spool.unlink()
    log.info("wrote %s (%d frames from %d records)", target, len(seq.poses3d), count)
    return seq


def _read_lines(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(hello, frame messages) of a ``.jsonl`` recording; a damaged last line is skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [(i + 1, line) for i, line in enumerate(f) if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFormatError(f"{path}: not a readable .jsonl file ({e})") from e
    hello: dict[str, Any] | None = None
    frames: list[dict[str, Any]] = []
    for k, (lineno, line) in enumerate(lines):
        try:
            msg = decode_message(line)
        except ProtocolError as e:
            if k == len(lines) - 1:
                log.warning("%s:%d: skipping a damaged last line (%s)", path, lineno, e.message)
                break
            raise KeypointFormatError(f"{path}:{lineno}: {e.message}") from None
        if msg["type"] == MessageType.HELLO:
            hello = msg
        elif msg["type"] == MessageType.FRAME:
            if "joints" not in msg:
                raise KeypointFormatError(f"{path}:{lineno}: a frame without joints")
            frames.append(msg)
    return hello, frames


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[PoseFrame]:
    """The frames of a ``.jsonl`` recording, as recorded.

    Args:
        path: the recording.

    Yields:
        One :class:`~skeletor.protocol.PoseFrame` per frame line.

    Raises:
        KeypointFormatError: unreadable file or a malformed line other than the last.
    """
    _, frames = _read_lines(Path(path))
    for msg in frames:
        yield pose_frame_from_message(msg)  # type: ignore[arg-type]


def read_jsonl(
    path: str | os.PathLike[str],
    fps: float | None = None,
    *,
    fill_gaps: bool = True,
    max_gap_s: float = 0.5,
    person: int | None = None,
) -> PoseSequence:
    """Read a ``.jsonl`` recording into a pose sequence (the ``.npz`` output format's arrays).

    Args:
        path: the recording.
        fps: frame rate; default the one in its ``hello`` line (required when it has none).
        fill_gaps: put frames at their ``seq`` and fill skipped source frames (confidence 0).
        max_gap_s: longest gap filled by interpolation; longer ones hold the last pose.
        person: with a multi-person recording, whose frames to read (a ``person_id``);
            None reads a recording of one person.

    Returns:
        ``poses3d`` (T, J, 3) metres in the camera frame (NaN for missing joints),
        ``confidence`` (T, J), the fps and the skeleton name.

    Raises:
        KeypointFormatError: unreadable file, a malformed line other than the last, an
            unknown skeleton, frames with another joint count, no fps, or several people
            and no ``person`` (use :func:`read_jsonl_people`), or a ``person`` not in it.
    """
    p = Path(path)
    hello, frames = _read_lines(p)
    ids = sorted({int(m.get("person_id", 0)) for m in frames})
    if person is None and len(ids) > 1:
        raise KeypointFormatError(f"{p}: a recording of {len(ids)} people (ids {ids}); pass person=ID, or read them all with read_jsonl_people")
    if person is not None:
        if person not in ids:
            raise KeypointFormatError(f"{p}: no person {person} in it (ids {ids})")
        frames = [m for m in frames if int(m.get("person_id", 0)) == person]
    return _frames_to_sequence(p, hello, frames, fps, fill_gaps, max_gap_s)


def read_jsonl_people(
    path: str | os.PathLike[str], fps: float | None = None, *, fill_gaps: bool = True, max_gap_s: float = 0.5
) -> dict[int, PoseSequence]:
    """Every person of a ``.jsonl`` recording (a single-person one gives ``{0: ...}``).

    Args:
        path: the recording.
        fps, fill_gaps, max_gap_s: as for :func:`read_jsonl`.

    Returns:
        person id -> their sequence; with ``fill_gaps`` all span the whole recording (frame
        t is the same capture in each), NaN and confidence 0 where that person was not followed.

    Raises:
        KeypointFormatError: as :func:`read_jsonl`.
    """
    p = Path(path)
    hello, frames = _read_lines(p)
    whole = _frames_to_sequence(p, hello, frames, fps, False, max_gap_s)  # validates; frames in recorded order
    ids = np.array([int(m.get("person_id", 0)) for m in frames], dtype=np.int64)
    seqs = np.array([m["seq"] for m in frames], dtype=np.uint64)
    return _assemble_people(ids, seqs, whole.poses3d, whole.confidence, whole.fps, whole.skeleton, fill_gaps, max_gap_s, str(p))


def _frames_to_sequence(
    p: Path, hello: dict[str, Any] | None, frames: list[dict[str, Any]], fps: float | None, fill_gaps: bool, max_gap_s: float
) -> PoseSequence:
    """A recording's frame messages as one sequence (see :func:`read_jsonl`)."""
    skeleton = "holistic75"
    if hello is not None:
        skel = hello.get("skeleton")
        name = skel.get("name") if isinstance(skel, dict) else None
        if not isinstance(name, str):
            raise KeypointFormatError(f"{p}: the hello line names no skeleton")
        skeleton = name
        if fps is None and isinstance(hello.get("fps"), (int, float)):
            fps = float(hello["fps"])
    try:
        num_joints = get_skeleton(skeleton).num_joints
    except KeyError as e:
        raise KeypointFormatError(f"{p}: {e.args[0]}") from None
    if fps is None:
        raise KeypointFormatError(f"{p}: no fps in the file; pass fps=")
    joints = np.full((len(frames), num_joints, 3), np.nan, np.float32)
    conf = np.zeros((len(frames), num_joints), np.float32)
    for i, msg in enumerate(frames):
        if msg["joints"].shape[0] != num_joints:
            raise KeypointFormatError(f"{p}: frame seq {msg['seq']} has {msg['joints'].shape[0]} joints; {skeleton} has {num_joints}")
        joints[i] = msg["joints"]
        c = msg.get("confidence")
        conf[i] = c if c is not None else np.isfinite(msg["joints"]).all(-1)
    seqs = np.array([m["seq"] for m in frames], dtype=np.uint64)
    return _assemble(seqs, joints, conf, fps, skeleton, fill_gaps, max_gap_s, str(p))
