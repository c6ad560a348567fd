"""The ONNX Runtime refiner: streaming window, flush, offline batches, providers, weight errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.phoenix import load_phoenix
from skeletor.refiner.runtime import (
    FORMAT,
    LAYOUT_VERSION,
    OnnxRefiner,
    RefinerWeightsError,
    RuntimeConfig,
    TorchRefiner,
    ProviderUnavailableError,
    choose_providers,
    default_weights_path,
)

T, K = 16, 2


def _phoenix_sequence(data_dir: Path, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One real Phoenix14T test sequence on holistic75 (relative units, shoulder width ~1)."""
    root = data_dir / "ptslp_phoenix14t"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    m = load_phoenix("test", root)[index]
    return m.positions, m.confidence > 0


@pytest.fixture(scope="module")
def model_and_weights(tmp_path_factory: pytest.TempPathFactory):  # -> (NormalisedRefiner, Path)
    torch = pytest.importorskip("torch")
    from skeletor.refiner.export import export_onnx
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig

    torch.manual_seed(0)
    model = NormalisedRefiner(RefinerConfig(window=T, d_model=32, n_layers=2, d_ff=64, lookahead=K)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a random output layer: the output depends on the input
        for p in model.core.head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model, export_onnx(model, tmp_path_factory.mktemp("weights") / "refiner.onnx")


@pytest.fixture
def refiner(model_and_weights) -> OnnxRefiner:
    """The model as it is: one window, every joint (hands_apart off)."""
    return OnnxRefiner(RuntimeConfig(weights=str(model_and_weights[1]), provider="cpu", hands_apart=False))


def _model_window(model, poses: np.ndarray, present: np.ndarray, e: int) -> np.ndarray:
    """The torch model on the window that emits frame ``e`` (padded with absent frames): (75, 3)."""
    import torch

    n = len(poses)
    win = np.zeros((T, 75, 3), np.float32)
    pw = np.zeros((T, 75), bool)
    for j, f in enumerate(range(e - (T - 1 - K), e + K + 1)):
        if 0 <= f < n:
            win[j], pw[j] = np.nan_to_num(poses[f]), present[f]
    with torch.no_grad():
        return model.emit(torch.from_numpy(win[None]), torch.from_numpy(pw[None]))[0].numpy()


def _stream(r, poses: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    outs, nones = [], []
    for i, (x, p) in enumerate(zip(poses, present)):
        out = r.push(x, p)
        if out is None:
            nones.append(i)
        else:
            outs.append(out)
    outs += r.flush()
    return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs]), nones


@pytest.mark.data
def test_streaming_equals_one_shot_windows(
    refiner: OnnxRefiner, model_and_weights, data_dir: Path, rng: np.random.Generator
) -> None:
    model = model_and_weights[0]
    poses, present = _phoenix_sequence(data_dir)
    present = present & (rng.random(present.shape) > 0.1)
    n = len(poses)
    assert (refiner.window, refiner.lookahead, refiner.joints) == (T, K, 75)
    got, conf, nones = _stream(refiner, poses, present)
    assert nones == [0, 1] and got.shape == (n, 75, 3) and refiner.frames_pushed == 0
    # every push is the model on the window [e - (T-1-K), e + K], padded with absent frames
    for e in (0, 5, 40, n - 2, n - 1):
        want = _model_window(model, poses, present, e)
        ok = conf[e] > 0
        np.testing.assert_allclose(got[e][ok], want[ok], atol=1e-4)
    # the offline batched path gives the same frames
    off, off_conf = refiner.refine_sequence(poses, present)
    np.testing.assert_allclose(off, got, atol=1e-5)
    np.testing.assert_array_equal(off_conf, conf)


@pytest.mark.data
def test_hands_apart_carries_the_input_hands_on_the_body_answer(
    refiner: OnnxRefiner, model_and_weights, data_dir: Path, rng: np.random.Generator
) -> None:
    model, path = model_and_weights
    apart = OnnxRefiner(RuntimeConfig(weights=str(path), provider="cpu"))  # the default: hands not refined
    assert apart.hands_apart and not apart.refine_hands
    poses, present = _phoenix_sequence(data_dir)  # real signing: both hands in view
    present = present & (rng.random(present.shape) > 0.1)
    got, conf, _ = _stream(apart, poses, present)
    no_hands = present.copy()
    no_hands[:, 33:] = False
    carried = 0
    for e in (3, 40, len(poses) - 1):
        body = _model_window(model, poses, no_hands, e)  # the body answer never saw a hand
        ok = conf[e] > 0
        np.testing.assert_allclose(got[e, :33][ok[:33]], body[:33][ok[:33]], atol=1e-4)
        for hand, wrist in ((range(33, 54), 15), (range(54, 75), 16)):
            for j in hand:  # the newest input frame <= e holding the joint and its wrist, on the refined wrist
                src = [t for t in range(e + 1) if present[t, j] and present[t, wrist]]
                if src:
                    carried += src[-1] < e
                    np.testing.assert_allclose(got[e, j] - got[e, wrist], poses[src[-1], j] - poses[src[-1], wrist], atol=1e-5)
    assert carried > 0  # some joints were missing in the emitted frame and came from an earlier one
    off, off_conf = apart.refine_sequence(poses, present, batch=7)  # batched: the same frames
    np.testing.assert_allclose(off, got, atol=1e-5)
    np.testing.assert_array_equal(off_conf, conf)


