"""BVH export: read the file back with bvhio; its forward kinematics must give back the input."""

from __future__ import annotations

import re
from pathlib import Path

import bvhio
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from skeletor.rig.bvh import POINT_NAMES, BvhConfig, BvhMotion, poses_to_bvh, solve_bvh, write_bvh
from skeletor.cli import main
from skeletor.datasets.phoenix import load_phoenix
from skeletor.keypoints import PoseSequence, save_poses
from skeletor.protocol import PoseFrame
from skeletor.recording import Recorder
from skeletor.skeleton import HOLISTIC75, POSE_BODY_JOINTS

COMMANDS = ("skeletor.rig.bvh",)
PHOENIX_SHOULDER_M = 0.35  # Phoenix is in shoulder widths; an adult's is about this in metres


# --------------------------------------------------------------------------- a rigid synthetic person


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    return Rotation.from_euler(axis, np.asarray(deg, dtype=np.float64).reshape(-1, 1), degrees=True).as_matrix()


def _apply(r: np.ndarray, v: tuple[float, ...] | np.ndarray) -> np.ndarray:
    return np.einsum("tij,j->ti", r, np.asarray(v, dtype=np.float64))


def synthetic_person(frames: int = 40, fps: float = 30.0) -> np.ndarray:
    """(T, 75, 3) camera-frame metres: fixed bone lengths, every joint angle a sinusoid.

    Built in a Y-up world (subject facing +z, their left at +x) and turned into the camera
    frame (x, -y, -z). Knees, elbows and finger joints are pure hinges; the knees and elbows
    stay bent at least 25 degrees, so their bend plane always defines the limb's twist.
    The face is rigid; the thumb's, ring's and pinky's metacarpals move on their own.
    """
    t = np.arange(frames) / fps

    def wave(amp: float, hz: float, phase: float, mid: float = 0.0) -> np.ndarray:
        return mid + amp * np.sin(2 * np.pi * hz * t + phase)

    x = np.full((frames, 75, 3), np.nan)
    pelvis = np.stack([wave(0.1, 0.3, 0.0), wave(0.02, 0.9, 1.0, 1.0), wave(0.1, 0.2, 2.0, -2.5)], axis=1)
    r_pel = _rot("y", wave(30, 0.25, 0.3)) @ _rot("x", wave(5, 0.5, 1.0))
    for s, hip, knee, ankle, heel, toe, ph in ((1, 23, 25, 27, 29, 31, 0.0), (-1, 24, 26, 28, 30, 32, 2.0)):
        x[:, hip] = pelvis + _apply(r_pel, (s * 0.1, 0, 0))
        r_thigh = r_pel @ _rot("x", wave(20, 0.7, ph, -15)) @ _rot("z", wave(8, 0.4, ph, s * 5))
        x[:, knee] = x[:, hip] + _apply(r_thigh, (0, -0.43, 0))
        r_shin = r_thigh @ _rot("x", wave(20, 0.8, ph, 45))
        x[:, ankle] = x[:, knee] + _apply(r_shin, (0, -0.42, 0))
        r_foot = r_shin @ _rot("x", wave(15, 0.6, ph, -5))
        x[:, toe] = x[:, ankle] + _apply(r_foot, (0, -0.05, 0.14))
        x[:, heel] = x[:, ankle] + _apply(r_foot, (0, -0.06, -0.05))
    r_spine = r_pel @ _rot("x", wave(12, 0.35, 0.5)) @ _rot("y", wave(15, 0.45, 0.1)) @ _rot("z", wave(6, 0.3, 0.7))
    neck = pelvis + _apply(r_spine, (0, 0.5, 0))
    r_chest = r_spine @ _rot("z", wave(5, 0.5, 0.2))
    x[:, 11], x[:, 12] = neck + _apply(r_chest, (0.19, 0, 0)), neck - _apply(r_chest, (0.19, 0, 0))
    r_neck = r_chest @ _rot("x", wave(20, 0.4, 0.0)) @ _rot("y", wave(40, 0.3, 1.0))
    head = neck + _apply(r_neck, (0, 0.2, 0.02))
    r_head = r_neck @ _rot("z", wave(10, 0.5, 0.4))
    face = {0: (0, 0, 0.11), 7: (0.075, 0, 0), 9: (0.025, -0.04, 0.085), 1: (0.015, 0.035, 0.09), 2: (0.032, 0.035, 0.085), 3: (0.045, 0.035, 0.075)}
    for j, off in list(face.items()):
        x[:, j] = head + _apply(r_head, off)
        if j:
            mirror = HOLISTIC75.mirror[j]
            x[:, mirror] = head + _apply(r_head, (-off[0], off[1], off[2]))
    palm = {5: (0.088, 0.022, 0.0), 9: (0.09, 0.0, 0.0), 13: (0.085, -0.018, 0.0), 17: (0.078, -0.035, 0.0)}
    phalanges = {1: (0.035, 0.04, 0.032, 0.026), 5: (0.045, 0.026, 0.022), 9: (0.05, 0.03, 0.023), 13: (0.046, 0.029, 0.022), 17: (0.035, 0.021, 0.02)}
    for s, sh, el, wr, h, ph in ((1, 11, 13, 15, 33, 0.0), (-1, 12, 14, 16, 54, 1.5)):
        r_arm = r_chest @ _rot("z", wave(25, 0.3, ph, -s * 60)) @ _rot("y", wave(25, 0.35, ph, -s * 20)) @ _rot("x", wave(20, 0.4, ph))
        x[:, el] = x[:, sh] + _apply(r_arm, (s * 0.29, 0, 0))
        r_fore = r_arm @ _rot("y", -s * wave(35, 0.6, ph, 70))
        x[:, wr] = x[:, el] + _apply(r_fore, (s * 0.26, 0, 0))
        r_hand = r_fore @ _rot("x", wave(60, 0.5, ph)) @ _rot("y", wave(25, 0.7, ph)) @ _rot("z", wave(10, 0.4, ph))
        x[:, h] = x[:, wr]
        for k, lengths in phalanges.items():
            if k == 1:  # the thumb: CMC near the wrist, then up and out
                r = r_hand @ _rot("z", s * wave(15, 0.5, ph, 45))
                base = x[:, wr] + _apply(r_hand, (s * 0.025, 0.025, 0.01))
            else:
                r = r_hand @ _rot("z", s * wave(4, 0.6, ph + k)) if k in (13, 17) else r_hand  # ring, pinky: metacarpals move
                base = x[:, wr] + _apply(r, (s * palm[k][0], palm[k][1], palm[k][2]))
            x[:, h + k] = base
            for i, length in enumerate(lengths[-3:] if k == 1 else lengths):
                r = r @ _rot("y", -s * wave(30, 0.5 + 0.1 * i, ph + k, 35))
                x[:, h + k + i + 1] = x[:, h + k + i] + _apply(r, (s * length, 0, 0))
        for pose_pt, hand_pt in ((17, 17), (19, 5), (21, 1)):  # the pose model's coarse hand points
            x[:, pose_pt + (s < 0)] = x[:, h + hand_pt]
    return (x * np.array([1.0, -1.0, -1.0])).astype(np.float32)


