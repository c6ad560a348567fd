"""A whole clip through the streaming rig solver (``export-bvh``, benchmarks, tests).

The clip is pushed frame by frame through the same :class:`RigSolver` a live stream uses.
Only the calibration differs where asked: ``calibration="clip"`` measures the rest rig
from the clip's medians first (offline, every frame is known), ``"stream"`` calibrates on
the first seconds exactly as live (frames before it have no rig).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from skeletor.rig.humanoid import NUM_BONES
from skeletor.rig.kinematics import RestRig
from skeletor.rig.solver import RigConfig, RigSolver

__all__ = ["RigClip", "solve_clip"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigClip:
    """A solved clip: one row per input frame.

    Attributes:
        hips_position: (T, 3) float64 metres, rig world.
        rotations: (T, B, 4) float64 local quaternions (x, y, z, w).
        valid: (T, B) bool, observed that frame (``RigFrame.valid``).
        emitted: (T,) bool, the solver gave a rig for the frame; other frames repeat the
            nearest earlier one (or the first one, before it).
        world_offset: (T, 3) float64 each frame's camera -> world shift (``RigFrame.world_offset``).
        rest: the rest rig (the final one if it changed during the clip).
        fps: frames per second.
        flips_guarded: the solver's flip guard count over the clip.
    """

    hips_position: np.ndarray
    rotations: np.ndarray
    valid: np.ndarray
    emitted: np.ndarray
    world_offset: np.ndarray
    rest: RestRig
    fps: float
    flips_guarded: int

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.emitted.shape[0])


def solve_clip(
    poses: np.ndarray,
    confidence: np.ndarray | None,
    fps: float,
    config: RigConfig | None = None,
    calibration: str = "clip",
) -> RigClip:
    """Solve every frame of a clip.

    Args:
        poses: (T, 75, 3) cleaned holistic75 points, camera frame, metres, NaN = missing.
        confidence: (T, 75) or None (every finite joint detected).
        fps: frames per second (> 0); timestamps are index / fps.
        config: solver settings (``fps`` is set from the argument; with ``"clip"``
            calibration the solver never starts afresh for a returning person, so the
            whole clip shares one rig).
        calibration: ``"clip"`` or ``"stream"`` (see the module docstring; a clip shorter
            than the live calibration is calibrated on all its frames).

    Returns:
        The solved clip.

    Raises:
        ValueError: bad shapes or fps, an unknown calibration, or no frame with both
            shoulders detected.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (75, 3):
        raise ValueError(f"poses: expected (T, 75, 3) holistic75 joints, got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("poses: no frames")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if calibration not in ("clip", "stream"):
        raise ValueError(f"calibration must be 'clip' or 'stream', got {calibration!r}")
    c = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    if c is not None and c.shape != p.shape[:2]:
        raise ValueError(f"confidence: expected shape {p.shape[:2]}, got {c.shape}")
    config = replace(config or RigConfig(), fps=float(fps))
    if calibration == "clip":
        config = replace(config, forget_after_s=math.inf)
    solver = RigSolver(config)
    if calibration == "clip":
        solver.calibrate(p, c)
    t = len(p)
    hips = np.zeros((t, 3))
    rot = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (t, NUM_BONES, 1))
    valid = np.zeros((t, NUM_BONES), dtype=bool)
    emitted = np.zeros(t, dtype=bool)
    offset = np.zeros((t, 3))
    for i in range(t):
        f = solver.push(p[i], None if c is None else c[i], i / fps)
        if f is None:
            continue
        hips[i], rot[i], valid[i], offset[i] = f.hips_position, f.rotations, f.valid, f.world_offset
        emitted[i] = True
    if not emitted.any():
        if calibration == "stream" and solver.calibrated is False and len(p) and _any_shoulders(p, c, config):
            log.warning("the clip is shorter than the live calibration (%.2f s): calibrating on the whole clip", config.calibration_s)
            return solve_clip(p, c, fps, config, calibration="clip")
        raise ValueError("no frame shows both shoulders detected: nothing to rig")
    # Frames without a rig repeat the nearest earlier one (the first one before it).
    idx = np.maximum.accumulate(np.where(emitted, np.arange(t), -1))
    idx = np.where(idx < 0, int(np.argmax(emitted)), idx)
    return RigClip(
        hips_position=hips[idx],
        rotations=rot[idx],
        valid=valid & emitted[:, None],
        emitted=emitted,
        world_offset=offset[idx],
        rest=solver.rest_rig,
        fps=float(fps),
        flips_guarded=solver.flips_guarded,
    )


def _any_shoulders(poses: np.ndarray, confidence: np.ndarray | None, config: RigConfig) -> bool:
    """True if some frame has both shoulders detected."""
    ok = np.isfinite(poses[:, [11, 12]]).all(-1)
    if confidence is not None:
        ok &= confidence[:, [11, 12]] >= config.min_confidence
    return bool(ok.all(-1).any())
