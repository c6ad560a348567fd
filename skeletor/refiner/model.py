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

Cached (banded) models, ``RefinerConfig.band = w > 0``, causal only: in every layer frame
``i`` attends to frames ``i - w ... i`` (a learned bias per head and distance instead of
the positional table), and each frame is normalised by the statistics of the ``T`` frames
ending at it (:func:`arrival_stats`), fixed when it arrives. A frame's hidden states then
never change once computed, so live inference keeps each layer's last ``w`` keys and values
and runs only the new frame through the layers (``skeletor.refiner.graph.refiner_step_graph``),
about 1/T of a windowed call's arithmetic. Receptive field ``w * L + 1`` frames (33 for
``w = 4``, 8 layers); a frame's answer also depends, through its oldest frames' statistics,
on the ``T - 1`` frames before those. Trained on windows of ``T = w * L + 1`` frames (plus
``T - 1`` frames of context for the statistics), whose last frame sees exactly what it sees
live; ``NormalisedRefiner.forward`` on a whole sequence gives every frame as streaming does.

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

__all__ = ["RefinerConfig", "SkeletorRefiner", "NormalisedRefiner", "masked_median", "window_stats", "arrival_stats", "load_checkpoint"]

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
        band: 0 = attention over the window as above. ``w > 0`` makes a *cached* model
            (causal only): in every layer frame ``i`` attends to frames ``i - w ... i``,
            with a learned bias per head and distance instead of the positional table,
            and every frame is normalised by the statistics of the ``window`` frames
            ending at it (known when it arrives). A frame's hidden states then never
            change once computed, so streaming keeps each layer's last ``w`` keys and
            values and runs one frame through the layers (``skeletor.refiner.graph``,
            ``refiner_step_graph``). Receptive field ``w * n_layers + 1`` frames; train
            with ``window`` equal to it, so the last frame of a training window sees
            exactly what it sees live.
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
    band: int = 0

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
        if self.band < 0 or (self.band and (self.lookahead or self.bidirectional)):
            raise ValueError(f"band must be >= 0, and a banded model is causal (lookahead 0), got band={self.band}")

    @property
    def context(self) -> int:
        """Frames before a training window that its statistics need: ``T - 1`` for a banded model, else 0."""
        return self.window - 1 if self.band else 0

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
        if cfg.band:  # relative positions: a bias per head and distance 0..w, ALiBi's slopes to start
            slopes = 2.0 ** (-8.0 * torch.arange(1, cfg.n_heads + 1) / cfg.n_heads)  # (H,)
            self.rel_bias = nn.Parameter(-slopes[:, None] * torch.arange(cfg.band + 1.0))  # (H, w + 1)
        else:
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
        """Frames the emitted frame depends on: the whole window ``T``; ``w * L + 1`` for a banded model."""
        return self.cfg.band * self.cfg.n_layers + 1 if self.cfg.band else self.cfg.window

    def band_mask(self, t: int) -> torch.Tensor:
        """(H, t, t) additive attention mask of a banded model: ``rel_bias[h, i - j]`` for ``0 <= i - j <= w``, else -inf."""
        i = torch.arange(t)
        d = i[:, None] - i[None, :]  # (t, t) distance from query i back to key j
        bias = self.rel_bias[:, d.clamp(0, self.cfg.band)]  # (H, t, t)
        return bias.masked_fill(((d < 0) | (d > self.cfg.band))[None], float("-inf"))

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
        base, h = self._encode(x, present)  # (B, t, J, 3), (B, t, D)
        B, t, J, _ = x.shape
        delta = self.head(h).reshape(B, t, J, 3)  # (B, t, J, 3)
        return base + delta

    def hidden_states(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, t, D) the final layer's states (after the last norm), from which ``forward`` reads
        its correction; what an encoder built on the refiner pools (``benchmarks/probe.py``).

        Args and errors as :meth:`forward`.
        """
        return self._encode(x, present)[1]

    def _encode(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input with absent joints at the mask token (B, t, J, 3), final states (B, t, D))."""
        B, t, J, C = x.shape
        if J != self.cfg.joints or C != 3:
            raise ValueError(f"expected (B, t, {self.cfg.joints}, 3) joints, got {tuple(x.shape)}")
        if t > self.cfg.window and not self.cfg.band:
            raise ValueError(f"window of {t} frames is longer than the model's {self.cfg.window}")
        if present.shape != x.shape[:3]:
            raise ValueError(f"present: expected {tuple(x.shape[:3])}, got {tuple(present.shape)}")
        flag = present.to(x.dtype).unsqueeze(-1)  # (B, t, J, 1)
        base = torch.where(flag > 0.5, x, self.mask_value.to(x.dtype))  # (B, t, J, 3) mask token for absent joints
        tokens = torch.cat([base, flag], dim=-1).reshape(B, t, J * 4)  # (B, t, J*4)
        if self.cfg.band:
            h = self.drop(self.embed(tokens))  # (B, t, D)
            H = self.cfg.n_heads
            mask = self.band_mask(t).to(x.dtype)[None].expand(B, H, t, t).reshape(B * H, t, t)  # (B*H, t, t) batch-major
            # torch's fused inference kernel reads a float mask as "masked where non-zero", so a
            # learned bias would mask everything: the plain layers, in training and inference alike.
            before = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                for layer in self.layers:
                    h = layer(h, src_mask=mask)
            finally:
                torch.backends.mha.set_fastpath_enabled(before)
        else:
            h = self.drop(self.embed(tokens) + self.pos[:t])  # (B, t, D)
            for layer, mask in zip(self.layers, self.attn_mask):
                h = layer(h, src_mask=mask[:t, :t])
        return base, self.norm(h)


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


