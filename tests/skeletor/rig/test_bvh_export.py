"""BVH export on the rig solver: read the file back with bvhio (an independent parser), run its
forward kinematics, and compare with the cleaned poses mapped into the file's world."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import bvhio
import numpy as np
import pytest

from skeletor.cli import main
from skeletor.datasets.phoenix import load_phoenix
from skeletor.pose.keypoints import PoseSequence, save_poses
from skeletor.protocol import PoseFrame
from skeletor.io.recording import Recorder
from skeletor.rig import BONES, RigConfig, camera_to_world, forward_kinematics
from skeletor.rig.bvh import EULER_ORDERS, BvhConfig, poses_to_bvh, solve_bvh, write_bvh
from skeletor.rig.humanoid import BONE_POINT, POINT_MATRIX, extended_points

sys.path.insert(0, str(Path(__file__).parent))
from rig_helpers import posed_person  # noqa: E402

COMMANDS = ("skeletor.rig.bvh",)
PHOENIX_SHOULDER_M = 0.35  # Phoenix is in shoulder widths; an adult's is about this in metres
FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")


def bvhio_joints(path: Path, frames: list[int]) -> tuple[list[str], np.ndarray]:
    """Joint names and (len(frames), J, 3) world positions by bvhio's own forward kinematics."""
    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    out = np.empty((len(frames), len(joints), 3))
    for i, t in enumerate(frames):
        root.loadPose(t)
        for k, j in enumerate(joints):
            p = j.PositionWorld
            out[i, k] = (p.x, p.y, p.z)
    return [j.Name for j in joints], out


