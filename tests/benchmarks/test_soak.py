"""The soak benchmark's one-minute form: the live tool with churning and stalled clients
keeps running and keeps serving. Behaviour only (the 10-minute numbers are in BENCHMARKS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import write_result
from benchmarks.soak import rss_mb, run_soak, summary_line


@pytest.fixture(scope="module")
def soak() -> dict:
    """One minute: the demo at 30 fps through the pipeline and server, 8 churning and 2 stalled
    clients, keepalive every 5 s (so a stalled client has had time to be found)."""
    return run_soak(minutes=1.0, clients=8, stalled=2, sample_s=2.0, refine=False, ping_interval_s=5.0, progress=False)


@pytest.mark.slow
def test_soak_runs_without_a_crash_and_every_healthy_session_gets_frames(soak: dict, tmp_path: Path) -> None:
    assert soak["error"] is None
    assert soak["source"]["frames"] > 0 and soak["samples"]
    healthy = soak["healthy"]
    assert healthy["sessions"] >= 8 and healthy["connection_failures"] == 0, healthy["failure_examples"]
    # The stalled clients do not block the others: the churning ones get (nearly) every
    # frame emitted while they are connected (a ratio of counts in one run, not a rate).
    assert healthy["share_of_frames"] > 0.8, summary_line(soak)
    assert soak["verdict"]["source_never_above_nominal"], soak["source"]
    assert all(s["rss_mb"] > 0 for s in soak["samples"]) and rss_mb() > 0
    write_result(tmp_path / "soak.json", soak)
    assert summary_line(soak).startswith("soak 1 min: RSS")


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 17 defect 2 (stalled clients are never dropped) is fixed in realtime/server/fanout.py on another branch", strict=False)
def test_soak_stalled_clients_are_dropped(soak: dict) -> None:
    """docs/protocol.md: a client that does not answer a ping within the timeout is dropped."""
    assert all(d is not None for d in soak["stalled_clients"]["server_dropped_after_s"]), soak["stalled_clients"]
