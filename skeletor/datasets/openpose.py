"""OpenPose 2D keypoints: the Czech sign-language demo (``.h5``) and How2Sign (JSON).

Both come as (x px, y px, confidence) with (0, 0, 0) for a missing point; the loaders
return :class:`skeletor.pose.keypoints.KeypointSequence` in ``holistic75`` with missing points
as confidence 0 and NaN x, y. OpenPose confidences slightly above 1 (hands reach 1.1) are
clipped to 1. "Left" and "right" are the subject's, in OpenPose and in holistic75 alike.

``gopeith_czech_sl/demo-sequence.h5``
    Dataset ``20161025_pocasi``, (583, 150): the 50 upper50 points (OpenPose body 0-7,
    left hand, right hand) x (x, y, c), mapped with
    :func:`skeletor.pose.skeleton.upper50_to_holistic75` (the neck is dropped).
    The file stores neither the image size nor the frame rate:

    * image size: ``(1280, 720)``. Every detected point lies inside x < 856, y < 652, which
      rules out PAL SD (576 rows). 1280x720 is the smallest broadcast 16:9 size holding
      them all, and in it the signer is framed as a sign-language shot usually is: near the centre
      (nose at x ~ 572), head near the top (y ~ 198), arms reaching the bottom edge. At
      1920x1080 every point would lie in the upper-left part (x < 45 %, y < 61 % of the
      frame). Pass ``image_size`` if you know better.
    * frame rate: 25 fps (Czech Television broadcasts at 25 fps).

``how2sign_openpose_prompt2sign/json/<clip>/<clip>_<12-digit frame>_keypoints.json``
    OpenPose 1.3, one file per frame, 1280x720 pixels, about 24 fps. BODY_25 and both
    21-point hands map to holistic75 as listed in ``BODY25_TO_HOLISTIC75``: nose, eyes,
    ears, shoulders, elbows, wrists, hips, knees, ankles, heels and big toes (as
    ``foot_index``); the OpenPose neck, mid-hip and small toes have no twin, and the
    face's 70 points are not used. A frame with nobody in it is all missing; with several
    people, the one with the highest summed body confidence is taken.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from skeletor.datasets._files import DataNotFoundError
from skeletor.datasets._files import require_file, source_dir
from skeletor.pose.keypoints import KeypointSequence
from skeletor.pose.skeleton import HOLISTIC75, upper50_to_holistic75

__all__ = [
    "load_gopeith",
    "load_how2sign",
    "load_openpose_folder",
    "is_openpose_folder",
    "openpose_to_holistic75",
    "BODY25_TO_HOLISTIC75",
    "GOPEITH_IMAGE_SIZE",
    "GOPEITH_FPS",
    "HOW2SIGN_IMAGE_SIZE",
    "HOW2SIGN_FPS",
]

log = logging.getLogger(__name__)

GOPEITH_IMAGE_SIZE: tuple[int, int] = (1280, 720)  # inferred, see the module docstring
GOPEITH_FPS = 25.0
GOPEITH_DATASET = "20161025_pocasi"
HOW2SIGN_IMAGE_SIZE: tuple[int, int] = (1280, 720)
HOW2SIGN_FPS = 24.0

# OpenPose BODY_25 index -> holistic75 index (same direction as skeleton.UPPER50_TO_HOLISTIC75).
BODY25_TO_HOLISTIC75: dict[int, int] = {
    0: 0,  # Nose -> nose
    16: 2,  # LEye -> left_eye
    15: 5,  # REye -> right_eye
    18: 7,  # LEar -> left_ear
    17: 8,  # REar -> right_ear
    5: 11,  # LShoulder -> left_shoulder
    2: 12,  # RShoulder -> right_shoulder
    6: 13,  # LElbow -> left_elbow
    3: 14,  # RElbow -> right_elbow
    7: 15,  # LWrist -> left_wrist
    4: 16,  # RWrist -> right_wrist
    12: 23,  # LHip -> left_hip
    9: 24,  # RHip -> right_hip
    13: 25,  # LKnee -> left_knee
    10: 26,  # RKnee -> right_knee
    14: 27,  # LAnkle -> left_ankle
    11: 28,  # RAnkle -> right_ankle
    21: 29,  # LHeel -> left_heel
    24: 30,  # RHeel -> right_heel
    19: 31,  # LBigToe -> left_foot_index
    22: 32,  # RBigToe -> right_foot_index
}
_LEFT_HAND0 = HOLISTIC75.index("left_hand_wrist")
_RIGHT_HAND0 = HOLISTIC75.index("right_hand_wrist")
_FRAME_RE = re.compile(r"_(\d+)_keypoints\.json$")


def _finish(points: np.ndarray) -> np.ndarray:
    """(…, 3) OpenPose (x, y, c) with (0, 0, 0) = missing -> NaN x, y and c = 0; c clipped to [0, 1]."""
    out = points.astype(np.float32, copy=True)
    missing = ~(out[..., 2] > 0) | ~np.isfinite(out).all(-1)
    out[..., 2] = np.clip(out[..., 2], 0.0, 1.0)
    out[missing] = (np.nan, np.nan, 0.0)
    return out


def openpose_to_holistic75(
    body25: np.ndarray, left_hand: np.ndarray | None = None, right_hand: np.ndarray | None = None
) -> np.ndarray:
    """Map OpenPose BODY_25 (+ 21-point hands) onto holistic75 keypoints.

    Args:
        body25: (T, 25, 3) x px, y px, confidence; (0, 0, 0) or confidence 0 = missing.
        left_hand: optional (T, 21, 3) subject's left hand, OpenPose hand order.
        right_hand: optional (T, 21, 3) subject's right hand.

    Returns:
        (T, 75, 3) float32 holistic75 keypoints; unmapped or missing points are NaN with
        confidence 0.

    Raises:
        ValueError: an input has the wrong shape.
    """
    body25 = np.asarray(body25)
    if body25.ndim != 3 or body25.shape[1:] != (25, 3):
        raise ValueError(f"expected (T, 25, 3) BODY_25 keypoints, got {body25.shape}")
    t = body25.shape[0]
    out = np.zeros((t, HOLISTIC75.num_joints, 3), dtype=np.float32)
    src = np.fromiter(BODY25_TO_HOLISTIC75.keys(), dtype=np.int64)
    dst = np.fromiter(BODY25_TO_HOLISTIC75.values(), dtype=np.int64)
    out[:, dst] = body25[:, src]
    for hand, start, label in ((left_hand, _LEFT_HAND0, "left_hand"), (right_hand, _RIGHT_HAND0, "right_hand")):
        if hand is None:
            continue
        hand = np.asarray(hand)
        if hand.shape != (t, 21, 3):
            raise ValueError(f"{label}: expected ({t}, 21, 3) hand keypoints, got {hand.shape}")
        out[:, start : start + 21] = hand
    return _finish(out)


def load_gopeith(
    root: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] = GOPEITH_IMAGE_SIZE,
    fps: float = GOPEITH_FPS,
) -> KeypointSequence:
    """Load the Czech sign-language weather-forecast OpenPose sequence.

    Args:
        root: the ``gopeith_czech_sl`` folder; default ``data_root() / "gopeith_czech_sl"``.
        image_size: (width, height) to report; the file does not store it (see the module
            docstring for why 1280x720).
        fps: frame rate to report (not stored; Czech TV is 25 fps).

    Returns:
        A (583, 75, 3) holistic75 sequence named ``"gopeith_czech_sl/20161025_pocasi"``.

    Raises:
        DataNotFoundError: the folder or ``demo-sequence.h5`` is missing.
        ValueError: the file lacks the dataset or it is not (T, 150).
    """
    import h5py  # lazy: only this loader needs it

    path = require_file(source_dir(root, "gopeith_czech_sl") / "demo-sequence.h5", "an HDF5 file of OpenPose 2D keypoints")
    with h5py.File(path, "r") as f:
        if GOPEITH_DATASET not in f:
            raise ValueError(f"{path}: expected an HDF5 dataset {GOPEITH_DATASET!r}, found {sorted(f.keys())}")
        raw = np.asarray(f[GOPEITH_DATASET][()], dtype=np.float32)
    if raw.ndim != 2 or raw.shape[1] != 150:
        raise ValueError(f"{path}: expected (T, 150) = 50 points x (x, y, c), got {raw.shape}")
    upper = _finish(raw.reshape(-1, 50, 3))
    kp = np.concatenate(
        [upper50_to_holistic75(upper[..., :2], fill=np.nan), upper50_to_holistic75(upper[..., 2:], fill=0.0)], axis=-1
    )
    _warn_outside(kp, image_size, str(path))
    return KeypointSequence(kp, float(fps), (int(image_size[0]), int(image_size[1])), name=f"gopeith_czech_sl/{GOPEITH_DATASET}")


def _warn_outside(kp: np.ndarray, image_size: tuple[int, int], where: str) -> None:
    """Log when detected points fall outside the image (a sign of a wrong image size)."""
    xy = kp[..., :2][kp[..., 2] > 0]
    if xy.size and ((xy < 0).any() or (xy[:, 0] > image_size[0]).any() or (xy[:, 1] > image_size[1]).any()):
        log.warning("%s: some points lie outside the %dx%d image", where, *image_size)


def _read_frame(path: Path) -> np.ndarray | None:
    """One OpenPose JSON frame -> (75, 3) holistic75 keypoints, or None when nobody is in it."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable OpenPose JSON file ({e})") from None
    people = doc.get("people")
    if not isinstance(people, list):
        raise ValueError(f"{path}: expected an OpenPose JSON object with a 'people' list")
    best, best_score = None, -1.0
    for person in people:
        try:
            body = np.asarray(person["pose_keypoints_2d"], dtype=np.float32).reshape(25, 3)
            left = np.asarray(person.get("hand_left_keypoints_2d") or np.zeros(63), dtype=np.float32).reshape(21, 3)
            right = np.asarray(person.get("hand_right_keypoints_2d") or np.zeros(63), dtype=np.float32).reshape(21, 3)
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path}: expected BODY_25 (75 values) and 21-point hands (63 values) per person ({e})") from None
        score = float(body[:, 2].sum())
        if score > best_score:
            best, best_score = (body, left, right), score
    if best is None:
        return None
    return openpose_to_holistic75(best[0][None], best[1][None], best[2][None])[0]


