"""The detector seam: the registry, the shape check, who closes a detector, and videos read
through any detector."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.detectors import DETECTORS, DetectedPose, Detector, DetectorSpec, check_pose, create_detector, no_person
from realtime.detectors.video import read_video_keypoints
from realtime.sources import CaptureSource, SourceConfig, SourceError, open_source
from skeletor.pose.skeleton import HOLISTIC75, UPPER50


def test_registry_names_holistic_and_refuses_unknown_names_and_options() -> None:
    assert "holistic" in DETECTORS
    with pytest.raises(ValueError, match="unknown detector 'nope'; expected one of: .*holistic"):
        create_detector("nope")
    with pytest.raises(ValueError, match="model_complexity must be 0, 1 or 2"):
        create_detector("holistic", {"model_complexity": 5})
    with pytest.raises(ValueError, match="detector 'holistic': bad options"):
        create_detector("holistic", {"no_such_option": 1})
    with pytest.raises(ValueError, match="unknown detector"):
        SourceConfig(detector="nope")


def test_no_person_is_every_joint_missing() -> None:
    kp, depth, found = no_person(HOLISTIC75)
    assert kp.shape == (HOLISTIC75.num_joints, 3) and kp.dtype == np.float32
    assert not found and (kp[:, 2] == 0).all() and np.isnan(kp[:, :2]).all() and np.isnan(depth).all()


def test_the_stand_in_is_a_detector_and_a_wrong_shape_is_named(clip_detector: Callable[[], Any], webcam_video: Path) -> None:
    det = clip_detector()
    assert isinstance(det, Detector)

    class Partial:
        name, skeleton = "partial", HOLISTIC75

        def detect(self, image: np.ndarray, t_ns: int) -> DetectedPose:
            return DetectedPose(np.zeros((33, 3), np.float32), None, True)  # the body only: a slip

        def close(self) -> None:
            pass

    with pytest.raises(ValueError, match=r"detector 'partial': keypoints must be \(75, 3\) for holistic75, got \(33, 3\)"):
        check_pose(Partial(), Partial().detect(np.zeros((4, 4, 3), np.uint8), 0))
    source = CaptureSource(webcam_video, Partial())
    try:
        with pytest.raises(ValueError, match="detector 'partial'"):
            source.read(timeout=5.0)
    finally:
        source.close()


def test_capture_source_owns_its_detector(clip_detector: Callable[[], Any], webcam_video: Path, data_dir: Path) -> None:
    det = clip_detector()
    with pytest.raises(SourceError, match="cannot open as a video"):
        CaptureSource(data_dir / "SOURCES.md", det)  # a file, but not a video
    assert det.closed  # freed even though the source never opened

    det = clip_detector()
    source = CaptureSource(webcam_video, det)
    d = source.read(timeout=5.0)
    assert d is not None and d.image_size == (540, 720) and d.image is not None
    np.testing.assert_array_equal(d.keypoints, det.outputs[0].keypoints)
    assert d.t_capture_mono_ns == det.calls[0][2]  # the detector is given the capture time
    source.close()
    assert det.closed


def test_open_source_builds_the_named_detector_and_refuses_other_layouts(
    monkeypatch: pytest.MonkeyPatch, clip_detector: Callable[[], Any], webcam_video: Path
) -> None:
    seen: dict[str, Any] = {}

    def make(options: Any) -> Any:
        seen["options"] = dict(options)
        seen["detector"] = clip_detector()
        return seen["detector"]

    monkeypatch.setitem(DETECTORS, "clip", DetectorSpec(summary="a clip", create=make))
    source, what = open_source(SourceConfig(kind="video", video=webcam_video, detector="clip", detector_options={"speed": 2}))
    try:
        assert isinstance(source, CaptureSource) and source.detector is seen["detector"]
        assert seen["options"] == {"speed": 2} and "(clip)" in what
    finally:
        source.close()

    class Upper(type(clip_detector())):  # right class, wrong layout
        skeleton = UPPER50

    upper = Upper(seen["detector"].clip)
    monkeypatch.setitem(DETECTORS, "upper", DetectorSpec(summary="upper50", create=lambda options: upper))
    with pytest.raises(ValueError, match="gives upper50 keypoints; the cleaner takes holistic75"):
        open_source(SourceConfig(kind="video", video=webcam_video, detector="upper"))
    assert upper.closed
    with pytest.raises(SourceError, match="no such video file"):
        open_source(SourceConfig(kind="video", video=webcam_video.with_name("missing.mp4"), detector="clip"))


def test_videos_are_read_through_any_detector(clip_detector: Callable[[], Any], webcam_video: Path, holistic_clip: Any) -> None:
    det = clip_detector()
    seq = read_video_keypoints(webcam_video, det, progress=False)
    assert len(seq) == 58 and seq.image_size == (540, 720) and seq.skeleton == "holistic75"
    assert seq.depth is None  # this detector gives no depth hint
    np.testing.assert_array_equal(seq.keypoints, np.stack([p.keypoints for p in det.outputs]))
    assert [t for _, _, t in det.calls] == [round(i * 1e9 / seq.fps) for i in range(58)]  # the frames' times in the video
    assert not det.closed  # a detector passed in stays the caller's