# --------------------------------------------------------------------------- helpers


def to_file_world(poses: np.ndarray, up: str = "y", scale: float = 100.0) -> np.ndarray:
    """Camera frame -> the file's world, done here independently of the module: (x, -y, -z) or (x, z, -y)."""
    p = poses.astype(np.float64) * scale
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1) if up == "z" else p * np.array([1.0, -1.0, -1.0])


def point_track(world: np.ndarray, point: int) -> np.ndarray:
    """(T, 3) track of a rig point: a holistic75 joint or a mid-point named in POINT_NAMES."""
    name = POINT_NAMES[point]
    if not name.startswith("mid_"):
        return world[:, HOLISTIC75.index(name)]
    part = {"mid_hip": "hip", "mid_shoulder": "shoulder", "mid_ear": "ear"}[name]
    return 0.5 * (world[:, HOLISTIC75.index("left_" + part)] + world[:, HOLISTIC75.index("right_" + part)])


def bvhio_positions(path: Path, frames: list[int]) -> dict[str, np.ndarray]:
    """World position of every joint of the file at ``frames``, by bvhio's forward kinematics."""
    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    out: dict[str, list[tuple[float, float, float]]] = {j.Name: [] for j in joints}
    for t in frames:
        root.loadPose(t)
        for j in joints:
            p = j.PositionWorld
            out[j.Name].append((p.x, p.y, p.z))
    return {k: np.array(v) for k, v in out.items()}


