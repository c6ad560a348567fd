"""Training the refiner: corrupt clean 3D windows, learn to restore them.

One step: sample windows (``data.sample_windows``), bring them to shoulder-width units,
augment (rotation about the vertical, mirror, scale), corrupt a copy (optionally the
detector fault model, then the paper's masking and noise), run the model, and take the
paper's MSE between its output and the clean window over the joints present in the
clean window, with extra weight on the emitted frame and an optional velocity term.

AdamW, linear warm-up then cosine decay, gradient clipping, fixed seeds. ``out_dir``
gets ``ckpt.pt`` (model, optimizer, step, configs, random states; resumable) and
``log.csv`` (step, loss, val_loss, val_emit_mse, lr, time_s).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from skeletor.eval.corrupt import DetectorFaults, PaperCorruption, corrupt_paper, detector_faults_3d
from skeletor.refiner.data import Augmentation, SequenceDataset, augment, in_frame, sample_window_pairs, shoulder_frame
from skeletor.refiner.model import NormalisedRefiner, RefinerConfig, load_checkpoint
from skeletor.pose.skeleton import get_skeleton

__all__ = ["TrainConfig", "TrainResult", "Batch", "make_batch", "refiner_loss", "train", "load_checkpoint", "lr_at"]

log = logging.getLogger(__name__)

CHECKPOINT = "ckpt.pt"
LOG_CSV = "log.csv"
LOG_FIELDS = ("step", "loss", "val_loss", "val_emit_mse", "lr", "time_s")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters.

    Attributes:
        steps: optimizer steps in all.
        batch_size: windows per step.
        lr: peak learning rate (AdamW), reached after the warm-up.
        min_lr: learning rate at the end of the cosine decay.
        warmup_steps: linear warm-up from 0, so early large gradients do not wreck the init.
        weight_decay: AdamW decay on matrices (not on biases, norms, embeddings, mask values).
        betas: AdamW betas; nanoGPT's (0.9, 0.95).
        grad_clip: clip the global gradient norm to this (0 = off).
        emit_weight: extra loss weight of the emitted frame (window index T-1-k), the
            one the runtime shows; every frame has weight 1 besides.
        smooth_weight: weight of the velocity MSE (output vs. clean frame differences);
            0 keeps the paper's plain MSE.
        corruption: the paper's masking and noise; ``noise_std`` is in shoulder widths
            (windows are scaled to shoulder width 1 before the scale augmentation).
        faults: detector fault model applied before the paper's corruption, or None.
        faults_prob: fraction of windows that get the detector faults.
        faults_scale: shoulder widths per pixel for the fault model's pixel quantities
            (0.004 m/px over a 0.37 m shoulder width).
        truth_input_prob: fraction of windows whose input is their own target (for a
            supervised pair: the mocap truth instead of the uplift's estimate), corrupted
            like any other. Supervised pairs alone teach the model that every input needs
            moving (the uplift's depth errors); these windows teach it to leave good input
            alone, which the paper's protocol (clean 3D, then masked or noised) measures.
            0 draws no extra random numbers (earlier recipes are reproduced exactly).
        noise_std_range: (low, high) in shoulder widths, or None. When set, each batch's
            noise strength is drawn log-uniformly from this range instead of
            ``corruption.noise_std``, so the model meets small and very large errors
            (the paper's protocol goes from 0.3 to 2.7 shoulder widths). None draws no
            extra random numbers.
        augment: rotation / mirror / scale ranges.
        eval_every: steps between validation passes (and CSV rows).
        eval_batches: fixed validation batches (drawn once from ``seed + 1``).
        ckpt_every: steps between checkpoints (one is also written at the end).
        seed: seeds the model init, dropout and the batch sampler.
        threads: ``torch.set_num_threads``; 0 leaves torch's default.
        progress: show a tqdm progress bar.
    """

    steps: int = 20_000
    batch_size: int = 64
    lr: float = 3e-4
    min_lr: float = 3e-5
    warmup_steps: int = 500
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    emit_weight: float = 1.0
    smooth_weight: float = 0.0
    corruption: PaperCorruption = field(default_factory=PaperCorruption)
    faults: DetectorFaults | None = field(default_factory=DetectorFaults)
    faults_prob: float = 0.5
    faults_scale: float = 0.011
    truth_input_prob: float = 0.0
    noise_std_range: tuple[float, float] | None = None
    augment: Augmentation = field(default_factory=Augmentation)
    eval_every: int = 500
    eval_batches: int = 8
    ckpt_every: int = 2_000
    seed: int = 0
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.eval_every < 1 or self.ckpt_every < 1:
            raise ValueError("steps >= 0, batch_size >= 1, eval_every >= 1 and ckpt_every >= 1 are required")
        if not 0.0 <= self.faults_prob <= 1.0:
            raise ValueError(f"faults_prob must be in [0, 1], got {self.faults_prob}")
        if self.noise_std_range is not None and not 0.0 < self.noise_std_range[0] <= self.noise_std_range[1]:
            raise ValueError(f"noise_std_range must be (low, high) with 0 < low <= high, got {self.noise_std_range}")
        if not 0.0 <= self.truth_input_prob <= 1.0:
            raise ValueError(f"truth_input_prob must be in [0, 1], got {self.truth_input_prob}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of ``dataclasses.asdict`` (as stored in checkpoints)."""
        d = dict(d)
        d["corruption"] = PaperCorruption(**d["corruption"])
        d["faults"] = DetectorFaults(**d["faults"]) if d.get("faults") is not None else None
        d["augment"] = Augmentation(**d["augment"])
        d["betas"] = tuple(d["betas"])
        if d.get("noise_std_range") is not None:
            d["noise_std_range"] = tuple(d["noise_std_range"])
        return cls(**d)


@dataclass
class Batch:
    """One training batch (numpy, shoulder-width units).

    Attributes:
        inputs: (B, T, J, 3) corrupted windows, absent entries 0.
        input_present: (B, T, J) bool, what the model may look at.
        target: (B, T, J, 3) clean windows, absent entries 0.
        target_present: (B, T, J) bool, where the clean window has a joint (loss mask).
    """

    inputs: np.ndarray
    input_present: np.ndarray
    target: np.ndarray
    target_present: np.ndarray


@dataclass
class TrainResult:
    """What ``train`` leaves behind.

    Attributes:
        step: steps done.
        history: the CSV rows, as dicts.
        checkpoint: path of the last checkpoint.
        model: the trained model (eval mode).
    """

    step: int
    history: list[dict[str, float]]
    checkpoint: Path
    model: NormalisedRefiner


def make_batch(
    data: SequenceDataset, model_cfg: RefinerConfig, cfg: TrainConfig, rng: np.random.Generator
) -> Batch:
    """Sample, normalise, augment and corrupt one batch.

    Inputs and targets are brought into the input window's shoulder frame and get the same
    augmentation; only inputs are corrupted. For self-supervised sequences the target is
    the clean input (the paper's recipe); for supervised ones it is their own target.
    A fraction ``cfg.truth_input_prob`` of windows take their target as input as well.

    Args:
        data: clean sequences (any unit).
        model_cfg: gives the window, lookahead and skeleton.
        cfg: batch size, augmentation and corruption.
        rng: random generator.

    Returns:
        The batch.
    """
    skeleton = get_skeleton(model_cfg.skeleton)
    span = model_cfg.window + model_cfg.context  # a banded model's statistics need T - 1 frames before the window
    poses, present, tgt, tgt_present = sample_window_pairs(data, cfg.batch_size, span, model_cfg.lookahead, rng)
    if cfg.truth_input_prob > 0.0:
        own = rng.random(cfg.batch_size) < cfg.truth_input_prob  # (B,) these windows restore their own target
        poses = np.where(own[:, None, None, None], tgt, poses)
        present = np.where(own[:, None, None], tgt_present, present)
    # Input and target share the INPUT's frame (as the model normalises by its input).
    root, scale = shoulder_frame(poses, present)
    state = rng.bit_generator.state  # the same random augmentation for input and target
    clean, clean_present = augment(in_frame(poses, present, root, scale), present, skeleton, cfg.augment, rng)
    rng.bit_generator.state = state
    target, target_present = augment(in_frame(tgt, tgt_present, root, scale), tgt_present, skeleton, cfg.augment, rng)
    x, p = clean, clean_present
    if cfg.faults is not None and cfg.faults_prob > 0.0:
        f = detector_faults_3d(x, p, skeleton, cfg.faults, rng, scale=cfg.faults_scale)
        pick = rng.random(cfg.batch_size) < cfg.faults_prob  # (B,)
        x = np.where(pick[:, None, None, None], f.x, x)
        p = np.where(pick[:, None, None], f.present, p)
    corruption = cfg.corruption
    if cfg.noise_std_range is not None:
        lo, hi = cfg.noise_std_range
        corruption = replace(corruption, noise_std=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    c = corrupt_paper(x, p, corruption, rng)
    return Batch(c.x, c.present, target, target_present)


def refiner_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    present: torch.Tensor,
    emit_index: int,
    emit_weight: float = 0.0,
    smooth_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's MSE over present target joints, frame-weighted, plus an optional velocity MSE.

    Args:
        pred: (B, T, J, 3) model output.
        target: (B, T, J, 3) clean window (finite everywhere).
        present: (B, T, J) bool, joints that exist in the clean window.
        emit_index: window index of the emitted frame.
        emit_weight: extra weight of that frame.
        smooth_weight: weight of the velocity term.

    Returns:
        (loss, emitted-frame MSE) scalars.
    """
    T = pred.shape[1]
    w = present.to(pred.dtype)  # (B, T, J)
    frame_w = torch.ones(T, dtype=pred.dtype, device=pred.device)
    frame_w[emit_index] += emit_weight
    se = ((pred - target) ** 2).mean(-1)  # (B, T, J) per-joint MSE over x, y, z
    ww = w * frame_w[:, None]  # (B, T, J)
    loss = (se * ww).sum() / ww.sum().clamp(min=1.0)
    we = w[:, emit_index]  # (B, J)
    emit_mse = (se[:, emit_index] * we).sum() / we.sum().clamp(min=1.0)
    if smooth_weight > 0.0:
        dv = (pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])  # (B, T-1, J, 3)
        wv = w[:, 1:] * w[:, :-1]  # (B, T-1, J) both frames present
        loss = loss + smooth_weight * ((dv**2).mean(-1) * wv).sum() / wv.sum().clamp(min=1.0)
    return loss, emit_mse


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine from ``lr`` to ``min_lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def _optimizer(model: NormalisedRefiner, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on 2D weight matrices only (nanoGPT's rule)."""
    position = model.core.rel_bias if model.cfg.band else model.core.pos
    no_decay = {id(position), id(model.core.mask_value)}  # embeddings-like: decay would pull them to 0
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in no_decay]
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def _tensors(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(batch.inputs),
        torch.from_numpy(batch.input_present),
        torch.from_numpy(batch.target),
        torch.from_numpy(batch.target_present),
    )


def _batch_loss(model: NormalisedRefiner, batch: Batch, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, emitted-frame MSE) of ``model`` on ``batch`` (:func:`refiner_loss`); a banded
    model's leading ``cfg.context`` frames only feed its statistics and are not scored."""
    x, p, y, q = _tensors(batch)
    c = model.cfg.context
    return refiner_loss(model(x, p, c), y[:, c:], q[:, c:], model.cfg.emit_index, cfg.emit_weight, cfg.smooth_weight)


@torch.no_grad()
def evaluate(model: NormalisedRefiner, batches: list[Batch], cfg: TrainConfig) -> tuple[float, float]:
    """Mean (loss, emitted-frame MSE) over fixed batches, in eval mode."""
    was_training = model.training
    model.eval()
    losses, emits = [], []
    for b in batches:
        loss, emit = _batch_loss(model, b, cfg)
        losses.append(loss.item())
        emits.append(emit.item())
    model.train(was_training)
    return float(np.mean(losses)), float(np.mean(emits))


def _save(
    path: Path,
    model: NormalisedRefiner,
    opt: torch.optim.Optimizer,
    step: int,
    cfg: TrainConfig,
    rng: np.random.Generator,
) -> None:
    """Write a resumable checkpoint atomically."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "model_config": model.cfg.to_dict(),
            "train_config": asdict(cfg),
            "numpy_rng": json.dumps(rng.bit_generator.state),  # JSON: 128-bit ints survive weights_only loading
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    os.replace(tmp, path)  # never leave a half-written checkpoint


def train(
    model_cfg: RefinerConfig,
    cfg: TrainConfig,
    train_data: SequenceDataset,
    val_data: SequenceDataset,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    init: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train a refiner, writing ``out_dir/ckpt.pt`` and ``out_dir/log.csv``.

    Args:
        model_cfg: the model shape (ignored when resuming: the checkpoint's is used).
        cfg: hyperparameters.
        train_data: clean training sequences.
        val_data: clean validation sequences (fixed batches are drawn once).
        out_dir: output folder (created).
        resume: continue from ``out_dir/ckpt.pt`` if it exists (model, optimizer, step
            and random states), so an interrupted run ends where an uninterrupted one would.
        init: a state dict to start a new run from instead of the random init (e.g. a
            causal model's weights for a bidirectional one: the shapes are the same, only
            the attention masks differ, and they are not in the state dict). Ignored when
            resuming from a checkpoint.

    Returns:
        The result (history of logged rows, last checkpoint, model).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, csv_path = out / CHECKPOINT, out / LOG_CSV
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    val_rng = np.random.default_rng(cfg.seed + 1)
    step = 0
    if resume and ckpt_path.exists():
        model, ckpt = load_checkpoint(ckpt_path)
        opt = _optimizer(model, cfg)
        opt.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        log.info("resumed %s at step %d", ckpt_path, step)
    else:
        model = NormalisedRefiner(model_cfg)
        if init is not None:
            # A banded model has a distance bias where the others have a positional table; the rest is shared.
            positions = {"core.pos", "core.rel_bias"}
            missing, unexpected = model.load_state_dict({k: v for k, v in init.items() if k != "core.pos" or not model_cfg.band}, strict=False)
            if set(missing) - positions or set(unexpected) - positions:
                raise KeyError(f"init weights do not fit: missing {missing}, unexpected {unexpected}")
            log.info("initialised from the given weights%s", f" (new: {', '.join(missing)})" if missing else "")
        opt = _optimizer(model, cfg)
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_FIELDS)
    mcfg = model.cfg
    log.info("refiner: %.2fM parameters, window %d, lookahead %d",
             model.core.num_params() / 1e6, mcfg.window, mcfg.lookahead)  # fmt: skip
    val_batches = [make_batch(val_data, mcfg, cfg, val_rng) for _ in range(cfg.eval_batches)]
    history: list[dict[str, float]] = []

    def record(step: int, loss: float, lr: float) -> None:
        val_loss, val_emit = evaluate(model, val_batches, cfg)
        elapsed = time.perf_counter() - t0
        row = {"step": step, "loss": loss, "val_loss": val_loss, "val_emit_mse": val_emit, "lr": lr, "time_s": elapsed}
        history.append(row)
        with open(csv_path, "a", newline="") as f:
            csv.writer(f).writerow([row[k] for k in LOG_FIELDS])
        log.info("step %d: loss %.4f, val %.4f (emitted frame %.4f), lr %.2e", step, loss, val_loss, val_emit, lr)

    t0 = time.perf_counter()
    if step == 0:
        record(0, float("nan"), 0.0)  # the untrained model: the corrupted input's error
    model.train()
    running = float("nan")
    done = step
    bar = tqdm(range(step, cfg.steps), initial=step, total=cfg.steps, disable=not cfg.progress, desc="train")
    for step in bar:
        lr = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, _ = _batch_loss(model, make_batch(train_data, mcfg, cfg, rng), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        running = loss.item() if math.isnan(running) else 0.9 * running + 0.1 * loss.item()
        bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.1e}")
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            record(done, running, lr)
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            _save(ckpt_path, model, opt, done, cfg, rng)
    bar.close()
    if not ckpt_path.exists():  # steps == 0: still leave a checkpoint
        _save(ckpt_path, model, opt, done, cfg, rng)
    return TrainResult(step=done, history=history, checkpoint=ckpt_path, model=model.eval())
