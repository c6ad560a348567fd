"""Fixtures for the uplift tests: real mocap (Bandai-Namco) seen by seeded virtual cameras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.eval.views import ViewConfig, random_view


@pytest.fixture(scope="session")
def bandai_views(data_dir: Path):
    """Four test-split clips, each seen by a seeded random camera (clean 2D, 3D truth)."""
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    picks = [p for p in test if any(k in p.name for k in ("bow", "walk_", "punch", "bye_"))][:4]
    out = []
    for i, p in enumerate(picks):
        m = load_bandai(p)
        out.append(random_view(m.positions, m.fps, ViewConfig(), np.random.default_rng(i), name=p.stem))
    return out
