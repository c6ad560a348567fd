"""``skeletor clean``: 2D keypoint files in, cleaned 3D pose files out.

Runs the same :class:`~skeletor.cleaner.stream.StreamingCleaner` the live tool runs, frame by
frame. Inputs are read by suffix through ``READERS`` (keypoint ``.npz``, pose-format
``.pose``); ``realtime.commands`` adds video files (MediaPipe detection) to that table.
Outputs are pose ``.npz`` or ``.pose`` files (``WRITERS``).

``--people N`` (N > 1) follows up to N people in a video (``PEOPLE_READERS``, which
``realtime.commands`` fills): they get stable ids (:mod:`skeletor.tracking`) and a cleaner
each (:class:`~skeletor.cleaner.people.MultiPersonCleaner`), and each person is written to a
file of their own beside the output, ``<output stem>.person<ID><suffix>``, spanning the whole
video (frames before they appeared and after they left: NaN, confidence 0).

Every input is handled on its own: whatever goes wrong with one (unreadable, out of the
documented ranges, no person in it, a bug) is reported in one line naming the file, and the
others are still cleaned; a summary line always ends the run. Exit status: 0 when every
input was written, 2 when any was not (or the options are wrong), 130 when interrupted
(Ctrl-C: the file being written is left out, never half written).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skeletor.datasets.poseformat import load_pose_file
from skeletor.pose.keypoints import (
    KeypointFormatError,
    KeypointSequence,
    PoseSequence,
    check_keypoint_ranges,
    load_keypoints,
    save_pose_file,
    save_poses,
)
from skeletor.cleaner.people import MAX_PEOPLE, MultiPersonCleaner, PeopleConfig, PeopleKeypoints, clean_people
from skeletor.cleaner.stream import SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.refiner.runtime import PROVIDERS, RuntimeConfig, default_weights_path
from skeletor.uplift import UpliftConfig

__all__ = ["READERS", "PEOPLE_READERS", "WRITERS", "add_parser", "person_path", "run", "output_paths", "add_cleanup_options", "cleaner_config", "runtime_config"]

log = logging.getLogger(__name__)

# suffix -> reader returning a KeypointSequence (raises KeypointFormatError / OSError on bad input)
READERS: dict[str, Callable[[Path], KeypointSequence]] = {".npz": load_keypoints, ".pose": load_pose_file}
# suffix -> reader of several people per frame, given the most people (``--people N``; videos, added by realtime.commands)
PEOPLE_READERS: dict[str, Callable[[Path, int], PeopleKeypoints]] = {}


def _write_npz(path: Path, poses: PoseSequence, source: KeypointSequence) -> None:
    save_poses(path, poses)


def _write_pose(path: Path, poses: PoseSequence, source: KeypointSequence) -> None:
    save_pose_file(path, poses, source.image_size)


# output format -> (suffix, writer of the cleaned poses; the source keypoints give the .pose header its image size)
WRITERS: dict[str, tuple[str, Callable[[Path, PoseSequence, KeypointSequence], None]]] = {
    "npz": (".npz", _write_npz),
    "pose": (".pose", _write_pose),
}
# Below this share of frames with a person, a file gets a warning: most of its output is
# carried or estimated, not seen.
_FEW_PEOPLE = 0.5


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
            "Read 2D keypoint files (.npz, see docs/formats.md; .pose files of pose-format; videos when the live "
            "extras are installed), run the streaming uplift and the Skeletor refiner frame by frame (the same code "
            "as skeletor-live), and write 3D pose files (camera frame: x right, y down, z forward; metres at an "
            "assumed adult size) as .npz or .pose. Each input is reported with the share of its frames that show a "
            "person; a bad input gets a one-line error and the others are still cleaned."
        ),
        epilog="exit status: 0 every input written; 2 some input not written (unreadable, invalid, or no person in any "
        "frame without --allow-empty) or bad options; 130 interrupted (Ctrl-C; no half-written file is left)",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="keypoint .npz files, .pose files (or videos)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file for one input (.npz or .pose), or a directory (several inputs keep their file names)")  # fmt: skip
    p.add_argument("--format", choices=sorted(WRITERS), default=None,
                   help="output format: npz (docs/formats.md) or pose (pose-format, for sign-language tools); "
                   "default: the suffix of -o when it names a file, else npz")  # fmt: skip
    p.add_argument("--allow-empty", action="store_true",
                   help="write the output of an input in which no frame shows a person (every joint missing) and "
                   "count it as done; by default such an input is an error (nothing written, exit 2)")  # fmt: skip
    p.add_argument("--people", type=_people, default=1, metavar="N",
                   help="follow up to N people in a video (N > 1: MediaPipe's multi-person PoseLandmarker, a stable id "
                   "per person, each written to <output stem>.person<ID><suffix>); 1 = one person, as before (default 1)")  # fmt: skip
    add_cleanup_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they are shown only on a terminal)")
    p.set_defaults(run=run)


def _people(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_PEOPLE:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PEOPLE} people, got {text}")
    return value


def person_path(dst: Path, person_id: int) -> Path:
    """Where person ``person_id``'s poses go when ``dst`` is the output for their input (``--people N``)."""
    return dst.with_name(f"{dst.stem}.person{person_id}{dst.suffix}")


