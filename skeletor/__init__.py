"""Skeletor Live's pure library: 2D keypoints -> streaming uplift -> Skeletor refiner -> 3D skeleton.

The folders follow the pipeline: ``pose`` (joint layouts, camera, keypoint files) ->
``uplift`` (2D to 3D with constant bone lengths) -> ``refiner`` (the transformer: model,
ONNX runtime, training) -> ``cleaner`` (the frame-by-frame cleaner both tools run) ->
``protocol`` (the wire codec) and ``io`` (recordings); ``eval`` measures it and
``datasets`` loads the third-party data. numpy and scipy, numba for the per-frame loops
(``compiled``), onnxruntime for the refiner (torch for training).

The names most programs need are importable from here (loaded on first use, so
``import skeletor`` stays cheap)::

    from skeletor import StreamingCleaner, CleanerConfig
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "StreamingCleaner": "skeletor.cleaner.stream",
    "CleanerConfig": "skeletor.cleaner.stream",
    "CleanFrame": "skeletor.cleaner.stream",
    "clean_sequence": "skeletor.cleaner.stream",
    "RuntimeConfig": "skeletor.refiner.runtime",
    "OnnxRefiner": "skeletor.refiner.runtime",
    "UpliftConfig": "skeletor.uplift",
    "StreamingUplifter": "skeletor.uplift",
    "KeypointSequence": "skeletor.pose.keypoints",
    "PoseSequence": "skeletor.pose.keypoints",
    "load_keypoints": "skeletor.pose.keypoints",
    "load_poses": "skeletor.pose.keypoints",
    "HOLISTIC75": "skeletor.pose.skeleton",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'skeletor' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
