"""Stable person ids across frames: each image's detections matched to the people already seen.

A multi-person detector gives every image's people in no particular order. The
:class:`PersonTracker` keeps one track per person and, frame after frame, matches the new
detections to the tracks as an assignment (``scipy.optimize.linear_sum_assignment``) of least
total cost, where the cost of a (track, detection) pair is:

* the mean 2D distance over the body joints (:data:`~skeletor.pose.skeleton.POSE_BODY_JOINTS`)
  seen in both, between the detection and where the track is expected to be: its last
  keypoints moved by its body's velocity (a damped running average of its centre's motion,
  extrapolated at most ``max_predict_s``), so two people crossing keep going their own ways;
  with fewer than ``min_common_joints`` joints seen in both, the distance of the two bodies'
  centres instead;
* divided by the body's size (the larger of its shoulder width and torso length, a running
  average over the track), so the same
  threshold holds near and far from the camera;
* plus ``scale_weight`` times the absolute log ratio of the two sizes, which tells apart two
  overlapping people at different distances from the camera.

A pair costing more than ``max_cost`` is never made. A detection left over becomes a new
track with the next id; a track left over is kept (its memory: occlusions, a missed
detection, a crossing where one person hides the other) until it has gone unseen for
``forget_after_s`` seconds; then it ends, and its id is never given again by this tracker.

The tracker never looks inside a person: a detection's keypoints stay exactly as the detector
gave them (left stays left), and which detection goes with which id is all it decides.

Coordinates: pixels (x right, y down), confidence in [0, 1], as the detectors give them;
time: seconds, non-decreasing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from skeletor.pose.skeleton import POSE_BODY_JOINTS

__all__ = ["TrackerConfig", "TrackUpdate", "PersonTracker", "body_size", "body_centre"]

log = logging.getLogger(__name__)

_BODY = np.array(POSE_BODY_JOINTS)  # (15,) nose, shoulders, elbows, wrists, hips, knees, ankles, feet
_SHOULDERS, _HIPS = (11, 12), (23, 24)
_FORBIDDEN = 1e6  # the cost of a pair that must not be made


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of the person tracker (costs are in body sizes, see the module docstring).

    Attributes:
        forget_after_s: a track unseen this long (seconds) ends; its id is not used again.
            2 s, as the single-person cleaner's ``forget_after_s``: long enough for a
            person to pass behind another or a detector to miss a few frames, short enough
            that someone else stepping into the same place is not taken for them.
        max_cost: the dearest (track, detection) pair still made. 1.0 = the detection's
            joints lie on average one body size (shoulder width or torso length) from where
            the track was expected: more than a person moves in the few frames a track may
            go unseen, less than the space between two people standing side by side.
        scale_weight: weight of the absolute log ratio of the two body sizes in the cost
            (0.5: a person twice as large, i.e. at half the distance, adds 0.35).
        min_confidence: a joint counts as seen from this confidence on.
        min_joints: a detection with fewer body joints seen is ignored (not a person).
        min_common_joints: with fewer joints seen in both, bodies are compared by their centres.
        velocity_rate: rate of the running average of a track's velocity (per observation).
        max_predict_s: a track's position is extrapolated by its velocity for at most this
            long (seconds); a track lost for longer waits where it was last expected.
    """

    forget_after_s: float = 2.0
    max_cost: float = 1.0
    scale_weight: float = 0.5
    min_confidence: float = 0.3
    min_joints: int = 4
    min_common_joints: int = 3
    velocity_rate: float = 0.5
    max_predict_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.forget_after_s > 0:
            raise ValueError(f"forget_after_s must be > 0 seconds, got {self.forget_after_s!r}")
        if not self.max_cost > 0:
            raise ValueError(f"max_cost must be > 0, got {self.max_cost!r}")
        if not 0.0 <= self.min_confidence <= 1.0 or not 0.0 < self.velocity_rate <= 1.0:
            raise ValueError(
                f"min_confidence must be in [0, 1] and velocity_rate in (0, 1], got {self.min_confidence!r}, {self.velocity_rate!r}"
            )
        if self.min_joints < 1 or self.min_common_joints < 1 or self.scale_weight < 0 or self.max_predict_s < 0:
            raise ValueError("min_joints and min_common_joints must be >= 1, scale_weight and max_predict_s >= 0")