def output_paths(inputs: list[Path], output: Path, fmt: str | None = None) -> list[Path]:
    """Where each input's result goes.

    ``output`` itself for one input when it ends in an output suffix (``.npz``, ``.pose``)
    and is not a directory; else ``output/<input stem>.<format's suffix>``.

    Args:
        inputs: the input files.
        output: ``-o``.
        fmt: ``--format`` (a key of ``WRITERS``); ``None`` = from ``output``'s suffix, else npz.

    Returns:
        One path per input.

    Raises:
        ValueError: ``fmt`` contradicts ``output``'s suffix, ``output`` names one file for
            several inputs, or two inputs would be written to the same file.
    """
    suffixes = {suffix: name for name, (suffix, _) in WRITERS.items()}
    as_file = output.suffix.lower() in suffixes and not output.is_dir()
    if as_file:
        implied = suffixes[output.suffix.lower()]
        if fmt is not None and fmt != implied:
            raise ValueError(f"-o {output} is a .{implied} file but --format is {fmt}")
        if len(inputs) != 1:
            raise ValueError(f"-o {output} names one file but there are {len(inputs)} inputs; give a directory")
        return [output]
    suffix = WRITERS[fmt or "npz"][0]
    paths = [output / (p.stem + suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, paths):
        if dst in seen:
            raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}; clean them into different directories")
        seen[dst] = src
    return paths


def _format_of(path: Path) -> str:
    return next(name for name, (suffix, _) in WRITERS.items() if suffix == path.suffix.lower())


def _read(path: Path) -> KeypointSequence:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise KeypointFormatError(f"{path}: unsupported input type {path.suffix!r}; expected one of {sorted(READERS)}")
    if not path.is_file():
        raise KeypointFormatError(f"{path}: no such file")
    return reader(path)


@dataclass
class _Report:
    """What became of one input."""

    frames: int = 0
    with_person: int = 0
    written: bool = False

    @property
    def share(self) -> float:
        """Fraction of frames with a person (0 for an empty file)."""
        return self.with_person / self.frames if self.frames else 0.0


class _Console:
    """The CLI's messages on stderr, written above the progress bars when they are shown."""

    def __init__(self, progress: bool) -> None:
        self.progress = progress

    def say(self, text: str) -> None:
        if self.progress:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    @contextmanager
    def files(self, paths: list[Path]) -> Iterator[Any]:
        """A progress bar over the input files (a no-op object when bars are off or there is one file)."""
        if not self.progress or len(paths) < 2:
            yield _NoBar()
            return
        from tqdm import tqdm

        with tqdm(total=len(paths), desc="files", unit="file", file=sys.stderr, position=0) as bar:
            yield bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


def _clean_one(src: Path, dst: Path, fmt: str, cleaner: StreamingCleaner, args: argparse.Namespace, console: _Console) -> _Report:
    """Read, check, clean and write one input; raises on any failure (the caller reports it)."""
    seq = _read(src)
    if seq.skeleton != "holistic75":
        raise KeypointFormatError(f"{src}: skeleton {seq.skeleton!r} is not supported; expected 'holistic75'")
    seq, changes = check_keypoint_ranges(seq)
    for change in changes:
        console.say(f"skeletor clean: warning: {src}: {change}")
    present = (seq.confidence > 0).any(axis=1)  # (T,) frames in which any joint was detected
    report = _Report(frames=len(seq), with_person=int(present.sum()))
    share = f"a person in {report.with_person} of {report.frames} frames ({100 * report.share:.1f} %)"
    if report.with_person == 0 and not args.allow_empty:
        raise KeypointFormatError(f"{src}: no person in any of its {report.frames} frames; nothing written (--allow-empty writes it anyway)")
    if report.share < _FEW_PEOPLE:
        console.say(f"skeletor clean: warning: {src}: {share}; the other frames are carried or estimated")
    cleaner.reset()
    result = clean_sequence(seq, cleaner, progress=console.progress)
    WRITERS[fmt][1](dst, result, seq)
    report.written = True
    console.say(f"skeletor clean: {src} -> {dst}: {share}")
    return report


