"""``skeletor bench real``'s pieces on real clips (the full run is ``skeletor bench real``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.real import (
    CAUSAL, MP_RAW, OFFLINE, UPLIFT, VIDEOS, compare, detect_video, format_table, lag_frames, score_clip, summarise, upper_body,
)  # fmt: skip
from skeletor.cleaner.offline import default_offline_weights_path
from skeletor.cleaner.stream import default_weights_path
from skeletor.datasets.poseformat import load_pose_file


@pytest.fixture(scope="module")
def clip(data_dir: Path):
    """The first 90 frames of a real MediaPipe Holistic clip (a seated signer)."""
    from dataclasses import replace

    seq = load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")
    return replace(seq, keypoints=seq.keypoints[:90], depth=None if seq.depth is None else seq.depth[:90])


@pytest.mark.parametrize("shift", [0, 1, 3, 7])
def test_lag_of_a_shifted_real_signal_is_recovered_exactly(clip, shift: int) -> None:
    signal = np.nan_to_num(clip.keypoints[:, :17, :2])  # real 2D motion, (T, J, 2)
    delayed = np.concatenate([np.repeat(signal[:1], shift, axis=0), signal[: len(signal) - shift]])
    assert lag_frames(delayed, signal) == pytest.approx(shift, abs=1e-9)
    if shift <= 3:  # a lead is searched down to -3 frames
        assert lag_frames(signal, delayed) == pytest.approx(-shift, abs=1e-9)


def test_metrics_on_a_real_clip_are_finite_and_the_table_flags_a_loss(clip) -> None:
    # stand-in "world landmarks": our offline output (nearly rigid and steady), so the
    # causal rows lose to it on arm bone CV whatever the lag
    from skeletor.cleaner.offline import OfflineCleaner

    world = OfflineCleaner().clean(clip).poses3d[:, :33]
    rows = score_clip(clip, world, None, default_weights_path(), default_offline_weights_path())
    assert {UPLIFT, CAUSAL, OFFLINE, MP_RAW} <= set(rows)
    for name, r in rows.items():
        assert np.isfinite(r["jitter_mm"]) and np.isfinite(r["arm_bone_cv_pct"]) and np.isfinite(r["lag_ms_detections"]), name
        assert (r["reprojection_pct_shoulder"] is None) == name.startswith("MediaPipe"), name
    assert rows[CAUSAL]["jitter_mm"] < rows[UPLIFT]["jitter_mm"]
    assert 0 <= rows[CAUSAL]["reprojection_pct_shoulder"] < 20
    comparison = compare(rows)
    assert comparison and all(c["verdict"].startswith("LOSS") for c in comparison)
    result = {"clips": {"clip": {"kind": "video", "file": "x.mp4", "fps": clip.fps, "frames": len(clip.keypoints), "rows": rows,
                                 "comparison": comparison}}}  # fmt: skip
    result["summary"] = summarise(result["clips"])
    table = format_table(result)
    assert "LOSS" in table and f"0 of {len(comparison)} won" in table


def test_upper_body_is_scaled_to_the_shoulder_width(clip) -> None:
    from skeletor.cleaner.stream import StreamingCleaner, clean_sequence, CleanerConfig

    poses = clean_sequence(clip, StreamingCleaner(CleanerConfig(refine=False))).poses3d
    x = upper_body(poses)
    assert np.nanmedian(np.linalg.norm(x[:, 0] - x[:, 1], axis=-1)) == pytest.approx(0.35, rel=1e-6)
    assert np.allclose(upper_body(poses * 2.0), x, equal_nan=True)  # whatever the method's scale


def test_detect_video_returns_world_landmarks_and_caches(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("mediapipe")
    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path))
    d = detect_video(data_dir / VIDEOS["webcam"], smooth=False, progress=False)
    assert d.world.shape == (len(d.keypoints.keypoints), 33, 3)
    found = d.keypoints.keypoints[:, 11, 2] > 0
    assert found.mean() > 0.9 and np.isfinite(d.world[found]).all()
    width = np.linalg.norm(d.world[found, 11] - d.world[found, 12], axis=-1)
    assert 0.2 < np.median(width) < 0.5  # metres
    assert len(list(tmp_path.rglob("*.npz"))) == 1
    again = detect_video(data_dir / VIDEOS["webcam"], smooth=False, progress=False)  # from the cache
    assert np.array_equal(again.world, d.world, equal_nan=True)