@dataclass
class TrackUpdate:
    """What one frame did to the tracks.

    Attributes:
        ids: per detection (in the order given), its person id; None for a detection
            ignored (fewer than ``min_joints`` body joints seen).
        unseen: ids of the tracks still alive but not detected in this frame.
        appeared: ids of the tracks this frame started (also in ``ids``).
        ended: ids of the tracks this frame ended (unseen for ``forget_after_s``).
    """

    ids: list[int | None]
    unseen: list[int] = field(default_factory=list)
    appeared: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)

    @property
    def alive(self) -> list[int]:
        """Every track alive after this frame, seen or not, in id order."""
        return sorted([i for i in self.ids if i is not None] + self.unseen)


def body_size(keypoints: np.ndarray, min_confidence: float = 0.3) -> float:
    """A body's size in pixels: the larger of its shoulder width and its torso length.

    Falls back on a quarter of the diagonal of its seen joints' bounding box when neither
    is seen (NaN with fewer than two joints seen).

    Args:
        keypoints: (J, 3) x px, y px, confidence, holistic75 order.
        min_confidence: a joint counts as seen from this confidence on.
    """
    kp = np.asarray(keypoints, np.float64)
    seen = (kp[:, 2] >= min_confidence) & np.isfinite(kp[:, :2]).all(-1)
    sizes = []
    if seen[list(_SHOULDERS)].all():
        sizes.append(np.linalg.norm(kp[_SHOULDERS[0], :2] - kp[_SHOULDERS[1], :2]))
    if seen[list(_SHOULDERS)].any() and seen[list(_HIPS)].any():
        top = kp[list(_SHOULDERS), :2][seen[list(_SHOULDERS)]].mean(0)
        bottom = kp[list(_HIPS), :2][seen[list(_HIPS)]].mean(0)
        sizes.append(np.linalg.norm(top - bottom))
    if sizes and max(sizes) > 0:
        return float(max(sizes))
    body = kp[_BODY][seen[_BODY], :2]
    if len(body) < 2:
        return float("nan")
    return float(0.25 * np.linalg.norm(body.max(0) - body.min(0))) or float("nan")


def body_centre(keypoints: np.ndarray, min_confidence: float = 0.3) -> np.ndarray:
    """(2,) mean of the seen body joints, pixels (NaN when none is seen)."""
    kp = np.asarray(keypoints, np.float64)[_BODY]
    seen = (kp[:, 2] >= min_confidence) & np.isfinite(kp[:, :2]).all(-1)
    return kp[seen, :2].mean(0) if seen.any() else np.full(2, np.nan)


class _Track:
    """One person followed across frames."""

    __slots__ = ("person_id", "body", "seen", "t_seen", "velocity", "size", "hits")

    def __init__(self, person_id: int, body: np.ndarray, seen: np.ndarray, t: float, size: float) -> None:
        self.person_id = person_id
        self.body, self.seen = body, seen  # (15, 2) px, (15,) bool: the last detection's body joints
        self.t_seen = t
        self.velocity = np.zeros(2)  # px / s of the body's centre
        self.size = size  # px, running average
        self.hits = 1

    def predicted(self, t: float, max_predict_s: float) -> np.ndarray:
        """(15, 2) where its body joints are expected at time ``t``."""
        return self.body + self.velocity * min(max(t - self.t_seen, 0.0), max_predict_s)


