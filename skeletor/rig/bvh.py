"""``skeletor export-bvh``: cleaned 3D poses -> a BVH animation of the humanoid rig.

The same solver as live
    The clip goes frame by frame through :class:`skeletor.rig.RigSolver`, the solver the
    live stream uses (:func:`skeletor.rig.clip.solve_clip`); only its rest rig is measured
    from the whole clip first (medians over every frame), since a file knows all its frames
    (``calibration="stream"`` measures it on the first half second instead, as live).

The file
    One BVH joint per rig bone, named as Unity's ``HumanBodyBones`` (Hips, Spine, Chest,
    UpperChest, Neck, Head, Left/Right Shoulder, UpperArm, LowerArm, Hand, the three bones
    of each finger and thumb, UpperLeg, LowerLeg, Foot, Toes), in the rig's order (depth
    first). OFFSETs are the calibrated rest rig, a T-pose (arms out along +-X, palms down,
    thumbs 45 degrees forward, legs down, feet flat and forward); the fingertips, the toe
    tips and the top of the head are End Sites. The root's OFFSET is zero and its position
    channels are the Hips' world position.

Axes and units
    The rig world (:mod:`skeletor.rig.axes`): Y up, the floor at y = 0 (the feet stand on
    it at the start), the Hips over the origin at the start, the person facing +Z in the
    rest pose; centimetres by default. Blender's BVH import defaults (Forward -Z, Up Y) read
    it as is. ``up="z"`` turns it +90 degrees about x for Z-up tools (import with Forward Y,
    Up Z).

Rotation channels
    Each joint's local rotation as three intrinsic Euler angles in degrees. Each joint gets
    its own channel order, the Tait-Bryan order whose middle angle stays farthest from +-90
    degrees over the clip (the gimbal lock), ties going to ZXY; the angles are the principal
    ones (middle within +-90), unwrapped over time so every channel is continuous, then each
    channel shifted by the whole turns (multiples of 360) that centre its range on 0: a
    channel that sits near +-180 and crosses it is continuous and inside +-180 unless its
    own range is wider than a turn would allow. The solver keeps every twist within its
    anatomical range (:mod:`skeletor.rig.limits`), so a channel leaves +-180 degrees only
    where the joint really turns that far (the Hips of a person turning round) or where the
    cleaned landmarks swing a bone near half a turn (a finger folded back on itself).
"""

from __future__ import annotations

import argparse
import io
import itertools
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from skeletor.pose.keypoints import KeypointFormatError, PoseSequence, load_poses
from skeletor.rig.axes import to_bvh
from skeletor.rig.clip import RigClip, solve_clip
from skeletor.rig.humanoid import BONES, PARENTS
from skeletor.rig.quaternion import quat_to_matrix
from skeletor.rig.solver import RigConfig
from skeletor.pose.skeleton import upper50_to_holistic75

__all__ = ["BvhConfig", "BvhMotion", "EULER_ORDERS", "add_parser", "poses_to_bvh", "run", "solve_bvh", "write_bvh"]

log = logging.getLogger(__name__)

# The six Tait-Bryan orders, ZXY (the usual BVH order) first so that it wins ties.
EULER_ORDERS: tuple[str, ...] = ("ZXY",) + tuple("".join(p) for p in itertools.permutations("XYZ") if "".join(p) != "ZXY")
_TIE_DEG = 1.0  # an order must keep the middle angle this much further from 90 degrees to beat an earlier one
_HEAD_TOP = 0.7  # the head's End Site: this fraction of the neck's length above the mid-ear
_TOE_END_M = 0.03  # the toes' End Site: this far ahead of the toe tip (metres)


