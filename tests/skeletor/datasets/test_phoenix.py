"""Phoenix14T 3D skeletons (.skels): scale, origin, bone lengths, left/right and axes, on the real data."""

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets import DataNotFoundError, Motion, load_phoenix
from skeletor.pose.skeleton import HOLISTIC75, UPPER50, upper50_to_holistic75

pytestmark = pytest.mark.data

H = HOLISTIC75.index


@pytest.fixture(scope="module")
def phoenix(data_dir: Path) -> dict[str, list[Motion]]:
    return {s: load_phoenix(s, data_dir / "ptslp_phoenix14t") for s in ("train", "dev", "test")}


def _all(phoenix: dict[str, list[Motion]]) -> list[Motion]:
    return [m for ms in phoenix.values() for m in ms]


def _length(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(x[:, a] - x[:, b], axis=-1)


def test_counts_metadata_and_kind(phoenix: dict[str, list[Motion]]) -> None:
    assert {s: (len(ms), sum(len(m) for m in ms)) for s, ms in phoenix.items()} == {
        "train": (5, 636),
        "dev": (5, 536),
        "test": (5, 770),
    }
    first = phoenix["train"][0]
    assert first.name == first.meta["file"] == "train/11August_2010_Wednesday_tagesschau-1"
    assert first.meta["text"].startswith("und nun die wettervorhersage")
    assert first.meta["gloss"].startswith("JETZT WETTER")
    for m in _all(phoenix):
        assert (m.units, m.frame, m.fps) == ("relative", "camera_y_down", 25.0)
        assert m.meta["upper50"].shape == (len(m), 50, 3) and m.meta["upper50"].dtype == np.float32


def test_holistic75_is_the_upper50_mapping_and_only_upper_body_is_present(phoenix: dict[str, list[Motion]]) -> None:
    for m in _all(phoenix):
        np.testing.assert_array_equal(m.positions, upper50_to_holistic75(m.meta["upper50"]))
        present = m.confidence.all(0)
        assert present.sum() == 49  # 50 upper50 joints minus the neck
        assert not m.confidence[:, [H("left_hip"), H("right_knee"), H("left_eye")]].any()


def test_neck_is_the_origin_and_shoulder_width_is_one_after_times_three(phoenix: dict[str, list[Motion]]) -> None:
    for m in _all(phoenix):
        up = m.meta["upper50"]
        assert np.all(up[:, 1] == 0.0), m.name  # neck exactly at the origin in every frame
        width = _length(m.positions, H("left_shoulder"), H("right_shoulder"))
        assert 0.97 < width.mean() < 1.03, (m.name, width.mean())  # x3 restored (x1 would be ~0.33)


def test_bone_lengths_are_nearly_constant_within_each_sequence(phoenix: dict[str, list[Motion]]) -> None:
    bones = UPPER50.bones
    for m in _all(phoenix):
        up = m.meta["upper50"]
        lengths = np.linalg.norm(up[:, bones[:, 1]] - up[:, bones[:, 0]], axis=-1)
        rel_std = lengths.std(0) / lengths.mean(0)
        assert rel_std.max() < 0.05, (m.name, bones[rel_std.argmax()], rel_std.max())


def test_left_right_claim_each_hand_hangs_off_its_own_arm(phoenix: dict[str, list[Motion]]) -> None:
    # SOURCES.md: the bones 7->8 and 4->29 have a constant length (0.1007 in the first
    # sequence), so hand 8-28 belongs to the arm 5-7 and hand 29-49 to the arm 2-4.
    first = phoenix["train"][0].meta["upper50"]
    assert _length(first, 7, 8).mean() == pytest.approx(0.1007, abs=5e-4)
    for m in _all(phoenix):
        up = m.meta["upper50"]
        own_l, own_r = _length(up, 7, 8), _length(up, 4, 29)
        cross_l, cross_r = _length(up, 4, 8), _length(up, 7, 29)
        assert own_l.std() / own_l.mean() < 0.05 and abs(own_l.mean() - own_r.mean()) < 1e-3
        assert cross_l.mean() > 3 * own_l.mean() and cross_l.std() / cross_l.mean() > 0.08
        assert cross_r.mean() > 3 * own_r.mean()


def test_camera_frame_frontal_signer_with_hands_in_front(phoenix: dict[str, list[Motion]]) -> None:
    for m in _all(phoenix):
        p = m.positions
        # the subject's left shoulder is on the image right for a frontal signer (x right)
        assert np.all(p[:, H("left_shoulder"), 0] > p[:, H("right_shoulder"), 0]), m.name
        assert np.all(p[:, H("nose"), 1] < -0.3), m.name  # y down: the head is above the neck
        wrists_z = p[:, [H("left_wrist"), H("right_wrist")], 2].mean()
        shoulders_z = p[:, [H("left_shoulder"), H("right_shoulder")], 2].mean()
        assert wrists_z < shoulders_z - 0.15, m.name  # z forward: hands nearer the camera


def test_bad_split_missing_folder_and_malformed_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown Phoenix split 'val'"):
        load_phoenix("val", tmp_path)
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load_phoenix("dev", tmp_path / "nowhere")
    frames = np.zeros((3, 151))
    frames[:, -1] = [0.0, 0.5, 0.9]  # not i / 3
    (tmp_path / "dev.skels").write_text(" ".join(map(str, frames.ravel())) + "\n")
    for ext in ("text", "gloss", "files"):
        (tmp_path / f"dev.{ext}").write_text("x\n")
    with pytest.raises(ValueError, match=r"dev\.skels:1: the last value of each frame is not the counter"):
        load_phoenix("dev", tmp_path)
    (tmp_path / "dev.skels").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="expected a multiple of 151 values"):
        load_phoenix("dev", tmp_path)
