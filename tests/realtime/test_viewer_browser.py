"""The browser viewer in headless Chromium, served by a real server that a feeder thread publishes to.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
``selenium``; skipped with the reason when one is missing. No browser is ever downloaded.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from realtime.server import ServerConfig, ServerThread
from test_server import synthetic_frame  # shared test helpers (tests/realtime has no package)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """A headless Chromium (Debian's, via its chromedriver) with a fresh profile."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="skeletor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        "--window-size=800,600", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(20)
    drv.set_script_timeout(10)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


class FeederThread:
    """Publishes synthetic frames at ``rate_hz`` from a plain thread, as the pipeline does."""

    def __init__(self, target: Callable[[], ServerThread], rate_hz: float = 30.0) -> None:
        self.target, self.period, self.seq = target, 1.0 / rate_hz, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.target().publish(synthetic_frame(self.seq))
            self.seq += 1

    def __enter__(self) -> FeederThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_for(drv: Any, script: str, pred: Callable[[Any], bool], timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    value = None
    while time.monotonic() < end:
        value = drv.execute_script(script)
        if pred(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"{script} never satisfied the condition; last value {value!r}")


STATS = "return window.viewerStats && Object.assign({}, window.viewerStats)"
# Count canvas pixels that differ from the background: proof that something was drawn.
DRAWN_PIXELS = """
const c = document.getElementById('view');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 0x15) + Math.abs(d[i + 1] - 0x17) + Math.abs(d[i + 2] - 0x1a) > 60) n++;
return n;
"""


def test_viewer_connects_draws_toggles_and_reconnects(driver: Any, capsys: pytest.CaptureFixture[str]) -> None:
    state: dict[str, ServerThread] = {"server": ServerThread(ServerConfig(port=0), fps=30).start()}
    port = state["server"].port
    try:
        with FeederThread(lambda: state["server"]) as feeder:
            driver.get(state["server"].http_url)
            stats = wait_for(driver, STATS, lambda s: s and s["connected"] and s["framesDrawn"] >= 10)
            assert stats["skeleton"] == "holistic75" and stats["format"] == "binary"
            first = stats["framesDrawn"]
            time.sleep(1.0)
            stats = driver.execute_script(STATS)
            drawn_per_s = stats["framesDrawn"] - first
            assert drawn_per_s >= 15, stats  # ~30 frames/s published
            assert feeder.seq - stats["lastSeq"] <= 5
            assert driver.execute_script(DRAWN_PIXELS) > 500  # the skeleton's lines and dots

            latency = driver.find_element("id", "latency").text
            assert latency.endswith(" ms") and float(latency.split()[0]) < 500
            assert "detect 9.5" in driver.find_element("id", "stages").text

            # Raw-vs-cleaned: choosing "both" subscribes to raw_joints.
            driver.find_element("css selector", "input[name=mode][value=both]").click()
            wait_for(driver, STATS, lambda s: "raw_joints" in s["subscribedFields"])

            # Orbit and zoom do not break drawing.
            from selenium.webdriver.common.action_chains import ActionChains

            canvas = driver.find_element("id", "view")
            ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(120, 40).release().perform()
            driver.execute_script("document.getElementById('view').dispatchEvent(new WheelEvent('wheel', {deltaY: 300, bubbles: true, cancelable: true}))")
            before = driver.execute_script(STATS)["framesDrawn"]
            wait_for(driver, STATS, lambda s: s["framesDrawn"] >= before + 10)
            assert driver.execute_script(DRAWN_PIXELS) > 500

            # The server goes away and comes back on the same port: the viewer reconnects by itself.
            state["server"].stop()
            wait_for(driver, STATS, lambda s: not s["connected"] and s["closeCode"] in (1001, 1006))
            assert "disconnected" in driver.find_element("id", "conn-text").text
            state["server"] = ServerThread(ServerConfig(port=port), fps=30).start()
            before = driver.execute_script(STATS)["framesDrawn"]
            wait_for(driver, STATS, lambda s: s["connected"] and s["framesDrawn"] >= before + 10, timeout=20)

        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "/ws" not in e["message"]]
        assert not severe, severe  # failed websocket attempts while the server was down are expected
        with capsys.disabled():
            print(f"\nviewer: {drawn_per_s} frames drawn/s at 30 Hz published, on-screen latency {latency}")
    finally:
        state["server"].stop()


def test_viewer_json_mode_and_token(driver: Any) -> None:
    with ServerThread(ServerConfig(port=0, token="abc"), fps=30) as st, FeederThread(lambda: st):
        driver.get(st.http_url + "?format=json&token=abc")
        stats = wait_for(driver, STATS, lambda s: s and s["connected"] and s["framesDrawn"] >= 5)
        assert stats["format"] == "json" and stats["badFrames"] == 0
        driver.get(st.http_url + "?token=wrong")
        stats = wait_for(driver, STATS, lambda s: s and s["closeCode"] is not None)
        assert not stats["connected"] and stats["framesDrawn"] == 0


def test_js_example_in_docs_runs(driver: Any) -> None:
    """docs/clients.md's browser snippet, run as written in a page of the server's origin (only the URL changes)."""
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "clients.md").read_text(encoding="utf-8")
    (script,) = re.findall(r"```html\n<script>\n(.*?)</script>\n```", docs, flags=re.S)
    with ServerThread(ServerConfig(port=0), fps=30) as st, FeederThread(lambda: st):
        driver.get(st.http_url + "?ws=ws://127.0.0.1:1/ws")  # a page of the right origin; its viewer stays idle
        driver.get_log("browser")  # drop earlier messages
        driver.execute_script(script.replace("ws://127.0.0.1:8765/ws", st.url))
        logs: list[str] = []
        end = time.monotonic() + 10
        while time.monotonic() < end and not any("nose" in m for m in logs):
            logs += [e["message"] for e in driver.get_log("browser")]
            time.sleep(0.2)
    assert any('"holistic75" 75 "joints"' in m for m in logs), logs
    assert any('"seq"' in m and "nose" in m and "latency" in m for m in logs), logs
