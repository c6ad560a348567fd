"""Export a trained refiner to ONNX, with the metadata ``skeletor.refiner.runtime`` reads.

The file holds the model's core alone (layout 2), written node by node from its weights
by ``skeletor.refiner.graph`` (opset 17; ~210 nodes, where the TorchScript exporter makes
~1,470): the window's normalisation (``skeletor.refiner.model.window_stats``: masked
medians, which would export as sorts, gathers and ``If`` nodes) is left to the runtime
(``skeletor.refiner.windows.window_stats``, numpy), which is faster::

    inputs   normalised  float32 (batch, T, J, 3)  (poses - root) / scale per window; absent joints any value
             present     float32 (batch, T, J)     1 = observed (and finite), 0 = absent
    outputs  refined     float32 (batch, J, 3)     the emitted frame (window index T - 1 - k), normalised
             window      float32 (batch, T, J, 3)  every frame of the window (only with window_output=True)

A cached (banded) model (``RefinerConfig.band``) is written as its streaming step, layout 3
(``skeletor.refiner.graph.refiner_step_graph``): inputs ``normalised`` (batch, J, 3) (the
newest frame, normalised by its own arrival statistics), ``present`` (batch, J),
``past_keys`` / ``past_values`` (L, batch, H, w, hd) and ``past_present`` (batch, w);
outputs ``refined`` (batch, J, 3) and the shifted cache ``keys`` / ``values``.

Layout 1 is the whole ``NormalisedRefiner`` through the TorchScript exporter: inputs
``poses`` (camera frame) and ``present``, outputs in the camera frame. ``export_onnx(...,
traced=True)`` still writes it (and, cut by :func:`core_only`, the exporter's layout 2),
for ``skeletor bench refiner`` to time side by side; the runtime reads both layouts.
``python -m skeletor.refiner.export IN.onnx OUT.onnx`` rewrites any refiner file as the
written graph, with the same weights and metadata.

``batch`` is dynamic (the runtime uses 1 when streaming and more for whole sequences);
T and J are fixed. Metadata (``onnx.ModelProto.metadata_props``, all strings)::

    skeletor.format      "skeletor-refiner"
    skeletor.version     ONNX layout version, "2" ("3" for a cached model)
    skeletor.window      T
    skeletor.lookahead   k
    skeletor.joints      J
    skeletor.pose.skeleton    "holistic75"
    skeletor.config      the RefinerConfig as JSON
    skeletor.package     skeletor-live's version that wrote the file
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import onnx
import torch
import torch.nn as nn

from skeletor.refiner.graph import OPSET
from skeletor.refiner.model import NormalisedRefiner

__all__ = [
    "FORMAT", "LAYOUT_VERSION", "STEP_LAYOUT", "export_onnx", "export_checkpoint", "onnx_metadata", "onnx_state_dict",
    "core_only", "rewrite", "written_graph", "main",
]  # fmt: skip

log = logging.getLogger(__name__)

FORMAT = "skeletor-refiner"
LAYOUT_VERSION = 2
STEP_LAYOUT = 3  # a cached (banded) model: one frame and the key/value cache (skeletor.refiner.graph.refiner_step_graph)
_CORE = "/model/core/"  # the scope of the core's nodes in the exported graph (NormalisedRefiner.core)


class _Emit(nn.Module):
    """Export wrapper: (poses, present) -> emitted frame (and optionally the window)."""

    def __init__(self, model: NormalisedRefiner, window_output: bool) -> None:
        super().__init__()
        self.model = model
        self.window_output = window_output

    def forward(self, poses: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, ...]:
        window = self.model(poses, present)  # (B, T, J, 3)
        refined = window[:, self.model.cfg.emit_index]  # (B, J, 3)
        return (refined, window) if self.window_output else (refined,)


@contextlib.contextmanager
def _no_fastpath() -> Iterator[None]:
    """Turn off torch's fused encoder-layer kernel, which has no ONNX export, for a while."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def _package_version() -> str:
    try:
        return metadata.version("skeletor-live")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def onnx_metadata(model: NormalisedRefiner) -> dict[str, str]:
    """The metadata properties written into the ONNX file for ``model``."""
    cfg = model.cfg
    return {
        "skeletor.format": FORMAT,
        "skeletor.version": str(_layout_version(cfg.band)),
        "skeletor.window": str(cfg.window),
        "skeletor.lookahead": str(cfg.lookahead),
        "skeletor.joints": str(cfg.joints),
        "skeletor.skeleton": cfg.skeleton,
        "skeletor.config": json.dumps(cfg.to_dict(), sort_keys=True),
        "skeletor.package": _package_version(),
    }


