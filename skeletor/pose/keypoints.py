"""Keypoint (input) and pose (output) sequences, and their ``.npz`` file formats.

The formats are specified in ``docs/formats.md``; this module is the one place that
reads and writes them.

Input ``.npz`` (2D keypoints, what a detector gives)::

    keypoints   float32 (T, 75, 3)  x pixel, y pixel (origin top-left, y down), confidence in [0, 1]
                                    confidence 0 = missing; its x, y may be NaN
    fps         float scalar        in [0.01, 10000]
    image_size  int (2,)            width, height in pixels, each in [1, 100000]
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

Output ``.pose`` (the ``pose-format`` library's file, read by sign-language tools):
:func:`save_pose_file` writes the same 3D poses as components ``POSE_LANDMARKS`` (33),
``LEFT_HAND_LANDMARKS`` and ``RIGHT_HAND_LANDMARKS`` (21 each) with MediaPipe's point names
and point format ``XYZC``; coordinates are the metres above (camera frame, x right, y down,
z forward), not pixels.

Value ranges: :class:`KeypointSequence` refuses an image size or fps outside the ranges
above (:class:`KeypointFormatError`); :func:`check_keypoint_ranges` brings confidences,
coordinates and depths into their documented ranges and says what it changed.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np

from skeletor.pose.skeleton import get_skeleton

__all__ = [
    "KeypointFormatError",
    "KeypointSequence",
    "PoseSequence",
    "load_keypoints",
    "save_keypoints",
    "load_poses",
    "save_poses",
    "save_pose_file",
    "check_keypoint_ranges",
    "MAX_IMAGE_SIDE_PX",
    "FPS_RANGE",
    "OFF_IMAGE_MARGIN",
]

log = logging.getLogger(__name__)

MAX_IMAGE_SIDE_PX: Final = 100_000  # largest accepted image width or height (pixels)
FPS_RANGE: Final = (0.01, 10_000.0)  # accepted frame rates (frames per second), inclusive
# A detected joint may lie outside the image (detectors extrapolate limbs beyond the frame),
# but not more than this many image widths (heights) beyond its left or right (top or bottom)
# edge: x in [-10 W, 11 W], y in [-10 H, 11 H]. Farther is a broken detection or a unit
# mistake, and uplifted it puts the person kilometres away.
OFF_IMAGE_MARGIN: Final = 10


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
        lo, hi = FPS_RANGE
        if not lo <= self.fps <= hi:  # NaN fails too
            raise KeypointFormatError(f"fps must be a number in [{lo:g}, {hi:g}], got {self.fps}")
        size = tuple(self.image_size) if isinstance(self.image_size, (tuple, list, np.ndarray)) else ()
        if len(size) != 2 or not all(_whole_pixels(s) for s in size):
            raise KeypointFormatError(
                f"image_size must be (width, height) in whole pixels, each in [1, {MAX_IMAGE_SIDE_PX}], got {self.image_size}"
            )
        self.image_size = (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        """(T, J) confidence; 0 where missing (NaN coordinates count as missing)."""
        c = self.keypoints[..., 2]
        return np.where(np.isfinite(self.keypoints[..., :2]).all(-1) & np.isfinite(c), c, 0.0).astype(np.float32)


def _whole_pixels(s: object) -> bool:
    """Whether ``s`` is an image side: a whole number of pixels in [1, MAX_IMAGE_SIDE_PX] (``1280.0`` counts)."""
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, float, np.integer, np.floating)):
        return False
    return bool(1 <= s <= MAX_IMAGE_SIDE_PX and float(s).is_integer())


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
        try:
            fps = float(_scalar(z, "fps", path))
        except (TypeError, ValueError):
            raise KeypointFormatError(f"{path}: fps must be a number, got {_scalar(z, 'fps', path)!r:.60}") from None
        size = np.asarray(_scalar(z, "image_size", path)).reshape(-1)
        if size.shape != (2,) or size.dtype.kind not in "iuf" or not np.all(np.isfinite(size)) or np.any(size != np.round(size)):
            raise KeypointFormatError(f"{path}: image_size must be (width, height) in whole pixels, got {size!r:.60}")
        depth = z["depth"] if "depth" in z.files else None
        try:
            return KeypointSequence(kp, fps, (int(size[0]), int(size[1])), skeleton, depth, name=path.name)
        except (KeypointFormatError, ValueError, TypeError) as e:  # (non-numeric arrays fail their float32 conversion)
            raise KeypointFormatError(f"{path}: {e}") from None


def check_keypoint_ranges(seq: KeypointSequence) -> tuple[KeypointSequence, list[str]]:
    """Bring a keypoint sequence into the documented value ranges, saying what was changed.

    Detectors and converters get these wrong in ways that would otherwise pass through the
    cleaner silently (a confidence of 5 in the output, a person 1e27 m away):

    - confidence: NaN counts as 0 (missing); below 0 is set to 0; above 1 is clipped to 1.
    - x, y of a detected joint (confidence > 0): a non-finite value, or one more than
      :data:`OFF_IMAGE_MARGIN` image sizes beyond the image's edges, makes the joint missing
      (confidence 0, x, y NaN).
    - depth: a non-finite value is unknown (NaN, as documented); one larger in magnitude
      than :data:`OFF_IMAGE_MARGIN` times the larger image side is made unknown too.

    Args:
        seq: the sequence as read.

    Returns:
        ``(checked, messages)``: ``seq`` itself when nothing was out of range (``messages``
        empty), else a corrected copy and one sentence per kind of change, with counts.
    """
    kp = seq.keypoints
    conf = kp[..., 2]
    xy = kp[..., :2]
    w, h = seq.image_size
    messages: list[str] = []
    with np.errstate(invalid="ignore"):
        nan_conf = np.isnan(conf)
        over, under = conf > 1.0, conf < 0.0  # (+-inf land here)
        fixed_conf = np.clip(np.where(nan_conf, 0.0, conf), 0.0, 1.0)
        detected = fixed_conf > 0
        non_finite = detected & ~np.isfinite(xy).all(-1)
        x, y = xy[..., 0], xy[..., 1]
        m = OFF_IMAGE_MARGIN
        far = detected & ~non_finite & ((x < -m * w) | (x > (m + 1) * w) | (y < -m * h) | (y > (m + 1) * h))
    if over.any():
        messages.append(f"{int(over.sum())} confidence value(s) above 1 (largest {float(conf[over].max()):g}) clipped to 1")
    if under.any():
        messages.append(f"{int(under.sum())} negative confidence value(s) (smallest {float(conf[under].min()):g}) set to 0: missing")
    if non_finite.any():
        messages.append(f"{int(non_finite.sum())} detected joint(s) with non-finite x or y made missing")
    if far.any():
        worst = float(np.abs(xy[far]).max())
        messages.append(
            f"{int(far.sum())} detected joint(s) more than {m} image sizes outside the {w}x{h} image "
            f"(|x| or |y| up to {worst:.3g} px) made missing"
        )
    depth = seq.depth
    if depth is not None:
        with np.errstate(invalid="ignore"):
            huge = np.abs(depth) > m * max(w, h)  # NaN compares False: it stays unknown
        if huge.any():
            messages.append(f"{int(huge.sum())} depth value(s) beyond {m * max(w, h)} px (|depth| up to {float(np.abs(depth[huge]).max()):.3g}) made unknown")
            depth = np.where(huge, np.nan, depth).astype(np.float32)
    if not messages:
        return seq, messages
    out = kp.copy()
    out[..., 2] = fixed_conf
    drop = non_finite | far
    out[drop] = (np.nan, np.nan, 0.0)
    return replace(seq, keypoints=out, depth=depth), messages


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


def save_pose_file(path: str | os.PathLike[str], seq: PoseSequence, image_size: tuple[int, int] = (0, 0)) -> None:
    """Write 3D poses as a ``.pose`` file (the ``pose-format`` library), for sign-language tools.

    Layout: components ``POSE_LANDMARKS`` (holistic75 joints 0-32), ``LEFT_HAND_LANDMARKS``
    (33-53) and ``RIGHT_HAND_LANDMARKS`` (54-74), with MediaPipe's point names
    (``LEFT_SHOULDER``, ``INDEX_FINGER_TIP``, ...) and the skeleton's bones inside each
    component as limbs; point format ``XYZC``; one person. Coordinates are metres in the
    camera frame (x right, y down, z forward), as in the ``.npz``. pose-format masks a
    point whose confidence is 0, so: a joint never seen (NaN) is written as 0, 0, 0 with
    confidence 0 (masked); a joint whose position the cleaner estimated where it was not
    observed (``.npz`` confidence 0, finite position) gets confidence 0.001, so readers keep
    the estimate; every other joint keeps its confidence.

    Args:
        path: the file to write (atomically: a temporary file, then a rename).
        seq: a holistic75 pose sequence.
        image_size: the source image's (width, height), stored as the header's dimensions
            (the coordinates are not pixels; the header has no field for units).

    Raises:
        ValueError: ``seq`` is not holistic75.
        OSError: the file cannot be written.
    """
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import VERSION, PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    skeleton = get_skeleton(seq.skeleton)
    if skeleton.name != "holistic75":
        raise ValueError(f"a .pose file is written for holistic75 poses, got {seq.skeleton!r}")
    components = []
    for name, first, count, color in _POSE_FILE_COMPONENTS:
        points = [_pose_file_point_name(skeleton.joints[j]) for j in range(first, first + count)]
        limbs = [(a - first, b - first) for a, b in skeleton.edges if first <= a < first + count and first <= b < first + count]
        components.append(PoseHeaderComponent(name, points, limbs, [color], "XYZC"))
    width, height = (int(max(0, s)) for s in image_size)
    header = PoseHeader(VERSION, PoseHeaderDimensions(width, height, 0), components)
    seen = np.isfinite(seq.poses3d).all(-1)  # (T, J)
    data = np.where(seen[..., None], seq.poses3d, 0.0).astype(np.float32)[:, None]  # (T, 1, J, 3)
    conf = np.where(seen, np.maximum(np.nan_to_num(seq.confidence), _ESTIMATED_CONFIDENCE), 0.0).astype(np.float32)[:, None]  # (T, 1, J)
    mask = np.repeat(~seen[:, None, :, None], 3, axis=-1)
    body = NumPyPoseBody(fps=float(seq.fps), data=np.ma.masked_array(data, mask=mask), confidence=conf)
    _atomic_write(Path(path), Pose(header, body).write)


# pose-format components of a holistic75 pose: (name, first joint, joint count, RGB colour)
_POSE_FILE_COMPONENTS: Final = (
    ("POSE_LANDMARKS", 0, 33, (255, 0, 0)),
    ("LEFT_HAND_LANDMARKS", 33, 21, (0, 255, 0)),
    ("RIGHT_HAND_LANDMARKS", 54, 21, (0, 0, 255)),
)
_ESTIMATED_CONFIDENCE: Final = 0.001  # .pose confidence of a position estimated where the joint was not observed


def _pose_file_point_name(joint: str) -> str:
    """holistic75 joint name -> MediaPipe's point name (``left_hand_index_tip`` -> ``INDEX_FINGER_TIP``)."""
    for prefix in ("left_hand_", "right_hand_"):
        if joint.startswith(prefix):
            finger, _, rest = joint[len(prefix) :].partition("_")
            return (f"{finger}_finger_{rest}" if finger in ("index", "middle", "ring") else joint[len(prefix) :]).upper()
    return joint.upper()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an ``.npz`` (what ``np.savez`` writes) atomically (see :func:`_atomic_write`).

    The zip archive is closed by its ``with`` even when interrupted: ``np.savez`` leaves it
    open then, and its later ``__del__`` prints a traceback over the closed temporary file.
    """

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in arrays.items():
                with zf.open(name + ".npy", mode="w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)

    _atomic_write(path, write)


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write to a temporary file next to ``path`` and rename, so a crash never leaves half a file.

    The temporary file is removed when writing fails or is interrupted (Ctrl-C included).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s", path)
