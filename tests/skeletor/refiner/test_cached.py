"""The cached (banded) refiner: one frame through the layers with a key/value cache gives
what the model gives on the whole stream, and a frame's answer depends only on its reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.datasets.phoenix import load_phoenix
from skeletor.refiner.runtime import OnnxRefiner, RefinerWeightsError, RuntimeConfig, TorchRefiner
from skeletor.refiner.windows import window_stats

torch = pytest.importorskip("torch")

from skeletor.refiner.export import STEP_LAYOUT, export_onnx, onnx_state_dict  # noqa: E402
from skeletor.refiner.model import NormalisedRefiner, RefinerConfig, arrival_stats  # noqa: E402

BAND, LAYERS = 2, 3
WINDOW = BAND * LAYERS + 1  # the receptive field: the last frame of a training window sees what it sees live


@pytest.fixture(scope="module")
def phoenix(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real Phoenix14T sequence on holistic75 (body and hands), with a gap and a lost shoulder."""
    root = data_dir / "ptslp_phoenix14t"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    m = load_phoenix("test", root)[0]
    present = m.confidence > 0
    present[20:24] = False  # the person gone for four frames
    present[40:60, 11] = False  # a shoulder missing for a while: the statistics fall back
    return np.where(present[..., None], m.positions, np.nan).astype(np.float32), present


