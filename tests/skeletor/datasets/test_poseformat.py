"""MediaPipe Holistic .pose files: layouts, real dropouts as confidence 0, image size, depth hint."""

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets import PoseLayoutError, list_pose_files, load_pose_file
from skeletor.datasets.poseformat import pose_file_layout
from skeletor.pose.keypoints import KeypointFormatError
from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND

pytestmark = pytest.mark.data

H = HOLISTIC75.index
HAND_ESTIMATION = (
    "0ff215ef4f1f111e217e2cefee0adc77",
    "6fb01565da31c5500d1ef2cd2906b06b",
    "7731febd6afbbe90f806a4434c282016",
    "7bd6dd48722def3cf84258b96371cb1e",
    "84322c38ff23406f222641da30d0a49b",
)
FULL = [f"hand_estimation/{h}.pose" for h in HAND_ESTIMATION] + ["viewer_sample_example.pose"]
REDUCED = ["mediapipe.pose", "mediapipe_long.pose"] + [f"sgg_lexicon/{w}.pose" for w in ("essen", "kinder", "kleine", "pizza")]
REDUCED_POSE = [
    H(n) for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip")
]


@pytest.fixture(scope="module")
def root(data_dir: Path) -> Path:
    return data_dir / "slp_pose_format"


def _raw(path: Path):  # the file as pose-format reads it, for cross-checks
    from pose_format import Pose

    return Pose.read(path.read_bytes())


def test_list_gives_the_mediapipe_files_only(root: Path) -> None:
    files = list_pose_files(root)
    assert sorted(str(p.relative_to(root)) for p in files) == sorted(FULL + REDUCED)
    assert [pose_file_layout(root / f) for f in FULL] == ["mediapipe_full"] * len(FULL)
    assert [pose_file_layout(root / f) for f in REDUCED] == ["mediapipe_reduced"] * len(REDUCED)
    assert pose_file_layout(root / "openpose.pose") == "openpose"


@pytest.mark.parametrize("name", ["mediapipe_hand_normalized.pose", "mediapipe_long_hand_normalized.pose"])
def test_single_hand_files_are_rejected_clearly(root: Path, name: str) -> None:
    with pytest.raises(PoseLayoutError, match=rf"{name}: expected MediaPipe Holistic .* found \['RIGHT_HAND_LANDMARKS'\]"):
        load_pose_file(root / name)


def test_unreadable_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "junk.pose"
    bad.write_bytes(b"\x00\x01 not a pose file")
    with pytest.raises(KeypointFormatError, match=r"junk\.pose: not a readable \.pose"):
        load_pose_file(bad)


@pytest.mark.parametrize("name", FULL + REDUCED)
def test_dropouts_image_size_and_fps_match_the_file(root: Path, name: str) -> None:
    seq = load_pose_file(root / name)
    raw = _raw(root / name)
    dims = raw.header.dimensions
    assert seq.image_size == (dims.width, dims.height) and seq.fps == pytest.approx(raw.body.fps)
    assert seq.keypoints.shape == (raw.body.data.shape[0], 75, 3)
    # every masked pose/hand point of the file is a missing (conf 0, NaN) holistic75 point
    comps = {c.name: len(c.points) for c in raw.header.components}
    starts = dict(zip(comps, np.cumsum([0] + list(comps.values()))))
    masked = np.ma.getmaskarray(raw.body.data)[:, 0].any(-1)
    used = [starts[c] + i for c in ("POSE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS") for i in range(comps[c])]
    mapped = list(range(75)) if comps["POSE_LANDMARKS"] == 33 else REDUCED_POSE + list(LEFT_HAND + RIGHT_HAND)
    assert (seq.confidence[:, mapped] == 0).sum() == masked[:, used].sum()
    assert np.array_equal(np.isnan(seq.keypoints[..., 0]), seq.confidence == 0)
    if comps["POSE_LANDMARKS"] == 8:
        others = np.setdiff1d(np.arange(33), REDUCED_POSE)
        assert not seq.confidence[:, others].any()  # no nose, face details or legs in the reduced layout


