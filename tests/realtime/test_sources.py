"""The sources: the demo and the procedural person behind it; a live source's pacing after a stall."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.sources import CaptureSource, DemoConfig, DemoSource
from skeletor.pose.procedural import ProceduralPerson
from skeletor.pose.skeleton import HOLISTIC75


def test_procedural_person_has_constant_limb_bones_and_a_human_size() -> None:
    x = ProceduralPerson().sequence(150, 30.0)
    bones = HOLISTIC75.bones
    lengths = np.linalg.norm(x[:, bones[:, 1]] - x[:, bones[:, 0]], axis=-1)
    torso = {(11, 23), (12, 24)}  # the spine bends: shoulder-hip may change a little
    limb = [b for b, (p, c) in enumerate(bones) if (int(p), int(c)) not in torso]
    assert lengths[:, limb].std(0).max() < 1e-5
    assert lengths.std(0).max() < 2e-3
    height = x[:, :, 1].max(1) - x[:, :, 1].min(1)
    assert (1.4 < height).all() and (height < 1.9).all()
    assert np.ptp(x[:, 15], axis=0).max() > 0.1  # the hands move


def test_demo_source_is_deterministic_noisy_and_inside_the_image() -> None:
    a = DemoSource(DemoConfig(paced=False, seed=3))
    b = DemoSource(DemoConfig(paced=False, seed=3))
    da = [a.read(0.1) for _ in range(60)]
    db = [b.read(0.1) for _ in range(60)]
    np.testing.assert_array_equal(da[10].keypoints, db[10].keypoints)
    kp = np.stack([d.keypoints for d in da])
    ok = kp[..., 2] > 0
    assert 0.85 < ok.mean() < 0.999  # dropouts happen
    assert (kp[ok][:, 0] >= 0).all() and (kp[ok][:, 0] < 1280).all()
    truth = np.stack([a.truth(i) for i in range(60)])
    px = a._camera.project(truth)
    err = np.linalg.norm(kp[..., :2] - px, axis=-1)[ok]
    assert 0.5 < err.mean() < 5.0  # jitter of a couple of pixels


def test_demo_source_paces_at_its_fps() -> None:
    src = DemoSource(DemoConfig(fps=50.0))
    t0 = time.monotonic()
    n = 0
    while n < 25:
        if src.read(0.5) is not None:
            n += 1
    assert time.monotonic() - t0 > 0.4  # 24 periods at least (a lower bound: load cannot break it)


class FakeTime:
    """Stands in for the ``time`` module in realtime.sources: a clock that only ``sleep`` (and
    ``stall``) move, so pacing is checked exactly, without wall-clock timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def monotonic_ns(self) -> int:
        return int(self.now * 1e9)

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += max(0.0, s)

    def stall(self, s: float) -> None:
        """The process was busy elsewhere for ``s`` seconds (a GC pause, a slow sink, a suspended laptop)."""
        self.now += s


