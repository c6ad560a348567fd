"""Fixtures for the refiner tests: real Phoenix14T 3D sequences on holistic75."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from refiner_helpers import read_phoenix


@pytest.fixture(scope="session")
def phoenix(data_dir: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The Phoenix14T train / dev / test splits (5 sequences each)."""
    root = data_dir / "ptslp_phoenix14t"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return {split: read_phoenix(root / f"{split}.skels") for split in ("train", "dev", "test")}
