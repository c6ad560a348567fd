"""``skeletor bench refiner``: the refiner alone, per frame, on every backend available.

T = 16 / 32 / 64 (window) for: torch eager (CPU), ONNX Runtime CPU with 1 and 2 threads,
and, on a GPU machine, torch CUDA (with and without CUDA graphs) and ONNX Runtime CUDA /
TensorRT fp16 where those providers exist. Rows that cannot run here say "not measured".
Latency does not depend on the weights' values, so each window size uses a freshly
initialised model of the shipped architecture (8 layers, d = 128).

``layouts``: the same model (T = 32) as three ONNX files: layout 1 through the TorchScript
exporter (the window's normalisation, masked medians, inside the graph), layout 2 through
the same exporter cut to the core (normalised in numpy by the runtime), and layout 2 written
node by node (``skeletor.refiner.graph``; what ``export_onnx`` writes and what is shipped),
timed side by side through ``OnnxRefiner._infer`` (normalisation included) at batch 1 and 2
(a streaming frame without and with hands apart), calls of the three interleaved in a
rotating order so that load on the machine hits them alike; with each graph's node count
and the largest difference between its outputs and the first file's.

``cached``: a streaming push (``stage`` + ``refine_windows``: the window's statistics, the
model call, the emitted frame) of the windowed model (layout 2, T = 32, every frame of the
window through every layer) against the cached one (layout 3, ``RefinerConfig(band=4)``:
receptive field 33 frames, the new frame alone through the layers with each layer's last 4
keys and values), one and two streams (two people) per call, one CPU thread, interleaved.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
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
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    available = ort.get_available_providers()
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
        # Every ONNX Runtime row goes through the runtime the tools use (its session options,
        # its TensorRT profile and engine cache), timing one model call on a full window.
        backends = [(f"ONNX Runtime CPU, {k} thread(s)", RuntimeConfig(str(path), provider="cpu", threads=k)) for k in (1, 2)]
        backends += [
            ("ONNX Runtime CUDA", RuntimeConfig(str(path), provider="cuda")),
            ("ONNX Runtime TensorRT fp16", RuntimeConfig(str(path), provider="tensorrt", trt_cache_dir=str(tmp / "trt"))),
        ]
        for name, cfg in backends:
            wanted = cfg.providers[0]
            row = {"window": T, "backend": name, "provider": wanted, "ms": None}
            if wanted not in available:
                rows.append(row | {"note": "not measured: provider not available on this machine"})
                continue
            try:
                refiner = OnnxRefiner(cfg)
            except Exception as e:  # a provider that is installed but cannot start (no driver, no TensorRT libs)
                rows.append(row | {"note": f"not measured: {wanted} failed to start: {e}"})
                continue
            used = refiner.providers[0]
            if used != wanted:  # ONNX Runtime fell back silently: do not report CPU numbers as GPU ones
                rows.append(row | {"provider": used, "note": f"not measured: {wanted} fell back to {used}"})
                continue
            rows.append(row | {"ms": _time(partial(refiner._infer, poses, present), n), "note": "host arrays in and out"})
        if not torch.cuda.is_available():
            for name in ("torch CUDA eager", "torch CUDA graphs"):
                rows.append({"window": T, "backend": name, "provider": "cuda", "ms": None, "note": "not measured: no GPU on this machine"})
            continue
        rows += _torch_cuda_rows(model, poses, present, T, n)
    return {"rows": rows, "layouts": _layout_rows(tmp, n), "cached": _cached_rows(tmp, n), "calls_per_row": n,
            "model": "8 layers, d=128, 4 heads, ff=256 (the shipped architecture)", "gpu": _gpu_name()}  # fmt: skip


def _layout_rows(tmp: Path, n: int, window: int = 32) -> list[dict]:
    """Layout 1, layout 2 traced and layout 2 written, batch 1 and 2, one CPU thread, interleaved calls."""
    import onnx
    import torch

    from skeletor.refiner.export import export_onnx
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    torch.manual_seed(0)
    model = NormalisedRefiner(RefinerConfig(window=window)).eval()
    with torch.no_grad():  # weights of their own (a fresh head is zero: its output would be its input, hiding any difference)
        for param in model.parameters():
            param.add_(torch.randn(param.shape) * 0.05)
    files = {  # (layout, graph) -> path
        (1, "traced"): export_onnx(model, tmp / "layout1.onnx", layout=1),
        (2, "traced"): export_onnx(model, tmp / "layout2_traced.onnx", traced=True),
        (2, "written"): export_onnx(model, tmp / "layout2.onnx"),
    }
    refiners = {key: OnnxRefiner(RuntimeConfig(str(p), provider="cpu", threads=1)) for key, p in files.items()}
    keys = list(files)
    rng = np.random.default_rng(1)
    rows = []
    for batch in (1, 2):
        poses = (rng.normal(size=(batch, window, 75, 3)) * 0.2 + [0, 0, 2.5]).astype(np.float32)
        present = (rng.random((batch, window, 75)) > 0.1).astype(np.float32)
        calls = {key: partial(r._infer, poses, present) for key, r in refiners.items()}
        times: dict[tuple[int, str], list[float]] = {key: [] for key in keys}
        for i in range(20 + n):
            for key in keys[i % 3 :] + keys[: i % 3]:
                t0 = time.perf_counter()
                calls[key]()
                if i >= 20:
                    times[key].append(1000 * (time.perf_counter() - t0))
        first = calls[keys[0]]()
        for key in keys:
            rows.append({"window": window, "batch": batch, "layout": key[0], "graph": key[1],
                         "nodes": len(onnx.load(str(files[key])).graph.node), "ms": percentiles(times[key]),
                         "max_abs_diff": float(np.abs(calls[key]() - first).max())})  # fmt: skip
    return rows


def _cached_rows(tmp: Path, n: int) -> list[dict]:
    """A streaming push of the windowed model (T = 32) and of the cached one (band 4), 1 and 2
    streams, pushes of the two interleaved; on the CPU (one thread), and on CUDA and TensorRT
    where ONNX Runtime has them (a row that cannot run says why instead of timing a fallback)."""
    import onnxruntime as ort
    import torch

    from skeletor.refiner.export import export_onnx
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    torch.manual_seed(0)
    configs = {"windowed (T = 32)": RefinerConfig(window=32), "cached (band 4, 33 frames)": RefinerConfig(window=33, band=4)}
    paths = {name: export_onnx(NormalisedRefiner(cfg).eval(), tmp / f"stream_{cfg.band}.onnx") for name, cfg in configs.items()}
    rng = np.random.default_rng(2)
    frames = (rng.normal(size=(20 + n, 75, 3)) * 0.2 + [0, 0, 2.5]).astype(np.float32)
    rows: list[dict] = []
    for provider in ("cpu", "cuda", "tensorrt"):
        runtime = {name: RuntimeConfig(str(path), provider=provider, threads=1, hands_apart=False, trt_cache_dir=str(tmp / "trt"))
                   for name, path in paths.items()}  # fmt: skip
        wanted = runtime[next(iter(runtime))].providers[0]

        def not_measured(why: str) -> list[dict]:
            return [{"model": name, "streams": k, "provider": wanted, "ms": None, "note": f"not measured: {why}"} for k in (1, 2) for name in paths]

        if wanted not in ort.get_available_providers():
            rows += not_measured("provider not available on this machine")
            continue
        try:
            refiners = {name: OnnxRefiner(cfg) for name, cfg in runtime.items()}
        except Exception as e:  # installed but cannot start (no driver, no TensorRT libraries)
            rows += not_measured(f"{wanted} failed to start: {e}")
            continue
        fell_back = {r.providers[0] for r in refiners.values()} - {wanted}
        if fell_back:
            rows += not_measured(f"{wanted} fell back to {sorted(fell_back)}")
            continue
        for people in (1, 2):
            streams = {name: [r.new_stream() for _ in range(people)] for name, r in refiners.items()}
            times: dict[str, list[float]] = {name: [] for name in refiners}
            names = list(refiners)
            for i in range(20 + n):
                for name in names[i % 2 :] + names[: i % 2]:
                    t0 = time.perf_counter()
                    refiners[name].refine_windows([s.stage(frames[i]) for s in streams[name]])
                    if i >= 20:
                        times[name].append(1000 * (time.perf_counter() - t0))
            rows += [{"model": name, "streams": people, "provider": wanted, "ms": percentiles(times[name])} for name in names]
    return rows


def _gpu_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except Exception:  # torch missing or a broken driver: no GPU as far as this benchmark can tell
        return "none"


def _torch_cuda_rows(model, poses: np.ndarray, present: np.ndarray, T: int, n: int) -> list[dict]:
    """torch on the GPU, eager and replayed as a CUDA graph; host arrays in and out, as live use has."""
    import torch

    dev = torch.device("cuda")
    m = model.to(dev)
    static_x = torch.from_numpy(poses).to(dev)
    static_p = torch.from_numpy(present).to(dev).bool()

    def eager() -> np.ndarray:
        with torch.inference_mode():
            out = m(torch.from_numpy(poses).to(dev), torch.from_numpy(present).to(dev).bool())
        return out.cpu().numpy()  # .cpu() synchronises

    rows = [{"window": T, "backend": "torch CUDA eager", "provider": f"cuda ({torch.cuda.get_device_name(0)})",
             "ms": _time(eager, n), "note": "host arrays in and out"}]  # fmt: skip
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream before capture, as torch's docs require
            m(static_x, static_p)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = m(static_x, static_p)

    def replay() -> np.ndarray:
        static_x.copy_(torch.from_numpy(poses))
        static_p.copy_(torch.from_numpy(present).bool())
        graph.replay()
        return static_out.cpu().numpy()

    rows.append({"window": T, "backend": "torch CUDA graphs", "provider": f"cuda ({torch.cuda.get_device_name(0)})",
                 "ms": _time(replay, n), "note": "host arrays in and out"})  # fmt: skip
    model.to("cpu")
    return rows


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
    for r in res["layouts"]:
        ms = r["ms"]
        print(f"T={r['window']:3d}  ONNX layout {r['layout']} {r['graph']} ({r['nodes']} nodes), batch {r['batch']}: "
              f"p50 {ms['p50']:.3f}  p99 {ms['p99']:.3f} ms  (outputs differ by <= {r['max_abs_diff']:.1e})")  # fmt: skip
    for r in res["cached"]:
        ms = r["ms"]
        text = f"p50 {ms['p50']:.3f}  p99 {ms['p99']:.3f} ms" if ms else r.get("note", "")
        print(f"streaming push, {r['model']:27s} {r['streams']} stream(s), {r['provider']}: {text}")
    print(f"wrote {args.json}")
    return 0