@dataclass(frozen=True)
class BvhConfig:
    """How :func:`write_bvh` solves and writes the file.

    Attributes:
        up: ``"y"`` (the rig world, Blender's default BVH import) or ``"z"`` (Z-up).
        units: ``"cm"`` (the BVH convention) or ``"m"``.
        min_confidence: joints with a lower confidence count as not detected
            (``RigConfig.min_confidence``).
        calibration: ``"clip"`` (rest rig from the whole clip's medians) or ``"stream"``
            (from the first half second, as live; earlier frames repeat the first rig).
        decimals: digits after the point in the file (4 = 0.1 um at cm, 1e-4 degrees).
    """

    up: str = "y"
    units: str = "cm"
    min_confidence: float = RigConfig.min_confidence
    calibration: str = "clip"
    decimals: int = 4

    def __post_init__(self) -> None:
        if self.up not in ("y", "z"):
            raise ValueError(f"up must be 'y' or 'z', got {self.up!r}")
        if self.units not in ("cm", "m"):
            raise ValueError(f"units must be 'cm' or 'm', got {self.units!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        if self.calibration not in ("clip", "stream"):
            raise ValueError(f"calibration must be 'clip' or 'stream', got {self.calibration!r}")
        if not 1 <= self.decimals <= 9:
            raise ValueError(f"decimals must be in [1, 9], got {self.decimals!r}")


@dataclass(frozen=True)
class BvhMotion:
    """A BVH animation of the rig (what :meth:`to_text` writes).

    Attributes:
        names: joint names in file order (``BONES``).
        parents: each joint's parent index, -1 for the root.
        offsets: (J, 3) rest offsets from the parent, file units and axes (root: zeros).
        end_sites: (J, 3) End Site offsets of the leaf joints, NaN rows for the others.
        root_position: (T, 3) the root's position channels, file units and axes.
        euler_deg: (T, J, 3) each joint's local rotation, degrees, in its ``orders`` channel order.
        orders: each joint's rotation channel order, e.g. ``"ZXY"`` (R = Rz Rx Ry).
        fps: frames per second.
        config: the settings used.
        clip: the solved rig (rig world, metres) the file was written from.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    end_sites: np.ndarray
    root_position: np.ndarray
    euler_deg: np.ndarray
    orders: tuple[str, ...]
    fps: float
    config: BvhConfig
    clip: RigClip

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.root_position.shape[0])

    def channels(self) -> np.ndarray:
        """(T, 3 + 3 J) motion rows in file order: root position, then each joint's three angles."""
        return np.concatenate([self.root_position, self.euler_deg.reshape(self.num_frames, -1)], axis=1)

    def to_text(self) -> str:
        """The BVH file text.

        Raises:
            ValueError: joints not depth first, or a non-finite value (the solver never makes one).
        """
        d = self.config.decimals
        children: dict[int, list[int]] = {}
        for j, p in enumerate(self.parents):
            children.setdefault(p, []).append(j)
        lines = ["HIERARCHY"]
        emitted: list[int] = []

        def vec(v: np.ndarray) -> str:
            return " ".join(f"{float(x):.{d}f}" for x in v)

        def emit(j: int, depth: int) -> None:
            emitted.append(j)
            pad = "\t" * depth
            rot = " ".join(f"{axis}rotation" for axis in self.orders[j])
            lines.append(f"{pad}{'ROOT' if self.parents[j] < 0 else 'JOINT'} {self.names[j]}")
            lines.append(f"{pad}{{")
            lines.append(f"{pad}\tOFFSET {vec(self.offsets[j])}")
            if self.parents[j] < 0:
                lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot}")
            else:
                lines.append(f"{pad}\tCHANNELS 3 {rot}")
            for c in children.get(j, []):
                emit(c, depth + 1)
            if not children.get(j):
                lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {vec(self.end_sites[j])}", f"{pad}\t}}"])
            lines.append(f"{pad}}}")

        emit(0, 0)
        if emitted != list(range(len(self.names))):
            raise ValueError("joints must be listed depth first, parents before children, one root first")
        data = self.channels()
        if not (np.isfinite(data).all() and np.isfinite(self.offsets).all()):
            raise ValueError("non-finite values in the BVH motion")
        lines += ["MOTION", f"Frames: {self.num_frames}", f"Frame Time: {1.0 / self.fps:.8f}"]
        buf = io.StringIO()
        buf.write("\n".join(lines) + "\n")
        np.savetxt(buf, data, fmt=f"%.{d}f", delimiter=" ")
        return buf.getvalue()


