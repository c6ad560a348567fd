"""``skeletor export-bvh``: cleaned 3D positions -> a BVH animation on a fixed-length rig.

The rig: a root at the mid-hip ("Hips"), a virtual "Neck" at the mid-shoulder, and the
holistic75 joints beneath them (legs, arms, head with eyes and ears, and both 21-point
hands with their fingers hanging off the wrists). Bone lengths are the clip's robust
median; rest directions come from the clip's median pose, or from the project's
procedural person for joints the clip never shows (so e.g. sign-language data without
legs still gets a complete, standing rig).

Rotations: each joint's global rotation is the best rigid fit (Kabsch) of its children's
rest offsets to their observed offsets when it has several (hips, neck, head, wrists,
ankles), else the smallest rotation from its parent's frame that points its one child
the right way. A frame where a joint's child is missing keeps the joint's last rotation.

Axes and units: our camera frame (x right, y down, z forward, metres) becomes a Y-up,
right-handed BVH world (x, -y, -z: a rotation of 180 deg about x) in centimetres by
default, which Blender imports as is. Channels: Hips has 6 (position, then Z X Y
rotation), every other joint 3 (Zrotation Xrotation Yrotation).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from skeletor.keypoints import KeypointFormatError, load_poses
from skeletor.skeleton import HOLISTIC75

__all__ = ["RIG", "poses_to_bvh", "write_bvh", "add_parser", "run"]

log = logging.getLogger(__name__)

HIPS, NECK = 75, 76  # virtual joints (mid-hip, mid-shoulder)


def _rig() -> list[tuple[int, int]]:
    """(joint, parent) pairs in BVH order (parents first); -1 = the root."""
    pairs = [(HIPS, -1), (23, HIPS), (25, 23), (27, 25), (29, 27), (31, 27), (24, HIPS), (26, 24), (28, 26), (30, 28), (32, 28), (NECK, HIPS)]
    pairs += [(0, NECK), (2, 0), (5, 0), (7, 0), (8, 0)]
    for sh, el, wr, h in ((11, 13, 15, 33), (12, 14, 16, 54)):
        pairs += [(sh, NECK), (el, sh), (wr, el)]
        for f in range(5):  # thumb, index, middle, ring, pinky: 4 points each, the first off the wrist
            base = h + 1 + 4 * f
            pairs += [(base, wr), (base + 1, base), (base + 2, base + 1), (base + 3, base + 2)]
    return pairs


RIG: list[tuple[int, int]] = _rig()
_NAMES = {**{i: n for i, n in enumerate(HOLISTIC75.joints)}, HIPS: "Hips", NECK: "Neck"}
_TO_BVH = np.diag([1.0, -1.0, -1.0])  # camera frame (y down, z forward) -> y up, z towards the camera


def _with_virtual(p: np.ndarray) -> np.ndarray:
    """(T, 77, 3): holistic75 plus mid-hip and mid-shoulder."""
    hips = 0.5 * (p[:, 23] + p[:, 24])
    neck = 0.5 * (p[:, 11] + p[:, 12])
    return np.concatenate([p, hips[:, None], neck[:, None]], axis=1)


def _template() -> np.ndarray:
    """(77, 3) a standing pose in the BVH frame (metres), for joints a clip never shows."""
    from skeletor.procedural import PersonConfig, ProceduralPerson

    p = ProceduralPerson(PersonConfig(walk=0.0, turn_deg=0.0, gesture=0.0)).pose(0.0)  # world y up, facing +z
    cam = p @ np.diag([1.0, -1.0, -1.0]).T  # as a camera facing the person would see it... in our frame
    return _with_virtual(cam)[0] @ _TO_BVH.T


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector a to unit vector b (3, 3)."""
    v = np.cross(a, b)
    c = float(a @ b)
    if c < -1 + 1e-9:  # opposite: any perpendicular axis
        axis = np.cross(a, [1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _kabsch(rest: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Rotation R minimising sum |R rest_k - obs_k|^2 (rows are vectors)."""
    u, _, vt = np.linalg.svd(obs.T @ rest)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _euler_zxy(r: np.ndarray) -> np.ndarray:
    """Degrees (z, x, y) with r = Rz(z) Rx(x) Ry(y)."""
    x = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    y = np.arctan2(-r[2, 0], r[2, 2])
    z = np.arctan2(-r[0, 1], r[1, 1])
    return np.degrees([z, x, y])


def poses_to_bvh(poses: np.ndarray, fps: float, scale: float = 100.0) -> str:
    """BVH text for (T, 75, 3) camera-frame poses (metres; NaN = missing).

    Args:
        poses: cleaned poses, e.g. ``skeletor clean`` output.
        fps: frame rate.
        scale: units per metre in the file (100 = centimetres).

    Raises:
        ValueError: wrong shape, or no frame with both shoulders.
    """
    p = np.asarray(poses, np.float64)
    if p.ndim != 3 or p.shape[1:] != (75, 3):
        raise ValueError(f"expected (T, 75, 3) poses, got {p.shape}")
    x = _with_virtual(p) @ _TO_BVH.T * scale  # (T, 77, 3) in the BVH frame
    if not np.isfinite(x[:, NECK]).any():
        raise ValueError("no frame shows both shoulders; cannot place the rig")
    # Rest offsets: median bone lengths along median directions; template where never seen.
    template = _template() * scale
    parent_of = dict(RIG)
    children: dict[int, list[int]] = {}
    for j, par in RIG:
        children.setdefault(par, []).append(j)
    offsets = {}
    for j, par in RIG[1:]:
        vec = x[:, j] - x[:, par]
        ok = np.isfinite(vec).all(-1)
        t_vec = template[j] - template[par]
        if ok.sum() >= 1:
            length = float(np.median(np.linalg.norm(vec[ok], axis=-1)))
            d = np.median(vec[ok] / np.maximum(np.linalg.norm(vec[ok], axis=-1, keepdims=True), 1e-9), axis=0)
            d = d / max(np.linalg.norm(d), 1e-9)
        else:
            length = float(np.linalg.norm(t_vec)) * (1.0 if not np.isfinite(x[:, NECK]).any() else 1.0)
            d = t_vec / max(np.linalg.norm(t_vec), 1e-9)
        offsets[j] = d * length
    # Root position: the mid-hip; if hips are never seen, the neck minus the rest spine.
    root = np.where(np.isfinite(x[:, HIPS]).all(-1, keepdims=True), x[:, HIPS], x[:, NECK] - offsets[NECK])
    root = _fill(root)
    T = len(x)
    glob = {j: np.tile(np.eye(3), (T, 1, 1)) for j, _ in RIG}
    last = {j: np.eye(3) for j, _ in RIG}
    for t in range(T):
        for j, par in RIG:
            base = glob[par][t] if par >= 0 else np.eye(3)
            kids = children.get(j, [])
            src = x[t, j] if j != HIPS else root[t]
            obs = [(k, x[t, k] - src) for k in kids if np.isfinite(x[t, k]).all() and np.isfinite(src).all()]
            if len(obs) >= 2:
                r = _kabsch(np.array([offsets[k] for k, _ in obs]), np.array([o for _, o in obs]))
            elif len(obs) == 1:
                k, o = obs[0]
                rest = base @ offsets[k]
                r = _rotation_between(rest / max(np.linalg.norm(rest), 1e-9), o / max(np.linalg.norm(o), 1e-9)) @ base
            else:
                r = base @ (last[par].T @ last[j]) if par >= 0 else last[j]  # keep the last local rotation
            glob[j][t] = r
            last[j] = r
    # Text.
    lines = ["HIERARCHY"]
    depth: dict[int, int] = {}

    def emit(j: int, indent: int) -> None:
        pad = "  " * indent
        off = np.zeros(3) if j == HIPS else offsets[j]
        kind = "ROOT" if j == HIPS else "JOINT"
        lines.append(f"{pad}{kind} {_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.4f} {off[1]:.4f} {off[2]:.4f}")
        ch = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if j == HIPS else "3 Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {ch}")
        kids = children.get(j, [])
        for k in kids:
            emit(k, indent + 1)
        if not kids:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET 0.0000 0.0000 0.0000")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")
        depth[j] = indent

    emit(HIPS, 0)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.6f}"]
    order = [j for j, _ in RIG]
    for t in range(T):
        vals = list(root[t])
        for j in order:
            par = parent_of[j]
            local = glob[j][t] if par < 0 else glob[par][t].T @ glob[j][t]
            vals += list(_euler_zxy(local))
        lines.append(" ".join(f"{v:.4f}" for v in vals))
    return "\n".join(lines) + "\n"


def _fill(a: np.ndarray) -> np.ndarray:
    """Hold the last finite row (and back-fill the start) of a (T, 3) track."""
    out = a.copy()
    ok = np.isfinite(out).all(-1)
    if not ok.any():
        return np.zeros_like(out)
    idx = np.where(ok, np.arange(len(out)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.argmax(ok))
    return out[idx]


def write_bvh(path: str | Path, poses: np.ndarray, fps: float, scale: float = 100.0) -> Path:
    """Write :func:`poses_to_bvh` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(poses_to_bvh(poses, fps, scale))
    return path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export-bvh`` on the ``skeletor`` parser."""
    p = sub.add_parser(
        "export-bvh",
        help="turn cleaned poses (.npz) into a BVH animation (Blender, MotionBuilder, game engines)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("poses", type=Path, help="output of `skeletor clean` (or a --record .npz)")
    p.add_argument("-o", "--output", type=Path, required=True, help="BVH file to write")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: the file's)")
    p.add_argument("--units", choices=("cm", "m"), default="cm", help="BVH units (default cm)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``skeletor export-bvh``."""
    try:
        seq = load_poses(args.poses)
        write_bvh(args.output, seq.poses3d, args.fps or seq.fps, 100.0 if args.units == "cm" else 1.0)
    except (KeypointFormatError, ValueError, OSError) as e:
        print(f"skeletor export-bvh: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({len(seq.poses3d)} frames)")
    return 0
