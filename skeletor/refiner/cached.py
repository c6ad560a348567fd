"""A cached (banded) refiner's streaming step: each stream's key/value cache and one step a frame.

A model trained with ``RefinerConfig.band = w`` lets frame i attend to frames i-w..i in
every layer and normalises each frame by the statistics of the window ending at it, so a
frame's keys and values never change once computed. Its ONNX file (layout 3,
``skeletor.refiner.graph.refiner_step_graph``) takes the newest frame and each layer's keys
and values of the last ``w`` frames, and returns the frame refined and the cache shifted
by one. :class:`StepCache` holds a stream's cache; :func:`step` runs one such call for
several streams at once (people batched). The answers equal the torch model's on the whole
stream (``tests/skeletor/refiner/test_cached.py``).

Layout: windows (B, T, J, 3) float32 camera frame, any unit; caches (L, B, H, w, hd).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skeletor.refiner.windows import normalise_windows

__all__ = ["StepCache", "step"]


class StepCache:
    """A stream's keys and values for a cached (banded) model, one set per lane (``body``, ``hands``).

    Each lane holds ``keys`` and ``values`` (L, 1, H, w, hd) and ``present`` (1, w): which
    slots hold a frame (0 before the stream's start). Advanced by one model call per staged frame.

    Args:
        layers, heads, band, head_dims: the model's (L, H, w, hd), from its step graph's inputs.
    """

    def __init__(self, layers: int, heads: int, band: int, head_dims: int) -> None:
        self.shape = (layers, 1, heads, band, head_dims)
        self.lanes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def get(self, lane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, values, present) of ``lane``; empty at a stream's start."""
        if lane not in self.lanes:
            empty = np.zeros(self.shape, np.float32)
            self.lanes[lane] = (empty, empty, np.zeros((1, self.shape[3]), np.float32))
        return self.lanes[lane]

    def put(self, lane: str, keys: np.ndarray, values: np.ndarray) -> None:
        """Store a step's new keys and values; one more slot now holds a frame."""
        present = self.get(lane)[2]
        self.lanes[lane] = (keys, values, np.concatenate([present[:, 1:], np.ones((1, 1), np.float32)], axis=1))


def step(session: Any, poses: np.ndarray, present: np.ndarray, caches: list[StepCache], lane: str = "body") -> np.ndarray:
    """One call of a layout-3 ``session`` (an ``onnxruntime.InferenceSession``): each window's
    newest frame through the layers with its stream's cache, which the call advances.

    The frame is normalised by its window's statistics (:func:`normalise_windows`): the
    window ending at the newest frame is the one the model was trained to normalise it by.

    Args:
        session: the step graph's session.
        poses: (B, T, J, 3) float32 camera-frame windows, oldest frame first.
        present: (B, T, J) float32 confidence.
        caches: each window's stream cache (B of them, distinct).
        lane: which of the caches' lanes this call steps.

    Returns:
        (B, J, 3) float32: each newest frame refined, camera frame.

    Raises:
        ValueError: not one cache per window.
    """
    if len(caches) != len(poses):
        raise ValueError(f"a cached refiner needs each window's stream cache ({len(caches)} for {len(poses)} windows)")
    x, ok, root, scale = normalise_windows(poses, present, newest_only=True)  # (B, 1, J, 3), (B, T, J), (B, 3), (B,)
    held = [c.get(lane) for c in caches]
    keys = np.concatenate([h[0] for h in held], axis=1)  # (L, B, H, w, hd)
    values = np.concatenate([h[1] for h in held], axis=1)
    past = np.concatenate([h[2] for h in held], axis=0)  # (B, w)
    y, keys, values = session.run(None, {
        "normalised": x[:, -1], "present": ok[:, -1],
        "past_keys": keys, "past_values": values, "past_present": past,
    })  # fmt: skip
    for b, cache in enumerate(caches):
        cache.put(lane, keys[:, b : b + 1], values[:, b : b + 1])
    return y * scale[:, None, None] + root[:, None]  # (B, J, 3)
