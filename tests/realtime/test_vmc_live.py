"""``skeletor-live --demo --vmc``: a real process sends VMC bundles to a python-osc server on loopback.

Rates are compared with the source's own frame count in the same run (no wall-clock bound):
the demo publishes at 30 frames/s, so a ratio of 0.9 is 27 bundles/s, over the 25 the issue asks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

pythonosc = pytest.importorskip("pythonosc", reason="python-osc is not installed (pip install -e '.[vmc]')")
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_server import BlockingOSCUDPServer  # noqa: E402

from realtime.sources import DemoConfig, DemoSource  # noqa: E402

pytestmark = pytest.mark.slow

# Unity's HumanBodyBones names for the bones the rig has, written out here (not taken from
# skeletor.rig) so a renamed bone fails the test: a VMC receiver looks bones up by these names.
UNITY_BONES = (
    ["Hips", "Spine", "Chest", "UpperChest", "Neck", "Head"]
    + [f"{s}{b}" for s in ("Left", "Right") for b in ("Shoulder", "UpperArm", "LowerArm", "Hand")]
    + [
        f"{s}{f}{p}"
        for s in ("Left", "Right")
        for f in ("Thumb", "Index", "Middle", "Ring", "Little")
        for p in ("Proximal", "Intermediate", "Distal")
    ]
    + [f"{s}{b}" for s in ("Left", "Right") for b in ("UpperLeg", "LowerLeg", "Foot", "Toes")]
)
FRAMES = 450  # 15 s of the demo at 30 frames/s (the first ~0.7 s calibrate the rig)


class RecordingDispatcher(Dispatcher):
    """A python-osc dispatcher that keeps every packet (bundle) as it arrived, then dispatches it."""

    def __init__(self) -> None:
        super().__init__()
        self.packets: list[bytes] = []
        self.lock = threading.Lock()

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:  # type: ignore[override]
        with self.lock:
            self.packets.append(data)
        return super().call_handlers_for_packet(data, client_address)


def bundle_messages(data: bytes) -> list[tuple[str, list]]:
    b = OscBundle(data)
    return [(m.address, list(m.params)) for m in (b.content(i) for i in range(b.num_contents))]


def fk_unity(bones: dict[str, list]) -> dict[str, np.ndarray]:
    """Joint positions from one bundle's Bone/Pos (local position and rotation per bone), in its own axes."""
    parent = {"Hips": None, "Spine": "Hips", "Chest": "Spine", "UpperChest": "Chest", "Neck": "UpperChest", "Head": "Neck",
              "LeftShoulder": "UpperChest", "LeftUpperArm": "LeftShoulder", "LeftLowerArm": "LeftUpperArm", "LeftHand": "LeftLowerArm",
              "RightShoulder": "UpperChest", "RightUpperArm": "RightShoulder", "RightLowerArm": "RightUpperArm", "RightHand": "RightLowerArm"}  # fmt: skip
    world: dict[str, Rotation] = {}
    pos: dict[str, np.ndarray] = {}
    for name, p in parent.items():
        v = bones[name]
        local, q = np.array(v[0:3]), Rotation.from_quat(v[3:7])
        world[name] = q if p is None else world[p] * q
        pos[name] = local if p is None else pos[p] + world[p].apply(local)
    return pos


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))


def arm_angles(shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray, torso: np.ndarray) -> tuple[float, float]:
    """(upper arm to torso, elbow flexion) in degrees: the same whatever the axes."""
    return angle_deg(elbow - shoulder, torso), angle_deg(elbow - shoulder, wrist - elbow)