@pytest.mark.data
def test_refine_hands_joins_a_body_answer_and_a_hands_answer(
    refiner: OnnxRefiner, model_and_weights, data_dir: Path, rng: np.random.Generator
) -> None:
    model, path = model_and_weights
    apart = OnnxRefiner(RuntimeConfig(weights=str(path), provider="cpu", refine_hands=True))
    assert apart.hands_apart and apart.refine_hands and not refiner.hands_apart
    poses, present = _phoenix_sequence(data_dir)  # real signing: both hands in view
    present = present & (rng.random(present.shape) > 0.1)
    got, conf, _ = _stream(apart, poses, present)
    no_hands = present.copy()
    no_hands[:, 33:] = False
    for e in (3, 40, len(poses) - 1):
        body = _model_window(model, poses, no_hands, e)  # the body answer never saw a hand
        both = _model_window(model, poses, present, e)
        ok = conf[e] > 0
        np.testing.assert_allclose(got[e, :33][ok[:33]], body[:33][ok[:33]], atol=1e-4)
        for hand, wrist in ((slice(33, 54), 15), (slice(54, 75), 16)):  # each hand hangs from the body answer's wrist
            np.testing.assert_allclose(got[e, hand] - got[e, wrist], both[hand] - both[wrist], atol=1e-4)
        assert np.abs(got[e, :33][ok[:33]] - both[:33][ok[:33]]).max() > 1e-3  # the hands did change the joint answer
    off, off_conf = apart.refine_sequence(poses, present, batch=7)  # batched: the same frames
    np.testing.assert_allclose(off, got, atol=1e-5)
    np.testing.assert_array_equal(off_conf, conf)
    # with no hand in the window, the same single call as without hands_apart
    refiner.reset()
    a, _, _ = _stream(apart, poses[:30], no_hands[:30])
    b, _, _ = _stream(refiner, poses[:30], no_hands[:30])
    np.testing.assert_array_equal(a, b)


@pytest.mark.data
def test_confidence_and_missing_joints(refiner: OnnxRefiner, data_dir: Path) -> None:
    poses, present = _phoenix_sequence(data_dir)
    present[10, 15] = False  # the left wrist is missed in frame 10 only
    pose, conf = refiner.refine_sequence(poses[:30], present[:30])
    assert conf[10, 15] == 0.5 and np.isfinite(pose[10, 15]).all()  # filled in by the model
    assert conf[11, 15] == 1.0
    assert (conf[:, 23] == 0).all() and np.isnan(pose[:, 23]).all()  # Phoenix has no hips


@pytest.mark.data
def test_stream_output_ignores_frames_beyond_the_lookahead(
    refiner: OnnxRefiner, data_dir: Path, rng: np.random.Generator
) -> None:
    poses, present = _phoenix_sequence(data_dir, 1)
    base, _, _ = _stream(refiner, poses[:60], present[:60])
    e = 30
    changed = poses[:60].copy()
    changed[e + K + 1 :] += rng.standard_normal(changed[e + K + 1 :].shape).astype(np.float32)
    other, _, _ = _stream(refiner, changed, present[:60])
    np.testing.assert_array_equal(other[: e + 1], base[: e + 1])
    assert np.nanmax(np.abs(other[e + 1] - base[e + 1])) > 1e-3


def test_push_checks_shapes_and_flush_of_a_short_stream(refiner: OnnxRefiner) -> None:
    with pytest.raises(ValueError, match=r"\(75, 3\)"):
        refiner.push(np.zeros((50, 3)))
    assert refiner.push(np.zeros((75, 3)), np.ones(75)) is None
    out = refiner.flush()  # one frame in, one frame out, although K = 2
    assert len(out) == 1 and out[0][0].shape == (75, 3)
    assert refiner.flush() == []


