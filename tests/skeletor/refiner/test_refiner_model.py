"""The refiner model: shapes, normalisation, mask token, lookahead / causality, robust statistics."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refiner_helpers import perturbed, phoenix_window  # noqa: E402

from skeletor.refiner.model import (  # noqa: E402
    NormalisedRefiner,
    RefinerConfig,
    SkeletorRefiner,
    masked_median,
    window_stats,
)

SMALL = dict(window=16, d_model=32, n_heads=4, n_layers=3, d_ff=64, dropout=0.0)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def test_config_checks_and_lookahead_split() -> None:
    with pytest.raises(ValueError, match="lookahead"):
        RefinerConfig(window=8, lookahead=8)
    with pytest.raises(ValueError, match="multiple"):
        RefinerConfig(d_model=30, n_heads=4)
    assert RefinerConfig(lookahead=0).layer_lookahead == (0,) * 8
    assert RefinerConfig(lookahead=2).layer_lookahead == (0, 0, 0, 0, 0, 0, 1, 1)
    assert RefinerConfig(lookahead=10).layer_lookahead == (1, 1, 1, 1, 1, 1, 2, 2)
    cfg = RefinerConfig(window=32, lookahead=3)
    assert cfg.emit_index == 28
    m = NormalisedRefiner(cfg)
    assert m.receptive_field() == 32 and m.lookahead == 3


def test_shapes_and_emitted_frame() -> None:
    torch.manual_seed(0)
    m = perturbed(NormalisedRefiner(RefinerConfig(**SMALL, lookahead=2)))
    x, p = torch.randn(3, 16, 75, 3), torch.rand(3, 16, 75) > 0.2
    y = m(x, p)
    assert y.shape == (3, 16, 75, 3)
    e = m.emit(x, p)
    assert e.shape == (3, 75, 3)
    torch.testing.assert_close(e, y[:, 13])
    with pytest.raises(ValueError, match="75"):
        m(torch.randn(1, 16, 50, 3), torch.ones(1, 16, 50))
    with pytest.raises(ValueError, match="longer"):
        m(torch.randn(1, 17, 75, 3), torch.ones(1, 17, 75))
    with pytest.raises(ValueError, match="full window"):
        m.emit(x[:, :8], p[:, :8])


@pytest.mark.data
def test_untrained_model_returns_present_joints_unchanged(phoenix: dict) -> None:
    """The output layer starts at zero: the model starts as the identity on what it sees."""
    m = NormalisedRefiner(RefinerConfig(**SMALL)).eval()
    x, p = phoenix_window(phoenix, 16)
    y = m(_t(x), _t(p)).detach().numpy()
    np.testing.assert_allclose(y[p], x[p], atol=1e-5)


@pytest.mark.data
def test_scaled_translated_input_gives_scaled_translated_output(phoenix: dict) -> None:
    torch.manual_seed(1)
    m = perturbed(NormalisedRefiner(RefinerConfig(**SMALL, lookahead=1)))
    x, p = phoenix_window(phoenix, 16, seq=2, start=30)
    p[0, 3] = False  # a masked frame and a masked joint too
    p[0, 7, 15] = False
    s, d = 0.37, np.array([0.4, -0.25, 2.5], dtype=np.float32)  # Phoenix units -> about metres, 2.5 m away
    y = m(_t(x), _t(p)).detach().numpy()
    y2 = m(_t(x * s + d), _t(p)).detach().numpy()
    np.testing.assert_allclose(y2, y * s + d, atol=1e-5)
    # and the model is not the identity: the check above is not trivially true
    assert np.abs(y - np.nan_to_num(x))[p].max() > 1e-2


@pytest.mark.data
def test_masked_joint_input_is_never_read(phoenix: dict) -> None:
    torch.manual_seed(2)
    m = perturbed(NormalisedRefiner(RefinerConfig(**SMALL)))
    x, p = phoenix_window(phoenix, 16, seq=1)
    p[0, 5, 40] = p[0, 9] = False  # one joint, one whole frame
    x1 = np.nan_to_num(x)
    x2 = x1.copy()
    x2[0, 5, 40] = [5.0, -3.0, 9.0]
    x2[0, 9] = 100.0
    x3 = x1.copy()
    x3[~p] = np.nan
    ys = [m(_t(a), _t(p)).detach().numpy() for a in (x1, x2, x3)]
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])
    assert np.isfinite(ys[0]).all()
    # the masked joint is filled in, not copied from (zeroed) input
    assert np.abs(ys[0][0, 5, 40] - x1[0, 5, 40]).max() > 1e-3


@pytest.mark.parametrize("k", [0, 2, 5])
def test_position_i_sees_exactly_k_frames_ahead(k: int) -> None:
    torch.manual_seed(3)
    cfg = RefinerConfig(**SMALL, lookahead=k)
    core = SkeletorRefiner(cfg).eval()
    with torch.no_grad():
        core.head.weight.normal_(std=0.05)
    x, p = torch.randn(1, 16, 75, 3), torch.ones(1, 16, 75, dtype=torch.bool)
    y = core(x, p).detach()
    for i in (0, 6, 15 - k):
        x2 = x.clone()
        x2[:, i + k + 1 :] += torch.randn_like(x2[:, i + k + 1 :])  # beyond the lookahead: no effect
        torch.testing.assert_close(core(x2, p)[:, : i + 1], y[:, : i + 1], atol=1e-6, rtol=0)
        if i + k < 15:
            x3 = x.clone()
            x3[:, i + k] += 10.0  # the furthest frame position i may see: an effect
            assert (core(x3, p)[:, i] - y[:, i]).abs().max() > 1e-5


def test_masked_median_matches_numpy(rng: np.random.Generator) -> None:
    v = rng.standard_normal((6, 20, 3)).astype(np.float32)
    valid = rng.random((6, 20)) < 0.6
    valid[0] = False
    valid[1] = False
    valid[1, 4] = True
    med, n = masked_median(_t(v), _t(valid))
    assert n.tolist() == valid.sum(1).tolist()
    assert torch.isinf(med[0]).all()
    for b in range(1, 6):
        vals = np.sort(v[b, valid[b]], axis=0)
        np.testing.assert_allclose(med[b].numpy(), vals[(len(vals) - 1) // 2])


@pytest.mark.data
def test_window_stats_on_real_data_and_fallbacks(phoenix: dict) -> None:
    x, p = phoenix_window(phoenix, 32)
    x = np.nan_to_num(x)
    root, scale = window_stats(_t(x), _t(p))
    mid = 0.5 * (x[0, :, 11] + x[0, :, 12])
    assert np.abs(root[0].numpy() - np.median(mid, axis=0)).max() < 0.02
    assert 0.8 < scale.item() < 1.2  # Phoenix: shoulder width about 1 after the x3
    p2 = p.copy()
    p2[..., 11] = False  # no left shoulder: mean / RMS fallback, still finite
    root2, scale2 = window_stats(_t(x), _t(p2))
    assert torch.isfinite(root2).all() and 0.3 < scale2.item() < 5
    root3, scale3 = window_stats(_t(x), _t(np.zeros_like(p)))  # nothing at all
    assert root3.abs().max() == 0 and scale3.item() == 1.0


def test_bidirectional_config_emits_the_centre_and_sees_the_whole_window() -> None:
    cfg = RefinerConfig(window=32, lookahead=16, bidirectional=True)
    assert cfg.emit_index == 15  # 15 frames before the emitted one, 16 after
    assert cfg.layer_lookahead == (31,) * 8  # no mask in any layer
    m = NormalisedRefiner(cfg)
    assert m.receptive_field() == 32 and m.lookahead == 16
    assert float(m.core.attn_mask.abs().sum()) == 0.0
    assert RefinerConfig().bidirectional is False  # the causal default stays causal


@pytest.mark.data
def test_bidirectional_centre_frame_depends_on_every_frame_of_its_window_and_no_other(phoenix: dict) -> None:
    """The receptive field on real data: a window of T = 16 frames emitting frame t (index 7,
    k = 8): any frame from t - 7 to t + 8 changes it (the future too); in a sequence, frames
    outside that window do not (the window emitting t never holds them)."""
    torch.manual_seed(4)
    cfg = RefinerConfig(**SMALL, lookahead=8, bidirectional=True)
    m = perturbed(NormalisedRefiner(cfg))
    x, p = phoenix_window(phoenix, 16, seq=1, start=20)
    xt, pt = _t(np.nan_to_num(x)), _t(p)
    e = m.emit(xt, pt).detach()
    assert cfg.emit_index == 7
    for i in (0, 7, 8, 15):  # the oldest frame, the emitted one, the next, the newest (8 ahead)
        x2 = xt.clone()
        x2[:, i, 13:17] += 0.2  # an elbow and wrist moved in frame i
        assert (m.emit(x2, pt) - e).abs().max() > 1e-4, i
    # the whole sequence, one centred window per frame (what the runtime does): frame 30's
    # output ignores frames beyond 30 + 8 and before 30 - 7
    from skeletor.refiner.runtime import TorchRefiner

    poses, present = phoenix["test"][1]
    r = TorchRefiner(m, hands_apart=False)
    base, _ = r.refine_sequence(poses, present)
    moved = poses.copy()
    moved[39:, 13:17] += 0.2
    moved[:23, 13:17] -= 0.2
    out, _ = r.refine_sequence(moved, present)
    np.testing.assert_allclose(out[30], base[30], atol=1e-5)
    assert np.nanmax(np.abs(out[31] - base[31])) > 1e-4  # frame 39 is inside frame 31's window
