"""``skeletor bench soak``: the live tool under churn for N minutes, watching for leaks and starvation.

The demo source at 30 fps through the real pipeline (streaming uplift + refiner) and the
real websocket server, in this process; in a second process (so the clients do not share
the server's interpreter lock), 20 clients churn (connect, read for 2-8 s, disconnect,
again) and 2 stalled clients subscribe and never read (raw sockets with a small receive
buffer, so their TCP windows close and the server's sends to them block).

Measured:

- the server process's resident memory (``VmRSS`` from ``/proc/self/status``) every
  ``--sample-s`` seconds; growth = the last sample minus the first one after the warm-up
  (the first tenth of the run, at least 10 s);
- the source's rate: frames the pipeline emitted per second (capture time stamps), its
  mean and its highest over any 1 s window, and the frames it dropped;
- the healthy clients: the share of the frames emitted during each of their sessions that
  they received (a ratio of counts: 1.0 = every frame), their frame rate, and the latency
  from capture to the client having the message (and from the server's send stamp),
  p50 / p99;
- the stalled clients: how long the server kept each one (its view, by the client's port).

Goals (10 minutes): RSS growth < 20 MB, the healthy clients' share >= 0.95 (their rate
within 5 % of the source's), the source never above its nominal fps.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, write_result

__all__ = ["run_soak", "client_main", "rss_mb", "add_bench_parser"]

GOALS = {"rss_growth_mb": "< 20", "healthy_share": ">= 0.95", "source_max_fps": "<= nominal fps"}


def rss_mb() -> float:
    """This process's resident set size in MB (``VmRSS`` of ``/proc/self/status``; NaN where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return float("nan")


# ------------------------------------------------------------------ the client process


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (1 = established), read without reading any data."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return 0


def client_main(url: str, churning: int, stalled: int, seconds: float, read_s: tuple[float, float] = (2.0, 8.0), seed: int = 0) -> None:
    """Run in the client process: churning and stalled clients for ``seconds``.

    Prints one JSON line ``{"stalled_ports": [...]}`` once the stalled clients are connected,
    and one JSON line with the results at the end.
    """
    import websockets

    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    rng = np.random.default_rng(seed)
    sessions: list[dict] = []
    lat_capture: list[float] = []
    lat_send: list[float] = []
    failures: list[str] = []

    async def churn(deadline: float, pause: float) -> None:
        await asyncio.sleep(pause)  # spread the first connections
        while (left := deadline - time.monotonic()) > 0.5:
            span = min(float(rng.uniform(*read_s)), left)
            seqs: list[int] = []
            t0 = time.monotonic()
            try:
                async with websockets.connect(url, open_timeout=30, max_size=None) as ws:
                    end = time.monotonic() + span
                    while (wait := end - time.monotonic()) > 0:
                        try:
                            msg = await asyncio.wait_for(ws.recv(), wait)
                        except asyncio.TimeoutError:
                            break
                        t = time.time_ns()
                        obj = json.loads(msg)
                        if obj["type"] == "frame":
                            seqs.append(obj["seq"])
                            lat_capture.append((t - obj["t_capture_ns"]) / 1e6)
                            lat_send.append((t - obj["t_send_ns"]) / 1e6)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
                failures.append(repr(e)[:200])
            sessions.append({"t": time.monotonic() - t0, "n": len(seqs), "distinct": len(set(seqs)),
                             "first": seqs[0] if seqs else None, "last": seqs[-1] if seqs else None})  # fmt: skip
            await asyncio.sleep(0.1)

    def stalled_client() -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window that fills at once
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:  # read the handshake answer only; nothing after it, ever
            head += sock.recv(1)
        return sock

    async def main() -> dict:
        stalls = [stalled_client() for _ in range(stalled)]
        print(json.dumps({"stalled_ports": [s.getsockname()[1] for s in stalls]}), flush=True)
        t_start = time.monotonic()
        deadline = t_start + seconds
        dropped_after: list[float | None] = [None] * stalled

        async def watch_stalled() -> None:
            while time.monotonic() < deadline:
                for i, s in enumerate(stalls):
                    if dropped_after[i] is None and _tcp_state(s) != 1:
                        dropped_after[i] = time.monotonic() - t_start
                await asyncio.sleep(0.5)

        await asyncio.gather(watch_stalled(), *(churn(deadline, i * read_s[0] / max(1, churning)) for i in range(churning)))
        for s in stalls:
            s.close()
        return {
            "sessions": sessions,
            "latency_capture_ms": percentiles(lat_capture),
            "latency_send_ms": percentiles(lat_send),
            "stalled_closed_after_s": dropped_after,
            "failures": failures[:20],
            "failure_count": len(failures),
        }

    print(json.dumps(asyncio.run(main())), flush=True)


