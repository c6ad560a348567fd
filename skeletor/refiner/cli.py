"""``skeletor dataset build``, ``skeletor train`` and ``skeletor export``.

torch is imported inside the commands that need it, so ``skeletor --help`` and
``skeletor clean`` never load it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

__all__ = ["add_parser", "run_dataset", "run_train", "run_export"]

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("cache/dataset.npz")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dataset``, ``train`` and ``export`` on the ``skeletor`` parser."""
    d = sub.add_parser("dataset", help="build the refiner's training set from ../shared/data")
    dsub = d.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    b = dsub.add_parser("build", help="uplift every training source into one cache file", description=_doc("skeletor.refiner.dataset"),
                        formatter_class=argparse.RawDescriptionHelpFormatter)  # keep the docstring's table
    b.add_argument("--out", type=Path, default=DEFAULT_CACHE, help=f"cache file to write (default {DEFAULT_CACHE})")
    b.add_argument("--views", type=int, default=3, help="virtual cameras per Bandai training clip; all but the first see a body of other proportions (default 3)")
    b.add_argument("--max-files", type=int, default=None, help="files per source (quick runs)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--real-noise", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of Bandai views given the real MediaPipe noise measured on the .pose files "
                        "(correlated jitter, hand losses and swaps) instead of the benchmark's fault model (default 0)")
    b.set_defaults(run=run_dataset)

    t = sub.add_parser("train", help="train the Skeletor refiner (needs the [train] extra: torch)",
                       description="Self-supervised (BERT-style) training of the refiner, plus supervised pairs where the cache has mocap targets. "
                       "Writes OUT/ckpt.pt (resumable) and OUT/log.csv.")  # fmt: skip
    t.add_argument("--data", type=Path, default=DEFAULT_CACHE, help=f"cache from `skeletor dataset build` (default {DEFAULT_CACHE})")
    t.add_argument("--out", type=Path, required=True, help="run folder (checkpoint + CSV log)")
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--window", type=int, default=None, help="frames per window T (default 32; with --band, its receptive field band * layers + 1)")
    t.add_argument("--band", type=int, default=0,
                   help="a cached causal model: each layer attends to the last BAND frames, each frame normalised when it "
                   "arrives, so live inference runs one frame through the layers (0 = attention over the whole window)")
    t.add_argument("--lookahead", type=int, default=0, help="frames k the emitted frame lags the newest (0 = causal)")
    t.add_argument("--bidirectional", action="store_true",
                   help="full attention over the window (the paper's model, for offline cleaning); "
                   "--lookahead then picks the emitted frame, e.g. 16 of a 32-frame window: the centre")
    t.add_argument("--init", type=Path, default=None,
                   help="start a new run from these weights (a ckpt.pt or an exported .onnx of the same shape; "
                   "lookahead and --bidirectional may differ); ignored with --resume when OUT/ckpt.pt exists")
    t.add_argument("--truth-input", type=float, default=0.0,
                   help="fraction of windows whose input is their own target (the mocap truth of a supervised pair), "
                   "corrupted as usual: teaches the model to leave good input alone (default 0)")
    t.add_argument("--noise-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="draw each batch's noise strength log-uniformly from LOW..HIGH shoulder widths "
                   "(default: the paper's fixed 0.5)")
    t.add_argument("--rotate-deg", type=float, default=30.0, help="largest random turn about the vertical axis (augmentation)")
    t.add_argument("--self-supervised-only", action="store_true", help="the paper's recipe: ignore the cache's supervised targets")
    t.add_argument("--smooth-weight", type=float, default=None,
                   help="weight of a velocity MSE beside the paper's MSE (default 1.0 for the final recipe, "
                   "0 with --self-supervised-only, the paper's plain MSE)")  # fmt: skip
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--resume", action="store_true", help="continue OUT/ckpt.pt")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(run=run_train)

    e = sub.add_parser("export", help="export a checkpoint to ONNX (opset 17) for the runtime")
    e.add_argument("checkpoint", type=Path, help="a ckpt.pt written by `skeletor train`")
    e.add_argument("-o", "--output", type=Path, required=True, help="ONNX file to write")
    e.add_argument("--window-output", action="store_true",
                   help="also output every refined frame of the window ('window'), which skeletor clean --offline blends")  # fmt: skip
    e.set_defaults(run=run_export)


