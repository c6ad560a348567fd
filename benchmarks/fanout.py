"""``skeletor bench fanout``: one real server streaming the demo source to many local clients.

For N = 1, 10, 100, 300 clients at 30 and 60 Hz:

- the server's own time (``server_ms``): from ``publish`` (the frame stamped) to the last
  client's send returning, per frame (``ServerStats.fanout_ms``): what the server adds,
  whatever the clients do (for a client that stops reading, until its socket takes the
  frame); ``server_pass_ms``, from ``publish`` to the end of the event loop's pass, when
  every client that keeps up has been written the frame (``ServerStats.fanout_pass_ms``: the
  server's own work and waits, none of the clients'); ``server_wait_ms``, the part of it
  before the pass starts (the hand-over from the publishing thread); and
  ``server_cpu_ms``, the event loop's CPU time for its pass over the clients
  (``ServerStats.fanout_cpu_ms``), which waiting for a busy core does not inflate;
- client-side latency (``latency_ms``): the server's send stamp ``t_send_ns`` -> the client
  has the message, and ``end_to_end_ms``: publish -> the client has it;
- frames dropped per client (the newest-frame-wins slot skips frames for clients that fall
  behind), and the server process's CPU (server + publisher, % of one core);
- what else ran: the machine's busy cores during the run split into this server process,
  the client processes and everything else (``machine``, from ``/proc``; Linux only), and
  the server process's garbage collections (count, longest pause).

Then one stalled client (subscribes, never reads) among 50 healthy ones: the healthy
clients' p99 must stay within 1.2x of the same run without it.

The clients are light: asyncio connections in separate processes (``--client-procs``,
spread evenly), reading only ``seq`` and the two stamps of each frame (no JSON parse of the
joints), so they do not share the server's interpreter lock; all processes share this
machine's cores. ``--client-nice N`` runs the client processes at nice N: the server then
gets a core before its own load generator does, as it would with its clients on other
machines (other processes on the machine are not affected). Each client times ``seconds``
from its first frame, and the publisher stops after ``seconds``, so every client sees the
same frames.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, process_cpu_ticks, write_result

__all__ = ["run_fanout", "client_main", "add_bench_parser"]


def _json_int(text: str, key: str) -> int:
    """The integer value of ``"key":`` in a frame's JSON text (frames put seq and the stamps first)."""
    i = text.index(key) + len(key) + 1  # past the colon
    j = text.index(",", i)
    return int(text[i:j])


def client_main(url: str, healthy: int, stalled: int, seconds: float, fmt: str = "json", nice: int = 0) -> None:
    """Run in a client process at niceness ``nice``: print one JSON line with every healthy client's samples."""
    import websockets

    if hasattr(os, "sched_setscheduler"):  # the normal scheduler, whatever the server runs under (e.g. chrt)
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, 0, nice)  # absolute: the same whatever the server's own niceness

    from skeletor.protocol import BINARY_HEADER

    async def healthy_client(out: list) -> None:
        async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
            if fmt != "json":
                await ws.send(json.dumps({"type": "subscribe", "format": fmt}))
            lat, e2e, seqs = [], [], []
            end = None
            while end is None or time.monotonic() < end:
                try:
                    msg = await asyncio.wait_for(ws.recv(), 30.0 if end is None else end - time.monotonic())
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    break
                t = time.time_ns()
                if isinstance(msg, bytes):  # binary frame: only its fixed header is read here
                    head = np.frombuffer(msg, BINARY_HEADER, count=1)[0]
                    seq, t_send, t_capture = int(head["seq"]), int(head["t_send_ns"]), int(head["t_capture_ns"])
                elif msg.startswith('{"type":"frame"'):
                    seq, t_send, t_capture = _json_int(msg, '"seq"'), _json_int(msg, '"t_send_ns"'), _json_int(msg, '"t_capture_ns"')
                else:
                    continue
                if end is None:
                    end = time.monotonic() + seconds
                lat.append((t - t_send) / 1e6)
                e2e.append((t - t_capture) / 1e6)
                seqs.append(seq)
            out.append((lat, e2e, seqs))

    async def stalled_client() -> None:
        async with websockets.connect(url, max_size=None, max_queue=1, open_timeout=60):
            await asyncio.sleep(seconds + 5.0)  # never reads: its buffers fill up

    async def main() -> None:
        out: list = []
        tasks = [healthy_client(out) for _ in range(healthy)] + [stalled_client() for _ in range(stalled)]
        for r in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(r, Exception):
                print(f"client failed: {r!r}", file=sys.stderr)  # the parent reports the missing client
        print(json.dumps(out))

    asyncio.run(main())


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from ``/proc/stat`` ((0, 0) where there is none)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(v) - v[3] - v[4], sum(v)  # idle and iowait are not busy


