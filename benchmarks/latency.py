"""``skeletor bench latency``: per-stage latency and rate of the live pipeline on a real video.

Runs the real pipeline as ``skeletor-live --video`` does (threaded capture -> MediaPipe in the
detect thread, or with ``--detector-process`` in a child process -> streaming uplift ->
refiner (clean thread) -> websocket server) with one real websocket client on loopback, and
reports p50/p95/p99 in ms for each stage: decode, detect, uplift, refine, encode (the
server's own encoding of each frame its client takes, as the server records it: the
benchmark adds no work of its own to the pipeline's threads), send, and end to end
(capture -> the client has the last byte). ``overhead_ratio`` = (uplift + refine
+ encode) p50 / detect p50, measured in the same run: what our stages add on top of MediaPipe.

Rates, same run: ``live_fps`` is the pipeline's output rate (cleaned frames a second, the
cleaner on); ``detector_alone_fps`` the rate of the same capture + MediaPipe with nothing
else running, measured in a pass before and a pass after the pipeline (their mean);
``rate_ratio`` = live / detector alone (goal >= 0.95: the cleaner runs beside the detector
and costs the live rate nothing, given a core to run on). ``detector_waited_for_cleaner``:
the share of a pipeline pass the detect thread waited at the hand-over (about 0: the
cleaner kept up, and a ratio under 1 is the stages sharing the CPU they got,
``cpu_cores_used``, the detector process's included). ``frames_per_cpu_second`` divides each
rate by those cores: on a machine with no core to spare, the live rate is the detector's
times their ratio, (1 / (1 + what the cleaner costs per frame in detector CPU)). Paced
(``--realtime``) both are the video's frame rate when the detector keeps up.

``--pin`` (Linux) gives the detector a core to itself: the detector-alone passes and the
pipeline's capture and detector (MediaPipe's own threads, or the detector process, start
from them) run on the first core, the cleaner, the server and the client on the others. The
ratio then shows what the cleaner costs the detector when they do not compete for a core:
the interpreter lock and the hand-overs, not CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, process_cpu_seconds, write_result
from skeletor.cleaner.cli import add_cleanup_options, cleaner_config
from skeletor.cleaner.stream import CleanerConfig

__all__ = ["run_latency", "add_bench_parser"]


def _client(url: str, n: int, out: list, ready: threading.Event, done: threading.Event) -> None:
    import websockets

    async def main() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            ready.set()
            while len(out) < n and not done.is_set():
                try:
                    msg = await asyncio.wait_for(ws.recv(), 1.0)
                except asyncio.TimeoutError:
                    continue
                t = time.time_ns()
                obj = json.loads(msg)
                if obj.get("type") == "frame":
                    out.append((t, obj["t_send_ns"], obj["t_capture_ns"], obj["seq"]))

    asyncio.run(main())


def _cpu_seconds(child_pid: int | None) -> float:
    """CPU seconds of this process, plus those of its detector process ``child_pid`` (Linux's
    /proc; NaN elsewhere when there is a child to count)."""
    own = time.process_time()
    if child_pid is None:
        return own
    try:
        return own + process_cpu_seconds(child_pid)
    except (OSError, ValueError, IndexError):
        return float("nan")


_DETECTOR_THREADS = ("skeletor-detect", "skeletor-capture")  # the capture and the detector (MediaPipe's own threads start from them)


def pin_cores() -> tuple[set[int], set[int]]:
    """(the detector's core, the others) for ``--pin``: the first core this process may use, and the rest.

    Raises:
        RuntimeError: not Linux (no per-thread affinity), or fewer than two cores to split.
    """
    if not hasattr(os, "sched_setaffinity"):
        raise RuntimeError("--pin needs Linux (per-thread CPU affinity)")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise RuntimeError(f"--pin needs at least 2 cores, this process may use {len(cores)}")
    return {cores[0]}, set(cores[1:])


@contextlib.contextmanager
def _on_cores(cores: set[int] | None) -> Iterator[None]:
    """Run the calling thread (and the threads and processes it starts meanwhile) on ``cores``; None: as it is."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)  # 0: this thread (Linux affinity is per thread)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _rate(times: list[float]) -> float:
    """Events a second from their monotonic times (NaN with fewer than two)."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")


def detector_alone_fps(video: Path, frames: int, realtime: bool = False, skip: int = 10, cores: set[int] | None = None) -> tuple[float, float]:
    """Capture + MediaPipe Holistic alone (no cleaner, no server) on ``video``; on ``cores`` only, if given.

    Returns:
        Detections a second, and the CPU cores the process used meanwhile (CPU s / wall s;
        on a machine shared with other work, what it got).
    """
    from realtime.sources import SourceConfig, open_capture_source

    with _on_cores(cores):
        source = open_capture_source(SourceConfig(kind="video", video=video, realtime=realtime, loop=True), video)
        times: list[float] = []
        cpu = [0.0, 0.0]
        try:
            while len(times) < frames + skip:
                if source.read(timeout=1.0) is not None:
                    times.append(time.monotonic())
                    if len(times) == skip + 1:
                        cpu[0] = time.process_time()
            cpu[1] = time.process_time()
        finally:
            source.close()
    wall = times[-1] - times[skip] if len(times) > skip + 1 else float("nan")
    return _rate(times[skip:]), (cpu[1] - cpu[0]) / wall


@dataclass
class _PipelinePass:
    """What one run of the pipeline measured."""

    stages: dict[str, list[float]]
    received: list  # (t client, t_send_ns, t_capture_ns, seq) per frame the client got
    live_fps: float
    cores: float
    handoff_dropped: int
    detector_waited: float  # share of the pass the detect thread waited for the cleaner
    frames_skipped: int
    dropped_by_source: int
    provider: str | None
    affinity: dict[str, list[int]]  # pinned: the cores each thread (and a detector process) ran on


def _pipeline_pass(
    video: Path, frames: int, realtime: bool, cleaner_config: CleanerConfig, skip: int, detector_process: bool,
    pin: tuple[set[int], set[int]] | None = None,
) -> _PipelinePass:
    """The real pipeline, with a server and one client, for ``frames`` frames after ``skip`` warm-up ones.

    The source is what ``skeletor-live --video`` opens: capture + Holistic in this process,
    or in a child process (``detector_process``). ``pin``: (the detector's cores, the
    others): the capture and detector threads (MediaPipe's own threads, or the detector
    process, start from them) run on the first, everything else on the second.
    """
    from realtime.pipeline import LivePipeline, PipelineConfig
    from realtime.server import ServerConfig, ServerThread
    from realtime.sources import SourceConfig, open_source
    from skeletor.cleaner.stream import StreamingCleaner

    with _on_cores(pin[0] if pin else None):
        source, _ = open_source(SourceConfig(kind="video", video=video, realtime=realtime, loop=True, detector_process=detector_process, images=False))
    cleaner = StreamingCleaner(cleaner_config)
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "uplift", "refine")}
    out_t: list[float] = []
    cpu_at: list[float] = []
    wait_at: list[float] = []  # the detect thread's wait at the hand-over so far, at the same two frames

    def stamp(frame) -> None:
        out_t.append(time.monotonic())
        if len(out_t) in (skip + 1, frames + skip):
            cpu_at.append(_cpu_seconds(getattr(source, "pid", None)))
            wait_at.append(pipe.stats.handoff_wait_s)
        if len(out_t) <= skip:
            return
        for k in ("decode", "detect", "uplift", "refine"):
            stages[k].append(frame.latency_ms.get(k, float("nan")))

    received: list = []
    with ServerThread(ServerConfig(port=0), fps=source.fps) as server:
        ready, done = threading.Event(), threading.Event()
        th = threading.Thread(target=_client, args=(server.url, frames + skip, received, ready, done), daemon=True)
        th.start()
        ready.wait(10)
        pipe = LivePipeline(source, PipelineConfig(max_frames=frames + skip), [server.publish, stamp], None, cleaner)
        with _on_cores(pin[0] if pin else None):
            pipe.start()  # the detect and capture threads start on the detector's cores
        affinity: dict[str, list[int]] = {}
        if pin:
            for t in threading.enumerate():
                if t.name not in _DETECTOR_THREADS and t is not threading.current_thread() and t.native_id is not None:
                    os.sched_setaffinity(t.native_id, pin[1])
                if t.native_id is not None:
                    affinity[t.name] = sorted(os.sched_getaffinity(t.native_id))
            if getattr(source, "pid", None) is not None:
                affinity["detector process"] = sorted(os.sched_getaffinity(source.pid))
        pipe.wait(600)
        done.set()
        th.join(5)
        pipe.stop()
        stages["encode"] = list(server.server.stats.encode_ms)[skip:]  # the server's own, one encoding a frame for the one client
    wall = out_t[-1] - out_t[skip] if len(out_t) > skip + 1 else float("nan")
    return _PipelinePass(
        stages, received[skip:], _rate(out_t[skip:]), (cpu_at[-1] - cpu_at[0]) / wall if len(cpu_at) == 2 else float("nan"),
        pipe.stats.handoff_dropped, (wait_at[-1] - wait_at[0]) / wall if len(wait_at) == 2 else float("nan"), pipe.stats.frames_skipped, source.dropped,
        cleaner.refiner.providers[0] if cleaner.refiner is not None else None, affinity,
    )  # fmt: skip


def run_latency(
    video: Path,
    frames: int = 200,
    realtime: bool = False,
    cleaner_config: CleanerConfig | None = None,
    detector_passes: bool = True,
    rounds: int = 1,
    detector_process: bool = False,
    pin: bool = False,
) -> dict:
    """Run the pipeline on ``video`` and return the per-stage statistics and rates.

    Passes alternate: detector alone, pipeline, detector alone, ... (``rounds`` pipeline
    passes); each pipeline pass's rate is compared with the mean of the detector-alone
    passes on either side of it, so a machine whose load drifts skews the ratio less.

    Args:
        cleaner_config: the cleaner's settings; None = ``skeletor-live``'s defaults (built
            from its option parser, so the benchmark measures what the live tool ships).
        detector_passes: also time the detector alone, before and after each pipeline pass.
        rounds: pipeline passes (of ``frames`` frames each); stage statistics pool them.
        detector_process: the pipeline's capture and detector in a child process
            (``skeletor-live --detector-process``); False: in this process, the default.
        pin: a core to spare: the detector alone and the pipeline's detector on one core,
            the cleaner, the server and the client on the others (:func:`pin_cores`), so
            the rate ratio shows what the cleaner costs the detector when they do not share
            a core.
    """
    cores = pin_cores() if pin else None
    if cleaner_config is None:
        from realtime.cli import build_parser
        from skeletor.cleaner.cli import cleaner_config as from_options

        cleaner_config = from_options(build_parser().parse_args([]))
    skip = 10  # warm-up frames (graph initialisation, first windows)
    load_before = os.getloadavg()[0]
    alone = [detector_alone_fps(video, frames, realtime, skip, cores[0] if cores else None)] if detector_passes else []
    passes: list[_PipelinePass] = []
    ratios: list[float] = []
    for _ in range(rounds):
        passes.append(_pipeline_pass(video, frames, realtime, cleaner_config, skip, detector_process, cores))
        if detector_passes:
            alone.append(detector_alone_fps(video, frames, realtime, skip, cores[0] if cores else None))
            ratios.append(passes[-1].live_fps / ((alone[-2][0] + alone[-1][0]) / 2))
    result = {k: percentiles([x for p in passes for x in p.stages[k]]) for k in passes[0].stages}
    recv = [r for p in passes for r in p.received]
    result["send"] = percentiles([(t - ts) / 1e6 for t, ts, _, _ in recv])
    result["end_to_end"] = percentiles([(t - tc) / 1e6 for t, _, tc, _ in recv])
    ours = result["uplift"]["p50"] + result["refine"]["p50"] + result["encode"]["p50"]
    live = [p.live_fps for p in passes]
    return {
        "video": str(video), "frames": len(recv), "mode": "realtime" if realtime else "as fast as possible",
        "refiner": "on" if cleaner_config.refine else "off", "detector_process": detector_process,
        "pinned": None if cores is None else {"detector": sorted(cores[0]), "others": sorted(cores[1]), "threads": passes[0].affinity},
        "stages_ms": result,
        "runtime": {"provider": passes[0].provider, "threads": cleaner_config.runtime.threads},
        "overhead_ratio": ours / result["detect"]["p50"], "dropped_by_source": sum(p.dropped_by_source for p in passes),
        "rounds": rounds, "live_fps": float(np.median(live)), "live_passes_fps": live,
        "detector_alone_fps": float(np.mean([fps for fps, _ in alone])) if alone else float("nan"),
        "detector_alone_passes_fps": [fps for fps, _ in alone],
        "rate_ratio": float(np.median(ratios)) if ratios else float("nan"), "rate_ratio_per_round": ratios, "rate_goal": ">= 0.95",
        "cpu_cores_used": {"pipeline_passes": [p.cores for p in passes], "detector_alone_passes": [c for _, c in alone]},
        "frames_per_cpu_second": {"pipeline": float(np.median([p.live_fps / p.cores for p in passes])),
                                  "detector_alone": float(np.median([f / c for f, c in alone])) if alone else float("nan")},
        "dropped_at_handoff": sum(p.handoff_dropped for p in passes), "detector_waited_for_cleaner": [p.detector_waited for p in passes], "frames_skipped": sum(p.frames_skipped for p in passes),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    }  # fmt: skip


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench latency``."""
    p = sub.add_parser("latency", help="per-stage latency of the live pipeline on a video", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--realtime", action="store_true", help="pace at the video's fps (default: as fast as possible)")
    p.add_argument("--detector-process", action="store_true",
                   help="run the pipeline's capture and detector in a child process (skeletor-live --detector-process)")  # fmt: skip
    p.add_argument("--pin", action="store_true",
                   help="a core to spare (Linux): the detector on one core, the cleaner, server and client on the others")  # fmt: skip
    p.add_argument("--no-detector-pass", action="store_true", help="skip timing the detector alone (rate_ratio is then not measured)")
    p.add_argument("--rounds", type=int, default=1,
                   help="pipeline passes, each between two detector-alone passes; the ratio is their median (default 1)")  # fmt: skip
    add_cleanup_options(p.add_argument_group("cleanup (as skeletor-live; same defaults)"))
    p.add_argument("--json", type=Path, default=RESULTS / "latency.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.frames < 2 or args.rounds < 1:
        print("skeletor bench latency: --frames must be at least 2 and --rounds at least 1", file=sys.stderr)
        return 2
    if not args.video.is_file():
        print(f"skeletor bench latency: {args.video}: no such video", file=sys.stderr)
        return 2
    if args.pin:
        try:
            pin_cores()
        except RuntimeError as e:
            print(f"skeletor bench latency: {e}", file=sys.stderr)
            return 2
    res = run_latency(
        args.video, args.frames, args.realtime, cleaner_config(args), detector_passes=not args.no_detector_pass, rounds=args.rounds,
        detector_process=args.detector_process, pin=args.pin,
    )  # fmt: skip
    write_result(args.json, res)
    print(f"{'stage':12s} {'p50':>8s} {'p95':>8s} {'p99':>8s}  (ms)")
    for k, v in res["stages_ms"].items():
        print(f"{k:12s} {v['p50']:8.2f} {v['p95']:8.2f} {v['p99']:8.2f}")
    print(f"overhead_ratio (uplift+refine+encode)/detect = {res['overhead_ratio']:.3f}")
    where = "a child process" if res["detector_process"] else "the detect thread"
    pinned = res["pinned"]
    print(f"detector in {where}; " + (f"pinned: detector on core(s) {pinned['detector']}, the rest on {pinned['others']}" if pinned else "not pinned"))
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"live rate (cleaner {res['refiner']}) per pass {fmt(res['live_passes_fps'])} frames/s; detector alone per pass "
          f"{fmt(res['detector_alone_passes_fps'])}; ratio per round {fmt(res['rate_ratio_per_round'])}, median "
          f"{res['rate_ratio']:.3f} (goal >= 0.95); {res['dropped_at_handoff']} dropped at the hand-over")  # fmt: skip
    print(f"share of each pipeline pass the detector waited for the cleaner: {fmt(res['detector_waited_for_cleaner'])}")
    used = res["cpu_cores_used"]
    print(f"CPU cores the process got: pipeline {fmt(used['pipeline_passes'])}, detector alone {fmt(used['detector_alone_passes'])}")
    per_cpu = res["frames_per_cpu_second"]
    print(f"frames per CPU second (what a saturated machine gets): pipeline {per_cpu['pipeline']:.1f}, detector alone "
          f"{per_cpu['detector_alone']:.1f}, ratio {per_cpu['pipeline'] / per_cpu['detector_alone']:.3f}")  # fmt: skip
    load = res["load_average_1min"]
    print(f"machine load (1 min) {load['before']:.1f} before, {load['after']:.1f} after; wrote {args.json}")
    return 0
