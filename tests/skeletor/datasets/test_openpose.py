"""OpenPose 2D loaders (Czech .h5 and How2Sign JSON): shapes, dropouts, plausible pixel positions."""

import json
from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets import load_gopeith, load_how2sign
from skeletor.datasets.openpose import BODY25_TO_HOLISTIC75, openpose_to_holistic75
from skeletor.pose.keypoints import KeypointSequence
from skeletor.pose.skeleton import HOLISTIC75, UPPER50_TO_HOLISTIC75

H = HOLISTIC75.index


def _both_present(seq: KeypointSequence, *joints: int) -> np.ndarray:
    return (seq.confidence[:, list(joints)] > 0).all(-1)


def _assert_frontal_upright_signer(seq: KeypointSequence) -> None:
    k = seq.keypoints
    ok = _both_present(seq, H("nose"), H("left_shoulder"), H("right_shoulder"))
    assert ok.mean() > 0.95
    # nose above both shoulders (y down)
    assert np.all(k[ok, H("nose"), 1] < np.minimum(k[ok, H("left_shoulder"), 1], k[ok, H("right_shoulder"), 1]))
    # the subject's left shoulder is on the image right for a signer facing the camera
    assert np.all(k[ok, H("left_shoulder"), 0] > k[ok, H("right_shoulder"), 0])
    # each hand's wrist point sits on its own arm's wrist, not the other one
    for hand, own, other in (("left_hand_wrist", "left_wrist", "right_wrist"), ("right_hand_wrist", "right_wrist", "left_wrist")):
        near = np.nanmedian(np.linalg.norm(k[:, H(hand), :2] - k[:, H(own), :2], axis=-1))
        far = np.nanmedian(np.linalg.norm(k[:, H(hand), :2] - k[:, H(other), :2], axis=-1))
        assert near < 40 and far > 3 * near, (seq.name, hand, near, far)


def _assert_missing_is_nan_and_inside_image(seq: KeypointSequence) -> None:
    k, c = seq.keypoints, seq.confidence
    assert np.array_equal(np.isnan(k[..., 0]), c == 0) and np.array_equal(np.isnan(k[..., 1]), c == 0)
    xy = k[..., :2][c > 0]
    w, h = seq.image_size
    assert xy.min() >= 0 and xy[:, 0].max() <= w and xy[:, 1].max() <= h
    assert c.max() <= 1.0


@pytest.mark.data
def test_gopeith_shape_size_and_rare_dropouts(data_dir: Path) -> None:
    seq = load_gopeith(data_dir / "gopeith_czech_sl")
    assert seq.keypoints.shape == (583, 75, 3) and seq.image_size == (1280, 720) and seq.fps == 25.0
    mapped = sorted(UPPER50_TO_HOLISTIC75.values())
    missing = seq.confidence[:, mapped] == 0
    assert missing.sum() == 23  # SOURCES.md: about 0.08 % of the points are (0, 0, 0)
    assert 0.0005 < missing.mean() < 0.0012
    unmapped = np.setdiff1d(np.arange(75), mapped)
    assert not seq.confidence[:, unmapped].any()  # face details, hips, legs: never there
    _assert_missing_is_nan_and_inside_image(seq)
    _assert_frontal_upright_signer(seq)


@pytest.mark.data
def test_how2sign_clips_frames_and_body_layout(data_dir: Path) -> None:
    clips = load_how2sign(data_dir / "how2sign_openpose_prompt2sign")
    assert [c.name for c in clips] == [f"_2FBDaOPYig_{s}-rgb_front" for s in ("2-3", "2-5", "3-3", "3-5", "4-3")]
    assert [len(c) for c in clips] == [157, 210, 109, 146, 62]
    for seq in clips:
        assert seq.image_size == (1280, 720) and seq.fps == 24.0
        _assert_missing_is_nan_and_inside_image(seq)
        _assert_frontal_upright_signer(seq)
        c, k = seq.confidence, seq.keypoints
        # upper body always seen; the legs are below the frame, so knees are mostly and
        # ankles, heels and toes always missing
        assert (c[:, [H("nose"), H("left_elbow"), H("right_elbow"), H("right_eye"), H("left_ear")]] > 0).all()
        assert (c[:, [H("left_knee"), H("right_knee")]] == 0).mean() > 0.75
        assert not c[:, H("left_ankle") : H("right_foot_index") + 1].any()
        hips = _both_present(seq, H("left_hip"), H("left_shoulder"))
        assert np.all(k[hips, H("left_hip"), 1] > k[hips, H("left_shoulder"), 1] + 100)
        # OpenPose points without a holistic75 twin (neck, mid-hip) leave face details empty
        assert not c[:, [H("mouth_left"), H("left_eye_inner"), H("left_pinky")]].any()
        assert 0.2 < (c == 0).mean() < 0.35


def test_how2sign_frame_without_people_is_all_missing(tmp_path: Path) -> None:
    clip = tmp_path / "json" / "clip"
    clip.mkdir(parents=True)
    body = np.zeros((25, 3))
    body[0] = (100, 50, 0.9)  # nose
    body[2] = (80, 120, 1.05)  # RShoulder, confidence above 1 as OpenPose sometimes gives
    person = {"pose_keypoints_2d": body.ravel().tolist(), "hand_left_keypoints_2d": [0] * 63, "hand_right_keypoints_2d": [0] * 63}
    frames = [{"version": 1.3, "people": [person]}, {"version": 1.3, "people": []}]
    for i, doc in enumerate(frames):
        (clip / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(doc))
    (seq,) = load_how2sign(tmp_path)
    assert len(seq) == 2 and seq.name == "clip"
    assert seq.confidence[0, H("nose")] == pytest.approx(0.9) and seq.confidence[0, H("right_shoulder")] == 1.0
    assert tuple(seq.keypoints[0, H("right_shoulder"), :2]) == (80, 120)
    assert not seq.confidence[1].any() and np.isnan(seq.keypoints[1, :, :2]).all()
    (clip / "clip_000000000000_keypoints.json").write_text("{not json")
    with pytest.raises(ValueError, match="clip_000000000000_keypoints.json: not a readable OpenPose JSON"):
        load_how2sign(tmp_path)


def test_body25_mapping_is_one_to_one_and_left_right_consistent() -> None:
    assert len(set(BODY25_TO_HOLISTIC75.values())) == len(BODY25_TO_HOLISTIC75) == 21
    openpose_body25 = [
        "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
        "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
        "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ]  # fmt: skip
    for src, dst in BODY25_TO_HOLISTIC75.items():
        side = {"L": "left_", "R": "right_"}.get(openpose_body25[src][0], "")
        assert HOLISTIC75.joints[dst].startswith(side), (openpose_body25[src], HOLISTIC75.joints[dst])
    with pytest.raises(ValueError, match=r"expected \(T, 25, 3\) BODY_25"):
        openpose_to_holistic75(np.zeros((2, 18, 3)))
    with pytest.raises(ValueError, match=r"left_hand: expected \(2, 21, 3\)"):
        openpose_to_holistic75(np.zeros((2, 25, 3)), np.zeros((2, 20, 3)))
