"""``--record PATH``: the stream written to a ``.jsonl`` or ``.npz`` file as it runs.

:class:`skeletor.io.recording.Recorder` buffers and flushes every ``flush_every`` frames or
``flush_interval_s``, so a write is cheap; the file is complete after :meth:`close`
(``skeletor-live`` closes it on Ctrl-C / SIGTERM too).

A write that fails mid-run (the disk is full, the drive was pulled) stops the recording,
never the stream: one error line says why and what the file holds (it is cut back to its
last whole frame), the status line shows ``recording stopped``, and every other output
goes on.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from realtime.sinks.base import BaseSink, SinkContext, SinkSpec
from skeletor.protocol import PoseFrame
from skeletor.io.recording import SUFFIXES, Recorder, RecorderConfig, RecordingError

__all__ = ["RecordingSink", "SPEC"]

log = logging.getLogger(__name__)


class RecordingSink(BaseSink):
    """Records every frame to ``path`` (the suffix picks the format).

    Args:
        path: ``.jsonl`` (one JSON frame a line) or ``.npz`` (arrays, written at close).
        config: flushing and gap settings.

    Attributes:
        stopped: why the recording stopped early (a failed write), else None.
    """

    name = "record"

    def __init__(self, path: Path, config: RecorderConfig = RecorderConfig()) -> None:
        self.path = Path(path)
        self.config = config
        self.recorder: Recorder | None = None
        self.stopped: str | None = None
        self._kept = 0

    def open(self, context: SinkContext) -> None:
        """Create the file (at the source's fps; 30 when it states none).

        Raises:
            ValueError: another suffix than .jsonl / .npz, or an unfinished .npz spool there.
            OSError: the file cannot be created.
        """
        try:
            self.recorder = Recorder.open(
                self.path, fps=context.fps or 30.0, skeleton=context.skeleton, config=self.config, max_people=context.max_people
            )
        except FileExistsError as e:  # a spool left by an interrupted recording: the user must decide
            raise ValueError(f"--record: {e}") from e
        except ValueError as e:
            raise ValueError(f"--record: {e}") from e
        except OSError as e:
            raise OSError(f"--record: {e}") from e

    def write(self, frame: PoseFrame) -> None:
        """Append the frame; a failed write stops the recording (logged once), never the stream."""
        if self.recorder is not None:
            try:
                self.recorder.write(frame)
            except RecordingError as e:
                self._stop(e)

    def close(self) -> None:
        """Flush and finish the file."""
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            try:
                recorder.close()
            except RecordingError as e:
                self._stop(e)
            else:
                self._kept = recorder.frames_kept

    @property
    def frames_kept(self) -> int:
        """Frames in the file, each one whole (so far, while recording)."""
        return self.recorder.frames_kept if self.recorder is not None else self._kept

    def _stop(self, error: RecordingError) -> None:
        self.recorder, self._kept = None, error.frames_kept
        self.stopped = str(error)
        log.error("--record %s; the stream goes on without recording", error)

    def summary(self) -> str:
        """``recording stopped`` once a write failed (nothing while it records)."""
        return "" if self.stopped is None else "recording stopped"

    def describe(self) -> str:
        """Where the recording goes."""
        return f"recording {self.path}" if self.recorder is not None else ""


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument_group("recording").add_argument(
        "--record", type=Path, metavar="PATH", help="record the stream to PATH (.jsonl or .npz), flushed on exit"
    )


def _from_args(args: argparse.Namespace) -> RecordingSink | None:
    """A recording when ``--record`` is given.

    Raises:
        ValueError: a suffix other than .jsonl / .npz (said before anything starts).
    """
    if args.record is None:
        return None
    if args.record.suffix.lower() not in SUFFIXES:
        raise ValueError(
            f"--record {args.record}: can only record to {' or '.join(SUFFIXES)} files, got {args.record.suffix or 'no suffix'!r}"
        )
    return RecordingSink(args.record)


SPEC = SinkSpec(add_options=_add_options, from_args=_from_args)
