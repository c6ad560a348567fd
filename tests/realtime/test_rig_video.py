"""The rig on a real video: MediaPipe -> the cleaner -> export-bvh, read back with bvhio.

The dance clip (a full body, 102 frames) is the one with feet in view: the BVH must stand on
the floor where the feet are first seen, and reproduce the cleaned joints.
"""

from __future__ import annotations

from pathlib import Path

import bvhio
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from skeletor.rig import BONES, RigConfig, camera_to_world
from skeletor.rig.bvh import write_bvh
from skeletor.rig.humanoid import BONE_POINT, POINT_MATRIX, extended_points
from skeletor.rig.limits import TwistLimiter, twist_angles

FEET = [27, 28, 29, 30, 31, 32]  # ankles, heels, toe tips


@pytest.fixture(scope="module")
def dance(data_dir: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """The dance video's cleaned poses (camera frame, metres), confidences and fps."""
    from realtime.detectors.video import read_video_keypoints
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence

    seq = read_video_keypoints(data_dir / "videos" / "mediapipe_pose_segmentation_dance.mp4", progress=False)
    res = clean_sequence(seq, StreamingCleaner(CleanerConfig()))
    return res.poses3d, res.confidence, float(seq.fps)


@pytest.mark.data
@pytest.mark.slow
def test_dance_bvh_stands_on_the_floor_and_reproduces_the_joints(dance: tuple, tmp_path: Path) -> None:
    poses, conf, fps = dance
    motion = write_bvh(tmp_path / "dance.bvh", poses, conf, fps)
    clip = motion.clip
    seen = (np.isfinite(poses[:, FEET]).all(-1) & (conf[:, FEET] >= RigConfig().min_confidence)).all(-1)
    first = int(np.argmax(seen))
    assert seen.any()
    # The rig's feet (heels and toe tips) at the first frame they are seen: on the floor.
    lm = clip.rest.landmarks(clip.hips_position[first], clip.rotations[first])
    lows = [lm[[29, 31], 1].min(), lm[[30, 32], 1].min()]  # each foot's lowest point, metres
    print(f"first frame with feet: {first}; lowest points of the feet {lows[0] * 100:.1f} / {lows[1] * 100:.1f} cm")
    assert abs(min(lows)) < 0.05 and max(lows) < 0.25 and min(lows) > -0.05  # a dancer may lift one foot
    # The rest rig's heel sits its real few centimetres below and behind the ankle.
    heel = clip.rest.points[29] - clip.rest.points[27]
    assert 0.02 < -heel[1] < 0.08 and np.linalg.norm(heel) < 0.1, heel
    # bvhio's forward kinematics against the cleaned joints in the file's world.
    root = bvhio.readAsHierarchy(str(tmp_path / "dance.bvh"))
    joints = [j for j, _, _ in root.layout()]
    assert [j.Name for j in joints] == list(BONES)
    frames = list(range(0, len(poses), 3))
    fk = np.empty((len(frames), len(joints), 3))
    for i, t in enumerate(frames):
        root.loadPose(t)
        fk[i] = [(j.PositionWorld.x, j.PositionWorld.y, j.PositionWorld.z) for j in joints]
    assert abs(fk[0, 0, 0]) < 0.01 and abs(fk[0, 0, 2]) < 0.01  # cm: the Hips start over the origin
    world = camera_to_world(poses[frames], clip.world_offset[frames][:, None]) * 100
    det = np.isfinite(poses[frames]).all(-1) & (conf[frames] >= RigConfig().min_confidence)
    want = extended_points(np.where(det[..., None], world, 0.0))[:, list(BONE_POINT)]
    det_b = ((POINT_MATRIX != 0).astype(float) @ (~det).T.astype(float)).T[:, list(BONE_POINT)] == 0
    err = np.where(det_b, np.linalg.norm(fk - want, axis=-1), np.nan)
    medians = np.nanmedian(err, axis=0)
    print("median error per joint (cm): " + ", ".join(f"{n} {m:.1f}" for n, m in zip(BONES, medians) if np.isfinite(m)))
    body = [BONES.index(n) for n in ("Hips", "LeftUpperArm", "RightUpperArm", "LeftLowerArm", "RightLowerArm", "LeftUpperLeg",
                                     "RightUpperLeg", "LeftLowerLeg", "RightLowerLeg", "LeftFoot", "RightFoot")]  # fmt: skip
    assert np.nanmedian(err[:, body]) < 3.0, medians[body]
    assert np.nanmax(medians[body]) < 6.0, medians[body]
    # The file's rotation channels, read as text (not through our writer's reader): continuous,
    # and within +-180 degrees for every joint whose rotation never comes near half a turn. The
    # twists are within their anatomical limits (skeletor.rig.limits), so a joint still over
    # 180 degrees is one whose *swing* nears half a turn: the cleaned landmarks fold a finger
    # back on itself, bend the wrist or tip the head over (the ear line flipping): positions
    # the rig must reproduce.
    names, orders, channels = _rotation_channels(tmp_path / "dance.bvh")
    assert names == list(BONES)
    assert np.abs(np.diff(channels, axis=0)).max() < 180.0  # never a 360-degree jump
    limiter = TwistLimiter()
    quats = np.stack([Rotation.from_euler(o, channels[:, j], degrees=True).as_quat() for j, o in enumerate(orders)], axis=1)
    axes = np.broadcast_to(limiter.bone_axis, quats.shape[:-1] + (3,))  # zero for bones with no twist limit
    twist = np.degrees(np.abs(twist_angles(quats, axes))).max(axis=0)
    assert (twist[limiter.limited] <= np.degrees(limiter.bone_range[limiter.limited]) + 0.05).all(), twist
    along = np.einsum("tji,ji->tj", quats[..., :3], limiter.bone_axis)
    swing = np.degrees(2.0 * np.arccos(np.clip(np.sqrt(quats[..., 3] ** 2 + along**2), 0.0, 1.0))).max(axis=0)
    widest = np.abs(channels).max(axis=(0, 2))
    print("joints over 180 degrees (largest swing, largest channel): "
          + ", ".join(f"{n} {t:.0f} {w:.0f}" for n, t, w in zip(names, swing, widest) if w > 180))  # fmt: skip
    # The neck, forearms and feet twisted past half a turn with the ear line, knuckles and heels.
    for name in ("Neck", "LeftLowerArm", "RightLowerArm", "LeftFoot", "RightFoot", "LeftUpperArm", "RightUpperArm"):
        assert widest[BONES.index(name)] <= 180.0, (name, widest[BONES.index(name)])
    assert (swing[widest > 180.0] > 150.0).all(), [(n, s_) for n, s_, w in zip(names, swing, widest) if w > 180]


def _rotation_channels(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Joint names and rotation orders in file order, and (T, J, 3) rotation channels (degrees) of
    a BVH whose root has 3 position channels then 3 rotation channels and every joint 3 rotation
    channels (as the BVH format spells it; intrinsic order as listed)."""
    text = path.read_text().split()
    names = [text[i + 1] for i, w in enumerate(text) if w in ("ROOT", "JOINT")]
    orders = []
    for i, w in enumerate(text):
        if w == "CHANNELS":
            rot = [c[0] for c in text[i + 2 : i + 2 + int(text[i + 1])] if c.endswith("rotation")]
            orders.append("".join(rot).upper())
    motion = text.index("MOTION")
    frames = int(text[motion + 2])
    values = np.array(text[motion + 6 :], dtype=float).reshape(frames, -1)  # after "Frame Time: dt"
    assert values.shape[1] == 3 + 3 * len(names) and len(orders) == len(names)
    return names, orders, values[:, 3:].reshape(frames, len(names), 3)