def _doc(module: str) -> str:
    import importlib

    return importlib.import_module(module).__doc__ or ""


def run_dataset(args: argparse.Namespace) -> int:
    """``skeletor dataset build``."""
    from skeletor.datasets import DataNotFoundError
    from skeletor.refiner.dataset import BuildConfig, build_dataset

    try:
        counts = build_dataset(args.out, BuildConfig(views=args.views, max_files=args.max_files, seed=args.seed, real_noise=args.real_noise), progress=sys.stderr.isatty())
    except DataNotFoundError as e:
        print(f"skeletor dataset build: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v} frames" for k, v in counts.items()))
    return 0


def run_train(args: argparse.Namespace) -> int:
    """``skeletor train``."""
    try:
        from skeletor.refiner.data import Augmentation, SequenceDataset
        from skeletor.refiner.model import RefinerConfig
        from skeletor.refiner.train import TrainConfig, train
    except ImportError as e:
        print(f"skeletor train: needs torch (pip install -e '.[train]'): {e}", file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"skeletor train: {args.data}: no such cache; run `skeletor dataset build` first", file=sys.stderr)
        return 2
    train_data = SequenceDataset.from_cache(args.data, "train")
    val_data = SequenceDataset.from_cache(args.data, "val")
    if args.self_supervised_only:
        train_data = SequenceDataset(train_data.poses, train_data.present, train_data.names)
        val_data = SequenceDataset(val_data.poses, val_data.present, val_data.names)
    window = args.window if args.window is not None else (args.band * RefinerConfig.n_layers + 1 if args.band else 32)
    model_cfg = RefinerConfig(window=window, lookahead=args.lookahead, bidirectional=args.bidirectional, band=args.band)
    init = None
    if args.init is not None:
        try:
            init = _init_state(args.init, model_cfg)
        except (OSError, ValueError, KeyError) as e:
            print(f"skeletor train: --init {args.init}: {e}", file=sys.stderr)
            return 2
    smooth_weight = args.smooth_weight if args.smooth_weight is not None else (0.0 if args.self_supervised_only else 1.0)
    cfg = replace(
        TrainConfig(),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, min_lr=args.lr / 10, warmup_steps=min(300, args.steps // 10),
        threads=args.threads, seed=args.seed, smooth_weight=smooth_weight, truth_input_prob=args.truth_input,
        noise_std_range=tuple(args.noise_range) if args.noise_range else None, augment=replace(Augmentation(), rotate_deg=args.rotate_deg),
        eval_every=max(args.steps // 30, 50), ckpt_every=max(args.steps // 10, 100), progress=sys.stderr.isatty(),
    )  # fmt: skip
    result = train(model_cfg, cfg, train_data, val_data, args.out, resume=args.resume, init=init)
    print(f"trained {result.step} steps; checkpoint {result.checkpoint}")
    return 0


def _init_state(path: Path, model_cfg: object) -> dict[str, object]:
    """The state dict in ``path`` (a ckpt.pt or an exported .onnx), checked against ``model_cfg``'s shape.

    Raises:
        OSError: unreadable file.
        ValueError: not refiner weights, or of another shape (window, joints, widths, layers).
    """
    from dataclasses import asdict

    if path.suffix == ".onnx":
        from skeletor.refiner.export import onnx_state_dict

        config, state = onnx_state_dict(path)
    else:
        import torch

        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        config, state = ckpt["model_config"], ckpt["model"]
    mine = asdict(model_cfg)  # type: ignore[call-overload]
    shape = ("joints", "skeleton", "d_model", "n_heads", "n_layers", "d_ff") + (() if mine["band"] else ("window",))
    differ = [f"{k} {config.get(k)} != {mine[k]}" for k in shape if config.get(k) != mine[k]]
    if differ:
        raise ValueError("weights of another shape: " + ", ".join(differ))
    return state


def run_export(args: argparse.Namespace) -> int:
    """``skeletor export``."""
    try:
        from skeletor.refiner.export import export_checkpoint
    except ImportError as e:
        print(f"skeletor export: needs torch and onnx (pip install -e '.[train]'): {e}", file=sys.stderr)
        return 2
    if not args.checkpoint.is_file():
        print(f"skeletor export: {args.checkpoint}: no such checkpoint", file=sys.stderr)
        return 2
    path = export_checkpoint(args.checkpoint, args.output, window_output=args.window_output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
