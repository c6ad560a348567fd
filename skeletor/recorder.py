"""Recording the live stream to disk as it goes (``skeletor-live --record PATH``).

``.jsonl``: one JSON object per frame (``seq``, ``t_capture_ns``, ``joints`` [[x, y, z] x 75,
null for a missing joint], ``confidence``, ``latency_ms``), flushed at least every
``flush_every_s`` seconds, so a crash loses at most that much and every complete line
stays readable. ``read_jsonl`` turns it back into a pose sequence.

``.npz``: frames go to a raw float32 side file (``PATH.partial``) as they come, and
``close()`` writes the output pose format (``skeletor.keypoints``, load_poses-compatible)
and removes the side file. A killed process leaves the side file, which ``recover_npz``
converts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from skeletor.keypoints import PoseSequence, save_poses
from skeletor.protocol import PoseFrame

__all__ = ["Recorder", "read_jsonl", "recover_npz"]

log = logging.getLogger(__name__)

_ROW = 75 * 3 + 75  # float32 values per frame in the .npz side file: joints, confidence


class Recorder:
    """Writes :class:`PoseFrame` s to ``.jsonl`` or ``.npz`` while the stream runs (thread-safe)."""

    def __init__(self, path: Path, fps: float, flush_every_s: float = 0.5) -> None:
        """Use :meth:`open`."""
        self.path = Path(path)
        self.fps = float(fps)
        self.flush_every_s = flush_every_s
        self.frames = 0
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._jsonl = self.path.suffix.lower() == ".jsonl"
        side = self.path if self._jsonl else self.path.with_name(self.path.name + ".partial")
        self._file = open(side, "w" if self._jsonl else "wb", buffering=1 << 16)

    @classmethod
    def open(cls, path: str | os.PathLike[str], fps: float) -> Recorder:
        """Start recording to ``path`` (``.jsonl`` or ``.npz``).

        Raises:
            ValueError: another suffix.
        """
        p = Path(path)
        if p.suffix.lower() not in (".jsonl", ".npz"):
            raise ValueError(f"{p}: --record needs a .jsonl or .npz path")
        return cls(p, fps)

    def write(self, frame: PoseFrame) -> None:
        """Append one frame (cheap; flushes every ``flush_every_s``)."""
        with self._lock:
            if self._closed:
                return
            if self._jsonl:
                joints = [None if not np.isfinite(j).all() else [round(float(v), 5) for v in j] for j in frame.joints]
                row = {"seq": frame.seq, "t_capture_ns": frame.t_capture_ns, "joints": joints,
                       "confidence": [round(float(c), 4) for c in frame.confidence], "latency_ms": dict(frame.latency_ms)}  # fmt: skip
                self._file.write(json.dumps(row, separators=(",", ":")) + "\n")
            else:
                self._file.write(np.concatenate([frame.joints.ravel(), frame.confidence]).astype("<f4").tobytes())
            self.frames += 1
            now = time.monotonic()
            if now - self._last_flush >= self.flush_every_s:
                self._file.flush()
                self._last_flush = now

    def close(self) -> None:
        """Flush and finish the file (idempotent; safe from signal handlers and atexit)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._file.flush()
            self._file.close()
        if not self._jsonl:
            recover_npz(self.path.with_name(self.path.name + ".partial"), self.path, self.fps)
        log.info("recorded %d frames to %s", self.frames, self.path)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recover_npz(partial: Path, out: Path, fps: float) -> PoseSequence:
    """Turn a raw side file (complete frames only) into the output ``.npz``; removes the side file."""
    raw = np.fromfile(partial, dtype="<f4")
    n = len(raw) // _ROW
    rows = raw[: n * _ROW].reshape(n, _ROW)
    seq = PoseSequence(rows[:, :225].reshape(n, 75, 3), rows[:, 225:], fps)
    save_poses(out, seq)
    partial.unlink()
    return seq


def read_jsonl(path: str | os.PathLike[str], fps: float = 30.0) -> PoseSequence:
    """Read a ``.jsonl`` recording (an incomplete last line is skipped)."""
    joints, conf = [], []
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut off by a crash: everything before it is intact
            joints.append([[np.nan] * 3 if j is None else j for j in row["joints"]])
            conf.append(row["confidence"])
    return PoseSequence(np.array(joints, np.float32).reshape(-1, 75, 3), np.array(conf, np.float32).reshape(-1, 75), fps)
