"""The viewer's rig view in headless Chromium: choosing it subscribes to ``rotations``, the rig is
drawn from rotations + rest offsets, and its forward kinematics (JavaScript, in the page) equals
the library's for the very frame on screen, in binary and JSON. Skips like test_viewer_browser."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import numpy as np
import pytest

from realtime.server import ServerConfig, ServerThread
from skeletor.protocol import PoseFrame
from skeletor.rig import forward_kinematics
from test_viewer_browser import STATS, driver, wait_for  # noqa: F401  (driver: the shared Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Canvas pixels close to the rig's colour (#c77dff): proof the rig was drawn.
RIG_PIXELS = """
const c = document.getElementById('view');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 0xc7) + Math.abs(d[i + 1] - 0x7d) + Math.abs(d[i + 2] - 0xff) < 60) n++;
return n;
"""


class RigFeeder:
    """Publishes the real clip's rigged frames at 30 Hz (seq = position in the list), each new
    rest rig first as a ``rig`` message, as the websocket sink does."""

    def __init__(self, server: ServerThread, frames: list[PoseFrame]) -> None:
        self.server, self.frames = server, frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        version, i = 0, 0
        while not self._stop.wait(1 / 30):
            f = self.frames[i % len(self.frames)]
            assert f.rig is not None and f.rig.rest_offsets is not None
            if f.rig.rig_version != version:
                version = f.rig.rig_version
                self.server.publish_rig(version, f.rig.rest_offsets)
            self.server.publish(dataclasses.replace(f, t_capture_ns=time.time_ns()))
            i += 1

    def __enter__(self) -> RigFeeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_rig_view_draws_the_rig_from_rotations(driver: Any, rigged_frames: list[PoseFrame], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    frames = [dataclasses.replace(f, seq=i) for i, f in enumerate(f for f in rigged_frames if f.rig is not None)]
    by_seq = {f.seq: f for f in frames}
    worst = {}
    with ServerThread(ServerConfig(port=0), fps=30) as st, RigFeeder(st, frames):
        for fmt, tolerance in (("binary", 5e-5), ("json", 2e-4)):
            driver.get(st.http_url + ("?format=json" if fmt == "json" else ""))
            stats = wait_for(driver, STATS, lambda s: s and s["connected"] and s["framesDrawn"] >= 5)
            assert stats["rigBones"] == 52 and "rotations" not in stats["subscribedFields"]  # opt-in
            driver.find_element("css selector", "input[name=rig][value=beside]").click()
            stats = wait_for(driver, STATS, lambda s: "rotations" in s["subscribedFields"] and s["rigFramesDrawn"] >= 15)
            assert stats["rigVersion"] >= 1 and driver.execute_script(RIG_PIXELS) > 100  # about 200 measured
            # The page's FK of the frame it drew, against the library's on the same frame.
            errors = []
            for _ in range(5):
                s = driver.execute_script(STATS)
                f = by_seq[s["rigSeq"]]
                assert f.rig is not None and f.rig.rest_offsets is not None
                expected = forward_kinematics(f.rig.rest_offsets, f.rig.hips_position, f.rig.rotations)
                errors.append(float(np.abs(np.array(s["rigJoints"]).reshape(-1, 3) - expected).max()))
                time.sleep(0.1)
            worst[fmt] = max(errors)
            assert worst[fmt] < tolerance, (fmt, errors)  # metres: rest offsets travel rounded to 10 um, JSON quaternions to 1e-6
            driver.find_element("css selector", "input[name=rig][value=overlay]").click()
            before = driver.execute_script(STATS)["rigFramesDrawn"]
            wait_for(driver, STATS, lambda s: s["rigFramesDrawn"] >= before + 10 and s["rigView"] == "overlay")
            driver.find_element("css selector", "input[name=rig][value=off]").click()
            wait_for(driver, STATS, lambda s: "rotations" not in s["subscribedFields"])
            before = driver.execute_script(STATS)["framesDrawn"]
            wait_for(driver, STATS, lambda s: s["framesDrawn"] >= before + 3)
            assert driver.execute_script(RIG_PIXELS) < 10  # the rig is gone
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "/ws" not in e["message"]]
    assert not severe, severe
    with capsys.disabled():
        print(
            f"\nviewer rig view: page FK vs library, worst joint {worst['binary'] * 1e3:.4f} mm (binary), {worst['json'] * 1e3:.4f} mm (json)"
        )
