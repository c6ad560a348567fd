"""Several people at once: tracked ids, one streaming cleaner per person, one refiner call per frame.

:class:`MultiPersonCleaner` takes each image's detections (any order, any number), gives
them stable ids with a :class:`~skeletor.tracking.PersonTracker`, and runs one
:class:`~skeletor.cleaner.stream.StreamingCleaner` per person: each with its own bone lengths,
scale, depth-sign history, detection pull and filters, so one person's body never leaks into
another's. A person alive but not detected in a frame (occluded, missed) gets a frame with
every joint missing, as the single-person cleaner does when no one is found: the cleaner
carries them, fading, until the tracker ends the track (``TrackerConfig.forget_after_s``);
then their held-back frames are flushed and the cleaner dropped.

The refiner is loaded once; each person's cleaner has its own streaming window on it
(``OnnxRefiner.new_stream``), and every frame the windows of all people are refined in one
batched model call (``OnnxRefiner.refine_windows``; ``PeopleConfig.batched``). The output
is the same as cleaning each person alone with the same settings.

Each person's frames carry their cleaner's own index (0 = the frame the person appeared),
and :attr:`PersonFrame.frame_index` the index of the input frame they belong to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from skeletor.cleaner.stream import CleanerConfig, CleanFrame, StagedPush, StreamingCleaner
from skeletor.pose.keypoints import KeypointFormatError, PoseSequence
from skeletor.tracking import PersonTracker, TrackerConfig
from skeletor.uplift import fill_unestimated

__all__ = ["MAX_PEOPLE", "PeopleConfig", "PersonFrame", "PeopleUpdate", "PeopleKeypoints", "MultiPersonCleaner", "clean_people"]

log = logging.getLogger(__name__)

MAX_PEOPLE = 8  # the most people a detector is asked for (``--people N``): cost grows with each (``skeletor bench people``)
PersonInput = tuple[np.ndarray, "np.ndarray | None"]  # one person's (75, 3) keypoints (x px, y px, confidence) and (75,) depth hint or None


@dataclass(frozen=True)
class PeopleConfig:
    """Settings of the multi-person cleaner.

    Attributes:
        cleaner: every person's cleaner settings (its ``forget_after_s`` is not used: a
            track is one person, and the tracker ends it).
        tracker: how ids are kept (:class:`~skeletor.tracking.TrackerConfig`).
        batched: refine all people's windows in one model call per frame; False = one call
            per person (what the batched call is measured against, ``skeletor bench people``).
    """

    cleaner: CleanerConfig = field(default_factory=CleanerConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    batched: bool = True


@dataclass
class PersonFrame:
    """One person's cleaned frame.

    Attributes:
        person_id: the tracker's id (from 0, never reused in a run).
        frame: the cleaned frame (camera frame, metres; ``frame.index`` counts that person's frames).
        frame_index: the input frame it belongs to (count of :meth:`MultiPersonCleaner.push` calls, from 0).
    """

    person_id: int
    frame: CleanFrame
    frame_index: int


@dataclass
class PeopleUpdate:
    """What one push gave.

    Attributes:
        frames: the frames that became ready, people in id order.
        appeared: ids of the people who appeared in this frame.
        left: ids of the people whose tracks ended in this frame (their last frames are in ``frames``).
        detection_ids: per detection given to ``push``, its person id (None = ignored, too few joints).
    """

    frames: list[PersonFrame]
    appeared: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    detection_ids: list[int | None] = field(default_factory=list)


@dataclass
class PeopleKeypoints:
    """Every frame's people as a multi-person detector gave them, in no order (a video read with ``--people N``).

    Attributes:
        keypoints: (T, P, J, 3) float32 x px, y px, confidence; P = the most people in any
            frame; a slot with no joint found (all confidence 0) is no one.
        fps: frames per second.
        image_size: (width, height) pixels.
        depth: (T, P, J) float32 depth hint (pixels, smaller = nearer), NaN where unknown; or None.
        name: a label for messages.
    """

    keypoints: np.ndarray
    fps: float
    image_size: tuple[int, int]
    depth: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        k = np.asarray(self.keypoints, np.float32)
        if k.ndim != 4 or k.shape[2:] != (75, 3):
            raise KeypointFormatError(f"keypoints: expected (T, P, 75, 3), got {k.shape}")
        self.keypoints = k
        if self.depth is not None:
            d = np.asarray(self.depth, np.float32)
            if d.shape != k.shape[:3]:
                raise KeypointFormatError(f"depth: expected {k.shape[:3]}, got {d.shape}")
            self.depth = d
        if not self.fps > 0:
            raise KeypointFormatError(f"fps must be > 0, got {self.fps}")

    def __len__(self) -> int:
        return len(self.keypoints)

    def people(self, t: int) -> list[PersonInput]:
        """Frame ``t``'s people (the slots with a joint found)."""
        kp = self.keypoints[t]
        return [(kp[p], None if self.depth is None else self.depth[t, p]) for p in range(kp.shape[0]) if (kp[p, :, 2] > 0).any()]


_NO_ONE = np.full((75, 3), np.nan, np.float32)
_NO_ONE[:, 2] = 0.0


class MultiPersonCleaner:
    """Tracker + one :class:`StreamingCleaner` per person, their refiner calls batched (see the module docstring)."""

    def __init__(self, config: PeopleConfig = PeopleConfig(), refiner: Any | None = None) -> None:
        """Args:
            config: settings.
            refiner: a ready ``OnnxRefiner`` (or any refiner with ``new_stream`` and
                ``refine_windows``) shared by everyone; None loads ``config.cleaner.runtime``
                when ``config.cleaner.refine`` is set.

        Raises:
            as :class:`StreamingCleaner` (weights missing, provider unavailable, bad settings).
        """
        self.config = config
        self._person_config = replace(config.cleaner, forget_after_s=None)
        if refiner is None and config.cleaner.refine:
            from skeletor.refiner.runtime import OnnxRefiner

            refiner = OnnxRefiner(config.cleaner.runtime)
        self.refiner = refiner if config.cleaner.refine else None
        StreamingCleaner(self._person_config, refiner=self._stream())  # checks the settings now, not at the first person
        self.tracker = PersonTracker(config.tracker)
        self._cleaners: dict[int, StreamingCleaner] = {}
        self._first_frame: dict[int, int] = {}  # person id -> the input frame their cleaner's frame 0 is
        self._frames = 0
        self.last_timings_ms: dict[str, float] = {}  # the last push's stage durations: track, uplift, refine

    def _stream(self) -> Any:
        return None if self.refiner is None else self.refiner.new_stream()

    @property
    def people(self) -> list[int]:
        """Ids of the people followed now."""
        return sorted(self._cleaners)

    @property
    def lookahead(self) -> int:
        """Frames between a person's newest input and their emitted output."""
        return self._person_config.lookahead

    def push(
        self, people: Sequence[PersonInput], timestamp: float | None = None, image_size: tuple[int, int] | None = None
    ) -> PeopleUpdate:
        """Add one image's detections.

        Args:
            people: each person's (75, 3) keypoints (x px, y px, confidence) and (75,) depth
                hint or None, in any order.
            timestamp: the image's time, seconds (None = the frame count at 30 fps).
            image_size: (width, height) pixels.

        Returns:
            The frames that became ready (one per person alive, after their lookahead), and
            who appeared and who left.

        Raises:
            ValueError: keypoints of the wrong shape, or time going backwards.
        """
        t = timestamp if timestamp is not None else self._frames / 30.0
        t0 = time.perf_counter()
        track = self.tracker.update([kp for kp, _ in people], t)
        t1 = time.perf_counter()
        frames: list[PersonFrame] = []
        for pid in track.ended:
            frames += self._wrap(pid, self._cleaners.pop(pid).flush())
            del self._first_frame[pid]
        for pid in track.appeared:
            self._cleaners[pid] = StreamingCleaner(self._person_config, refiner=self._stream())
            self._first_frame[pid] = self._frames
        given = {pid: i for i, pid in enumerate(track.ids) if pid is not None}
        staged: dict[int, StagedPush] = {}
        for pid in sorted(self._cleaners):
            kp, depth = people[given[pid]] if pid in given else (_NO_ONE, None)
            staged[pid] = self._cleaners[pid].stage(kp, timestamp, depth, image_size)
        t2 = time.perf_counter()
        due = [pid for pid in staged if staged[pid].window is not None]
        refined = self._refine([staged[pid].window for pid in due])  # type: ignore[misc]
        results = dict(zip(due, refined))
        for pid, s in staged.items():
            frames += self._wrap(pid, self._cleaners[pid].complete(s, results.get(pid)))
        self.last_timings_ms = {"track": 1000 * (t1 - t0), "uplift": 1000 * (t2 - t1), "refine": 1000 * (time.perf_counter() - t2)}
        self._frames += 1
        return PeopleUpdate(frames, list(track.appeared), list(track.ended), list(track.ids))

    def _refine(self, windows: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every due window refined: in one model call, or one call each (``PeopleConfig.batched``)."""
        if not windows:
            return []
        if self.config.batched:
            return self.refiner.refine_windows(windows)  # type: ignore[union-attr]
        return [self.refiner.refine_windows([w])[0] for w in windows]  # type: ignore[union-attr]

    def _wrap(self, pid: int, frames: list[CleanFrame]) -> list[PersonFrame]:
        return [PersonFrame(pid, f, self._first_frame[pid] + f.index) for f in frames]

    def flush(self) -> list[PersonFrame]:
        """Emit every person's held-back frames (end of a stream); the people stay followed."""
        out: list[PersonFrame] = []
        for pid in sorted(self._cleaners):
            out += self._wrap(pid, self._cleaners[pid].flush())
        return out

    def reset(self) -> None:
        """Forget everyone (a cut in the video); ids go on counting, never reused."""
        self.tracker.reset()
        self._cleaners.clear()
        self._first_frame.clear()
        self._frames = 0


def clean_people(seq: PeopleKeypoints, cleaner: MultiPersonCleaner, progress: bool = False) -> dict[int, PoseSequence]:
    """Run ``cleaner`` over a whole multi-person sequence and collect each person's poses.

    Args:
        seq: every frame's detections.
        cleaner: a fresh (or reset) multi-person cleaner.
        progress: a tqdm progress bar on stderr.

    Returns:
        person id -> their poses over the whole input (T frames, aligned with it): NaN and
        confidence 0 outside the frames their track lived (appeared .. ended), filled as
        :func:`~skeletor.cleaner.stream.clean_sequence` fills inside it; their tracked 2D
        keypoints attached (missing where the detector did not see them).
    """
    n = len(seq)
    poses: dict[int, np.ndarray] = {}
    conf: dict[int, np.ndarray] = {}
    kp2d: dict[int, np.ndarray] = {}
    span: dict[int, list[int]] = {}

    def take(frames: list[PersonFrame]) -> None:
        for f in frames:
            if f.person_id not in poses:
                poses[f.person_id] = np.full((n, 75, 3), np.nan, np.float32)
                conf[f.person_id] = np.zeros((n, 75), np.float32)
            poses[f.person_id][f.frame_index], conf[f.person_id][f.frame_index] = f.frame.pose, f.frame.confidence
            lo_hi = span.setdefault(f.person_id, [f.frame_index, f.frame_index])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], f.frame_index), max(lo_hi[1], f.frame_index)

    frames = range(n)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=seq.name or "clean", unit="frame", leave=False)
    for t in frames:
        people = seq.people(t)
        update = cleaner.push(people, t / seq.fps, seq.image_size)
        for (kp, _), pid in zip(people, update.detection_ids):
            if pid is not None:
                kp2d.setdefault(pid, _missing_2d(n))[t] = kp
        take(update.frames)
    take(cleaner.flush())
    out = {}
    for pid in sorted(poses):
        lo, hi = span[pid]
        fill_unestimated(poses[pid][lo : hi + 1])
        out[pid] = PoseSequence(poses[pid], conf[pid], seq.fps, "holistic75", kp2d.get(pid, _missing_2d(n)))
    return out


def _missing_2d(n: int) -> np.ndarray:
    kp = np.full((n, 75, 3), np.nan, np.float32)
    kp[..., 2] = 0.0
    return kp
