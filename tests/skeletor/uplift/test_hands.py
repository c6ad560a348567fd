"""Hand chirality (skeletor.uplift.hands) on real MediaPipe hands, and on the cleaner's hands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.poseformat import load_pose_file
from skeletor.uplift.hands import HAND_OFFSETS, hand_chirality

# A hand-estimation clip whose hand MediaPipe saw in every frame, and which hand it is.
CLIPS = {"0ff215ef4f1f111e217e2cefee0adc77.pose": "right", "7bd6dd48722def3cf84258b96371cb1e.pose": "left"}


def _detector_3d(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, 75, 3) MediaPipe's own 3D (x px, y px, depth hint px: z forward) and (T, 75) confidences."""
    seq = load_pose_file(path)
    assert seq.depth is not None
    return np.concatenate([seq.keypoints[..., :2], seq.depth[..., None]], -1), seq.keypoints[..., 2]


def _seen(conf: np.ndarray, hand: str) -> np.ndarray:
    o, _ = HAND_OFFSETS[hand]
    return (conf[:, o : o + 21] > 0).all(1)


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_mediapipe_hands_have_the_right_chirality_and_their_depth_mirror_the_wrong_one(data_dir: Path, name: str) -> None:
    hand = CLIPS[name]
    pts, conf = _detector_3d(data_dir / "slp_pose_format" / "hand_estimation" / name)
    seen = _seen(conf, hand)
    assert seen.sum() >= 80
    c = hand_chirality(pts[seen], hand)
    assert np.mean(c > 0) >= 0.95  # measured: 100 % of frames on both clips
    o, _ = HAND_OFFSETS[hand]
    mirrored = pts[seen].copy()
    mirrored[:, o : o + 21, 2] = 2 * mirrored[:, o : o + 1, 2] - mirrored[:, o : o + 21, 2]  # depth reflected about the wrist
    assert np.mean(hand_chirality(mirrored, hand) < 0) >= 0.95


def test_cleaned_hands_keep_their_chirality(data_dir: Path) -> None:
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence

    name = "0ff215ef4f1f111e217e2cefee0adc77.pose"
    seq = load_pose_file(data_dir / "slp_pose_format" / "hand_estimation" / name)
    out = clean_sequence(seq, StreamingCleaner(CleanerConfig()))
    seen = _seen(seq.keypoints[..., 2], "right")
    assert np.mean(hand_chirality(out.poses3d[seen], "right") > 0) >= 0.9
