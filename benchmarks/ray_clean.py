"""``skeletor bench ray``: frames/s of ``skeletor clean --ray`` with 1 and 2 local workers, and a corpus on paper.

The same inputs three ways: the serial loop, then a local Ray with 1 CPU and with 2 CPUs
(each a fresh Ray; its start-up is timed apart). Inputs: the five How2Sign OpenPose clips
(per-frame JSON folders) and the eleven MediaPipe Holistic ``.pose`` files of
``../shared/data``, copied ``--copies`` times under other names into a temporary folder, so
that two workers have enough files to share. Each Ray run's outputs are checked to be the
serial run's bytes.

From the measured cost per frame (the serial run's CPU time per frame, reading and writing
included; OpenPose JSON parsing timed apart) and Ray's measured per-task overhead, the
time a How2Sign-size corpus takes on N nodes of M cores is computed (``corpus`` in the JSON;
the assumptions are stored with it). Run it niced on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.common import RESULTS, write_result

__all__ = ["run_ray_bench", "corpus_on_paper", "add_bench_parser"]

# How2Sign (Duarte et al., CVPR 2021): ~35,000 sentence clips, ~80 h of video at 24 fps in all.
HOW2SIGN_CLIPS = 35_000
HOW2SIGN_HOURS = 80.0
HOW2SIGN_FPS = 24.0


def _inputs(folder: Path, copies: int) -> list[Path]:
    """Copies of the real inputs under distinct names (clip folders and .pose files)."""
    from skeletor.datasets import data_root
    from skeletor.datasets.poseformat import list_pose_files

    root = data_root()
    clips = sorted((root / "how2sign_openpose_prompt2sign" / "json").iterdir())
    poses = list_pose_files(root / "slp_pose_format")
    out = []
    for c in range(copies):
        for clip in clips:
            dst = folder / f"{clip.name}_{c}"
            shutil.copytree(clip, dst)
            out.append(dst)
        for p in poses:
            dst = folder / f"{p.stem}_{c}.pose"
            shutil.copy(p, dst)
            out.append(dst)
    return out


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _ray_run(jobs: list, config, cpus: int) -> dict:
    """One run on a fresh local Ray with ``cpus`` CPUs: start-up and cleaning timed apart."""
    import ray

    from skeletor.cleaner.batch import RayConfig, clean_on_ray
    from skeletor.cleaner.cli import READERS

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 2**20, logging_level="ERROR")
    started = time.perf_counter() - t0
    results: list = []
    try:
        noop = ray.remote(num_cpus=1)(_noop)
        ray.get([noop.remote() for _ in range(4)])  # workers up: task overhead below is steady-state
        t1 = time.perf_counter()
        ray.get([noop.remote() for _ in range(100)])
        task_overhead_ms = 1000 * (time.perf_counter() - t1) / 100
        t2 = time.perf_counter()
        clean_on_ray(jobs, config, RayConfig(num_cpus=cpus), dict(READERS), results.append)
        seconds = time.perf_counter() - t2
    finally:
        ray.shutdown()
    frames = sum(r.frames for r in results if r.written)
    cpu_ms = 1000 * sum(r.cpu_seconds for r in results) / frames
    return {"cpus": cpus, "ray start s": started, "clean s": seconds, "frames": frames, "frames/s": frames / seconds,
            "cpu ms per frame inside the tasks": cpu_ms, "cores kept busy (task CPU / wall)": frames * cpu_ms / 1000 / seconds,
            "failed": sum(not r.ok for r in results), "task overhead ms (no-op task, 2 in flight per CPU)": task_overhead_ms}  # fmt: skip


def _noop() -> None:
    return None


def run_ray_bench(copies: int = 2, cpu_counts: tuple[int, ...] = (1, 2)) -> dict:
    """Serial, then Ray with each of ``cpu_counts`` CPUs, on the same inputs; outputs compared byte for byte."""
    from skeletor.cleaner.cli import CleanJob, clean_file, output_paths, read_input
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

    config = CleanerConfig()
    load = os.getloadavg()[0]  # other work on this machine's cores: the numbers depend on it
    with tempfile.TemporaryDirectory(prefix="skeletor-bench-ray-") as tmp:
        tmp_path = Path(tmp)
        inputs = _inputs(tmp_path / "in", copies)
        serial_out = tmp_path / "serial"
        jobs = [CleanJob(src, dst) for src, dst in zip(inputs, output_paths(inputs, serial_out))]
        openpose = [j.src for j in jobs if j.src.is_dir()]
        t0 = time.perf_counter()
        json_frames = sum(len(read_input(p)) for p in openpose)
        json_ms = 1000 * (time.perf_counter() - t0) / json_frames
        cleaner = StreamingCleaner(config)
        t0, c0 = time.perf_counter(), time.process_time()
        results = [clean_file(j, cleaner) for j in jobs]
        serial_s, serial_cpu = time.perf_counter() - t0, time.process_time() - c0
        frames = sum(r.frames for r in results)
        assert all(r.written for r in results), [r.error for r in results if not r.ok]
        out: dict = {
            "inputs": {"files": len(jobs), "frames": frames, "openpose clip folders": len(openpose), "openpose frames": json_frames, "copies": copies},
            "serial": {"clean s": serial_s, "frames/s": frames / serial_s, "cpu ms per frame": 1000 * serial_cpu / frames},
            "openpose json read ms per frame": json_ms,
            "ray": [],
            "load average (1 min) at the start": load,
        }
        reference = _contents(serial_out)
        for cpus in cpu_counts:
            ray_out = tmp_path / f"ray{cpus}"
            run = _ray_run([replace(j, dst=ray_out / j.dst.name) for j in jobs], config, cpus)
            run["outputs identical to serial"] = _contents(ray_out) == reference
            out["ray"].append(run)
    base = out["ray"][0]["frames/s"]
    for run in out["ray"]:
        run["speed-up vs 1 CPU"] = run["frames/s"] / base
    out["load average (1 min) at the end"] = os.getloadavg()[0]
    out["corpus"] = corpus_on_paper(out["serial"]["cpu ms per frame"], out["ray"][0]["task overhead ms (no-op task, 2 in flight per CPU)"])
    return out


def corpus_on_paper(cpu_ms_per_frame: float, task_overhead_ms: float, video_ms_per_frame: float | None = None) -> dict:
    """Hours to clean a How2Sign-size corpus on N nodes of M cores, from a measured cost per frame.

    Assumptions (stored with the result): 35,000 clips, 80 h of video at 24 fps in all (so
    ~8.2 s, ~197 frames a clip); one task per clip on each core (``--threads 1``), perfect
    sharing (tasks are many and short against the run) and Ray's per-task overhead added per
    clip; the cost per frame of this machine's cores.

    Args:
        cpu_ms_per_frame: CPU milliseconds per frame of one worker (read, clean, write).
        task_overhead_ms: Ray's cost per task.
        video_ms_per_frame: optionally, the cost per frame on video (MediaPipe), for a second table.

    Returns:
        The assumptions and ``hours[(N, M)]`` tables.
    """
    frames = HOW2SIGN_HOURS * 3600 * HOW2SIGN_FPS
    per_clip = frames / HOW2SIGN_CLIPS
    grid = [(n, m) for n in (1, 4, 16, 64) for m in (8, 32, 64)]

    def hours(ms_per_frame: float) -> dict[str, float]:
        total_s = (frames * ms_per_frame + HOW2SIGN_CLIPS * task_overhead_ms) / 1000
        return {f"{n} nodes x {m} cores": total_s / (n * m) / 3600 for n, m in grid}

    out = {
        "assumptions": {
            "clips": HOW2SIGN_CLIPS, "video hours": HOW2SIGN_HOURS, "fps": HOW2SIGN_FPS, "frames": frames,
            "frames per clip (mean)": per_clip, "cpu ms per frame (keypoints, measured here)": cpu_ms_per_frame,
            "ray task overhead ms (measured here)": task_overhead_ms, "scaling": "linear in cores (one clip per task, --threads 1)",
        },
        "hours, keypoint input": hours(cpu_ms_per_frame),
    }  # fmt: skip
    if video_ms_per_frame is not None:
        out["assumptions"]["cpu ms per frame (video, MediaPipe)"] = video_ms_per_frame
        out["hours, video input"] = hours(video_ms_per_frame)
    return out


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench ray``."""
    p = sub.add_parser("ray", help="frames/s of skeletor clean --ray with 1 and 2 local workers; a corpus on paper", description=__doc__)
    p.add_argument("--copies", type=int, default=2, help="copies of the real inputs (default 2: 32 files, 3500 frames)")
    p.add_argument("--video-ms-per-frame", type=float, default=None,
                   help="cost per frame on video for the on-paper table (default: from benchmarks/results/throughput.json)")  # fmt: skip
    p.add_argument("--json", type=Path, default=RESULTS / "ray.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    res = run_ray_bench(args.copies)
    video_ms = args.video_ms_per_frame
    if video_ms is None:
        try:
            video_ms = 1000 / json.loads((RESULTS / "throughput.json").read_text())["video fps (decode + MediaPipe + clean)"]
        except (OSError, KeyError, ValueError):
            video_ms = None
    res["corpus"] = corpus_on_paper(res["serial"]["cpu ms per frame"], res["ray"][0]["task overhead ms (no-op task, 2 in flight per CPU)"], video_ms)
    write_result(args.json, res)
    print(f"inputs: {res['inputs']}")
    print(f"serial: {res['serial']['frames/s']:.1f} frames/s, {res['serial']['cpu ms per frame']:.2f} CPU ms per frame "
          f"(OpenPose JSON reading {res['openpose json read ms per frame']:.2f} ms of it)")  # fmt: skip
    for run in res["ray"]:
        print(f"ray, {run['cpus']} CPU(s): {run['frames/s']:.1f} frames/s ({run['speed-up vs 1 CPU']:.2f}x), {run['cpu ms per frame inside the tasks']:.2f} CPU ms "
              f"per frame in the tasks, {run['cores kept busy (task CPU / wall)']:.2f} cores busy, start {run['ray start s']:.1f} s, "
              f"task overhead {run['task overhead ms (no-op task, 2 in flight per CPU)']:.2f} ms, identical to serial: {run['outputs identical to serial']}")  # fmt: skip
    for name, table in res["corpus"].items():
        if name.startswith("hours"):
            print(name + ": " + ", ".join(f"{k} {v:.1f} h" for k, v in table.items()))
    print(f"wrote {args.json}")
    return 0
