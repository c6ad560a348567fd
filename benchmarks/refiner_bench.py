"""``skeletor bench refiner``: the refiner alone, per frame, on every backend available.

T = 16 / 32 / 64 (window) for: torch eager (CPU), ONNX Runtime CPU with 1 and 2 threads,
and, on a GPU machine, torch CUDA (with and without CUDA graphs) and ONNX Runtime CUDA /
TensorRT fp16 where those providers exist. Rows that cannot run here say "not measured".
Latency does not depend on the weights' values, so each window size uses a freshly
initialised model of the shipped architecture (8 layers, d = 128).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, percentiles, write_result

__all__ = ["run_refiner_bench", "add_bench_parser"]


def _time(fn, n: int, warm: int = 20) -> dict:
    for _ in range(warm):
        fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(1000 * (time.perf_counter() - t0))
    return percentiles(t)


def run_refiner_bench(windows: tuple[int, ...] = (16, 32, 64), n: int = 200) -> dict:
    """Per-frame model latency for each window and backend."""
    import onnxruntime as ort
    import torch

    from skeletor.refiner.export import export_onnx
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig

    rows = []
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    for T in windows:
        torch.manual_seed(0)
        model = NormalisedRefiner(RefinerConfig(window=T)).eval()
        poses = rng.normal(size=(1, T, 75, 3)).astype(np.float32)
        present = np.ones((1, T, 75), np.float32)
        tp, tq = torch.from_numpy(poses), torch.from_numpy(present).bool()
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                rows.append({"window": T, "backend": f"torch eager CPU, {threads} thread(s)", "provider": "torch", "ms": _time(lambda: model(tp, tq), n)})
        path = export_onnx(model, tmp / f"w{T}.onnx")
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            feeds = {i.name: (poses if "pose" in i.name else present) for i in sess.get_inputs()}
            rows.append({"window": T, "backend": f"ONNX Runtime CPU, {threads} thread(s)", "provider": sess.get_providers()[0],
                         "ms": _time(lambda: sess.run(None, feeds), n)})  # fmt: skip
        available = ort.get_available_providers()
        for name, prov in (("ONNX Runtime CUDA", "CUDAExecutionProvider"), ("ONNX Runtime TensorRT fp16", "TensorrtExecutionProvider")):
            rows.append({"window": T, "backend": name, "provider": prov, "ms": None,
                         "note": "measured" if prov in available else "not measured: provider not available on this machine"})  # fmt: skip
        for name in ("torch CUDA eager", "torch CUDA graphs"):
            rows.append({"window": T, "backend": name, "provider": "cuda", "ms": None,
                         "note": "not measured: no GPU on this machine" if not torch.cuda.is_available() else "see GPU run"})  # fmt: skip
    return {"rows": rows, "calls_per_row": n, "model": "8 layers, d=128, 4 heads, ff=256 (the shipped architecture)"}


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench refiner``."""
    p = sub.add_parser("refiner", help="the refiner alone on each backend (needs torch for export)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--windows", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--json", type=Path, default=RESULTS / "refiner.json")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    res = run_refiner_bench(tuple(args.windows), args.calls)
    write_result(args.json, res)
    for r in res["rows"]:
        ms = r["ms"]
        text = f"p50 {ms['p50']:.3f}  p99 {ms['p99']:.3f} ms" if ms else r.get("note", "")
        print(f"T={r['window']:3d}  {r['backend']:36s} {text}")
    print(f"wrote {args.json}")
    return 0
