"""``skeletor clean --offline``: the bidirectional refiner over a finished file.

A file on disk has its future: every frame can be estimated from the frames after it as
well as those before. The live tool cannot wait for them, so it (and plain
``skeletor clean``, which gives exactly what a live user sees) stays causal. Offline:

1. **Uplift** the whole file at once (``skeletor.uplift.uplift_sequence``: bone lengths
   from the whole clip, then all frames fitted together), not frame by frame.
2. **Refine** with the bidirectional refiner (``weights/skeletor_refiner_bidir.onnx``,
   ``skeletor train --bidirectional``: full attention over a window of ``T = 32`` frames).
   One window per frame, so consecutive windows overlap by ``T - 1`` frames; each window's
   whole refined output is kept (the ONNX file's ``window`` output), and a frame's result
   is the mean of its estimates in every window that holds it (``OfflineConfig.blend``;
   off, it is the centre of the window centred on it: 15 frames before, 16 after). The
   first and last frames sit in windows padded with absent frames, as the model saw at
   the ends of its training sequences. Hands as live (``RuntimeConfig.hands_apart``): the
   body is refined with the hands hidden and each hand's shape is carried onto its wrist.
3. **Rig and detections**, as the streaming cleaner does after its refiner: every bone put
   back to one length for the whole file (the uplift's, each body bone moved
   ``refined_lengths`` of the way to the median of the refined skeleton's own), and the
   skeleton pulled back towards the uplift's joints where they were detected (an
   exponential average of the offsets, run forwards and backwards so it lags neither way).
4. **Ensemble with the causal pipeline** (``OfflineConfig.causal``): the result is the mean
   of step 3's and plain ``skeletor clean``'s (streaming uplift + causal refiner) output
   for the same file. The two start from different uplifts (whole file / frame by frame)
   and different models, so their errors are partly independent and their mean is closer
   to the truth than either (BENCHMARKS.md, "Accuracy: public benchmark"); the mean keeps
   most of the bidirectional model's smoothness. The causal output trails the motion by a
   frame or so; it is moved earlier by the whole number of frames (0-4) that best lines it
   up with step 3's result before averaging, so the mean is within a frame of the
   detections (step 3 alone is in step with them). Bones then vary a little along the file
   (two rigs averaged); ``causal=None`` gives step 3 alone, one length per bone.

Receptive field: each output frame depends on the frames 31 before to 31 after it through
the blended windows, and on the whole file through the uplift and the rig's lengths (and,
through the causal half of the ensemble, on the frames before it).
Axes and units in and out: camera frame (x right, y down, z forward), metres at the
uplift's assumed body size. One person per file (a person who leaves and another who
comes back get the same bone lengths; use plain ``skeletor clean`` there).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from skeletor.cleaner.one_euro import OneEuroFilter, OneEuroParams
from skeletor.cleaner.refined_lengths import RefinedBoneLengths
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.pose.skeleton import LEFT_HAND, RIGHT_HAND
from skeletor.refiner.runtime import RuntimeConfig
from skeletor.uplift import UpliftConfig, UpliftTree, fill_unestimated, uplift_sequence
from skeletor.uplift.hands import detector_hands, unmirror_hands

__all__ = ["OfflineConfig", "OfflineCleaner", "anchored_fill", "default_offline_weights_path", "is_bidirectional"]

log = logging.getLogger(__name__)

_HANDS = np.array(LEFT_HAND + RIGHT_HAND)  # holistic75 hand joints
_HAND_WRISTS = ((np.array(LEFT_HAND), 15), (np.array(RIGHT_HAND), 16))  # each hand's joints, the body wrist it hangs from


def default_offline_weights_path() -> Path:
    """The shipped bidirectional refiner: ``weights/skeletor_refiner_bidir.onnx`` beside the package."""
    return Path(__file__).resolve().parents[2] / "weights" / "skeletor_refiner_bidir.onnx"


def is_bidirectional(metadata: dict[str, str]) -> bool:
    """Whether refiner weights with this ONNX metadata were trained with full attention."""
    try:
        return bool(json.loads(metadata.get("skeletor.config", "{}")).get("bidirectional", False))
    except json.JSONDecodeError:
        return False


@dataclass(frozen=True)
class OfflineConfig:
    """Settings of the offline cleaner.

    Attributes:
        uplift: the uplift's settings (``lookahead`` is unused: the whole file is seen).
        runtime: the refiner's weights (None = the shipped bidirectional ones), provider,
            threads, ``hands_apart``.
        blend: a frame's result is the mean of its estimates in every window that holds it
            (else the centre of its own window only). Measured (module docstring) in BENCHMARKS.md.
        keep_bone_lengths: every bone at one length for the whole file (directions from the refiner).
        refined_lengths: weight (0-1) of the refined skeleton's median body bone lengths in
            those lengths; the rest is the uplift's.
        detection_pull: rate (per frame) of the forward-backward exponential average of the
            offsets that put each detected joint back on the uplift's (lateral only: the
            refined depth is kept); 0 = off.
        smoothing: a One Euro filter at the end (``--smooth``), bones then put back to length.
        causal: the causal pipeline averaged with the bidirectional result (module docstring,
            step 4; its ``smoothing`` is ignored: the mean is smoothed once); None = off.
        prepare_hands: before the refiner, each fully detected hand takes the detector's 3D
            shape (its depth hint) and a mirrored hand is reflected, as the live cleaner does
            (``CleanerConfig.detector_hands`` / ``unmirror_hands``, ``skeletor.uplift.hands``).
    """

    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    blend: bool = True
    keep_bone_lengths: bool = True
    refined_lengths: float = 0.5
    detection_pull: float = 0.15
    smoothing: OneEuroParams | None = None
    causal: CleanerConfig | None = field(default_factory=CleanerConfig)
    prepare_hands: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.refined_lengths <= 1.0:
            raise ValueError(f"refined_lengths must be in [0, 1], got {self.refined_lengths}")
        if not 0.0 <= self.detection_pull <= 1.0:
            raise ValueError(f"detection_pull must be in [0, 1], got {self.detection_pull}")

    @classmethod
    def from_cleaner(cls, config: CleanerConfig, explicit_weights: bool = False) -> OfflineConfig:
        """The offline settings matching ``skeletor clean``'s options.

        Args:
            config: what the options gave the streaming cleaner (uplift, runtime, rig,
                pull, smoothing; ``lookahead`` and ``forget_after_s`` have no offline use).
            explicit_weights: ``config.runtime.weights`` was chosen by the user
                (``--weights``: the bidirectional model); otherwise the shipped
                bidirectional weights are used. The causal half of the ensemble runs
                ``config`` as plain ``skeletor clean`` would, with the shipped causal weights
                where ``--weights`` named the bidirectional ones.

        Raises:
            ValueError: ``config.refine`` is off (``--offline`` is the bidirectional refiner).
        """
        if not config.refine:
            raise ValueError("--offline runs the bidirectional refiner; it cannot be combined with --no-refine")
        runtime = config.runtime if explicit_weights else replace(config.runtime, weights=default_offline_weights_path())
        causal_runtime = replace(config.runtime, weights=None) if explicit_weights else config.runtime
        return cls(
            causal=replace(config, runtime=causal_runtime, smoothing=None),
            uplift=config.uplift,
            runtime=runtime,
            keep_bone_lengths=config.keep_bone_lengths,
            refined_lengths=config.refined_lengths,
            detection_pull=config.detection_pull,
            smoothing=config.smoothing,
        )


class OfflineCleaner:
    """Whole-file uplift + bidirectional refiner + rig (see the module docstring).

    Args:
        config: settings.

    Raises:
        ValueError: the weights are not a bidirectional refiner.
        skeletor.refiner.runtime.RefinerWeightsError: the weights are missing or unreadable.
        skeletor.refiner.runtime.ProviderUnavailableError: the requested provider is not available.
    """

    def __init__(self, config: OfflineConfig = OfflineConfig()) -> None:
        from skeletor.refiner.runtime import OnnxRefiner

        runtime = config.runtime if config.runtime.weights is not None else replace(config.runtime, weights=default_offline_weights_path())
        self.config = replace(config, runtime=runtime)
        self.refiner = OnnxRefiner(runtime)
        if not is_bidirectional(self.refiner.metadata):
            raise ValueError(f"{self.refiner.path}: not a bidirectional refiner (trained with `skeletor train --bidirectional`); "
                             "--offline needs one, e.g. the shipped weights/skeletor_refiner_bidir.onnx")  # fmt: skip
        self.blend = config.blend and self.refiner.has_window_output
        if config.blend and not self.blend:
            log.warning("%s has no window output: each frame is its own window's centre (no blending)", self.refiner.path)
        self.tree = UpliftTree()
        self.causal = StreamingCleaner(replace(config.causal, smoothing=None)) if config.causal is not None else None

    def reset(self) -> None:
        """Nothing to forget: every file is cleaned on its own (kept for the cleaners' common use)."""

    def clean(self, seq: KeypointSequence, progress: bool = False) -> PoseSequence:
        """Clean a whole keypoint sequence.

        Args:
            seq: holistic75 2D keypoints (x px, y px, confidence).
            progress: a tqdm bar over the refiner's batches.

        Returns:
            Poses for every input frame (camera frame, metres), with the keypoints attached.
        """
        up = uplift_sequence(seq, self.config.uplift)
        raw = up.poses3d  # (N, 75, 3) metres, NaN for joints never seen
        if self.config.prepare_hands:
            raw = np.stack([
                unmirror_hands(detector_hands(raw[i], seq.keypoints[i], None if seq.depth is None else seq.depth[i]))
                for i in range(len(raw))
            ]) if len(raw) else raw  # fmt: skip
        present = (up.confidence > 0) & np.isfinite(raw).all(-1)  # (N, 75)
        refined = self.refine(raw, present, progress)
        seen = present.any(axis=0)  # (75,)
        refined[:, ~seen] = np.nan
        poses = self._rig_and_pull(refined, raw, seq)
        if self.causal is not None:
            poses = self._with_causal(poses, seq, progress)
        if self.config.smoothing is not None:
            poses = self._smooth(poses, seq)
        fill_unestimated(poses)
        return PoseSequence(poses, up.confidence, seq.fps, seq.skeleton, seq.keypoints)

    def restore(self, poses: np.ndarray, present: np.ndarray, outlier_factor: float | None = 2.0) -> np.ndarray:
        """Restore 3D input that is right where given (mocap, the paper's protocol): fill the
        gaps, replace outliers, leave the rest alone.

        1. Outliers (``outlier_factor`` not None): present entries further from the refined
           skeleton than ``outlier_factor`` times the median such distance over the
           sequence (the refiner's own error on the sequence sets the scale, so no unit
           enters) are dropped. For input with gaps but no noise, pass None: a good entry
           where the motion is fast is far from the refined skeleton too, and refilling it
           costs accuracy.
        2. Gap fill (:meth:`fill_gaps`): missing and dropped entries get a mix of linear
           interpolation and the refiner's motion anchored to the kept entries, weighted
           by how well each fills this sequence's own known entries.

        Args:
            poses: (N, J, 3) float, any unit; NaN or ``present`` False where missing.
            present: (N, J) bool, entries given.
            outlier_factor: see step 1; None = every present entry is kept.

        Returns:
            (N, J, 3) float32: the kept entries exactly as given; joints never present as
            the refiner gives them.
        """
        x = np.asarray(poses, dtype=np.float32)
        keep = np.asarray(present, bool) & np.isfinite(x).all(-1)  # (N, J)
        refined = self.refine(x, keep)
        if outlier_factor is not None and keep.any():
            dist = np.linalg.norm(np.nan_to_num(x) - refined, axis=-1)  # (N, J)
            outliers = keep & (dist > outlier_factor * float(np.median(dist[keep])))
            if outliers.any():
                log.debug("restore: %d of %d present entries replaced", int(outliers.sum()), int(keep.sum()))
                keep &= ~outliers
                refined = self.refine(x, keep)
        return self.fill_gaps(x, keep, refined)

    def fill_gaps(self, x: np.ndarray, keep: np.ndarray, refined: np.ndarray | None = None) -> np.ndarray:
        """Fill every entry not in ``keep`` (of joints kept somewhere); keep the others as given.

        A gap's fill is ``(1 - w)`` linear interpolation plus ``w`` :func:`anchored_fill`. The
        weight ``w`` (0-1) is chosen on the sequence itself: the same gap pattern, shifted by
        half the sequence onto kept entries, is filled both ways, and ``w`` is the least-squares
        weight against the known values there. So the model fills gaps only as far as it beats
        interpolation on this sequence's own entries.

        Args:
            x: (N, J, 3) input.
            keep: (N, J) bool, entries to keep.
            refined: the refiner's output with ``keep`` (computed when None).

        Returns:
            The filled (N, J, 3) float32.
        """
        from skeletor.eval.baselines import linear_interpolate

        refined = self.refine(x, keep) if refined is None else refined
        seen = keep.any(axis=0)  # (J,) joints with something to keep
        gaps = ~keep & seen[None, :]  # (N, J) entries to fill
        if not gaps.any():
            return np.where(keep[..., None], x, refined).astype(np.float32)
        probe = keep & np.roll(gaps, len(x) // 2, axis=0)  # (N, J) known entries hidden for the test
        weight = 1.0
        if probe.any():
            rest = keep & ~probe
            lin_p = np.nan_to_num(linear_interpolate(x, rest))[probe]  # (P, 3)
            model_p = anchored_fill(self.refine(x, rest), x, rest)[probe]  # (P, 3)
            diff, target = model_p - lin_p, x[probe] - lin_p
            denom = float((diff * diff).sum())
            weight = min(max(float((diff * target).sum()) / denom, 0.0), 1.0) if denom > 0 else 0.0
            log.debug("gap fill: refiner weight %.2f on %d test entries", weight, int(probe.sum()))
        lin = np.where(seen[None, :, None], np.nan_to_num(linear_interpolate(x, keep)), refined)
        out = (1.0 - weight) * lin + weight * anchored_fill(refined, x, keep)
        return np.where(keep[..., None], x, out).astype(np.float32)

    def _with_causal(self, poses: np.ndarray, seq: KeypointSequence, progress: bool) -> np.ndarray:
        """The mean of ``poses`` (N, 75, 3) and the causal pipeline's output for ``seq``, joint by
        joint where both have one (else whichever has it). The causal output trails the motion
        by a frame or so (its refiner sees no future); it is moved earlier by the whole number of
        frames that best lines its body motion up with ``poses`` (:func:`_delay`). The mean is
        then within a frame of the detections (a fractional delay is left)."""
        assert self.causal is not None
        self.causal.reset()
        causal = clean_sequence(seq, self.causal, progress).poses3d  # (N, 75, 3)
        d = _delay(poses, causal)
        if d:
            causal = np.concatenate([causal[d:], np.full_like(causal[:d], np.nan)])  # the last d frames: poses alone
        both = np.isfinite(poses).all(-1) & np.isfinite(causal).all(-1)  # (N, 75)
        mean = 0.5 * (np.nan_to_num(poses) + np.nan_to_num(causal))
        out = np.where(both[..., None], mean, np.where(np.isfinite(poses), poses, causal)).astype(np.float32)
        # Hands are not averaged: two hands of different shapes average to neither. Each hand is
        # the causal half's (its detector depth, chirality check and smoothing; see
        # ``skeletor.cleaner.stream``), else the bidirectional half's, moved onto the mean wrist.
        for hand, wrist in _HAND_WRISTS:
            for src in (poses, causal):
                rel = src[:, hand] - src[:, [wrist]]  # (N, 21, 3) offsets from that half's wrist
                ok = np.isfinite(rel).all(-1) & np.isfinite(out[:, [wrist]]).all(-1)  # (N, 21)
                out[:, hand] = np.where(ok[..., None], out[:, [wrist]] + np.nan_to_num(rel), out[:, hand])
        return out

    def refine(self, poses: np.ndarray, present: np.ndarray, progress: bool = False) -> np.ndarray:
        """The refiner over every frame: (N, 75, 3) camera frame + (N, 75) bool -> (N, 75, 3) float32.

        Blended (``OfflineConfig.blend``): frame ``t`` is the mean of row ``t - e + past`` of
        every window ``e`` that holds it (window ``e`` is frames ``e - past .. e + k``).
        """
        r = self.refiner
        if not self.blend:
            out, _ = r.refine_sequence(poses, present)
            return out
        n, T, k = len(poses), r.window, r.lookahead
        past = T - 1 - k
        pad_x = np.zeros((past + n + k, 75, 3), dtype=np.float32)  # (past + N + k, J, 3)
        pad_p = np.zeros((past + n + k, 75), dtype=np.float32)
        pad_x[past : past + n] = np.where(present[..., None], np.nan_to_num(poses), 0.0)
        pad_p[past : past + n] = present
        win_x = np.lib.stride_tricks.sliding_window_view(pad_x, T, axis=0).transpose(0, 3, 1, 2)  # (N, T, J, 3)
        win_p = np.lib.stride_tricks.sliding_window_view(pad_p, T, axis=0).transpose(0, 2, 1)  # (N, T, J)
        total = np.zeros((past + n + k, 75, 3))  # summed estimates per padded frame
        count = np.zeros((past + n + k, 1, 1))
        step = max(1, r.cfg.max_batch // 2)  # hands apart may send each window twice
        starts = range(0, n, step)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="refine", unit="batch", leave=False)
        for s in starts:
            bx, bp = np.ascontiguousarray(win_x[s : s + step]), np.ascontiguousarray(win_p[s : s + step])
            out = self._windows(bx, bp)  # (b, T, J, 3)
            for i in range(len(out)):
                total[s + i : s + i + T] += out[i]  # window s + i covers padded frames s + i .. s + i + T - 1
                count[s + i : s + i + T] += 1.0
        return (total[past : past + n] / count[past : past + n]).astype(np.float32)

    def _windows(self, poses: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Whole refined windows (B, T, J, 3), hands handled as live (``skeletor.refiner.runtime``'s
        module docstring): the body from a call with the hands hidden; each hand joint then is
        the input's, relative to its wrist, put on the refined wrist (``refine_hands`` off, the
        default), or comes from a second call with the hands in view (``refine_hands`` on)."""
        r = self.refiner
        if not r.hands_apart:
            return r.infer_windows(poses, present)
        with_hands = np.flatnonzero(present[:, :, _HANDS].any(axis=(1, 2)))  # (H,)
        if len(with_hands) == 0:
            return r.infer_windows(poses, present)
        body_present = present.copy()
        body_present[:, :, _HANDS] = 0.0
        if not r.refine_hands:
            body = r.infer_windows(poses, body_present)  # (B, T, J, 3)
            for hand, wrist in _HAND_WRISTS:
                ok = (present[:, :, hand] > 0) & (present[:, :, [wrist]] > 0)  # (B, T, 21)
                rel = poses[:, :, hand] - poses[:, :, [wrist]]  # (B, T, 21, 3) the input hand from its wrist
                body[:, :, hand] = np.where(ok[..., None], body[:, :, [wrist]] + rel, body[:, :, hand])
            return body
        b = len(poses)
        out = r.infer_windows(np.concatenate([poses, poses[with_hands]]), np.concatenate([body_present, present[with_hands]]))
        body, hands = out[:b], out[b:]  # (B, T, J, 3), (H, T, J, 3)
        for hand, wrist in _HAND_WRISTS:
            body[with_hands[:, None, None], np.arange(r.window)[None, :, None], hand[None, None, :]] = (
                hands[:, :, hand] - hands[:, :, [wrist]] + body[with_hands][:, :, [wrist]]
            )
        return body

    def _rig_and_pull(self, refined: np.ndarray, raw: np.ndarray, seq: KeypointSequence) -> np.ndarray:
        """Bones to the file's rig lengths, then the pull towards the detected joints, then the rig again."""
        cfg = self.config
        if not cfg.keep_bone_lengths:
            rig = None
            poses = refined
        else:
            rig = self.tree.bone_lengths_of(raw)  # (B,) the whole-file uplift's lengths (constant along the file)
            if cfg.refined_lengths > 0:
                med = RefinedBoneLengths(self.tree, history=len(refined))
                for pose in refined:
                    med.push(pose)
                rig = med.blend(np.nan_to_num(rig), cfg.refined_lengths)
            poses = self._impose(refined, rig)
        if cfg.detection_pull > 0:
            observed = (seq.keypoints[..., 2] >= cfg.uplift.min_confidence) & np.isfinite(raw).all(-1) & (raw[..., 2] > 1e-6)
            observed &= np.isfinite(poses).all(-1)  # (N, 75)
            target = raw * (poses[..., 2:3] / np.where(observed, raw[..., 2], 1.0)[..., None])  # the uplift's ray at the refined depth
            offset = np.where(observed[..., None], target - poses, 0.0)  # (N, 75, 3) lateral only
            poses = (poses + _forward_backward(offset, cfg.detection_pull)).astype(np.float32)
            if rig is not None:
                poses = self._impose(poses, rig)
        return poses.astype(np.float32)

    def _impose(self, poses: np.ndarray, rig: np.ndarray) -> np.ndarray:
        return np.stack([self.tree.impose_lengths(p, rig) for p in poses]).astype(np.float32)

    def _smooth(self, poses: np.ndarray, seq: KeypointSequence) -> np.ndarray:
        s = self.config.smoothing
        assert s is not None
        f = OneEuroFilter(min_cutoff=s.min_cutoff, beta=s.beta, d_cutoff=s.d_cutoff)
        out = np.stack([f(p, i / seq.fps) for i, p in enumerate(poses)])
        out = np.where(np.isfinite(poses), out, np.nan).astype(np.float32)
        if self.config.keep_bone_lengths:
            out = self._impose(out, self.tree.bone_lengths_of(poses))
        return out


_ARMS_LEGS = np.array([11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])  # shoulders .. ankles (holistic75)


def _delay(lead: np.ndarray, late: np.ndarray, max_delay: int = 4) -> int:
    """Frames (0 .. ``max_delay``) by which ``late`` (N, 75, 3) trails ``lead``: the shift that
    best correlates their frame-to-frame motion of the shoulders, elbows, wrists, hips, knees
    and ankles (those missing in either, e.g. legs out of view, count nothing)."""
    va = np.diff(lead[:, _ARMS_LEGS], axis=0).reshape(len(lead) - 1, -1)  # (N - 1, 36)
    vb = np.diff(late[:, _ARMS_LEGS], axis=0).reshape(len(late) - 1, -1)
    score = []
    for d in range(min(max_delay, len(va) - 1) + 1):
        a, b = va[: len(va) - d], vb[d:]  # lead's motion at t against late's at t + d
        score.append(float(np.nansum(a * b)))
    return int(np.argmax(score)) if score else 0


def anchored_fill(refined: np.ndarray, poses: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Kept entries of ``poses`` unchanged, the others from ``refined`` anchored to them.

    The refiner's error at the kept entries (``poses - refined``) is interpolated linearly
    over each gap, joint by joint, and added to the refined skeleton there: a gap's fill
    meets the kept values at both ends and follows the refiner's motion in between. On a
    one-frame gap that is linear interpolation plus the refiner's curvature, so a refiner
    that moves smoothly costs little against interpolation; on long gaps the refiner's
    motion replaces the straight line.

    Args:
        refined: (N, J, 3) the refiner's output over the whole sequence.
        poses: (N, J, 3) the input (same unit).
        keep: (N, J) bool, entries of ``poses`` to keep.

    Returns:
        (N, J, 3) float32; a joint with no kept entry is ``refined``'s.
    """
    from skeletor.eval.baselines import linear_interpolate

    err = np.where(keep[..., None], np.nan_to_num(poses) - refined, np.nan)  # (N, J, 3) at kept entries
    shift = np.nan_to_num(linear_interpolate(err, keep))  # gaps: interpolated; never kept: 0
    return np.where(keep[..., None], poses, refined + shift).astype(np.float32)


def _forward_backward(x: np.ndarray, rate: float) -> np.ndarray:
    """Exponential average of ``x`` (N, ...) over frames at ``rate`` a frame, run forwards then
    backwards: zero phase (no lag either way), each side's time constant ``1 / rate`` frames."""
    fwd = np.zeros_like(x, dtype=np.float64)
    acc = np.zeros(x.shape[1:])
    for t in range(len(x)):
        acc += rate * (x[t] - acc)
        fwd[t] = acc
    out = np.zeros_like(fwd)
    acc = fwd[-1].copy() if len(x) else acc
    for t in range(len(x) - 1, -1, -1):
        acc += rate * (fwd[t] - acc)
        out[t] = acc
    return out
