"""The Blender add-on's pure part: frames decoded from our codec's bytes, and pose-bone rotations that,
run through Blender's own pose formula (simulated here with numpy), put the armature's joints where
the library's forward kinematics puts the rig's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from skeletor.protocol import PoseFrame, encode_frame
from skeletor.rig import BONES, PARENTS, forward_kinematics
from skeletor_live import rig_pose  # loaded without bpy (conftest.py)

A = Rotation.from_quat([np.sqrt(0.5), 0, 0, np.sqrt(0.5)]).as_matrix()  # rig world -> Blender (+90 deg about X)


def wxyz(q_xyzw: np.ndarray) -> tuple[float, ...]:
    return (float(q_xyzw[3]), float(q_xyzw[0]), float(q_xyzw[1]), float(q_xyzw[2]))


def matrix(q_wxyz: tuple[float, ...]) -> np.ndarray:
    w, x, y, z = q_wxyz
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def test_frames_decode_from_binary_and_json(rigged_frames: list[PoseFrame]) -> None:
    f = next(f for f in rigged_frames[40:] if f.rig is not None)
    assert f.rig is not None
    for fmt, tol in (("binary", 0.0), ("json", 5.1e-7)):
        got = rig_pose.decode_rig_frame(encode_frame(f, fmt, ["joints", "rotations", "latency_ms"], 0))
        assert got is not None and got.seq == f.seq and got.rig_version == f.rig.rig_version
        np.testing.assert_allclose(np.array(got.rotations), [wxyz(q) for q in f.rig.rotations], atol=tol)
        np.testing.assert_allclose(got.hips, f.rig.hips_position, atol=max(tol, 5.1e-6) if tol else 0)
        assert got.valid == f.rig.valid.tolist()
    assert rig_pose.decode_rig_frame(encode_frame(f, "binary", ["joints"], 0)) is None  # not subscribed
    assert rig_pose.decode_rig_frame('{"type": "status", "event": "no_person"}') is None
    with pytest.raises(ValueError):
        rig_pose.decode_rig_frame(encode_frame(f, "binary", ["rotations"], 0)[:-4])


def rest_positions(offsets: np.ndarray) -> np.ndarray:
    """(B, 3) the rig's joints in its rest T-pose (Hips at the origin), rig world."""
    return forward_kinematics(offsets, np.zeros(3), np.tile([0.0, 0.0, 0.0, 1.0], (len(BONES), 1)))


def blender_pose(
    armature: dict[str, rig_pose.ArmatureBone], basis: dict[str, tuple], location: dict[str, tuple] | None = None
) -> dict[str, np.ndarray]:
    """Blender's pose evaluation: ``M_b = M_parent @ rest_parent^-1 @ rest_b @ basis_b`` (4 x 4,
    armature space); returns each bone's posed head."""
    location = location or {}
    out: dict[str, np.ndarray] = {}
    for name, bone in armature.items():  # parents first
        rest = np.eye(4)
        rest[:3, :3], rest[:3, 3] = matrix(bone.rest), bone.head
        b = np.eye(4)
        b[:3, :3] = matrix(basis.get(name, (1.0, 0.0, 0.0, 0.0)))
        b[:3, 3] = location.get(name, (0.0, 0.0, 0.0))
        if bone.parent is None:
            m = rest @ b
        else:
            p = armature[bone.parent]
            rest_p = np.eye(4)
            rest_p[:3, :3], rest_p[:3, 3] = matrix(p.rest), p.head
            m = out[bone.parent] @ np.linalg.inv(rest_p) @ rest @ b
        out[name] = m
    return {n: m[:3, 3] for n, m in out.items()}


def armature_like_the_rig(
    offsets: np.ndarray, rng: np.random.Generator, names: dict[str, str], pose_rotations: dict[str, Rotation] | None = None
) -> dict[str, rig_pose.ArmatureBone]:
    """An armature with the rig's tree, heads at the rig's rest joints (Blender axes, feet near z = 0)
    and arbitrary bone rolls: each bone's rest orientation turned about random axes."""
    rest = rest_positions(offsets) @ A.T + [0, 0, 0.95]
    bones = {}
    for b, name in enumerate(BONES):
        r = Rotation.random(random_state=rng.integers(1 << 30))
        x, y, z, w = r.as_quat()
        parent = names[BONES[PARENTS[b]]] if PARENTS[b] >= 0 else None
        bones[names[name]] = rig_pose.ArmatureBone(names[name], parent, (w, x, y, z), tuple(rest[b]))
    return bones


@pytest.mark.parametrize("object_turn_deg", [0.0, 90.0])
def test_pose_puts_every_joint_where_the_rig_has_it(rigged_frames: list[PoseFrame], object_turn_deg: float) -> None:
    """Any rest orientation of the bones (their roll): the posed joints are the rig's FK, in Blender axes.
    (An armature object turned 90 degrees about X, as some FBX imports are, changes nothing in world.)"""
    rng = np.random.default_rng(3)
    names = {n: f"mixamorig:{rig_pose.MIXAMO[n]}" for n in BONES if n in rig_pose.MIXAMO}
    names["UpperChest"] = "mixamorig:Spine2"
    assert len(set(names.values())) == len(BONES)
    frames = [f for f in rigged_frames if f.rig is not None][::20]
    offsets = frames[0].rig.rest_offsets  # type: ignore[union-attr]
    armature = armature_like_the_rig(offsets, rng, names)
    obj = Rotation.from_euler("x", object_turn_deg, degrees=True)
    ox, oy, oz, ow = obj.as_quat()
    bone_map = rig_pose.guess_bone_map(BONES, list(armature))
    assert bone_map == names  # Mixamo names behind a prefix are found
    worst = 0.0
    for f in frames:
        rig = f.rig
        assert rig is not None
        frame = rig_pose.decode_rig_frame(encode_frame(f, "binary", ["rotations"], 0))
        assert frame is not None
        # The object's turn is undone in armature space: express the rig there.
        a_obj = obj.inv().as_matrix() @ A
        armature_here = {
            k: rig_pose.ArmatureBone(b.name, b.parent, _turned(b.rest, obj.inv()), tuple(obj.inv().apply(b.head)))
            for k, b in armature.items()
        }
        basis = rig_pose.pose_basis(
            frame, BONES, PARENTS, rig.rest_offsets.tolist(), armature_here, bone_map, (ow, ox, oy, oz), align_rest=False
        )
        heads = blender_pose(armature_here, basis)
        fk = forward_kinematics(offsets, np.zeros(3), rig.rotations) @ a_obj.T  # at the armature's own bone lengths
        hips_head = np.array(armature_here[names["Hips"]].head)
        for b, name in enumerate(BONES):
            worst = max(worst, float(np.linalg.norm(heads[names[name]] - (hips_head + fk[b]))))
    assert worst < 1e-5, worst  # metres


