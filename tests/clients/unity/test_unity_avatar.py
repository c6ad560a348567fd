"""The Unity component (clients/unity/SkeletorAvatar.cs) compiled with Mono's C# compiler against a
small UnityEngine stand-in and fed our codec's binary frames: each avatar bone ends where the rig
says, in Unity's axes, whatever its rest rotation; bones the avatar lacks are skipped. Skipped when
``mcs`` (Debian's mono-mcs) is not installed."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from skeletor.protocol import PoseFrame, encode_frame
from skeletor.rig import BONES, PARENTS, forward_kinematics
from skeletor.rig.quaternion import quat_mul

MCS = shutil.which("mcs")
HERE = Path(__file__).resolve().parent
COMPONENT = HERE.parents[2] / "clients" / "unity" / "SkeletorAvatar.cs"
MIRROR_Q = np.array([1.0, -1.0, -1.0, 1.0])  # rig world -> Unity (x, y, z, w) -> (x, -y, -z, w)
MIRROR_P = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MCS is None:
        pytest.skip("mcs is not installed (apt-get install mono-mcs)")
    out = tmp_path_factory.mktemp("unity") / "harness.exe"
    run = subprocess.run([MCS, "-nologo", f"-out:{out}", str(HERE / "UnityEngineStub.cs"), str(HERE / "Harness.cs"), str(COMPONENT)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def run_harness(harness: Path, tmp_path: Path, lines: list[str]) -> list[dict[str, np.ndarray]]:
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    mono = shutil.which("mono") or shutil.which("cli")
    cmd = [mono, str(harness)] if mono else [str(harness)]
    run = subprocess.run([*cmd, str(tmp_path / "in.txt")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    frames, cur = [], {}
    for line in run.stdout.splitlines():
        if line == "end":
            frames.append(cur)
            cur = {}
        else:
            w = line.split()
            cur[w[0]] = np.array([float(v) for v in w[1:]])
    return frames


def test_unity_component_poses_the_avatar(harness: Path, tmp_path: Path, rigged_frames: list[PoseFrame]) -> None:
    rng = np.random.default_rng(5)
    frames = [f for f in rigged_frames if f.rig is not None]
    f1, f2 = frames[10], frames[60]
    assert f1.rig is not None and f2.rig is not None
    root = Rotation.from_euler("y", 30, degrees=True)  # the avatar turned in the scene
    skip = {"UpperChest", "LeftToes", "RightLittleDistal"}  # bones this avatar does not have
    rest_pos = forward_kinematics(f1.rig.rest_offsets, np.array([0.0, 0.95, 0.0]), np.tile([0.0, 0, 0, 1], (len(BONES), 1))) * MIRROR_P
    lines = ["root " + " ".join(map(str, root.as_quat()))] + [f"rig {n} {p}" for n, p in zip(BONES, PARENTS)]
    rest = {}
    for b, name in enumerate(BONES):
        if name in skip:
            continue
        rest[name] = Rotation.random(random_state=rng.integers(1 << 30))  # any rest orientation (bone roll, import axes)
        lines.append(f"bone {name} " + " ".join(map(str, (*root.apply(rest_pos[b]), *rest[name].as_quat()))))
    for f in (f1, f2):
        lines.append(
            "frame "
            + base64.b64encode(
                encode_frame(
                    dataclasses.replace(f, latency_ms={"x": 1.0}), "binary", ["joints", "confidence", "rotations", "latency_ms"], 0
                )
            ).decode()
        )
    out = run_harness(harness, tmp_path, lines)
    assert len(out) == 2 and set(out[0]) == set(rest)  # only the avatar's bones, none invented

    for f, got in zip((f1, f2), out):
        rig = f.rig
        assert rig is not None
        world = rig.rotations.astype(np.float64).copy()
        for b, p in enumerate(PARENTS):  # the rig's world rotations, then into Unity's axes
            if p >= 0:
                world[b] = quat_mul(world[p], rig.rotations[b].astype(np.float64))
        for b, name in enumerate(BONES):
            if name not in rest:
                continue
            expected = root * Rotation.from_quat(world[b] * MIRROR_Q) * root.inv() * rest[name]  # rest[name]: its world rest rotation
            err = (Rotation.from_quat(got[name][3:]) * expected.inv()).magnitude()
            assert np.degrees(err) < 0.01, (name, np.degrees(err))
    # The hips move with the person, at the avatar's size: the second frame's offset from the first.
    h1, h2 = f1.rig.hips_position * MIRROR_P, f2.rig.hips_position * MIRROR_P
    hips_rest = rest_pos[0]
    scale = hips_rest[1] / h1[1]
    np.testing.assert_allclose(out[0]["Hips"][:3], root.apply(hips_rest), atol=1e-5)
    np.testing.assert_allclose(out[1]["Hips"][:3], root.apply(hips_rest + (h2 - h1) * scale), atol=1e-5)
    assert np.linalg.norm(h2 - h1) > 0.001  # the hips did move between the two frames
