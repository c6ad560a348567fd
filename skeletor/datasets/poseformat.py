"""``.pose`` files (the ``pose-format`` package) -> holistic75 keypoint sequences.

Source: ``slp_pose_format/`` (see SOURCES.md): real MediaPipe Holistic detections with real
dropouts, in two layouts, plus two kinds of files that are not MediaPipe Holistic:

``"mediapipe_full"``
    POSE_LANDMARKS (33) + FACE_LANDMARKS + LEFT/RIGHT_HAND_LANDMARKS (21 each)
    (+ POSE_WORLD_LANDMARKS, unused). The 33 pose points are holistic75 0-32 and the hands
    33-53 / 54-74, matched by name.
``"mediapipe_reduced"``
    POSE_LANDMARKS with 8 points (shoulders, elbows, wrists, hips) + 128 face points + both
    hands. The 8 pose points are matched by name; the rest of the 33 pose points are
    missing (the face subset has no nose-tip point, so the face is not used).
``"openpose"``
    ``openpose.pose``: OpenPose BODY_25 + face 70 + two 21-point hands, 2D. Mapped like the
    How2Sign JSON (:func:`skeletor.datasets.openpose.openpose_to_holistic75`).
Anything else is rejected with :class:`PoseLayoutError`; in this data that is the
``*_hand_normalized.pose`` files (one right hand in normalised, not pixel, coordinates).

Per point: a masked point (or confidence 0) is missing (confidence 0, NaN x, y); the
confidence is MediaPipe's visibility for pose points and 1 for hand points (as the files
store them), clipped to [0, 1]. "Left"/"right" are the subject's (MediaPipe Holistic's
convention). Image size and fps come from the file's header.

Depth hint (``KeypointSequence.depth``): MediaPipe's pose z, converted to pixels like x
(``z * width``; smaller = nearer the camera). Hand points get their pose wrist's depth plus
the hand's own z (relative to the hand's wrist) in the same pixel scale. Files whose pose z
is not in MediaPipe's normalised range (``mediapipe.pose`` and ``mediapipe_long.pose``
store z of about 624 for every point) get no depth, as do OpenPose files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from skeletor.datasets._files import require_file, source_dir
from skeletor.pose.keypoints import KeypointFormatError, KeypointSequence
from skeletor.pose.skeleton import HOLISTIC75, POSE33_NAMES

__all__ = ["PoseLayoutError", "load_pose_file", "list_pose_files", "pose_file_layout", "MEDIAPIPE_LAYOUTS"]

log = logging.getLogger(__name__)

MEDIAPIPE_LAYOUTS: tuple[str, ...] = ("mediapipe_full", "mediapipe_reduced")
_POSE = "POSE_LANDMARKS"
# hand component -> (holistic75 name prefix, the pose wrist the hand hangs off)
_HANDS = {"LEFT_HAND_LANDMARKS": ("left_hand_", "left_wrist"), "RIGHT_HAND_LANDMARKS": ("right_hand_", "right_wrist")}
_OPENPOSE = ("pose_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")
_MAX_NORMALISED_Z = 10.0  # MediaPipe's normalised z is within a few units; anything larger is another scale


class PoseLayoutError(KeypointFormatError):
    """A ``.pose`` file is readable but its components are not a layout this loader maps."""


def _read(path: Path):  # -> pose_format.Pose (lazy import, no annotation)
    from pose_format import Pose

    require_file(path, "a .pose file (pose-format)")
    try:
        return Pose.read(path.read_bytes())
    except Exception as e:  # pose-format raises struct/Value/Index errors on bad input
        raise KeypointFormatError(f"{path}: not a readable .pose file ({type(e).__name__}: {e})") from e


def _layout(components: dict[str, list[str]], path: Path) -> str:
    pose = components.get(_POSE)
    has_hands = all(h in components for h in _HANDS)
    if pose is not None and has_hands:
        unknown = [p for p in pose if p.lower() not in POSE33_NAMES]
        if unknown:
            raise PoseLayoutError(f"{path}: POSE_LANDMARKS has points that are not MediaPipe Pose landmarks: {unknown[:5]}")
        return "mediapipe_full" if len(pose) == 33 else "mediapipe_reduced"
    if all(c in components for c in _OPENPOSE) and len(components[_OPENPOSE[0]]) == 25:
        return "openpose"
    raise PoseLayoutError(
        f"{path}: expected MediaPipe Holistic (POSE_LANDMARKS + LEFT/RIGHT_HAND_LANDMARKS) or OpenPose BODY_25 "
        f"components, found {list(components)}"
        + (" (a normalised single hand, not image keypoints)" if list(components) == ["RIGHT_HAND_LANDMARKS"] else "")
    )


def pose_file_layout(path: str | os.PathLike[str]) -> str:
    """Which layout a ``.pose`` file has (reads only its header).

    Args:
        path: the file.

    Returns:
        ``"mediapipe_full"``, ``"mediapipe_reduced"`` or ``"openpose"``.

    Raises:
        DataNotFoundError: no such file.
        KeypointFormatError: unreadable header.
        PoseLayoutError: another layout (e.g. ``*_hand_normalized.pose``).
    """
    from pose_format.pose_header import PoseHeader
    from pose_format.utils.reader import BufferReader

    path = Path(path)
    require_file(path, "a .pose file (pose-format)")
    try:
        header = PoseHeader.read(BufferReader(path.read_bytes()))
    except Exception as e:
        raise KeypointFormatError(f"{path}: not a readable .pose header ({type(e).__name__}: {e})") from e
    return _layout({c.name: list(c.points) for c in header.components}, path)


def _hand_name(point: str) -> str:
    """pose-format hand point name -> skeleton HAND_NAMES entry (``INDEX_FINGER_MCP`` -> ``index_mcp``)."""
    return point.lower().replace("_finger", "")


def load_pose_file(path: str | os.PathLike[str]) -> KeypointSequence:
    """Read a MediaPipe Holistic (or OpenPose) ``.pose`` file as holistic75 keypoints.

    Args:
        path: the ``.pose`` file.

    Returns:
        A holistic75 :class:`KeypointSequence` (first person only), with ``depth`` where the
        file has usable MediaPipe z (see the module docstring), named after the file.

    Raises:
        DataNotFoundError: no such file.
        KeypointFormatError: unreadable file, or a header without an image size.
        PoseLayoutError: not a MediaPipe Holistic or OpenPose layout.
    """
    path = Path(path)
    pose = _read(path)
    header, body = pose.header, pose.body
    comps = {c.name: list(c.points) for c in header.components}
    layout = _layout(comps, path)
    width, height = int(header.dimensions.width), int(header.dimensions.height)
    if width <= 0 or height <= 0:
        raise KeypointFormatError(f"{path}: the header has no image size (width={width}, height={height})")
    data = np.asarray(body.data)
    n_points = sum(len(p) for p in comps.values())
    if data.ndim != 4 or data.shape[2] != n_points:
        raise KeypointFormatError(f"{path}: expected body data (frames, people, {n_points}, dims), got {data.shape}")
    if data.shape[1] > 1:
        log.info("%s: %d people; using the first", path.name, data.shape[1])
    xyz = np.ma.filled(np.ma.asarray(body.data)[:, 0].astype(np.float32), np.nan)  # (T, P, D)
    mask = np.ma.getmaskarray(body.data)[:, 0].any(-1)
    conf = np.asarray(body.confidence, dtype=np.float32)[:, 0]
    conf = np.where(mask | ~np.isfinite(conf) | ~np.isfinite(xyz[..., :2]).all(-1), 0.0, np.clip(conf, 0.0, 1.0))
    start = {}
    offset = 0
    for c in header.components:
        start[c.name] = offset
        offset += len(c.points)
    t = xyz.shape[0]

    def points(component: str) -> np.ndarray:  # (T, n, 3) x, y, conf of one component
        s = slice(start[component], start[component] + len(comps[component]))
        return np.concatenate([xyz[:, s, :2], conf[:, s, None]], axis=-1)

    if layout == "openpose":
        from skeletor.datasets.openpose import openpose_to_holistic75

        kp = openpose_to_holistic75(*(points(c) for c in _OPENPOSE))
        return KeypointSequence(kp, float(body.fps), (width, height), name=path.name)

    kp = np.zeros((t, HOLISTIC75.num_joints, 3), dtype=np.float32)
    src: list[int] = []
    dst: list[int] = []
    for i, name in enumerate(comps[_POSE]):
        src.append(start[_POSE] + i)
        dst.append(HOLISTIC75.index(name.lower()))
    for component, (prefix, _) in _HANDS.items():
        for i, name in enumerate(comps[component]):
            src.append(start[component] + i)
            dst.append(HOLISTIC75.index(prefix + _hand_name(name)))
    kp[:, dst, :2] = xyz[:, src, :2]
    kp[:, dst, 2] = conf[:, src]
    missing = kp[..., 2] <= 0
    kp[missing] = (np.nan, np.nan, 0.0)
    n_pose = len(comps[_POSE])  # src/dst list the pose points first
    depth = _depth(xyz, conf, comps, start, src[:n_pose], dst[:n_pose], width, path) if xyz.shape[-1] >= 3 else None
    return KeypointSequence(kp, float(body.fps), (width, height), depth=depth, name=path.name)


def _depth(
    xyz: np.ndarray,
    conf: np.ndarray,
    comps: dict[str, list[str]],
    start: dict[str, int],
    pose_src: list[int],
    pose_dst: list[int],
    width: int,
    path: Path,
) -> np.ndarray | None:
    """(T, 75) depth hint in pixels (see the module docstring), or None when z is unusable."""
    t = xyz.shape[0]
    present = conf > 0
    pose_z = xyz[:, pose_src, 2][present[:, pose_src]]
    if pose_z.size == 0 or np.median(np.abs(pose_z)) > _MAX_NORMALISED_Z:
        log.info("%s: pose z is not MediaPipe's normalised z; no depth hint", path.name)
        return None
    z = np.where(present, xyz[..., 2], np.nan) * float(width)
    depth = np.full((t, HOLISTIC75.num_joints), np.nan, dtype=np.float32)
    depth[:, pose_dst] = z[:, pose_src]
    for component, (prefix, pose_wrist_name) in _HANDS.items():
        s = start[component]
        hand = z[:, s : s + len(comps[component])]
        wrist_hand = hand[:, comps[component].index("WRIST")] if "WRIST" in comps[component] else np.nan
        pose_wrist = depth[:, HOLISTIC75.index(pose_wrist_name)]
        for i, name in enumerate(comps[component]):
            depth[:, HOLISTIC75.index(prefix + _hand_name(name))] = pose_wrist + hand[:, i] - wrist_hand
    return depth


def list_pose_files(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The MediaPipe Holistic ``.pose`` files under a folder (recursively), sorted.

    OpenPose and single-hand files are left out (``load_pose_file`` still reads the
    OpenPose one when asked).

    Args:
        root: folder to search; default ``data_root() / "slp_pose_format"``.

    Returns:
        Paths of files whose layout is one of ``MEDIAPIPE_LAYOUTS``.

    Raises:
        DataNotFoundError: the folder is missing.
    """
    folder = source_dir(root, "slp_pose_format")
    out = []
    for p in sorted(folder.rglob("*.pose")):
        try:
            if pose_file_layout(p) in MEDIAPIPE_LAYOUTS:
                out.append(p)
        except KeypointFormatError as e:
            log.debug("skipping %s: %s", p, e)
    return out
