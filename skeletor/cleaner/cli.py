"""``skeletor clean``: 2D keypoint files in, cleaned 3D pose files out.

Runs the same :class:`~skeletor.cleaner.stream.StreamingCleaner` the live tool runs, frame by
frame. Inputs are read by suffix through ``READERS``; ``realtime.commands`` adds video
files (MediaPipe detection) to that table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from skeletor.pose.keypoints import KeypointFormatError, KeypointSequence, load_keypoints, save_poses
from skeletor.cleaner.stream import SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.refiner.runtime import PROVIDERS, RuntimeConfig, default_weights_path
from skeletor.uplift import UpliftConfig

__all__ = ["READERS", "add_parser", "run", "output_paths", "add_cleanup_options", "cleaner_config", "runtime_config"]

log = logging.getLogger(__name__)

# suffix -> reader returning a KeypointSequence (raises KeypointFormatError / OSError on bad input)
READERS: dict[str, Callable[[Path], KeypointSequence]] = {".npz": load_keypoints}


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1], got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def _frames(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected frames >= 0, got {text}")
    return value


def _threads(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected threads >= 0 (0 = all cores), got {text}")
    return value


def add_cleanup_options(group: argparse._ActionsContainer) -> None:
    """Every option of the streaming cleaner, shared by ``skeletor clean`` and ``skeletor-live``.

    ``--lookahead K``, ``--weights``, ``--no-refine``, ``--provider``, ``--threads``, ``--focal-px``, ``--detection-pull
    RATE``, ``--refined-lengths W``, ``--smooth`` and ``--forget-after S``: what
    :func:`cleaner_config` reads back into a :class:`~skeletor.cleaner.stream.CleanerConfig`.
    """
    group.add_argument("--lookahead", type=_frames, default=0, metavar="K",
                       help="frames of delay allowed for better estimates (0 = causal, the lowest latency, as live; default 0)")  # fmt: skip
    group.add_argument("--weights", type=Path, default=None, help=f"refiner ONNX file (default: {default_weights_path()})")
    group.add_argument("--no-refine", action="store_true", help="the uplift only, no transformer refiner")
    runtime = RuntimeConfig()
    group.add_argument("--provider", choices=PROVIDERS, default=runtime.provider,
                       help="where the refiner runs: auto = TensorRT, else CUDA, else the CPU, whichever is available (and "
                       "says which); cpu / cuda / tensorrt = exactly that one, or an error naming what is missing "
                       f"(default {runtime.provider})")  # fmt: skip
    group.add_argument("--threads", type=_threads, default=runtime.threads, metavar="N",
                       help=f"CPU threads for the refiner (0 = all cores; default {runtime.threads}, which leaves the other "
                       "cores to the detector)")  # fmt: skip
    group.add_argument("--focal-px", type=float, default=None, help="camera focal length in pixels if known (default: the larger image side)")
    default = CleanerConfig().detection_pull
    group.add_argument("--detection-pull", type=_rate, default=default, metavar="RATE",
                       help="how fast the refined skeleton is pulled back onto the detected 2D joints (rate of a running "
                       f"average of the offsets, per frame; 0 = the refiner's output as it is; default {default})")  # fmt: skip
    weight = CleanerConfig().refined_lengths
    group.add_argument("--refined-lengths", type=_rate, default=weight, metavar="W",
                       help="weight of the refiner's own 3D bone lengths in the cleaned skeleton's body bones, against the "
                       f"uplift's 2D-based ones (0 = the uplift's only; default {weight:g})")  # fmt: skip
    group.add_argument("--smooth", action="store_true",
                       help=f"a causal One Euro filter on the cleaned skeleton (min cutoff {SMOOTHING.min_cutoff:g} Hz, beta {SMOOTHING.beta:g}): "
                       "steadier for avatars and animation, a little less accurate (BENCHMARKS.md)")  # fmt: skip
    forget = CleanerConfig().forget_after_s
    group.add_argument("--forget-after", type=_seconds, default=forget, metavar="S",
                       help="when someone is detected after S seconds with no one in view, start afresh: they may be "
                       f"someone else, with other bone lengths (0 = never; default {forget:g})")  # fmt: skip


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """The refiner's ``RuntimeConfig`` from ``--weights``, ``--provider`` and ``--threads``."""
    return RuntimeConfig(weights=args.weights, provider=args.provider, threads=args.threads)


