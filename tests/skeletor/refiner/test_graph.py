"""The written ONNX graph (skeletor.refiner.graph) against the torch model it is written from."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from refiner_helpers import perturbed  # noqa: E402

from skeletor.refiner.export import written_graph  # noqa: E402
from skeletor.refiner.graph import GraphShape  # noqa: E402
from skeletor.refiner.model import NormalisedRefiner, RefinerConfig  # noqa: E402


def _answers(cfg: RefinerConfig, window_output: bool, x: np.ndarray, p: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, int]:
    """(the written graph's outputs, torch's whole refined window, the graph's node count) in normalised units."""
    torch.manual_seed(0)
    model = perturbed(NormalisedRefiner(cfg), seed=2)
    proto = written_graph(cfg, {k: v.numpy() for k, v in model.core.state_dict().items()}, window_output)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"normalised": x, "present": p})
    with torch.no_grad():
        want = model.core(torch.from_numpy(x), torch.from_numpy(p) > 0.5).numpy()
    return got, want, len(proto.graph.node)


@pytest.mark.parametrize(
    "cfg",
    [RefinerConfig(), RefinerConfig(lookahead=11), RefinerConfig(lookahead=16, bidirectional=True), RefinerConfig(window=8, n_layers=3)],
    ids=["causal", "lookahead 11 (masks differ by layer)", "bidirectional", "T 8, 3 layers"],
)
def test_written_graph_answers_as_the_torch_model(cfg: RefinerConfig, rng: np.random.Generator) -> None:
    """Emitted frame and whole window, batch 3, absent joints (mask value) and one frame with
    nothing present: within 1e-5 of ``SkeletorRefiner.forward``; the last layer cut to the
    emitted frame when no window is output."""
    x = rng.normal(scale=0.5, size=(3, cfg.window, 75, 3)).astype(np.float32)
    p = (rng.random((3, cfg.window, 75)) > 0.2).astype(np.float32)
    p[1, 0] = 0.0
    x[p == 0] = np.nan  # never read: the graph must take the mask value there
    (emitted,), want, nodes_emit = _answers(cfg, False, x, p)
    (emitted_w, window), _, nodes_window = _answers(cfg, True, x, p)
    np.testing.assert_allclose(window, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(emitted, want[:, cfg.emit_index], atol=1e-5, rtol=0)
    np.testing.assert_allclose(emitted_w, want[:, cfg.emit_index], atol=1e-5, rtol=0)
    assert np.isfinite(window).all()
    assert nodes_emit < 26 * cfg.n_layers + 20 and nodes_emit != nodes_window  # traced: ~180 a layer; the cut last layer differs


def test_graph_shape_checks_its_layers() -> None:
    with pytest.raises(ValueError, match="layer_lookahead"):
        GraphShape(32, 75, 128, 4, 8, 0, (0,) * 7)
    with pytest.raises(ValueError, match="multiple"):
        GraphShape(32, 75, 130, 4, 8, 0, (0,) * 8)