# ------------------------------------------------------------------ the server process


def run_soak(
    minutes: float = 10.0,
    fps: float = 30.0,
    clients: int = 20,
    stalled: int = 2,
    sample_s: float = 5.0,
    refine: bool = True,
    ping_interval_s: float | None = None,
    progress: bool = True,
) -> dict:
    """Run the soak and return its results (see the module docstring).

    Args:
        minutes: how long the clients churn.
        fps: the demo source's rate.
        clients: churning clients.
        stalled: clients that never read.
        sample_s: seconds between memory and connection samples.
        refine: run the refiner (as ``skeletor-live`` does by default).
        ping_interval_s: the server's keepalive ping period and timeout (default: the
            server's own, 20 s).
        progress: one line per sample on stderr.
    """
    from dataclasses import replace

    from realtime.pipeline import LivePipeline, PipelineConfig
    from realtime.server import ServerConfig
    from realtime.sinks import FunctionSink
    from realtime.sinks.websocket import WebsocketSink
    from realtime.sources import DemoConfig, DemoSource
    from skeletor.cleaner.stream import CleanerConfig

    seconds = 60.0 * minutes
    emitted: list[tuple[int, int]] = []  # (seq, t_capture_ns) of every frame the pipeline emitted
    config = ServerConfig(port=0, max_clients=clients + stalled + 10)
    if ping_interval_s is not None:
        config = replace(config, ping_interval_s=ping_interval_s, ping_timeout_s=ping_interval_s)
    server = WebsocketSink(config)
    source = DemoSource(DemoConfig(fps=fps))
    pipe = LivePipeline(source, PipelineConfig(cleaner=CleanerConfig(refine=refine)), [server, FunctionSink(lambda f: emitted.append((f.seq, f.t_capture_ns)), "stamp")])
    pipe.start()
    assert server.server is not None
    url, pose_server = server.server.url, server.server.server
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from benchmarks.soak import client_main; client_main({url!r}, {clients}, {stalled}, {seconds})"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    stalled_ports = set(json.loads(proc.stdout.readline() or '{"stalled_ports": []}')["stalled_ports"])
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout.readlines()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    samples = []
    t0 = time.monotonic()
    stalled_seen_until = {p: 0.0 for p in stalled_ports}
    try:
        while proc.poll() is None and pipe.running:
            stats = server.server.call(pose_server.client_stats)
            now = time.monotonic() - t0
            ports = {int(c["peer"].rsplit(":", 1)[1]) for c in stats}
            for p in stalled_ports & ports:
                stalled_seen_until[p] = now
            samples.append({"t_s": round(now, 1), "rss_mb": round(rss_mb(), 2), "clients": len(stats),
                            "stalled_connected": len(stalled_ports & ports), "frames": pipe.stats.frames, "source_dropped": source.dropped})  # fmt: skip
            if progress:
                s = samples[-1]
                print(f"\rsoak {now:6.0f}/{seconds:.0f} s  rss {s['rss_mb']:7.1f} MB  clients {s['clients']:3d}  stalled {s['stalled_connected']}  "
                      f"frames {s['frames']}", end="", file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(sample_s)
        proc.wait(120)
        reader.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        error = pipe.error
        pipe.stop()
        if progress:
            print(file=sys.stderr)
    client = json.loads(out[-1]) if out else {"sessions": [], "failure_count": -1}
    return _summarise(minutes, fps, clients, stalled, samples, emitted, source.dropped, client, stalled_seen_until, error)


def _summarise(minutes: float, fps: float, clients: int, stalled: int, samples: list[dict], emitted: list[tuple[int, int]],
               dropped: int, client: dict, stalled_seen_until: dict[int, float], error: BaseException | None) -> dict:  # fmt: skip
    """The results: memory, the source's rate, the healthy clients' share and latency, the stalled clients."""
    seqs = [s for s, _ in emitted]
    t = np.array([c for _, c in emitted], dtype=np.int64) / 1e9
    most_1s, most_10s = _most_in_window(t, 1.0), _most_in_window(t, 10.0)
    warm = max(10.0, 0.1 * 60 * minutes)
    after_warm = [s for s in samples if s["t_s"] >= warm] or samples
    rss_growth = after_warm[-1]["rss_mb"] - after_warm[0]["rss_mb"] if after_warm else float("nan")
    got = expected = 0
    read_s = n_frames = 0.0
    for sess in client["sessions"]:
        if sess["first"] is None:
            continue
        got += sess["distinct"]
        expected += bisect_right(seqs, sess["last"]) - bisect_left(seqs, sess["first"])  # what the pipeline emitted meanwhile
        n_frames += sess["n"]
        read_s += sess["t"]
    source_fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else float("nan")
    share = got / expected if expected else float("nan")
    res = {
        "minutes": minutes,
        "clients": clients,
        "stalled": stalled,
        "error": None if error is None else repr(error),
        "rss_mb": {"first": samples[0]["rss_mb"] if samples else None, "after_warmup": after_warm[0]["rss_mb"] if after_warm else None,
                   "last": samples[-1]["rss_mb"] if samples else None, "max": max((s["rss_mb"] for s in samples), default=None),
                   "growth_after_warmup": rss_growth, "warmup_s": warm},  # fmt: skip
        "source": {"nominal_fps": fps, "mean_fps": source_fps, "most_frames_in_1s": most_1s, "most_frames_in_10s": most_10s,
                   "frames": len(t), "dropped": dropped},  # fmt: skip
        "healthy": {"sessions": len(client["sessions"]), "share_of_frames": share, "frames_per_s": n_frames / read_s if read_s else float("nan"),
                    "latency_capture_to_client_ms": client.get("latency_capture_ms"), "latency_send_to_client_ms": client.get("latency_send_ms"),
                    "connection_failures": client.get("failure_count"), "failure_examples": client.get("failures", [])[:5]},  # fmt: skip
        "stalled_clients": {"server_dropped_after_s": client.get("stalled_closed_after_s"),
                            "last_seen_connected_s": sorted(stalled_seen_until.values())},  # fmt: skip
        "samples": samples,
        "goals": GOALS,
    }
    res["verdict"] = {
        "rss_growth_ok": bool(rss_growth < 20.0),
        "healthy_share_ok": bool(share >= 0.95),
        # A window can hold one stamp more than fps x its length: a frame up to half a period
        # late keeps the schedule, so the window that starts at it also holds the on-time
        # frame one window later.
        "source_never_above_nominal": bool(most_1s <= fps + 1 and most_10s <= 10 * fps + 1),
    }
    return res


def _most_in_window(t: np.ndarray, window_s: float) -> int:
    """The most time stamps of ``t`` (sorted, seconds) in any half-open window of ``window_s`` seconds."""
    if len(t) == 0:
        return 0
    return int((np.searchsorted(t, t + window_s, side="left") - np.arange(len(t))).max())


def summary_line(res: dict) -> str:
    """One line: the headline numbers and whether each goal was met."""
    rss, src, h = res["rss_mb"], res["source"], res["healthy"]
    lat = h["latency_capture_to_client_ms"] or {}
    dropped = res["stalled_clients"]["server_dropped_after_s"] or []
    shown = ", ".join("kept" if d is None else f"{d:.0f} s" for d in dropped) or "none"
    v = res["verdict"]
    return (f"soak {res['minutes']:g} min: RSS +{rss['growth_after_warmup']:.1f} MB after warm-up ({'ok' if v['rss_growth_ok'] else 'OVER'} < 20); "
            f"source {src['mean_fps']:.2f} fps (nominal {src['nominal_fps']:g}; at most {src['most_frames_in_1s']} frames in 1 s, "
            f"{src['most_frames_in_10s']} in 10 s), dropped {src['dropped']}; "
            f"healthy clients got {h['share_of_frames']:.1%} of the frames ({'ok' if v['healthy_share_ok'] else 'UNDER'} >= 95 %), "
            f"{h['frames_per_s']:.2f} fps, capture->client p50 {lat.get('p50', float('nan')):.1f} p99 {lat.get('p99', float('nan')):.1f} ms; "
            f"stalled clients dropped after: {shown}")  # fmt: skip


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench soak``."""
    p = sub.add_parser("soak", help="the live tool under client churn for N minutes: memory, rates, latency, stalled clients",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    p.add_argument("--fps", type=float, default=30.0, help="the demo source's rate (default 30)")
    p.add_argument("--clients", type=int, default=20, help="churning clients (default 20)")
    p.add_argument("--stalled", type=int, default=2, help="clients that never read (default 2)")
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between memory samples (default 5)")
    p.add_argument("--no-refine", action="store_true", help="uplift only (default: the refiner runs, as in skeletor-live)")
    p.add_argument("--json", type=Path, default=RESULTS / "soak.json", help="where the results go (default benchmarks/results/soak.json)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.minutes <= 0 or args.fps <= 0 or args.clients < 1 or args.stalled < 0 or args.sample_s <= 0:
        print("skeletor bench soak: --minutes, --fps and --sample-s must be > 0, --clients >= 1, --stalled >= 0", file=sys.stderr)
        return 2
    res = run_soak(args.minutes, args.fps, args.clients, args.stalled, args.sample_s, refine=not args.no_refine)
    write_result(args.json, res)
    print(summary_line(res) + f"; wrote {args.json}")
    return 0 if res["error"] is None else 1