def test_real_dropouts_are_present(root: Path) -> None:
    # MediaPipe loses a whole hand at a time: all 21 points missing in some frames, all
    # there in others; pose points are never masked (only given a low visibility)
    def lost_then_found(conf: np.ndarray) -> bool:
        lost = (conf == 0).all(1)
        return bool(lost.any() and (conf > 0).all(1).any() and np.all(lost | (conf > 0).all(1)))

    seqs = [load_pose_file(p) for p in list_pose_files(root)]
    with_dropouts = [s.name for s in seqs if any(lost_then_found(s.confidence[:, list(h)]) for h in (LEFT_HAND, RIGHT_HAND))]
    assert len(with_dropouts) == 11  # all but the 5-frame 6fb01565... clip
    low_visibility = np.concatenate([s.confidence[:, :33][s.confidence[:, :33] > 0] for s in seqs])
    assert 0.05 < np.mean(low_visibility < 0.5) < 0.5  # visibility kept as confidence
    viewer = load_pose_file(root / "viewer_sample_example.pose")
    assert viewer.image_size == (320, 240) and len(viewer) == 97
    assert 0 < np.mean(viewer.confidence[:, list(LEFT_HAND)] == 0) < 1


@pytest.mark.parametrize("name", FULL + ["sgg_lexicon/essen.pose"])
def test_left_right_are_the_subjects_and_hands_hang_off_their_wrists(root: Path, name: str) -> None:
    seq = load_pose_file(root / name)
    k = seq.keypoints
    for hand, own, other in (("left_hand_wrist", "left_wrist", "right_wrist"), ("right_hand_wrist", "right_wrist", "left_wrist")):
        ok = (seq.confidence[:, [H(hand), H(own), H(other)]] > 0).all(1)
        if ok.sum() < 3:
            continue
        near = np.median(np.linalg.norm(k[ok, H(hand), :2] - k[ok, H(own), :2], axis=-1))
        far = np.median(np.linalg.norm(k[ok, H(hand), :2] - k[ok, H(other), :2], axis=-1))
        assert near < far / 2, (name, hand, near, far)


def test_depth_hint_is_mediapipe_z_in_pixels(root: Path) -> None:
    name = "hand_estimation/7731febd6afbbe90f806a4434c282016.pose"
    seq = load_pose_file(root / name)
    raw = np.ma.filled(_raw(root / name).body.data[:, 0], np.nan)
    w = seq.image_size[0]
    assert seq.depth is not None
    ok = seq.confidence[:, H("left_shoulder")] > 0
    np.testing.assert_allclose(seq.depth[ok, H("left_shoulder")], raw[ok, H("left_shoulder"), 2] * w, rtol=1e-5)
    # hand points: their pose wrist's depth plus the hand's own z (0 at the hand's wrist)
    ok = (seq.confidence[:, [H("right_wrist"), H("right_hand_wrist")]] > 0).all(1)
    np.testing.assert_allclose(seq.depth[ok, H("right_hand_wrist")], seq.depth[ok, H("right_wrist")], atol=1e-3)
    assert np.isnan(seq.depth[seq.confidence == 0]).all()
    # mediapipe.pose stores z of about 624 for every point: not MediaPipe's z, no hint
    assert load_pose_file(root / "mediapipe.pose").depth is None
    assert load_pose_file(root / "sgg_lexicon/essen.pose").depth is not None


def test_openpose_pose_file_is_mapped_like_openpose_json(root: Path) -> None:
    seq = load_pose_file(root / "openpose.pose")
    assert seq.keypoints.shape == (93, 75, 3) and seq.image_size == (1000, 1000) and seq.depth is None
    ok = (seq.confidence[:, [H("nose"), H("left_shoulder"), H("right_shoulder")]] > 0).all(1)
    assert ok.mean() > 0.9
    k = seq.keypoints[ok]
    assert np.all(k[:, H("nose"), 1] < k[:, H("left_shoulder"), 1])
    assert np.all(k[:, H("left_shoulder"), 0] > k[:, H("right_shoulder"), 0])
    assert seq.confidence.max() <= 1.0
