"""The refiner's core written directly as ONNX nodes, from its weights (ONNX layout 2).

The TorchScript exporter turns ``SkeletorRefiner.forward`` into ~1,470 nodes, most of them
shape arithmetic for the dynamic batch and ``nn.MultiheadAttention``'s head reshapes;
after ONNX Runtime's own optimisation ~300 are left. Written by hand the same arithmetic
is ~210 nodes, and where the file does not output the whole window the last layer
computes its attention, feed-forward and head for the emitted frame only (every layer
below still needs every frame: they are the keys and values above). On one CPU thread a
call is ~14 % faster than the exported graph's, outputs within 1e-6
(``skeletor bench refiner``'s layout rows; docs/decisions.md, 2026-12-05).

Inputs and outputs are layout 2's (``skeletor.refiner.export``)::

    normalised  float32 (batch, T, J, 3)   (poses - root) / scale per window
    present     float32 (batch, T, J)      1 = observed, 0 = absent
    refined     float32 (batch, J, 3)      the emitted frame (window index T - 1 - k)
    window      float32 (batch, T, J, 3)   every frame (only with ``window_output``)

Every parameter is an initialiser named by its ``SkeletorRefiner`` state-dict key with
the ``core.`` prefix (``core.layers.3.linear1.weight``), stored as PyTorch stores it, so
the weights read back by name (``skeletor.refiner.export.onnx_state_dict``).
Needs numpy and onnx only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper

__all__ = ["GraphShape", "refiner_graph", "refiner_step_graph"]

OPSET = 17
LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default, which SkeletorRefiner's layers use


@dataclass(frozen=True)
class GraphShape:
    """What the graph needs of ``RefinerConfig``.

    Attributes:
        window: T.
        joints: J.
        d_model: token width D.
        n_heads: attention heads H (D / H dims each).
        n_layers: L.
        lookahead: k; the emitted frame is window index ``T - 1 - k``.
        layer_lookahead: frames each layer may look ahead (``RefinerConfig.layer_lookahead``);
            ``T - 1`` in every layer means no mask (bidirectional).
    """

    window: int
    joints: int
    d_model: int
    n_heads: int
    n_layers: int
    lookahead: int
    layer_lookahead: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.layer_lookahead) != self.n_layers:
            raise ValueError(f"layer_lookahead needs {self.n_layers} entries, got {len(self.layer_lookahead)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")


class _Builder:
    """Nodes and initialisers, appended in topological order."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}

    def const(self, name: str, value: np.ndarray | float | Sequence[int]) -> str:
        if name not in self.inits:
            arr = np.asarray(value)
            arr = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float32)
            self.inits[name] = numpy_helper.from_array(arr, name)
        return name

    def op(self, op_type: str, inputs: Sequence[str], name: str, n_out: int = 1, **attrs: object) -> str:
        outputs = [name] if n_out == 1 else [f"{name}:{i}" for i in range(n_out)]
        self.nodes.append(oh.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs[0]

    def linear(self, x: str, key: str, weights: Mapping[str, np.ndarray], name: str) -> str:
        """``x @ W.T + b`` for the torch Linear ``key`` (x is 2D)."""
        w = self.const(f"core.{key}.weight", weights[f"{key}.weight"])
        b = self.const(f"core.{key}.bias", weights[f"{key}.bias"])
        return self.op("Gemm", [x, w, b], name, transB=1)

    def layer_norm(self, x: str, key: str, weights: Mapping[str, np.ndarray], name: str) -> str:
        w = self.const(f"core.{key}.weight", weights[f"{key}.weight"])
        b = self.const(f"core.{key}.bias", weights[f"{key}.bias"])
        return self.op("LayerNormalization", [x, w, b], name, axis=-1, epsilon=LAYER_NORM_EPS)


def refiner_graph(shape: GraphShape, weights: Mapping[str, np.ndarray], window_output: bool = False) -> onnx.ModelProto:
    """``SkeletorRefiner.forward`` (eval mode) as a layout-2 ONNX model, metadata not yet stamped.

    Args:
        shape: the model's dimensions and attention masks.
        weights: the ``SkeletorRefiner`` state dict (keys without ``core.``), as numpy arrays.
        window_output: also output every refined frame of the window (``window``); the
            last layer then computes every frame.

    Returns:
        The model (opset 17), checked by ``onnx.checker``.

    Raises:
        KeyError: a parameter missing from ``weights``.
    """
    T, J, D, H, k = shape.window, shape.joints, shape.d_model, shape.n_heads, shape.lookahead
    emit, hd = T - 1 - k, D // H
    g = _Builder()
    emit_idx = g.const("emit_index", np.array(emit, np.int64))

    # Tokens: absent joints show the learned mask value, then each joint's present flag.
    flag = g.op("Unsqueeze", ["present", g.const("axis_last", [-1])], "flag")  # (B, T, J, 1)
    seen = g.op("Greater", [flag, g.const("half", 0.5)], "seen")
    base = g.op("Where", [seen, "normalised", g.const("core.mask_value", weights["mask_value"])], "base")  # (B, T, J, 3)
    tokens = g.op("Concat", [base, flag], "tokens", axis=-1)  # (B, T, J, 4)
    tokens = g.op("Reshape", [tokens, g.const("shape_tokens", [-1, T, J * 4])], "tokens_flat")  # (B, T, J*4)
    embed_w = g.const("core.embed.weight", weights["embed.weight"])
    h = g.op("MatMul", [tokens, g.op("Transpose", [embed_w], "embed_wt", perm=[1, 0])], "embed")  # (B, T, D)
    h = g.op("Add", [h, g.const("core.embed.bias", weights["embed.bias"])], "embed_bias")
    h = g.op("Add", [h, g.const("core.pos", weights["pos"][:T])], "position")
    h = g.op("Reshape", [h, g.const("shape_rows", [-1, D])], "rows")  # (B*T, D)

    i = np.arange(T)
    shape_heads = g.const("shape_heads", [-1, T, 3 * H, hd])
    scale = g.const("attn_scale", 1.0 / math.sqrt(hd))
    for layer, ahead in enumerate(shape.layer_lookahead):
        p, n = f"layers.{layer}.", f"l{layer}/"
        only_emit = layer == shape.n_layers - 1 and not window_output
        a = g.layer_norm(h, p + "norm1", weights, n + "norm1")
        wq = g.const(f"core.{p}self_attn.in_proj_weight", weights[p + "self_attn.in_proj_weight"])
        bq = g.const(f"core.{p}self_attn.in_proj_bias", weights[p + "self_attn.in_proj_bias"])
        qkv = g.op("Gemm", [a, wq, bq], n + "qkv", transB=1)  # (B*T, 3D)
        qkv = g.op("Reshape", [qkv, shape_heads], n + "qkv_heads")  # (B, T, 3H, hd)
        qkv = g.op("Transpose", [qkv], n + "qkv_t", perm=[0, 2, 1, 3])  # (B, 3H, T, hd)
        q, key, value = (f"{n}split:{j}" for j in range(3))
        g.op("Split", [qkv, g.const("split_qkv", [H, H, H])], n + "split", n_out=3, axis=1)  # (B, H, T, hd) each
        rows = slice(None)
        if only_emit:  # the emitted frame's query alone
            starts, ends = g.const("emit_start", [emit]), g.const("emit_end", [emit + 1])
            q = g.op("Slice", [q, starts, ends, g.const("axis_time", [2])], n + "q_emit")  # (B, H, 1, hd)
            rows = slice(emit, emit + 1)
        scores = g.op("MatMul", [q, g.op("Transpose", [key], n + "k_t", perm=[0, 1, 3, 2])], n + "scores")  # (B, H, t, T)
        scores = g.op("Mul", [scores, scale], n + "scaled")
        if ahead < T - 1:  # query i sees key j <= i + ahead
            mask = np.where(i[None, :] > i[:, None] + ahead, -np.inf, 0.0)[rows]
            scores = g.op("Add", [scores, g.const(f"mask_{layer}", mask)], n + "masked")
        attn = g.op("Softmax", [scores], n + "softmax", axis=-1)
        o = g.op("MatMul", [attn, value], n + "attend")  # (B, H, t, hd)
        o = g.op("Transpose", [o], n + "attend_t", perm=[0, 2, 1, 3])  # (B, t, H, hd)
        o = g.op("Reshape", [o, "shape_rows"], n + "attend_rows")  # (B*t, D)
        o = g.linear(o, p + "self_attn.out_proj", weights, n + "out_proj")
        if only_emit:  # the residual stream of the emitted frame
            h = g.op("Reshape", [h, g.const("shape_frames", [-1, T, D])], n + "frames")  # (B, T, D)
            h = g.op("Gather", [h, emit_idx], n + "h_emit", axis=1)  # (B, D)
        h = g.op("Add", [h, o], n + "residual1")
        f = g.linear(g.layer_norm(h, p + "norm2", weights, n + "norm2"), p + "linear1", weights, n + "linear1")
        erf = g.op("Erf", [g.op("Div", [f, g.const("sqrt2", math.sqrt(2.0))], n + "gelu_div")], n + "gelu_erf")
        f = g.op("Mul", [f, g.op("Add", [erf, g.const("one", 1.0)], n + "gelu_add")], n + "gelu_mul")
        f = g.op("Mul", [f, g.const("half_c", 0.5)], n + "gelu")  # exact GELU; ONNX Runtime fuses the five
        h = g.op("Add", [h, g.linear(f, p + "linear2", weights, n + "linear2")], n + "residual2")

    delta = g.linear(g.layer_norm(h, "norm", weights, "norm"), "head", weights, "head")  # (B*t, J*3)
    if window_output:
        delta = g.op("Reshape", [delta, g.const("shape_window", [-1, T, J, 3])], "delta")  # (B, T, J, 3)
        window = g.op("Add", [base, delta], "window")
        g.op("Gather", [window, emit_idx], "refined", axis=1)  # (B, J, 3)
    else:
        delta = g.op("Reshape", [delta, g.const("shape_pose", [-1, J, 3])], "delta")  # (B, J, 3)
        g.op("Add", [g.op("Gather", [base, emit_idx], "base_emit", axis=1), delta], "refined")

    outputs = [oh.make_tensor_value_info("refined", TensorProto.FLOAT, ["batch", J, 3])]
    if window_output:
        outputs.append(oh.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", T, J, 3]))
    graph = oh.make_graph(
        g.nodes,
        "skeletor_refiner",
        [
            oh.make_tensor_value_info("normalised", TensorProto.FLOAT, ["batch", T, J, 3]),
            oh.make_tensor_value_info("present", TensorProto.FLOAT, ["batch", T, J]),
        ],
        outputs,
        list(g.inits.values()),
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", OPSET)], producer_name="skeletor-live")
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    onnx.checker.check_model(model)
    return model


def refiner_step_graph(shape: GraphShape, band: int, weights: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """A banded ``SkeletorRefiner`` (``RefinerConfig.band``) as one streaming step (ONNX layout 3).

    One frame goes through the layers; each layer's keys and values of the last ``band``
    frames come in as a cache and leave shifted by one, the new frame's appended. A frame's
    states never change once computed (banded attention, a bias per distance instead of
    positions, the frame normalised when it arrives), so the step gives exactly what the
    model gives for the newest frame of the whole stream (``NormalisedRefiner.forward``).
    Work per frame: about 1/T of a windowed call's.

    Inputs and outputs (``L`` layers, ``H`` heads of ``hd`` dims, ``w = band``)::

        normalised    float32 (batch, J, 3)          the new frame, (pose - root) / scale by its own arrival statistics
        present       float32 (batch, J)             1 = observed
        past_keys     float32 (L, batch, H, w, hd)   the cache, oldest frame first
        past_values   float32 (L, batch, H, w, hd)
        past_present  float32 (batch, w)             1 where a cache slot holds a frame (0 before a stream's start)
        refined       float32 (batch, J, 3)          the new frame refined, normalised as it came
        keys, values  float32 (L, batch, H, w, hd)   the cache for the next frame

    Args:
        shape: the model's dimensions (``window`` and the lookaheads are not used).
        band: w.
        weights: the core's state dict (keys without ``core.``), as numpy arrays.

    Returns:
        The model (opset 17), checked by ``onnx.checker``.
    """
    J, D, H, L, w = shape.joints, shape.d_model, shape.n_heads, shape.n_layers, band
    hd = D // H
    g = _Builder()
    flag = g.op("Unsqueeze", ["present", g.const("axis_last", [-1])], "flag")  # (B, J, 1)
    seen = g.op("Greater", [flag, g.const("half", 0.5)], "seen")
    base = g.op("Where", [seen, "normalised", g.const("core.mask_value", weights["mask_value"])], "base")  # (B, J, 3)
    tokens = g.op("Concat", [base, flag], "tokens", axis=-1)  # (B, J, 4)
    tokens = g.op("Reshape", [tokens, g.const("shape_token", [-1, J * 4])], "tokens_flat")  # (B, J*4)
    h = g.linear(tokens, "embed", weights, "embed")  # (B, D)

    # Attention bias over the w + 1 keys (cache slots oldest first, then the new frame): the
    # learned bias of each slot's distance, and -1e9 on empty slots (exp underflows to 0, as -inf).
    rel = g.const("core.rel_bias", weights["rel_bias"])  # (H, w + 1), column d = distance d
    slot_bias = g.op("Gather", [rel, g.const("slot_distance", np.arange(w, -1, -1))], "slot_bias", axis=1)  # (H, w + 1) slot s: distance w - s
    slot_bias = g.op("Unsqueeze", [slot_bias, g.const("axis_query", [1])], "slot_bias_q")  # (H, 1, w + 1)
    empty = g.op("Mul", [g.op("Sub", ["past_present", g.const("one", 1.0)], "absent"), g.const("big", 1e9)], "empty")  # (B, w)
    empty = g.op("Pad", [empty, g.const("pad_new", [0, 0, 0, 1])], "empty_new")  # (B, w + 1): the new frame is never empty
    empty = g.op("Reshape", [empty, g.const("shape_bias", [-1, 1, 1, w + 1])], "empty_heads")  # (B, 1, 1, w + 1)
    bias = g.op("Add", [slot_bias, empty], "bias")  # (B, H, 1, w + 1)

    shape_heads = g.const("shape_heads", [-1, 3 * H, 1, hd])
    scale = g.const("attn_scale", 1.0 / math.sqrt(hd))
    new_keys, new_values = [], []
    for layer in range(L):
        p, n = f"layers.{layer}.", f"l{layer}/"
        a = g.layer_norm(h, p + "norm1", weights, n + "norm1")
        wq = g.const(f"core.{p}self_attn.in_proj_weight", weights[p + "self_attn.in_proj_weight"])
        bq = g.const(f"core.{p}self_attn.in_proj_bias", weights[p + "self_attn.in_proj_bias"])
        qkv = g.op("Gemm", [a, wq, bq], n + "qkv", transB=1)  # (B, 3D)
        qkv = g.op("Reshape", [qkv, shape_heads], n + "qkv_heads")  # (B, 3H, 1, hd)
        q, key, value = (f"{n}split:{j}" for j in range(3))
        g.op("Split", [qkv, g.const("split_qkv", [H, H, H])], n + "split", n_out=3, axis=1)  # (B, H, 1, hd) each
        index = g.const(f"layer_{layer}", np.array(layer, np.int64))
        past_k = g.op("Gather", ["past_keys", index], n + "past_k", axis=0)  # (B, H, w, hd)
        past_v = g.op("Gather", ["past_values", index], n + "past_v", axis=0)
        keys = g.op("Concat", [past_k, key], n + "keys", axis=2)  # (B, H, w + 1, hd)
        values = g.op("Concat", [past_v, value], n + "values", axis=2)
        scores = g.op("MatMul", [q, g.op("Transpose", [keys], n + "k_t", perm=[0, 1, 3, 2])], n + "scores")  # (B, H, 1, w + 1)
        scores = g.op("Add", [g.op("Mul", [scores, scale], n + "scaled"), bias], n + "biased")
        attn = g.op("Softmax", [scores], n + "softmax", axis=-1)
        o = g.op("MatMul", [attn, values], n + "attend")  # (B, H, 1, hd)
        o = g.op("Reshape", [o, g.const("shape_rows", [-1, D])], n + "attend_rows")  # (B, D)
        h = g.op("Add", [h, g.linear(o, p + "self_attn.out_proj", weights, n + "out_proj")], n + "residual1")
        f = g.linear(g.layer_norm(h, p + "norm2", weights, n + "norm2"), p + "linear1", weights, n + "linear1")
        erf = g.op("Erf", [g.op("Div", [f, g.const("sqrt2", math.sqrt(2.0))], n + "gelu_div")], n + "gelu_erf")
        f = g.op("Mul", [f, g.op("Add", [erf, "one"], n + "gelu_add")], n + "gelu_mul")
        f = g.op("Mul", [f, g.const("half_c", 0.5)], n + "gelu")  # exact GELU
        h = g.op("Add", [h, g.linear(f, p + "linear2", weights, n + "linear2")], n + "residual2")
        drop_oldest = [g.const("slot_1", [1]), g.const("slot_end", [w + 1]), g.const("axis_slots", [2])]
        for store, full in ((new_keys, keys), (new_values, values)):
            kept = g.op("Slice", [full, *drop_oldest], f"{full}_kept")  # (B, H, w, hd)
            store.append(g.op("Unsqueeze", [kept, g.const("axis_first", [0])], f"{full}_layer"))  # (1, B, H, w, hd)
    g.op("Concat", new_keys, "keys", axis=0)  # (L, B, H, w, hd)
    g.op("Concat", new_values, "values", axis=0)
    delta = g.linear(g.layer_norm(h, "norm", weights, "norm"), "head", weights, "head")  # (B, J*3)
    delta = g.op("Reshape", [delta, g.const("shape_pose", [-1, J, 3])], "delta")  # (B, J, 3)
    g.op("Add", [base, delta], "refined")

    graph = oh.make_graph(
        g.nodes,
        "skeletor_refiner_step",
        [
            oh.make_tensor_value_info("normalised", TensorProto.FLOAT, ["batch", J, 3]),
            oh.make_tensor_value_info("present", TensorProto.FLOAT, ["batch", J]),
            oh.make_tensor_value_info("past_keys", TensorProto.FLOAT, [L, "batch", H, w, hd]),
            oh.make_tensor_value_info("past_values", TensorProto.FLOAT, [L, "batch", H, w, hd]),
            oh.make_tensor_value_info("past_present", TensorProto.FLOAT, ["batch", w]),
        ],
        [
            oh.make_tensor_value_info("refined", TensorProto.FLOAT, ["batch", J, 3]),
            oh.make_tensor_value_info("keys", TensorProto.FLOAT, [L, "batch", H, w, hd]),
            oh.make_tensor_value_info("values", TensorProto.FLOAT, [L, "batch", H, w, hd]),
        ],
        list(g.inits.values()),
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", OPSET)], producer_name="skeletor-live")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
