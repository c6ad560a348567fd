"""ONNX export: parity with torch on real data, metadata, batch and window outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from refiner_helpers import perturbed  # noqa: E402

from skeletor.refiner.export import export_checkpoint, export_onnx  # noqa: E402
from skeletor.refiner.model import NormalisedRefiner, RefinerConfig  # noqa: E402


def _windows(phoenix: dict, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Real Phoenix windows (every test sequence, several starts) with extra masking."""
    xs, ps = [], []
    for poses, present in phoenix["test"]:
        for start in (0, 17, len(poses) - T):
            xs.append(poses[start : start + T])
            ps.append(present[start : start + T] & (rng.random((T, 75)) > 0.15))
    x, p = np.stack(xs), np.stack(ps)
    p[0, :5] = False  # the start of a stream: padded frames
    p[1, :, 11] = False  # no left shoulder in the whole window: the fallback statistics
    x[~p] = np.nan
    return x.astype(np.float32), p


@pytest.fixture(scope="module")
def default_model() -> NormalisedRefiner:
    torch.manual_seed(0)
    return perturbed(NormalisedRefiner(RefinerConfig(lookahead=2)), seed=1)


def _run_onnx(path: Path, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """The file's outputs for camera-frame windows, as the runtime feeds it: layout 2 (the
    core alone) gets each window normalised by ``runtime.window_stats`` and is put back."""
    from skeletor.refiner.windows import window_stats

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if sess.get_inputs()[0].name == "poses":  # layout 1: the normalisation is in the graph
        return tuple(sess.run(None, {"poses": x, "present": p.astype(np.float32)}))
    ok = (p > 0.5) & np.isfinite(x).all(-1)
    xz = np.where(ok[..., None], x, np.float32(0.0))
    root, scale = window_stats(xz, ok)
    outs = sess.run(None, {"normalised": (xz - root[:, None, None]) / scale[:, None, None, None], "present": ok.astype(np.float32)})
    return tuple(o * scale.reshape((-1,) + (1,) * (o.ndim - 1)) + root.reshape((-1,) + (1,) * (o.ndim - 2) + (3,)) for o in outs)


@pytest.mark.data
@pytest.mark.parametrize("layout", [2, 1])
def test_onnx_matches_torch_on_phoenix(
    default_model: NormalisedRefiner, phoenix: dict, tmp_path: Path, rng: np.random.Generator, layout: int
) -> None:
    """Both layouts (the core alone, normalised outside; the whole model) answer as torch does,
    on real windows including ones with no shoulder (the fallback statistics)."""
    path = export_onnx(default_model, tmp_path / "refiner.onnx", window_output=True, layout=layout)
    x, p = _windows(phoenix, 32, rng)
    refined, window = _run_onnx(path, x, p)
    with torch.no_grad():
        want = default_model(torch.from_numpy(x), torch.from_numpy(p)).numpy()
    assert refined.shape == (len(x), 75, 3) and window.shape == (len(x), 32, 75, 3)
    np.testing.assert_allclose(window, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(refined, want[:, 29], atol=1e-4, rtol=0)
    assert np.abs(want[:, 29] - np.nan_to_num(x[:, 29]))[p[:, 29]].mean() > 1e-2  # not the identity
    one = _run_onnx(path, x[3:4], p[3:4])[0]
    np.testing.assert_allclose(one, refined[3:4], atol=1e-5)  # batch 1 == row of a batch
    assert not default_model.training


def test_core_only_cuts_a_layout_1_file_to_the_same_answers_with_fewer_nodes(default_model: NormalisedRefiner, tmp_path: Path) -> None:
    """``python -m skeletor.refiner.export OLD NEW`` (how the shipped files were converted):
    a layout-1 file becomes layout 2 with its metadata, answers within 1e-5 through the
    runtime, and keeps the weights ``onnx_state_dict`` reads; anything else exits 2."""
    from skeletor.refiner.export import core_only, main
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    old = export_onnx(default_model, tmp_path / "old.onnx", window_output=True, layout=1)
    assert main([str(old), str(tmp_path / "new.onnx")]) == 0
    a, b = onnx.load(str(old)), onnx.load(str(tmp_path / "new.onnx"))
    meta_a, meta_b = ({m.key: m.value for m in x.metadata_props} for x in (a, b))
    assert meta_b == meta_a | {"skeletor.version": "2"} and meta_b["skeletor.skeleton"] == "holistic75"
    ops_a, ops_b = ([n.op_type for n in x.graph.node] for x in (a, b))
    assert len(ops_b) < len(ops_a) and "TopK" in ops_a and "TopK" not in ops_b and ops_b.count("If") < ops_a.count("If")  # no sorts
    assert core_only(b) is b  # already cut
    x = np.random.default_rng(3).standard_normal((3, 32, 75, 3)).astype(np.float32)
    p = (np.random.default_rng(4).random((3, 32, 75)) > 0.2).astype(np.float32)
    p[1, :, 12] = 0  # no right shoulder: the fallback statistics
    r_old, r_new = OnnxRefiner(RuntimeConfig(str(old))), OnnxRefiner(RuntimeConfig(str(tmp_path / "new.onnx")))
    assert (r_old.layout, r_new.layout) == (1, 2)
    for batch in (1, 2, 3):
        np.testing.assert_allclose(r_new._infer(x[:batch], p[:batch]), r_old._infer(x[:batch], p[:batch]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(r_new.infer_windows(x, p), r_old.infer_windows(x, p), atol=1e-5, rtol=0)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "missing.onnx"), str(tmp_path / "out.onnx")])
    assert e.value.code == 2


def test_metadata_says_window_lookahead_joints(default_model: NormalisedRefiner, tmp_path: Path) -> None:
    path = export_onnx(default_model, tmp_path / "refiner.onnx")
    proto = onnx.load(str(path))
    meta = {m.key: m.value for m in proto.metadata_props}
    assert meta["skeletor.format"] == "skeletor-refiner" and meta["skeletor.version"] == "2"
    assert (meta["skeletor.window"], meta["skeletor.lookahead"], meta["skeletor.joints"]) == ("32", "2", "75")
    assert meta["skeletor.skeleton"] == "holistic75"
    assert RefinerConfig(**json.loads(meta["skeletor.config"])) == default_model.cfg
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["refined"]
    assert [tuple(i.shape) for i in sess.get_inputs()] == [("batch", 32, 75, 3), ("batch", 32, 75)]


def test_export_from_checkpoint(tmp_path: Path) -> None:
    from skeletor.refiner.train import _optimizer, _save, TrainConfig

    torch.manual_seed(0)
    model = perturbed(NormalisedRefiner(RefinerConfig(window=8, d_model=32, n_layers=2, d_ff=64)))
    cfg = TrainConfig()
    _save(tmp_path / "ckpt.pt", model, _optimizer(model, cfg), 7, cfg, np.random.default_rng(0))
    path = export_checkpoint(tmp_path / "ckpt.pt", tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((2, 8, 75, 3)).astype(np.float32)
    p = np.ones((2, 8, 75), np.float32)
    got = _run_onnx(path, x, p)[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model.emit(torch.from_numpy(x), torch.from_numpy(p)).numpy(), atol=1e-4)


def test_onnx_weights_load_back_into_a_model_of_another_lookahead(tmp_path: Path) -> None:
    """``skeletor train --init x.onnx``: the exported weights, read back, are the model's
    (outputs equal); the attention masks are not weights, so a bidirectional model can start
    from a causal one."""
    from skeletor.refiner.export import onnx_state_dict

    model = NormalisedRefiner(RefinerConfig(lookahead=2)).eval()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # every weight its own values, as in trained weights (the exporter stores equal ones once)
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=g) * 0.05)
    path = export_onnx(model, tmp_path / "refiner.onnx")
    config, state = onnx_state_dict(path)
    assert config == model.cfg.to_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    from_onnx = NormalisedRefiner(RefinerConfig(lookahead=16, bidirectional=True)).eval()
    from_onnx.load_state_dict(state)
    from_model = NormalisedRefiner(RefinerConfig(lookahead=16, bidirectional=True)).eval()
    from_model.load_state_dict(model.state_dict())
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 32, 75, 3)).astype(np.float32))
    p = torch.ones(1, 32, 75)
    with torch.no_grad():
        causal_out, bidir_out = model(x, p), from_onnx(x, p)
        torch.testing.assert_close(bidir_out, from_model(x, p), atol=1e-6, rtol=0)
    assert (bidir_out[:, 0] - causal_out[:, 0]).abs().max() > 1e-3  # same weights, but now every frame sees the future


def test_onnx_state_dict_reads_every_written_weight_and_rejects_a_foreign_file(tmp_path: Path) -> None:
    """The written graph names each parameter, so even an untrained model (equal biases, unit
    norms) reads back exactly; the TorchScript exporter stores equal values once, and such a
    file is refused rather than read wrong."""
    from skeletor.refiner.export import onnx_state_dict

    model = NormalisedRefiner(RefinerConfig(window=8, d_model=32, n_layers=2, d_ff=64))
    path = export_onnx(model, tmp_path / "m.onnx")
    _, state = onnx_state_dict(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    traced = export_onnx(model, tmp_path / "traced.onnx", traced=True)
    with pytest.raises(ValueError, match="not found"):  # untrained: its equal biases are stored once, not told apart
        onnx_state_dict(traced)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match="skeletor.config"):
        onnx_state_dict(tmp_path / "bare.onnx")
