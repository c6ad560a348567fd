"""Fixtures for the refiner tests: real Phoenix14T 3D sequences on holistic75, and small models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.skeleton import upper50_to_holistic75


def read_phoenix(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read a Progressive-Transformers ``.skels`` file onto holistic75.

    One line per sequence, 151 floats per frame (50 joints x 3 + a counter), divided by
    3 when the data was made (see SOURCES.md). Returns per sequence (poses (T, 75, 3)
    float32 with NaN for the holistic joints upper50 lacks, present (T, 75) bool).
    """
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        v = np.array(line.split(), dtype=np.float32).reshape(-1, 151)  # (T, 151)
        upper = v[:, :150].reshape(-1, 50, 3) * 3.0  # (T, 50, 3)
        poses = upper50_to_holistic75(upper)  # (T, 75, 3), NaN where upper50 has no joint
        out.append((poses, np.isfinite(poses).all(-1)))
    return out


@pytest.fixture(scope="session")
def phoenix(data_dir: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The Phoenix14T train / dev / test splits (5 sequences each)."""
    root = data_dir / "ptslp_phoenix14t"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return {split: read_phoenix(root / f"{split}.skels") for split in ("train", "dev", "test")}
