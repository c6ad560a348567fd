"""Helpers for the refiner tests: real-data windows and non-trivial random models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from skeletor.refiner.model import NormalisedRefiner


def perturbed(model: "NormalisedRefiner", seed: int = 0, std: float = 0.05) -> "NormalisedRefiner":
    """``model`` with its zero-initialised output layer made random, so the output depends on
    the input, and every other parameter moved a little off its initial value, so that no two
    are equal (layer norms at 1, biases at 0) and a graph that swapped two of them would answer
    differently."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.core.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
        for p in model.core.head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
        model.core.mask_value.copy_(torch.randn(model.core.mask_value.shape, generator=g) * 0.3)
    return model.eval()


def phoenix_window(
    phoenix: dict, window: int, split: str = "test", seq: int = 0, start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(poses (1, T, 75, 3) float32 with NaN for absent joints, present (1, T, 75) bool) from real data."""
    poses, present = phoenix[split][seq]
    return poses[None, start : start + window].copy(), present[None, start : start + window].copy()
