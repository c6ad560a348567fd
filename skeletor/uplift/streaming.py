"""The streaming uplift: one 2D frame in, one 3D frame out, O(1) per frame (under a millisecond).

:class:`StreamingUplifter` runs the uplift's parts in order for each pushed frame: the
scale and bone lengths (:mod:`~skeletor.uplift.lengths`), outlier rejection and the 2D
bones (a joint missing now hangs off its nearest seen ancestor through the bones of the
last frame), the depth-sign filter (:mod:`~skeletor.uplift.signs`), and, when a frame
leaves the lookahead buffer, its placement in 3D (:mod:`~skeletor.uplift.placement`).
With lookahead k (0 = causal) the output lags the input by k frames, which the sign
filter uses to re-decide the signs of the frame it emits.

:func:`uplift_streaming` runs it over a whole sequence (``skeletor clean --no-refine``),
and :func:`fill_unestimated` gives every joint the input ever saw a position in every
frame, including those before the stream first estimated it.

Output coordinates: camera frame, x right, y down, z forward, metres (see
:mod:`skeletor.uplift`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from skeletor.pose.keypoints import KeypointSequence, PoseSequence
from skeletor.pose.skeleton import HOLISTIC75, Skeleton
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.lengths import LengthEstimator
from skeletor.uplift.placement import perspective_positions, weak_perspective_positions
from skeletor.uplift.signs import SignFilter, SignStep, backtrack, smoothed_soft
from skeletor.uplift.tree import NECK, UpliftTree, default_tree, keypoints_with_neck

__all__ = ["StreamingUplifter", "UpliftFrame", "uplift_streaming", "fill_unestimated", "stack_frames"]



def _finite_or_zero(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN and inf replaced by 0 (``np.nan_to_num`` without its slow inf handling)."""
    return np.where(np.isfinite(x), x, 0.0)


@dataclass
class UpliftFrame:
    """One uplifted frame.

    Attributes:
        index: the input frame this output belongs to (0-based count of pushes).
        pose: (75, 3) float32, camera frame (x right, y down, z forward), metres.
        confidence: (75,) float32: the joint's detection confidence, decaying while it is
            carried through a gap; 0 for a joint never seen (its pose is NaN).
        timestamp: the timestamp given with the input frame.
        observed: (75,) bool: the joint was detected in this very frame (confidently, not an
            outlier), so its pose lies on (or, where its bone cannot reach, near) its
            detection's viewing ray; False while carried. None when not known.
    """

    index: int
    pose: np.ndarray
    confidence: np.ndarray
    timestamp: float | None = None
    observed: np.ndarray | None = None


@dataclass
class _Solved:
    """A solved frame waiting in the lookahead buffer: what placing it in 3D needs."""

    index: int
    timestamp: float | None
    d: np.ndarray  # (B, 2) bone 2D vectors, metres
    m: np.ndarray  # (B,) depth magnitude of each bone
    signs: SignStep  # the sign filter's output for this frame
    root: np.ndarray  # (3,) neck position, camera frame metres
    conf: np.ndarray  # (76,) output confidence
    rays: np.ndarray  # (76, 3) viewing ray of every joint (x/z, y/z, 1), carried joints included
    lengths: np.ndarray  # (B,) bone lengths used
    observed: np.ndarray  # (76,) bool: detected (confidently, not an outlier) in this frame


