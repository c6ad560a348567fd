"""BVH motion capture -> 3D joint positions (forward kinematics) -> holistic75 ``Motion``.

Parsing and forward kinematics
    The hierarchy (joint names, offsets, channels, end sites, frame count and time) is
    parsed by ``bvhio`` (``readAsBvh(..., loadKeyFrames=False)``); the motion block is read
    with numpy and the forward kinematics is done here, vectorised over frames. Reason:
    ``bvhio`` builds one Python/glm pose object per joint per frame; reading the 174 Bandai
    files that way and asking its hierarchy for world positions takes about 0.085 s per file
    (~17 s in all), while this module loads all of them in about 1 s. The two agree to 1e-4 cm
    (a test compares them). BVH conventions used (the same as ``bvhio``): a joint's local
    translation is its OFFSET, replaced by its position channels when it has them (the
    Bandai files repeat the OFFSETs there); its rotation is the product of its rotation
    channels in the order listed (intrinsic, e.g. ``Zrotation Xrotation Yrotation`` is
    Rz @ Rx @ Ry), in degrees; world = parent world @ local.

Sources (see SOURCES.md) and what each loader does, once:

``load_bandai`` -- Bandai-Namco Research Motion dataset 1
    22 joints, no fingers, cm -> m, 30 fps, world frame as in the file (y up, right-handed:
    the subject faces +z with their left at +x; a test checks it on a walk). Mapping:
    UpperArm -> shoulder, LowerArm -> elbow, Hand -> wrist, UpperLeg -> hip,
    LowerLeg -> knee, Foot -> ankle, Toes -> foot_index, Head -> nose. The Head joint is
    the head's pivot at the top of the neck, about 10 cm above the shoulder joints and not
    in front of the face: as a nose it is roughly 10 cm too low and too far back (a real
    nose is about 20-25 cm above the shoulder joints). It is kept because it moves with
    the head; treat nose error on mocap data accordingly. Fingers, face points, heels and
    hand joints are missing. ``meta``: ``content``, ``style`` (and their ids from the JSON
    sidecar), ``source``, ``bvh_joints`` and ``bvh_positions`` ((T, 22, 3) metres).

``bandai_split`` -- the fixed train/test split, by file
    The unit is a (content, style) pair with all its takes (walk has two takes per style),
    so no take has a near-twin in the other split; a content with a single style (call,
    punch, slash: two "normal" takes each) falls back to single takes. Contents (walk, bow,
    punch, ...) are taken in sorted order; from each, ``round(0.2 * n)`` of its n units (at
    least 1, at most n - 1) go to test, ranked by (how many test units that style already
    has, SHA-256 of ``"<content>_<style>"`` or of the take's file stem), so the styles are
    spread evenly over the test split. Every content is in train; contents with one file
    (dance-short, kick, respond) are only in train. The split depends only on the file
    names; on the 174-file snapshot it gives 138 train / 36 test files, the test split
    holding 13 of the 16 contents and all 15 styles (a test pins the list).

``load_pymo_walk`` -- PyMO demo walk
    23 joints, inches -> m (the bone lengths give hips 0.90 m and the head pivot 1.47 m
    above the floor; 3.937 in = 10 cm offsets in the file), 120 fps, y up, right-handed as
    in the file. Same body mapping as Bandai with LeftArm/LeftForeArm/LeftHand,
    LeftUpLeg/LeftLeg/LeftFoot/LeftToeBase (Head -> nose, same caveat).

``load_manipnet`` -- ManipNet hand-only mocap
    One BVH per hand, 120 fps, decimetres -> m (wrist to index MCP 0.11 m). Mapped onto
    the holistic75 left or right hand: wrist, thumb cmc (``THUMB_CMC_AA``; the
    ``THUMB_CMC_FE`` pivot 2.6 cm from the wrist is dropped), thumb mcp, ip, and the
    mcp/pip/dip of the four fingers; tips are missing (zero End Sites). The files were
    written by Unity and are LEFT-handed: read as they are, ``leftHand.bvh`` has the shape
    of a right hand (its fingers flex to the side of the palm normal that belongs to a right
    hand, and the thumb opposes on that side, in every frame). The loader negates x, which
    makes the frame right-handed (y up) and each hand the hand its file is named after; a
    test checks the chirality. Body joints, including the pose wrists, are missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skeletor.datasets._files import DataNotFoundError
from skeletor.datasets._files import require_file, source_dir
from skeletor.datasets.motion import Motion, holistic_from_joints
from skeletor.pose.skeleton import HOLISTIC75

__all__ = [
    "BvhMotion",
    "read_bvh",
    "load_bandai",
    "list_bandai",
    "bandai_labels",
    "bandai_split",
    "load_pymo_walk",
    "load_manipnet",
    "BANDAI_TO_HOLISTIC75",
    "PYMO_TO_HOLISTIC75",
    "MANIPNET_TO_HAND21",
]

log = logging.getLogger(__name__)

CM = 0.01
INCH = 0.0254
DECIMETRE = 0.1

# BVH joint name -> holistic75 index.
BANDAI_TO_HOLISTIC75: dict[str, int] = {
    "Head": 0,  # approximate nose, see the module docstring
    "UpperArm_L": 11, "UpperArm_R": 12,
    "LowerArm_L": 13, "LowerArm_R": 14,
    "Hand_L": 15, "Hand_R": 16,
    "UpperLeg_L": 23, "UpperLeg_R": 24,
    "LowerLeg_L": 25, "LowerLeg_R": 26,
    "Foot_L": 27, "Foot_R": 28,
    "Toes_L": 31, "Toes_R": 32,
}  # fmt: skip
PYMO_TO_HOLISTIC75: dict[str, int] = {
    "Head": 0,  # approximate nose, as for Bandai
    "LeftArm": 11, "RightArm": 12,
    "LeftForeArm": 13, "RightForeArm": 14,
    "LeftHand": 15, "RightHand": 16,
    "LeftUpLeg": 23, "RightUpLeg": 24,
    "LeftLeg": 25, "RightLeg": 26,
    "LeftFoot": 27, "RightFoot": 28,
    "LeftToeBase": 31, "RightToeBase": 32,
}  # fmt: skip
# ManipNet BVH joint -> index inside a 21-point hand (skeleton.HAND_NAMES order).
MANIPNET_TO_HAND21: dict[str, int] = {
    "WRIST": 0,
    "THUMB_CMC_AA": 1, "THUMB_MCP_FE": 2, "THUMB_IP_FE": 3,
    "INDEX_MCP": 5, "INDEX_PIP_FE": 6, "INDEX_DIP_FE": 7,
    "MIDDLE_MCP": 9, "MIDDLE_PIP_FE": 10, "MIDDLE_DIP_FE": 11,
    "RING_MCP": 13, "RING_PIP_FE": 14, "RING_DIP_FE": 15,
    "PINKY_MCP": 17, "PINKY_PIP_FE": 18, "PINKY_DIP_FE": 19,
}  # fmt: skip
PYMO_FILE = "AV_8Walk_Meredith_HVHA_Rep1.bvh"
MANIPNET_HANDS: dict[str, str] = {"leftHand.bvh": "left", "rightHand.bvh": "right"}
BANDAI_TEST_FRACTION = 0.2
_FRAME_TIME_RE = re.compile(r"^\s*Frame\s+Time:[^\n]*\n", re.MULTILINE)


@dataclass
class BvhMotion:
    """World joint positions of one BVH file, in the file's units and frame.

    Attributes:
        joints: joint names, parents before children (the file's order), then end sites
            (``<leaf>_End``) if they were asked for.
        parents: parent index of each joint, -1 for the root.
        positions: (T, J, 3) float64 world positions, file units.
        frame_time: seconds per frame, as in the file.
        path: the file.
    """

    joints: tuple[str, ...]
    parents: tuple[int, ...]
    positions: np.ndarray
    frame_time: float
    path: Path

    @property
    def fps(self) -> float:
        """Frames per second; snapped to the integer when within 0.01 (0.0333333 s -> 30)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 0.01 else fps

    def joint(self, name: str) -> np.ndarray:
        """(T, 3) positions of the joint called ``name``.

        Raises:
            KeyError: no such joint (the message lists the file's joints).
        """
        try:
            return self.positions[:, self.joints.index(name)]
        except ValueError:
            raise KeyError(f"{self.path}: no joint {name!r}; it has {list(self.joints)}") from None


def _axis_rotations(axis: str, degrees: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices about one axis ('X', 'Y' or 'Z')."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    i, j = {"X": (1, 2), "Y": (2, 0), "Z": (0, 1)}[axis]
    k = 3 - i - j
    r[:, k, k] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def read_bvh(path: str | os.PathLike[str], end_sites: bool = False) -> BvhMotion:
    """Parse a BVH file and compute world joint positions for every frame.

    Args:
        path: the ``.bvh`` file.
        end_sites: also return the End Site of every leaf joint (named ``<leaf>_End``).

    Returns:
        The positions in the file's units and world frame (see the module docstring for
        the conventions).

    Raises:
        DataNotFoundError: no such file.
        ValueError: the file is not valid BVH, or its motion block does not have
            frames x channels numbers.
    """
    with warnings.catch_warnings():  # bvhio's "import glm" raises a PendingDeprecationWarning in PyGLM 2.8
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import bvhio  # lazy: only the BVH loaders need it

    path = Path(path)
    require_file(path, "a BVH motion capture file")
    text = path.read_text(encoding="utf-8", errors="replace")
    m = _FRAME_TIME_RE.search(text)
    if not text.lstrip().startswith("HIERARCHY") or m is None:
        # checked first: bvhio's reader loops forever on a file that ends inside the header
        raise ValueError(f"{path}: not a valid BVH file (expected HIERARCHY ... MOTION, Frames:, Frame Time:)")
    try:
        container = bvhio.readAsBvh(str(path), loadKeyFrames=False)
    except (SyntaxError, ValueError, IndexError) as e:
        raise ValueError(f"{path}: not a valid BVH file ({e})") from None
    if not container.FrameTime > 0:
        raise ValueError(f"{path}: expected a positive Frame Time, got {container.FrameTime}")
    layout = container.Root.layout()
    nodes = [node for node, _, _ in layout]
    index = {id(node): i for i, node in enumerate(nodes)}
    parents = [-1] * len(nodes)
    for node in nodes:
        for child in node.Children:
            parents[index[id(child)]] = index[id(node)]
    n_channels = sum(len(node.Channels) for node in nodes)
    try:
        values = np.array(text[m.end() :].split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: the motion block holds something that is not a number ({e})") from None
    t = int(container.FrameCount)
    if values.size != t * n_channels:
        raise ValueError(f"{path}: expected {t} frames x {n_channels} channels = {t * n_channels} numbers, got {values.size}")
    motion = values.reshape(t, n_channels)

    names = [node.Name for node in nodes]
    pos = np.zeros((t, len(nodes), 3))
    rot = np.zeros((t, len(nodes), 3, 3))
    col = 0
    for i, node in enumerate(nodes):
        local = np.tile(np.asarray(node.Offset, dtype=np.float64), (t, 1))
        r = np.broadcast_to(np.eye(3), (t, 3, 3))
        for channel in node.Channels:
            axis, kind = channel[0].upper(), channel[1:].lower()
            if kind == "position":
                local[:, "XYZ".index(axis)] = motion[:, col]
            elif kind == "rotation":
                r = r @ _axis_rotations(axis, motion[:, col])
            else:
                raise ValueError(f"{path}: joint {node.Name} has an unknown channel {channel!r}")
            col += 1
        p = parents[i]
        if p < 0:
            pos[:, i], rot[:, i] = local, r
        else:
            pos[:, i] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local)
            rot[:, i] = rot[:, p] @ r
    if end_sites:
        leaves = [i for i, node in enumerate(nodes) if not node.Children]
        ends = np.stack([pos[:, i] + rot[:, i] @ np.asarray(nodes[i].EndSite, dtype=np.float64) for i in leaves], axis=1)
        pos = np.concatenate([pos, ends], axis=1)
        names += [names[i] + "_End" for i in leaves]
        parents += leaves
    return BvhMotion(tuple(names), tuple(parents), pos, float(container.FrameTime), path)


def _body_motion(bvh: BvhMotion, mapping: dict[str, int], scale: float, meta: dict) -> Motion:
    missing = [n for n in mapping if n not in bvh.joints]
    if missing:
        raise ValueError(f"{bvh.path}: expected joints {missing} (has {list(bvh.joints)})")
    metres = (bvh.positions * scale).astype(np.float32)
    pos, conf = holistic_from_joints(metres, {bvh.joints.index(n): h for n, h in mapping.items()}, bvh.path.name)
    meta = {"source": str(bvh.path), "bvh_joints": bvh.joints, "bvh_positions": metres, **meta}
    return Motion(pos, conf, bvh.fps, bvh.path.stem, "m", "world_y_up", meta)


# --- Bandai-Namco -----------------------------------------------------------------------


def _bandai_data_dir(root: str | os.PathLike[str] | None) -> Path:
    folder = source_dir(root, "bandai_namco")
    data = folder / "dataset-1" / "data"
    return data if data.is_dir() else folder


def list_bandai(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The Bandai-Namco dataset-1 BVH files, sorted by name.

    Args:
        root: the ``bandai_namco`` folder (or its ``dataset-1/data``); default
            ``data_root() / "bandai_namco"``.

    Returns:
        Paths of the ``.bvh`` files.

    Raises:
        DataNotFoundError: the folder is missing or holds no BVH files.
    """
    data = _bandai_data_dir(root)
    paths = sorted(data.glob("*.bvh"))
    if not paths:
        raise DataNotFoundError(f"{data}: expected Bandai-Namco dataset-1 BVH files, found none")
    return paths


def _labels_from_name(path: Path) -> tuple[str, str]:
    parts = path.stem.split("_")  # dataset-1_<content>_<style>_<take>; labels use '-', never '_'
    if len(parts) != 4:
        raise ValueError(f"{path}: expected a file name dataset-1_<content>_<style>_<take>.bvh")
    return parts[1], parts[2]


def bandai_labels(path: str | os.PathLike[str]) -> dict[str, object]:
    """Content and style labels of a Bandai file.

    The labels come from the file name (``dataset-1_<content>_<style>_<take>.bvh``); when
    the JSON sidecar and ``../cfg/*_label.txt`` are there, their ids are added and checked.

    Args:
        path: the ``.bvh`` file.

    Returns:
        ``{"content": str, "style": str}`` plus ``content_id`` / ``style_id`` (int) when
        the sidecar is present.

    Raises:
        ValueError: the name does not follow the pattern, or the sidecar disagrees with it.
    """
    path = Path(path)
    content, style = _labels_from_name(path)
    labels: dict[str, object] = {"content": content, "style": style}
    sidecar = path.with_suffix(".json")
    cfg = path.parent.parent / "cfg"
    if sidecar.is_file() and (cfg / "content_label.txt").is_file() and (cfg / "style_label.txt").is_file():
        ids = json.loads(sidecar.read_text(encoding="utf-8"))
        for key, file in (("content", "content_label.txt"), ("style", "style_label.txt")):
            names = [s.strip().removeprefix("dataset-1_") for s in (cfg / file).read_text(encoding="utf-8").split()]
            i = int(ids[key])
            if not 0 <= i < len(names) or names[i] != labels[key]:
                raise ValueError(f"{sidecar}: {key} id {i} is not {labels[key]!r} in {cfg / file}")
            labels[f"{key}_id"] = i
    return labels


def load_bandai(path: str | os.PathLike[str]) -> Motion:
    """Load one Bandai-Namco BVH file as a holistic75 body motion.

    Args:
        path: a ``dataset-1_*.bvh`` file (see :func:`list_bandai`).

    Returns:
        Motion in metres, ``frame="world_y_up"``, 30 fps (see the module docstring for the
        mapping and ``meta``).

    Raises:
        DataNotFoundError: no such file.
        ValueError: invalid BVH, missing joints, or an unexpected file name.
    """
    bvh = read_bvh(path)
    return _body_motion(bvh, BANDAI_TO_HOLISTIC75, CM, bandai_labels(bvh.path))


def _name_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bandai_split(paths: list[Path] | list[str]) -> tuple[list[Path], list[Path]]:
    """The fixed train/test split of Bandai files (see the module docstring for the rule).

    Args:
        paths: Bandai ``.bvh`` paths, e.g. ``list_bandai()``; only their names matter.

    Returns:
        ``(train, test)``, each sorted by file name.

    Raises:
        ValueError: a file name does not follow ``dataset-1_<content>_<style>_<take>.bvh``,
            or a name appears twice.
    """
    paths = [Path(p) for p in paths]
    if len({p.name for p in paths}) != len(paths):
        raise ValueError("bandai_split: the same file name appears more than once")
    # unit of assignment: all takes of one (content, style), so no take has a near-twin in
    # the other split; a content with a single style falls back to single takes
    takes: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for p in paths:
        content, style = _labels_from_name(p)
        takes[content][style].append(p)
    style_count: dict[str, int] = defaultdict(int)
    test: set[Path] = set()
    for content in sorted(takes):
        styles = takes[content]
        if len(styles) > 1:
            units = {f"{content}_{style}": (style, files) for style, files in styles.items()}
        else:
            ((style, files),) = styles.items()
            units = {p.stem: (style, [p]) for p in files}
        k = min(max(1, round(BANDAI_TEST_FRACTION * len(units))), len(units) - 1)
        ranked = sorted(units, key=lambda u: (style_count[units[u][0]], _name_hash(u)))
        for unit in ranked[:k]:
            style, files = units[unit]
            test.update(files)
            style_count[style] += 1
    by_name = lambda p: p.name  # noqa: E731
    return sorted((p for p in paths if p not in test), key=by_name), sorted(test, key=by_name)


# --- PyMO -------------------------------------------------------------------------------


def load_pymo_walk(root: str | os.PathLike[str] | None = None) -> Motion:
    """Load the PyMO demo walking clip as a holistic75 body motion.

    Args:
        root: the ``pymo_walk`` folder; default ``data_root() / "pymo_walk"``.

    Returns:
        Motion in metres (the file is in inches), ``frame="world_y_up"``, 120 fps.

    Raises:
        DataNotFoundError: the folder or the BVH file is missing.
        ValueError: invalid BVH or missing joints.
    """
    bvh = read_bvh(source_dir(root, "pymo_walk") / PYMO_FILE)
    return _body_motion(bvh, PYMO_TO_HOLISTIC75, INCH, {})


# --- ManipNet ---------------------------------------------------------------------------


def load_manipnet(root: str | os.PathLike[str] | None = None) -> list[Motion]:
    """Load the ManipNet hand clips, one Motion per hand file.

    Args:
        root: the ``manipnet_hands`` folder (one sub-folder per clip holding
            ``leftHand.bvh`` / ``rightHand.bvh``); default ``data_root() / "manipnet_hands"``.

    Returns:
        Motions sorted by clip then hand, named ``<clip>/<left|right>``: metres, 120 fps,
        ``frame="world_y_up"`` after the x flip that makes the files right-handed (see the
        module docstring); only that hand's holistic75 joints are present. ``meta`` has
        ``clip``, ``hand``, ``source``, ``bvh_joints``, ``bvh_positions`` (metres, flipped).

    Raises:
        DataNotFoundError: the folder is missing or holds no hand files.
        ValueError: invalid BVH or missing joints.
    """
    folder = source_dir(root, "manipnet_hands")
    motions = []
    for clip in sorted(d for d in folder.iterdir() if d.is_dir()):
        for file, hand in MANIPNET_HANDS.items():
            if not (clip / file).is_file():
                continue
            bvh = read_bvh(clip / file)
            bvh.positions = bvh.positions * np.array([-1.0, 1.0, 1.0])  # Unity's left-handed frame -> right-handed
            start = HOLISTIC75.index(f"{hand}_hand_wrist")
            mapping = {name: start + k for name, k in MANIPNET_TO_HAND21.items()}
            m = _body_motion(bvh, mapping, DECIMETRE, {"clip": clip.name, "hand": hand})
            m.name = f"{clip.name}/{hand}"
            motions.append(m)
    if not motions:
        raise DataNotFoundError(f"{folder}: expected <clip>/leftHand.bvh or rightHand.bvh files, found none")
    return motions