def fk_errors(path: Path, motion: BvhMotion, poses: np.ndarray, frames: list[int], up: str = "y", scale: float = 100.0) -> dict[str, float]:
    """Mean distance (file units) between bvhio's joint positions and the input point of each joint, where seen."""
    fk = bvhio_positions(path, frames)
    world = to_file_world(poses, up, scale)
    errors = {}
    for name, point in zip(motion.names, motion.points):
        want = point_track(world, point)[frames]
        ok = np.isfinite(want).all(-1)
        if ok.any():
            errors[name] = float(np.linalg.norm(fk[name][ok] - want[ok], axis=-1).mean())
    return errors


def body_hands(motion: BvhMotion, errors: dict[str, float]) -> tuple[float, float]:
    """Mean error over the joints on holistic75 body points (POSE_BODY_JOINTS) and over the hand points."""
    body = [errors[n] for n, p in zip(motion.names, motion.points) if n in errors and p in POSE_BODY_JOINTS]
    hands = [errors[n] for n, p in zip(motion.names, motion.points) if n in errors and 33 <= p < 75]
    return float(np.mean(body)), float(np.mean(hands))


# --------------------------------------------------------------------------- tests


def test_rigid_synthetic_person_round_trips_through_bvhio(tmp_path: Path) -> None:
    poses = synthetic_person(40)
    motion = write_bvh(tmp_path / "s.bvh", poses, None, 30.0)
    assert motion.names[0] == "Hips" and "LeftToeBase" in motion.names and "RightHandPinky4" in motion.names
    errors = fk_errors(tmp_path / "s.bvh", motion, poses, list(range(0, 40, 3)))
    assert len(errors) == len(motion.names)
    assert max(errors.values()) < 0.02, sorted(errors.items(), key=lambda kv: -kv[1])[:5]  # cm: exact up to rounding
    body, hands = body_hands(motion, errors)
    assert body < 0.01 and hands < 0.01


def test_rig_has_the_clip_bone_lengths_and_a_t_pose_rest() -> None:
    motion = solve_bvh(synthetic_person(20), fps=30.0)
    off = dict(zip(motion.names, motion.offsets))
    np.testing.assert_allclose(off["LeftLeg"], [0, -43, 0], atol=1e-3)  # thigh 0.43 m, straight down
    np.testing.assert_allclose(off["RightForeArm"], [-29, 0, 0], atol=1e-3)  # upper arm 0.29 m, along -x
    np.testing.assert_allclose(off["LeftHandIndex2"], [4.5, 0, 0], atol=1e-3)  # fingers straight out
    np.testing.assert_allclose(off["Neck"], [0, 50, 0], atol=1e-3)  # mid-hip to mid-shoulder
    np.testing.assert_allclose(off["Nose"], [0, 0, 11], atol=1e-3)  # the face keeps its shape
    np.testing.assert_allclose(off["LeftEar"], [7.5, 0, 0], atol=1e-3)
    np.testing.assert_allclose(motion.offsets[0], 0.0)  # root offset zero: position channels are absolute
    # Body and hand wrist points coincide here: the link between them has no length and no rotation.
    np.testing.assert_allclose(off["LeftHand"], 0.0)
    np.testing.assert_allclose(motion.euler_deg[:, motion.names.index("LeftWrist")], 0.0)
    assert np.isnan(motion.end_sites[motion.names.index("Neck")]).all()  # End Sites only on leaves
    assert np.isfinite(motion.end_sites[motion.names.index("LeftHandThumb4")]).all()


