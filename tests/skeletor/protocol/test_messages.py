"""The messages: PoseFrame and Subscribe check what they hold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from skeletor.protocol import PoseFrame, Subscribe


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


# Rates a subscription must refuse: below 0.1 Hz (a frame interval that overflows int(1e9 / rate)
# for the smallest floats), above 1000 Hz, not finite, negative, or not a JSON number.
BAD_RATES: list[Any] = [1e-300, 1e-310, 5e-324, 0.0999, 0, -1, -0.0, 1000.001, 1e9, math.inf, -math.inf, math.nan, 10**400, "10", True, False, [10], {}]


@pytest.mark.parametrize("rate", BAD_RATES, ids=repr)
def test_subscribe_refuses_rates_outside_the_documented_range(rate: Any) -> None:
    with pytest.raises(ValueError, match=r"max_rate_hz must be null or a number in \[0\.1, 1000\] Hz"):
        Subscribe(max_rate_hz=rate)


@pytest.mark.parametrize("rate, interval_ns", [(None, None), (0.1, 10_000_000_000), (1000, 1_000_000), (30, 33_333_333), (1e3, 1_000_000)])
def test_subscribe_accepts_the_documented_range_and_states_its_frame_interval(rate: float | None, interval_ns: int | None) -> None:
    sub = Subscribe(max_rate_hz=rate)
    assert sub.max_rate_hz == (None if rate is None else float(rate))
    assert sub.min_interval_ns == interval_ns


def test_subscribe_refuses_fields_that_are_not_names() -> None:
    for fields in (3, None, [1], ["joints", None], "joints"):
        with pytest.raises(ValueError, match="fields"):
            Subscribe(fields=fields)  # type: ignore[arg-type]
