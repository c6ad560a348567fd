"""Short form of ``skeletor bench rig`` (the full run is in BENCHMARKS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import write_result


@pytest.mark.data
def test_rig_bench_smoke(data_dir: Path, tmp_path: Path) -> None:
    from benchmarks.rig import run_rig_bench

    res = run_rig_bench(max_clips=2, videos=False)
    assert "videos" not in res and res["pose_clips"]["clips"] == 2 and res["pose_clips"]["frames_with_rig"] > 50
    t = res["ms_per_frame"]
    assert t["rig solver"]["n"] > 50 and t["rig solver"]["p50"] > 0 and t["uplift"]["p50"] > 0  # both timed in one run
    fk = res["pose_clips"]["fk_error_cm"]
    assert fk["rig_lengths"]["body"]["median_cm"] < 0.5 and fk["raw"]["body"]["n"] > 100
    steps = res["pose_clips"]["largest_step_deg"]
    assert set(steps) >= {"Hips", "Spine", "LeftUpperArm", "Head"} and 0 < steps["LeftShoulder"] < 60.0
    hands = res["hands"]["pose_clips"]  # the hand sources side by side, same run
    assert set(hands) == {"detector", "unsmoothed", "uplift", "refiner"}
    upper = {round(h["upper_body_jitter_mm"], 6) for h in hands.values()}
    assert len(upper) == 1  # the body's window never sees the hands, whatever their source
    assert hands["detector"]["mirrored_share"] < hands["refiner"]["mirrored_share"]
    cpu = res["hands"]["refine_cpu_ms_hand_in_view"]
    assert cpu["carried"]["n"] == cpu["refine_hands"]["n"] > 50
    write_result(tmp_path / "rig.json", res)


def test_rig_bench_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.commands import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "rig", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "skeletor bench rig" in out and "--json" in out and "--no-videos" in out
