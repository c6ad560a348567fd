"""Recording several people: person_id per .jsonl line, one .npz per person spanning the whole recording."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from skeletor.io.recording import Recorder, person_path, read_jsonl, read_jsonl_people, recover_npz, spool_path
from skeletor.pose.keypoints import KeypointFormatError, load_poses
from skeletor.protocol import PoseFrame


def _people_frames(rng: np.random.Generator) -> list[PoseFrame]:
    """Captures 10..19: person 2 in all, person 5 from capture 14 on, in id order per capture."""
    frames = []
    for seq in range(10, 20):
        for pid in (2, 5) if seq >= 14 else (2,):
            joints = rng.normal(0, 0.3, (75, 3)).astype(np.float32) + np.float32([pid, 0, 3])
            frames.append(PoseFrame(seq, 1_000 + seq, joints, np.ones(75, np.float32), person_id=pid, primary=pid == 2))
    return frames


def test_jsonl_keeps_person_id_and_reads_each_person(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = _people_frames(rng)
    path = tmp_path / "rec.jsonl"
    with Recorder.open(path, fps=30, max_people=3) as rec:
        for f in frames:
            rec.write(f)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["max_people"] == 3
    assert [(m["seq"], m["person_id"]) for m in lines[1:]] == [(f.seq, f.person_id) for f in frames]
    people = read_jsonl_people(path)
    assert sorted(people) == [2, 5]
    assert all(len(p.poses3d) == 10 for p in people.values())  # both span the whole recording
    five = people[5]
    assert (five.confidence[:4] == 0).all() and np.isnan(five.poses3d[:4]).all()
    np.testing.assert_allclose(five.poses3d[4], frames[5].joints, atol=1e-5)  # capture 14, person 5
    with pytest.raises(KeypointFormatError, match="2 people"):
        read_jsonl(path)
    np.testing.assert_allclose(read_jsonl(path, person=2).poses3d, people[2].poses3d, atol=0, equal_nan=True)


def test_single_person_jsonl_is_unchanged(tmp_path: Path, rng: np.random.Generator) -> None:
    f = dataclasses.replace(_people_frames(rng)[0], person_id=0)
    path = tmp_path / "one.jsonl"
    with Recorder.open(path, fps=30) as rec:
        rec.write(f)
    line = json.loads(path.read_text().splitlines()[1])
    assert "person_id" not in line and json.loads(path.read_text().splitlines()[0])["max_people"] == 1


def test_npz_writes_one_file_per_person(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = _people_frames(rng)
    path = tmp_path / "rec.npz"
    rec = Recorder.open(path, fps=30, max_people=3)
    for f in frames:
        rec.write(f)
    rec.flush()
    assert spool_path(path).is_file()
    rec.close()
    assert not path.exists() and not spool_path(path).exists()
    two, five = load_poses(person_path(path, 2)), load_poses(person_path(path, 5))
    assert person_path(path, 5).name == "rec.person5.npz"
    assert len(two.poses3d) == len(five.poses3d) == 10
    np.testing.assert_allclose(two.poses3d[0], frames[0].joints, atol=1e-6)
    assert (five.confidence[:4] == 0).all() and (five.confidence[4:] == 1).all()
    np.testing.assert_allclose(five.poses3d[-1], frames[-1].joints, atol=1e-6)
    with pytest.raises(KeypointFormatError):
        recover_npz(path)  # nothing left to recover