def export_onnx(
    model: NormalisedRefiner,
    path: str | os.PathLike[str],
    window_output: bool = False,
    layout: int = LAYOUT_VERSION,
    traced: bool = False,
) -> Path:
    """Export ``model`` to an ONNX file and stamp the metadata.

    Args:
        model: the refiner (its mode is restored afterwards).
        path: output file.
        window_output: also output the whole refined window (``window``).
        layout: 2 (the core alone, the default) or 1 (the normalisation inside the graph,
            through the TorchScript exporter; ``skeletor bench refiner`` times them side by side).
        traced: layout 2 through the TorchScript exporter, cut by :func:`core_only`, instead
            of the written graph (``skeletor.refiner.graph``); the same answers, more nodes.

    Returns:
        The path written.

    Raises:
        onnx.checker.ValidationError: the exported graph is invalid.
    """
    if layout not in (1, 2):
        raise ValueError(f"layout must be 1 or 2, got {layout}")
    path = Path(path)
    if model.cfg.band and (window_output or layout != 2 or traced):
        raise ValueError("a cached (banded) model exports as its streaming step only (layout 3)")
    if layout == 2 and not traced:  # the written graph: a windowed model's core, or a cached model's step
        proto = written_graph(model.cfg, {k: v.detach().numpy() for k, v in model.core.state_dict().items()}, window_output)
        meta = onnx_metadata(model)
        _stamp(proto, meta)
        onnx.save(proto, str(path))
        log.info("exported %s (layout %s, written graph, %d nodes)", path, meta["skeletor.version"], len(proto.graph.node))
        return path
    cfg = model.cfg
    was_training = model.training
    wrapper = _Emit(model, window_output).eval()  # eval() reaches the model too: no dropout in the graph
    poses = torch.zeros(1, cfg.window, cfg.joints, 3)
    present = torch.ones(1, cfg.window, cfg.joints)
    outputs = ["refined", "window"] if window_output else ["refined"]
    batch = {0: "batch"}
    try:
        with _no_fastpath(), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the static shape checks in forward
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is chosen on purpose
            torch.onnx.export(
                wrapper,
                (poses, present),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["poses", "present"],
                output_names=outputs,
                dynamic_axes={name: batch for name in ["poses", "present", *outputs]},
            )
    finally:
        model.train(was_training)
    proto = onnx.load(str(path))
    for key, value in onnx_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, "1" if key == "skeletor.version" else value  # the whole graph, until cut
    proto.producer_name = "skeletor-live"
    if layout == 2:
        proto = core_only(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    log.info("exported %s (layout %d, window %d, lookahead %d, opset %d)", path, layout, cfg.window, cfg.lookahead, OPSET)
    return path


def written_graph(cfg: Any, core_state: dict[str, Any], window_output: bool) -> onnx.ModelProto:
    """``skeletor.refiner.graph.refiner_graph`` for a ``RefinerConfig`` and a core state dict (numpy)."""
    from skeletor.refiner.graph import GraphShape, refiner_graph, refiner_step_graph

    shape = GraphShape(cfg.window, cfg.joints, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.lookahead, cfg.layer_lookahead)
    if getattr(cfg, "band", 0):
        return refiner_step_graph(shape, cfg.band, core_state)
    return refiner_graph(shape, core_state, window_output)


def _layout_version(band: int) -> int:
    """The layout a model's file is written in: the streaming step for a cached (banded) model, else the core."""
    return STEP_LAYOUT if band else LAYOUT_VERSION


def _stamp(proto: onnx.ModelProto, meta: dict[str, str]) -> None:
    """Write ``meta`` into the file's metadata, the layout version set to the current one (3 for a cached model)."""
    version = _layout_version(json.loads(meta.get("skeletor.config", "{}")).get("band", 0))
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(version) if key == "skeletor.version" else value


def core_only(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A layout-1 refiner graph cut down to its core (layout 2), weights and metadata kept.

    The core's inputs are the tensors its nodes (scope ``/model/core/``) read from outside
    it: the normalised coordinates and the present flags (as ``(B, T, J, 1)``; the cut is
    made before that unsqueeze, so ``present`` stays ``(B, T, J)``); its output is the
    tensor its last node hands back to the de-normalisation. Everything around them
    (validity, window statistics, de-normalisation) is dropped, and the emitted frame is
    gathered from the core's window. A layout-2 graph is returned as it is.

    Args:
        proto: a refiner written by :func:`export_onnx` (any layout).

    Returns:
        The layout-2 model (node names kept, so :func:`onnx_state_dict` still reads it).

    Raises:
        ValueError: not a refiner graph of layout 1 or 2.
    """
    from onnx import TensorProto, helper

    meta = {p.key: p.value for p in proto.metadata_props}
    if meta.get("skeletor.format") != FORMAT:
        raise ValueError("not a Skeletor refiner (metadata skeletor.format)")
    if meta.get("skeletor.version") == str(LAYOUT_VERSION):
        return proto
    if meta.get("skeletor.version") != "1":
        raise ValueError(f"refiner layout {meta.get('skeletor.version')!r}: only layout 1 can be cut down")
    g = proto.graph
    T, J, k = (int(meta[f"skeletor.{key}"]) for key in ("window", "joints", "lookahead"))
    made_by = {o: n for n in g.node for o in n.output}
    inits = {i.name for i in g.initializer}

    def in_core(name: str) -> bool:
        return name in made_by and made_by[name].name.startswith(_CORE)

    live = {i.name for i in g.input}  # tensors that depend on the graph's inputs (not weights or constants)
    for n in g.node:  # nodes are in topological order
        if any(i in live for i in n.input):
            live.update(n.output)
    feeds = {i for n in g.node if n.name.startswith(_CORE) for i in n.input}
    outside = sorted(i for i in feeds if i in live and i not in inits and not in_core(i))
    coords = [i for i in outside if made_by[i].op_type == "Div"]
    flags = [made_by[i].input[0] for i in outside if made_by[i].op_type == "Unsqueeze"]
    outs = {i for n in g.node if not n.name.startswith(_CORE) for i in n.input if in_core(i) and i in live}
    if len(coords) != 1 or len(flags) != 1 or len(outs) != 1 or len(outside) != 2:
        raise ValueError(f"unexpected refiner graph: the core reads {outside} and gives {sorted(outs)}")
    window_out = "window" in {o.name for o in g.output}
    # The extractor needs the cut's tensors typed: onnx 1.17 infers the types itself, later
    # releases only read the model's value_info.
    core = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(proto)).extract_model([coords[0], flags[0]], [outs.pop()])
    cg = core.graph
    rename = {coords[0]: "normalised", flags[0]: "present"}
    for n in cg.node:
        for i, name in enumerate(n.input):
            n.input[i] = rename.get(name, name)
    last = cg.output[0].name
    del cg.input[:], cg.output[:]
    cg.input.extend([
        helper.make_tensor_value_info("normalised", TensorProto.FLOAT, ["batch", T, J, 3]),
        helper.make_tensor_value_info("present", TensorProto.FLOAT, ["batch", T, J]),
    ])  # fmt: skip
    emit = helper.make_tensor("/emit_index", TensorProto.INT64, [], [T - 1 - k])
    cg.node.append(helper.make_node("Constant", [], ["/emit_index"], name="/emit_index", value=emit))
    cg.node.append(helper.make_node("Gather", [last, "/emit_index"], ["refined"], name="/emit", axis=1))
    cg.output.append(helper.make_tensor_value_info("refined", TensorProto.FLOAT, ["batch", J, 3]))
    if window_out:
        cg.node.append(helper.make_node("Identity", [last], ["window"], name="/window"))
        cg.output.append(helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", T, J, 3]))
    for key, value in meta.items():
        entry = core.metadata_props.add()
        entry.key, entry.value = key, str(LAYOUT_VERSION) if key == "skeletor.version" else value
    core.producer_name = proto.producer_name
    return core


def rewrite(proto: onnx.ModelProto, path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Any refiner file (``path``, already loaded as ``proto``) as the written layout-2 graph:
    the same weights (:func:`onnx_state_dict`), metadata and outputs (``window`` if it has one).

    Raises:
        ValueError: not a refiner file, or its weights cannot be read back.
    """
    config, state = onnx_state_dict(path)
    core = {k[len("core."):]: v.numpy() for k, v in state.items() if k.startswith("core.")}
    window_output = "window" in {o.name for o in proto.graph.output}
    out = written_graph(_config(config), core, window_output)
    _stamp(out, {p.key: p.value for p in proto.metadata_props})
    return out


def main(argv: list[str] | None = None) -> int:
    """Rewrite a refiner ONNX file (either layout) as the written layout-2 graph, the same
    weights and metadata: ``python -m skeletor.refiner.export IN OUT``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("source", type=Path, help="a refiner ONNX file (layout 1 or 2)")
    parser.add_argument("target", type=Path, help="where to write the layout-2 file (may be the source)")
    args = parser.parse_args(argv)
    from google.protobuf.message import DecodeError

    try:
        proto = rewrite(onnx.load(str(args.source)), args.source)
    except (OSError, ValueError, DecodeError) as e:
        parser.exit(2, f"error: {args.source}: {e}\n")
    onnx.save(proto, str(args.target))
    log.info("%s -> %s: %d nodes", args.source, args.target, len(proto.graph.node))
    return 0


def export_checkpoint(
    checkpoint: str | os.PathLike[str], path: str | os.PathLike[str], window_output: bool = False
) -> Path:
    """Export a training checkpoint (``train.py``'s ``ckpt.pt``) to ONNX.

    Args:
        checkpoint: the checkpoint file.
        path: output ONNX file.
        window_output: also output the whole refined window.

    Returns:
        The path written.
    """
    from skeletor.refiner.model import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    return export_onnx(model, path, window_output=window_output)


def onnx_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The weights of an exported refiner as a ``NormalisedRefiner`` state dict.

    Lets training start from shipped weights (``skeletor train --init``) when only the
    ONNX file is at hand. A written graph (``skeletor.refiner.graph``) names every
    initialiser by its key. In the TorchScript exporter's graphs, named initialisers
    (``model.core.pos``, biases, norms) map by name; the matrices the exporter stored transposed under generated names are found
    through the MatMul node that reads them (``/model/core/layers.3/linear1/MatMul`` ->
    ``core.layers.3.linear1.weight``, ``.../self_attn/MatMul`` -> ``in_proj_weight``)
    and the mask value through the ``/model/core/Where`` node.

    Args:
        path: an ONNX file written by ``export_onnx``.

    Returns:
        (the model config from the file's metadata, state dict without the attention-mask
        buffers, which are not persistent).

    Raises:
        ValueError: the file lacks the metadata, or a parameter cannot be found in it (the
            exporter stores weights with equal values once, as in an untrained model: use
            its checkpoint instead).
    """
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    if "skeletor.config" not in meta:
        raise ValueError(f"{path}: no skeletor.config metadata; not written by export_onnx")
    config = json.loads(meta["skeletor.config"])
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name, value in inits.items():
        if name.startswith("model."):  # the TorchScript exporter's names
            state[name[len("model."):]] = value
        elif name.startswith("core."):  # the written graph's (skeletor.refiner.graph)
            state[name] = value
    for node in proto.graph.node:
        for arg in node.input:
            if arg not in inits or arg.startswith("model."):
                continue
            scope = node.name.strip("/").split("/")  # e.g. ['model', 'core', 'layers.0', 'linear1', 'MatMul']
            if node.op_type == "Where" and scope == ["model", "core", "Where"]:
                state["core.mask_value"] = inits[arg]
            elif node.op_type == "MatMul" and scope[:2] == ["model", "core"] and scope[-1] == "MatMul":
                module = ".".join(scope[1:-1])  # core.layers.0.linear1
                key = f"{module[:-len('.self_attn')]}.self_attn.in_proj_weight" if module.endswith(".self_attn") else f"{module}.weight"
                state[key] = inits[arg].T.contiguous()  # the exporter stores x @ W.T as x @ (W.T)
    want = set(NormalisedRefiner(_config(config)).state_dict())
    missing = want - set(state)
    if missing:
        raise ValueError(f"{path}: parameters not found in the graph: {sorted(missing)}")
    return config, {k: state[k] for k in want}


def _config(d: dict[str, Any]) -> Any:
    from skeletor.refiner.model import RefinerConfig

    return RefinerConfig(**d)


if __name__ == "__main__":
    raise SystemExit(main())