def _euler_channels(local: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Per-joint channel orders and (T, J, 3) continuous Euler degrees of (T, J, 3, 3) local rotations."""
    t, j = local.shape[:2]
    rot = Rotation.from_matrix(local.reshape(-1, 3, 3))
    best: list[tuple[float, str, np.ndarray]] = [(np.inf, "", np.zeros(0))] * j
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: the angles are still a valid solution
        for order in EULER_ORDERS:
            e = rot.as_euler(order, degrees=True).reshape(t, j, 3)
            worst = np.abs(e[..., 1]).max(axis=0)  # (J,) the middle angle's largest excursion
            for k in range(j):
                if worst[k] < best[k][0] - _TIE_DEG:
                    best[k] = (float(worst[k]), order, e[:, k])
    orders = tuple(b[1] for b in best)
    euler = np.stack([b[2] for b in best], axis=1)  # (T, J, 3)
    euler = np.unwrap(euler, period=360.0, axis=0)
    turns = np.round((euler.max(axis=0) + euler.min(axis=0)) / 720.0)  # (J, 3) whole turns centring each channel's range
    return orders, euler - 360.0 * turns


def solve_bvh(
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> BvhMotion:
    """Solve the rig over a clip (see the module docstring) and express it as BVH channels.

    Args:
        poses: (T, 75, 3) holistic75 poses, camera frame (x right, y down, z forward),
            metres; NaN where a point is missing.
        confidence: optional (T, 75) confidences (None: every finite point is detected).
        fps: frames per second (> 0).
        config: axes, units, calibration and precision (default :class:`BvhConfig`).

    Returns:
        The :class:`BvhMotion`.

    Raises:
        ValueError: wrong shapes, a bad fps, no frames, or no frame with both shoulders
            detected (nothing to hang the rig on).
    """
    config = config or BvhConfig()
    clip = solve_clip(poses, confidence, fps, RigConfig(min_confidence=config.min_confidence), config.calibration)
    local = quat_to_matrix(clip.rotations)  # (T, B, 3, 3)
    rest = clip.rest
    offsets, local = to_bvh(rest.offsets, local, up=config.up, units=config.units)
    root, _ = to_bvh(clip.hips_position, up=config.up, units=config.units)
    orders, euler = _euler_channels(local)
    ends = np.full((len(BONES), 3), np.nan)
    has_child = {p for p in PARENTS if p >= 0}
    neck = float(np.linalg.norm(rest.offsets[BONES.index("Head")]))
    foot_scale = float(np.linalg.norm(rest.offsets[BONES.index("LeftToes")])) / 0.19
    tips = {f"{side}{finger}Distal": 33 + 21 * (side == "Right") + base + 3 for side in ("Left", "Right")
            for finger, base in (("Thumb", 1), ("Index", 5), ("Middle", 9), ("Ring", 13), ("Little", 17))}  # fmt: skip
    for b, name in enumerate(BONES):
        if b in has_child:
            continue
        if name in tips:
            end = rest.site_offsets[tips[name]]
        elif name == "Head":
            end = np.array([0.0, _HEAD_TOP * neck, 0.0])
        else:  # the toes
            end = np.array([0.0, 0.0, _TOE_END_M * foot_scale])
        ends[b] = to_bvh(end, up=config.up, units=config.units)[0]
    log.debug("BVH: %d joints, %d frames, orders %s", len(BONES), clip.num_frames, dict(zip(BONES, orders)))
    return BvhMotion(
        names=BONES,
        parents=PARENTS,
        offsets=offsets,
        end_sites=ends,
        root_position=root,
        euler_deg=euler,
        orders=orders,
        fps=float(fps),
        config=config,
        clip=clip,
    )


def poses_to_bvh(
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> str:
    """BVH text for a pose sequence: :func:`solve_bvh`, then :meth:`BvhMotion.to_text`.

    Args:
        poses: (T, 75, 3) holistic75 poses, camera frame, metres; NaN where missing.
        confidence: optional (T, 75) confidences.
        fps: frames per second.
        config: axes, units, calibration and precision.

    Returns:
        The file text (never holds NaN).

    Raises:
        ValueError: see :func:`solve_bvh`.
    """
    return solve_bvh(poses, confidence, fps, config).to_text()


def write_bvh(
    path: str | Path,
    poses: np.ndarray,
    confidence: np.ndarray | None = None,
    fps: float = 30.0,
    config: BvhConfig | None = None,
) -> BvhMotion:
    """Write :func:`poses_to_bvh` to ``path`` (through a temporary file, then renamed).

    Args:
        path: the ``.bvh`` file.
        poses: (T, 75, 3) holistic75 poses, camera frame, metres; NaN where missing.
        confidence: optional (T, 75) confidences.
        fps: frames per second.
        config: axes, units, calibration and precision.

    Returns:
        The solved motion.

    Raises:
        ValueError: see :func:`solve_bvh`.
        OSError: the file cannot be written.
    """
    motion = solve_bvh(poses, confidence, fps, config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(motion.to_text(), encoding="ascii")
    tmp.replace(path)
    return motion


# --------------------------------------------------------------------------- CLI

_DESCRIPTION = """\
Turn cleaned 3D poses into a BVH animation of a humanoid rig (Blender, MotionBuilder, Maya,
Unity, Unreal).

Input: a pose .npz (the output of `skeletor clean`, or `skeletor-live --record x.npz`) or a
.jsonl recording (`skeletor-live --record x.jsonl`); camera frame, metres.

The rig is the one the live stream drives: Unity HumanBodyBones names (Hips, Spine, Chest,
UpperChest, Neck, Head, shoulders, arms, hands, three bones per finger and thumb, legs, feet,
toes), solved frame by frame by the streaming rig solver. Its bone lengths (and the palm's
and face's shape) are the medians over the clip (--calibration clip, the default) or over
its first half second as live (--calibration stream); the rest pose is a T-pose: arms out
along +-X, palms down, thumbs 45 degrees forward, legs down, feet flat and forward.

Each bone's rotation points its rest direction exactly at the observed bone; the twist
about it comes from the palm (hands, forearms), the elbow's and knee's bend planes, heel and
toe (feet), ears and eyes (head), the shoulder and hip lines (spine). A joint not detected
keeps its last rotation and eases back when it returns; the file never holds NaN.

Axes: Y up (default; Blender's BVH import defaults, Forward -Z Up Y) or Z up (import with
Forward Y, Up Z); the floor is y = 0 with the feet on it at the start, the Hips start over
the origin; centimetres by default. Rotation channels: intrinsic Euler angles in degrees,
each joint in the channel order that keeps it farthest from gimbal lock, continuous over time.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export-bvh`` on the ``skeletor`` parser."""
    p = sub.add_parser(
        "export-bvh",
        help="turn cleaned 3D poses (.npz / .jsonl recording) into a BVH animation of a humanoid rig",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("poses", type=Path, metavar="POSES", help="pose .npz (skeletor clean output or a recording) or a .jsonl recording")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.bvh", help="BVH file to write")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the animation (default: the input's)")
    p.add_argument("--up", choices=("y", "z"), default="y", help="world up axis (default y: Blender's BVH import defaults)")
    p.add_argument("--scale", choices=("cm", "m"), default="cm", help="file units (default cm, the BVH convention)")
    p.add_argument(
        "--calibration", choices=("clip", "stream"), default="clip",
        help="measure the rig's bone lengths over the whole clip (default) or its first half second, as live",
    )  # fmt: skip
    p.add_argument(
        "--min-confidence", type=float, default=RigConfig.min_confidence, metavar="C",
        help=f"joints below this confidence count as not detected and hold their rotation (default {RigConfig.min_confidence})",
    )  # fmt: skip
    p.set_defaults(run=run)


def _read_input(path: Path) -> PoseSequence:
    if not path.is_file():
        raise KeypointFormatError(f"{path}: no such file")
    if path.suffix.lower() == ".jsonl":
        from skeletor.io.recording import read_jsonl

        return read_jsonl(path)
    seq = load_poses(path)
    if seq.skeleton == "upper50":
        conf = upper50_to_holistic75(seq.confidence[..., None], fill=0.0)[..., 0]
        return PoseSequence(upper50_to_holistic75(seq.poses3d), conf, seq.fps)
    if seq.skeleton != "holistic75":
        raise KeypointFormatError(f"{path}: skeleton {seq.skeleton!r} is not supported; expected 'holistic75'")
    return seq


def run(args: argparse.Namespace) -> int:
    """Export one file; a bad input or setting is reported in one line with exit code 2."""
    try:
        config = BvhConfig(up=args.up, units=args.scale, min_confidence=args.min_confidence, calibration=args.calibration)
        seq = _read_input(args.poses)
        motion = write_bvh(args.output, seq.poses3d, seq.confidence, args.fps or seq.fps, config)
    except (KeypointFormatError, ValueError, OSError) as e:
        msg = str(e) if str(args.poses) in str(e) else f"{args.poses}: {e}"
        print(f"skeletor export-bvh: error: {msg}", file=sys.stderr)
        return 2
    clip = motion.clip
    print(
        f"skeletor export-bvh: wrote {args.output} ({motion.num_frames} frames at {motion.fps:g} fps, "
        f"{len(motion.names)} joints; {int((~clip.emitted).sum())} frames without a person repeat a neighbour)",
        file=sys.stderr,
    )
    return 0