def _load_clip(folder: Path, image_size: tuple[int, int], fps: float) -> KeypointSequence:
    frames: dict[int, Path] = {}
    for p in folder.iterdir():
        m = _FRAME_RE.search(p.name)
        if m:
            frames[int(m.group(1))] = p
    if not frames:
        raise ValueError(f"{folder}: expected OpenPose files named <clip>_<frame>_keypoints.json, found none")
    n = max(frames) + 1
    if len(frames) != n:
        log.warning("%s: %d of %d frame files are missing; those frames are marked missing", folder, n - len(frames), n)
    kp = np.full((n, HOLISTIC75.num_joints, 3), np.nan, dtype=np.float32)
    kp[..., 2] = 0.0
    empty = 0
    for i, path in frames.items():
        frame = _read_frame(path)
        if frame is None:
            empty += 1
        else:
            kp[i] = frame
    if empty:
        log.info("%s: %d frames have nobody in them (all points missing)", folder.name, empty)
    _warn_outside(kp, image_size, str(folder))
    return KeypointSequence(kp, fps, image_size, name=folder.name)


def is_openpose_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is one clip of OpenPose JSON output (holds a ``*_<frame>_keypoints.json`` file).

    Args:
        folder: any path.

    Returns:
        True for a directory holding at least one per-frame OpenPose file.
    """
    try:
        with os.scandir(folder) as entries:
            return any(_FRAME_RE.search(e.name) is not None for e in entries)
    except (NotADirectoryError, FileNotFoundError, PermissionError):
        return False


def load_openpose_folder(
    folder: str | os.PathLike[str],
    image_size: tuple[int, int] = HOW2SIGN_IMAGE_SIZE,
    fps: float = HOW2SIGN_FPS,
) -> KeypointSequence:
    """Load one clip of OpenPose JSON output: a folder of ``<clip>_<12-digit frame>_keypoints.json``.

    This is what ``openpose --write_json`` produces (BODY_25, with ``--hand`` the 21-point
    hands) and how How2Sign ships its keypoints; mapped to holistic75 as
    :func:`openpose_to_holistic75` (joints OpenPose lacks, and frames with no file or nobody,
    at confidence 0 with NaN x, y).

    Args:
        folder: the clip's folder.
        image_size: (width, height) in pixels of the video OpenPose ran on; the JSON does not
            store it (default How2Sign's 1280x720).
        fps: its frame rate; not stored either (default How2Sign's 24).

    Returns:
        A (T, 75, 3) holistic75 sequence named after the folder; T = the highest frame number + 1.

    Raises:
        ValueError: no OpenPose file in the folder, or one that is unreadable or not
            BODY_25 + 21-point hands (the message names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of OpenPose JSON files")
    return _load_clip(folder, (int(image_size[0]), int(image_size[1])), float(fps))


def load_how2sign(
    root: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] = HOW2SIGN_IMAGE_SIZE,
    fps: float = HOW2SIGN_FPS,
) -> list[KeypointSequence]:
    """Load the How2Sign OpenPose clips (one folder of per-frame JSON files per clip).

    Args:
        root: the ``how2sign_openpose_prompt2sign`` folder (holding ``json/``) or the
            ``json`` folder itself; default ``data_root() / "how2sign_openpose_prompt2sign"``.
        image_size: (width, height) of the source videos, 1280x720.
        fps: frame rate, about 24.

    Returns:
        One holistic75 sequence per clip, sorted by clip name, named after the clip folder.

    Raises:
        DataNotFoundError: the folder is missing or holds no clip folders.
        ValueError: a JSON file is unreadable or not OpenPose BODY_25 + hands.
    """
    folder = source_dir(root, "how2sign_openpose_prompt2sign")
    if (folder / "json").is_dir():
        folder = folder / "json"
    clips = sorted(d for d in folder.iterdir() if d.is_dir())
    if not clips:
        raise DataNotFoundError(f"{folder}: expected one folder of OpenPose JSON files per clip, found none")
    size = (int(image_size[0]), int(image_size[1]))
    return [_load_clip(d, size, float(fps)) for d in clips]