def test_demo_source_drops_stale_frames_after_a_stall_instead_of_bursting(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a stall a live source does not catch up: the frames it missed are dropped (and
    counted, and skipped in ``seq``), the next frames keep the nominal period."""
    import realtime.sources

    clock = FakeTime()
    monkeypatch.setattr(realtime.sources, "time", clock)
    fps = 30.0
    src = DemoSource(DemoConfig(fps=fps))
    got = []
    for i in range(150):
        if i in (40, 90):
            clock.stall(1.0 if i == 40 else 0.25)
        d = src.read(1.0)
        assert d is not None
        got.append(d)
    t = np.array([d.t_capture_mono_ns for d in got]) / 1e9
    gaps = np.diff(t)
    assert gaps.min() >= 0.5 / fps, f"a burst: two frames {gaps.min() * 1000:.1f} ms apart at {fps} fps"
    span = t[-1] - t[0]
    assert len(got) - 1 <= span * fps + 1  # never above the nominal rate over the run
    seqs = np.array([d.seq for d in got])
    assert (np.diff(seqs) >= 1).all()
    assert src.dropped == seqs[-1] - seqs[0] + 1 - len(got)  # every skipped seq is a counted drop
    assert 30 - 2 <= src.dropped <= 30 + 7 + 2  # ~1 s + 0.25 s of frames at 30 fps
    # the person moved on in real time: the frame after the 1 s stall shows the pose ~1 s later
    assert seqs[40] - seqs[39] >= 29


def test_demo_source_keeps_its_rate_when_read_late_by_less_than_half_a_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small lateness (a busy consumer) keeps the schedule: no frame dropped, the average rate stays fps."""
    import realtime.sources

    clock = FakeTime()
    monkeypatch.setattr(realtime.sources, "time", clock)
    src = DemoSource(DemoConfig(fps=30.0))
    t = []
    for i in range(90):
        clock.stall(0.01 * (i % 2))  # 10 ms late every other frame (a third of a period)
        d = src.read(1.0)
        assert d is not None
        t.append(d.t_capture_mono_ns / 1e9)
    assert src.dropped == 0
    assert np.diff(t).min() >= 0.5 / 30
    assert abs((t[-1] - t[0]) - 89 / 30.0) < 0.02  # the schedule held: 89 periods, give or take the last lateness


def test_demo_frames_are_stamped_when_taken_so_a_slow_render_cannot_bunch_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The soak's check that the source never runs above its fps reads the capture stamps: a
    frame whose rendering is held up (a loaded machine) keeps the stamp of the moment it was
    taken, so the stamps keep the pacer's spacing (at most fps + 1 in any 1 s)."""
    import realtime.sources

    clock = FakeTime()
    monkeypatch.setattr(realtime.sources, "time", clock)
    fps = 30.0
    src = DemoSource(DemoConfig(fps=fps))
    truth = src.truth

    def slow_truth(seq: int) -> np.ndarray:
        if seq % 40 == 3:
            clock.stall(1.2 / fps)  # rendering held up for more than a period
        return truth(seq)

    monkeypatch.setattr(src, "truth", slow_truth)
    t = np.array([src.read(1.0).t_capture_mono_ns for _ in range(200)]) / 1e9
    most_in_1s = int((np.searchsorted(t, t + 1.0, side="left") - np.arange(len(t))).max())
    assert most_in_1s <= fps + 1
    assert np.diff(t).min() >= 0.5 / fps - 1e-9


def _read_n(src: Any, n: int, timeout: float = 5.0) -> list[tuple[float, Any]]:
    """``n`` detections from ``src``, each with the monotonic time ``read`` returned it."""
    out = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        d = src.read(timeout)
        if d is not None:
            out.append((time.monotonic(), d))
    assert len(out) == n, f"only {len(out)} of {n} frames"
    return out


def test_a_camera_that_bursts_is_delivered_at_its_fps_newest_first(clip_detector: Callable[[], Any], stand_in_camera: type) -> None:
    """A driver that hands over images as fast as asked (its buffer after a hiccup) never makes
    the source deliver above the camera's fps: the surplus is overwritten (newest wins) and counted."""
    fps = 40.0
    camera = stand_in_camera(fps=fps, burst=True)
    src = CaptureSource(0, clip_detector(), open_capture=camera.open)
    try:
        got = _read_n(src, 30)
    finally:
        src.close()
    t = np.array([t for t, _ in got])
    assert len(got) - 1 <= (t[-1] - t[0]) * fps + 1  # never above the nominal rate (a lower bound on time: load cannot break it)
    assert np.diff(t).min() >= 0.25 / fps  # and never two in a burst
    seqs = [d.seq for _, d in got]
    assert seqs == sorted(seqs) and src.dropped > 0 and camera.delivered > len(got)  # the surplus was dropped


def test_a_paced_video_skips_the_frames_a_stall_made_stale(clip_detector: Callable[[], Any], stand_in_camera: type) -> None:
    """A --realtime video held up for 0.6 s (a slow disk, a busy machine) skips the frames whose
    time passed, unread and counted, and goes on at its fps instead of catching up."""
    fps = 30.0

    class Stalls(stand_in_camera):  # type: ignore[misc, valid-type]
        def open(self, target: int | str) -> Any:
            dev = super().open(target)
            read = dev.read

            def stalling_read() -> tuple[bool, Any]:
                if self.delivered == 10:
                    time.sleep(0.6)  # the stall
                return read()

            dev.read = stalling_read
            return dev

    camera = Stalls(fps=fps, burst=True)
    src = CaptureSource(Path(__file__), clip_detector(), realtime=True, open_capture=camera.open)  # any existing file: the camera stands in
    try:
        got = _read_n(src, 25)
    finally:
        src.close()
    seqs = np.array([d.seq for _, d in got])
    t_capture = np.array([d.t_capture_mono_ns for _, d in got]) / 1e9
    jumps = np.diff(seqs)
    assert jumps.max() >= int(0.6 * fps) - 2  # the stale frames were skipped ...
    assert src.dropped >= jumps.max() - 1  # ... and counted
    assert np.diff(t_capture).min() >= 0.25 / fps  # no burst after the stall
