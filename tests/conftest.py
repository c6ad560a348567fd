"""Shared fixtures: the real-data folder and a seeded random generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets import DataNotFoundError, data_root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` (or ``$SKELETOR_DATA``); skips the test when it is absent."""
    try:
        return data_root()
    except DataNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, so every test run sees the same random draws."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def phoenix_upper50(data_dir: Path) -> list[np.ndarray]:
    """The Phoenix14T test skeletons as (T, 50, 3) float32 upper50 arrays, shoulder width ~1
    (the loader's ``meta["upper50"]``: the file's joints x 3, in the camera frame)."""
    from skeletor.datasets.phoenix import load_phoenix

    return [m.meta["upper50"] for m in load_phoenix("test", data_dir / "ptslp_phoenix14t")]
