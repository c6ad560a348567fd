"""The capture and detector in a child process: same detections as in-process, and every fault contained.

The child replays a real MediaPipe Holistic clip on a real video's frames
(``process_helpers``), so what crosses the process boundary can be compared exactly with
the same source run in this process; one test runs MediaPipe itself.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from process_helpers import camera_source, video_source, wrong_skeleton_source
from realtime.detector_process import DetectorFrameError, DetectorProcessDied, DetectorProcessSource
from realtime.pipeline import Detection, DetectionSource, LivePipeline, PipelineConfig
from realtime.sources import SourceConfig, SourceError, open_source
from skeletor.cleaner.stream import CleanerConfig


@pytest.fixture(scope="module")
def clip_path(data_dir: Path) -> Path:
    return data_dir / "slp_pose_format" / "mediapipe.pose"


def _read_all(source: DetectionSource, limit: int = 500) -> list[Detection]:
    out: list[Detection] = []
    while not source.ended and len(out) < limit:
        d = source.read(timeout=5.0)
        if d is not None:
            out.append(d)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.data
def test_detections_cross_the_process_boundary_unchanged_and_in_order(webcam_video: Path, clip_path: Path) -> None:
    """Every frame of a real video, detected in a child, equals the same source's detection
    here: seq, keypoints, stamps' order, image size; the image only when asked for."""
    here = video_source(webcam_video, clip_path)
    try:
        expected = _read_all(here)
    finally:
        here.close()
    for images in (False, True):
        child = DetectorProcessSource(functools.partial(video_source, webcam_video, clip_path), images=images)
        try:
            assert (child.fps, child.realtime, child.is_camera, child.max_people, child.detector_name) == (here.fps, False, False, 1, "clip")
            got = _read_all(child)
            assert child.ended and child.dropped == 0
        finally:
            child.close()
        assert [d.seq for d in got] == [d.seq for d in expected] == list(range(58))
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            assert a.image_size == b.image_size and a.person_found == b.person_found
        stamps = [d.t_capture_mono_ns for d in got]
        assert all(t1 > t0 for t0, t1 in zip(stamps, stamps[1:]))
        if images:
            assert all(a.image is not None and np.array_equal(a.image, b.image) for a, b in zip(got, expected))
        else:
            assert all(d.image is None for d in got)


@pytest.mark.data
def test_a_frame_the_detector_fails_on_is_skipped_and_the_stream_goes_on(
    webcam_video: Path, clip_path: Path, collect_sink: type, caplog: pytest.LogCaptureFixture
) -> None:
    """The child's exception on frame 10 reaches the pipeline as that frame's error (with the
    child's traceback); the other 57 frames are cleaned, in order."""
    direct = DetectorProcessSource(functools.partial(video_source, webcam_video, clip_path, raise_at=2))
    try:
        assert [direct.read(timeout=10.0).seq for _ in range(2)] == [0, 1]  # type: ignore[union-attr]
        with pytest.raises(DetectorFrameError, match="call 2"):
            direct.read(timeout=10.0)
        assert direct.read(timeout=10.0).seq == 3  # type: ignore[union-attr]
    finally:
        direct.close()
    source = DetectorProcessSource(functools.partial(video_source, webcam_video, clip_path, raise_at=10))
    sink = collect_sink()
    pipe = LivePipeline(source, PipelineConfig(cleaner=CleanerConfig(refine=False)), [sink])
    with caplog.at_level(logging.ERROR):
        pipe.start()
        assert pipe.wait(60)
        pipe.stop()
    assert pipe.error is None
    assert pipe.stats.detect_errors == 1 and pipe.stats.frames == 57
    assert [f.seq for f in sink.frames] == [i for i in range(58) if i != 10]
    logged = caplog.text
    assert "the detector failed on call 10" in logged and "in the detector process" in logged and "Traceback" in logged


@pytest.mark.data
def test_a_detector_process_that_dies_mid_video_stops_the_pipeline_with_an_error(
    webcam_video: Path, clip_path: Path, collect_sink: type, tmp_path: Path
) -> None:
    """A crash (the child exits on frame 20) must not look like the video's end: the pipeline
    stops with :class:`DetectorProcessDied`, after cleaning the 20 frames it had."""
    marker = tmp_path / "crashed"
    source = DetectorProcessSource(functools.partial(video_source, webcam_video, clip_path, crash_at=20, crash_marker=marker))
    pid = source.pid
    sink = collect_sink()
    pipe = LivePipeline(source, PipelineConfig(cleaner=CleanerConfig(refine=False)), [sink])
    pipe.start()
    assert pipe.wait(60)
    pipe.stop()
    assert marker.exists()
    assert isinstance(pipe.error, DetectorProcessDied) and "exit code 3" in str(pipe.error)
    assert [f.seq for f in sink.frames] == list(range(20))
    assert pid is not None and not _alive(pid)


@pytest.mark.data
def test_a_camera_whose_detector_process_dies_gets_a_new_one_and_seq_goes_on(clip_path: Path, tmp_path: Path) -> None:
    """A camera keeps streaming: the dead child is replaced (once), and ``seq`` never goes back."""
    marker = tmp_path / "crashed"
    source = DetectorProcessSource(functools.partial(camera_source, clip_path, crash_at=15, crash_marker=marker), restart_delay_s=0.1)
    first = source.pid
    try:
        got: list[Detection] = []
        while len(got) < 40:
            d = source.read(timeout=10.0)
            if d is not None:
                got.append(d)
        assert source.restarts == 1 and source.pid != first and marker.exists()
        seqs = [d.seq for d in got]
        assert all(b > a for a, b in zip(seqs, seqs[1:])), seqs
        assert not source.ended
    finally:
        source.close()