class StreamingUplifter:
    """Streaming sliding-window uplift: one 2D frame in, one 3D frame out.

    Receptive field: all past frames (bone lengths use the last ``length_history``);
    lookahead: ``config.lookahead`` frames (the output lags the input by that many).
    """

    def __init__(
        self, config: UpliftConfig = UpliftConfig(), skeleton: Skeleton = HOLISTIC75, bone_lengths: np.ndarray | None = None
    ) -> None:
        """Args:
            config: settings.
            skeleton: must be holistic75.
            bone_lengths: optional known rig, (B,) metres in ``UpliftTree`` bone order (see
                :meth:`UpliftTree.bone_lengths_of`); NaN entries are estimated online.
        """
        self.config = config
        self.tree = default_tree() if skeleton is HOLISTIC75 else UpliftTree(skeleton)
        if bone_lengths is not None and np.shape(bone_lengths) != self.tree.prior.shape:
            raise ValueError(f"bone_lengths: expected shape {self.tree.prior.shape}, got {np.shape(bone_lengths)}")
        known = None if bone_lengths is None else np.asarray(bone_lengths, np.float64)
        self.estimator = LengthEstimator(self.tree, config, known)  # bone lengths and scale
        self.signs = SignFilter(self.tree, config)  # depth signs
        self.reset()

    @property
    def lookahead(self) -> int:
        """Frames between the newest input and the emitted output."""
        return self.config.lookahead

    @property
    def bone_lengths(self) -> np.ndarray:
        """(B,) the current bone-length estimate, metres, in ``UpliftTree`` bone order."""
        return self.estimator.lengths.copy()

    @property
    def camera(self) -> tuple[np.ndarray, float]:
        """(image centre (2,), focal length) in pixels, as assumed for the frames pushed so far.

        Raises:
            RuntimeError: no frame was pushed since the last reset.
        """
        if self._centre is None or self._focal is None:
            raise RuntimeError("the camera is set by the first pushed frame")
        return self._centre, self._focal

    def reset(self) -> None:
        """Forget everything (a new person or a cut in the video)."""
        t = self.tree
        self.estimator.reset()
        self.signs.reset()
        self._prev_xy: np.ndarray | None = None  # (76, 2) metres, last solved 2D (incl. carried)
        self._prev_d: np.ndarray | None = None
        self._seen = np.zeros(t.num_joints, dtype=bool)
        self._last_conf = np.zeros(t.num_joints)
        self._missing_for = np.zeros(t.num_joints)
        self._centre: np.ndarray | None = None
        self._focal: float | None = None
        self._buffer: deque[_Solved] = deque()
        self._count = 0

    # ----------------------------------------------------------------------------------
    def push(
        self,
        keypoints: np.ndarray,
        timestamp: float | None = None,
        depth: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> UpliftFrame | None:
        """Add one 2D frame; return the frame ``lookahead`` behind it (None while filling).

        Args:
            keypoints: (75, 3) x px, y px, confidence (0 = missing). A dropped frame is all
                confidence 0: every joint is then carried from the previous frame.
            timestamp: passed through to the output.
            depth: optional (75,) relative depth hint in pixels (smaller = nearer), NaN unknown.
            image_size: (width, height); sets the image centre and the default focal length.

        Raises:
            ValueError: keypoints (or depth) of the wrong shape.
        """
        kp = np.asarray(keypoints)
        if kp.shape != (75, 3):
            raise ValueError(f"expected keypoints of shape (75, 3), got {kp.shape}")
        if depth is not None and np.shape(depth) != (75,):
            raise ValueError(f"expected depth of shape (75,), got {np.shape(depth)}")
        if self._centre is None or image_size is not None:
            self._set_camera(image_size, kp)
        solved = self._solve(kp, depth, timestamp)
        self._buffer.append(solved)
        self._count += 1
        if len(self._buffer) > self.lookahead:
            return self._emit()
        return None

    def flush(self) -> list[UpliftFrame]:
        """Emit the frames still held back by the lookahead (end of a stream)."""
        if self.config.soft_signs or self.lookahead == 0:
            return [self._emit() for _ in range(len(self._buffer))]  # each smoothed over what is left
        return [self._emit(st) for st in backtrack([f.signs for f in self._buffer], self.tree)]

    # ----------------------------------------------------------------------------------
    def _set_camera(self, image_size: tuple[int, int] | None, kp: np.ndarray) -> None:
        if image_size is None:
            finite = kp[kp[:, 2] > 0, :2]
            w = float(np.nanmax(finite[:, 0]) * 1.2) if len(finite) else 1280.0
            h = float(np.nanmax(finite[:, 1]) * 1.2) if len(finite) else 720.0
            image_size = (int(max(w, 64)), int(max(h, 64)))
        self._centre = np.array([image_size[0] / 2.0, image_size[1] / 2.0])
        self._focal = self.config.focal_length(image_size)

    def _solve(self, kp: np.ndarray, depth: np.ndarray | None, timestamp: float | None) -> _Solved:
        """Scale, outliers, 2D bones, bone lengths and depth signs of one new frame."""
        t, cfg = self.tree, self.config
        xy_px, c_raw = keypoints_with_neck(kp, 0.0)
        c = np.where(c_raw >= cfg.min_confidence, c_raw, 0.0)

        s = self.estimator.scale(xy_px, c)
        xy = (xy_px - self._centre) / s  # (76, 2) metres at the subject's depth
        if self._seen.any():  # a jump is measured from where a joint was; before any detection there is no such place
            c = self._drop_outliers(xy, c)
        observed = c > 0
        # A joint never seen confidently is still placed from its weak detections (at its
        # parent's depth), so every joint the input ever saw comes out finite.
        weak = (c_raw > 0) & ~observed & ~self._seen & np.isfinite(xy).all(-1)

        # Bone 2D vectors: a joint seen now sits where it was seen; a missing one hangs off
        # its nearest seen ancestor (or the root) through the bones carried from the last frame.
        b = len(t.children)
        prev_d = self._prev_d if self._prev_d is not None else np.zeros((b, 2))
        root_xy = self._root_xy(xy, observed, observed | weak)
        here = observed | weak  # (J+1,) joints placed from this frame's 2D
        anchor = here.copy()
        anchor[NECK] = True
        nearest = t.deepest_anchor(anchor)  # (J+1,) deepest anchored ancestor-or-self
        base = np.where(here[:, None], xy, 0.0)  # (J+1, 2)
        base[NECK] = root_xy
        carried = t.ancestors @ prev_d  # (J+1, 2): root -> joint sum of the carried bones
        pos = base[nearest] + (carried - carried[nearest])  # (J+1, 2)
        d = np.where(here[t.children][:, None], pos[t.children] - pos[t.bone_parent], prev_d)  # (B, 2)
        valid = observed[t.children] & observed[t.bone_parent]
        if valid.any():
            self.estimator.update(d, valid)
        lengths = self.estimator.lengths
        l2d = np.sqrt(np.add.reduce(d * d, axis=-1))
        over = l2d > lengths
        # Clip 2D bones that exceed their 3D length (noise): keep direction, shorten.
        d = np.where(over[:, None], d * (lengths / np.maximum(l2d, 1e-9))[:, None], d)
        m = np.sqrt(np.maximum(lengths**2 - np.minimum(l2d, lengths) ** 2, 0.0))

        m = np.where(weak[t.children], 0.0, m)
        signs = self.signs.step(d, m, depth, s, observed, lengths)
        self._prev_d = d

        # Confidence of the output: observation, decaying while carried.
        self._seen |= observed | weak
        self._missing_for = np.where(observed | weak, 0.0, self._missing_for + 1)
        self._last_conf = np.where(observed | weak, np.maximum(c, c_raw * weak), self._last_conf)
        conf = np.where(self._seen, self._last_conf * 0.5 ** (self._missing_for / cfg.carry_half_life), 0.0)

        depth_root = self._focal / s
        root = np.array([pos[NECK, 0], pos[NECK, 1], depth_root])
        rays = np.concatenate([pos * (s / self._focal), np.ones((t.num_joints, 1))], axis=-1)  # (76, 3)
        self._prev_xy = pos[NECK] + t.ancestors @ d  # (J+1, 2) from the (clipped) bones, for the next frame's jump test
        return _Solved(self._count, timestamp, d, m, signs, root, conf, rays, lengths.copy(), observed)

    def _root_xy(self, xy: np.ndarray, observed: np.ndarray, here: np.ndarray) -> np.ndarray:
        """(2,) metres: where the neck (the root) is in this frame.

        Args:
            xy: (76, 2) this frame's joints, metres from the image centre (NaN = missing).
            observed: (76,) bool, detected confidently now.
            here: (76,) bool, placed from this frame's 2D (observed, or weakly detected
                and never seen before).

        Detected now, or detected below the confidence floor while never yet seen: where it
        was detected. Seen before: carried from the last frame. Never seen (one shoulder in
        view, as when someone steps in from the image's edge): the shoulder in view, half a
        shoulder width from the truth; with neither shoulder, the mean of the joints placed
        from this frame. The guess is made afresh each frame until the neck is seen. Not the
        image centre, which for a person off the centre is far from every joint: the bones
        from the root would be clipped to length, and the next frame's detections would look
        like jumps from where the clipped bones put them.
        """
        if observed[NECK] or (not self._seen[NECK] and np.isfinite(xy[NECK]).all()):
            return xy[NECK]
        if self._seen[NECK] and self._prev_xy is not None:
            return self._prev_xy[NECK]
        shoulders = np.array([11, 12])[here[[11, 12]]]
        if len(shoulders) or here.any():
            return xy[shoulders if len(shoulders) else here].mean(0)
        return self._prev_xy[NECK] if self._prev_xy is not None else np.zeros(2)

    def _drop_outliers(self, xy: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``c`` (76,) with 0 for the outliers among the joints at ``xy`` (76, 2) metres.

        An outlier is a joint that jumped far since the last frame, or jumped and now
        makes one of its bones too long (a detector's one-frame mistake, not motion).
        """
        t, cfg = self.tree, self.config
        step = xy - self._prev_xy
        jump = np.sqrt(np.add.reduce(step * step, axis=-1))  # (J+1,) metres moved since the last frame
        bone = xy[t.children] - xy[t.bone_parent]
        bone_len = np.sqrt(np.add.reduce(bone * bone, axis=-1))
        long = (bone_len > cfg.outlier_ratio * self.estimator.lengths + 0.02) & (c[t.children] > 0) & (c[t.bone_parent] > 0)
        too_long = np.zeros(t.num_joints, dtype=bool)
        # Blame the end of an over-long bone that moved more since the last frame.
        pj, cj = t.bone_parent[long], t.children[long]
        blame = np.where(_finite_or_zero(jump[cj]) >= _finite_or_zero(jump[pj]), cj, pj)
        too_long[blame] = True
        outlier = (c > 0) & ((jump > cfg.max_jump_m) | (too_long & (jump > 0.05)))
        outlier[NECK] = False
        if outlier.any():
            c = np.where(outlier, 0.0, c)
            if outlier[11] or outlier[12]:
                c[NECK] = 0.0
        return c

    def _emit(self, state: np.ndarray | None = None) -> UpliftFrame:
        """Pop the oldest buffered frame; with lookahead its signs use the frames after it.

        Soft signs: the posterior mean sign given the frames up to the newest (forward-
        backward over the buffer; causal: the filtered posterior). Hard signs: Viterbi
        back-tracking from the newest frame.
        """
        cfg = self.config
        if cfg.soft_signs:
            if len(self._buffer) > 1:
                soft = smoothed_soft([f.signs for f in self._buffer], self.tree, cfg.sign_temperature)
            else:
                soft = self._buffer[0].signs.soft
            frame = self._buffer.popleft()
            sign = soft
        else:
            if state is None and self.lookahead > 0:
                state = backtrack([f.signs for f in self._buffer], self.tree)[0]
            frame = self._buffer.popleft()
            sign = frame.signs.sign if state is None else state
        if cfg.perspective:
            pos = perspective_positions(self.tree, frame.rays, frame.lengths, frame.m, frame.root, sign, cfg.rigid_soft_signs)
        else:
            pos = weak_perspective_positions(self.tree, frame.root, frame.d, frame.m, sign)
        pose = pos[:75].astype(np.float32)
        conf = frame.conf[:75].astype(np.float32)
        pose[conf <= 0] = np.nan
        return UpliftFrame(frame.index, pose, conf, frame.timestamp, frame.observed[:75].copy())


def stack_frames(frames: list[UpliftFrame], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 75, 3) poses and (n, 75) confidences of ``frames`` by their index; NaN / 0 where none came."""
    poses = np.full((n, 75, 3), np.nan, dtype=np.float32)
    conf = np.zeros((n, 75), dtype=np.float32)
    for f in frames:
        poses[f.index], conf[f.index] = f.pose, f.confidence
    return poses, conf


def fill_unestimated(poses: np.ndarray) -> None:
    """Fill, in place, the frames in which a joint the input saw has no estimate.

    Those are the frames before its first estimate (a stream cannot know them) and, after
    the cleaner started afresh for a new person (``CleanerConfig.forget_after_s``), the
    frames until the joint is seen again. Each takes the joint from the nearest earlier
    estimated frame (the first one for frames before it), keeping its offset from the
    body's centre (mean of the joints estimated in both frames), so every joint the input
    ever saw is finite in every frame.
    """
    finite = np.isfinite(poses).all(-1)  # (T, J)
    for j in np.nonzero(finite.any(0) & ~finite.all(0))[0]:
        have = np.flatnonzero(finite[:, j])
        for t in np.flatnonzero(~finite[:, j]):
            k = np.searchsorted(have, t)
            src = int(have[k - 1] if k > 0 else have[0])  # the last estimate before t, else the first after
            common = finite[t] & finite[src]
            shift = poses[t, common].mean(0) - poses[src, common].mean(0) if common.any() else 0.0
            poses[t, j] = poses[src, j] + shift


def uplift_streaming(seq: KeypointSequence, config: UpliftConfig = UpliftConfig()) -> PoseSequence:
    """Run :class:`StreamingUplifter` over a whole sequence (what ``skeletor clean --no-refine`` does)."""
    up = StreamingUplifter(config)
    frames = []
    for i in range(len(seq)):
        out = up.push(seq.keypoints[i], i / seq.fps, None if seq.depth is None else seq.depth[i], seq.image_size)
        if out is not None:
            frames.append(out)
    frames += up.flush()
    poses, conf = stack_frames(frames, len(seq))
    fill_unestimated(poses)
    return PoseSequence(poses, conf, seq.fps, "holistic75", seq.keypoints)
