"""``skeletor bench relay``: 1 publisher -> Redis -> 2 relays x 100 clients on this machine, and 10 relays on paper.

A publisher (``--publish``'s sink behind its background thread, as ``skeletor-live`` runs
it) puts demo-source frames on a loopback ``redis-server`` at 30 Hz, stamped with
``t_capture_ns`` when handed to the sink; two ``skeletor relay`` processes (the real CLI)
serve them; one client process per relay opens 100 websocket clients. Per client message:
delivery = publisher hands the frame over -> the client has it (``t_capture_ns``), and the
relay's own hop = the relay encodes it -> the client has it (``t_send_ns``, as
``skeletor bench fanout`` measures a server). Also: frames per client against frames
published, the CPU of each relay and of Redis (% of one core), and the message sizes.

Everything shares this machine's cores (2 here, with other work on them), so the numbers are
an upper bound of what a relay costs. ``relays_on_paper`` scales them to 10 relays on 10
machines (the assumptions are stored with the result). Needs Debian's ``redis-server`` and
the ``redis`` package (extra ``[cluster]``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, process_cpu_seconds, write_result

__all__ = ["run_relay_bench", "relays_on_paper", "relay_client_main", "add_bench_parser"]

REPO = Path(__file__).resolve().parents[1]


def relay_client_main(url: str, clients: int, seconds: float, fmt: str = "json") -> None:
    """Run in a client process: ``clients`` connections for ``seconds``; print one JSON line of samples.

    Each client's samples: (delivery ms from ``t_capture_ns``, hop ms from ``t_send_ns``, seq).
    """
    import websockets

    from skeletor.protocol import BINARY_HEADER

    # Only the stamps are read (the binary header; the first keys of a JSON frame, which the
    # encoder writes first and in this order), so the load generator costs little beside the relays.
    head = re.compile(r'\{"type":"frame","seq":(\d+),"t_capture_ns":(-?\d+),"t_send_ns":(-?\d+)')

    async def client(out: list) -> None:
        async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
            if fmt != "json":
                await ws.send(json.dumps({"type": "subscribe", "format": fmt}))
            samples = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    msg = await asyncio.wait_for(ws.recv(), end - time.monotonic())
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    break
                t = time.time_ns()
                if isinstance(msg, bytes):
                    h = np.frombuffer(msg, dtype=BINARY_HEADER, count=1)[0]
                    samples.append(((t - int(h["t_capture_ns"])) / 1e6, (t - int(h["t_send_ns"])) / 1e6, int(h["seq"])))
                elif (m := head.match(msg)) is not None:
                    samples.append(((t - int(m.group(2))) / 1e6, (t - int(m.group(3))) / 1e6, int(m.group(1))))
            out.append(samples)

    async def main() -> None:
        out: list = []
        for r in await asyncio.gather(*(client(out) for _ in range(clients)), return_exceptions=True):
            if isinstance(r, Exception):
                print(f"client failed: {r!r}", file=sys.stderr)
        print(json.dumps(out))

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_relay(url: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "realtime.commands", "relay", url, "--port", "0", "--max-clients", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    m = re.search(r"stream (ws://\S+)", proc.stdout.readline())
    if m is None:
        proc.kill()
        raise RuntimeError("skeletor relay did not start")
    return proc, m.group(1)


def _one_run(relays: int, clients: int, rate: float, seconds: float, fmt: str) -> dict:
    from benchmarks.fanout import _frames
    from realtime.sinks import SinkContext
    from realtime.sinks.background import InBackground
    from realtime.sinks.redis import RedisPublisherSink, parse_redis_url
    from skeletor.protocol import FIELDS, Format, encode_frame

    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install -y redis-server)")
    port = _free_port()
    redis_proc = subprocess.Popen([executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"redis://127.0.0.1:{port}/bench"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs: list[subprocess.Popen[str]] = []
    frames = _frames()
    try:
        time.sleep(0.5)
        sink = RedisPublisherSink(parse_redis_url(url))
        publisher = InBackground(sink)
        publisher.open(SinkContext(fps=rate))
        relay_procs = []
        for _ in range(relays):
            proc, ws_url = _start_relay(url, env)
            relay_procs.append((proc, ws_url))
            procs.append(proc)
        warmup = 3.0 + clients / 50  # time for every client to connect before frames flow
        client_procs = [
            subprocess.Popen([sys.executable, "-c", f"from benchmarks.relay import relay_client_main; relay_client_main({ws!r}, {clients}, {warmup + seconds}, {fmt!r})"],
                             stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
            for _, ws in relay_procs
        ]
        procs += client_procs
        time.sleep(warmup)
        cpu0 = {p.pid: process_cpu_seconds(p.pid) for p in [redis_proc, *(p for p, _ in relay_procs)]}
        t0 = time.monotonic()
        published = 0
        nxt = time.monotonic()
        while time.monotonic() < t0 + seconds:
            f = frames[published % len(frames)]
            publisher.write(replace(f, seq=published, t_capture_ns=time.time_ns()))
            published += 1
            nxt += 1.0 / rate
            time.sleep(max(0.0, nxt - time.monotonic()))
        elapsed = time.monotonic() - t0
        cpu = {pid: 100 * (process_cpu_seconds(pid) - c) / elapsed for pid, c in cpu0.items()}
        outs = [p.communicate(timeout=120)[0] for p in client_procs]
        publisher.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_proc.terminate()
        redis_proc.wait(10)
    per_client = [c for out in outs if out.strip() for c in json.loads(out.strip().splitlines()[-1])]
    delivery = [s[0] for c in per_client for s in c]
    hop = [s[1] for c in per_client for s in c]
    sample = replace(frames[0], seq=1, t_capture_ns=time.time_ns())
    return {
        "relays": relays, "clients per relay": clients, "rate_hz": rate, "seconds": seconds, "format": fmt,
        "connected": len(per_client), "published": published, "published to redis": sink.published,
        "frames per client": float(np.mean([len(c) for c in per_client])) if per_client else 0.0,
        "delivery ms (publisher -> redis -> relay -> client)": percentiles(delivery),
        "relay hop ms (relay -> client)": percentiles(hop),
        "relay cpu % of a core": [cpu[p.pid] for p, _ in relay_procs], "redis cpu % of a core": cpu[redis_proc.pid],
        "bytes on redis per frame": len(encode_frame(sample, Format.BINARY, FIELDS, 0)),
        "bytes per client message": len(encode_frame(sample, fmt, ("joints", "confidence", "latency_ms"), time.time_ns())),
    }  # fmt: skip


def relays_on_paper(run: dict, fanout_300: dict | None, relays: int = 10, lan_ms: float = 0.3, link_mbit: float = 1000.0) -> dict:
    """1 publisher -> ``relays`` relays, each on its own machine, from measured per-relay numbers.

    Assumptions (stored with the result): each relay machine serves its clients as one relay
    did here, without the other processes that shared these 2 cores; Redis sends each frame
    once per relay (``relays`` x rate messages/s); one LAN hop (``lan_ms``) publisher ->
    Redis -> relay; a relay's clients are limited by its network link (``link_mbit``) and by
    what one relay process was measured to serve (``skeletor bench fanout``: 300 binary clients
    at 30 Hz kept up, p99 26 ms; the relay's own CPU, scaled linearly, allows more).

    Args:
        run: one result of this benchmark (2 relays x 100 clients).
        fanout_300: ``skeletor bench fanout --format binary``'s 300-client, 30 Hz run, if at hand.
        relays: relay machines.
        lan_ms: one-way network latency added per hop on a LAN.
        link_mbit: each relay machine's network link.

    Returns:
        Assumptions and the computed figures.
    """
    rate = run["rate_hz"]
    hop_p50 = run["relay hop ms (relay -> client)"]["p50"]
    delivery_p50 = run["delivery ms (publisher -> redis -> relay -> client)"]["p50"]
    to_relay_p50 = max(0.0, delivery_p50 - hop_p50)  # publisher -> Redis -> relay decode, measured on loopback
    per_relay_clients = 300 if fanout_300 is None else fanout_300["clients"]
    per_relay_p99 = None if fanout_300 is None else fanout_300["latency_ms"]["p99"]
    binary_bytes = run["bytes on redis per frame"]  # a binary client with every field gets about this much
    cpu = run.get("relay cpu % of a core")
    cpu_clients = int(100.0 / max(cpu) * run["clients per relay"]) if cpu and max(cpu) > 0 else None
    link_clients = int(link_mbit * 1e6 / 8 / (binary_bytes * rate))
    redis_msgs = relays * rate
    return {
        "assumptions": {"relays": relays, "one relay per machine": True, "lan one-way ms": lan_ms, "link Mbit/s": link_mbit,
                        "clients per relay (measured to keep up: bench fanout, binary, 30 Hz)": per_relay_clients,
                        "rate_hz": rate, "bytes per binary frame": binary_bytes},
        "clients in all": relays * per_relay_clients,
        "clients one relay core could send to (its CPU here, scaled linearly)": cpu_clients,
        "clients a 1 Gbit/s link carries per relay (binary, every field)": link_clients,
        "redis messages out per second": redis_msgs,
        "redis MB/s out": redis_msgs * binary_bytes / 1e6,
        "delivery p50 ms (publisher -> redis -> relay -> client)": to_relay_p50 + 2 * lan_ms + hop_p50 + lan_ms,
        "relay hop p99 ms at that many clients (bench fanout, binary)": per_relay_p99,
    }  # fmt: skip


def run_relay_bench(relays: int = 2, clients: int = 100, rate: float = 30.0, seconds: float = 5.0, formats: tuple[str, ...] = ("json", "binary")) -> dict:
    """One run per format; then the 10-relay sizing from the binary run."""
    load = os.getloadavg()[0]  # other work on this machine's cores: the numbers depend on it
    runs = [_one_run(relays, clients, rate, seconds, fmt) for fmt in formats]
    fanout_300 = None
    try:
        fanout = json.loads((RESULTS / "fanout_binary.json").read_text())
        fanout_300 = next(r for r in fanout["runs"] if r["clients"] == 300 and r["rate_hz"] == rate)
    except (OSError, ValueError, StopIteration, KeyError):
        pass
    base = next((r for r in runs if r["format"] == "binary"), runs[-1])
    return {"runs": runs, "on paper": relays_on_paper(base, fanout_300), "load average (1 min) at the start": load, "load average (1 min) at the end": os.getloadavg()[0]}


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench relay``."""
    p = sub.add_parser("relay", help="fan-out through Redis: 1 publisher -> 2 relays x 100 clients; 10 relays on paper", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--relays", type=int, default=2)
    p.add_argument("--clients", type=int, default=100, help="clients per relay (default 100)")
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--formats", nargs="+", choices=("json", "binary"), default=["json", "binary"])
    p.add_argument("--json", type=Path, default=RESULTS / "relay.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_relay_bench(args.relays, args.clients, args.rate, args.seconds, tuple(args.formats))
    write_result(args.json, res)
    for r in res["runs"]:
        d, h = r["delivery ms (publisher -> redis -> relay -> client)"], r["relay hop ms (relay -> client)"]
        print(f"{r['relays']} relays x {r['clients per relay']} clients, {r['format']}, {r['rate_hz']:.0f} Hz: delivery p50 {d['p50']:.1f} ms "
              f"p99 {d['p99']:.1f} ms; relay hop p50 {h['p50']:.1f} p99 {h['p99']:.1f} ms; {r['frames per client']:.0f} of {r['published']} "
              f"frames per client ({r['connected']} clients); relay CPU {', '.join(f'{c:.0f}' for c in r['relay cpu % of a core'])} %, "
              f"redis {r['redis cpu % of a core']:.1f} %")  # fmt: skip
    print("on paper: " + json.dumps(res["on paper"], default=float))
    print(f"wrote {args.json}")
    return 0
