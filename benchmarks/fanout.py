"""``skeletor bench fanout``: one real server streaming the demo source to many local clients.

For N = 1, 10, 100, 300 clients at 30 and 60 Hz: p50/p99 delivery latency (the server's
send stamp ``t_send_ns`` -> the client has the message), frames dropped per client (the
newest-frame-wins slot skips frames for clients that fall behind), and the server
process's CPU (server + publisher, % of one core). Then one stalled client (subscribes,
never reads) among 50 healthy ones: the healthy clients' p99 must stay within 1.2x of
the same run without it.

The clients run in a separate process (asyncio, one connection each), so they do not
share the server's interpreter lock; both processes share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, write_result

__all__ = ["run_fanout", "client_main", "add_bench_parser"]


def client_main(url: str, healthy: int, stalled: int, seconds: float, fmt: str = "json") -> None:
    """Run in the client process: print one JSON line with every healthy client's samples."""
    import websockets

    from skeletor.protocol import decode_frame

    async def healthy_client(out: list) -> None:
        async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
            if fmt != "json":
                await ws.send(json.dumps({"type": "subscribe", "format": fmt}))
            lat, seqs = [], []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    msg = await asyncio.wait_for(ws.recv(), end - time.monotonic())
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    break
                t = time.time_ns()
                if isinstance(msg, bytes):  # binary frame: only its fixed header is needed here
                    frame = decode_frame(msg)
                    lat.append((t - frame["t_send_ns"]) / 1e6)
                    seqs.append(frame["seq"])
                elif isinstance(msg, str):
                    obj = json.loads(msg)
                    if obj.get("type") != "frame":
                        continue
                    lat.append((t - obj["t_send_ns"]) / 1e6)
                    seqs.append(obj["seq"])
            out.append((lat, seqs))

    async def stalled_client() -> None:
        async with websockets.connect(url, max_size=None, max_queue=1, open_timeout=30):
            await asyncio.sleep(seconds + 1.0)  # never reads: its buffers fill up

    async def main() -> None:
        out: list = []
        tasks = [healthy_client(out) for _ in range(healthy)] + [stalled_client() for _ in range(stalled)]
        for r in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(r, Exception):
                print(f"client failed: {r!r}", file=sys.stderr)  # the parent reports the missing client
        print(json.dumps(out))

    asyncio.run(main())


def _frames(n: int = 300) -> list:
    """Demo-source frames through the streaming uplift (what the live tool publishes)."""
    from realtime.sources import DemoConfig, DemoSource
    from skeletor.protocol import PoseFrame
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner

    src = DemoSource(DemoConfig(paced=False, max_frames=n))
    cleaner = StreamingCleaner(CleanerConfig(refine=False))
    frames = []
    while (d := src.read(0.1)) is not None:
        for f in cleaner.push(d.keypoints, None, d.depth, d.image_size):
            frames.append(PoseFrame(seq=0, t_capture_ns=0, joints=f.pose, confidence=f.confidence, raw_joints=None))
    return frames


def _one_run(frames: list, clients: int, rate: float, seconds: float, stalled: int = 0, fmt: str = "json") -> dict:
    from dataclasses import replace

    from realtime.server import ServerConfig, ServerThread

    with ServerThread(ServerConfig(port=0, max_clients=clients + stalled + 10), fps=rate) as server:
        proc = subprocess.Popen(
            [sys.executable, "-c", f"from benchmarks.fanout import client_main; client_main({server.url!r}, {clients}, {stalled}, {seconds}, {fmt!r})"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while server.server.num_clients < clients + stalled and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        stop = threading.Event()
        published = [0]

        def publish() -> None:
            period = 1.0 / rate
            nxt = time.monotonic()
            i = 0
            while not stop.is_set():
                f = frames[i % len(frames)]
                server.publish(replace(f, seq=i, t_capture_ns=time.time_ns()))
                i += 1
                published[0] = i
                nxt += period
                time.sleep(max(0.0, nxt - time.monotonic()))

        cpu0, t0 = time.process_time(), time.monotonic()
        th = threading.Thread(target=publish, daemon=True)
        th.start()
        out, _ = proc.communicate(timeout=seconds + 90)
        stop.set()
        th.join(2)
        cpu = (time.process_time() - cpu0) / max(time.monotonic() - t0, 1e-9)
    samples = json.loads(out.strip().splitlines()[-1]) if out.strip() else []
    lat = [x for s, _ in samples for x in s]
    dropped = []
    for _, seqs in samples:
        if len(seqs) > 1:
            dropped.append((max(seqs) - min(seqs) + 1) - len(set(seqs)))
    return {"clients": clients, "stalled": stalled, "rate_hz": rate, "seconds": seconds, "format": fmt, "connected": len(samples),
            "latency_ms": percentiles(lat), "dropped_per_client": float(np.mean(dropped)) if dropped else float("nan"),
            "frames_per_client": float(np.mean([len(s) for s, _ in samples])) if samples else 0.0,
            "published": published[0], "server_cpu_pct": 100 * cpu}  # fmt: skip


def run_fanout(
    clients: tuple[int, ...] = (1, 10, 100, 300),
    rates: tuple[float, ...] = (30.0, 60.0),
    seconds: float = 3.0,
    healthy: int = 50,
    fmt: str = "json",
) -> dict:
    """Every (clients, rate) run, then one stalled client among ``healthy`` ones at 30 Hz.

    ``fmt``: what the clients subscribe to, ``"json"`` (the default stream) or ``"binary"``
    (the fixed-layout frames: far cheaper for the clients to read).
    """
    frames = _frames()
    runs = [_one_run(frames, n, r, seconds, fmt=fmt) for r in rates for n in clients]
    base = _one_run(frames, healthy, 30.0, seconds, fmt=fmt)
    stall = _one_run(frames, healthy, 30.0, seconds, stalled=1, fmt=fmt)
    ratio = stall["latency_ms"]["p99"] / base["latency_ms"]["p99"]
    return {"runs": runs, "stalled": {"without": base, "with": stall, "p99_ratio": ratio, "goal": "<= 1.2"}}


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench fanout``."""
    p = sub.add_parser("fanout", help="websocket fan-out: latency vs clients, stalled client", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--clients", type=int, nargs="+", default=[1, 10, 100, 300])
    p.add_argument("--rates", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--format", choices=("json", "binary"), default="json", help="what the clients subscribe to (default json)")
    p.add_argument("--json", type=Path, default=RESULTS / "fanout.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_fanout(tuple(args.clients), tuple(args.rates), args.seconds, fmt=args.format)
    write_result(args.json, res)
    print(f"{'clients':>7s} {'Hz':>4s} {'p50 ms':>7s} {'p99 ms':>7s} {'dropped':>8s} {'cpu %':>6s}")
    for r in res["runs"]:
        print(f"{r['clients']:7d} {r['rate_hz']:4.0f} {r['latency_ms']['p50']:7.2f} {r['latency_ms']['p99']:7.2f} "
              f"{r['dropped_per_client']:8.1f} {r['server_cpu_pct']:6.0f}")  # fmt: skip
    s = res["stalled"]
    print(f"stalled client among 50: healthy p99 {s['with']['latency_ms']['p99']:.2f} ms vs {s['without']['latency_ms']['p99']:.2f} ms "
          f"without (ratio {s['p99_ratio']:.2f}, goal <= 1.2); wrote {args.json}")  # fmt: skip
    return 0
