"""The Blender client's pure part: a Skeletor Live frame's rig -> pose-bone rotations of an armature.

No ``bpy`` here (the add-on in ``__init__.py`` feeds it from Blender), only the standard
library, so it runs and is tested outside Blender. Quaternions are ``(w, x, y, z)`` tuples,
Blender's ``mathutils.Quaternion`` order; the wire sends ``[x, y, z, w]``.

The rig (``hello``'s ``rig``, docs/protocol.md): local rotations relative to a T-pose whose
bones all have identity world rotations, in the rig world (right-handed, Y up, facing +Z,
the person's left at +X). Blender is Z up with a character facing -Y: the rig world maps to
Blender's world by +90 degrees about X, ``(x, y, z) -> (x, -z, y)``, then into the armature's
own space by the inverse of the armature object's rotation.

For an armature bone ``b`` whose rest orientation (``bone.matrix_local``, armature space) is
``R_b`` and whose driven parent has target world rotation ``G_p`` (identity for a bone with
no driven parent), Blender poses ``M_b = M_p R_p^-1 R_b basis``; asking for
``M_b = G_b R_b`` with ``G_b`` the rig's world rotation in armature axes gives

    basis_b = R_b^-1 G_p^-1 G_b R_b.

With ``align_rest`` each limb bone's ``G_b`` also carries the turn from the armature's rest
direction onto the rig's T-pose direction, so an A-pose rest (arms 45 degrees down) still
follows the person; for a T-pose rest it is the identity.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ArmatureBone",
    "RigFrame",
    "MIXAMO",
    "decode_rig_frame",
    "guess_bone_map",
    "pose_basis",
    "q_conj",
    "q_mul",
    "q_rotate",
    "rig_world_rotations",
]

Quat = tuple[float, float, float, float]  # (w, x, y, z)
Vec = tuple[float, float, float]

HEADER = struct.Struct("<4sBBHQqqHHI")  # the 40-byte binary frame header (docs/protocol.md)
ROTATIONS_HEADER = struct.Struct("<HHI3f")  # the rotations block's 20-byte header
FLAG_JOINTS, FLAG_CONFIDENCE, FLAG_RAW, FLAG_LATENCY, FLAG_ROTATIONS = 1, 2, 4, 8, 16
_S = math.sqrt(0.5)
RIG_TO_BLENDER: Quat = (_S, _S, 0.0, 0.0)  # +90 degrees about X: rig world (Y up, facing +Z) -> Blender world (Z up, facing -Y)
IDENTITY: Quat = (1.0, 0.0, 0.0, 0.0)

# Mixamo's bone names (mixamorig:...) for the rig's HumanBodyBones names (no UpperChest there).
MIXAMO = {
    "Hips": "Hips", "Spine": "Spine", "Chest": "Spine1", "UpperChest": "Spine2", "Neck": "Neck", "Head": "Head",
    **{f"{s}Shoulder": f"{s}Shoulder" for s in ("Left", "Right")},
    **{f"{s}UpperArm": f"{s}Arm" for s in ("Left", "Right")},
    **{f"{s}LowerArm": f"{s}ForeArm" for s in ("Left", "Right")},
    **{f"{s}Hand": f"{s}Hand" for s in ("Left", "Right")},
    **{f"{s}UpperLeg": f"{s}UpLeg" for s in ("Left", "Right")},
    **{f"{s}LowerLeg": f"{s}Leg" for s in ("Left", "Right")},
    **{f"{s}Foot": f"{s}Foot" for s in ("Left", "Right")},
    **{f"{s}Toes": f"{s}ToeBase" for s in ("Left", "Right")},
    **{f"{s}{f}{p}": f"{s}Hand{m}{i}" for s in ("Left", "Right")
       for f, m in (("Thumb", "Thumb"), ("Index", "Index"), ("Middle", "Middle"), ("Ring", "Ring"), ("Little", "Pinky"))
       for i, p in enumerate(("Proximal", "Intermediate", "Distal"), start=1)},
}  # fmt: skip
# Limb bones get their rest direction aligned (align_rest): the bone -> the child joint it points at.
_AIM_CHILD = {
    **{f"{s}{a}": f"{s}{b}" for s in ("Left", "Right") for a, b in (("UpperArm", "LowerArm"), ("LowerArm", "Hand"), ("UpperLeg", "LowerLeg"), ("LowerLeg", "Foot"))},
    **{f"{s}{f}{a}": f"{s}{f}{b}" for s in ("Left", "Right") for f in ("Thumb", "Index", "Middle", "Ring", "Little")
       for a, b in (("Proximal", "Intermediate"), ("Intermediate", "Distal"))},
}  # fmt: skip


# --------------------------------------------------------------------------- quaternions (w, x, y, z)


def q_mul(a: Sequence[float], b: Sequence[float]) -> Quat:
    """Hamilton product ``a * b`` (``b`` first, then ``a``)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def q_conj(q: Sequence[float]) -> Quat:
    """The inverse of a unit quaternion."""
    return (q[0], -q[1], -q[2], -q[3])


