"""The messages: PoseFrame and Subscribe check what they hold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from skeletor.protocol import PoseFrame


def test_pose_frame_checks_shapes_and_converts() -> None:
    seq: Any = np.int64(3)  # numpy integers are accepted too
    f = PoseFrame(seq, 10, np.zeros((75, 3), np.float64), np.ones(75, np.float64))
    assert f.joints.dtype == np.float32 and f.confidence.dtype == np.float32 and f.seq == 3 and type(f.seq) is int
    with pytest.raises(ValueError, match=r"\(75,\)"):
        PoseFrame(0, 0, np.zeros((75, 3)), np.ones(74))
    with pytest.raises(ValueError, match="J, 3"):
        PoseFrame(0, 0, np.zeros((75, 2)), np.ones(75))
    with pytest.raises(ValueError, match="seq"):
        PoseFrame(-1, 0, np.zeros((75, 3)), np.ones(75))