def _process_ticks(pid: int) -> int:
    """User + system clock ticks of process ``pid`` (all its threads) so far; 0 if unknown."""
    try:
        return process_cpu_ticks(pid)
    except (OSError, ValueError, IndexError):
        return 0


class _GcWatch:
    """Garbage collections in this process while active: count and the longest pause (ms)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._t0 = 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            self.pauses.append((time.perf_counter_ns() - self._t0) / 1e6)

    def __enter__(self) -> _GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


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


def _split(n: int, parts: int) -> list[int]:
    """``n`` spread as evenly as possible over ``parts`` (no zeros unless n < parts)."""
    return [n // parts + (i < n % parts) for i in range(parts) if n // parts + (i < n % parts) > 0]


def _one_run(frames: list, clients: int, rate: float, seconds: float, stalled: int = 0, fmt: str = "json", client_procs: int = 2,
             client_nice: int = 0) -> dict:  # fmt: skip
    from dataclasses import replace

    from realtime.server import ServerConfig, ServerThread

    with ServerThread(ServerConfig(port=0, max_clients=clients + stalled + 10), fps=rate) as server:
        procs = []
        for i, n in enumerate(_split(clients, client_procs)):
            s = stalled if i == 0 else 0
            code = f"from benchmarks.fanout import client_main; client_main({server.url!r}, {n}, {s}, {seconds}, {fmt!r}, {client_nice})"
            procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 90
        while server.server.num_clients < clients + stalled and time.monotonic() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.05)
        published = [0]

        def publish() -> None:
            period = 1.0 / rate
            nxt = t_end = time.monotonic()
            t_end += seconds + 0.5  # clients time `seconds` from their first frame
            i = 0
            while time.monotonic() < t_end:
                f = frames[i % len(frames)]
                server.publish(replace(f, seq=i, t_capture_ns=time.time_ns()))
                i += 1
                published[0] = i
                nxt += period
                time.sleep(max(0.0, nxt - time.monotonic()))

        cpu0, t0 = time.process_time(), time.monotonic()
        busy0, total0 = _machine_ticks()
        ours0 = [_process_ticks(os.getpid())] + [_process_ticks(p.pid) for p in procs]
        with _GcWatch() as gcw:
            th = threading.Thread(target=publish, daemon=True)
            th.start()
            th.join()
        busy1, total1 = _machine_ticks()
        ours1 = [_process_ticks(os.getpid())] + [_process_ticks(p.pid) for p in procs]
        wall = max(time.monotonic() - t0, 1e-9)
        cpu = (time.process_time() - cpu0) / wall
        machine = _machine_share(busy1 - busy0, total1 - total0, ours1[0] - ours0[0], sum(ours1[1:]) - sum(ours0[1:]))
        server_ms = server.call(lambda: list(server.server.stats.fanout_ms))
        server_pass_ms = server.call(lambda: list(getattr(server.server.stats, "fanout_pass_ms", [])))  # not in older servers
        server_wait_ms = server.call(lambda: list(getattr(server.server.stats, "fanout_wait_ms", [])))
        server_cpu_ms = server.call(lambda: list(server.server.stats.fanout_cpu_ms))
        outs = [p.communicate(timeout=seconds + 120)[0] for p in procs]
    samples = [x for out in outs if out.strip() for x in json.loads(out.strip().splitlines()[-1])]
    lat = [x for s, _, _ in samples for x in s]
    e2e = [x for _, s, _ in samples for x in s]
    dropped = []
    for _, _, seqs in samples:
        if len(seqs) > 1:
            dropped.append((max(seqs) - min(seqs) + 1) - len(set(seqs)))
    skip = 5  # the first frames: clients still settling
    return {"clients": clients, "stalled": stalled, "rate_hz": rate, "seconds": seconds, "format": fmt,
            "client_processes": len(procs), "connected": len(samples),
            "client_nice": client_nice,
            "server_ms": percentiles(server_ms[skip:]), "server_pass_ms": percentiles(server_pass_ms[skip:]),
            "server_wait_ms": percentiles(server_wait_ms[skip:]),
            "server_cpu_ms": percentiles(server_cpu_ms[skip:]), "latency_ms": percentiles(lat), "end_to_end_ms": percentiles(e2e),
            "dropped_per_client": float(np.mean(dropped)) if dropped else float("nan"),
            "frames_per_client": float(np.mean([len(s) for s, _, _ in samples])) if samples else 0.0,
            "published": published[0], "server_cpu_pct": 100 * cpu, "machine": machine,
            "gc": {"collections": len(gcw.pauses), "longest_ms": max(gcw.pauses, default=0.0)}}  # fmt: skip


def _scheduler() -> str:
    """This process's scheduling policy, e.g. ``SCHED_OTHER`` or ``SCHED_FIFO 10`` (``chrt -f 10``)."""
    if not hasattr(os, "sched_getscheduler"):
        return "unknown"
    policy = os.sched_getscheduler(0)
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE", "SCHED_FIFO", "SCHED_RR") if hasattr(os, n)}
    name = names.get(policy, str(policy))
    return f"{name} {os.sched_getparam(0).sched_priority}" if name in ("SCHED_FIFO", "SCHED_RR") else name


