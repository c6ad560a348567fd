"""Fixtures for the refiner tests: real Phoenix14T 3D sequences on holistic75."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.phoenix import load_phoenix


@pytest.fixture(scope="session")
def phoenix(data_dir: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Phoenix14T train / dev / test (5 sequences each): (poses (T, 75, 3) NaN = absent, present (T, 75))."""
    root = data_dir / "ptslp_phoenix14t"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return {
        split: [(m.positions, m.confidence > 0) for m in load_phoenix(split, root)] for split in ("train", "dev", "test")
    }