@pytest.mark.data
def test_after_a_stall_a_live_source_gives_the_newest_detection_not_a_burst(clip_path: Path) -> None:
    """The parent held up for 0.5 s while the child kept detecting a 100 fps camera: the next
    read is the newest detection (not the oldest queued in the pipe), the skipped ones are
    counted in ``dropped`` and missing from ``seq``, and the stream goes on after it."""
    import time

    source = DetectorProcessSource(functools.partial(camera_source, clip_path))
    try:
        first = source.read(timeout=10.0)
        assert first is not None and source.realtime
        time.sleep(0.5)  # the parent stalls; ~50 detections are sent meanwhile
        after = source.read(timeout=5.0)
        assert after is not None
        assert after.seq - first.seq >= 20  # the newest, not the next one queued (seq 1)
        assert source.dropped >= after.seq - first.seq - 1  # every skipped seq counted
        got = [d for d in (source.read(timeout=5.0) for _ in range(10)) if d is not None]
        assert len(got) >= 5 and all(b.seq > a.seq for a, b in zip([after, *got], got))
    finally:
        source.close()


@pytest.mark.data
def test_a_child_that_dies_on_every_restart_is_given_up_on(clip_path: Path) -> None:
    """Restarts are bounded: a camera source whose child keeps dying before delivering ends with an error."""
    source = DetectorProcessSource(functools.partial(camera_source, clip_path, crash_at=0), max_restarts=1, restart_delay_s=0.05)
    try:
        with pytest.raises(DetectorProcessDied, match="2 times in a row"):
            for _ in range(100):  # every child crashes on its first frame
                source.read(timeout=5.0)
        assert source.ended and source.read(timeout=0.1) is None
    finally:
        source.close()


@pytest.mark.data
def test_opening_errors_in_the_child_are_raised_here_as_the_same_exceptions(tmp_path: Path, clip_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        DetectorProcessSource(functools.partial(video_source, tmp_path / "missing.mp4", clip_path))
    with pytest.raises(ValueError, match="upper50 keypoints"):
        DetectorProcessSource(functools.partial(wrong_skeleton_source, tmp_path / "missing.mp4"))


@pytest.mark.data
def test_ctrl_c_reaches_only_the_parent_and_close_ends_the_child(clip_path: Path) -> None:
    """Ctrl-C goes to the whole process group; the child ignores it (the parent decides when
    to stop, e.g. after the recording is finished) and exits once closed."""
    source = DetectorProcessSource(functools.partial(camera_source, clip_path))
    pid = source.pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGINT)
        got = [d for d in (source.read(timeout=5.0) for _ in range(10)) if d is not None]
        assert len(got) >= 5 and _alive(pid)
    finally:
        source.close()
    assert not _alive(pid)
    assert source.read(timeout=0.1) is None


@pytest.mark.data
@pytest.mark.slow
def test_mediapipe_in_a_detector_process_detects_what_it_detects_here(webcam_video: Path) -> None:
    """``open_source`` with ``detector_process`` runs MediaPipe Holistic in a child: on a real
    video its keypoints equal those of the same detector in this process."""
    config = SourceConfig(kind="video", video=webcam_video, detector_process=True)
    child, what = open_source(config)
    try:
        assert isinstance(child, DetectorProcessSource) and "in its own process" in what
        got = _read_all(child)
    finally:
        child.close()
    here, what_here = open_source(SourceConfig(kind="video", video=webcam_video))
    try:
        assert not isinstance(here, DetectorProcessSource) and "in its own process" not in what_here
        expected = _read_all(here)
    finally:
        here.close()
    assert len(got) == len(expected) == 58
    found = [d.person_found for d in got]
    assert found == [d.person_found for d in expected] and sum(found) > 50
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3, equal_nan=True)


@pytest.mark.data
@pytest.mark.slow
def test_skeletor_live_detector_process_streams_every_frame_of_a_video(webcam_video: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``skeletor-live --detector-process`` on a real video: MediaPipe in its own process, all 58 frames out."""
    from realtime.cli import main

    with caplog.at_level(logging.INFO):
        assert main(["--video", str(webcam_video), "--detector-process", "--no-refine", "--port", "0", "--no-status"]) == 0
    assert "(holistic, in its own process)" in caplog.text
    assert "done: 58 frames, 0 dropped" in caplog.text


@pytest.mark.data
def test_a_detector_that_cannot_be_sent_to_a_child_runs_here(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, webcam_video: Path) -> None:
    """A detector registered at run time as a closure cannot be pickled for the child: it
    runs in this process, and the log says why."""
    from realtime.detectors import DETECTORS, DetectorSpec

    made: list[object] = []

    def make(options: dict) -> object:
        from realtime.detectors.holistic import HolisticDetector

        made.append(HolisticDetector())
        return made[-1]

    monkeypatch.setitem(DETECTORS, "local", DetectorSpec(summary="a closure", create=make))
    with caplog.at_level(logging.INFO):
        source, what = open_source(SourceConfig(kind="video", video=webcam_video, detector="local", detector_process=True))
    try:
        assert not isinstance(source, DetectorProcessSource) and made and "in its own process" not in what
        assert "cannot be sent to a child process" in caplog.text
    finally:
        source.close()
