"""The streaming cleaner: 2D keypoints -> uplift -> refiner, one frame at a time.

This is the one code path that both ``skeletor clean`` (offline, as fast as possible) and
the live tool (``skeletor-live``) run, so offline results are what a live user gets.

Latency: the output lags the input by ``lookahead`` frames = the uplift's lookahead plus
the refiner's (0 + 0 for live use).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from skeletor.cleaner.one_euro import OneEuroFilter, OneEuroParams
from skeletor.compiled import njit
from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.cleaner.refined_lengths import RefinedBoneLengths
from skeletor.refiner.runtime import RuntimeConfig, default_weights_path
from skeletor.uplift import StreamingUplifter, UpliftConfig, UpliftFrame, fill_unestimated
from skeletor.uplift.hands import detector_hands, unmirror_hands

__all__ = ["FrameRefiner", "CleanerConfig", "CleanFrame", "StagedPush", "StreamingCleaner", "clean_sequence", "default_weights_path", "SMOOTHING", "DEPTH_SMOOTHING",
           "smooth_depth_along_rays"]

log = logging.getLogger(__name__)


class FrameRefiner(Protocol):
    """What the cleaner needs of a refiner (``skeletor.refiner.runtime.OnnxRefiner`` is one)."""

    @property
    def lookahead(self) -> int:
        """Frames between the newest input and the emitted output."""
        ...

    def push(self, pose: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Add a (75, 3) pose with its (75,) present mask; return (pose, confidence) of the frame ``lookahead`` behind."""
        ...

    def flush(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Emit the frames held back by the lookahead."""
        ...

    def reset(self) -> None:
        """Forget all state."""
        ...


_HAND_JOINTS = np.arange(33, 75)  # holistic75 hand joints, left then right
_HAND_WRIST = np.repeat([15, 16], 21)  # the body wrist each hand joint hangs from
_UNTIMED_FPS = 30.0  # frames without timestamps are taken to come at this rate (seconds = index / it)

# The One Euro filter of ``--smooth`` (metres, seconds): the parameters tuned on Bandai-Namco
# training views for the raw uplift (``skeletor bench accuracy``), used after the refiner.
SMOOTHING = OneEuroParams(min_cutoff=8.0, beta=10.0, d_cutoff=1.0)
# The depth filter on by default (``CleanerConfig.depth_smoothing``): the same parameters,
# tuned on mocap, not on real clips.
DEPTH_SMOOTHING = SMOOTHING


@dataclass(frozen=True)
class CleanerConfig:
    """Settings of the streaming cleaner.

    Attributes:
        uplift: the uplift's settings (its ``lookahead`` is set from ``lookahead`` below).
        lookahead: total frames of delay (uplift + refiner); 0 = causal.
        refine: run the refiner after the uplift.
        runtime: how the refiner runs: its weights (None = the shipped ones), execution
            provider and threads (:class:`~skeletor.refiner.runtime.RuntimeConfig`; the
            same defaults in every tool and benchmark).
        keep_bone_lengths: after the refiner, put every bone back to the rig's length
            (directions from the refiner), so the cleaned skeleton stays rigid. The rig is
            the uplift's online lengths, body bones blended with the refiner's (below).
        refined_lengths: weight (0-1) of the refiner's own 3D bone lengths (their running
            median, :mod:`skeletor.cleaner.refined_lengths`) in the rig's body bones; the rest is
            the uplift's 2D-based estimate, which a bone never seen across the image (a
            shank leaning in depth) underestimates at first; the refiner's lengths lean
            towards the bodies it was trained on, hence half and half (0.5; public
            benchmark 56.5 against 60.0 mm N-MPJPE with 0, ``skeletor bench accuracy``).
            0 = the uplift's only.
        detection_pull: rate (per frame) of an exponential average of the offsets that
            would put each joint detected in the frame back where the uplift placed it
            (on its detection's viewing ray, or near it; at the refined depth); the average
            is added to the refined pose (a joint not detected adds no offset, so its share
            fades). The refiner fixes depth and jitter but lets joints drift off their
            detections (on the benchmark's 10 real MediaPipe clips, median reprojection
            8.6 % of a shoulder width without the pull, 0.7 % for the uplift): the
            detector's 2D is accurate on average, so its slow part is trusted and its
            frame-to-frame jitter is not. 0.15 (a time constant of about 7 frames) brings the
            real clips to 4.9 % (docs/decisions.md for how it was chosen). 0 = off.
        depth_smoothing: a causal One Euro filter on each joint's depth only, the joint
            moved along its own viewing ray (:func:`smooth_depth_along_rays`), after the
            refiner and the rig, before the detection pull: where the pose lies in the
            image (its reprojection) is untouched and only depth lags. On real MediaPipe
            clips most of the cleaned pose's jitter is in depth (camera z: 10.4 against
            4.1 / 4.2 mm/frame^2 in x / y on the 10 real ``.pose`` clips), the part a 2D
            detector cannot see. ``DEPTH_SMOOTHING`` (``SMOOTHING``'s parameters, tuned on
            Bandai-Namco views) by default; None = off.
        smoothing: a causal One Euro filter on the cleaned pose (bones then put back to
            length), for uses that want steadiness over the last millimetre (avatars,
            animation): ``SMOOTHING`` is what ``--smooth`` turns on. Time is the input's
            timestamps (seconds) where given, else the frame count at 30 fps. None = off.
        forget_after_s: when a person is detected after no one was for at least this long
            (seconds, on the same clock as ``smoothing``), the cleaner starts afresh, as
            :meth:`StreamingCleaner.reset` does but keeping its frame count: the one who
            comes back may be someone else, and the bone lengths, scale and depth-sign
            history of the last person would be wrong for them for the next ~10 s (the
            uplift's length history). The frames held back by a lookahead are emitted
            first. Until then a lost person is carried, fading. A person coming back pays
            little for it: lengths re-estimated from scratch cost ~2 mm N-MPJPE over a
            5 s clip on Bandai training views. None = never.
        detector_hands: (this and the next two: with the refiner; without it the output is the
            uplift's as it is) where the detector gives a depth hint, each fully detected hand's
            shape (relative to its wrist) is the detector's own 3D hand, scaled onto the
            uplift's (:func:`skeletor.uplift.hands.detector_hands`); the refiner then
            carries the hands on its refined wrists (``RuntimeConfig.refine_hands`` off).
            False = the uplift's hands (their depths picked bone by bone).
        unmirror_hands: a hand whose fingers lie on the back of its palm (the other hand's
            shape, which no real hand takes) is reflected in depth about its wrist, before
            the refiner (:func:`skeletor.uplift.hands.unmirror_hands`).
        hand_smoothing: a causal One Euro filter on each hand's offsets from its body wrist
            (its shape and turn, not where the arm carries it), before the refiner, on the
            cleaner's clock (as ``smoothing``). ``SMOOTHING`` (the body's light, low-lag
            setting) by default. None = off.
    """

    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    lookahead: int = 0
    refine: bool = True
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    keep_bone_lengths: bool = True
    refined_lengths: float = 0.5
    detection_pull: float = 0.15
    depth_smoothing: OneEuroParams | None = DEPTH_SMOOTHING
    smoothing: OneEuroParams | None = None
    forget_after_s: float | None = 2.0
    detector_hands: bool = True
    unmirror_hands: bool = True
    hand_smoothing: OneEuroParams | None = SMOOTHING


@dataclass
class CleanFrame:
    """One cleaned frame.

    Attributes:
        index: the input frame it belongs to (count of pushes, from 0).
        pose: (75, 3) float32 cleaned pose, camera frame (x right, y down, z forward), metres.
        confidence: (75,) float32, 0 = never seen (pose NaN there).
        raw_pose: (75, 3) float32 the uplift's pose before the refiner.
        timestamp: as given with the input.
    """

    index: int
    pose: np.ndarray
    confidence: np.ndarray
    raw_pose: np.ndarray
    timestamp: float | None = None


@dataclass
class StagedPush:
    """A frame pushed as far as the refiner's model call (:meth:`StreamingCleaner.stage`).

    Attributes:
        ready: frames out already (no refiner, or held back frames flushed by a fresh start).
        window: the refiner window now due, (T, J, 3) poses and (T, J) present; None when none is.
    """

    ready: list[CleanFrame]
    window: tuple[np.ndarray, np.ndarray] | None


class StreamingCleaner:
    """Uplift + refiner, frame by frame (see the module docstring)."""

    def __init__(self, config: CleanerConfig = CleanerConfig(), refiner: FrameRefiner | None = None) -> None:
        """Args:
            config: settings.
            refiner: a ready refiner; None loads ``config.runtime`` (the shipped weights by
                default) when ``config.refine`` is set.

        Raises:
            ValueError: ``lookahead`` smaller than the refiner's own lookahead.
            skeletor.refiner.runtime.RefinerWeightsError: weights missing or unreadable.
            skeletor.refiner.runtime.ProviderUnavailableError: the requested provider is not available.
        """
        if config.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {config.lookahead}")
        self.config = config
        if refiner is None and config.refine:
            from skeletor.refiner.runtime import OnnxRefiner

            refiner = OnnxRefiner(config.runtime)
        self.refiner = refiner if config.refine else None
        k_ref = self.refiner.lookahead if self.refiner is not None else 0
        if config.lookahead < k_ref:
            raise ValueError(
                f"lookahead {config.lookahead} is smaller than the refiner's own lookahead {k_ref}: "
                f"these weights emit the frame {k_ref} behind the newest, so pass --lookahead {k_ref} (or more)"
            )
        from dataclasses import replace

        self.uplifter = StreamingUplifter(replace(config.uplift, lookahead=config.lookahead - k_ref))
        if not 0.0 <= config.detection_pull <= 1.0:
            raise ValueError(f"detection_pull must be in [0, 1], got {config.detection_pull}")
        if not 0.0 <= config.refined_lengths <= 1.0:
            raise ValueError(f"refined_lengths must be in [0, 1], got {config.refined_lengths}")
        if config.forget_after_s is not None and not config.forget_after_s > 0:
            raise ValueError(f"forget_after_s must be > 0 seconds (or None), got {config.forget_after_s}")
        self._base = 0  # frames pushed before the last fresh start for a new person (see forget_after_s)
        self._pushed = 0  # frames pushed since then
        self._person_t: float | None = None  # when a person was last detected, seconds
        self._pending: deque[UpliftFrame] = deque()
        self._hints: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # uplift index -> keypoints, depth hint
        self._pull = np.zeros((75, 3))  # the averaged offset towards the detections, metres
        use_refined = self.refiner is not None and config.keep_bone_lengths and config.refined_lengths > 0
        self._refined_lengths = RefinedBoneLengths(self.uplifter.tree, config.uplift.length_history) if use_refined else None
        s = config.smoothing
        self._smoother = None if s is None else OneEuroFilter(min_cutoff=s.min_cutoff, beta=s.beta, d_cutoff=s.d_cutoff)
        h = config.hand_smoothing
        self._hand_filter = None if h is None else OneEuroFilter(min_cutoff=h.min_cutoff, beta=h.beta, d_cutoff=h.d_cutoff)
        d = config.depth_smoothing
        self._depth_smoother = None if d is None else OneEuroFilter(min_cutoff=d.min_cutoff, beta=d.beta, d_cutoff=d.d_cutoff)
        self.last_timings_ms: dict[str, float] = {}  # the last push's stage durations: uplift, refine
        _compile_once(self.refiner)

    @property
    def lookahead(self) -> int:
        """Frames between the newest input and the emitted output."""
        return self.config.lookahead

    def reset(self) -> None:
        """Forget all state (a new person, a cut in the video); the next push is frame 0 again."""
        self._restart()
        self._base = 0
        self._person_t = None

    def _restart(self) -> None:
        """Forget the person (every stage's state); frame indices go on from ``_base``."""
        self._pushed = 0
        self.uplifter.reset()
        if self.refiner is not None:
            self.refiner.reset()
        self._pending.clear()
        self._hints.clear()
        self._pull[:] = 0.0
        if self._refined_lengths is not None:
            self._refined_lengths.reset()
        if self._smoother is not None:
            self._smoother.reset()
        if self._hand_filter is not None:
            self._hand_filter.reset()
        if self._depth_smoother is not None:
            self._depth_smoother.reset()

    def push(
        self,
        keypoints: np.ndarray,
        timestamp: float | None = None,
        depth: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> list[CleanFrame]:
        """Add one frame of (75, 3) 2D keypoints (x px, y px, confidence; all 0 = dropped frame).

        Returns:
            The frames that became ready (usually one; none while the lookahead fills).
        """
        held, up = self._uplift(keypoints, timestamp, depth, image_size)
        t1 = time.perf_counter()
        out = self._refine([up] if up is not None else [])
        self.last_timings_ms["refine"] = 1000 * (time.perf_counter() - t1)
        return held + out

    def _uplift(
        self, keypoints: np.ndarray, timestamp: float | None, depth: np.ndarray | None, image_size: tuple[int, int] | None
    ) -> tuple[list[CleanFrame], UpliftFrame | None]:
        """The first half of :meth:`push` and :meth:`stage`: a fresh start for a returning
        person (the frames it flushed), then the uplift (its frame, or None while it fills);
        sets ``last_timings_ms`` to the uplift's time."""
        held = self._forget_a_returning_person(keypoints, timestamp)
        t0 = time.perf_counter()
        shape_hands = self.refiner is not None  # without the refiner, the output is the uplift's as it is
        if shape_hands and self.config.detector_hands and depth is not None:
            self._hints[self._pushed] = (np.asarray(keypoints), np.asarray(depth))
        up = self.uplifter.push(keypoints, timestamp, depth, image_size)
        self._pushed += 1
        if up is not None and shape_hands:
            up = self._shape_hands(up)
        self.last_timings_ms = {"uplift": 1000 * (time.perf_counter() - t0)}
        return held, up

    def stage(
        self,
        keypoints: np.ndarray,
        timestamp: float | None = None,
        depth: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> StagedPush:
        """``push``, up to the refiner's model call, which is left to the caller.

        Several cleaners (one per person) stage a frame each, their windows are refined in
        one batched call (``OnnxRefiner.refine_windows``; each cleaner's refiner a stream
        of one model, ``OnnxRefiner.new_stream``), and :meth:`complete` finishes each. The
        frames that come out are exactly those ``push`` gives.

        Args:
            keypoints, timestamp, depth, image_size: as :meth:`push`.

        Returns:
            The frames ready already, and the refiner window now due (None when none is).

        Raises:
            TypeError: the refiner cannot stage (only a ``push`` of its own).
        """
        if self.refiner is not None and not hasattr(self.refiner, "stage"):
            raise TypeError(f"{type(self.refiner).__name__} cannot stage windows; use push")
        held, up = self._uplift(keypoints, timestamp, depth, image_size)
        if up is None:
            return StagedPush(held, None)
        if self.refiner is None:
            return StagedPush(held + self._refine([up]), None)
        self._pending.append(up)
        return StagedPush(held, self.refiner.stage(np.nan_to_num(up.pose), up.confidence > 0))  # type: ignore[attr-defined]

    def complete(self, staged: StagedPush, refined: tuple[np.ndarray, np.ndarray] | None) -> list[CleanFrame]:
        """Finish a :meth:`stage`: its ready frames, then the refined one.

        Args:
            staged: what :meth:`stage` returned (the last one: stages and completions alternate).
            refined: (pose, confidence) the refiner gave for ``staged.window``; None when it has none.

        Returns:
            The frames that became ready, as :meth:`push` returns them.

        Raises:
            ValueError: ``refined`` given for no window, or missing for one.
        """
        if (staged.window is None) != (refined is None):
            raise ValueError("complete: a refined frame is needed exactly when the staged push has a window")
        out = list(staged.ready)
        if refined is not None:
            out.append(self._pair(*refined))
        return out

    def _shape_hands(self, up: UpliftFrame) -> UpliftFrame:
        """The uplift frame with the hands the refiner carries: the detector's 3D hand where it
        gave one, unmirrored, smoothed relative to the wrist (``CleanerConfig.detector_hands``,
        ``unmirror_hands``, ``hand_smoothing``)."""
        pose = up.pose
        hint = self._hints.pop(up.index, None)
        for old in [i for i in self._hints if i < up.index]:  # frames the uplift will not emit
            del self._hints[old]
        if hint is not None:
            pose = detector_hands(pose, *hint)
        if self.config.unmirror_hands:
            pose = unmirror_hands(pose)
        up = replace(up, pose=pose)
        if self._hand_filter is not None:
            up = replace(up, pose=self._smooth_hands(up))
        return up

    def _smooth_hands(self, f: UpliftFrame) -> np.ndarray:
        """``f.pose`` with each hand's offsets from its body wrist through the One Euro filter
        (``CleanerConfig.hand_smoothing``); joints not detected this frame keep the uplift's place."""
        assert self._hand_filter is not None
        pose = np.array(f.pose, np.float32)
        rel = pose[_HAND_JOINTS] - pose[_HAND_WRIST]  # (42, 3) metres from the body wrist
        seen = np.isfinite(rel).all(-1) if f.observed is None else f.observed[_HAND_JOINTS] & np.isfinite(rel).all(-1)
        smooth = self._hand_filter(rel, self._seconds(f.timestamp, self._base + f.index), seen)
        pose[_HAND_JOINTS] = np.where(seen[:, None], pose[_HAND_WRIST] + smooth, pose[_HAND_JOINTS])
        return pose

    def _forget_a_returning_person(self, keypoints: np.ndarray, timestamp: float | None) -> list[CleanFrame]:
        """Start afresh if a person appears after ``forget_after_s`` with no one; returns the frames that flushed."""
        kp = np.asarray(keypoints)
        if self.config.forget_after_s is None or kp.shape != (75, 3) or not (kp[:, 2] > 0).any():
            return []  # (a wrong shape is the uplift's to report)
        t = self._seconds(timestamp, self._base + self._pushed)
        gap = None if self._person_t is None else t - self._person_t
        self._person_t = t
        if gap is None or gap < self.config.forget_after_s:
            return []
        log.info("a person after %.1f s with no one: starting afresh (bone lengths, scale, filters)", gap)
        held = self.flush()
        self._base += self._pushed
        self._restart()
        return held

    @staticmethod
    def _seconds(timestamp: float | None, index: int) -> float:
        """The cleaner's clock: the input's timestamp (seconds) where given, else the frame index at 30 fps."""
        return timestamp if timestamp is not None else index / _UNTIMED_FPS

    def flush(self) -> list[CleanFrame]:
        """Emit everything still held back (end of a stream)."""
        out = self._refine(self.uplifter.flush())
        if self.refiner is not None:
            out += [self._pair(p, c) for p, c in self.refiner.flush()]
        return out

    def _refine(self, frames: list[UpliftFrame]) -> list[CleanFrame]:
        out = []
        for f in frames:
            if self.refiner is None:
                out.append(CleanFrame(self._base + f.index, f.pose, f.confidence, f.pose, f.timestamp))
                continue
            self._pending.append(f)
            present = f.confidence > 0
            res = self.refiner.push(np.nan_to_num(f.pose), present)
            if res is not None:
                out.append(self._pair(*res))
        return out

    def _pair(self, pose: np.ndarray, _confidence: np.ndarray) -> CleanFrame:
        """Attach a refined pose to the uplift frame it came from (the oldest pending one)."""
        f = self._pending.popleft()
        pose = np.asarray(pose, np.float32).copy()
        pose[f.confidence <= 0] = np.nan  # never-seen joints stay missing
        rig = self.uplifter.bone_lengths  # (B,) metres: the lengths the cleaned skeleton keeps this frame
        if self._refined_lengths is not None:
            self._refined_lengths.push(pose)
            rig = self._refined_lengths.blend(rig, self.config.refined_lengths)
        pose = self._rigid(pose, rig)
        if self._depth_smoother is not None:
            pose = self._rigid(smooth_depth_along_rays(pose, self._depth_smoother, self._seconds(f.timestamp, self._base + f.index)), rig)
        if self.config.detection_pull > 0 and f.observed is not None:
            pose = self._pull_to_detections(pose, f, rig)
        if self._smoother is not None:
            pose = self._smooth(pose, f, rig)
        return CleanFrame(self._base + f.index, pose, f.confidence, f.pose, f.timestamp)

    def _rigid(self, pose: np.ndarray, rig: np.ndarray) -> np.ndarray:
        """``pose`` with every bone at its ``rig`` length (``CleanerConfig.keep_bone_lengths``), else as it is."""
        if not self.config.keep_bone_lengths:
            return pose
        return self.uplifter.tree.impose_lengths(pose, rig)

    def _smooth(self, pose: np.ndarray, f: UpliftFrame, rig: np.ndarray) -> np.ndarray:
        """``pose`` through the One Euro filter (``CleanerConfig.smoothing``), bones put back to length."""
        assert self._smoother is not None
        smooth = self._smoother(pose, self._seconds(f.timestamp, self._base + f.index))
        smooth = np.where(np.isfinite(pose), smooth, np.nan).astype(np.float32)  # never-seen joints stay missing
        return self._rigid(smooth, rig)

    def _pull_to_detections(self, pose: np.ndarray, f: UpliftFrame, rig: np.ndarray) -> np.ndarray:
        """``pose`` moved by the averaged offset towards the detections (``CleanerConfig.detection_pull``)."""
        # The target is the uplift's placement of a detected joint: on its detection's
        # viewing ray, or near it where the bone's length does not reach it. Not the exact
        # ray: the bones are put back to the rig's lengths after the pull, which would undo
        # a pull past what those lengths allow (docs/decisions.md, "detection pull").
        pulled = _pull_step(pose, f.pose, f.observed, self._pull, self.config.detection_pull)
        return self._rigid(pulled, rig)


_WARMED: set[bool] = set()  # with / without a refiner: the loops of those paths are compiled (or loaded) in this process


def _compile_once(refiner: FrameRefiner | None) -> None:
    """Compile (or load from numba's cache) every compiled loop the cleaner calls, once per process.

    Called by every :class:`StreamingCleaner`'s constructor, so that a live stream does not
    stall on them at its first frames (compiling takes several seconds the first time on a
    machine: the demo source dropped 74 frames and the cleaner took the stall for a person
    leaving; loading from the cache ~0.2 s). A throwaway cleaner, on a stream of its own of
    the same model (``new_stream``; a refiner without one is warmed as no refiner), cleans
    three frames of the procedural person in full view with a depth hint, which takes every
    path the default settings take (the uplift's included). A failure here is left for the
    real frames to meet.
    """
    refined = refiner is not None and hasattr(refiner, "new_stream")
    if True in _WARMED or refined in _WARMED:  # the refined path's warm-up covers the uplift's
        return
    _WARMED.add(refined)
    from skeletor.pose.procedural import ProceduralPerson

    try:
        stream = refiner.new_stream() if refined else None  # type: ignore[union-attr]
        warm = StreamingCleaner(CleanerConfig(refine=refined), refiner=stream)
        for i, pose in enumerate(ProceduralPerson().sequence(3, 30.0)):  # (75, 3) metres, y up
            kp = np.ones((75, 3))
            kp[:, 0], kp[:, 1] = 640 + 300 * pose[:, 0], 360 - 300 * pose[:, 1]
            warm.push(kp, i / 30.0, 300 * pose[:, 2], (1280, 720))
    except Exception as e:  # the real frames will meet it again, with the caller's own handling
        log.warning("compiling the cleaner's loops ahead of the first frame failed: %s", e)


@njit
def _pull_step(pose: np.ndarray, raw: np.ndarray, observed: np.ndarray, pull: np.ndarray, rate: float) -> np.ndarray:  # pragma: no cover - compiled
    """``pose`` (75, 3) float32 plus the averaged offset ``pull`` (75, 3) float64, updated in
    place by ``rate`` towards this frame's offsets: for a joint ``observed`` and finite in
    both, with the uplift's ``raw`` (75, 3) in front of the camera, its raw viewing ray at
    the refined depth minus the refined place (lateral only); 0 for any other joint."""
    out = np.empty(pose.shape, dtype=np.float32)
    for j in range(pose.shape[0]):
        on_ray = observed[j] and raw[j, 2] > 1e-6
        for c in range(3):
            on_ray = on_ray and np.isfinite(pose[j, c]) and np.isfinite(raw[j, c])
        z = pose[j, 2] / raw[j, 2] if on_ray else 0.0
        for c in range(3):
            offset = raw[j, c] * z - pose[j, c] if on_ray else 0.0
            pull[j, c] += rate * (offset - pull[j, c])
            out[j, c] = pose[j, c] + pull[j, c]
    return out


def smooth_depth_along_rays(pose: np.ndarray, depth_filter: OneEuroFilter, t: float) -> np.ndarray:
    """``pose`` with each joint's depth through ``depth_filter`` and the joint moved along its
    viewing ray to that depth (x and y scaled with z), so its image position is unchanged.

    Args:
        pose: (J, 3) camera frame (x right, y down, z forward), metres; NaN = missing.
        depth_filter: a filter fed (J, 1) depths once per frame (its state is the history).
        t: the frame's time, seconds (increasing).

    Returns:
        (J, 3) float32; a missing joint, or one at z <= 0, is left as it is.
    """
    z = pose[:, 2:3].astype(np.float64)
    ok = np.isfinite(pose).all(-1, keepdims=True) & (z > 1e-6)
    smooth = depth_filter(np.where(ok, z, np.nan), t)
    ok &= np.isfinite(smooth) & (smooth > 1e-6)
    scale = np.where(ok, smooth / np.where(ok, z, 1.0), 1.0)
    return (pose * scale).astype(np.float32)


def clean_sequence(seq: KeypointSequence, cleaner: StreamingCleaner, progress: bool = False) -> PoseSequence:
    """Run ``cleaner`` over a whole keypoint sequence, frame by frame, and collect the output.

    Args:
        seq: holistic75 keypoints.
        cleaner: a fresh (or reset) cleaner.
        progress: show a tqdm progress bar on stderr.

    Returns:
        Poses for every input frame (dropped frames filled), with the 2D keypoints attached.
    """
    n = len(seq)
    poses = np.full((n, 75, 3), np.nan, dtype=np.float32)
    conf = np.zeros((n, 75), dtype=np.float32)
    frames = range(n)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=seq.name or "clean", unit="frame", leave=False)
    for i in frames:
        depth = None if seq.depth is None else seq.depth[i]
        for f in cleaner.push(seq.keypoints[i], i / seq.fps, depth, seq.image_size):
            poses[f.index], conf[f.index] = f.pose, f.confidence
    for f in cleaner.flush():
        poses[f.index], conf[f.index] = f.pose, f.confidence
    fill_unestimated(poses)
    return PoseSequence(poses, conf, seq.fps, seq.skeleton, seq.keypoints)