def test_demo_drives_a_vmc_receiver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dispatcher = RecordingDispatcher()
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    record = tmp_path / "cleaned.jsonl"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "realtime.cli", "--demo", "--frames", str(FRAMES), "--port", "0", "--no-status",
             "--vmc", f"127.0.0.1:{port}", "--record", str(record)],
            capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames = int(re.search(r"done: (\d+) frames", proc.stderr).group(1))  # type: ignore[union-attr]
    assert frames == FRAMES
    assert f"vmc 127.0.0.1:{port}" in proc.stderr  # the startup line names the target

    with dispatcher.lock:
        packets = list(dispatcher.packets)
    assert all(OscBundle.dgram_is_bundle(p) for p in packets)  # one bundle a frame, never loose messages
    bundles = [bundle_messages(p) for p in packets]
    tracking = [b for b in bundles if any(a == "/VMC/Ext/Bone/Pos" for a, _ in b)]
    # >= 25 bundles/s as a ratio to the source's own frames (30/s): 0.9 x 30 = 27.
    assert len(bundles) / frames >= 0.9 and len(tracking) / frames >= 0.9, (len(bundles), len(tracking), frames)

    times = []
    avatar: dict[str, list[tuple[float, float]]] = {"Left": [], "Right": []}
    for b in tracking:
        addresses = [a for a, _ in b]
        assert addresses[0] == "/VMC/Ext/Root/Pos" and addresses[-2:] == ["/VMC/Ext/OK", "/VMC/Ext/T"]
        assert b[0][1] == ["root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
        bones = {args[0]: args[1:] for a, args in b if a == "/VMC/Ext/Bone/Pos"}
        assert sorted(bones) == sorted(UNITY_BONES) and addresses.count("/VMC/Ext/Bone/Pos") == len(UNITY_BONES)
        q = np.array([v[3:7] for v in bones.values()])
        np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)  # unit quaternions
        assert b[-2][1] == [1, 3, 0]  # loaded, calibrated, normal mode
        assert 0.6 < bones["Hips"][1] < 1.3  # the hips stand about a metre over the floor (Unity y up)
        times.append(b[-1][1][0])
        pos = fk_unity(bones)
        for side in avatar:
            avatar[side].append(arm_angles(pos[f"{side}UpperArm"], pos[f"{side}LowerArm"], pos[f"{side}Hand"], pos["Neck"] - pos["Hips"]))
    assert np.all(np.diff(times) > 0)  # /VMC/Ext/T counts up
    assert [b[-2][1] for b in bundles if b not in tracking] == [[0, 0, 0]] * (len(bundles) - len(tracking))  # while calibrating

    # The avatar's arms move when the person's arms move. (1) Against the cleaned pose of the
    # same run (--record): the arm angles from the received bones are the cleaned joints' own.
    # (2) Against the demo's ground truth: they swing as much and follow it, through the
    # cleaner's errors (which the rig cannot undo: r = 0.7-0.9 for the cleaned pose itself).
    cleaned = [json.loads(line) for line in record.read_text().splitlines()]
    cleaned = [f for f in cleaned if f.get("type") == "frame"]
    assert [f["seq"] for f in cleaned] == list(range(frames))
    demo = DemoSource(DemoConfig(paced=False))
    report = []
    for side, (sh, el, wr) in {"Left": (11, 13, 15), "Right": (12, 14, 16)}.items():
        a = np.array(avatar[side])  # (K, 2): the last K frames (the first ones calibrate)
        k = len(a)
        c = []
        for f in cleaned:
            j = np.array([np.nan if v is None else v for row in f["joints"] for v in (row or [None] * 3)], dtype=float).reshape(-1, 3)
            c.append(arm_angles(j[sh], j[el], j[wr], 0.5 * (j[11] + j[12]) - 0.5 * (j[23] + j[24])))
        c = np.array(c)
        t = np.array(
            [
                arm_angles(
                    *(demo.truth(s)[[sh, el, wr]]),
                    0.5 * (demo.truth(s)[11] + demo.truth(s)[12]) - 0.5 * (demo.truth(s)[23] + demo.truth(s)[24]),
                )
                for s in range(frames)
            ]
        )
        # Align on the run's last frames; a lost or late bundle shifts by a frame or two.
        err, lag = min((np.median(np.abs(a - c[frames - k - lag : frames - lag])), lag) for lag in range(0, 4))
        assert err < 0.5, (side, err, lag)  # degrees: the rig reproduces the cleaned arm
        tt = t[frames - k - lag : frames - lag]
        for m, name in enumerate(("upper arm to torso", "elbow")):
            r = np.corrcoef(a[:, m], tt[:, m])[0, 1]
            assert np.ptp(tt[:, m]) > 20 and np.ptp(a[:, m]) > 0.5 * np.ptp(tt[:, m]) and r > 0.5, (
                side,
                name,
                np.ptp(tt[:, m]),
                np.ptp(a[:, m]),
                r,
            )
            report.append(f"{side} {name}: range {np.ptp(a[:, m]):.0f} deg (truth {np.ptp(tt[:, m]):.0f}), r vs truth {r:.2f}")
        report.append(f"{side} median |avatar - cleaned| {err:.3f} deg")
    with capsys.disabled():
        print(f"\nvmc: {len(bundles)} bundles ({len(tracking)} with bones) for {frames} frames = "
              f"{len(tracking) / frames:.3f} x 30 frames/s = {30 * len(tracking) / frames:.1f} bundles/s; " + "; ".join(report))  # fmt: skip
