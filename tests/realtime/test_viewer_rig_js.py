"""The viewer's rig.js under Node: it reads the binary rotations block our codec writes and its
forward kinematics equals skeletor.rig.forward_kinematics on a real clip's rig."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from skeletor.protocol import PoseFrame, encode_frame
from skeletor.rig import PARENTS, forward_kinematics

NODE = shutil.which("node")
RIG_JS = Path(__file__).resolve().parents[2] / "realtime" / "viewer" / "rig.js"

SCRIPT = """
const rig = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  const out = job.frames.map((f) => {
    const bytes = Buffer.from(f.binary, "base64");
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const block = rig.readRotationsBlock(dv, 40);
    const pos = rig.forwardKinematics(job.parents, f.rest, block.hips, block.rotations);
    return { version: block.rigVersion, bones: block.numBones, bytes: block.byteLength, valid: Array.from(block.valid), pos: Array.from(pos) };
  });
  process.stdout.write(JSON.stringify(out));
});
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_js_fk_matches_the_library(rigged_frames: list[PoseFrame]) -> None:
    frames = [f for f in rigged_frames if f.rig is not None][::10]
    assert len(frames) >= 10
    job = {
        "parents": list(PARENTS),
        "frames": [
            {
                "binary": base64.b64encode(encode_frame(f, "binary", ["rotations"], 0)).decode(),
                "rest": f.rig.rest_offsets.astype(float).ravel().tolist(),
            }  # type: ignore[union-attr]
            for f in frames
        ],
    }
    run = subprocess.run([NODE, "-e", SCRIPT, str(RIG_JS)], input=json.dumps(job), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    worst = 0.0
    for f, js in zip(frames, out):
        rig = f.rig
        assert rig is not None and rig.rest_offsets is not None
        assert (js["version"], js["bones"], js["bytes"]) == (rig.rig_version, 52, 904)
        assert js["valid"] == rig.valid.astype(int).tolist()
        expected = forward_kinematics(rig.rest_offsets, rig.hips_position, rig.rotations)
        got = np.array(js["pos"]).reshape(-1, 3)
        worst = max(worst, float(np.abs(got - expected).max()))
    # float64 in both from the same float32 inputs; the float32 quaternions are unit to ~1e-7, which
    # the matrix (Python) and the quaternion product (JS) absorb differently: 0.19 um measured.
    assert worst < 1e-6, worst  # metres
    spread = np.ptp(np.array(out[0]["pos"]).reshape(-1, 3), axis=0)
    assert spread.max() > 0.5  # a real body, not a degenerate pose
