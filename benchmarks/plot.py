"""``skeletor bench plot``: PNG figures from the JSON results (needs matplotlib: the ``plots`` extra).

* ``latency_stages.png``: p50 (bar) and p95 (whisker) per pipeline stage.
* ``fanout.png``: client-side latency p50/p99 and the server's own p99 against the number
  of clients, per rate.
* ``accuracy_lookahead.png``: N-MPJPE and acceleration error against lookahead (delay),
  from ``accuracy_curve.json`` (``skeletor bench accuracy --lookaheads 0 2 4 8 --json ...``)
  or else ``accuracy.json``.
* ``real_clip_lengths.png``: arm bone lengths frame by frame on a real MediaPipe clip
  (``real_clip_trace`` of ``accuracy.json``): how the rig's lengths settle.
* ``real_video_lag.png``: jitter against lag on each real video (``real.json``, ``skeletor
  bench real``): MediaPipe's world landmarks and our causal output, each through One Euro
  filters of rising strength.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS

__all__ = ["plot_all", "add_bench_parser"]


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def plot_all(results: Path = RESULTS) -> list[Path]:
    """Draw every figure whose input JSON exists; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    lat = _load(results / "latency.json")
    if lat:
        stages = lat["stages_ms"]
        names = list(stages)
        p50 = [stages[n]["p50"] for n in names]
        p95 = [stages[n]["p95"] for n in names]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(names, p50, color="#4c8bf5")
        ax.errorbar(names, p50, yerr=[[0] * len(names), [b - a for a, b in zip(p50, p95)]], fmt="none", ecolor="k", capsize=4)
        ax.set_yscale("log")
        ax.set_ylabel("ms (p50 bar, p95 whisker)")
        ax.set_title(f"Live pipeline per stage ({lat['mode']}); overhead ratio {lat['overhead_ratio']:.3f}")
        fig.tight_layout()
        fig.savefig(results / "latency_stages.png", dpi=110)
        written.append(results / "latency_stages.png")
    fan = _load(results / "fanout.json")
    if fan:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for rate in sorted({r["rate_hz"] for r in fan["runs"]}):
            runs = [r for r in fan["runs"] if r["rate_hz"] == rate]
            n = [r["clients"] for r in runs]
            ax.plot(n, [r["latency_ms"]["p99"] for r in runs], "o-", label=f"{rate:.0f} Hz client p99")
            ax.plot(n, [r["latency_ms"]["p50"] for r in runs], "o--", label=f"{rate:.0f} Hz client p50")
            if all("server_ms" in r for r in runs):  # the server's own time: publish -> last send returned
                ax.plot(n, [r["server_ms"]["p99"] for r in runs], "s-", label=f"{rate:.0f} Hz server p99")
        ax.axhline(5.0, color="grey", lw=0.8, ls=":", label="goal: server p99 5 ms at 100 clients, 30 Hz")
        ax.set_xscale("log")
        ax.set_xlabel("websocket clients")
        ax.set_ylabel("ms")
        ax.legend(fontsize=7)
        ax.set_title("Fan-out on loopback")
        fig.tight_layout()
        fig.savefig(results / "fanout.png", dpi=110)
        written.append(results / "fanout.png")
    acc = _load(results / "accuracy_curve.json") or _load(results / "accuracy.json")
    if acc and acc.get("lookahead_curve"):
        curve = acc["lookahead_curve"]
        ks = sorted(int(k) for k in curve)
        series: dict[str, list[tuple[int, float, float]]] = {}
        for k in ks:
            for name, r in curve[str(k)].items():
                base = name.split(",")[0].split(" window")[0]
                series.setdefault(base, []).append((k, r["n_mpjpe_mm"], r["accel_mm"]))
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        for name, pts in series.items():
            a1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
            a2.plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=name)
        for name in ("flat", "streaming + One Euro (tuned)"):
            if name in acc["methods"]:
                a1.axhline(acc["methods"][name]["n_mpjpe_mm"], ls=":", lw=0.8, color="grey")
                a1.text(ks[-1], acc["methods"][name]["n_mpjpe_mm"], name, fontsize=7, ha="right", va="bottom")
        a1.set_xlabel("lookahead (frames of delay at 30 fps)")
        a1.set_ylabel("N-MPJPE, mm")
        a2.set_xlabel("lookahead (frames)")
        a2.set_ylabel("acceleration error, mm/frame^2")
        a2.set_yscale("log")
        a1.legend(fontsize=7)
        fig.suptitle("Accuracy vs latency (Bandai test split)")
        fig.tight_layout()
        fig.savefig(results / "accuracy_lookahead.png", dpi=110)
        written.append(results / "accuracy_lookahead.png")
    trace = (_load(results / "accuracy.json") or {}).get("real_clip_trace")
    if trace:
        bones = list(next(iter(trace["series"].values())))
        fig, axes = plt.subplots(1, len(bones), figsize=(5 * len(bones), 3.4), squeeze=False)
        for ax, bone in zip(axes[0], bones):
            for k, (name, by_bone) in enumerate(trace["series"].items()):
                t = [i / trace["fps"] for i in range(len(by_bone[bone]))]
                style = {"lw": 4, "alpha": 0.35} if k == 0 else {"lw": 1.3, "ls": "--" if k == 1 else "-"}  # the first under the others
                ax.plot(t, [100 * x for x in by_bone[bone]], label=name.replace("streaming + ", "+ "), **style)
            ax.set_xlabel("seconds")
            ax.set_ylabel(f"{bone}, cm")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Arm bone lengths as cleaned, real MediaPipe clip {trace['clip']}")
        fig.tight_layout()
        fig.savefig(results / "real_clip_lengths.png", dpi=110)
        written.append(results / "real_clip_lengths.png")
    real = _load(results / "real.json")
    videos = {k: v for k, v in (real or {}).get("clips", {}).items() if v["kind"] == "video"}
    if videos:
        fig, axes = plt.subplots(1, len(videos), figsize=(4.6 * len(videos), 3.6), squeeze=False)
        for ax, (name, clip) in zip(axes[0], videos.items()):
            for family, colour in (("ours: causal", "#d9534f"), ("MediaPipe world landmarks", "#4c8bf5")):
                rows = {n: r for n, r in clip["rows"].items() if n.startswith(family)}
                pts = sorted((r["lag_ms_source"] or 0.0, r["jitter_mm"]) for r in rows.values())
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour, label=f"{family} (+ One Euro)")
            off = clip["rows"].get("ours: offline (skeletor clean --offline)")
            if off:
                ax.plot([0], [off["jitter_mm"]], "k*", label="ours: offline (not live)")
            ax.set_yscale("log")
            ax.set_xlabel("lag behind its own unsmoothed 3D, ms")
            ax.set_ylabel("jitter, mm/frame^2")
            ax.set_title(name)
        axes[0][0].legend(fontsize=7)
        fig.suptitle("Real video: smoothness against lag")
        fig.tight_layout()
        fig.savefig(results / "real_video_lag.png", dpi=110)
        written.append(results / "real_video_lag.png")
    return written


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench plot``."""
    p = sub.add_parser("plot", help="draw PNG figures from benchmarks/results/*.json", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--results", type=Path, default=RESULTS)
    p.set_defaults(run=lambda args: (print("\n".join(f"wrote {p}" for p in plot_all(args.results)) or "nothing to plot"), 0)[1])