def test_torch_and_onnx_back_ends_agree(model_and_weights, rng: np.random.Generator) -> None:
    x = rng.standard_normal((25, 75, 3)).astype(np.float32)
    for apart, hands in ((False, False), (True, False), (True, True)):
        onnx = OnnxRefiner(RuntimeConfig(weights=str(model_and_weights[1]), provider="cpu", hands_apart=apart, refine_hands=hands))
        a, ca = onnx.refine_sequence(x)
        b, cb = TorchRefiner(model_and_weights[0], hands_apart=apart, refine_hands=hands).refine_sequence(x)
        np.testing.assert_allclose(a, b, atol=1e-4)
        np.testing.assert_array_equal(ca, cb)


def test_bad_weights_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(RefinerWeightsError, match="nope.onnx"):
        OnnxRefiner(RuntimeConfig(weights=str(missing)))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 this is not a protobuf" * 10)
    with pytest.raises(RefinerWeightsError, match="corrupt.onnx"):
        OnnxRefiner(RuntimeConfig(weights=str(corrupt)))
    with pytest.raises(RefinerWeightsError, match="ckpt.pt"):
        TorchRefiner(tmp_path / "ckpt.pt")


def test_an_onnx_file_that_is_not_a_refiner_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["poses"], ["refined"])], "g",
        [helper.make_tensor_value_info("poses", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("refined", TensorProto.FLOAT, [1, 3])],
    )  # fmt: skip
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(RefinerWeightsError, match="other.onnx.*not a Skeletor refiner"):
        OnnxRefiner(RuntimeConfig(weights=str(path)))


