"""Smoke form of the public accuracy benchmark (the full run is ``python -m benchmarks.accuracy``)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.accuracy import main


def test_accuracy_benchmark_smoke(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "acc.json"
    assert main(["--data", str(data_dir), "--max-files", "2", "--tune-files", "2", "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    rows = result["methods"]
    assert {"flat", "streaming uplift", "whole-sequence uplift", "streaming + One Euro (tuned)"} <= set(rows)
    for r in rows.values():
        assert 0 < r["n_mpjpe_mm"] < 400 and r["bone_cv_pct"] >= 0
    assert rows["whole-sequence uplift"]["bone_cv_pct"] < rows["flat"]["bone_cv_pct"]
    assert "| flat |" in capsys.readouterr().out
