"""BVH export: read back with bvhio, forward kinematics must reproduce the positions."""

from __future__ import annotations

from pathlib import Path

import bvhio
import numpy as np
import pytest

from realtime.commands import main
from skeletor.bvh_writer import HIPS, NECK, RIG, _TO_BVH, _with_virtual, write_bvh
from skeletor.camera import orbit_camera
from skeletor.datasets.phoenix import load_phoenix
from skeletor.keypoints import PoseSequence, save_poses
from skeletor.procedural import ProceduralPerson
from skeletor.skeleton import HOLISTIC75


def _fk_errors(path: Path, poses: np.ndarray) -> tuple[float, float]:
    """Mean |FK(BVH) - input| for body and hand joints, in file units."""
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    x = _with_virtual(poses.astype(np.float64)) @ _TO_BVH.T * 100.0
    body, hands = [], []
    for t in range(0, len(poses), max(1, len(poses) // 12)):
        root.loadPose(t)
        for j, _ in RIG:
            name = {HIPS: "Hips", NECK: "Neck"}.get(j) or HOLISTIC75.joints[j]
            if np.isfinite(x[t, j]).all():
                p = joints[name].PositionWorld
                (hands if 33 <= j < 75 else body).append(np.linalg.norm(np.array([p.x, p.y, p.z]) - x[t, j]))
    return float(np.mean(body)), float(np.mean(hands))


def test_rigid_sequence_round_trips_within_a_centimetre(tmp_path: Path) -> None:
    cam = orbit_camera(np.array([0.0, 1.0, 0.0]), 3.0, 20.0)
    poses = cam.world_to_camera(ProceduralPerson().sequence(60, 30.0))
    path = write_bvh(tmp_path / "p.bvh", poses, 30.0)
    body, hands = _fk_errors(path, poses)
    assert body < 1.0 and hands < 1.0  # cm


def test_real_phoenix_upper_body_without_legs(data_dir: Path, tmp_path: Path) -> None:
    m = load_phoenix("test", data_dir / "ptslp_phoenix14t")[0]
    path = write_bvh(tmp_path / "ph.bvh", m.positions, 25.0)
    text = path.read_text()
    assert "nan" not in text.lower()
    body, hands = _fk_errors(path, m.positions)
    # Phoenix is in shoulder widths (x 100 here): a few per cent of a shoulder width.
    assert body < 5.0 and hands < 8.0


def test_cli_with_missing_joints(tmp_path: Path) -> None:
    cam = orbit_camera(np.array([0.0, 1.0, 0.0]), 3.0, -30.0)
    poses = cam.world_to_camera(ProceduralPerson().sequence(20, 30.0))
    poses[5:8, 33:54] = np.nan  # a hand lost for a while
    conf = np.where(np.isfinite(poses).all(-1), 1.0, 0.0)
    save_poses(tmp_path / "in.npz", PoseSequence(poses, conf, 30.0))
    assert main(["export-bvh", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.bvh")]) == 0
    text = (tmp_path / "out.bvh").read_text()
    assert "Frames: 20" in text and "nan" not in text.lower()


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-bvh", str(tmp_path / "none.npz"), "-o", str(tmp_path / "o.bvh")]) == 2
    assert "none.npz" in capsys.readouterr().err