def q_rotate(q: Sequence[float], v: Sequence[float]) -> Vec:
    """``v`` rotated by the unit quaternion ``q``."""
    w, x, y, z = q
    tx, ty, tz = 2 * (y * v[2] - z * v[1]), 2 * (z * v[0] - x * v[2]), 2 * (x * v[1] - y * v[0])
    return (v[0] + w * tx + y * tz - z * ty, v[1] + w * ty + z * tx - x * tz, v[2] + w * tz + x * ty - y * tx)


def q_between(a: Sequence[float], b: Sequence[float]) -> Quat:
    """The shortest turn taking direction ``a`` onto direction ``b`` (identity if either is zero)."""
    na, nb = math.sqrt(sum(c * c for c in a)), math.sqrt(sum(c * c for c in b))
    if na < 1e-12 or nb < 1e-12:
        return IDENTITY
    a = [c / na for c in a]
    b = [c / nb for c in b]
    d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    cx, cy, cz = a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]
    if d < -0.999999:  # opposite: any axis across a
        ax = (0.0, -a[2], a[1]) if abs(a[0]) < 0.9 else (-a[2], 0.0, a[0])
        n = math.sqrt(sum(c * c for c in ax))
        return (0.0, ax[0] / n, ax[1] / n, ax[2] / n)
    q = (1.0 + d, cx, cy, cz)
    n = math.sqrt(sum(c * c for c in q))
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


# --------------------------------------------------------------------------- frames


@dataclass
class RigFrame:
    """The rig of one frame.

    Attributes:
        seq: the frame's counter.
        rig_version: which rest rig (``rig`` message) it belongs to.
        hips: (x, y, z) metres, rig world.
        rotations: B local quaternions as (w, x, y, z), in ``hello``'s ``rig.bones`` order.
        valid: B flags, True where observed this frame.
    """

    seq: int
    rig_version: int
    hips: Vec
    rotations: list[Quat]
    valid: list[bool] = field(default_factory=list)


def decode_rig_frame(message: bytes | str) -> RigFrame | None:
    """The rig of a ``frame`` message (binary or JSON); None for other messages or frames without one.

    Raises:
        ValueError: a binary frame whose sizes do not add up.
    """
    if isinstance(message, str):
        msg = json.loads(message)
        if msg.get("type") != "frame" or not msg.get("rotations"):
            return None
        rot = [(q[3], q[0], q[1], q[2]) if q else IDENTITY for q in msg["rotations"]]
        return RigFrame(
            msg["seq"], msg["rig_version"], tuple(msg["hips_position"] or (0.0, 0.0, 0.0)), rot, [bool(v) for v in msg["rotations_valid"]]
        )  # type: ignore[arg-type]
    data = bytes(message)
    if len(data) < HEADER.size:
        raise ValueError(f"a binary frame of {len(data)} bytes")
    magic, version, kind, flags, seq, _, _, n, latency_bytes, _ = HEADER.unpack_from(data)
    if magic != b"SKLT" or version != 1 or kind != 1:
        raise ValueError("not a protocol 1 binary frame")
    if not flags & FLAG_ROTATIONS:
        return None
    at = HEADER.size + 4 * n * ((3 if flags & FLAG_JOINTS else 0) + (1 if flags & FLAG_CONFIDENCE else 0) + (3 if flags & FLAG_RAW else 0))
    b, _, rig_version, hx, hy, hz = ROTATIONS_HEADER.unpack_from(data, at)
    q_at = at + ROTATIONS_HEADER.size
    if q_at + 17 * b + (-b % 4) + latency_bytes != len(data):
        raise ValueError("the rotations block does not fit the message")
    flat = struct.unpack_from(f"<{4 * b}f", data, q_at)
    rot = [(flat[4 * i + 3], flat[4 * i], flat[4 * i + 1], flat[4 * i + 2]) for i in range(b)]
    valid = [v != 0 for v in data[q_at + 16 * b : q_at + 17 * b]]
    return RigFrame(seq, rig_version, (hx, hy, hz), rot, valid)


def rig_world_rotations(parents: Sequence[int], rotations: Sequence[Quat]) -> list[Quat]:
    """Each bone's world rotation in the rig world: ``world[b] = world[parent[b]] * local[b]``."""
    world: list[Quat] = []
    for b, p in enumerate(parents):
        world.append(tuple(rotations[b]) if p < 0 else q_mul(world[p], rotations[b]))  # type: ignore[arg-type]
    return world


# --------------------------------------------------------------------------- the armature


