"""Refiner training: batches, the loss, the schedule, a short real run, checkpoints and resume."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skeletor.eval.corrupt import PaperCorruption  # noqa: E402
from skeletor.refiner.data import SequenceDataset  # noqa: E402
from skeletor.refiner.model import RefinerConfig  # noqa: E402
from skeletor.refiner.train import TrainConfig, load_checkpoint, lr_at, make_batch, refiner_loss, train  # noqa: E402

TINY = RefinerConfig(window=16, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.1)
QUICK = TrainConfig(steps=40, batch_size=16, lr=1e-3, warmup_steps=5, eval_every=20, eval_batches=4,
                    ckpt_every=20, threads=1, progress=False)  # fmt: skip


def _dataset(seqs: list[tuple[np.ndarray, np.ndarray]]) -> SequenceDataset:
    return SequenceDataset([x for x, _ in seqs], [p for _, p in seqs])


@pytest.mark.data
def test_batch_is_corrupted_clean_windows_in_shoulder_units(phoenix: dict, rng: np.random.Generator) -> None:
    b = make_batch(_dataset(phoenix["train"]), TINY, replace(QUICK, batch_size=64, faults=None), rng)
    assert b.inputs.shape == b.target.shape == (64, 16, 75, 3)
    assert not (b.input_present & ~b.target_present).any()  # corruption only removes
    assert np.isfinite(b.inputs).all() and np.isfinite(b.target).all()
    assert (b.inputs[~b.input_present] == 0).all()
    w = np.linalg.norm(b.target[..., 11, :] - b.target[..., 12, :], axis=-1)[b.target_present[..., 11]]
    assert 0.75 < np.median(w) < 1.3  # shoulder widths, times the scale augmentation
    masked = (b.target_present & ~b.input_present).sum() / b.target_present.sum()
    assert 0.12 < masked < 0.28  # 1 - 0.9 * 0.9 = 19 % masked by the paper's defaults
    diff = np.abs(b.inputs - b.target).max(-1)[b.input_present]
    assert 0.2 < (diff > 1e-6).mean() < 0.45  # noised: 15 % of frames + 15 % of entries


@pytest.mark.data
def test_truth_input_windows_take_their_target_as_input(phoenix: dict) -> None:
    """``truth_input_prob``: the window's input becomes its supervised target (here: the
    real sequence moved by a known offset, standing in for a mocap truth)."""
    seqs = phoenix["train"]
    offset = np.float32(0.05)  # 0.05 Phoenix units, about 15 % of a shoulder width
    data = SequenceDataset([x for x, _ in seqs], [p for _, p in seqs], targets=[x + offset for x, _ in seqs])
    plain = replace(QUICK, batch_size=64, faults=None, corruption=PaperCorruption(0.0, 0.0, 0.0, 0.0))
    for prob, same in ((0.0, 0.0), (1.0, 1.0)):
        b = make_batch(data, TINY, replace(plain, truth_input_prob=prob), np.random.default_rng(0))
        err = np.abs(b.inputs - b.target).max(axis=(2, 3))  # (B, T)
        close = (err < 1e-4)[b.input_present.any(-1)].mean()
        assert close == same, prob
    b = make_batch(data, TINY, replace(plain, truth_input_prob=0.5), np.random.default_rng(0))
    own = (np.abs(b.inputs - b.target).max(axis=(1, 2, 3)) < 1e-4).mean()
    assert 0.3 < own < 0.7


@pytest.mark.data
def test_noise_strength_drawn_from_the_range(phoenix: dict) -> None:
    """``noise_std_range``: a batch's noise strength is one draw from the range (shoulder widths)."""
    data = _dataset(phoenix["train"])
    only_noise = replace(QUICK, batch_size=64, faults=None, corruption=PaperCorruption(0.0, 0.0, 1.0, 0.0))
    stds = []
    for seed in range(6):
        b = make_batch(data, TINY, replace(only_noise, noise_std_range=(0.3, 3.0)), np.random.default_rng(seed))
        stds.append(float((b.inputs - b.target)[b.input_present].std()))
    assert all(0.27 < s < 3.3 for s in stds) and max(stds) / min(stds) > 1.5, stds
    b = make_batch(data, TINY, only_noise, np.random.default_rng(0))
    assert abs(float((b.inputs - b.target)[b.input_present].std()) - 0.5) < 0.05  # the paper's fixed 0.5
    with pytest.raises(ValueError, match="noise_std_range"):
        TrainConfig(noise_std_range=(0.0, 1.0))


def test_loss_ignores_absent_targets_and_weights_the_emitted_frame() -> None:
    pred, target = torch.zeros(2, 4, 75, 3), torch.zeros(2, 4, 75, 3)
    present = torch.ones(2, 4, 75, dtype=torch.bool)
    pred[:, 3] = 1.0
    loss, emit = refiner_loss(pred, target, present, emit_index=3, emit_weight=0.0)
    assert loss.item() == pytest.approx(0.25) and emit.item() == pytest.approx(1.0)
    loss, _ = refiner_loss(pred, target, present, emit_index=3, emit_weight=2.0)
    assert loss.item() == pytest.approx(3 / 6)
    present[:, 3] = False  # the error sits on absent joints only
    loss, emit = refiner_loss(pred, target, present, emit_index=3, emit_weight=2.0, smooth_weight=1.0)
    assert loss.item() == 0.0 and emit.item() == 0.0


def test_schedule_warms_up_then_decays_to_min_lr() -> None:
    cfg = TrainConfig(steps=1000, lr=1e-3, min_lr=1e-4, warmup_steps=100)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(5.5e-4)
    assert lr_at(1000, cfg) == pytest.approx(1e-4)


@pytest.mark.data
def test_short_run_on_phoenix_lowers_the_validation_loss(phoenix: dict, tmp_path: Path) -> None:
    result = train(TINY, QUICK, _dataset(phoenix["train"]), _dataset(phoenix["dev"]), tmp_path)
    first, last = result.history[0], result.history[-1]
    assert first["step"] == 0 and last["step"] == 40
    assert last["val_loss"] < 0.92 * first["val_loss"]
    assert last["val_emit_mse"] < first["val_emit_mse"]
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 20, 40]
    assert set(rows[0]) == {"step", "loss", "val_loss", "val_emit_mse", "lr", "time_s"}
    model, ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["step"] == 40 and model.cfg == TINY and "optimizer" in ckpt
    TrainConfig.from_dict(ckpt["train_config"])  # the stored config reads back


@pytest.mark.data
def test_resume_continues_exactly(phoenix: dict, tmp_path: Path) -> None:
    data, val = _dataset(phoenix["train"][:2]), _dataset(phoenix["dev"][:1])
    cfg = replace(QUICK, steps=6, batch_size=4, eval_every=3, ckpt_every=3, eval_batches=1,
                  corruption=PaperCorruption(noise_std=0.2))  # fmt: skip
    whole = train(TINY, cfg, data, val, tmp_path / "whole")
    # an interrupted run: stops at step 3, inside the warm-up, so its learning rates so far
    # are the whole run's (the cosine part depends on ``steps``)
    train(TINY, replace(cfg, steps=3), data, val, tmp_path / "split")
    resumed = train(TINY, cfg, data, val, tmp_path / "split", resume=True)
    assert resumed.step == 6
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