def _turned(q_wxyz: tuple, r: Rotation) -> tuple:
    w, x, y, z = q_wxyz
    x, y, z, w = (r * Rotation.from_quat([x, y, z, w])).as_quat()
    return (w, x, y, z)


def test_an_a_pose_rest_follows_with_align_rest(rigged_frames: list[PoseFrame]) -> None:
    """An armature resting in an A-pose (arms 40 degrees down, +Y along each bone as Blender's bones
    are): with align_rest its limbs point where the rig's do; without, the arms are off by the A."""
    f = [f for f in rigged_frames if f.rig is not None][60]
    rig = f.rig
    assert rig is not None
    names = {n: n for n in BONES}
    rest = rest_positions(rig.rest_offsets)
    down = {"Left": Rotation.from_euler("z", -40, degrees=True), "Right": Rotation.from_euler("z", 40, degrees=True)}
    pos = rest.copy()
    for b, n in enumerate(BONES):  # lower each arm about its shoulder joint
        side = "Left" if n.startswith("Left") else "Right" if n.startswith("Right") else None
        if side and any(k in n for k in ("UpperArm", "LowerArm", "Hand", "Thumb", "Index", "Middle", "Ring", "Little")):
            sh = rest[BONES.index(f"{side}UpperArm")]
            pos[b] = sh + down[side].apply(rest[b] - sh)
    heads = pos @ A.T
    armature = {}
    for b, n in enumerate(BONES):
        child = next((c for c in range(len(BONES)) if PARENTS[c] == b and np.linalg.norm(heads[c] - heads[b]) > 1e-6), None)
        y = (heads[child] - heads[b]) if child is not None else np.array([0.0, 0.0, 1.0])
        r, _ = Rotation.align_vectors([y], [[0.0, 1.0, 0.0]])  # the bone's +Y along its head -> tail
        x, yq, z, w = r.as_quat()
        armature[n] = rig_pose.ArmatureBone(n, BONES[PARENTS[b]] if PARENTS[b] >= 0 else None, (w, x, yq, z), tuple(heads[b]))
    frame = rig_pose.decode_rig_frame(encode_frame(f, "binary", ["rotations"], 0))
    assert frame is not None
    fk = forward_kinematics(rig.rest_offsets, np.zeros(3), rig.rotations) @ A.T
    limbs = [
        ("LeftUpperArm", "LeftLowerArm"),
        ("LeftLowerArm", "LeftHand"),
        ("RightUpperArm", "RightLowerArm"),
        ("RightLowerArm", "RightHand"),
    ]

    def worst_deg(align: bool) -> float:
        basis = rig_pose.pose_basis(frame, BONES, PARENTS, rig.rest_offsets.tolist(), armature, names, align_rest=align)
        got = blender_pose(armature, basis)
        out = 0.0
        for a, b in limbs:
            u, v = got[b] - got[a], fk[BONES.index(b)] - fk[BONES.index(a)]
            out = max(out, float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))))
        return out

    assert worst_deg(True) < 1e-3
    assert worst_deg(False) > 30  # the A-pose's 40 degrees show without the alignment


def test_hips_move_at_the_avatars_size() -> None:
    bone = rig_pose.ArmatureBone("Hips", None, (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.5))  # a small avatar: hips 0.5 m up
    first = (0.1, 1.0, 0.2)  # the person's hips 1 m over the floor (rig world, Y up)
    loc = rig_pose.hips_location((0.3, 0.8, 0.2), first, bone)
    np.testing.assert_allclose(loc, [0.1, 0.0, -0.1], atol=1e-12)  # half the motion; rig +x stays +x, rig y (up) becomes z


def test_bone_names_are_matched() -> None:
    assert rig_pose.guess_bone_map(["Hips", "LeftUpperArm", "LeftLittleDistal"], ["hips", "LeftUpperArm", "J_Bip_L_Foot"]) == {
        "Hips": "hips",
        "LeftUpperArm": "LeftUpperArm",
    }
    mixamo = ["mixamorig:Hips", "mixamorig:LeftArm", "mixamorig:LeftHandPinky3", "mixamorig:Spine2"]
    assert rig_pose.guess_bone_map(["Hips", "LeftUpperArm", "LeftLittleDistal", "UpperChest", "Chest"], mixamo) == {
        "Hips": "mixamorig:Hips", "LeftUpperArm": "mixamorig:LeftArm", "LeftLittleDistal": "mixamorig:LeftHandPinky3", "UpperChest": "mixamorig:Spine2",
    }  # fmt: skip
