"""``skeletor bench latency``: per-stage latency of the live pipeline on a real video.

Runs the real pipeline (threaded capture -> MediaPipe -> streaming uplift -> refiner ->
websocket server) with one real websocket client on loopback, and reports p50/p95/p99 in
ms for each stage: decode, detect, uplift, refine, encode, send, and end to end (capture
-> the client has the last byte). ``overhead_ratio`` = (uplift + refine + encode) p50 /
detect p50, measured in the same run: what our stages add on top of MediaPipe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def run_latency(video: Path, frames: int = 200, realtime: bool = False, cleaner_config: CleanerConfig | None = None) -> dict:
    """Run the pipeline on ``video`` and return the per-stage statistics.

    Args:
        cleaner_config: the cleaner's settings; None = ``skeletor-live``'s defaults (built
            from its option parser, so the benchmark measures what the live tool ships).
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
    source = CaptureSource(video, HolisticDetector(), realtime=realtime, loop=True)
    cleaner = StreamingCleaner(cleaner_config)
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "uplift", "refine", "encode")}

    def stamp(frame) -> None:
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
        pipe = LivePipeline(source, PipelineConfig(max_frames=frames + 10), [server.publish, stamp], None, cleaner)
        pipe.start()
        pipe.wait(600)
        done.set()
        th.join(5)
        pipe.stop()
    skip = 10  # warm-up frames (graph initialisation, first windows)
    result = {k: percentiles(v[skip:]) for k, v in stages.items()}
    recv = received[skip:]
    result["send"] = percentiles([(t - ts) / 1e6 for t, ts, _, _ in recv])
    result["end_to_end"] = percentiles([(t - tc) / 1e6 for t, _, tc, _ in recv])
    ours = result["uplift"]["p50"] + result["refine"]["p50"] + result["encode"]["p50"]
    return {
        "video": str(video), "frames": len(recv), "mode": "realtime" if realtime else "as fast as possible",
        "refiner": "on" if refine else "off", "stages_ms": result,
        "runtime": {"provider": cleaner.refiner.providers[0] if cleaner.refiner is not None else None,
                    "threads": cleaner_config.runtime.threads},
        "overhead_ratio": ours / result["detect"]["p50"], "dropped_by_source": source.dropped,
    }  # fmt: skip


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench latency``."""
    p = sub.add_parser("latency", help="per-stage latency of the live pipeline on a video", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--realtime", action="store_true", help="pace at the video's fps (default: as fast as possible)")
    add_cleanup_options(p.add_argument_group("cleanup (as skeletor-live; same defaults)"))
    p.add_argument("--json", type=Path, default=RESULTS / "latency.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_latency(args.video, args.frames, args.realtime, cleaner_config(args))
    write_result(args.json, res)
    print(f"{'stage':12s} {'p50':>8s} {'p95':>8s} {'p99':>8s}  (ms)")
    for k, v in res["stages_ms"].items():
        print(f"{k:12s} {v['p50']:8.2f} {v['p95']:8.2f} {v['p99']:8.2f}")
    print(f"overhead_ratio (uplift+refine+encode)/detect = {res['overhead_ratio']:.3f}; wrote {args.json}")
    return 0