@pytest.fixture(scope="module")
def banded(tmp_path_factory: pytest.TempPathFactory) -> tuple[NormalisedRefiner, Path]:
    torch.manual_seed(0)
    model = NormalisedRefiner(RefinerConfig(window=WINDOW, d_model=32, n_layers=LAYERS, d_ff=64, band=BAND)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a random head and distance bias: the output depends on the input and on the distances
        for p in model.core.head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
        model.core.rel_bias.copy_(torch.randn(model.core.rel_bias.shape, generator=g))
    return model, export_onnx(model, tmp_path_factory.mktemp("weights") / "banded.onnx")


def _torch_stream(model: NormalisedRefiner, poses: np.ndarray, present: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(np.nan_to_num(poses))[None], torch.from_numpy(present)[None])[0].numpy()


def test_config_rules() -> None:
    with pytest.raises(ValueError, match="causal"):
        RefinerConfig(band=2, lookahead=1)
    with pytest.raises(ValueError, match="causal"):
        RefinerConfig(band=2, bidirectional=True)
    cfg = RefinerConfig(window=WINDOW, band=BAND, n_layers=LAYERS)
    assert cfg.context == WINDOW - 1 and RefinerConfig().context == 0
    assert NormalisedRefiner(cfg).core.receptive_field() == WINDOW


def test_arrival_stats_are_each_frames_window_stats(phoenix: tuple[np.ndarray, np.ndarray]) -> None:
    """Frame i's root and scale are window_stats of the WINDOW frames ending at i (absent before the start)."""
    poses, present = phoenix
    x = np.nan_to_num(poses)
    root, scale = arrival_stats(torch.from_numpy(x)[None], torch.from_numpy(present)[None], WINDOW)
    for i in (0, 3, 21, 45, len(x) - 1):
        lo = max(0, i - WINDOW + 1)
        px = np.zeros((WINDOW, 75, 3), np.float32)
        pp = np.zeros((WINDOW, 75), bool)
        px[WINDOW - (i + 1 - lo) :], pp[WINDOW - (i + 1 - lo) :] = x[lo : i + 1], present[lo : i + 1]
        want_root, want_scale = window_stats(px[None], pp[None])
        np.testing.assert_allclose(root[0, i].numpy(), want_root[0], atol=1e-5)
        np.testing.assert_allclose(scale[0, i].numpy(), want_scale[0], rtol=1e-5)


@pytest.mark.parametrize("hands_apart", [False, True])
def test_the_cached_step_gives_the_models_stream(banded, phoenix, hands_apart: bool) -> None:
    """Streaming one frame at a time through the ONNX step equals the torch model on the whole sequence."""
    model, path = banded
    poses, present = phoenix
    r = OnnxRefiner(RuntimeConfig(weights=str(path), provider="cpu", hands_apart=hands_apart))
    assert r.layout == STEP_LAYOUT and r.cache_shape == (LAYERS, 4, BAND, 8)
    out, conf = r.refine_sequence(poses, present)
    if hands_apart:  # the body is refined with the hands hidden; the hands are the input's, carried
        body = present.copy()
        body[:, 33:] = False
        want = _torch_stream(model, poses, body)[:, :33]
        got = out[:, :33]
    else:
        want, got = _torch_stream(model, poses, present), out
    seen = conf[:, : got.shape[1]] > 0
    np.testing.assert_allclose(got[seen], want[seen], atol=2e-5)
    assert np.abs(got[seen] - np.nan_to_num(poses[:, : got.shape[1]])[seen]).max() > 1e-3  # the model did something


def test_streams_staged_together_match_each_alone(banded, phoenix) -> None:
    """Two people's streams refined in one batched call each keep their own cache."""
    _, path = banded
    poses, present = phoenix
    r = OnnxRefiner(RuntimeConfig(weights=str(path), provider="cpu", refine_hands=True))
    other = poses[::-1].copy(), present[::-1].copy()
    alone = [r.refine_sequence(*seq)[0] for seq in ((poses, present), other)]
    streams = [r.new_stream(), r.new_stream()]
    together = [[], []]
    for t in range(len(poses)):
        windows = [s.stage(p[t], m[t]) for s, (p, m) in zip(streams, ((poses, present), other))]
        for i, (pose, _) in enumerate(r.refine_windows(windows)):
            together[i].append(pose)
    for a, b in zip(alone, together):
        np.testing.assert_allclose(np.array(b), a, atol=1e-5, equal_nan=True)


def test_a_frame_depends_only_on_its_reach(banded, phoenix) -> None:
    """Frames more than (WINDOW - 1) + BAND * LAYERS before a frame cannot change its answer; one frame less can."""
    _, path = banded
    poses, present = phoenix
    r = OnnxRefiner(RuntimeConfig(weights=str(path), provider="cpu", hands_apart=False))
    reach = (WINDOW - 1) + BAND * LAYERS  # its statistics' window, behind the layers' band
    last = len(poses) - 1
    base, _ = r.refine_sequence(poses, present)
    far = poses.copy()
    far[: last - reach] += 0.3  # everything out of reach moves
    moved_far, _ = r.refine_sequence(far, present)
    np.testing.assert_allclose(moved_far[last], base[last], atol=1e-6, equal_nan=True)
    near = poses.copy()
    near[last - reach] += 0.3  # the oldest frame in reach
    moved_near, _ = r.refine_sequence(near, present)
    assert np.nanmax(np.abs(moved_near[last] - base[last])) > 1e-6


def test_the_step_file_reads_back_and_torch_refuses_it(banded, tmp_path: Path) -> None:
    model, path = banded
    config, state = onnx_state_dict(path)
    assert config["band"] == BAND
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(state[key].numpy(), value.numpy())
    with pytest.raises(RefinerWeightsError, match="OnnxRefiner"):
        TorchRefiner(model)
    with pytest.raises(ValueError, match="streaming step"):
        export_onnx(model, tmp_path / "w.onnx", window_output=True)


def test_a_banded_model_trains_from_windowed_weights(data_dir: Path, tmp_path: Path) -> None:
    """`skeletor train --band` starts from a windowed model's weights (all but its position table) and its loss falls."""
    from skeletor.refiner.data import SequenceDataset
    from skeletor.refiner.train import TrainConfig, train

    seqs = [m.positions for m in load_phoenix("train", data_dir / "ptslp_phoenix14t")]
    data = SequenceDataset([s.astype(np.float32) for s in seqs], [np.isfinite(s).all(-1) for s in seqs])
    windowed = NormalisedRefiner(RefinerConfig(window=16, d_model=32, n_layers=LAYERS, d_ff=64))
    cfg = RefinerConfig(window=WINDOW, d_model=32, n_layers=LAYERS, d_ff=64, band=BAND)
    result = train(cfg, TrainConfig(steps=60, batch_size=8, eval_every=60, warmup_steps=5, progress=False, faults=None),
                   data, data, tmp_path, init=windowed.state_dict())  # fmt: skip
    first, last = result.history[0]["val_loss"], result.history[-1]["val_loss"]
    assert np.isfinite(last) and last < first
