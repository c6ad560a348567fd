"""BVH forward kinematics and the mocap loaders (Bandai-Namco, PyMO, ManipNet) on the real files."""

import hashlib
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets import Motion, bandai_split, list_bandai, load_bandai, load_manipnet, load_pymo_walk, read_bvh
from skeletor.datasets.bvh import BANDAI_TO_HOLISTIC75, bandai_labels
from skeletor.pose.skeleton import HOLISTIC75

H = HOLISTIC75.index
UP = np.array([0.0, 1.0, 0.0])

TOY_BVH = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT B
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0 0 0 0 0 0 0 0 0
10 0 0 90 0 90 0 0 0
"""


def _bone_length_range(positions: np.ndarray, parents: tuple[int, ...], skip_root: bool = False) -> float:
    """Largest (max - min) over time of any parent-child distance (``skip_root``: not from joint 0)."""
    worst = 0.0
    for j, p in enumerate(parents):
        if p > 0 or (p == 0 and not skip_root):
            d = np.linalg.norm(positions[:, j] - positions[:, p], axis=-1)
            worst = max(worst, float(d.max() - d.min()))
    return worst


def _right_hand_likeness(hand: np.ndarray) -> float:
    """Share of frames in which a (T, 21, 3) hand, in a right-handed frame, is shaped like a RIGHT hand.

    The palm normal n = (index_mcp - wrist) x (pinky_mcp - wrist) points out of the palm of
    a right hand and out of the back of a left hand; fingers flex towards the palm, so the
    bend at the PIP joints has a positive component along n for a right hand.
    """
    w, i_mcp, p_mcp = hand[:, 0], hand[:, 5], hand[:, 17]
    n = np.cross(i_mcp - w, p_mcp - w)
    bend = np.zeros(len(hand))
    for mcp in (5, 9, 13, 17):
        v1, v2 = hand[:, mcp + 1] - hand[:, mcp], hand[:, mcp + 2] - hand[:, mcp + 1]
        perp = v2 - (v2 * v1).sum(-1, keepdims=True) / (v1 * v1).sum(-1, keepdims=True) * v1
        bend += (perp * n).sum(-1)
    return float(np.mean(bend > 0))


# --- forward kinematics -------------------------------------------------------------------


def test_forward_kinematics_on_a_toy_file(tmp_path: Path) -> None:
    path = tmp_path / "toy.bvh"
    path.write_text(TOY_BVH)
    bvh = read_bvh(path, end_sites=True)
    assert bvh.joints == ("A", "B", "B_End") and bvh.parents == (-1, 0, 1) and bvh.fps == 2.0
    np.testing.assert_allclose(bvh.positions[0], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)
    # frame 1: root moved to x=10 and rotated Rz(90) @ Ry(90) (intrinsic, in channel order):
    # B = A + R (1,0,0) = (10, 0, -1); the end site = B + R (0,2,0) = (8, 0, -1)
    np.testing.assert_allclose(bvh.positions[1], [[10, 0, 0], [10, 0, -1], [8, 0, -1]], atol=1e-12)


def test_bad_bvh_files_say_what_is_wrong(tmp_path: Path) -> None:
    short = tmp_path / "short.bvh"
    short.write_text(TOY_BVH.replace("Frames: 2", "Frames: 3"))
    with pytest.raises(ValueError, match=r"short\.bvh: expected 3 frames x 9 channels = 27 numbers, got 18"):
        read_bvh(short)
    junk = tmp_path / "junk.bvh"
    junk.write_text(TOY_BVH.replace("ROOT A", "JOINT A"))
    with pytest.raises(ValueError, match=r"junk\.bvh: not a valid BVH file \(.*ROOT"):
        read_bvh(junk)
    cut = tmp_path / "cut.bvh"
    cut.write_text(TOY_BVH[: TOY_BVH.index("End Site")])  # ends inside the hierarchy
    with pytest.raises(ValueError, match=r"cut\.bvh: not a valid BVH file \(expected HIERARCHY"):
        read_bvh(cut)


@pytest.mark.data
def test_vectorised_fk_matches_bvhio(data_dir: Path) -> None:
    import bvhio

    path = data_dir / "bandai_namco/dataset-1/data/dataset-1_punch_normal_001.bvh"
    ours = read_bvh(path)
    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    assert tuple(j.Name for j in joints) == ours.joints
    for frame in (0, len(ours.positions) // 2, len(ours.positions) - 1):
        root.loadPose(frame, recursive=True)
        theirs = np.array([list(j.PositionWorld) for j in joints])
        np.testing.assert_allclose(ours.positions[frame], theirs, atol=1e-3)  # cm; bvhio computes in float32


# --- Bandai-Namco -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bandai(data_dir: Path) -> dict[str, Motion]:
    return {p.stem: load_bandai(p) for p in list_bandai(data_dir / "bandai_namco")}


@pytest.mark.data
def test_bandai_files_frames_and_kind(bandai: dict[str, Motion]) -> None:
    assert len(bandai) == 174 and sum(len(m) for m in bandai.values()) == 31914
    for m in bandai.values():
        assert (m.units, m.frame, m.fps) == ("m", "world_y_up", 30.0)
        assert m.meta["bvh_positions"].shape == (len(m), 22, 3)
        present = np.flatnonzero(m.confidence.all(0))
        assert sorted(present) == sorted(BANDAI_TO_HOLISTIC75.values()) and not m.confidence[:, 33:].any()


@pytest.mark.data
def test_bandai_bone_lengths_are_constant_in_metres(bandai: dict[str, Motion], data_dir: Path) -> None:
    parents = read_bvh(data_dir / "bandai_namco/dataset-1/data/dataset-1_bow_active_001.bvh").parents
    assert parents[:2] == (-1, 0)  # joint_Root is a fixed dummy at the origin; Hips moves freely off it
    for m in bandai.values():
        assert _bone_length_range(m.meta["bvh_positions"], parents, skip_root=True) < 1e-3, m.name
    walk = bandai["dataset-1_walk_normal_001"].positions
    thigh = np.linalg.norm(walk[:, H("left_knee")] - walk[:, H("left_hip")], axis=-1)
    assert 0.35 < thigh.mean() < 0.45  # metres (cm converted once)


@pytest.mark.data
def test_bandai_heights_in_metres(bandai: dict[str, Motion]) -> None:
    normal = [m for m in bandai.values() if m.meta["style"] == "normal"]
    hips_root = np.concatenate([m.meta["bvh_positions"][:, 1, 1] for m in normal])  # the "Hips" joint
    assert 0.88 < np.median(hips_root) < 1.0
    mid_hip = np.concatenate([m.positions[:, [H("left_hip"), H("right_hip")], 1].mean(-1) for m in normal])
    assert 0.8 < np.median(mid_hip) < 0.95
    head = np.concatenate([m.positions[:, H("nose"), 1] for m in normal])
    shoulders = np.concatenate([m.positions[:, [H("left_shoulder"), H("right_shoulder")], 1].mean(-1) for m in normal])
    assert 1.3 < np.median(head) < 1.5 and 0.05 < np.median(head - shoulders) < 0.15  # the documented nose bias
    feet = np.concatenate([m.positions[:, [H("left_foot_index"), H("right_foot_index")], 1] for m in normal])
    assert -0.02 < feet.min() and np.percentile(feet, 5) < 0.06  # toes on the floor at y = 0


@pytest.mark.data
def test_bandai_left_is_the_subjects_left_in_a_right_handed_y_up_frame(bandai: dict[str, Motion]) -> None:
    walk = bandai["dataset-1_walk_normal_001"].positions
    forward = walk[-1, H("left_hip")] - walk[0, H("left_hip")]
    forward[1] = 0.0
    assert np.linalg.norm(forward) > 3.0  # it walks several metres
    left = np.cross(UP, forward)  # for a right-handed y-up frame
    across = walk[:, H("left_hip")] - walk[:, H("right_hip")]
    assert np.all(across @ left > 0)
    toes_ahead = (walk[:, H("left_foot_index")] - walk[:, H("left_ankle")]) @ forward
    assert np.median(toes_ahead) > 0  # it walks forwards, toes first


@pytest.mark.data
def test_bandai_labels_agree_with_the_json_sidecars(data_dir: Path) -> None:
    paths = list_bandai(data_dir / "bandai_namco")
    labels = [bandai_labels(p) for p in paths]
    assert all("content_id" in lab and "style_id" in lab for lab in labels)
    assert bandai_labels(paths[0]) == {"content": "bow", "style": "active", "content_id": 6, "style_id": 11}
    assert len({lab["style"] for lab in labels}) == 15 and len({lab["content"] for lab in labels}) == 16


@pytest.mark.data
def test_bandai_split_is_fixed_disjoint_and_stratified(data_dir: Path) -> None:
    paths = list_bandai(data_dir / "bandai_namco")
    train, test = bandai_split(paths)
    assert not set(train) & set(test) and sorted(train + test) == paths
    assert (len(train), len(test)) == (138, 36)
    shuffled = paths[:]
    random.Random(0).shuffle(shuffled)
    assert bandai_split(shuffled) == (train, test)  # order of the input does not matter
    assert bandai_split([Path("elsewhere") / p.name for p in paths])[1] == [Path("elsewhere") / p.name for p in test]
    train_labels = [bandai_labels(p) for p in train]
    test_labels = [bandai_labels(p) for p in test]
    assert {lab["content"] for lab in train_labels} == {lab["content"] for lab in map(bandai_labels, paths)}
    assert len({lab["content"] for lab in test_labels}) == 13
    style_counts = Counter(lab["style"] for lab in test_labels)
    assert len(style_counts) == 15 and max(style_counts.values()) - min(style_counts.values()) <= 1
    # the takes of one (content, style) stay together where the content has several styles
    pairs = lambda labs: {(lab["content"], lab["style"]) for lab in labs}  # noqa: E731
    shared = pairs(train_labels) & pairs(test_labels)
    assert shared == {("call", "normal"), ("punch", "normal"), ("slash", "normal")}
    # pin the exact list: changing the rule (or the data) must be a conscious decision
    digest = hashlib.sha256("\n".join(p.name for p in test).encode()).hexdigest()
    assert digest[:16] == PINNED_TEST_DIGEST, "\n".join(p.name for p in test)


PINNED_TEST_DIGEST = "4af4362a05796aff"


# --- PyMO ---------------------------------------------------------------------------------


@pytest.mark.data
def test_pymo_walk_units_height_and_fk(data_dir: Path) -> None:
    m = load_pymo_walk(data_dir / "pymo_walk")
    assert (len(m), m.fps, m.units, m.frame) == (1064, 120.0, "m", "world_y_up")
    p = m.positions
    mid_hip = p[:, [H("left_hip"), H("right_hip")], 1].mean(-1)
    assert 0.8 < np.median(mid_hip) < 0.95  # inches -> metres (in cm this would be ~2.3, in inches 35)
    assert 1.35 < np.median(p[:, H("nose"), 1]) < 1.6
    assert p[:, [H("left_ankle"), H("right_ankle")], 1].min() < 0.12
    assert 1.0 < np.median(np.linalg.norm(p[:, H("nose")] - p[:, H("left_ankle")], axis=-1)) < 1.6
    bvh = read_bvh(data_dir / "pymo_walk/AV_8Walk_Meredith_HVHA_Rep1.bvh")
    assert _bone_length_range(bvh.positions * 0.0254, bvh.parents) < 1e-3
    # left is the subject's left: the feet point forwards, and left = up x forward (y up, right-handed)
    forward = (p[:, [H("left_foot_index"), H("right_foot_index")]] - p[:, [H("left_ankle"), H("right_ankle")]]).mean(1)
    forward[:, 1] = 0.0
    left = np.cross(UP, forward)
    across = p[:, H("left_hip")] - p[:, H("right_hip")]
    assert np.mean((across * left).sum(-1) > 0) > 0.95


# --- ManipNet -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manipnet(data_dir: Path) -> list[Motion]:
    return load_manipnet(data_dir / "manipnet_hands")


@pytest.mark.data
def test_manipnet_clips_units_and_joints(manipnet: list[Motion]) -> None:
    assert [m.name for m in manipnet] == [f"{c}/{h}" for c in ("cube_med2", "cup1", "mug1") for h in ("left", "right")]
    assert sum(len(m) for m in manipnet) == 25222
    for m in manipnet:
        assert (m.fps, m.units, m.frame) == (120.0, "m", "world_y_up")
        start = H(f"{m.meta['hand']}_hand_wrist")
        present = np.flatnonzero(m.confidence.all(0))
        tips = [start + k for k in (4, 8, 12, 16, 20)]
        assert sorted(present) == sorted(set(range(start, start + 21)) - set(tips))
        wrist_to_index = np.linalg.norm(m.positions[:, start + 5] - m.positions[:, start], axis=-1)
        assert 0.09 < wrist_to_index.mean() < 0.13 and wrist_to_index.std() < 1e-4  # decimetres -> metres
        assert _bone_length_range(m.meta["bvh_positions"], read_bvh(m.meta["source"]).parents) < 1e-3


@pytest.mark.data
def test_manipnet_each_hand_has_its_own_chirality(manipnet: list[Motion]) -> None:
    # The files are left-handed (Unity); the loader flips x. Without the flip every
    # leftHand.bvh would have the shape of a right hand.
    for m in manipnet:
        start = H(f"{m.meta['hand']}_hand_wrist")
        likeness = _right_hand_likeness(m.positions[:, start : start + 21].astype(np.float64))
        if m.meta["hand"] == "right":
            assert likeness > 0.95, (m.name, likeness)
        else:
            assert likeness < 0.05, (m.name, likeness)
