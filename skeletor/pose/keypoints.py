"""Keypoint (input) and pose (output) sequences, and their ``.npz`` file formats.

The formats are specified in ``docs/formats.md``; this module is the one place that
reads and writes them.

Input ``.npz`` (2D keypoints, what a detector gives)::

    keypoints   float32 (T, 75, 3)  x pixel, y pixel (origin top-left, y down), confidence in [0, 1]
                                    confidence 0 = missing; its x, y may be NaN
    fps         float scalar
    image_size  int (2,)            width, height in pixels
    skeleton    str                 "holistic75"
    depth       float32 (T, 75)     optional: a detector's relative depth hint (MediaPipe z,
                                    same scale as x in pixels, smaller = nearer the camera)

Output ``.npz`` (3D poses)::

    poses3d     float32 (T, 75, 3)  camera frame: x right, y down, z forward; metres under an
                                    assumed adult body size (relative scale: skeletor.uplift.lengths)
    confidence  float32 (T, 75)     detection confidence; decays while a joint is carried through a
                                    gap, 0 where it was not observed (its position is then an
                                    estimate); a joint never seen in the whole input is NaN
    skeleton    str
    fps         float scalar
    keypoints   float32 (T, 75, 3)  optional: the 2D detections that were uplifted
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skeletor.pose.skeleton import get_skeleton

__all__ = ["KeypointFormatError", "KeypointSequence", "PoseSequence", "load_keypoints", "save_keypoints", "load_poses", "save_poses"]

log = logging.getLogger(__name__)


class KeypointFormatError(ValueError):
    """A keypoint or pose file is unreadable or does not match the documented format."""


@dataclass
class KeypointSequence:
    """A 2D keypoint sequence in pixels.

    Attributes:
        keypoints: (T, J, 3) float32: x px, y px, confidence (0 = missing, x, y NaN).
        fps: frames per second.
        image_size: (width, height) in pixels.
        skeleton: layout name, e.g. ``"holistic75"``.
        depth: optional (T, J) float32 relative depth hint (smaller = nearer), NaN where unknown.
        name: a label for messages (file name, clip id).
    """

    keypoints: np.ndarray
    fps: float
    image_size: tuple[int, int]
    skeleton: str = "holistic75"
    depth: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        j = get_skeleton(self.skeleton).num_joints
        k = np.asarray(self.keypoints)
        if k.ndim != 3 or k.shape[1:] != (j, 3):
            raise KeypointFormatError(f"keypoints: expected (T, {j}, 3) for {self.skeleton}, got {k.shape}")
        self.keypoints = k.astype(np.float32, copy=False)
        if self.depth is not None:
            d = np.asarray(self.depth, dtype=np.float32)
            if d.shape != k.shape[:2]:
                raise KeypointFormatError(f"depth: expected {k.shape[:2]}, got {d.shape}")
            self.depth = d
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise KeypointFormatError(f"fps must be a positive number, got {self.fps}")

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        """(T, J) confidence; 0 where missing (NaN coordinates count as missing)."""
        c = self.keypoints[..., 2]
        return np.where(np.isfinite(self.keypoints[..., :2]).all(-1) & np.isfinite(c), c, 0.0).astype(np.float32)


@dataclass
class PoseSequence:
    """A 3D pose sequence in the camera frame (x right, y down, z forward).

    Attributes:
        poses3d: (T, J, 3) float32, metres under an assumed body size (relative scale).
        confidence: (T, J) float32; decays while carried through a gap, 0 where not observed;
            joints never seen in the whole input have NaN coordinates.
        fps: frames per second.
        skeleton: layout name.
        keypoints: optional (T, J, 3) 2D detections that were uplifted.
    """

    poses3d: np.ndarray
    confidence: np.ndarray
    fps: float
    skeleton: str = "holistic75"
    keypoints: np.ndarray | None = None

    def __post_init__(self) -> None:
        j = get_skeleton(self.skeleton).num_joints
        p = np.asarray(self.poses3d, dtype=np.float32)
        if p.ndim != 3 or p.shape[1:] != (j, 3):
            raise KeypointFormatError(f"poses3d: expected (T, {j}, 3), got {p.shape}")
        c = np.asarray(self.confidence, dtype=np.float32)
        if c.shape != p.shape[:2]:
            raise KeypointFormatError(f"confidence: expected {p.shape[:2]}, got {c.shape}")
        self.poses3d, self.confidence = p, c


def _scalar(z: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    if key not in z.files:
        raise KeypointFormatError(f"{path}: missing array {key!r} (has {sorted(z.files)})")
    return z[key]


def load_keypoints(path: str | os.PathLike[str]) -> KeypointSequence:
    """Read an input keypoint ``.npz``.

    Args:
        path: the file.

    Returns:
        The validated sequence.

    Raises:
        KeypointFormatError: unreadable file, missing array, wrong shape or unknown skeleton.
    """
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise KeypointFormatError(f"{path}: not a readable .npz file ({e})") from e
    with z:
        skeleton = str(_scalar(z, "skeleton", path)) if "skeleton" in z.files else "holistic75"
        try:
            get_skeleton(skeleton)
        except KeyError as e:
            raise KeypointFormatError(f"{path}: {e.args[0]}") from None
        kp = _scalar(z, "keypoints", path)
        fps = float(_scalar(z, "fps", path))
        size = np.asarray(_scalar(z, "image_size", path)).astype(np.int64).reshape(-1)
        if size.shape != (2,):
            raise KeypointFormatError(f"{path}: image_size must be (width, height), got {size}")
        depth = z["depth"] if "depth" in z.files else None
        try:
            return KeypointSequence(kp, fps, (int(size[0]), int(size[1])), skeleton, depth, name=path.name)
        except KeypointFormatError as e:
            raise KeypointFormatError(f"{path}: {e}") from None


def save_keypoints(path: str | os.PathLike[str], seq: KeypointSequence) -> None:
    """Write an input keypoint ``.npz`` (see the module docstring for the layout)."""
    arrays = dict(
        keypoints=seq.keypoints.astype(np.float32),
        fps=np.float64(seq.fps),
        image_size=np.asarray(seq.image_size, dtype=np.int64),
        skeleton=np.str_(seq.skeleton),
    )
    if seq.depth is not None:
        arrays["depth"] = seq.depth.astype(np.float32)
    _atomic_savez(Path(path), arrays)


def load_poses(path: str | os.PathLike[str]) -> PoseSequence:
    """Read an output pose ``.npz``; raises ``KeypointFormatError`` when it does not fit the format."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise KeypointFormatError(f"{path}: not a readable .npz file ({e})") from e
    with z:
        kp = z["keypoints"] if "keypoints" in z.files else None
        try:
            return PoseSequence(
                _scalar(z, "poses3d", path),
                _scalar(z, "confidence", path),
                float(_scalar(z, "fps", path)),
                str(_scalar(z, "skeleton", path)),
                kp,
            )
        except KeypointFormatError as e:
            raise KeypointFormatError(f"{path}: {e}") from None


def save_poses(path: str | os.PathLike[str], seq: PoseSequence) -> None:
    """Write an output pose ``.npz`` (see the module docstring for the layout)."""
    arrays = dict(
        poses3d=seq.poses3d.astype(np.float32),
        confidence=seq.confidence.astype(np.float32),
        skeleton=np.str_(seq.skeleton),
        fps=np.float64(seq.fps),
    )
    if seq.keypoints is not None:
        arrays["keypoints"] = seq.keypoints.astype(np.float32)
    _atomic_savez(Path(path), arrays)


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file next to ``path`` and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    log.debug("wrote %s", path)