def cleaned_in_file_world(
    poses: np.ndarray, confidence: np.ndarray, world_offset: np.ndarray, scale: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """The cleaned poses at each rig joint's point, in the file's world: (T, B, 3) and (T, B) detected."""
    world = camera_to_world(poses, world_offset[:, None])  # (T, 75, 3) metres
    det = np.isfinite(poses).all(-1) & (confidence >= RigConfig().min_confidence)
    ext = extended_points(np.where(det[..., None], world, 0.0))
    det_ext = ((POINT_MATRIX != 0).astype(float) @ (~det).T.astype(float)).T == 0
    return ext[:, list(BONE_POINT)] * scale, det_ext[:, list(BONE_POINT)]


# --------------------------------------------------------------------------- a rigid person: exact


def test_rigid_person_round_trips_through_bvhio(tmp_path: Path) -> None:
    cam, _, _, rest = posed_person(frames=40)
    motion = write_bvh(tmp_path / "s.bvh", cam, None, 30.0)
    names, fk = bvhio_joints(tmp_path / "s.bvh", list(range(0, 40, 3)))
    assert names == list(BONES) and motion.names == BONES
    want, det = cleaned_in_file_world(cam, np.ones(cam.shape[:2]), motion.clip.world_offset)
    err = np.linalg.norm(fk - want[::3], axis=-1)
    assert det.all() and err.max() < 0.01, (err.max(), BONES[int(err.max(0).argmax())])  # cm: exact up to rounding
    np.testing.assert_allclose(motion.offsets[BONES.index("LeftLowerArm")], rest.offsets[BONES.index("LeftLowerArm")] * 100, atol=1e-3)
    np.testing.assert_allclose(motion.offsets[0], 0.0)  # the root's position channels are absolute


def test_bvhio_and_our_forward_kinematics_agree(tmp_path: Path) -> None:
    cam, _, _, _ = posed_person(frames=12, seed=11)
    motion = write_bvh(tmp_path / "a.bvh", cam, None, 30.0, BvhConfig(units="m"))
    _, fk = bvhio_joints(tmp_path / "a.bvh", [0, 5, 11])
    ours = forward_kinematics(motion.clip.rest.offsets, motion.clip.hips_position[[0, 5, 11]], motion.clip.rotations[[0, 5, 11]])
    np.testing.assert_allclose(fk, ours, atol=2e-4)  # metres: the file's 4 decimals, bvhio's float32
    assert set(motion.orders) <= set(EULER_ORDERS)


@pytest.mark.parametrize("up", ["y", "z"])
def test_axes_and_units(tmp_path: Path, up: str) -> None:
    cam, _, _, _ = posed_person(frames=10)
    motion = write_bvh(tmp_path / "a.bvh", cam, None, 30.0, BvhConfig(up=up, units="m"))
    names, fk = bvhio_joints(tmp_path / "a.bvh", [0, 9])
    world = forward_kinematics(motion.clip.rest.offsets, motion.clip.hips_position[[0, 9]], motion.clip.rotations[[0, 9]])
    want = world if up == "y" else np.stack([world[..., 0], -world[..., 2], world[..., 1]], axis=-1)  # +90 degrees about x
    np.testing.assert_allclose(fk, want, atol=2e-4)
    vertical = 1 if up == "y" else 2
    assert fk[0, names.index("Head"), vertical] > fk[0, names.index("Hips"), vertical] + 0.4  # the head is up


# --------------------------------------------------------------------------- real cleaned clips


@pytest.mark.data
@pytest.mark.slow
def test_real_clip_bvh_reproduces_the_cleaned_joints(clean_clips: list, tmp_path: Path) -> None:
    """Median error per joint of bvhio's positions against the cleaned joints (cm), printed.

    The file's bone lengths are the clip's medians, so a joint's error is its cleaned
    pose's length variation along the chain plus what the rigid palm cannot follow.
    """
    per_joint: dict[str, list[float]] = {}
    for c in clean_clips[:3]:
        path = tmp_path / f"{c.name}.bvh"
        motion = write_bvh(path, c.poses, c.confidence, c.fps)
        text = path.read_text()
        assert "nan" not in text.lower() and f"Frames: {len(c.poses)}" in text
        frames = list(range(0, len(c.poses), 2))
        names, fk = bvhio_joints(path, frames)
        want, det = cleaned_in_file_world(c.poses, c.confidence, motion.clip.world_offset)
        err = np.where(det[frames], np.linalg.norm(fk - want[frames], axis=-1), np.nan)
        for k, name in enumerate(names):
            per_joint.setdefault(name, []).extend(err[:, k][np.isfinite(err[:, k])].tolist())
    medians = {n: float(np.median(v)) for n, v in per_joint.items() if v}
    print("median error per joint (cm): " + ", ".join(f"{n} {m:.2f}" for n, m in medians.items()))
    body = [m for n, m in medians.items() if not any(f in n for f in FINGERS)]
    fingers = [m for n, m in medians.items() if any(f in n for f in FINGERS)]
    assert np.median(body) < 1.5 and max(medians[n] for n in ("LeftUpperArm", "RightUpperArm", "Neck", "Head")) < 1.0
    assert np.median(fingers) < 4.0, np.median(fingers)


@pytest.mark.data
@pytest.mark.slow
def test_real_clip_bvh_world_and_channels(clean_clips: list, tmp_path: Path) -> None:
    """The Hips start over the origin; Euler channels are continuous; the torso's, head's and legs'
    channels stay within +-180 degrees, the upper arms' within +-270 (their twist follows the
    forearm and, unwrapped, may pass 180: 196 on one hand_estimation clip, where the arm is
    raised toward the camera); forearms, hands and fingers follow the cleaned hands, whose
    depth flips turn them further (reported by ``skeletor bench rig``)."""
    for c in clean_clips:
        motion = solve_bvh(c.poses, c.confidence, c.fps)
        assert np.abs(motion.root_position[0, [0, 2]]).max() < 1e-3  # cm
        assert 60.0 < motion.root_position[0, 1] < 130.0  # an upper-body framing: hips stand over the floor
        e = motion.euler_deg
        step = np.abs(np.diff(e, axis=0))
        assert step.max() < 180.0, (c.name, step.max())  # unwrapped: never a 360 degree jump
        body = [j for j, n in enumerate(motion.names) if not any(f in n for f in FINGERS) and not n.endswith(("Hand", "LowerArm"))]
        trunk = [j for j in body if not motion.names[j].endswith("UpperArm")]
        assert np.abs(e[:, trunk]).max() <= 180.0, (c.name, motion.names[trunk[int(np.abs(e[:, trunk]).max((0, 2)).argmax())]])
        assert np.abs(e[:, body]).max() <= 270.0, (c.name, np.abs(e[:, body]).max())
        middle = np.abs(e[..., 1]).max(0)  # each joint's order keeps its middle angle off gimbal lock
        assert middle[body].max() < 80.0, (c.name, middle[body].max())


@pytest.mark.data
def test_real_phoenix_signer_upper50(data_dir: Path, tmp_path: Path) -> None:
    """OpenPose-style upper-body data (no hips, no face but the nose) still gives a whole rig."""
    m = load_phoenix("test", data_dir / "ptslp_phoenix14t")[0]
    poses = m.positions * PHOENIX_SHOULDER_M  # shoulder widths -> metres
    motion = write_bvh(tmp_path / "p.bvh", poses, m.confidence, m.fps)
    assert motion.names == BONES and "nan" not in (tmp_path / "p.bvh").read_text().lower()
    frames = list(range(0, len(poses), 5))
    names, fk = bvhio_joints(tmp_path / "p.bvh", frames)
    want, det = cleaned_in_file_world(poses, m.confidence, motion.clip.world_offset)
    err = np.linalg.norm(fk - want[frames], axis=-1)
    arms = [BONES.index(n) for n in ("LeftUpperArm", "LeftLowerArm", "RightUpperArm", "RightLowerArm")]
    assert np.median(err[:, arms][det[frames][:, arms]]) < 0.5  # cm
    assert np.median(err[det[frames]]) < 3.0, np.median(err[det[frames]])  # cm, mostly fingers (2.1 measured)


def test_missing_joints_give_a_valid_file_without_nan(tmp_path: Path) -> None:
    cam, _, _, _ = posed_person(frames=30)
    cam[:, 23:33] = np.nan  # never any hips or legs
    cam[8:14, 33:54] = np.nan  # the left hand lost for a while
    cam[0:4, 54:75] = np.nan  # the right hand found late
    cam[20] = np.nan  # a frame with no one
    conf = np.isfinite(cam).all(-1).astype(np.float32)
    motion = write_bvh(tmp_path / "n.bvh", cam, conf, 30.0)
    text = (tmp_path / "n.bvh").read_text()
    assert "nan" not in text.lower() and "inf" not in text.lower()
    hand = BONES.index("LeftHand")
    np.testing.assert_allclose(motion.euler_deg[8:14, hand], np.repeat(motion.euler_deg[7:8, hand], 6, axis=0), atol=1e-9)
    np.testing.assert_allclose(motion.euler_deg[20], motion.euler_deg[19])  # no one: the last rig repeats
    assert not motion.clip.emitted[20] and motion.clip.emitted[21]
    bvhio_joints(tmp_path / "n.bvh", [0, 20, 29])  # bvhio reads every frame


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(T, 75, 3\)"):
        poses_to_bvh(np.zeros((5, 50, 3)))
    empty = np.full((5, 75, 3), np.nan)
    empty[:, 33:54] = 0.0  # a hand alone: nothing to hang it on
    with pytest.raises(ValueError, match="shoulders"):
        poses_to_bvh(empty)
    with pytest.raises(ValueError, match="fps"):
        poses_to_bvh(posed_person(frames=3)[0], fps=0.0)
    with pytest.raises(ValueError, match="up"):
        BvhConfig(up="x")


# --------------------------------------------------------------------------- the CLI


def test_cli_npz_to_bvh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cam, _, _, _ = posed_person(frames=10)
    save_poses(tmp_path / "in.npz", PoseSequence(cam, np.ones(cam.shape[:2], np.float32), 24.0))
    out = tmp_path / "out.bvh"
    assert main(["export-bvh", str(tmp_path / "in.npz"), "-o", str(out), "--up", "z", "--scale", "m"], COMMANDS) == 0
    text = out.read_text()
    assert text.startswith("HIERARCHY\nROOT Hips\n") and "Frames: 10\nFrame Time: 0.04166667\n" in text
    assert "CHANNELS 6 Xposition Yposition Zposition" in text and "JOINT LeftIndexDistal" in text
    assert "End Site" in text and "wrote" in capsys.readouterr().err


def test_cli_reads_a_jsonl_recording(tmp_path: Path) -> None:
    cam, _, _, _ = posed_person(frames=8)
    rec = tmp_path / "take.jsonl"
    with Recorder.open(rec, fps=30.0) as r:
        for i, p in enumerate(cam):
            r.write(PoseFrame(seq=i, t_capture_ns=i, joints=p, confidence=np.ones(75, np.float32)))
    assert main(["export-bvh", str(rec), "-o", str(tmp_path / "take.bvh"), "--calibration", "stream"], COMMANDS) == 0
    assert "Frames: 8\n" in (tmp_path / "take.bvh").read_text()


def test_cli_errors_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-bvh", str(tmp_path / "none.npz"), "-o", str(tmp_path / "o.bvh")], COMMANDS) == 2
    assert "none.npz" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert main(["export-bvh", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "o.bvh")], COMMANDS) == 2
    assert not (tmp_path / "o.bvh").exists()
    with pytest.raises(SystemExit):
        main(["export-bvh", "--help"], COMMANDS)
    help_text = capsys.readouterr().out
    assert "HumanBodyBones" in help_text and "T-pose" in help_text and "--calibration" in help_text


