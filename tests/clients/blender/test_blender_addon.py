"""The add-on inside a real Blender (headless): registered, connected with its own operator to a
real skeletor-live server streaming a real clip's rig, it poses an armature as the rig asks.

Skipped where ``blender`` is not on PATH (``.ci/run`` installs Debian's). A background Blender
runs no timers, so ``drive_armature.py`` calls the add-on's timer callback itself; the
networking is the add-on's own (its thread and WebSocket client inside Blender's Python).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from realtime.server import ServerConfig, ServerThread
from skeletor.protocol import PoseFrame

ADDON = Path(__file__).resolve().parents[3] / "clients" / "blender" / "skeletor_live"
BLENDER = shutil.which("blender")
SCRIPT = Path(__file__).with_name("drive_armature.py")


def _feed(st: ServerThread, frames: list[PoseFrame], stop: threading.Event) -> None:
    """Publish the rigged frames at 30 Hz, looping, each new rest rig first (as the websocket sink does)."""
    version, sent = 0, 0
    while not stop.wait(1 / 30):
        f = frames[sent % len(frames)]
        if f.rig is not None and f.rig.rig_version != version and f.rig.rest_offsets is not None:
            version = f.rig.rig_version
            st.publish_rig(version, f.rig.rest_offsets)
        st.publish(dataclasses.replace(f, seq=sent))
        sent += 1


def _angle_deg(a: list[float], b: list[float]) -> float:
    a_, b_ = np.asarray(a) / np.linalg.norm(a), np.asarray(b) / np.linalg.norm(b)
    return math.degrees(math.acos(float(np.clip(a_ @ b_, -1.0, 1.0))))


@pytest.mark.slow
@pytest.mark.skipif(BLENDER is None, reason="blender is not on PATH (apt-get install blender)")
def test_addon_drives_an_armature_inside_blender(rigged_frames: list[PoseFrame], tmp_path: Path) -> None:
    out = tmp_path / "posed.json"
    stop = threading.Event()
    with ServerThread(ServerConfig(port=0), fps=30) as st:
        feeder = threading.Thread(target=_feed, args=(st, rigged_frames, stop), daemon=True)
        feeder.start()
        try:
            run = subprocess.run(
                [str(BLENDER), "-b", "--factory-startup", "--python", str(SCRIPT), "--", str(ADDON.parent), st.url, str(out)],
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
        finally:
            stop.set()
            feeder.join(5)
    assert run.returncode == 0 and out.is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    records = res["records"]
    assert res["frames_received"] >= 10 and len(records) >= 10, res["frames_received"]
    errors = [_angle_deg(r["actual"][b], r["expected"][b]) for r in records for b in r["actual"]]
    print(f"{len(records)} frames applied in Blender; arm bone direction vs the rig: max {max(errors):.3f} deg")
    assert max(errors) < 1.0  # each arm bone points where the rig frame says
    for bone in ("LeftUpperArm", "RightLowerArm"):
        dirs = [r["actual"][bone] for r in records]
        assert max(_angle_deg(d, [1.0 if bone.startswith("Left") else -1.0, 0, 0]) for d in dirs) > 20.0  # posed, not the T-pose
        moved = max(_angle_deg(dirs[0], d) for d in dirs)
        assert moved > 2.0, (bone, moved)  # and it follows the person from frame to frame
