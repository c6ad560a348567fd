"""Phoenix14T 3D skeletons in the Progressive Transformers (Surrey) ``.skels`` format.

Source: ``ptslp_phoenix14t/{train,dev,test}.{skels,text,gloss,files}`` (see SOURCES.md).
Each ``.skels`` line is one sequence; each frame is 151 floats: 50 upper50 joints x
(x, y, z) and a counter (``frame_index / n_frames``), and the joints were divided by 3 when
the data was made.

What the loader does, once:

1. drops the counter (after checking it is one) and multiplies the joints by 3, so the
   shoulder width is about 1 (``units = "relative"``; the neck, upper50 joint 1, is the
   origin of every frame);
2. turns the axes into the camera frame (x right, y down, z forward away from the camera)
   by negating x and z, a 180 degree rotation about y (proper, so no left/right mirroring):

   * x: the file has the subject's right shoulder (OpenPose "R", upper50 joint 2) at +x in
     every frame. In image coordinates a frontal signer's right shoulder is on the image
     left (the Czech 2D data in ``gopeith_czech_sl``, same OpenPose layout, has it so), and
     the 2D-to-3D step that made the data keeps image x, so the file's x points image-left.
   * z: the file's z is the uplift's guess and it puts the hands 0.4 shoulder widths at +z
     from the shoulders. A signer's hands are in front of the body, so +z points towards
     the camera and is negated. (The same guess puts the nose 0.1 behind the neck: the
     uplift's "every bone points one way in depth" prior cannot be right for both; the
     hands are the larger, more trusted cue.)
3. maps upper50 onto holistic75 with :func:`skeletor.pose.skeleton.upper50_to_holistic75`
   (the neck has no holistic75 twin; face details, hips and legs are missing).

Left and right are the subject's, as in OpenPose: the hand 8-28 hangs off the wrist 7
(the bone 7->8 has a constant length within a sequence), the hand 29-49 off the wrist 4;
the tests check this on the data.

``meta`` holds ``text`` (German sentence), ``gloss``, ``file`` (the Phoenix14T sequence
name), ``split``, ``source`` (the ``.skels`` path), ``index`` (line number) and
``upper50``: the (T, 50, 3) float32 joints after steps 1-2 (neck included).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from skeletor.datasets._files import require_file, source_dir
from skeletor.datasets.motion import Motion
from skeletor.pose.skeleton import upper50_to_holistic75

__all__ = ["load_phoenix", "PHOENIX_SPLITS", "PHOENIX_FPS"]

log = logging.getLogger(__name__)

PHOENIX_SPLITS: tuple[str, ...] = ("train", "dev", "test")
PHOENIX_FPS = 25.0  # Phoenix14T videos are 25 fps
_SCALE = 3.0  # the data were divided by 3 when made (plot_videos.py multiplies by 3)
_AXES = np.array([-1.0, 1.0, -1.0], dtype=np.float32)  # file axes -> camera frame (see docstring)
_VALUES_PER_FRAME = 50 * 3 + 1


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def _parse_sequence(line: str, where: str) -> np.ndarray:
    """One ``.skels`` line -> (T, 50, 3) float32 joints, ×3, counter checked and dropped."""
    try:
        values = np.array(line.split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{where}: not a line of floats ({e})") from None
    if values.size == 0 or values.size % _VALUES_PER_FRAME:
        raise ValueError(
            f"{where}: expected a multiple of {_VALUES_PER_FRAME} values (50 joints x 3 + counter) "
            f"per line, got {values.size}"
        )
    frames = values.reshape(-1, _VALUES_PER_FRAME)
    n = frames.shape[0]
    counter = frames[:, -1]
    if np.abs(counter - np.arange(n) / n).max() > 1e-3:
        raise ValueError(f"{where}: the last value of each frame is not the counter frame_index / {n}")
    return (frames[:, :-1].reshape(n, 50, 3) * _SCALE).astype(np.float32)


def load_phoenix(split: str, root: str | os.PathLike[str] | None = None) -> list[Motion]:
    """Load one split of the Phoenix14T 3D skeletons.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"``.
        root: the ``ptslp_phoenix14t`` folder; default ``data_root() / "ptslp_phoenix14t"``.

    Returns:
        One :class:`Motion` per sequence (``units="relative"``, ``frame="camera_y_down"``,
        25 fps), in file order; see the module docstring for ``meta``.

    Raises:
        ValueError: unknown split, a malformed line, or side files with another line count.
        DataNotFoundError: the folder or one of the four files is missing.
    """
    if split not in PHOENIX_SPLITS:
        raise ValueError(f"unknown Phoenix split {split!r}; expected one of {PHOENIX_SPLITS}")
    folder = source_dir(root, "ptslp_phoenix14t")
    skels_path = require_file(folder / f"{split}.skels", "Progressive Transformers 3D skeletons")
    skels = _read_lines(skels_path)
    side: dict[str, list[str]] = {}
    for ext in ("text", "gloss", "files"):
        path = require_file(folder / f"{split}.{ext}", f"one {ext} line per sequence of {skels_path.name}")
        side[ext] = _read_lines(path)
        if len(side[ext]) != len(skels):
            raise ValueError(f"{path}: expected {len(skels)} lines (one per sequence in {skels_path.name}), got {len(side[ext])}")
    motions = []
    for i, line in enumerate(skels):
        upper = _parse_sequence(line, f"{skels_path}:{i + 1}") * _AXES
        pos = upper50_to_holistic75(upper)
        conf = np.isfinite(pos).all(-1).astype(np.float32)
        meta = {
            "text": side["text"][i],
            "gloss": side["gloss"][i],
            "file": side["files"][i],
            "split": split,
            "source": str(skels_path),
            "index": i,
            "upper50": upper,
        }
        motions.append(Motion(pos, conf, PHOENIX_FPS, side["files"][i], "relative", "camera_y_down", meta))
    log.debug("loaded %d Phoenix %s sequences from %s", len(motions), split, folder)
    return motions
