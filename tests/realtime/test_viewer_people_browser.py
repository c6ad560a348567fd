"""The browser viewer with several people: each drawn in their own colour, removed when they leave or their frames stop."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.server import ServerConfig, ServerThread
from skeletor.protocol import StatusEvent
from test_server import synthetic_frame  # shared test helpers (tests/realtime has no package)
from test_viewer_browser import STATS, driver, wait_for  # noqa: F401  (driver: the shared Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The viewer's PERSON_COLORS for ids 1 and 3 (8 colours, by id).
COLOR = {1: (0xFF, 0x8C, 0x42), 3: (0xFF, 0x4D, 0xA6)}
PIXELS_OF = """
const [r, g, b] = arguments;
const c = document.getElementById('view');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40) n++;
return n;
"""


class PeopleFeeder:
    """Publishes, 30 times a second, one capture of two people (ids 1 and 3, 0.6 m apart), as the pipeline does."""

    def __init__(self, server: ServerThread) -> None:
        self.server, self.seq, self.ids = server, 0, [1, 3]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1 / 30):
            base = synthetic_frame(self.seq)
            for pid in list(self.ids):
                joints = base.joints + np.float32([0.3 * (pid - 2), 0, 0])
                self.server.publish(dataclasses.replace(base, joints=joints, raw_joints=None, person_id=pid, primary=pid == min(self.ids)))
            self.seq += 1

    def __enter__(self) -> PeopleFeeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _colors_in_png(path: Path) -> dict[int, int]:
    """Pixels of each person's colour in a screenshot."""
    import cv2

    img = cv2.imread(str(path))[:, :, ::-1].astype(int)  # RGB
    return {pid: int((np.abs(img - np.array(rgb)).sum(axis=2) < 40).sum()) for pid, rgb in COLOR.items()}


def test_viewer_draws_each_person_in_their_own_colour(driver: Any, tmp_path: Path) -> None:  # noqa: F811
    server = ServerThread(ServerConfig(port=0), fps=30, max_people=3).start()
    try:
        with PeopleFeeder(server) as feeder:
            driver.get(server.http_url)
            stats = wait_for(driver, STATS, lambda s: s and s["connected"] and s["people"] == 2 and s["framesDrawn"] >= 10)
            assert stats["maxPeople"] == 3 and stats["personIds"] == [1, 3]
            assert driver.find_element("id", "people").text == "2 (1, 3)"
            shot = tmp_path / "two-people.png"
            assert driver.get_screenshot_as_file(str(shot))
            in_png = _colors_in_png(shot)
            assert in_png[1] > 300 and in_png[3] > 300, in_png  # both people, each in their colour
            # Person 3 leaves: gone from the page at once.
            feeder.ids = [1]
            server.publish_status(StatusEvent.PERSON_LEFT, "person 3 left", person_id=3)
            wait_for(driver, STATS, lambda s: s["personIds"] == [1])
            wait_for(driver, "return (function(){" + PIXELS_OF.replace("arguments", "[255, 77, 166]") + "})()", lambda n: n < 20)
            assert driver.execute_script(PIXELS_OF, *COLOR[1]) > 300
        # The frames stop: after a second nobody is drawn.
        wait_for(driver, STATS, lambda s: s["people"] == 0, timeout=5)
    finally:
        server.stop()
