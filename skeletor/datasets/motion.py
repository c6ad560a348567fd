"""``Motion``: a 3D joint sequence in ``holistic75``, what the 3D loaders return.

Conventions (see DEVELOPERS.md):

* ``positions`` is ``(T, 75, 3)`` float32; a joint the source does not have is NaN with
  ``confidence`` 0, a joint it has is finite with confidence 1.
* ``units`` is ``"m"`` (metric: the loader converted the file's units once) or
  ``"relative"`` (normalised data with no metric scale, e.g. shoulder width = 1).
* ``frame`` is ``"world_y_up"`` (mocap world frame as in the file, right-handed, y up;
  ``skeletor.pose.camera`` turns it into a camera frame) or ``"camera_y_down"`` (camera frame:
  x right, y down, z forward away from the camera, right-handed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75

__all__ = ["Motion", "UNITS", "FRAMES"]

UNITS: tuple[str, ...] = ("m", "relative")
FRAMES: tuple[str, ...] = ("world_y_up", "camera_y_down")


@dataclass
class Motion:
    """A 3D holistic75 joint sequence from a dataset.

    Attributes:
        positions: (T, 75, 3) float32; NaN where the source lacks the joint.
        confidence: (T, 75) float32; 1 present, 0 missing.
        fps: frames per second.
        name: a label for messages (clip or file name).
        units: ``"m"`` or ``"relative"`` (see the module docstring).
        frame: ``"world_y_up"`` or ``"camera_y_down"`` (see the module docstring).
        meta: free-form extras (text, gloss, labels, source path, raw joints, ...).
    """

    positions: np.ndarray
    confidence: np.ndarray
    fps: float
    name: str
    units: str
    frame: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        j = HOLISTIC75.num_joints
        p = np.asarray(self.positions, dtype=np.float32)
        if p.ndim != 3 or p.shape[1:] != (j, 3):
            raise ValueError(f"{self.name}: positions: expected (T, {j}, 3), got {p.shape}")
        c = np.asarray(self.confidence, dtype=np.float32)
        if c.shape != p.shape[:2]:
            raise ValueError(f"{self.name}: confidence: expected {p.shape[:2]}, got {c.shape}")
        if self.units not in UNITS:
            raise ValueError(f"{self.name}: units must be one of {UNITS}, got {self.units!r}")
        if self.frame not in FRAMES:
            raise ValueError(f"{self.name}: frame must be one of {FRAMES}, got {self.frame!r}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"{self.name}: fps must be a positive number, got {self.fps}")
        finite = np.isfinite(p).all(-1)
        if np.any(finite != (c > 0)):
            raise ValueError(f"{self.name}: confidence must be 0 exactly where positions are NaN")
        self.positions, self.confidence = p, c

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration_s(self) -> float:
        """Length in seconds (``T / fps``)."""
        return len(self) / float(self.fps)


def holistic_from_joints(
    source: np.ndarray, mapping: dict[int, int], name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter ``(T, S, 3)`` source joints into holistic75 arrays.

    Args:
        source: (T, S, 3) joint positions of the source skeleton.
        mapping: source joint index -> holistic75 index.
        name: label for error messages.

    Returns:
        ``(positions (T, 75, 3) float32, confidence (T, 75) float32)``; unmapped joints are
        NaN / 0, mapped joints get confidence 1 where their coordinates are finite.

    Raises:
        ValueError: ``source`` is not (T, S, 3) or a mapping index is out of range.
    """
    if source.ndim != 3 or source.shape[-1] != 3:
        raise ValueError(f"{name}: expected (T, S, 3) source joints, got {source.shape}")
    if mapping and (max(mapping) >= source.shape[1] or max(mapping.values()) >= HOLISTIC75.num_joints):
        raise ValueError(f"{name}: joint mapping does not fit {source.shape[1]} source joints")
    pos = np.full((source.shape[0], HOLISTIC75.num_joints, 3), np.nan, dtype=np.float32)
    src = np.fromiter(mapping.keys(), dtype=np.int64)
    dst = np.fromiter(mapping.values(), dtype=np.int64)
    pos[:, dst] = source[:, src]
    conf = np.isfinite(pos).all(-1).astype(np.float32)
    pos[conf == 0] = np.nan
    return pos, conf
