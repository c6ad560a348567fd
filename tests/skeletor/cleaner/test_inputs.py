"""What ``skeletor clean`` finds to clean: files, folders (OpenPose clips among them), patterns, manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from skeletor.cleaner.inputs import expand_inputs, read_manifest

SUFFIXES = {".npz", ".pose"}
CLIPS = ["_2FBDaOPYig_2-3-rgb_front", "_2FBDaOPYig_2-5-rgb_front", "_2FBDaOPYig_3-3-rgb_front", "_2FBDaOPYig_3-5-rgb_front", "_2FBDaOPYig_4-3-rgb_front"]


@pytest.fixture
def corpus(data_dir: Path, tmp_path: Path) -> Path:
    """A corpus as researchers keep one: OpenPose clip folders, .pose files in a sub-folder, and clutter."""
    root = tmp_path / "corpus"
    shutil.copytree(data_dir / "how2sign_openpose_prompt2sign" / "json", root / "how2sign")
    (root / "slp").mkdir()
    for name in ("mediapipe.pose", "mediapipe_long.pose"):
        shutil.copy(data_dir / "slp_pose_format" / name, root / "slp" / name)
    (root / "README.txt").write_text("not an input")
    (root / ".hidden").mkdir()
    shutil.copy(data_dir / "slp_pose_format" / "mediapipe.pose", root / ".hidden" / "x.pose")
    (root / "slp" / "empty").mkdir()
    return root


def test_a_folder_is_searched_and_an_openpose_folder_is_one_clip(corpus: Path) -> None:
    found = expand_inputs([corpus], SUFFIXES)
    expected = [corpus / "how2sign" / c for c in CLIPS] + [corpus / "slp" / "mediapipe.pose", corpus / "slp" / "mediapipe_long.pose"]
    assert found.paths == expected and found.problems == []
    one = corpus / "how2sign" / CLIPS[1]
    assert expand_inputs([one], SUFFIXES).paths == [one]  # not its 210 JSON files


def test_patterns_are_expanded_and_inputs_kept_once_in_order(corpus: Path) -> None:
    found = expand_inputs([corpus / "slp" / "mediapipe.pose", corpus / "**" / "*.pose", corpus / "how2sign" / "*_3-*"], SUFFIXES)
    assert found.paths == [
        corpus / "slp" / "mediapipe.pose",
        corpus / "slp" / "mediapipe_long.pose",
        corpus / "how2sign" / CLIPS[2],
        corpus / "how2sign" / CLIPS[3],
    ]


def test_what_yields_nothing_is_reported_and_a_missing_file_is_kept(corpus: Path) -> None:
    missing = corpus / "nope.npz"
    found = expand_inputs([corpus / "slp" / "empty", corpus / "*.mp4", missing, corpus / "README.txt"], SUFFIXES)
    assert found.paths == [missing, corpus / "README.txt"]  # reported in their turn, when read
    assert len(found.problems) == 2
    assert "empty: no inputs in this folder" in found.problems[0] and "*.mp4: no input matches" in found.problems[1]


def test_a_manifest_lists_inputs_relative_to_itself(corpus: Path, tmp_path: Path) -> None:
    manifest = corpus / "lists" / "todo.txt"
    manifest.parent.mkdir()
    manifest.write_text(f"# the How2Sign dev clips\n../how2sign/{CLIPS[0]}\n\n  ../slp/*.pose  \n{corpus / 'how2sign' / CLIPS[4]}\n")
    specs = read_manifest(manifest)
    assert specs[0] == manifest.parent / ".." / "how2sign" / CLIPS[0] and specs[2] == corpus / "how2sign" / CLIPS[4]
    found = expand_inputs(specs, SUFFIXES)
    assert [p.name for p in found.paths] == [CLIPS[0], "mediapipe.pose", "mediapipe_long.pose", CLIPS[4]]
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="UTF-8"):
        read_manifest(binary)