def arrival_stats(x: torch.Tensor, present: torch.Tensor, window: int, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's root and scale: :func:`window_stats` of the ``window`` frames ending at it.

    What a banded model normalises each frame by: known when the frame arrives, never
    recomputed. Frames before the first are absent (a stream's start).

    Args:
        x: (B, t, J, 3) coordinates, finite where present.
        present: (B, t, J) bool.
        window: frames per statistics window (the model's ``T``).
        eps: smallest scale returned.

    Returns:
        (root (B, t, 3), scale (B, t)).
    """
    B, t, J, _ = x.shape
    xp = torch.cat([x.new_zeros(B, window - 1, J, 3), x], dim=1)  # (B, t + T - 1, J, 3) absent frames before the start
    pp = torch.cat([present.new_zeros(B, window - 1, J), present], dim=1)  # (B, t + T - 1, J)
    ls, rs = xp[:, :, LEFT_SHOULDER], xp[:, :, RIGHT_SHOULDER]  # (B, t + T - 1, 3)
    both = pp[:, :, LEFT_SHOULDER] & pp[:, :, RIGHT_SHOULDER]  # (B, t + T - 1)

    def windows(v: torch.Tensor) -> torch.Tensor:  # (B, t + T - 1, C) -> (B * t, T, C), oldest frame first
        return v.unfold(1, window, 1).permute(0, 1, 3, 2).reshape(B * t, window, v.shape[-1])

    both_w = windows(both[..., None].to(x.dtype))[..., 0] > 0.5  # (B*t, T) frames with both shoulders, per window
    mid, n = masked_median(windows(0.5 * (ls + rs)), both_w)  # (B*t, 3), (B*t,)
    width, _ = masked_median(windows(torch.linalg.vector_norm(ls - rs, dim=-1, keepdim=True)), both_w)  # (B*t, 1)
    # Fallback without shoulders: mean and RMS radius of the window's present joints, from windowed sums (float64).
    w = pp.to(torch.float64).unsqueeze(-1)  # (B, t + T - 1, J, 1)
    x64 = xp.to(torch.float64) * w
    sums = torch.cat([x64.sum(2), w.sum(2), (x64**2).sum((2, 3))[..., None]], dim=-1)  # (B, t + T - 1, 5): sum x, count, sum |x|^2
    cum = torch.cat([sums.new_zeros(B, 1, 5), sums.cumsum(1)], dim=1)  # (B, t + T, 5)
    win = cum[:, window:] - cum[:, :-window]  # (B, t, 5) sums over each frame's window
    count = win[..., 3:4].clamp(min=1.0)  # (B, t, 1)
    mean = win[..., :3] / count  # (B, t, 3)
    var = (win[..., 4:5] / count - (mean**2).sum(-1, keepdim=True)).clamp(min=0.0)  # (B, t, 1) mean |x - mean|^2
    rms = torch.where(win[..., 3:4] > 0, torch.sqrt(var), torch.ones_like(var))
    has = (n > 0).view(B, t, 1)
    root = torch.where(has, mid.view(B, t, 3), mean.to(x.dtype))
    scale = torch.where(has, width.view(B, t, 1), rms.to(x.dtype)).clamp(min=eps)
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

    def forward(self, poses: torch.Tensor, present: torch.Tensor, context: int = 0) -> torch.Tensor:
        """Refine a window given in camera-frame coordinates.

        A banded model (``cfg.band``) reads the input as the start of a stream: every
        frame is normalised by :func:`arrival_stats`, and the output of frame ``i`` is what
        streaming emits for it.

        Args:
            poses: (B, t, J, 3) camera frame, any unit; absent joints may hold anything,
                NaN included.
            present: (B, t, J) bool or 0/1 float.
            context: leading frames that only feed the statistics (banded models; training
                passes ``cfg.context``): they are not refined or returned.

        Returns:
            (B, t - context, J, 3) refined poses in the units and frame of ``poses`` (every
            joint, absent ones included: they are the model's fill-in).

        Raises:
            ValueError: shapes as in ``SkeletorRefiner.forward``.
        """
        if poses.dim() != 4 or present.shape != poses.shape[:3]:
            got = f"{tuple(poses.shape)}, {tuple(present.shape)}"
            raise ValueError(f"expected poses (B, t, J, 3) and present (B, t, J), got {got}")
        ok = (present > 0.5) if present.dtype != torch.bool else present
        ok = ok & torch.isfinite(poses).all(dim=-1)  # (B, t, J)
        x = torch.where(ok.unsqueeze(-1), poses, torch.zeros_like(poses))  # (B, t, J, 3) no NaN beyond here
        if self.cfg.band:
            root_t, scale_t = arrival_stats(x, ok, self.cfg.window)  # (B, t, 3), (B, t)
            r, s = root_t[:, context:, None], scale_t[:, context:, None, None]  # (B, t', 1, 3), (B, t', 1, 1)
            return self.core((x[:, context:] - r) / s, ok[:, context:]) * s + r
        if context:
            raise ValueError("context frames are for banded models")
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
