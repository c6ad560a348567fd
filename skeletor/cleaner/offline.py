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
   the ends of its training sequences. Hands are refined apart from the body as live
   (``RuntimeConfig.hands_apart``).
3. **Rig and detections**, as the streaming cleaner does after its refiner: every bone put
   back to one length for the whole file (the uplift's, each body bone moved
   ``refined_lengths`` of the way to the median of the refined skeleton's own), and the
   skeleton pulled back towards the uplift's joints where they were detected (an
   exponential average of the offsets, run forwards and backwards so it lags neither way).

Receptive field: each output frame depends on the frames 31 before to 31 after it through
the blended windows, and on the whole file through the uplift and the rig's lengths.
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
from skeletor.cleaner.stream import CleanerConfig
from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.pose.skeleton import LEFT_HAND, RIGHT_HAND
from skeletor.refiner.runtime import RuntimeConfig
from skeletor.uplift import UpliftConfig, UpliftTree, fill_unestimated, uplift_sequence

__all__ = ["OfflineConfig", "OfflineCleaner", "default_offline_weights_path", "is_bidirectional"]

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
    """

    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    blend: bool = True
    keep_bone_lengths: bool = True
    refined_lengths: float = 0.5
    detection_pull: float = 0.1
    smoothing: OneEuroParams | None = None

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
                (``--weights``); otherwise the shipped bidirectional weights are used.

        Raises:
            ValueError: ``config.refine`` is off (``--offline`` is the bidirectional refiner).
        """
        if not config.refine:
            raise ValueError("--offline runs the bidirectional refiner; it cannot be combined with --no-refine")
        runtime = config.runtime if explicit_weights else replace(config.runtime, weights=default_offline_weights_path())
        return cls(
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
        present = (up.confidence > 0) & np.isfinite(raw).all(-1)  # (N, 75)
        refined = self.refine(raw, present, progress)
        seen = present.any(axis=0)  # (75,)
        refined[:, ~seen] = np.nan
        poses = self._rig_and_pull(refined, raw, seq)
        if self.config.smoothing is not None:
            poses = self._smooth(poses, seq)
        fill_unestimated(poses)
        return PoseSequence(poses, up.confidence, seq.fps, seq.skeleton, seq.keypoints)

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
        """Whole refined windows (B, T, J, 3), hands refined apart from the body as live
        (``skeletor.refiner.runtime``'s module docstring): the body from a call with the hands
        hidden, each hand from a call with them, moved onto the first call's wrist."""
        r = self.refiner
        if not r.hands_apart:
            return r.infer_windows(poses, present)
        with_hands = np.flatnonzero(present[:, :, _HANDS].any(axis=(1, 2)))  # (H,)
        if len(with_hands) == 0:
            return r.infer_windows(poses, present)
        body_present = present.copy()
        body_present[:, :, _HANDS] = 0.0
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
