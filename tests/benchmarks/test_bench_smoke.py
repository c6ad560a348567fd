"""Short forms of every ``skeletor bench`` benchmark (the full runs are in BENCHMARKS.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import percentiles, write_result
from skeletor.cleaner.stream import CleanerConfig


def test_percentiles() -> None:
    p = percentiles(list(range(101)) + [float("nan")])
    assert p["p50"] == 50 and p["p99"] == 99 and p["n"] == 101
    assert np.isnan(percentiles([])["p50"])


def test_latency_smoke(data_dir: Path, tmp_path: Path) -> None:
    from benchmarks.latency import run_latency

    res = run_latency(data_dir / "videos" / "slp_pose_test_video.mp4", frames=20, cleaner_config=CleanerConfig(refine=False))
    st = res["stages_ms"]
    assert st["detect"]["p50"] > st["uplift"]["p50"] > 0
    assert res["frames"] > 0 and st["end_to_end"]["p50"] >= st["detect"]["p50"]
    assert 0 < res["overhead_ratio"] < 1
    assert len(res["detector_alone_passes_fps"]) == 2 and res["detector_alone_fps"] > 0 and res["live_fps"] > 0
    assert res["rate_ratio"] == res["live_fps"] / (sum(res["detector_alone_passes_fps"]) / 2)
    assert res["dropped_at_handoff"] == 0 and res["frames_skipped"] == 0  # a video read as fast as possible: every frame
    write_result(tmp_path / "latency.json", res)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2 cores")
def test_latency_pinned_with_a_detector_process(data_dir: Path) -> None:
    """``--pin --detector-process``: the detector process and the detect thread on the first
    core, the cleaner, the server and the client on the others; every frame still arrives."""
    from benchmarks.latency import pin_cores, run_latency

    detector, others = pin_cores()
    res = run_latency(data_dir / "videos" / "slp_pose_test_video.mp4", frames=20, cleaner_config=CleanerConfig(refine=False),
                      detector_process=True, pin=True)  # fmt: skip
    threads = res["pinned"]["threads"]
    assert threads["detector process"] == threads["skeletor-detect"] == sorted(detector)
    assert threads["skeletor-clean"] == threads["pose-server"] == sorted(others)
    assert res["detector_process"] and res["frames"] > 0 and res["frames_skipped"] == 0
    assert os.sched_getaffinity(0) == set(detector) | set(others)  # the caller's cores are given back


def test_refiner_smoke(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from benchmarks.refiner_bench import run_refiner_bench

    res = run_refiner_bench((16,), n=5)
    measured = [r for r in res["rows"] if r["ms"] is not None]
    assert {r["backend"] for r in measured} >= {"ONNX Runtime CPU, 1 thread(s)", "torch eager CPU, 1 thread(s)"}
    assert all("not measured" in r["note"] for r in res["rows"] if r["ms"] is None)
    layouts = {(r["layout"], r["graph"], r["batch"]): r for r in res["layouts"]}  # normalisation in / out, traced / written
    assert set(layouts) == {(v, g, b) for v, g in ((1, "traced"), (2, "traced"), (2, "written")) for b in (1, 2)}
    for b in (1, 2):
        layout1, traced, written = layouts[1, "traced", b], layouts[2, "traced", b], layouts[2, "written", b]
        assert written["nodes"] < traced["nodes"] / 4 and traced["nodes"] < layout1["nodes"]
        assert traced["max_abs_diff"] < 1e-5 and written["max_abs_diff"] < 1e-5
    cpu = [r for r in res["cached"] if r["provider"] == "CPUExecutionProvider"]  # a streaming push, windowed and cached
    assert {(r["model"].split()[0], r["streams"]) for r in cpu} == {(m, s) for m in ("windowed", "cached") for s in (1, 2)}
    assert all(r["ms"]["p50"] > 0 for r in cpu)
    gpu = [r for r in res["cached"] if r["provider"] != "CPUExecutionProvider"]  # CUDA and TensorRT: timed, or why not
    assert {r["provider"] for r in gpu} == {"CUDAExecutionProvider", "TensorrtExecutionProvider"} and len(gpu) == 8
    assert all(r["ms"]["p50"] > 0 if r["ms"] else r["note"].startswith("not measured") for r in gpu)


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_fanout_smoke(tmp_path: Path, fmt: str) -> None:
    from benchmarks.fanout import run_fanout

    res = run_fanout(clients=(1, 3), rates=(30.0,), seconds=1.0, healthy=3, fmt=fmt, client_nice=(0, 5))
    assert [(r["client_nice"], r["clients"]) for r in res["runs"]] == [(0, 1), (0, 3), (5, 1), (5, 3)]
    assert "at nice 0 or 5" in res["client_setup"] and res["server_nice"] == os.nice(0)
    for r in res["runs"]:
        assert r["connected"] == r["clients"] and r["format"] == fmt
        assert r["frames_per_client"] > 10 and r["latency_ms"]["p50"] < 100
        # the server's own time per frame: one sample per frame that reached a client, none before publishing
        assert 10 < r["server_ms"]["n"] <= r["published"] and r["server_cpu_ms"]["n"] >= r["server_ms"]["n"]
        assert r["server_ms"]["p50"] >= 0 and r["server_cpu_ms"]["p50"] > 0
        # the hand-over to the event loop is part of the server's time, one sample per frame fanned out
        assert r["server_wait_ms"]["n"] == r["server_pass_ms"]["n"] == r["server_cpu_ms"]["n"]
        assert 0 <= r["server_wait_ms"]["p50"] <= r["server_pass_ms"]["p50"]
        m = r["machine"]  # the cores during the run: ours and everything else, within the machine's
        assert m["cores"] == os.cpu_count() and 0 < m["busy_cores"] <= m["cores"] + 0.05
        assert m["server_process_cores"] >= 0 and m["client_processes_cores"] >= 0 and m["other_cores"] >= 0
        assert r["gc"]["collections"] >= 0 and r["gc"]["longest_ms"] >= 0
    assert res["stalled"]["with"]["connected"] == 3
    write_result(tmp_path / "fanout.json", res)


def test_throughput_smoke(tmp_path: Path) -> None:
    from benchmarks.throughput import run_throughput

    res = run_throughput(None)
    assert res["keypoints fps, uplift only"] > 100


def test_corpus_and_relays_on_paper() -> None:
    """The sizing arithmetic: 80 h at 24 fps is 6.9 M frames; cores share them linearly; relay hops add up."""
    from benchmarks.ray_clean import corpus_on_paper
    from benchmarks.relay import relays_on_paper

    res = corpus_on_paper(cpu_ms_per_frame=6.0, task_overhead_ms=1.0, video_ms_per_frame=60.0)
    assert res["assumptions"]["frames"] == 80 * 3600 * 24 and round(res["assumptions"]["frames per clip (mean)"]) == 197
    one = (6_912_000 * 6.0 + 35_000 * 1.0) / 1000 / 3600
    assert res["hours, keypoint input"]["1 nodes x 8 cores"] == pytest.approx(one / 8)
    assert res["hours, keypoint input"]["4 nodes x 32 cores"] == pytest.approx(one / 128)
    assert res["hours, video input"]["1 nodes x 8 cores"] > 9 * res["hours, keypoint input"]["1 nodes x 8 cores"]
    run = {"rate_hz": 30.0, "relay hop ms (relay -> client)": {"p50": 4.0}, "delivery ms (publisher -> redis -> relay -> client)": {"p50": 6.0},
           "bytes on redis per frame": 1250}  # fmt: skip
    paper = relays_on_paper(run, {"clients": 300, "latency_ms": {"p99": 26.0}}, relays=10, lan_ms=0.5)
    assert paper["clients in all"] == 3000 and paper["redis messages out per second"] == 300
    assert paper["delivery p50 ms (publisher -> redis -> relay -> client)"] == pytest.approx(2.0 + 3 * 0.5 + 4.0)
    assert paper["clients a 1 Gbit/s link carries per relay (binary, every field)"] == int(1e9 / 8 / (1250 * 30))


def test_relay_smoke(tmp_path: Path) -> None:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install -y redis-server)")
    pytest.importorskip("redis", reason="the redis package is not installed: pip install -e '.[cluster]'")
    from benchmarks.relay import run_relay_bench

    res = run_relay_bench(relays=2, clients=3, seconds=1.0, formats=("binary",))
    (run,) = res["runs"]
    assert run["connected"] == 6 and run["frames per client"] > 10 and run["published to redis"] == run["published"]
    d = run["delivery ms (publisher -> redis -> relay -> client)"]
    assert d["p50"] >= run["relay hop ms (relay -> client)"]["p50"] > 0  # the relay hop is part of the delivery
    write_result(tmp_path / "relay.json", res)


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.plot import plot_all

    write_result(tmp_path / "latency.json", {"mode": "test", "overhead_ratio": 0.05,
                 "stages_ms": {k: percentiles([1.0, 2.0, 3.0]) for k in ("decode", "detect", "uplift")}})  # fmt: skip
    write_result(tmp_path / "fanout.json", {"runs": [{"rate_hz": 30.0, "clients": n, "latency_ms": percentiles([1.0, 2.0])} for n in (1, 10)]})
    write_result(tmp_path / "accuracy.json", {"methods": {"flat": {"n_mpjpe_mm": 120.0}},
                 "lookahead_curve": {str(k): {f"uplift, lookahead {k}": {"n_mpjpe_mm": 100.0 - k, "accel_mm": 50.0}} for k in (0, 2)},
                 "real_clip_trace": {"clip": "c.pose", "fps": 30.0, "frames": 3,
                                     "series": {m: {"forearm": [0.25, 0.26, 0.26]} for m in ("streaming uplift", "streaming + refiner")}}})  # fmt: skip
    written = plot_all(tmp_path)
    assert {p.name for p in written} == {"latency_stages.png", "fanout.png", "accuracy_lookahead.png", "real_clip_lengths.png"}
    assert all(p.stat().st_size > 5000 for p in written)


@pytest.mark.parametrize("name", ["latency", "refiner", "fanout", "throughput", "accuracy", "plot", "ray", "relay", "weights"])
def test_every_bench_command_explains_itself(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.commands import main

    with pytest.raises(SystemExit) as e:
        main(["bench", name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"skeletor bench {name}" in out and "--json" in out or name == "plot"


def test_latency_benchmark_runs_the_refiner_as_skeletor_live_does() -> None:
    """``skeletor bench latency`` takes the cleaner's options from the same definition as
    ``skeletor-live``: with no options (and with the same ones) both build the same config,
    runtime included (weights, provider, threads)."""
    from realtime.cli import build_parser as live_parser
    from realtime.commands import COMMANDS, _available, _REALTIME_COMMANDS
    from skeletor.cleaner.cli import cleaner_config
    from skeletor.cli import build_parser

    parser = build_parser(COMMANDS + _available(_REALTIME_COMMANDS))
    for words in ([], ["--provider", "cpu", "--threads", "0", "--no-refine"]):
        bench = cleaner_config(parser.parse_args(["bench", "latency", "--video", "v.mp4", *words]))
        live = cleaner_config(live_parser().parse_args(words))
        assert bench == live
    assert cleaner_config(live_parser().parse_args([])).runtime.threads == 1


@pytest.mark.slow
def test_people_smoke(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.people import DANCE, STREET, run_cost, run_crossings, run_tracking, suspected_switches

    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path / "cache"))
    cost = run_cost(data_dir / "videos" / DANCE, (1, 2), frames=4, warmup=2)
    one, two = cost["rows"]
    assert one["people_found_mean"] == 1 and two["people_found_mean"] == 2  # the grid shows exactly K dancers
    for row in cost["rows"]:
        ms = row["ms"]
        assert ms["detect"]["n"] == 4 and ms["total"]["p50"] >= ms["detect"]["p50"] > ms["refine"]["p50"] > 0
    tracking = run_tracking(data_dir / "videos" / STREET, max_frames=20)
    assert tracking["frames"] == 20 and tracking["tracks"] >= 1
    crossings = run_crossings(seeds=2)
    assert all(c["id_switches"] == 0 for c in crossings.values())
    # a track whose torso turns from dark to bright is flagged once, over the frames around the change
    dark, bright = np.array([40.0, 128.0, 128.0]), np.array([200.0, 128.0, 128.0])
    obs = [(t, dark if t < 30 else bright) for t in range(60)]
    (run,) = suspected_switches(obs)
    assert run[0] <= 30 <= run[1]
    assert suspected_switches([(t, dark) for t in range(60)]) == []
    write_result(tmp_path / "people.json", {"cost": cost, "tracking": tracking, "crossings": crossings})


@pytest.mark.data
def test_weights_smoke(data_dir: Path, tmp_path: Path) -> None:
    """``skeletor bench weights``: a file against itself scores the same on all three sets
    (ratio 1), and the real-noise views are other views than the simulated ones."""
    from benchmarks.weights import run_weights_bench
    from skeletor.cleaner.stream import default_weights_path

    w = default_weights_path()
    res = run_weights_bench([w, w], max_files=2, progress=False)
    assert set(res["rows"][str(w)]) == {"simulated", "real noise", "real clips"}
    for ratios in res["ratio_to_first"][str(w)].values():
        assert all(v == pytest.approx(1.0) for v in ratios.values())
    sim, real = res["rows"][str(w)]["simulated"], res["rows"][str(w)]["real noise"]
    assert sim["n_mpjpe_mm"] != real["n_mpjpe_mm"] and 20 < real["n_mpjpe_mm"] < 150
