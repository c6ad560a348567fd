"""``skeletor bench latency``: per-stage latency and rate of the live pipeline on a real video.

Runs the real pipeline (threaded capture -> MediaPipe (detect thread) -> streaming uplift ->
refiner (clean thread) -> websocket server) with one real websocket client on loopback, and
reports p50/p95/p99 in ms for each stage: decode, detect, uplift, refine, encode, send, and
end to end (capture -> the client has the last byte). ``overhead_ratio`` = (uplift + refine
+ encode) p50 / detect p50, measured in the same run: what our stages add on top of MediaPipe.

Rates, same run: ``live_fps`` is the pipeline's output rate (cleaned frames a second, the
cleaner on); ``detector_alone_fps`` the rate of the same capture + MediaPipe with nothing
else running, measured in a pass before and a pass after the pipeline (their mean);
``rate_ratio`` = live / detector alone (goal >= 0.95: the cleaner runs beside the detector
and costs the live rate nothing). Paced (``--realtime``) both are the video's frame rate
when the detector keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import RESULTS, percentiles, write_result
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


def _rate(times: list[float]) -> float:
    """Events a second from their monotonic times (NaN with fewer than two)."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")


def detector_alone_fps(video: Path, frames: int, realtime: bool = False, skip: int = 10) -> tuple[float, float]:
    """Capture + MediaPipe Holistic alone (no cleaner, no server) on ``video``.

    Returns:
        Detections a second, and the CPU cores the process used meanwhile (CPU s / wall s;
        on a machine shared with other work, what it got).
    """
    from realtime.detectors.holistic import HolisticDetector
    from realtime.sources import CaptureSource

    source = CaptureSource(video, HolisticDetector(), realtime=realtime, loop=True)
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


