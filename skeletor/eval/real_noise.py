"""What real detector noise looks like: statistics of holistic75 keypoint sequences, and a fault model from them.

:func:`measure_detector_noise` measures, on any holistic75 2D keypoint sequences (real
MediaPipe Holistic output, or simulated detector output of mocap, so the two can be
compared number for number):

* **jitter** on *still segments*: each joint's 2D track minus a Savitzky-Golay smoothing of it
  (``smooth_frames``, quadratic), on runs of frames where the smoothed joint moves less than
  ``still_speed`` shoulder widths per frame across the window and no outlier jump is near
  (simulated mocap, which is seldom still, is best measured on a held pose). Reported: the residual's std, its lag-1
  autocorrelation and the share of its power in four frequency bands (body and hands apart),
  and the AR(1) process (std, coefficient) that, through the same smoother, gives that
  residual std and lag-1 autocorrelation: the jitter itself, not what the smoother leaves of it;
* **hand dropouts**: how often a hand is missing while the pose wrist on its side is detected
  (visibility >= ``low_confidence``) and inside the image, and how long a missing run lasts;
* **hand swaps**: a detected hand whose wrist is nearer the other side's pose wrist (the hand
  attached to the wrong arm);
* **body joint drops** (missing, or a visibility below ``low_confidence``) on the arm joints,
  and whole-frame drops;
* **depth-hint noise** where a sequence has ``depth``: the still-segment residual std of it.

Every length is in units of the frame's shoulder width in pixels (the distance between the
pose shoulders 11 and 12), so a close-up webcam clip and a full-body dance compare.
:func:`faults_from_real` turns the statistics into a
:class:`~skeletor.eval.corrupt.DetectorFaults` at a chosen shoulder width.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import savgol_coeffs

from skeletor.eval.corrupt import DetectorFaults
from skeletor.pose.keypoints import KeypointSequence

__all__ = ["NoiseMeasureConfig", "JitterStats", "DetectorNoiseStats", "measure_detector_noise", "median_shoulder_px", "faults_from_real", "faults_for_view", "ar1_from_residual"]

log = logging.getLogger(__name__)

BODY_JOINTS = np.arange(0, 33)  # MediaPipe pose
HAND_JOINTS = np.arange(33, 75)  # left hand 33-53, right hand 54-74
ARM_JOINTS = np.arange(11, 17)  # shoulders, elbows, wrists: present in every MediaPipe .pose layout
_L_SHOULDER, _R_SHOULDER = 11, 12
_POSE_WRIST = {"left": 15, "right": 16}
_HAND_WRIST = {"left": 33, "right": 54}
MAX_CORR = 0.9  # highest AR(1) coefficient ar1_from_residual returns (see there)
BANDS = ((0.0, 0.125), (0.125, 0.25), (0.25, 0.375), (0.375, 0.5))  # (lo, hi] cycles per frame; 0.5 = Nyquist


@dataclass(frozen=True)
class NoiseMeasureConfig:
    """How the noise is measured.

    Attributes:
        smooth_frames: Savitzky-Golay window (odd, frames) of the smooth track the jitter is
            measured against: long enough to average jitter out, short enough to follow motion.
        smooth_order: its polynomial order (2 follows a steady acceleration).
        still_speed: a frame is "still" for a joint when its smoothed track moves less than
            this many shoulder widths per frame across the smoothing window (0.01: 3.5 mm per
            frame for a 0.35 m shoulder width, 10 cm/s at 30 fps); faster motion leaks into
            the residual.
        min_still: shortest run of still frames used, frames.
        spectrum_frames: length of the residual chunks whose FFT gives the band powers.
        low_confidence: a pose joint below this visibility counts as dropped, and is left out
            of the jitter (MediaPipe's ``.pose`` confidences are visibility; a joint out of view
            is guessed at a low one).
        swap_margin: a hand is attached to the wrong arm when its wrist is nearer the other
            pose wrist by more than this many shoulder widths (hands near each other are not swaps).
        min_shoulder_fraction: frames whose shoulder width is below this fraction of the clip's
            median (the person turned side-on) are left out: lengths in shoulder widths blow up there.
        outlier_sw: a residual above this many shoulder widths is an outlier jump, not jitter
            (real jitter is ~0.01; the simulator's outlier jumps, 30-80 px, are 0.4-1.6 shoulder
            widths of a person 50 px wide): frames within half a window of one are not still.
        hands: measure the hand statistics (dropouts, swaps); off for data that has no hands
            at all (mocap without fingers), where a "missing" hand says nothing about a detector.
    """

    smooth_frames: int = 9
    smooth_order: int = 2
    still_speed: float = 0.01
    min_still: int = 5
    spectrum_frames: int = 8
    low_confidence: float = 0.3
    swap_margin: float = 0.1
    min_shoulder_fraction: float = 0.4
    outlier_sw: float = 0.25
    hands: bool = True

    def __post_init__(self) -> None:
        if self.smooth_frames < 3 or self.smooth_frames % 2 == 0 or self.smooth_order >= self.smooth_frames:
            raise ValueError(f"smooth_frames must be odd, >= 3 and > smooth_order, got {self.smooth_frames}, {self.smooth_order}")
        if self.min_still < 2 or self.spectrum_frames < 4:
            raise ValueError(f"min_still must be >= 2 and spectrum_frames >= 4, got {self.min_still}, {self.spectrum_frames}")

    def kernel(self) -> np.ndarray:
        """The residual filter: ``residual[t] = sum_k h[k] * x[t + k - w // 2]`` (identity minus the smoother)."""
        h = -savgol_coeffs(self.smooth_frames, self.smooth_order)
        h[self.smooth_frames // 2] += 1.0
        return h


@dataclass(frozen=True)
class JitterStats:
    """Still-segment jitter of one joint group, in shoulder widths (see the module docstring).

    Attributes:
        residual_std: std of the residual (track minus smoothed track), per axis.
        residual_lag1: lag-1 autocorrelation of the residual (white noise through the
            smoother gives about -0.4, not 0: compare with ``white_lag1``).
        band_power: share of the residual power in each of ``BANDS`` (cycles per frame), from
            the FFT of ``spectrum_frames``-long chunks of still runs, means removed.
        white_band_power: the same for white jitter through the same smoother (the reference).
        white_lag1: the residual's lag-1 autocorrelation for white jitter.
        std: std of the AR(1) jitter that explains ``residual_std`` and ``residual_lag1``.
        corr: that AR(1) process's coefficient.
        frames: still (frame, joint) entries measured.
    """

    residual_std: float
    residual_lag1: float
    band_power: tuple[float, ...]
    white_band_power: tuple[float, ...]
    white_lag1: float
    std: float
    corr: float
    frames: int


@dataclass(frozen=True)
class DetectorNoiseStats:
    """Detector noise of a set of sequences; lengths in shoulder widths, durations in frames.

    Attributes:
        body_jitter, hand_jitter: still-segment jitter of the pose (0-32) and hand (33-74) joints.
        hand_missing: per hand ("left", "right"), the fraction of frames with that side's pose
            wrist detected and inside the image in which the hand is missing.
        hand_missing_run: per hand, mean length of a run of such missing frames.
        hand_swapped: per hand, the fraction of frames with the hand (and both pose wrists)
            detected in which the hand hangs on the other arm.
        hand_swap_run: per hand, mean length of a swapped span.
        body_missing: fraction of arm-joint (11-16) entries missing (confidence 0) in frames
            where the person was detected.
        body_low_confidence: fraction of arm-joint entries below ``low_confidence`` (missing included).
        frames_dropped: fraction of frames without any keypoint.
        frames_dropped_run: mean length of a run of dropped frames (NaN when none).
        depth_body_std, depth_hand_std: still-segment residual std of the depth hint
            (NaN without one).
        shoulder_px: median shoulder width of the frames measured, pixels.
        frames: frames measured; sequences: how many sequences.
    """

    body_jitter: JitterStats
    hand_jitter: JitterStats
    hand_missing: dict[str, float]
    hand_missing_run: dict[str, float]
    hand_swapped: dict[str, float]
    hand_swap_run: dict[str, float]
    body_missing: float
    body_low_confidence: float
    frames_dropped: float
    frames_dropped_run: float
    depth_body_std: float
    depth_hand_std: float
    shoulder_px: float
    frames: int
    sequences: int

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN stays NaN)."""
        return asdict(self)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the True runs of a 1D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def _filter_valid(x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred FIR ``h`` along axis 0 of (T, ...) ``x`` (NaN = missing): (filtered, valid) with
    valid where the whole window is finite (a window of ``len(h)`` frames centred on t)."""
    w = len(h)
    t = x.shape[0]
    out = np.full(x.shape, np.nan)
    if t < w:
        return out, np.zeros(x.shape, bool)
    windows = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)  # (T - w + 1, ..., w)
    out[w // 2 : t - w // 2] = windows @ h
    return out, np.isfinite(out)


def _residual_acov(h: np.ndarray, corr: float, lags: int = 1) -> np.ndarray:
    """Autocovariance (lags 0..lags) of unit-variance AR(1) noise filtered by ``h``."""
    k = np.arange(len(h))
    diff = k[None, :] - k[:, None]
    return np.array([h @ (corr ** np.abs(diff + lag)) @ h for lag in range(lags + 1)])


def _chunk_power(resid: np.ndarray, frames: int) -> np.ndarray:
    """Power of (T, C) residuals in each of ``BANDS``: FFT of consecutive ``frames``-long chunks, means removed."""
    freqs = np.fft.rfftfreq(frames)
    out = np.zeros(len(BANDS))
    for s in range(0, len(resid) - frames + 1, frames):
        chunk = resid[s : s + frames]
        p = (np.abs(np.fft.rfft(chunk - chunk.mean(0), axis=0)) ** 2).sum(-1)
        out += [p[(freqs > lo) & (freqs <= hi)].sum() for lo, hi in BANDS]
    return out


def _white_band_power(cfg: NoiseMeasureConfig) -> tuple[float, ...]:
    """Band shares (as measured) of white jitter's residual: a fixed-seed draw through the same smoother."""
    resid, _ = _filter_valid(np.random.default_rng(0).standard_normal((40000, 1)), cfg.kernel())
    p = _chunk_power(resid[np.isfinite(resid[:, 0])], cfg.spectrum_frames)
    return tuple(float(v) for v in p / p.sum())


def ar1_from_residual(residual_std: float, residual_lag1: float, kernel: np.ndarray) -> tuple[float, float]:
    """The AR(1) jitter (std, coefficient) whose residual through ``kernel`` has the given std and lag-1 autocorrelation.

    The residual's lag-1 autocorrelation rises monotonically with the jitter's AR(1)
    coefficient, so the coefficient is read off a grid of them; the std then follows from
    the residual variance the filter leaves of unit-variance noise of that coefficient.

    Args:
        residual_std: measured residual std.
        residual_lag1: measured residual lag-1 autocorrelation.
        kernel: the residual filter (:meth:`NoiseMeasureConfig.kernel`).

    Returns:
        (std, corr); NaNs when the input is NaN. ``corr`` is kept within [-0.9, ``MAX_CORR``]:
        a lag-1 autocorrelation above what AR(1) noise of ``MAX_CORR`` leaves (real MediaPipe's
        is: its landmarks are filtered inside, so its jitter is smoother than AR(1)) gives
        ``MAX_CORR``, where the smoother can still tell jitter from motion; the std then
        matches the residual std.
    """
    if not (np.isfinite(residual_std) and np.isfinite(residual_lag1)):
        return float("nan"), float("nan")
    grid = np.linspace(-0.9, MAX_CORR, 361)
    acov = np.array([_residual_acov(kernel, c) for c in grid])  # (G, 2)
    lag1 = acov[:, 1] / acov[:, 0]
    corr = float(np.interp(residual_lag1, lag1, grid))
    gain = float(np.interp(corr, grid, acov[:, 0]))
    return float(residual_std / np.sqrt(gain)), corr


def _shoulder_width(kp: np.ndarray, cfg: NoiseMeasureConfig) -> np.ndarray:
    """(T,) shoulder width in pixels, NaN where a shoulder is missing or the person is side-on."""
    sw = np.linalg.norm(kp[:, _L_SHOULDER, :2] - kp[:, _R_SHOULDER, :2], axis=-1)
    sw = np.where((kp[:, [_L_SHOULDER, _R_SHOULDER], 2] > 0).all(-1), sw, np.nan)
    if np.isfinite(sw).any():
        sw = np.where(sw >= cfg.min_shoulder_fraction * np.nanmedian(sw), sw, np.nan)
    return sw


def median_shoulder_px(keypoints: np.ndarray, config: NoiseMeasureConfig = NoiseMeasureConfig()) -> float:
    """Median shoulder width, pixels, of (T, J, 3) holistic75 keypoints, as the measurement defines it.

    NaN when no frame shows both shoulders. ``faults_from_real`` takes this for the person
    the faults are for, so measured and simulated noise are in the same shoulder widths.
    """
    sw = _shoulder_width(np.asarray(keypoints, dtype=np.float64), config)
    return float(np.nanmedian(sw)) if np.isfinite(sw).any() else float("nan")


def _still_residual(track: np.ndarray, sw: np.ndarray, cfg: NoiseMeasureConfig) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Residual of (T, J, C) pixel tracks against their smoothing, in shoulder widths, and the still runs.

    A frame is still for a joint when its smoothed track moves less than ``cfg.still_speed``
    shoulder widths per frame, measured across the smoothing window (``|s[t+k] - s[t-k]| / 2k``,
    k = half the window: the net motion that could leak into the residual, and little of the
    jitter itself), and no residual within the window is an outlier jump (above
    ``cfg.outlier_sw``). Runs shorter than ``cfg.min_still`` are dropped.

    Returns:
        (residual (T, J, C) shoulder widths, NaN where not measurable; [(joint, start, end)] still runs).
    """
    resid, valid = _filter_valid(track, cfg.kernel())  # pixels, then shoulder widths of the frame
    smooth = track - resid
    resid = resid / sw[:, None, None]
    k = cfg.smooth_frames // 2
    speed = np.full(track.shape[:2], np.nan)  # pixels per frame, then shoulder widths (never divide positions)
    speed[k:-k] = np.linalg.norm(smooth[2 * k :] - smooth[: -2 * k], axis=-1) / (2 * k) / sw[k:-k, None]
    jump = np.nan_to_num(np.linalg.norm(resid, axis=-1)) > cfg.outlier_sw  # (T, J); its window is off too:
    near_jump = maximum_filter1d(jump, size=2 * k + 1, axis=0)
    still = (valid & np.isfinite(resid)).all(-1) & (speed < cfg.still_speed) & ~near_jump  # (T, J)
    runs = []
    for j in range(track.shape[1]):
        d = np.diff(np.concatenate([[0], still[:, j].astype(np.int8), [0]]))
        runs += [(j, a, b) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)) if b - a >= cfg.min_still]
    return resid, runs


class _JitterAcc:
    """Pools still-segment residuals of one joint group over sequences (normalised by shoulder width)."""

    def __init__(self) -> None:
        self.sq = 0.0
        self.lag = 0.0
        self.lag_sq = 0.0
        self.n = 0
        self.spectrum = np.zeros(len(BANDS))

    def add(self, track: np.ndarray, sw: np.ndarray, cfg: NoiseMeasureConfig) -> None:
        """Add one group's tracks, (T, J, C) in pixels (NaN = missing); ``sw`` (T,) pixels."""
        resid, runs = _still_residual(track, sw, cfg)
        for j, a, b in runs:
            r = resid[a:b, j]  # (L, C)
            self.sq += float((r**2).sum())
            self.n += r.size
            self.lag += float((r[1:] * r[:-1]).sum())
            self.lag_sq += float(0.5 * ((r[1:] ** 2).sum() + (r[:-1] ** 2).sum()))
            self.spectrum += _chunk_power(r, cfg.spectrum_frames)

    def stats(self, cfg: NoiseMeasureConfig) -> JitterStats:
        h = cfg.kernel()
        std = float(np.sqrt(self.sq / self.n)) if self.n else float("nan")
        lag1 = _ratio(self.lag, self.lag_sq)
        total = self.spectrum.sum()
        bands = tuple(float(v) for v in self.spectrum / total) if total > 0 else (float("nan"),) * len(BANDS)
        ar_std, ar_corr = ar1_from_residual(std, lag1, h)
        white = _residual_acov(h, 0.0)
        return JitterStats(
            std, lag1, bands, _white_band_power(cfg), float(white[1] / white[0]), ar_std, ar_corr, self.n // 2 if self.n else 0
        )


def _depth_sq(depth: np.ndarray, sw: np.ndarray, track: np.ndarray, cfg: NoiseMeasureConfig) -> tuple[float, int]:
    """Sum of squared still-segment residuals of a (T, J) depth hint (shoulder widths) and their count;
    "still" as for the (T, J, 2) 2D tracks of the same joints."""
    _, runs = _still_residual(track, sw, cfg)
    rz, _ = _still_residual(depth[..., None], sw, cfg)
    r = np.concatenate([rz[a:b, j, 0] for j, a, b in runs]) if runs else np.zeros(0)
    r = r[np.isfinite(r)]
    return float((r**2).sum()), int(r.size)


# --------------------------------------------------------------------------------------
# the measurement
# --------------------------------------------------------------------------------------


def measure_detector_noise(seqs: Sequence[KeypointSequence], config: NoiseMeasureConfig = NoiseMeasureConfig()) -> DetectorNoiseStats:
    """Measure detector noise statistics over holistic75 keypoint sequences, pooled.

    All lengths are in units of each frame's shoulder width in pixels (pose joints 11-12);
    frames without both shoulders, or side-on (see ``NoiseMeasureConfig.min_shoulder_fraction``),
    are left out of the length statistics. Counts (dropouts, swaps, drops) use every frame
    where their condition can be judged.

    Args:
        seqs: holistic75 sequences: ``keypoints`` (T, 75, 3) x px, y px, confidence
            (0 = missing, NaN x, y); ``depth`` (T, 75) pixels or None; ``image_size``.
        config: measurement settings.

    Returns:
        The pooled statistics (see :class:`DetectorNoiseStats`).

    Raises:
        ValueError: a sequence is not (T, 75, 3).
    """
    body, hand = _JitterAcc(), _JitterAcc()
    cnt = {k: 0.0 for k in ("arm", "arm_missing", "arm_low", "frames", "dropped", "dropped_runs", "dz_b", "nz_b", "dz_h", "nz_h")}
    miss = {s: [0, 0, 0] for s in _HAND_WRIST}  # eligible frames, missing frames, missing runs
    swap = {s: [0, 0, 0] for s in _HAND_WRIST}  # frames with hand, swapped frames, swapped runs
    widths: list[np.ndarray] = []
    for seq in seqs:
        kp = np.asarray(seq.keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[1:] != (75, 3):
            raise ValueError(f"expected holistic75 keypoints (T, 75, 3), got {kp.shape} in {seq.name!r}")
        conf = np.where(np.isfinite(kp[..., :2]).all(-1), kp[..., 2], 0.0)
        xy = np.where((conf > 0)[..., None], kp[..., :2], np.nan)
        trusted = np.where((conf >= config.low_confidence)[..., None], xy, np.nan)  # jitter: visible joints only
        width, height = seq.image_size
        sw = _shoulder_width(kp, config)
        widths.append(sw[np.isfinite(sw)])
        body.add(trusted[:, BODY_JOINTS], sw, config)
        hand.add(trusted[:, HAND_JOINTS], sw, config)
        # whole frames, arm joints
        dropped = conf.max(-1) <= 0
        cnt["frames"] += len(kp)
        cnt["dropped"] += dropped.sum()
        cnt["dropped_runs"] += len(_runs(dropped))
        layout = (conf[:, ARM_JOINTS] > 0).any(0)  # arm joints this file's layout has
        arm = conf[~dropped][:, ARM_JOINTS[layout]]
        cnt["arm"] += arm.size
        cnt["arm_missing"] += (arm <= 0).sum()
        cnt["arm_low"] += (arm < config.low_confidence).sum()
        # hands
        wrists = {s: xy[:, j] for s, j in _POSE_WRIST.items()}
        for side, hw in _HAND_WRIST.items() if config.hands else ():
            pw = wrists[side]
            inside = (pw[:, 0] >= 0) & (pw[:, 0] < width) & (pw[:, 1] >= 0) & (pw[:, 1] < height)
            eligible = inside & (conf[:, _POSE_WRIST[side]] >= config.low_confidence)
            missing = eligible & (conf[:, hw] <= 0)
            miss[side][0] += eligible.sum()
            miss[side][1] += missing.sum()
            miss[side][2] += len(_runs(missing))
            other = wrists["right" if side == "left" else "left"]
            d_own = np.linalg.norm(xy[:, hw] - pw, axis=-1) / sw
            d_other = np.linalg.norm(xy[:, hw] - other, axis=-1) / sw
            judged = np.isfinite(d_own) & np.isfinite(d_other)
            swapped = judged & (d_own - d_other > config.swap_margin)
            swap[side][0] += judged.sum()
            swap[side][1] += swapped.sum()
            swap[side][2] += len(_runs(swapped))
        if seq.depth is not None:
            depth = np.asarray(seq.depth, dtype=np.float64)
            for joints, key in ((BODY_JOINTS, "b"), (HAND_JOINTS, "h")):
                sq, n = _depth_sq(depth[:, joints], sw, trusted[:, joints], config)
                cnt["dz_" + key] += sq
                cnt["nz_" + key] += n
    all_widths = np.concatenate(widths) if widths else np.zeros(0)
    stats = DetectorNoiseStats(
        body_jitter=body.stats(config),
        hand_jitter=hand.stats(config),
        hand_missing={s: _ratio(v[1], v[0]) for s, v in miss.items()},
        hand_missing_run={s: _ratio(v[1], v[2]) for s, v in miss.items()},
        hand_swapped={s: _ratio(v[1], v[0]) for s, v in swap.items()},
        hand_swap_run={s: _ratio(v[1], v[2]) for s, v in swap.items()},
        body_missing=_ratio(cnt["arm_missing"], cnt["arm"]),
        body_low_confidence=_ratio(cnt["arm_low"], cnt["arm"]),
        frames_dropped=_ratio(cnt["dropped"], cnt["frames"]),
        frames_dropped_run=_ratio(cnt["dropped"], cnt["dropped_runs"]),
        depth_body_std=float(np.sqrt(cnt["dz_b"] / cnt["nz_b"])) if cnt["nz_b"] else float("nan"),
        depth_hand_std=float(np.sqrt(cnt["dz_h"] / cnt["nz_h"])) if cnt["nz_h"] else float("nan"),
        shoulder_px=float(np.median(all_widths)) if all_widths.size else float("nan"),
        frames=int(cnt["frames"]),
        sequences=len(seqs),
    )
    log.debug("measured %d sequences, %d frames", stats.sequences, stats.frames)
    return stats


def faults_from_real(stats: DetectorNoiseStats, shoulder_px: float, base: DetectorFaults = DetectorFaults()) -> DetectorFaults:
    """A detector fault model with the measured noise, for a person ``shoulder_px`` pixels wide.

    Jitter: the AR(1) fit of the still-segment jitter (std times ``shoulder_px``, the
    coefficient as is; the hands' own std when measured). Hand loss: the mean of both hands'
    missing fractions and run lengths. A hand on the other arm (``hand_swaps``): the mean
    swapped fraction and span; whole-body left/right swaps (``swaps``) are not measured and
    stay ``base``'s. Dropped frames and
    joints: the measured whole-frame drops (and their run length) and the arm joints' low-confidence
    share. Outliers and anything not measured stay ``base``'s (today's defaults).

    Args:
        stats: measured statistics (:func:`measure_detector_noise`).
        shoulder_px: shoulder width, pixels, of the person the faults are for
            (e.g. about 120 px for the virtual cameras of ``skeletor.eval.views`` at 3 m).
        base: where the settings that are not measured come from.

    Returns:
        The fault model (validated by ``DetectorFaults``).

    Raises:
        ValueError: ``shoulder_px`` is not positive, or a value is out of the model's range.
    """
    if not (shoulder_px > 0 and np.isfinite(shoulder_px)):
        raise ValueError(f"shoulder_px must be a positive number of pixels, got {shoulder_px}")

    def mean(d: dict[str, float], default: float) -> float:
        v = [x for x in d.values() if np.isfinite(x)]
        return float(np.mean(v)) if v else default

    def finite(x: float, default: float) -> float:
        return float(x) if np.isfinite(x) else default

    b, h = stats.body_jitter, stats.hand_jitter
    jitter_px = finite(b.std, base.jitter_px / shoulder_px) * shoulder_px
    return DetectorFaults(
        **{f.name: getattr(base, f.name) for f in fields(DetectorFaults)}
        | {
            "jitter_px": jitter_px,
            "jitter_corr": finite(b.corr, base.jitter_corr),
            "hand_jitter_px": finite(h.std * shoulder_px, jitter_px) if np.isfinite(h.std) else base.hand_jitter_px,
            "drop_frames": finite(stats.frames_dropped, base.drop_frames),
            "drop_burst": max(1.0, finite(stats.frames_dropped_run, base.drop_burst)),
            "drop_joints": finite(stats.body_low_confidence, base.drop_joints),
            "lose_hand": mean(stats.hand_missing, base.lose_hand),
            "lose_hand_frames": max(1.0, mean(stats.hand_missing_run, base.lose_hand_frames)),
            "hand_swaps": mean(stats.hand_swapped, base.hand_swaps),
            "hand_swap_frames": max(1.0, mean(stats.hand_swap_run, base.hand_swap_frames)),
        }
    )


def faults_for_view(stats: DetectorNoiseStats, keypoints: np.ndarray, fallback_px: float = 100.0) -> DetectorFaults:
    """:func:`faults_from_real` for the person in (T, J, 3) holistic75 ``keypoints``: at their
    :func:`median_shoulder_px`, or at ``fallback_px`` when no frame shows both shoulders."""
    shoulder = median_shoulder_px(keypoints)
    return faults_from_real(stats, shoulder if np.isfinite(shoulder) else fallback_px)