def test_hinges_move_on_one_channel_only() -> None:
    """The twist choice: knees bend in their bend plane, so only one Euler channel moves."""
    motion = solve_bvh(synthetic_person(40), fps=30.0)

    def channels(name: str) -> np.ndarray:
        return motion.euler_deg[:, motion.names.index(name)]  # (T, 3): Z, X, Y

    for knee in ("LeftLeg", "RightLeg"):
        z, xr, y = channels(knee).T
        assert np.abs(z).max() < 0.01 and np.abs(y).max() < 0.01 and np.ptp(xr) > 30  # flexion about X
    for elbow in ("LeftForeArm", "RightForeArm"):
        z, xr, y = channels(elbow).T
        assert np.abs(z).max() < 0.01 and np.abs(xr).max() < 0.01 and np.ptp(y) > 40  # flexion about Y
    for finger in ("LeftHandIndex2", "RightHandMiddle3"):
        z, xr, y = channels(finger).T
        assert np.abs(z).max() < 0.01 and np.abs(xr).max() < 0.01 and np.ptp(y) > 30
    assert np.abs(np.diff(motion.euler_deg, axis=0)).max() < 30  # no 360 degree or branch jumps


@pytest.mark.parametrize("up", ["y", "z"])
def test_axes_and_units(tmp_path: Path, up: str) -> None:
    poses = synthetic_person(12)
    config = BvhConfig(up=up, units="m")
    motion = write_bvh(tmp_path / "a.bvh", poses, None, 30.0, config)
    errors = fk_errors(tmp_path / "a.bvh", motion, poses, [0, 5, 11], up=up, scale=1.0)
    assert max(errors.values()) < 2e-4  # metres
    fk = bvhio_positions(tmp_path / "a.bvh", [0])
    vertical = 1 if up == "y" else 2
    assert fk["Head"][0, vertical] > fk["Hips"][0, vertical] + 0.5  # the head is up


