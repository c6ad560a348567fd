"""Helpers for the refiner tests: a Phoenix14T reader, real-data windows, non-trivial random models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skeletor.skeleton import upper50_to_holistic75

if TYPE_CHECKING:
    from skeletor.refiner.model import NormalisedRefiner


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


def perturbed(model: "NormalisedRefiner", seed: int = 0, std: float = 0.05) -> "NormalisedRefiner":
    """``model`` with its zero-initialised output layer made random, so the output depends on the input."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.core.head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
        model.core.mask_value.copy_(torch.randn(model.core.mask_value.shape, generator=g) * 0.3)
    return model.eval()


def phoenix_window(phoenix: dict, window: int, split: str = "test", seq: int = 0, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(poses (1, T, 75, 3) float32 with NaN for absent joints, present (1, T, 75) bool) from real data."""
    poses, present = phoenix[split][seq]
    return poses[None, start : start + window].copy(), present[None, start : start + window].copy()
