"""The stream recorder: round trips and what survives an interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skeletor.keypoints import load_poses
from skeletor.protocol import PoseFrame
from skeletor.recorder import Recorder, read_jsonl


def _frame(i: int) -> PoseFrame:
    j = np.full((75, 3), 0.1 * i, np.float32)
    j[40] = np.nan  # a missing joint
    c = np.ones(75, np.float32)
    c[40] = 0.0
    return PoseFrame(seq=i, t_capture_ns=1000 + i, joints=j, confidence=c, latency_ms={"detect": 30.0})


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / ("rec" + suffix)
    with Recorder.open(path, fps=25.0) as rec:
        for i in range(10):
            rec.write(_frame(i))
    seq = read_jsonl(path, 25.0) if suffix == ".jsonl" else load_poses(path)
    assert seq.poses3d.shape == (10, 75, 3)
    np.testing.assert_allclose(seq.poses3d[3, 0], [0.3, 0.3, 0.3], atol=1e-5)
    assert np.isnan(seq.poses3d[:, 40]).all() and (seq.confidence[:, 40] == 0).all()
    assert not (tmp_path / "rec.npz.partial").exists()


def test_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl or \.npz"):
        Recorder.open(tmp_path / "x.csv", 30.0)


def test_killed_process_leaves_readable_lines(tmp_path: Path) -> None:
    """kill -9 while recording: every flushed line before it is intact."""
    path = tmp_path / "live.jsonl"
    code = (
        "import time, numpy as np\n"
        "from skeletor.recorder import Recorder\nfrom skeletor.protocol import PoseFrame\n"
        f"r = Recorder.open({str(path)!r}, 30.0)\nr.flush_every_s = 0.0\ni = 0\n"
        "while True:\n"
        "    r.write(PoseFrame(seq=i, t_capture_ns=i, joints=np.zeros((75, 3), np.float32), confidence=np.ones(75, np.float32)))\n"
        "    i += 1\n    time.sleep(0.002)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    seq = read_jsonl(path)
    assert len(seq.poses3d) > 20
