"""The streaming cleaner's depth filter (``CleanerConfig.depth_smoothing``) on real MediaPipe detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.cleaner.one_euro import OneEuroFilter
from skeletor.cleaner.stream import DEPTH_SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence, smooth_depth_along_rays
from skeletor.datasets.poseformat import load_pose_file
from skeletor.eval import metrics

UPPER = [0, 11, 12, 13, 14, 15, 16]  # nose, shoulders, elbows, wrists


@pytest.fixture(scope="module")
def real_clip(data_dir: Path):
    return load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")  # 278 frames of real Holistic output


def test_depth_filter_moves_joints_along_their_rays_only(real_clip) -> None:
    poses = clean_sequence(real_clip, StreamingCleaner(CleanerConfig(refine=False))).poses3d[:60]
    f = OneEuroFilter(min_cutoff=DEPTH_SMOOTHING.min_cutoff, beta=DEPTH_SMOOTHING.beta, d_cutoff=DEPTH_SMOOTHING.d_cutoff)
    out = np.stack([smooth_depth_along_rays(p, f, i / real_clip.fps) for i, p in enumerate(poses)])
    ok = np.isfinite(poses).all(-1)
    np.testing.assert_allclose(out[ok][:, :2] / out[ok][:, 2:], poses[ok][:, :2] / poses[ok][:, 2:], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(poses))
    assert metrics.jitter(out[:, UPPER]) < metrics.jitter(poses[:, UPPER])  # depth is where the jitter is
    assert not np.allclose(out[ok], poses[ok])


def test_depth_filter_steadies_a_real_clip_and_keeps_it_on_its_detections(real_clip) -> None:
    runs = {d: clean_sequence(real_clip, StreamingCleaner(CleanerConfig(depth_smoothing=d))).poses3d for d in (None, DEPTH_SMOOTHING)}
    off, on = runs[None], runs[DEPTH_SMOOTHING]
    assert metrics.jitter(on[:, UPPER]) < 0.9 * metrics.jitter(off[:, UPPER])
    focal = float(max(real_clip.image_size))
    err = [
        np.median(metrics.reprojection_error(p[:, UPPER], real_clip.keypoints[:, UPPER], focal, real_clip.image_size)) for p in (off, on)
    ]
    assert err[1] < 1.1 * err[0] + 0.5, err  # pixels: the image position is the same up to the rig and the pull
    np.testing.assert_array_equal(np.isnan(on), np.isnan(off))
    cleaner = StreamingCleaner(CleanerConfig())
    clean_sequence(real_clip, cleaner)
    cleaner.reset()  # a cut starts the filter afresh
    np.testing.assert_array_equal(clean_sequence(real_clip, cleaner).poses3d, on)
