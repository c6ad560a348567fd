"""The Motion container: validation and the joint scatter helper (no data needed)."""

import numpy as np
import pytest

from skeletor.datasets.motion import Motion, holistic_from_joints


def _arrays(t: int = 4) -> tuple[np.ndarray, np.ndarray]:
    pos = np.full((t, 75, 3), np.nan, np.float32)
    conf = np.zeros((t, 75), np.float32)
    pos[:, :5] = 1.0
    conf[:, :5] = 1.0
    return pos, conf


def test_valid_motion_is_float32_and_knows_its_length() -> None:
    pos, conf = _arrays(6)
    m = Motion(pos.astype(np.float64), conf, 30.0, "x", "m", "world_y_up")
    assert m.positions.dtype == np.float32 and m.confidence.dtype == np.float32
    assert len(m) == 6 and m.duration_s == pytest.approx(0.2) and m.meta == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"positions": np.zeros((4, 50, 3))}, r"clip: positions: expected \(T, 75, 3\)"),
        ({"confidence": np.ones((4, 74))}, r"confidence: expected \(4, 75\)"),
        ({"units": "cm"}, "units must be one of"),
        ({"frame": "z_up"}, "frame must be one of"),
        ({"fps": 0.0}, "fps must be a positive"),
        ({"confidence": np.ones((4, 75))}, "confidence must be 0 exactly where positions are NaN"),
    ],
)
def test_bad_motion_says_what_was_expected(change: dict, message: str) -> None:
    pos, conf = _arrays()
    kwargs = dict(positions=pos, confidence=conf, fps=25.0, name="clip", units="relative", frame="camera_y_down")
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        Motion(**kwargs)


def test_holistic_from_joints_scatters_and_marks_the_rest_missing() -> None:
    src = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    src[1, 2] = np.nan  # a source joint missing in one frame
    pos, conf = holistic_from_joints(src, {0: 11, 2: 0}, "t")
    np.testing.assert_array_equal(pos[:, 11], src[:, 0])
    assert conf[0, 0] == 1 and conf[1, 0] == 0 and np.isnan(pos[1, 0]).all()
    assert conf.sum() == 3 and np.isnan(pos[:, 1:11]).all()
    with pytest.raises(ValueError, match="does not fit 3 source joints"):
        holistic_from_joints(src, {3: 0}, "t")
