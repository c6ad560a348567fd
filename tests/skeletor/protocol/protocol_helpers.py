"""Shared helpers of the protocol tests (tests/ has no packages: imported as ``protocol_helpers``)."""

from __future__ import annotations

import numpy as np

from skeletor.protocol import PoseFrame

T_CAPTURE = 1_700_000_000_123_456_789
T_SEND = 1_700_000_000_130_000_000


def make_frame(rng: np.random.Generator, seq: int = 7, raw: bool = True, missing: int | None = 5) -> PoseFrame:
    joints = rng.normal(0.0, 0.5, (75, 3)).astype(np.float32) + np.array([0, 0, 2.5], np.float32)
    conf = rng.uniform(0.2, 1.0, 75).astype(np.float32)
    if missing is not None:
        joints[missing] = np.nan
        conf[missing] = 0.0
    raw_joints = joints + rng.normal(0, 0.01, (75, 3)).astype(np.float32) if raw else None
    return PoseFrame(seq, T_CAPTURE, joints, conf, raw_joints, {"detect": 12.3456, "uplift": 0.5, "refine": 2.25})