# --------------------------------------------------------------------------- Blender


_BLENDER_SCRIPT = r"""
import builtins, json, sys
import bpy
_open = builtins.open
def _open_no_U(file, mode="r", *args, **kwargs):  # Blender 3.4's importer opens with 'rU' (gone in Python 3.11)
    return _open(file, mode.replace("U", ""), *args, **kwargs)
builtins.open = _open_no_U
path, frames = sys.argv[sys.argv.index("--") + 1], [int(f) for f in sys.argv[sys.argv.index("--") + 2:]]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=True, update_scene_duration=True)
arm = bpy.context.selected_objects[0]
out = {"fps": bpy.context.scene.render.fps, "bones": [b.name for b in arm.pose.bones], "frames": {}}
for f in frames:
    bpy.context.scene.frame_set(f + 1)  # Blender's first frame is 1
    out["frames"][f] = [list(arm.matrix_world @ b.head) for b in arm.pose.bones]
print("RESULT" + json.dumps(out))
"""


@pytest.mark.blender
def test_blender_imports_the_bvh(tmp_path: Path) -> None:
    """Debian's Blender (3.4) imports the file headless; its joints are where ours are."""
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("blender is not installed (Debian: apt-get install blender)")
    cam, _, _, _ = posed_person(frames=20)
    motion = write_bvh(tmp_path / "b.bvh", cam, None, 25.0)
    script = tmp_path / "import_bvh.py"
    script.write_text(_BLENDER_SCRIPT)
    proc = subprocess.run(
        [blender, "-b", "--factory-startup", "--python", str(script), "--", str(tmp_path / "b.bvh"), "0", "10", "19"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(line[len("RESULT") :])
    assert res["bones"] == list(BONES) and res["fps"] == 25
    ours = forward_kinematics(motion.clip.rest.offsets, motion.clip.hips_position, motion.clip.rotations) * 100  # cm, Y up
    for f, heads in res["frames"].items():
        blender_pos = np.array(heads)  # Blender is Z up: its (x, y, z) = our (x, -z, y)
        np.testing.assert_allclose(blender_pos, np.stack([ours[int(f), :, 0], -ours[int(f), :, 2], ours[int(f), :, 1]], -1), atol=1e-2)