def run_latency(
    video: Path, frames: int = 200, realtime: bool = False, cleaner_config: CleanerConfig | None = None, detector_passes: bool = True
) -> dict:
    """Run the pipeline on ``video`` and return the per-stage statistics and rates.

    Args:
        cleaner_config: the cleaner's settings; None = ``skeletor-live``'s defaults (built
            from its option parser, so the benchmark measures what the live tool ships).
        detector_passes: also time the detector alone, before and after the pipeline.
    """
    from realtime.detectors.holistic import HolisticDetector
    from realtime.pipeline import LivePipeline, PipelineConfig
    from realtime.server import ServerConfig, ServerThread
    from realtime.sources import CaptureSource
    from skeletor.protocol import encode_frame
    from skeletor.cleaner.stream import StreamingCleaner

    if cleaner_config is None:
        from realtime.cli import build_parser
        from skeletor.cleaner.cli import cleaner_config as from_options

        cleaner_config = from_options(build_parser().parse_args([]))
    refine = cleaner_config.refine
    skip = 10  # warm-up frames (graph initialisation, first windows)
    load_before = os.getloadavg()[0]
    alone = [detector_alone_fps(video, frames, realtime, skip)] if detector_passes else []
    source = CaptureSource(video, HolisticDetector(), realtime=realtime, loop=True)
    cleaner = StreamingCleaner(cleaner_config)
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "uplift", "refine", "encode")}
    out_t: list[float] = []

    cpu_at: list[float] = []

    def stamp(frame) -> None:
        out_t.append(time.monotonic())
        if len(out_t) in (skip + 1, frames + skip):
            cpu_at.append(time.process_time())
        for k in ("decode", "detect", "uplift", "refine"):
            stages[k].append(frame.latency_ms.get(k, float("nan")))
        t0 = time.perf_counter()
        encode_frame(frame, "json", ("joints", "confidence"), time.time_ns())
        stages["encode"].append(1000 * (time.perf_counter() - t0))

    received: list = []
    with ServerThread(ServerConfig(port=0), fps=source.fps) as server:
        ready, done = threading.Event(), threading.Event()
        th = threading.Thread(target=_client, args=(server.url, frames, received, ready, done), daemon=True)
        th.start()
        ready.wait(10)
        pipe = LivePipeline(source, PipelineConfig(max_frames=frames + skip), [server.publish, stamp], None, cleaner)
        pipe.start()
        pipe.wait(600)
        done.set()
        th.join(5)
        pipe.stop()
    if detector_passes:
        alone.append(detector_alone_fps(video, frames, realtime, skip))
    result = {k: percentiles(v[skip:]) for k, v in stages.items()}
    recv = received[skip:]
    result["send"] = percentiles([(t - ts) / 1e6 for t, ts, _, _ in recv])
    result["end_to_end"] = percentiles([(t - tc) / 1e6 for t, _, tc, _ in recv])
    ours = result["uplift"]["p50"] + result["refine"]["p50"] + result["encode"]["p50"]
    live = _rate(out_t[skip:])
    alone_fps = sum(fps for fps, _ in alone) / len(alone) if alone else float("nan")
    cores = (cpu_at[-1] - cpu_at[0]) / (out_t[-1] - out_t[skip]) if len(cpu_at) == 2 and len(out_t) > skip + 1 else float("nan")
    st = pipe.stats
    return {
        "video": str(video), "frames": len(recv), "mode": "realtime" if realtime else "as fast as possible",
        "refiner": "on" if refine else "off", "stages_ms": result,
        "runtime": {"provider": cleaner.refiner.providers[0] if cleaner.refiner is not None else None,
                    "threads": cleaner_config.runtime.threads},
        "overhead_ratio": ours / result["detect"]["p50"], "dropped_by_source": source.dropped,
        "live_fps": live, "detector_alone_fps": alone_fps, "detector_alone_passes_fps": [fps for fps, _ in alone],
        "cpu_cores_used": {"pipeline": cores, "detector_alone_passes": [c for _, c in alone]},
        "rate_ratio": live / alone_fps if alone else float("nan"), "rate_goal": ">= 0.95",
        "dropped_at_handoff": st.handoff_dropped, "frames_skipped": st.frames_skipped,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    }  # fmt: skip


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench latency``."""
    p = sub.add_parser("latency", help="per-stage latency of the live pipeline on a video", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--realtime", action="store_true", help="pace at the video's fps (default: as fast as possible)")
    p.add_argument("--no-detector-pass", action="store_true", help="skip timing the detector alone (rate_ratio is then not measured)")
    add_cleanup_options(p.add_argument_group("cleanup (as skeletor-live; same defaults)"))
    p.add_argument("--json", type=Path, default=RESULTS / "latency.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.frames < 2:
        print("skeletor bench latency: --frames must be at least 2", file=sys.stderr)
        return 2
    if not args.video.is_file():
        print(f"skeletor bench latency: {args.video}: no such video", file=sys.stderr)
        return 2
    res = run_latency(args.video, args.frames, args.realtime, cleaner_config(args), detector_passes=not args.no_detector_pass)
    write_result(args.json, res)
    print(f"{'stage':12s} {'p50':>8s} {'p95':>8s} {'p99':>8s}  (ms)")
    for k, v in res["stages_ms"].items():
        print(f"{k:12s} {v['p50']:8.2f} {v['p95']:8.2f} {v['p99']:8.2f}")
    print(f"overhead_ratio (uplift+refine+encode)/detect = {res['overhead_ratio']:.3f}")
    print(f"live rate {res['live_fps']:.1f} frames/s (cleaner {res['refiner']}), detector alone {res['detector_alone_fps']:.1f} "
          f"(passes before/after: {', '.join(f'{x:.1f}' for x in res['detector_alone_passes_fps'])}): ratio {res['rate_ratio']:.3f} "
          f"(goal >= 0.95); {res['dropped_at_handoff']} dropped at the hand-over")  # fmt: skip
    used = res["cpu_cores_used"]
    print(f"CPU cores the process got: pipeline {used['pipeline']:.2f}, detector alone "
          f"{', '.join(f'{c:.2f}' for c in used['detector_alone_passes'])}")  # fmt: skip
    load = res["load_average_1min"]
    print(f"machine load (1 min) {load['before']:.1f} before, {load['after']:.1f} after; wrote {args.json}")
    return 0