def _machine_share(busy: int, total: int, server: int, clients: int) -> dict:
    """The machine's cores during a run, in cores busy: all, this server process, the client processes, everything else."""
    cores = os.cpu_count() or 1
    if total <= 0:
        nan = float("nan")
        return {"cores": cores, "busy_cores": nan, "server_process_cores": nan, "client_processes_cores": nan, "other_cores": nan}
    per_core_tick = total / cores  # ticks one core gives in the run
    busy_c, server_c, clients_c = busy / per_core_tick, server / per_core_tick, clients / per_core_tick
    return {"cores": cores, "busy_cores": busy_c, "server_process_cores": server_c, "client_processes_cores": clients_c,
            "other_cores": max(0.0, busy_c - server_c - clients_c)}  # fmt: skip


def run_fanout(
    clients: tuple[int, ...] = (1, 10, 100, 300),
    rates: tuple[float, ...] = (30.0, 60.0),
    seconds: float = 3.0,
    healthy: int = 50,
    fmt: str = "json",
    client_procs: int = 2,
    stall_check: bool = True,
    client_nice: tuple[int, ...] = (0,),
) -> dict:
    """Every (clients, rate) run, then (``stall_check``) one stalled client among ``healthy`` ones at 30 Hz.

    ``fmt``: what the clients subscribe to, ``"json"`` (the default stream) or ``"binary"``
    (the fixed-layout frames: far cheaper for the clients to read). ``client_procs``: the
    processes the clients are spread over; ``client_nice``: their niceness (every run at each;
    the stalled-client check at the first).
    """
    frames = _frames()
    load_before = os.getloadavg()
    runs = [
        _one_run(frames, n, r, seconds, fmt=fmt, client_procs=client_procs, client_nice=c)
        for c in client_nice
        for r in rates
        for n in clients
    ]
    nices = " or ".join(str(c) for c in client_nice)
    setup = f"{client_procs} client process(es) at nice {nices}, asyncio, reading seq and stamps only; same machine as the server"
    result: dict = {"client_setup": setup, "server_nice": os.nice(0), "server_scheduler": _scheduler(),
                    "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]}, "runs": runs}  # fmt: skip
    if stall_check:
        base = _one_run(frames, healthy, 30.0, seconds, fmt=fmt, client_procs=client_procs, client_nice=client_nice[0])
        stall = _one_run(frames, healthy, 30.0, seconds, stalled=1, fmt=fmt, client_procs=client_procs, client_nice=client_nice[0])
        ratio = stall["latency_ms"]["p99"] / base["latency_ms"]["p99"]
        result["stalled"] = {"without": base, "with": stall, "p99_ratio": ratio, "goal": "<= 1.2"}
    return result


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench fanout``."""
    p = sub.add_parser("fanout", help="websocket fan-out: latency vs clients, stalled client", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--clients", type=int, nargs="+", default=[1, 10, 100, 300])
    p.add_argument("--rates", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--format", choices=("json", "binary"), default="json", help="what the clients subscribe to (default json)")
    p.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over (default 2)")
    p.add_argument(
        "--client-nice",
        type=int,
        nargs="+",
        default=[0],
        choices=range(0, 20),
        metavar="0-19",
        help="niceness of the client processes, one set of runs for each (default 0: the server's priority)",
    )
    p.add_argument("--no-stall-check", action="store_true", help="skip the stalled-client runs")
    p.add_argument("--json", type=Path, default=RESULTS / "fanout.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.client_procs < 1 or args.seconds <= 0 or min(args.clients) < 1 or min(args.rates) <= 0:
        print("skeletor bench fanout: --client-procs, --clients, --rates and --seconds must be positive", file=sys.stderr)
        return 2
    res = run_fanout(tuple(args.clients), tuple(args.rates), args.seconds, fmt=args.format, client_procs=args.client_procs,
                     stall_check=not args.no_stall_check, client_nice=tuple(args.client_nice))  # fmt: skip
    write_result(args.json, res)
    print(f"{'nice':>4s} {'clients':>7s} {'Hz':>4s} {'server p50':>10s} {'server p99':>10s} {'pass p99':>8s} {'wait p99':>8s} {'pass cpu p99':>12s} {'client p50':>10s} "
          f"{'client p99':>10s} {'dropped':>8s} {'cpu %':>6s} {'other cores':>11s}   (ms)")  # fmt: skip
    for r in res["runs"]:
        print(f"{r['client_nice']:4d} {r['clients']:7d} {r['rate_hz']:4.0f} {r['server_ms']['p50']:10.2f} {r['server_ms']['p99']:10.2f} {r['server_pass_ms']['p99']:8.2f} {r['server_wait_ms']['p99']:8.2f} "
              f"{r['server_cpu_ms']['p99']:12.2f} {r['latency_ms']['p50']:10.2f} {r['latency_ms']['p99']:10.2f} "
              f"{r['dropped_per_client']:8.1f} {r['server_cpu_pct']:6.0f} {r['machine']['other_cores']:11.2f}")  # fmt: skip
    if "stalled" in res:
        s = res["stalled"]
        print(f"stalled client among 50: healthy p99 {s['with']['latency_ms']['p99']:.2f} ms vs {s['without']['latency_ms']['p99']:.2f} ms "
              f"without (ratio {s['p99_ratio']:.2f}, goal <= 1.2)")  # fmt: skip
    load = res["load_average_1min"]
    print(
        f"clients: {res['client_setup']}; server at nice {res['server_nice']}, {res['server_scheduler']}; machine load (1 min) {load['before']:.1f} before, {load['after']:.1f} after; wrote {args.json}"
    )
    return 0
