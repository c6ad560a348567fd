"""MediaPipe Holistic, the default detector, on a real webcam clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realtime.detectors import Detector
from realtime.detectors.holistic import HolisticDetector
from realtime.detectors.video import read_video_keypoints


def test_person_found_in_real_webcam_clip(data_dir: Path) -> None:
    seq = read_video_keypoints(data_dir / "videos" / "slp_pose_test_video.mp4", progress=False)
    found = (seq.keypoints[:, :33, 2] > 0).any(1)
    assert found.mean() >= 0.9
    # subject's left shoulder on the image right; left hand landmarks next to the left wrist
    assert np.nanmean(seq.keypoints[:, 11, 0] > seq.keypoints[:, 12, 0]) > 0.9
    assert np.isnan(seq.keypoints[seq.keypoints[..., 2] == 0][:, :2]).all()
    assert seq.depth is not None and np.isfinite(seq.depth[found][:, 11]).all()


def test_holistic_is_a_detector_and_finds_no_one_in_a_blank_image() -> None:
    with HolisticDetector() as det:
        assert isinstance(det, Detector) and det.name == "holistic" and det.skeleton.name == "holistic75"
        kp, depth, found = det.detect(np.zeros((240, 320, 3), np.uint8), 0)
    assert not found and kp.shape == (75, 3) and (kp[:, 2] == 0).all() and np.isnan(depth).all()