class PersonTracker:
    """Gives each person a stable id across frames (see the module docstring).

    Not thread-safe: one stream per instance. Ids count from 0 and are never reused by
    one tracker, also after :meth:`reset`.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._t: float | None = None

    @property
    def alive(self) -> list[int]:
        """Ids of the tracks alive now, in id order."""
        return sorted(t.person_id for t in self._tracks)

    def reset(self) -> None:
        """End every track (a cut in the video); ids go on counting."""
        self._tracks.clear()
        self._t = None

    def update(self, detections: Sequence[np.ndarray], timestamp: float) -> TrackUpdate:
        """Match one frame's detections to the tracks.

        Args:
            detections: each person's (J, 3) keypoints (x px, y px, confidence; holistic75
                order, J >= 33), in any order.
            timestamp: the frame's time, seconds (not before the last frame's).

        Returns:
            Which id each detection got, and which tracks went unseen, started and ended.

        Raises:
            ValueError: a detection of the wrong shape, or time going backwards.
        """
        cfg = self.config
        if self._t is not None and timestamp < self._t:
            raise ValueError(f"timestamps must not decrease: {timestamp} after {self._t}")
        self._t = float(timestamp)
        bodies, seens, sizes = [], [], []
        for i, d in enumerate(detections):
            kp = np.asarray(d, np.float64)
            if kp.ndim != 2 or kp.shape[0] < 33 or kp.shape[1] != 3:
                raise ValueError(f"detection {i}: expected (J >= 33, 3) keypoints, got {kp.shape}")
            seen = (kp[_BODY, 2] >= cfg.min_confidence) & np.isfinite(kp[_BODY, :2]).all(-1)
            bodies.append(kp[_BODY, :2])
            seens.append(seen)
            sizes.append(body_size(kp, cfg.min_confidence))
        usable = [i for i, s in enumerate(seens) if s.sum() >= cfg.min_joints and np.isfinite(sizes[i])]
        ids: list[int | None] = [None] * len(detections)
        matched: set[int] = set()
        if self._tracks and usable:
            cost = np.array([[self._cost(t, bodies[i], seens[i], sizes[i], timestamp) for i in usable] for t in self._tracks])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] <= cfg.max_cost:
                    i, track = usable[c], self._tracks[r]
                    self._observe(track, bodies[i], seens[i], sizes[i], timestamp)
                    ids[i] = track.person_id
                    matched.add(r)
        update = TrackUpdate(ids)
        for i in usable:
            if ids[i] is None:
                track = _Track(self._next_id, bodies[i], seens[i], timestamp, sizes[i])
                self._next_id += 1
                self._tracks.append(track)
                ids[i] = track.person_id
                update.appeared.append(track.person_id)
        kept = []
        for r, track in enumerate(self._tracks):
            if r in matched or track.person_id in update.appeared:
                kept.append(track)
            elif timestamp - track.t_seen >= cfg.forget_after_s:
                update.ended.append(track.person_id)
            else:
                update.unseen.append(track.person_id)
                kept.append(track)
        self._tracks = kept
        if update.appeared or update.ended:
            log.debug("t=%.3f s: people %s appeared, %s ended; alive %s", timestamp, update.appeared, update.ended, self.alive)
        return update

    def _cost(self, track: _Track, body: np.ndarray, seen: np.ndarray, size: float, t: float) -> float:
        """The cost of giving the detection (body (15, 2), seen (15,), size px) to ``track``; see the module docstring."""
        cfg = self.config
        expected = track.predicted(t, cfg.max_predict_s)
        common = seen & track.seen
        if common.sum() >= cfg.min_common_joints:
            dist = float(np.linalg.norm(expected[common] - body[common], axis=-1).mean())
        else:
            dist = float(np.linalg.norm(expected[track.seen].mean(0) - body[seen].mean(0)))
        cost = dist / track.size + cfg.scale_weight * abs(float(np.log(size / track.size)))
        return cost if np.isfinite(cost) else _FORBIDDEN

    def _observe(self, track: _Track, body: np.ndarray, seen: np.ndarray, size: float, t: float) -> None:
        """Move ``track`` to its new detection: velocity, size and last joints."""
        cfg = self.config
        dt = t - track.t_seen
        common = seen & track.seen
        if dt > 0 and common.any():
            v = (body[common].mean(0) - track.body[common].mean(0)) / dt  # px / s, the centre of the joints seen in both
            track.velocity += cfg.velocity_rate * (v - track.velocity)
        track.size += cfg.velocity_rate * (size - track.size)
        track.body, track.seen, track.t_seen = body, seen, t
        track.hits += 1
