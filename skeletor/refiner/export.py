"""Export a trained refiner to ONNX, with the metadata ``skeletor.refiner.runtime`` reads.

The graph (opset 17, TorchScript exporter, ``dynamo=False``)::

    inputs   poses    float32 (batch, T, J, 3)  camera frame, any unit; absent joints any value
             present  float32 (batch, T, J)     1 = observed, 0 = absent
    outputs  refined  float32 (batch, J, 3)     the emitted frame (window index T - 1 - k)
             window   float32 (batch, T, J, 3)  every frame of the window (only with window_output=True)

``batch`` is dynamic (the runtime uses 1 when streaming and more for whole sequences);
T and J are fixed. Metadata (``onnx.ModelProto.metadata_props``, all strings)::

    skeletor.format      "skeletor-refiner"
    skeletor.version     ONNX layout version, "1"
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

from skeletor.refiner.model import NormalisedRefiner

__all__ = ["FORMAT", "LAYOUT_VERSION", "export_onnx", "export_checkpoint", "onnx_metadata", "onnx_state_dict"]

log = logging.getLogger(__name__)

FORMAT = "skeletor-refiner"
LAYOUT_VERSION = 1
OPSET = 17


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
        "skeletor.version": str(LAYOUT_VERSION),
        "skeletor.window": str(cfg.window),
        "skeletor.lookahead": str(cfg.lookahead),
        "skeletor.joints": str(cfg.joints),
        "skeletor.skeleton": cfg.skeleton,
        "skeletor.config": json.dumps(cfg.to_dict(), sort_keys=True),
        "skeletor.package": _package_version(),
    }


def export_onnx(model: NormalisedRefiner, path: str | os.PathLike[str], window_output: bool = False) -> Path:
    """Export ``model`` to an ONNX file and stamp the metadata.

    Args:
        model: the refiner (its mode is restored afterwards).
        path: output file.
        window_output: also output the whole refined window (``window``).

    Returns:
        The path written.

    Raises:
        onnx.checker.ValidationError: the exported graph is invalid.
    """
    path = Path(path)
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
        entry.key, entry.value = key, value
    proto.producer_name = "skeletor-live"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    log.info("exported %s (window %d, lookahead %d, opset %d)", path, cfg.window, cfg.lookahead, OPSET)
    return path


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
    ONNX file is at hand. Named initialisers (``model.core.pos``, biases, norms) map by
    name; the matrices the exporter stored transposed under generated names are found
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
        if name.startswith("model."):
            state[name[len("model."):]] = value
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
