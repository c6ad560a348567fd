"""Short form of ``skeletor bench noise``: the real .pose files against the simulated detector on a few clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.data
def test_noise_bench_smoke(data_dir: Path, tmp_path: Path) -> None:
    from benchmarks.noise import run_noise_bench

    out = tmp_path / "noise.json"
    res = run_noise_bench(out, tmp_path / "cache", max_clips=3, videos=False, progress=False)
    stats = json.loads(out.read_text())["stats"]
    assert set(stats) == {"real .pose", "sim today", "sim measured"}
    real, today, measured = (stats[k]["body_jitter"]["residual_std"] for k in ("real .pose", "sim today", "sim measured"))
    # today's 2.5 px white jitter is far above real MediaPipe's; the measured fault model lands near the real value
    assert today > 4 * real
    assert measured == pytest.approx(real, rel=0.5)
    assert stats["sim today"]["hand_missing"]["left"] is None  # no fingers in the mocap: not measured
    assert res["faults_measured"]["lose_hand"] > 0 and res["faults_today"]["lose_hand"] == 0
