"""Smoke form of the public accuracy benchmark (the full run is ``python -m benchmarks.accuracy``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.accuracy import OFFLINE, UPLIFT_LENGTHS, main


def test_accuracy_benchmark_smoke(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "acc.json"
    assert main(["--data", str(data_dir), "--max-files", "2", "--tune-files", "2", "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    rows = result["methods"]
    assert {"flat", "streaming uplift", "whole-sequence uplift", "streaming + One Euro (tuned)"} <= set(rows)
    for r in rows.values():
        assert 0 < r["n_mpjpe_mm"] < 400 and r["bone_cv_pct"] >= 0
    assert rows["whole-sequence uplift"]["bone_cv_pct"] < rows["flat"]["bone_cv_pct"]
    # skeletor clean --offline (the shipped bidirectional refiner): steadier than the causal cleaner
    assert {OFFLINE, f"{OFFLINE}, depth hint"} <= set(rows)
    assert rows[OFFLINE]["accel_mm"] < rows["streaming + refiner"]["accel_mm"]
    bodies = result["other_bodies"]
    assert set(bodies) == {"Bandai test, shoulders x1.35", "PyMO walk, 2 views"}
    for group in bodies.values():
        assert {"streaming uplift", UPLIFT_LENGTHS, "streaming + refiner", OFFLINE} <= set(group)
        assert all(0 < r["n_mpjpe_mm"] < 400 for r in group.values())
    # wider shoulders change the input: the uplift's score moves
    assert bodies["Bandai test, shoulders x1.35"]["streaming uplift"]["n_mpjpe_mm"] != rows["streaming uplift"]["n_mpjpe_mm"]
    real = result["real_clips"]  # real MediaPipe clips, no 3D truth
    assert set(real) == {"streaming uplift", "streaming + refiner, hands in the body's window", "streaming + refiner, no detection pull",
                         UPLIFT_LENGTHS, "streaming + refiner (default)", "streaming + refiner, --smooth", OFFLINE}  # fmt: skip
    assert real[OFFLINE]["jitter_mm"] < real["streaming + refiner (default)"]["jitter_mm"]
    assert real["streaming + refiner, --smooth"]["jitter_mm"] < real["streaming + refiner (default)"]["jitter_mm"]
    # the first clips are steady signers with a hand in view: hands apart steadies the body
    assert real["streaming + refiner (default)"]["jitter_mm"] < real["streaming + refiner, hands in the body's window"]["jitter_mm"]
    assert all(r["clips"] == 2 and np.isfinite(r["jitter_mm"]) for r in real.values())
    # the refiner's own 3D bone lengths in the rig: the arms' lengths vary less than with the uplift's alone
    cv = {name: r["arm_bone_cv_pct"] for name, r in real.items()}
    assert cv["streaming + refiner (default)"] < min(cv[UPLIFT_LENGTHS], cv["streaming uplift"])
    # the uplift puts detected joints on (or near) their rays; the pull takes the refined skeleton back towards them
    pct = {name: r["reprojection_pct_shoulder"] for name, r in real.items()}
    assert pct["streaming uplift"] < pct["streaming + refiner (default)"] < pct["streaming + refiner, no detection pull"]
    # one real clip's arm lengths frame by frame: every frame, and steadier with the refiner's lengths in the rig
    trace = result["real_clip_trace"]
    assert set(trace["series"]) == {"streaming uplift", UPLIFT_LENGTHS, "streaming + refiner (default)"}
    forearm = {name: np.array(s["left forearm"]) for name, s in trace["series"].items()}
    assert all(len(x) == trace["frames"] and np.isfinite(x).all() for x in forearm.values())
    cv = {name: x.std() / x.mean() for name, x in forearm.items()}
    assert cv["streaming + refiner (default)"] < cv[UPLIFT_LENGTHS]
    out_text = capsys.readouterr().out
    assert "| flat |" in out_text and "other bodies, PyMO walk" in out_text and "real MediaPipe clips (2)" in out_text


def test_accuracy_curve_takes_refiners_trained_with_a_lookahead(data_dir: Path, tmp_path: Path) -> None:
    """--curve-weights: a refiner with its own lookahead k gets rows at every delay >= k only."""
    import pytest

    torch = pytest.importorskip("torch")
    from skeletor.refiner.export import export_onnx
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig

    torch.manual_seed(0)
    k2 = export_onnx(NormalisedRefiner(RefinerConfig(window=8, n_layers=2, d_model=32, n_heads=2, d_ff=64, lookahead=2)).eval(), tmp_path / "k2.onnx")
    out = tmp_path / "curve.json"
    argv = ["--data", str(data_dir), "--max-files", "1", "--tune-files", "1", "--json", str(out), "--no-progress", "--no-refiner",
            "--no-other-bodies", "--lookaheads", "0", "2", "--curve-weights", str(k2)]  # fmt: skip
    assert main(argv) == 0
    curve = json.loads(out.read_text())["lookahead_curve"]
    assert not any("trained with k=2" in name for name in curve["0"])
    assert "uplift + refiner trained with k=2, lookahead 2" in curve["2"]
    assert np.isfinite(curve["2"]["uplift + refiner trained with k=2, lookahead 2"]["n_mpjpe_mm"])