def test_provider_choice_follows_preference() -> None:
    avail = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(RuntimeConfig().providers, avail) == avail
    assert choose_providers(("trt", "cuda", "cpu"), ["CPUExecutionProvider", "TensorrtExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CPUExecutionProvider"]  # fmt: skip
    with pytest.raises(ProviderUnavailableError, match="CUDAExecutionProvider is not available.*onnxruntime-gpu"):
        choose_providers(("cuda",), ["CPUExecutionProvider"])


def test_provider_request_auto_or_explicit() -> None:
    assert RuntimeConfig().provider == "auto" and RuntimeConfig().threads == 1
    assert RuntimeConfig().providers == ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert RuntimeConfig(provider="cuda").providers == ("CUDAExecutionProvider",)
    assert RuntimeConfig(provider="tensorrt").explicit and not RuntimeConfig().explicit
    with pytest.raises(ValueError, match="unknown provider 'gpu'"):
        RuntimeConfig(provider="gpu")
    auto = OnnxRefiner(RuntimeConfig())  # the shipped weights, whatever this machine has
    assert auto.providers[0] in RuntimeConfig().providers and auto.path == default_weights_path()
    cpu = OnnxRefiner(RuntimeConfig(provider="cpu"))
    assert cpu.providers == ["CPUExecutionProvider"]


def test_runtime_needs_no_torch_and_matches_the_exporter() -> None:
    code = "import sys, skeletor.refiner.runtime; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    export = pytest.importorskip("skeletor.refiner.export")
    assert (export.FORMAT, export.LAYOUT_VERSION) == (FORMAT, LAYOUT_VERSION)


def test_streaming_batches_run_on_fixed_shape_sessions_with_the_same_answers(data_dir: Path) -> None:
    """Batch 1 and 2 (a frame without / with hands apart, or two people) use sessions whose
    batch dimension is fixed; they answer as the dynamic-batch graph does, on real Phoenix14T
    windows: a windowed file (layout 2) and the shipped cached one (layout 3, a step each)."""
    from skeletor.refiner.cached import StepCache, step

    poses, present = _phoenix_sequence(data_dir)
    windowed = OnnxRefiner(RuntimeConfig(weights=str(default_weights_path().parent / "skeletor_refiner_paper.onnx"), provider="cpu"))
    cached = OnnxRefiner(RuntimeConfig(provider="cpu"))
    assert windowed.layout == 2 and cached.layout == 3
    for refiner in (windowed, cached):
        assert sorted(refiner._fixed) == [1, 2]
        T = refiner.window
        windows = np.stack([poses[:T], poses[10 : 10 + T]]).astype(np.float32)  # (2, T, J, 3)
        pres = np.stack([present[:T], present[10 : 10 + T]]).astype(np.float32)
        for b in (1, 2):
            if refiner.layout == 2:
                fixed = refiner._infer(windows[:b], pres[:b])
                dynamic = refiner._run(refiner._session, "refined", windows[:b], pres[:b])
            else:  # two streams a few frames in: both sessions from the same caches
                caches = [[StepCache(*refiner.cache_shape) for _ in range(b)] for _ in range(2)]
                for t in range(5):
                    for c in caches:
                        step(refiner._session, windows[:b, : T - 5 + t], pres[:b, : T - 5 + t], c)
                fixed = refiner._infer(windows[:b], pres[:b], caches[0])
                dynamic = step(refiner._session, windows[:b], pres[:b], caches[1])
            np.testing.assert_allclose(fixed, dynamic, atol=1e-5)


@pytest.mark.data
def test_streams_on_one_model_refine_together_as_each_alone(data_dir: Path) -> None:
    """Several people: a stream each on one model (``new_stream``), their staged windows
    refined in one call (``refine_windows``), give what each person's own refiner gives
    pushed alone, on real Phoenix14T sequences, with the shipped weights (hands apart)."""
    model = OnnxRefiner(RuntimeConfig(provider="cpu"))
    people = [_phoenix_sequence(data_dir, i) for i in range(3)]
    alone = [OnnxRefiner(RuntimeConfig(provider="cpu")) for _ in people]
    streams = [model.new_stream() for _ in people]
    assert all(s.window == model.window and s.lookahead == model.lookahead for s in streams)
    n = min(len(p) for p, _ in people)
    for t in range(n):
        windows = [s.stage(p[t], m[t]) for s, (p, m) in zip(streams, people)]
        together = model.refine_windows([w for w in windows if w is not None])
        for r, (p, m), got in zip(alone, people, together):
            want = r.push(p[t], m[t])
            assert want is not None
            np.testing.assert_allclose(got[0], want[0], atol=1e-4)
            np.testing.assert_array_equal(got[1], want[1])
    assert model.frames_pushed == 0 and all(s.frames_pushed == n for s in streams)  # each stream keeps its own window
    assert model.refine_windows([]) == []


@pytest.mark.parametrize("drop", ["nothing", "a shoulder", "everything"])
def test_numpy_window_stats_match_the_models_on_real_windows(data_dir: Path, drop: str) -> None:
    """``windows.window_stats`` (layout 2's normalisation, numpy) gives the root and scale of
    ``model.window_stats`` (the graph's, torch) on real Phoenix14T windows, also when a
    shoulder is never seen (the mean / RMS fallback) and when nothing is."""
    torch = pytest.importorskip("torch")
    from skeletor.refiner.model import window_stats as torch_stats
    from skeletor.refiner.windows import window_stats

    poses, present = _phoenix_sequence(data_dir)
    x = np.stack([poses[s : s + 32] for s in (0, 7, 20)]).astype(np.float32)  # (3, T, J, 3)
    p = np.stack([present[s : s + 32] for s in (0, 7, 20)])
    p[0, :9] = False  # a stream's padded start
    if drop == "a shoulder":
        p[:, :, 11] = False
    elif drop == "everything":
        p[:] = False
    x = np.where(p[..., None], x, np.float32(0.0))
    root, scale = window_stats(x, p)
    want_root, want_scale = torch_stats(torch.from_numpy(x), torch.from_numpy(p))
    assert root.dtype == scale.dtype == np.float32 and root.shape == (3, 3) and scale.shape == (3,)
    np.testing.assert_allclose(root, want_root.numpy(), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(scale, want_scale.numpy(), atol=1e-6, rtol=1e-6)
    if drop == "everything":
        assert (root == 0).all() and (scale == 1).all()


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names")  # faked available here
def test_a_gpu_provider_loads_cuda_from_the_pip_packages_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime-gpu from PyPI finds the nvidia-* packages' CUDA only after ``preload_dlls``:
    a refiner asked for a GPU provider calls it before its sessions; one on the CPU never does."""
    import onnxruntime as ort

    from skeletor.refiner.runtime import _load_gpu_libraries

    _load_gpu_libraries.cache_clear()  # once a process: forget an earlier test's
    calls: list[str] = []
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: calls.append("preload"), raising=False)
    OnnxRefiner(RuntimeConfig(provider="cpu"))
    assert calls == []
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    try:  # on a machine without CUDA the session falls back to the CPU, which a demanded provider refuses
        OnnxRefiner(RuntimeConfig(provider="cuda"))
    except ProviderUnavailableError:
        pass
    assert calls == ["preload"]
    try:
        OnnxRefiner(RuntimeConfig(provider="cuda"))
    except ProviderUnavailableError:
        pass
    assert calls == ["preload"]  # not again
