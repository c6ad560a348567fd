"""The Skeletor refiner: a transformer encoder over a window of 3D skeletons.

One token per frame: every joint's x, y, z and a present flag (``J * 4`` features),
embedded by one linear layer, plus a learned positional embedding. A stack of plain
transformer encoder layers, then one linear layer predicts a *correction* that is added
to the input. Joints that are not present (masked by training, or missing live) never
show the model a coordinate: their x, y, z are replaced by a learned per-joint value
(the mask token), and that value, not zero, is the base the correction is added to.

Streaming semantics (the contract with ``skeletor.refiner.runtime``):

* The model reads the last ``T = window`` frames ``[t - T + 1, ..., t]`` and emits frame
  ``t - k`` (window index ``T - 1 - k``), ``k = lookahead`` frames behind the newest.
  ``k = 0`` is causal. ``receptive_field()`` is ``T``: ``T - 1 - k`` past frames, the
  frame itself and ``k`` future frames.
* Attention is masked so that the output at *every* window position ``i`` depends only
  on positions ``<= i + k``: layer ``l`` may look ``a_l`` frames ahead with
  ``sum(a_l) = k`` (see ``RefinerConfig.layer_lookahead``). Training can therefore
  supervise every position, and each position sees the same amount of future as the
  emitted one.
* ``bidirectional=True`` is the paper's model: no attention mask at all, every position
  sees the whole window in every layer. ``k`` then only says which frame is emitted
  (with ``k = T // 2`` the centre: ``T // 2 - 1`` past frames and ``T // 2`` future
  ones), and the output at every position depends on all ``T`` frames. It is for
  offline use (``skeletor clean --offline``), where the whole file is there.

Normalisation lives in ``NormalisedRefiner``: callers pass camera-frame coordinates
(any unit) and get camera-frame coordinates back. The window is centred on a robust
root (the median over the window of the mid-shoulder, holistic75 joints 11 and 12) and
divided by a robust scale (the median shoulder width), and de-normalised on the way out,
so a translated and scaled input gives the same translated and scaled output. The
window statistics use all ``T`` frames, i.e. frames up to the newest one, which in
streaming is at most ``k`` frames after the emitted frame.

Everything in ``forward`` is tensor ops with static shapes (the masked medians are
sorts and gathers), so the model exports to ONNX opset 17 with no Python control flow
depending on the data.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn

__all__ = ["RefinerConfig", "SkeletorRefiner", "NormalisedRefiner", "masked_median", "window_stats", "load_checkpoint"]

log = logging.getLogger(__name__)

# holistic75 shoulders (MediaPipe Pose landmarks 11, 12): the root and the scale.
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12


@dataclass(frozen=True)
class RefinerConfig:
    """Shape of the refiner.

    Attributes:
        window: T, frames per window; 32 frames is about 1 s of context at 30 fps.
        joints: J, joints per frame; 75 for holistic75 (the shoulders must be 11 and 12).
        skeleton: layout name stored with the weights so the runtime can check it.
        d_model: token width; 128 keeps an 8-layer model at about 2 ms a call on one CPU
            thread (``skeletor bench refiner``).
        n_heads: attention heads; 4 heads of 32 dims.
        n_layers: encoder layers; the paper's 8.
        d_ff: feed-forward width; 2 x d_model, chosen for latency rather than 4 x.
        dropout: dropout in attention and feed-forward, training only.
        lookahead: k, frames of future context (= output delay); 0 is causal.
        bidirectional: full attention in every layer (the paper's model); ``lookahead``
            then only picks the emitted frame, and every output sees the whole window.
    """

    window: int = 32
    joints: int = 75
    skeleton: str = "holistic75"
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 8
    d_ff: int = 256
    dropout: float = 0.1
    lookahead: int = 0
    bidirectional: bool = False

    def __post_init__(self) -> None:
        if self.window < 1 or self.joints < 1 or self.n_layers < 1:
            got = f"{self.window}, {self.joints}, {self.n_layers}"
            raise ValueError(f"window, joints and n_layers must be >= 1, got {got}")
        if not 0 <= self.lookahead < self.window:
            raise ValueError(f"lookahead must be in [0, window={self.window}), got {self.lookahead}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.joints <= max(LEFT_SHOULDER, RIGHT_SHOULDER):
            raise ValueError(f"joints must include the shoulders (indices 11, 12), got joints={self.joints}")

    @property
    def emit_index(self) -> int:
        """Window index of the emitted frame: ``T - 1 - k``."""
        return self.window - 1 - self.lookahead

    @property
    def layer_lookahead(self) -> tuple[int, ...]:
        """Frames each layer may look ahead, bottom layer first; they sum to ``lookahead``.

        ``k // L`` for every layer and one more for the top ``k % L`` layers, so the
        lookahead of a stack of layers is exactly ``k`` (per-layer masks compose: a
        mask of ``i + k`` in every layer would give ``L * k``). A bidirectional model
        looks ``T - 1`` ahead in every layer (no mask).
        """
        if self.bidirectional:
            return (self.window - 1,) * self.n_layers
        base, extra = divmod(self.lookahead, self.n_layers)
        return tuple(base + (1 if layer >= self.n_layers - extra else 0) for layer in range(self.n_layers))

    def to_dict(self) -> dict[str, int | float | str]:
        """Plain dict for checkpoints and ONNX metadata."""
        return asdict(self)


class SkeletorRefiner(nn.Module):
    """The transformer, in normalised coordinates (root-centred, shoulder width ~1).

    ``forward(x, present)`` with ``x`` (B, t, J, 3) and ``present`` (B, t, J) (bool or
    0/1 float), ``t <= window``, returns (B, t, J, 3): the refined value of every joint
    of every frame. The output at position ``i`` depends only on positions ``<= i + k``
    (on every position when ``cfg.bidirectional``).
    """

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        J, D = cfg.joints, cfg.d_model
        self.mask_value = nn.Parameter(torch.zeros(J, 3))  # learned stand-in for absent joints
        self.embed = nn.Linear(J * 4, D)
        self.pos = nn.Parameter(torch.randn(cfg.window, D) * 0.02)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                D, cfg.n_heads, cfg.d_ff, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, J * 3)
        nn.init.zeros_(self.head.weight)  # start as the identity (plus mask tokens): a correction of 0
        nn.init.zeros_(self.head.bias)
        # Additive attention masks, one per layer: 0 where query i may see key j (j <= i + a_l).
        i = torch.arange(cfg.window)
        masks = [torch.zeros(cfg.window, cfg.window).masked_fill(i[None, :] > i[:, None] + a, float("-inf"))
                 for a in cfg.layer_lookahead]  # fmt: skip
        self.register_buffer("attn_mask", torch.stack(masks), persistent=False)  # (L, T, T)
        log.debug("SkeletorRefiner: %.2fM parameters", self.num_params() / 1e6)

    def num_params(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def receptive_field(self) -> int:
        """Frames the emitted frame depends on: the whole window, ``T``."""
        return self.cfg.window

    @property
    def lookahead(self) -> int:
        """Future frames the emitted frame depends on (its delay, in frames); VideoPose3D's causal shift.

        For a bidirectional model too: the emitted frame (index ``T - 1 - k``) sees the
        ``k`` frames after it, the rest of the window.
        """
        return self.cfg.lookahead

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Refine a (normalised) window.

        Args:
            x: (B, t, J, 3) normalised coordinates; values of absent joints are never read
                (they only pass through ``torch.where``, so even NaN is harmless).
            present: (B, t, J) bool or 0/1 float, True/1 where the joint is observed.

        Returns:
            (B, t, J, 3) refined coordinates, normalised.

        Raises:
            ValueError: wrong joint count, a window longer than ``cfg.window``, or
                ``present`` not matching ``x``.
        """
        B, t, J, C = x.shape
        if J != self.cfg.joints or C != 3:
            raise ValueError(f"expected (B, t, {self.cfg.joints}, 3) joints, got {tuple(x.shape)}")
        if t > self.cfg.window:
            raise ValueError(f"window of {t} frames is longer than the model's {self.cfg.window}")
        if present.shape != x.shape[:3]:
            raise ValueError(f"present: expected {tuple(x.shape[:3])}, got {tuple(present.shape)}")
        flag = present.to(x.dtype).unsqueeze(-1)  # (B, t, J, 1)
        base = torch.where(flag > 0.5, x, self.mask_value.to(x.dtype))  # (B, t, J, 3) mask token for absent joints
        tokens = torch.cat([base, flag], dim=-1).reshape(B, t, J * 4)  # (B, t, J*4)
        h = self.drop(self.embed(tokens) + self.pos[:t])  # (B, t, D)
        for layer, mask in zip(self.layers, self.attn_mask):
            h = layer(h, src_mask=mask[:t, :t])
        delta = self.head(self.norm(h)).reshape(B, t, J, 3)  # (B, t, J, 3)
        return base + delta


def masked_median(v: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower median over dim 1 of the valid entries, with ONNX-exportable ops (sort + gather).

    Args:
        v: (B, T, C) values (finite where valid).
        valid: (B, T) bool.

    Returns:
        (median (B, C), count (B,) int64 of valid entries). Where the count is 0 the
        median is +inf; callers replace it (``torch.where``).
    """
    big = torch.where(valid.unsqueeze(-1), v, torch.full_like(v, float("inf")))  # (B, T, C) invalid sort last
    srt, _ = torch.sort(big, dim=1)
    n = valid.to(torch.int64).sum(dim=1)  # (B,)
    idx = torch.div(torch.clamp(n - 1, min=0), 2, rounding_mode="floor")  # (B,) lower median
    idx = idx.view(-1, 1, 1).expand(-1, 1, v.shape[-1])  # (B, 1, C)
    return torch.gather(srt, 1, idx).squeeze(1), n


def window_stats(x: torch.Tensor, present: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Robust root and scale of a window of holistic75 poses.

    Root: median over the frames where both shoulders are present of the mid-shoulder
    (per coordinate); if no such frame, the mean of all present joints; if none, 0.
    Scale: median over those frames of the shoulder width; if no such frame, the RMS
    distance of the present joints from the root; if none, 1. Both are equivariant: a
    window translated by ``d`` and scaled by ``s`` gives root ``s * root + d`` and
    scale ``s * scale``.

    Args:
        x: (B, T, J, 3) coordinates, finite where present.
        present: (B, T, J) bool.
        eps: smallest scale returned.

    Returns:
        (root (B, 3), scale (B,)).
    """
    ls, rs = x[:, :, LEFT_SHOULDER], x[:, :, RIGHT_SHOULDER]  # (B, T, 3) each
    both = present[:, :, LEFT_SHOULDER] & present[:, :, RIGHT_SHOULDER]  # (B, T)
    mid, n = masked_median(0.5 * (ls + rs), both)  # (B, 3), (B,)
    width, _ = masked_median(torch.linalg.vector_norm(ls - rs, dim=-1, keepdim=True), both)  # (B, 1)

    w = present.to(x.dtype).unsqueeze(-1)  # (B, T, J, 1)
    count = w.sum(dim=(1, 2))  # (B, 1)
    mean = (x * w).sum(dim=(1, 2)) / count.clamp(min=1.0)  # (B, 3)
    has_shoulders = (n > 0).unsqueeze(-1)  # (B, 1)
    root = torch.where(has_shoulders, mid, mean)  # (B, 3)
    sq = ((x - root[:, None, None]) ** 2).sum(-1, keepdim=True)  # (B, T, J, 1)
    rms = torch.sqrt((sq * w).sum(dim=(1, 2)) / count.clamp(min=1.0))  # (B, 1)
    rms = torch.where(count > 0, rms, torch.ones_like(rms))
    scale = torch.where(has_shoulders, width, rms).clamp(min=eps)  # (B, 1)
    return root, scale.squeeze(-1)


class NormalisedRefiner(nn.Module):
    """``SkeletorRefiner`` with the normalisation inside: camera frame in, camera frame out.

    ``forward(poses, present)`` refines a whole window; ``emit(poses, present)`` returns
    only the emitted frame (window index ``T - 1 - k``), which is what streaming uses.
    """

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.core = SkeletorRefiner(cfg)

    def receptive_field(self) -> int:
        """Frames the emitted frame depends on: the whole window, ``T``."""
        return self.core.receptive_field()

    @property
    def lookahead(self) -> int:
        """Output delay k in frames (future frames the emitted frame depends on)."""
        return self.core.lookahead

    def forward(self, poses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Refine a window given in camera-frame coordinates.

        Args:
            poses: (B, t, J, 3) camera frame, any unit; absent joints may hold anything,
                NaN included.
            present: (B, t, J) bool or 0/1 float.

        Returns:
            (B, t, J, 3) refined poses in the units and frame of ``poses`` (every joint,
            absent ones included: they are the model's fill-in).

        Raises:
            ValueError: shapes as in ``SkeletorRefiner.forward``.
        """
        if poses.dim() != 4 or present.shape != poses.shape[:3]:
            got = f"{tuple(poses.shape)}, {tuple(present.shape)}"
            raise ValueError(f"expected poses (B, t, J, 3) and present (B, t, J), got {got}")
        ok = (present > 0.5) if present.dtype != torch.bool else present
        ok = ok & torch.isfinite(poses).all(dim=-1)  # (B, t, J)
        x = torch.where(ok.unsqueeze(-1), poses, torch.zeros_like(poses))  # (B, t, J, 3) no NaN beyond here
        root, scale = window_stats(x, ok)  # (B, 3), (B,)
        s = scale.view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        r = root.view(-1, 1, 1, 3)  # (B, 1, 1, 3)
        y = self.core((x - r) / s, ok)
        return y * s + r

    def emit(self, poses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """The emitted frame of a full window: (B, T, J, 3) -> (B, J, 3), window index ``T - 1 - k``.

        Raises:
            ValueError: the window is not exactly ``cfg.window`` frames.
        """
        if poses.shape[1] != self.cfg.window:
            raise ValueError(f"emit needs a full window of {self.cfg.window} frames, got {poses.shape[1]}")
        return self(poses, present)[:, self.cfg.emit_index]


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[NormalisedRefiner, dict[str, Any]]:
    """Load a checkpoint written by ``train``.

    Returns:
        (model in eval mode, the whole checkpoint dict).

    Raises:
        OSError: unreadable file.
        KeyError: not a refiner checkpoint.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = NormalisedRefiner(RefinerConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