def _people_cleaner(config: CleanerConfig, cleaner: StreamingCleaner) -> MultiPersonCleaner:
    """A fresh multi-person cleaner (ids from 0) for one video, on ``cleaner``'s refiner (loaded once)."""
    from skeletor.tracking import TrackerConfig

    forget = config.forget_after_s if config.forget_after_s is not None else float("inf")  # --forget-after 0 = never
    return MultiPersonCleaner(PeopleConfig(cleaner=config, tracker=TrackerConfig(forget_after_s=forget)), refiner=cleaner.refiner)


def _clean_people(src: Path, dst: Path, fmt: str, cleaner: MultiPersonCleaner, people: int, console: _Console) -> _Report:
    """Read, track, clean and write one video's people (``--people N``); raises on any failure."""
    reader = PEOPLE_READERS.get(src.suffix.lower())
    if reader is None:
        kinds = sorted(PEOPLE_READERS) or ["(none: the live extras are not installed)"]
        raise KeypointFormatError(f"{src}: --people needs a video ({', '.join(kinds)}); a keypoint file holds one person")
    if not src.is_file():
        raise KeypointFormatError(f"{src}: no such file")
    seq = reader(src, people)
    present = (seq.keypoints[..., 2] > 0).any(axis=(1, 2))  # (T,) frames with anyone
    report = _Report(frames=len(seq), with_person=int(present.sum()))
    if report.with_person == 0:
        raise KeypointFormatError(f"{src}: no person in any of its {report.frames} frames; nothing written")
    tracks = clean_people(seq, cleaner, progress=console.progress)
    for pid, poses in tracks.items():
        assert poses.keypoints is not None  # clean_people attaches every person's tracked 2D
        WRITERS[fmt][1](person_path(dst, pid), poses, KeypointSequence(poses.keypoints, seq.fps, seq.image_size, name=seq.name))
    report.written = True
    names = ", ".join(person_path(dst, pid).name for pid in tracks)
    who = "1 person" if len(tracks) == 1 else f"{len(tracks)} people"
    console.say(f"skeletor clean: {src} -> {who}: {names} (someone in {report.with_person} of {report.frames} frames)")
    return report


def run(args: argparse.Namespace) -> int:
    """Clean every input (see the module docstring for what is reported and the exit status)."""
    try:
        outputs = output_paths(args.inputs, args.output, args.format)
    except ValueError as e:
        print(f"skeletor clean: error: {e}", file=sys.stderr)
        return 2
    formats = [args.format or (_format_of(dst) if dst == args.output else "npz") for dst in outputs]
    config = cleaner_config(args)
    from skeletor.refiner.runtime import ProviderUnavailableError, RefinerWeightsError

    console = _Console(progress=not args.no_progress and sys.stderr.isatty())
    written: list[Path] = []
    failed = 0
    people = getattr(args, "people", 1)
    try:
        try:
            cleaner = StreamingCleaner(config)
        except (ValueError, OSError, RefinerWeightsError, ProviderUnavailableError) as e:
            print(f"skeletor clean: {e}", file=sys.stderr)
            return 2
        with console.files(args.inputs) as bar:
            for src, dst, fmt in zip(args.inputs, outputs, formats):
                try:
                    if people > 1:
                        done = _clean_people(src, dst, fmt, _people_cleaner(config, cleaner), people, console).written
                    else:
                        done = _clean_one(src, dst, fmt, cleaner, args, console).written
                    if done:
                        written.append(dst)
                except (KeypointFormatError, OSError, ValueError) as e:
                    failed += 1
                    msg = str(e) if str(src) in str(e) else f"{src}: {e}"
                    console.say(f"skeletor clean: error: {msg}")
                except Exception as e:  # a bug shows on one file; the batch goes on
                    failed += 1
                    log.debug("cleaning %s failed", src, exc_info=True)
                    console.say(f"skeletor clean: error: {src}: failed with {type(e).__name__}: {e} (--log-level DEBUG shows where)")
                bar.update(1)
    except KeyboardInterrupt:
        names = ", ".join(str(p) for p in written) or "none"
        print(f"\nskeletor clean: interrupted; {len(written)} of {len(args.inputs)} file(s) written: {names}", file=sys.stderr)
        return 130
    print(f"skeletor clean: {len(written)} of {len(args.inputs)} file(s) written", file=sys.stderr)
    return 2 if failed else 0