def cleaner_config(args: argparse.Namespace) -> CleanerConfig:
    """The ``CleanerConfig`` of ``skeletor clean`` and ``skeletor-live`` from their options.

    Reads the options of :func:`add_cleanup_options`. Without ``--weights`` and with no
    shipped weights beside the package, it warns and runs the uplift only.
    """
    refine = not args.no_refine
    if refine and args.weights is None and not default_weights_path().is_file():
        log.warning("no shipped refiner weights at %s: running the uplift only", default_weights_path())
        refine = False
    return CleanerConfig(
        uplift=replace(UpliftConfig(), focal_px=args.focal_px),
        lookahead=args.lookahead,
        refine=refine,
        runtime=runtime_config(args),
        detection_pull=args.detection_pull,
        refined_lengths=args.refined_lengths,
        smoothing=SMOOTHING if args.smooth else None,
        forget_after_s=args.forget_after or None,
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``clean`` on the ``skeletor`` parser."""
    p = sub.add_parser(
        "clean",
        help="uplift and refine 2D keypoint files into clean 3D poses",
        description=(
            "Read 2D keypoint files (.npz, see docs/formats.md; videos when the live extras are installed), "
            "run the streaming uplift and the Skeletor refiner frame by frame (the same code as skeletor-live), "
            "and write 3D pose .npz files (camera frame: x right, y down, z forward; metres at an assumed adult size)."
        ),
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="keypoint .npz files (or videos)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz for one input, or a directory (several inputs keep their file names)")
    add_cleanup_options(p)
    p.add_argument("--offline", action="store_true",
                   help="for finished recordings: the whole file uplifted at once, then the bidirectional refiner "
                   "(weights/skeletor_refiner_bidir.onnx unless --weights), which sees the frames after each frame as well as "
                   "those before; more accurate and steadier than the default, which gives what the live tool gives "
                   "(--lookahead and --forget-after do not apply)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def output_paths(inputs: list[Path], output: Path) -> list[Path]:
    """Where each input's result goes: ``output`` itself for one ``.npz`` target, else ``output/<input name>.npz``."""
    if len(inputs) == 1 and output.suffix == ".npz" and not output.is_dir():
        return [output]
    return [output / (p.stem + ".npz") for p in inputs]


def _read(path: Path) -> KeypointSequence:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise KeypointFormatError(f"{path}: unsupported input type {path.suffix!r}; expected one of {sorted(READERS)}")
    if not path.is_file():
        raise KeypointFormatError(f"{path}: no such file")
    return reader(path)


def run(args: argparse.Namespace) -> int:
    """Clean every input; a bad input is reported in one line and skipped. Exit 2 if any failed."""
    outputs = output_paths(args.inputs, args.output)
    config = cleaner_config(args)
    from skeletor.refiner.runtime import ProviderUnavailableError, RefinerWeightsError

    try:
        if args.offline:
            from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig

            cleaner: StreamingCleaner | OfflineCleaner = OfflineCleaner(OfflineConfig.from_cleaner(config, args.weights is not None))
        else:
            cleaner = StreamingCleaner(config)
    except (ValueError, OSError, RefinerWeightsError, ProviderUnavailableError) as e:
        print(f"skeletor clean: {e}", file=sys.stderr)
        return 2
    failed = 0
    progress = not args.no_progress and sys.stderr.isatty()
    for src, dst in zip(args.inputs, outputs):
        try:
            seq = _read(src)
            if seq.skeleton != "holistic75":
                raise KeypointFormatError(f"{src}: skeleton {seq.skeleton!r} is not supported; expected 'holistic75'")
            cleaner.reset()
            result = cleaner.clean(seq, progress) if args.offline else clean_sequence(seq, cleaner, progress=progress)  # type: ignore[union-attr, arg-type]
            save_poses(dst, result)
            log.info("%s -> %s (%d frames)", src, dst, len(seq))
        except (KeypointFormatError, OSError, ValueError) as e:
            failed += 1
            msg = str(e) if str(src) in str(e) else f"{src}: {e}"
            print(f"skeletor clean: error: {msg}", file=sys.stderr)
    done = len(args.inputs) - failed
    print(f"skeletor clean: {done} of {len(args.inputs)} file(s) written", file=sys.stderr)
    return 2 if failed else 0
