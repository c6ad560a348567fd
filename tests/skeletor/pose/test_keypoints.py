"""The .npz keypoint and pose file formats: round trips and clear errors."""

from pathlib import Path

import numpy as np
import pytest

from skeletor.pose.keypoints import (
    KeypointFormatError,
    KeypointSequence,
    PoseSequence,
    check_keypoint_ranges,
    load_keypoints,
    load_poses,
    save_keypoints,
    save_pose_file,
    save_poses,
)


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


def test_ctrl_c_while_writing_leaves_no_file_and_no_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect (seen under load in ``skeletor clean``): Ctrl-C inside ``np.savez`` left its zip
    archive open, and when it was collected its ``__del__`` printed a traceback over the
    closed temporary file. Now the archive is closed as the interrupt passes: no output, no
    temporary file, nothing printed at collection."""
    import gc
    import sys

    write_array = np.lib.format.write_array
    calls = []

    def interrupted(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        write_array(*args, **kwargs)  # type: ignore[arg-type]

    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_keypoints(tmp_path / "a.npz", _seq())
    gc.collect()
    assert len(calls) == 2 and not unraisable
    assert list(tmp_path.iterdir()) == []


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


@pytest.mark.parametrize("size", [(0, 0), (640, 0), (-640, 480), (100_001, 480), (640.5, 480), (float("nan"), 480), (True, 480), (640,), None])
def test_image_size_outside_the_documented_range_is_refused(size: tuple, tmp_path: Path) -> None:
    """Defect: image_size [0, 0] passed the loader and crashed the uplift (ZeroDivisionError)."""
    with pytest.raises(KeypointFormatError, match="image_size"):
        KeypointSequence(np.zeros((2, 75, 3), np.float32), 30.0, size)  # type: ignore[arg-type]
    if size is None or isinstance(size[0], bool):  # (a file stores True as the integer 1, a valid size)
        return
    np.savez(tmp_path / "k.npz", keypoints=np.zeros((2, 75, 3), np.float32), fps=30.0, image_size=np.array(size), skeleton="holistic75")
    with pytest.raises(KeypointFormatError, match=r"k\.npz: image_size"):
        load_keypoints(tmp_path / "k.npz")


def test_whole_float_image_sizes_are_taken_as_pixels() -> None:
    assert KeypointSequence(np.zeros((2, 75, 3), np.float32), 30.0, (1280.0, np.int32(720))).image_size == (1280, 720)  # type: ignore[arg-type]


@pytest.mark.parametrize("fps", [0.0, -30.0, 1e-300, 5e-324, 1e300, float("inf"), float("nan")])
def test_fps_outside_the_documented_range_is_refused(fps: float) -> None:
    with pytest.raises(KeypointFormatError, match=r"fps must be a number in \[0.01, 10000\]"):
        KeypointSequence(np.zeros((2, 75, 3), np.float32), fps, (640, 480))


def test_a_non_scalar_fps_in_a_file_is_a_format_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "k.npz", keypoints=np.zeros((2, 75, 3), np.float32), fps=np.array([30.0, 25.0]), image_size=np.array([640, 480]))
    with pytest.raises(KeypointFormatError, match="fps must be a number"):
        load_keypoints(tmp_path / "k.npz")


def test_check_keypoint_ranges_leaves_valid_input_alone() -> None:
    seq = _seq()
    checked, messages = check_keypoint_ranges(seq)
    assert checked is seq and messages == []


def test_check_keypoint_ranges_clips_confidence_and_drops_impossible_joints() -> None:
    """Defect: a confidence of 5.0 reached the output, coordinates of 1e30 put the person 1e27 m away."""
    seq = _seq(6)
    kp = seq.keypoints.copy()
    kp[0, 0, 2] = 5.0  # confidence above 1: clipped
    kp[0, 1, 2] = -0.5  # negative: missing
    kp[0, 2, 2] = np.nan  # NaN: missing
    kp[1, 0, :2] = (1e30, 10.0)  # absurdly far: missing
    kp[2, 0, :2] = (-6401.0, 10.0)  # just beyond 10 image widths left of the image
    kp[2, 1, :2] = (-6399.0, 4800.0 + 480.0)  # inside the margin on both axes: kept
    kp[3, 0, :2] = (np.inf, 10.0)  # non-finite with a confidence: missing
    kp[4, 0, 2] = 0.0  # missing already, its coordinates do not matter
    kp[4, 0, :2] = 1e30
    depth = np.zeros((6, 75), np.float32)
    depth[5, 0] = 1e9
    depth[5, 1] = np.nan
    checked, messages = check_keypoint_ranges(KeypointSequence(kp, 30.0, (640, 480), depth=depth))
    c = checked.keypoints
    assert c[0, 0, 2] == 1.0 and c[0, 1, 2] == 0.0 and c[0, 2, 2] == 0.0
    for t in (1, 2, 3):
        assert c[t, 0, 2] == 0.0 and np.isnan(c[t, 0, :2]).all()
    np.testing.assert_array_equal(c[2, 1], kp[2, 1])
    assert c[4, 0, 2] == 0.0 and checked.depth is not None and np.isnan(checked.depth[5, :2]).all()
    assert np.array_equal(c[5:, 2:], kp[5:, 2:]) and seq.keypoints[0, 0, 2] == pytest.approx(0.9)  # the input is not changed
    text = " | ".join(messages)
    assert "1 confidence value(s) above 1 (largest 5) clipped to 1" in text
    assert "1 negative confidence value(s)" in text
    assert "1 detected joint(s) with non-finite x or y made missing" in text
    assert "2 detected joint(s) more than 10 image sizes outside the 640x480 image (|x| or |y| up to 1e+30 px) made missing" in text
    assert "1 depth value(s)" in text
    assert len(messages) == 5


def test_pose_file_round_trip_through_pose_format(tmp_path: Path) -> None:
    """A .pose output: pose-format reads it back, MediaPipe's names, the poses to float32, NaN joints masked."""
    from pose_format import Pose

    rng = np.random.default_rng(3)
    poses = rng.normal(0, 0.3, (4, 75, 3)).astype(np.float32) + np.float32([0, 0, 3])
    conf = rng.uniform(0.1, 1.0, (4, 75)).astype(np.float32)
    poses[:, 40] = np.nan  # never seen
    conf[:, 40] = 0.0
    conf[2, 5] = 0.0  # estimated, not observed
    save_pose_file(tmp_path / "p.pose", PoseSequence(poses, conf, 25.0), image_size=(1280, 720))
    pose = Pose.read((tmp_path / "p.pose").read_bytes())
    assert [c.name for c in pose.header.components] == ["POSE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]
    assert pose.header.components[0].points[11] == "LEFT_SHOULDER" and pose.header.components[2].points[8] == "INDEX_FINGER_TIP"
    assert all(c.format == "XYZC" for c in pose.header.components)
    assert (pose.header.dimensions.width, pose.header.dimensions.height) == (1280, 720) and pose.body.fps == 25.0
    data = pose.body.data
    assert data.shape == (4, 1, 75, 3)
    seen = np.isfinite(poses).all(-1)
    np.testing.assert_array_equal(np.ma.getmaskarray(data)[:, 0].any(-1), ~seen)
    np.testing.assert_array_equal(data.data[:, 0][seen], poses[seen])
    back_conf = np.asarray(pose.body.confidence)[:, 0]
    assert back_conf[2, 5] == pytest.approx(0.001) and (back_conf[:, 40] == 0).all()
    keep = seen & (conf > 0)
    np.testing.assert_array_equal(back_conf[keep], conf[keep])
    assert not list(tmp_path.glob("*.tmp"))
