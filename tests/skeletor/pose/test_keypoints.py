"""The .npz keypoint and pose file formats: round trips and clear errors."""

from pathlib import Path

import numpy as np
import pytest

from skeletor.pose.keypoints import KeypointFormatError, KeypointSequence, PoseSequence, load_keypoints, load_poses, save_keypoints, save_poses


def _seq(t: int = 5) -> KeypointSequence:
    kp = np.random.default_rng(0).uniform(0, 500, size=(t, 75, 3)).astype(np.float32)
    kp[..., 2] = 0.9
    kp[1, 3] = (np.nan, np.nan, 0.0)
    return KeypointSequence(kp, 30.0, (640, 480), depth=np.zeros((t, 75), np.float32))


def test_keypoints_roundtrip(tmp_path: Path) -> None:
    seq = _seq()
    save_keypoints(tmp_path / "a.npz", seq)
    back = load_keypoints(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.keypoints, seq.keypoints)
    assert back.fps == 30.0 and back.image_size == (640, 480) and back.skeleton == "holistic75"
    assert back.confidence[1, 3] == 0.0 and back.confidence[0, 0] == pytest.approx(0.9)
    assert back.depth is not None


def test_poses_roundtrip(tmp_path: Path) -> None:
    p = PoseSequence(np.ones((3, 75, 3)), np.ones((3, 75)), 25.0)
    save_poses(tmp_path / "p.npz", p)
    back = load_poses(tmp_path / "p.npz")
    assert back.poses3d.dtype == np.float32 and back.fps == 25.0


def test_bad_files_name_the_file_and_the_expectation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, keypoints=np.zeros((5, 33, 3)), fps=30.0, image_size=[640, 480], skeleton="holistic75")
    with pytest.raises(KeypointFormatError, match=r"bad\.npz.*\(T, 75, 3\)"):
        load_keypoints(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(KeypointFormatError, match="junk.npz"):
        load_keypoints(junk)
    unknown = tmp_path / "unk.npz"
    np.savez(unknown, keypoints=np.zeros((5, 75, 3)), fps=30.0, image_size=[640, 480], skeleton="coco17")
    with pytest.raises(KeypointFormatError, match="coco17"):
        load_keypoints(unknown)
    nofps = tmp_path / "nofps.npz"
    np.savez(nofps, keypoints=np.zeros((5, 75, 3)), image_size=[640, 480])
    with pytest.raises(KeypointFormatError, match="fps"):
        load_keypoints(nofps)
