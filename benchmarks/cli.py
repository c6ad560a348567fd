"""``skeletor bench``: latency, refiner backends, websocket fan-out, throughput, accuracy, real video, rig, soak, several people, downstream probe, real detector noise, refiner files side by side, plots.

Each subcommand writes JSON (with machine, versions and date) to ``benchmarks/results/``;
``skeletor bench plot`` draws the PNG figures from them. BENCHMARKS.md explains the numbers.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["add_parser"]

_SUBCOMMANDS = (
    "benchmarks.latency",
    "benchmarks.refiner_bench",
    "benchmarks.fanout",
    "benchmarks.throughput",
    "benchmarks.accuracy",
    "benchmarks.rig",
    "benchmarks.soak",
    "benchmarks.people",
    "benchmarks.ray_clean",
    "benchmarks.relay",
    "benchmarks.real",
    "benchmarks.probe",
    "benchmarks.noise",
    "benchmarks.weights",
    "benchmarks.plot",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and its subcommands on the ``skeletor`` parser."""
    p = sub.add_parser("bench", help="measure latency, throughput, fan-out and accuracy", description=__doc__)
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    for name in _SUBCOMMANDS:
        importlib.import_module(name).add_bench_parser(bsub)