@pytest.mark.data
def test_real_phoenix_signer_upper_body_and_hands(data_dir: Path, tmp_path: Path) -> None:
    motions = load_phoenix("test", data_dir / "ptslp_phoenix14t")
    for m in motions[:2]:
        poses = m.positions * PHOENIX_SHOULDER_M  # shoulder widths -> metres
        path = tmp_path / f"{m.name.replace('/', '_')}.bvh"
        motion = write_bvh(path, poses, m.confidence, m.fps)
        text = path.read_text()
        assert "nan" not in text.lower() and f"Frames: {len(poses)}" in text
        # No legs or hips in the data: the root is the chest, and no leg joint is written.
        assert motion.names[0] == "Chest" and not any(n.endswith(("UpLeg", "Foot", "Heel", "ToeBase")) for n in motion.names)
        fingers = [n for n in motion.names if re.fullmatch(r"(Left|Right)Hand(Thumb|Index|Middle|Ring|Pinky)[1-4]", n)]
        assert len(fingers) == 2 * 20  # both 21-point hands: 20 finger points each, plus the wrist
        frames = list(range(0, len(poses), max(1, len(poses) // 15)))
        errors = fk_errors(path, motion, poses, frames)
        body, hands = body_hands(motion, errors)
        assert body < 1.0 and hands < 1.0, (body, hands)  # cm
        # The rig's bones are the clip's median lengths: elbow -> (body) wrist -> hand wrist.
        for joint, a, b in (("LeftWrist", 13, 15), ("LeftHand", 15, 33)):
            length = np.median(np.linalg.norm(poses[:, b] - poses[:, a], axis=-1)) * 100
            assert np.linalg.norm(motion.offsets[motion.names.index(joint)]) == pytest.approx(length, abs=1e-3)


def test_missing_joints_give_a_valid_file_without_nan(tmp_path: Path) -> None:
    poses = synthetic_person(30)
    poses[:, 23:33] = np.nan  # never any hips or legs
    poses[:, 1:11] = np.nan  # nor face points: the head sits on the nose
    poses[8:14, 33:54] = np.nan  # the left hand lost for a while
    poses[0:4, 54:75] = np.nan  # the right hand found late
    poses[20] = np.nan  # a frame with nothing
    poses[25, 13] = np.nan  # one elbow missing once
    conf = np.isfinite(poses).all(-1).astype(np.float32)
    path = tmp_path / "n.bvh"
    motion = write_bvh(path, poses, conf, 30.0)
    text = path.read_text()
    assert "nan" not in text.lower() and "inf" not in text.lower()
    assert motion.names[0] == "Chest" and "Hips" not in motion.names and "Nose" not in motion.names
    assert motion.points[motion.names.index("Head")] == 0  # the nose
    # A missing bone keeps its previous local rotation; before it is first seen, the rest pose.
    e = motion.euler_deg
    hand = motion.names.index("LeftHand")
    np.testing.assert_allclose(e[8:14, hand], np.repeat(e[7:8, hand], 6, axis=0))
    np.testing.assert_allclose(e[0:4, motion.names.index("RightHandIndex2")], 0.0, atol=1e-9)
    np.testing.assert_allclose(e[20], e[19])
    np.testing.assert_allclose(motion.root_position[20], motion.root_position[19])
    # Every frame bvhio reads is finite, and frames with data still match the input.
    errors = fk_errors(path, motion, poses, [0, 5, 10, 20, 29])
    assert all(np.isfinite(v) for v in errors.values())
    keep = [n for n in errors if not n.startswith(("LeftHand", "RightHand", "LeftWrist", "RightWrist"))]
    assert np.mean([errors[n] for n in keep]) < 0.05


def test_min_confidence_treats_weak_points_as_missing() -> None:
    poses = synthetic_person(10)
    conf = np.ones(poses.shape[:2], np.float32)
    conf[:, 54:75] = 0.2  # a weakly seen right hand
    assert "RightHandIndex1" in solve_bvh(poses, conf, 30.0).names
    assert "RightHandIndex1" not in solve_bvh(poses, conf, 30.0, BvhConfig(min_confidence=0.5)).names


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(T, 75, 3\)"):
        poses_to_bvh(np.zeros((5, 50, 3)))
    empty = np.full((5, 75, 3), np.nan)
    empty[:, 33:54] = 0.0  # a hand alone: nothing to hang it on
    with pytest.raises(ValueError, match="hips or both shoulders"):
        poses_to_bvh(empty)
    with pytest.raises(ValueError, match="fps"):
        poses_to_bvh(synthetic_person(3), fps=0.0)
    with pytest.raises(ValueError, match="up"):
        BvhConfig(up="x")


def test_cli_npz_to_bvh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    poses = synthetic_person(10)
    save_poses(tmp_path / "in.npz", PoseSequence(poses, np.ones(poses.shape[:2], np.float32), 24.0))
    out = tmp_path / "out.bvh"
    assert main(["export-bvh", str(tmp_path / "in.npz"), "-o", str(out), "--up", "z", "--scale", "m"], COMMANDS) == 0
    text = out.read_text()
    assert text.startswith("HIERARCHY\nROOT Hips\n") and "Frames: 10\nFrame Time: 0.04166667\n" in text
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert "End Site" in text and "wrote" in capsys.readouterr().err
    fk = bvhio_positions(out, [3])
    np.testing.assert_allclose(fk["LeftArm"][0], to_file_world(poses[3:4, 11], "z", 1.0)[0], atol=1e-4)


def test_cli_reads_a_jsonl_recording(tmp_path: Path) -> None:
    poses = synthetic_person(8)
    rec = tmp_path / "take.jsonl"
    with Recorder.open(rec, fps=30.0) as r:
        for i, p in enumerate(poses):
            r.write(PoseFrame(seq=i, t_capture_ns=i, joints=p, confidence=np.ones(75, np.float32)))
    assert main(["export-bvh", str(rec), "-o", str(tmp_path / "take.bvh")], COMMANDS) == 0
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
    assert "fixed-length" in help_text and "median" in help_text and "T-pose" in help_text
