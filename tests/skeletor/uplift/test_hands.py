"""Hand chirality (skeletor.uplift.hands) on real MediaPipe hands, and on the cleaner's hands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.poseformat import load_pose_file
from skeletor.uplift.hands import HAND_OFFSETS, detector_hands, hand_chirality, unmirror_hands

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


def test_detector_hands_put_the_detectors_hand_on_the_uplifts_wrist_at_its_scale(data_dir: Path) -> None:
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

    name = "0ff215ef4f1f111e217e2cefee0adc77.pose"
    seq = load_pose_file(data_dir / "slp_pose_format" / "hand_estimation" / name)
    assert seq.depth is not None
    uplift = StreamingCleaner(CleanerConfig(refine=False))  # the uplift alone: its frames as they are
    o, _ = HAND_OFFSETS["right"]
    hand = slice(o, o + 21)
    checked, lateral = 0, []
    for i in range(len(seq)):
        for f in uplift.push(seq.keypoints[i], i / seq.fps, seq.depth[i], seq.image_size):
            kp, depth = seq.keypoints[f.index], seq.depth[f.index]
            out = detector_hands(f.pose, kp, depth)
            assert np.array_equal(out[:33], f.pose[:33], equal_nan=True) and out is not f.pose  # only hands change
            if not (kp[hand, 2] > 0).all():
                continue
            checked += 1
            hint = np.concatenate([kp[hand, :2], depth[hand, None]], -1)
            rel, rel_px = out[hand] - out[o], hint - hint[0]
            scale = np.linalg.norm(rel[9]) / np.linalg.norm(rel_px[9])
            np.testing.assert_allclose(rel, scale * rel_px, atol=1e-5)  # the detector's shape, one scale
            assert np.allclose(out[o], f.pose[o])  # on the uplift's wrist
            lateral.append(np.linalg.norm(rel[:, :2] - (f.pose[hand, :2] - f.pose[o, :2]), axis=-1))
            assert hand_chirality(out, "right") > 0
    assert checked >= 80
    # one scale for the whole hand (weak perspective): the joints move sideways from the uplift's
    # rays by the hand's own depth over the camera distance (measured: median 20 mm, max 76 mm)
    print(f"lateral move from the uplift's hand: median {np.median(lateral) * 1000:.1f} mm, max {np.max(lateral) * 1000:.1f} mm")
    assert np.median(lateral) < 0.03
    no_hint = detector_hands(f.pose, seq.keypoints[f.index], None)
    np.testing.assert_array_equal(no_hint, f.pose)  # (NaN equal NaN here) no depth hint: the uplift's hands


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_unmirror_hands_reflects_mirrored_hands_only(data_dir: Path, name: str) -> None:
    hand = CLIPS[name]
    pts, conf = _detector_3d(data_dir / "slp_pose_format" / "hand_estimation" / name)
    o, _ = HAND_OFFSETS[hand]
    for t in np.flatnonzero(_seen(conf, hand))[::10]:
        pose = np.where(conf[t, :, None] > 0, pts[t], np.nan).astype(np.float32)
        np.testing.assert_array_equal(unmirror_hands(pose), pose)  # the right chirality: unchanged
        mirrored = pose.copy()
        mirrored[o : o + 21, 2] = 2 * mirrored[o, 2] - mirrored[o : o + 21, 2]
        np.testing.assert_allclose(unmirror_hands(mirrored), pose, atol=1e-3)  # reflected back
