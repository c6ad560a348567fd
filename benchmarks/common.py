"""Shared pieces of the benchmarks: environment stamp, percentiles, result files, a process's CPU time."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["RESULTS", "environment", "percentiles", "process_cpu_seconds", "process_cpu_ticks", "write_result"]

RESULTS = Path(__file__).resolve().parent / "results"


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """Machine, library versions and date, stored with every result."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in ("numpy", "onnxruntime", "onnxruntime-gpu", "torch", "mediapipe", "websockets", "opencv-contrib-python")},
        "gpu": "none" if _version("onnxruntime-gpu") is None else "see provider",
    }


def percentiles(values: list[float] | np.ndarray) -> dict[str, float]:
    """p50 / p95 / p99 / mean / n of a list of numbers (NaN when empty)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan"), "n": 0}
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "p99": float(np.percentile(v, 99)),
            "mean": float(v.mean()), "n": int(v.size)}  # fmt: skip


def write_result(path: Path, payload: dict) -> Path:
    """Write ``payload`` plus the environment stamp as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2, default=float) + "\n")
    return path


def process_cpu_ticks(pid: int) -> int:
    """User + system clock ticks of process ``pid`` (all its threads) so far, from Linux's
    ``/proc/PID/stat``.

    Raises:
        OSError: no such process, or no ``/proc`` (not Linux).
        ValueError, IndexError: a line not in the expected layout.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime


def process_cpu_seconds(pid: int) -> float:
    """:func:`process_cpu_ticks` in seconds (raises as it does)."""
    return process_cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")