@dataclass(frozen=True)
class ArmatureBone:
    """What the conversion needs of one armature bone.

    Attributes:
        name: the bone's name in the armature.
        parent: its parent's name (None for a root).
        rest: its rest orientation in armature space, ``bone.matrix_local.to_quaternion()`` (w, x, y, z).
        head: its rest head in armature space (``bone.head_local``), armature units.
    """

    name: str
    parent: str | None
    rest: Quat
    head: Vec = (0.0, 0.0, 0.0)


def guess_bone_map(rig_bones: Sequence[str], armature_bones: Sequence[str]) -> dict[str, str]:
    """Rig bone name -> armature bone name: the same names (VRM / Unity style), else Mixamo's
    (with any ``prefix:`` such as ``mixamorig:``), matched case-insensitively; unmatched bones are left out."""
    lower = {n.lower(): n for n in armature_bones}
    stripped = {n.split(":")[-1].lower(): n for n in armature_bones}
    out = {}
    for b in rig_bones:
        for candidate in (b, MIXAMO.get(b, "")):
            hit = lower.get(candidate.lower()) or stripped.get(candidate.lower())
            if candidate and hit:
                out[b] = hit
                break
    return out


def pose_basis(
    frame: RigFrame,
    rig_bones: Sequence[str],
    rig_parents: Sequence[int],
    rest_offsets: Sequence[Sequence[float]],
    armature: Mapping[str, ArmatureBone],
    bone_map: Mapping[str, str],
    object_rotation: Sequence[float] = IDENTITY,
    align_rest: bool = True,
) -> dict[str, Quat]:
    """Pose-bone rotations (``rotation_quaternion``, mode ``QUATERNION``) that put the armature in the frame's pose.

    Args:
        frame: the decoded rig frame.
        rig_bones, rig_parents: ``hello``'s ``rig.bones`` and ``rig.parents``.
        rest_offsets: the rig's rest offsets (``rig`` message; ``hello``'s before one came), metres.
        armature: the armature's bones by name (rest orientations in armature space).
        bone_map: rig bone name -> armature bone name (:func:`guess_bone_map`).
        object_rotation: the armature object's world rotation (w, x, y, z).
        align_rest: turn each limb's rest direction onto the rig's T-pose direction first.

    Returns:
        Armature bone name -> (w, x, y, z) for every mapped bone.
    """
    world = rig_world_rotations(rig_parents, frame.rotations)
    m = q_mul(q_conj(object_rotation), RIG_TO_BLENDER)  # rig world -> armature space
    m_inv = q_conj(m)
    index = {n: i for i, n in enumerate(rig_bones)}
    target: dict[str, Quat] = {}  # armature bone -> G (its target world rotation in armature space)
    for rig_name, arm_name in bone_map.items():
        if arm_name not in armature or rig_name not in index:
            continue
        g = q_mul(q_mul(m, world[index[rig_name]]), m_inv)
        child = _AIM_CHILD.get(rig_name)
        if align_rest and child in index:
            rig_dir = q_rotate(m, rest_offsets[index[child]])  # the rig's rest direction, armature axes
            arm_dir = q_rotate(armature[arm_name].rest, (0.0, 1.0, 0.0))  # Blender bones point along their local +Y
            g = q_mul(g, q_between(arm_dir, rig_dir))
        target[arm_name] = g
    out = {}
    for name, g in target.items():
        bone = armature[name]
        # The nearest driven ancestor: bones in between stay at rest and carry its turn unchanged
        # (M_u = G_p R_u), so the formula holds with its G; none = the armature's own frame.
        parent = bone.parent
        while parent is not None and parent not in target:
            parent = armature[parent].parent if parent in armature else None
        g_p = IDENTITY if parent is None else target[parent]
        out[name] = q_mul(q_mul(q_conj(bone.rest), q_mul(q_conj(g_p), g)), bone.rest)
    return out


def hips_location(hips: Sequence[float], first: Sequence[float], bone: ArmatureBone, object_rotation: Sequence[float] = IDENTITY) -> Vec:
    """The Hips pose bone's ``location``: the person's hips motion since ``first``, at the avatar's size.

    The motion (rig world metres) is scaled by the avatar's hips height over the person's
    (``first``'s height over the floor: stand upright when connecting) and expressed in the
    bone's rest frame, as Blender's pose ``location`` is.

    Args:
        hips: this frame's ``hips_position`` (rig world, metres).
        first: the hips position to move from (the first frame after connecting).
        bone: the armature's hips bone (its rest head height gives the avatar's size).
        object_rotation: the armature object's world rotation (w, x, y, z).
    """
    m = q_mul(q_conj(object_rotation), RIG_TO_BLENDER)
    up = q_rotate(q_conj(object_rotation), (0.0, 0.0, 1.0))  # world up in armature space
    avatar_height = sum(h * u for h, u in zip(bone.head, up))
    scale = avatar_height / first[1] if first[1] > 0.2 and avatar_height > 0 else 1.0
    d = q_rotate(m, [scale * (a - b) for a, b in zip(hips, first)])
    return q_rotate(q_conj(bone.rest), d)
