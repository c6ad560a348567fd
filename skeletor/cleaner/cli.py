"""``skeletor clean``: 2D keypoints in, cleaned 3D pose files out, on this machine or a Ray cluster.

One module, longer than most: the options, the per-file function (``clean_file``, which the
serial loop, ``--offline``, ``--people`` and the Ray workers all call) and the summary and
exit codes are one command's contract; input expansion lives in ``inputs.py``, the Ray runner
in ``batch.py``.

Runs the same :class:`~skeletor.cleaner.stream.StreamingCleaner` the live tool runs, frame by
frame. Inputs are files, folders and glob patterns (:mod:`skeletor.cleaner.inputs`), plus
manifests listing them; files are read by suffix through ``READERS`` (keypoint ``.npz``,
pose-format ``.pose``; ``realtime.commands`` adds video files, MediaPipe detection), and a
folder of OpenPose JSON output is one clip. Outputs are pose ``.npz`` or ``.pose`` files
(``WRITERS``), written whole or not at all.

``--people N`` (N > 1) follows up to N people in a video (``PEOPLE_READERS``, which
``realtime.commands`` fills): they get stable ids (:mod:`skeletor.tracking`) and a cleaner
each (:class:`~skeletor.cleaner.people.MultiPersonCleaner`), and each person is written to a
file of their own beside the output, ``<output stem>.person<ID><suffix>``, spanning the whole
video (frames before they appeared and after they left: NaN, confidence 0).

:func:`clean_file` cleans one input and returns a :class:`FileResult`; the serial loop here
and the Ray runner (:mod:`skeletor.cleaner.batch`, ``--ray``) both call it, so they write the
same files. Whatever goes wrong with one input (unreadable, out of the documented ranges, no
person in it, a bug) is reported in one line naming it, and the others are still cleaned; a
summary line always ends the run. ``--resume`` skips inputs whose output is already there.
Exit status: 0 when every input was written (or already was, with ``--resume``), 2 when any
was not (or the options are wrong), 130 when interrupted (Ctrl-C: the file being written is
left out, never half written).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skeletor.cleaner.inputs import ExpandedInputs, expand_inputs, read_manifest
from skeletor.datasets.openpose import HOW2SIGN_FPS, HOW2SIGN_IMAGE_SIZE, is_openpose_folder, load_openpose_folder
from skeletor.datasets.poseformat import load_pose_file
from skeletor.pose.keypoints import (
    KeypointFormatError,
    KeypointSequence,
    PoseSequence,
    check_keypoint_ranges,
    load_keypoints,
    load_poses,
    save_pose_file,
    save_poses,
)
from skeletor.cleaner.people import MAX_PEOPLE, MultiPersonCleaner, PeopleConfig, PeopleKeypoints, clean_people
from skeletor.cleaner.stream import SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.refiner.runtime import PROVIDERS, RuntimeConfig, default_weights_path
from skeletor.uplift import UpliftConfig

__all__ = [
    "READERS",
    "PEOPLE_READERS",
    "WRITERS",
    "CleanJob",
    "FileResult",
    "clean_file",
    "read_input",
    "valid_output",
    "add_parser",
    "person_path",
    "run",
    "output_paths",
    "add_cleanup_options",
    "cleaner_config",
    "runtime_config",
]

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


def _image_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if sep else None
    except ValueError:
        size = None
    if size is None or not all(1 <= s <= 100_000 for s in size):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1280x720, got {text!r}")
    return size


def _fps(text: str) -> float:
    value = float(text)
    if not 0.01 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"expected frames per second in [0.01, 10000], got {text}")
    return value


def _cpus(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected CPUs >= 1, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``clean`` on the ``skeletor`` parser."""
    p = sub.add_parser(
        "clean",
        help="uplift and refine 2D keypoint files into clean 3D poses",
        description=(
            "Read 2D keypoints (.npz, see docs/formats.md; .pose files of pose-format; folders of OpenPose JSON output, "
            "one *_keypoints.json per frame, as How2Sign ships them; videos when the live extras are installed), run "
            "the streaming uplift and the Skeletor refiner frame by frame (the same code as skeletor-live), and write "
            "3D pose files (camera frame: x right, y down, z forward; metres at an assumed adult size) as .npz or "
            ".pose. Folders are searched for inputs, and glob patterns expanded. Each input is reported with the "
            "share of its frames that show a person; a bad input gets a one-line error and the others are still "
            "cleaned. With --ray the inputs are cleaned in parallel on a Ray cluster (one task per input, the same "
            "code and the same output as without)."
        ),
        epilog="exit status: 0 every input written (or, with --resume, already there); 2 some input not written "
        "(unreadable, invalid, or no person in any frame without --allow-empty), a folder or pattern with no input, "
        "or bad options; 130 interrupted (Ctrl-C; no half-written file is left)",
    )
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="keypoint .npz files, .pose files, OpenPose JSON folders (or videos); folders are searched, "
                   "sub-folders included, and patterns such as 'clips/**/*.npz' expanded")  # fmt: skip
    p.add_argument("--manifest", type=Path, action="append", default=[], metavar="FILE",
                   help="a text file listing inputs, one a line (files, folders or patterns; '#' lines are comments; "
                   "relative paths are relative to the manifest's folder), for corpora too large for a command line; "
                   "repeatable, and combined with any INPUT")  # fmt: skip
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
    p.add_argument("--resume", action="store_true",
                   help="skip an input whose output already exists and reads back as a valid pose file (outputs are "
                   "written whole or not at all, so after a crash or Ctrl-C the same command with --resume does only "
                   "what is left); without it, outputs are overwritten")  # fmt: skip
    openpose = p.add_argument_group("OpenPose JSON folders (their files store neither the image size nor the frame rate)")
    openpose.add_argument("--openpose-size", type=_image_size, default=HOW2SIGN_IMAGE_SIZE, metavar="WxH",
                          help="the size of the video OpenPose ran on (default How2Sign's 1280x720)")  # fmt: skip
    openpose.add_argument("--openpose-fps", type=_fps, default=HOW2SIGN_FPS, metavar="FPS",
                          help="its frame rate (default How2Sign's %(default)g)")  # fmt: skip
    cluster = p.add_argument_group("cluster (Ray; needs the extra: pip install 'skeletor-live[cluster]')")
    cluster.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                         help="clean the inputs in parallel on a Ray cluster, one task per input: ADDRESS 'auto' joins "
                         "the cluster this machine belongs to, host:port or ray://host:port a given one; no ADDRESS "
                         "starts a Ray on this machine for this run. Every node needs this package and the input and "
                         "output paths (a shared file system). Write --ray=ADDRESS, or put --ray after the inputs")  # fmt: skip
    cluster.add_argument("--ray-cpus", type=_cpus, default=None, metavar="N",
                         help="CPUs of the Ray started on this machine (--ray without ADDRESS; default all)")  # fmt: skip
    add_cleanup_options(p)
    p.add_argument("--offline", action="store_true",
                   help="for finished recordings: the whole file uplifted at once, then the bidirectional refiner "
                   "(weights/skeletor_refiner_bidir.onnx unless --weights), which sees the frames after each frame as well as "
                   "those before; more accurate and steadier than the default, which gives what the live tool gives "
                   "(--lookahead and --forget-after do not apply)")  # fmt: skip
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


def _output_stem(path: Path) -> str:
    """The output name of an input: a file's stem, an OpenPose folder's whole name."""
    return path.name if path.is_dir() else path.stem


def output_paths(inputs: list[Path], output: Path, fmt: str | None = None) -> list[Path]:
    """Where each input's result goes.

    ``output`` itself for one input when it ends in an output suffix (``.npz``, ``.pose``)
    and is not a directory; else ``output/<input stem>.<format's suffix>`` (an OpenPose
    folder's stem is its whole name).

    Args:
        inputs: the input files (or OpenPose folders).
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
    paths = [output / (_output_stem(p) + suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, paths):
        if dst in seen:
            raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}; clean them into different directories")
        seen[dst] = src
    return paths


def _format_of(path: Path) -> str:
    return next(name for name, (suffix, _) in WRITERS.items() if suffix == path.suffix.lower())


@dataclass(frozen=True)
class CleanJob:
    """One input to clean and where its output goes: everything :func:`clean_file` needs but the cleaner.

    Attributes:
        src: the input (a file, or a folder of OpenPose JSON output).
        dst: the output file.
        fmt: the output format, a key of ``WRITERS``.
        allow_empty: write an input with no person in any frame (else it is an error).
        resume: skip the input when ``dst`` exists and reads back as a valid pose file.
        openpose_size: (width, height) of the video behind an OpenPose folder (its JSON lacks it).
        openpose_fps: that video's frame rate.
        people: the most people to follow in a video (``--people N``); above 1 each is written to
            :func:`person_path` of ``dst``.
    """

    src: Path
    dst: Path
    fmt: str = "npz"
    allow_empty: bool = False
    resume: bool = False
    openpose_size: tuple[int, int] = HOW2SIGN_IMAGE_SIZE
    openpose_fps: float = HOW2SIGN_FPS
    people: int = 1


@dataclass(frozen=True)
class FileResult:
    """What became of one input (what :func:`clean_file` returns, on this machine or a cluster's).

    Attributes:
        src: the input.
        dst: its output file.
        frames: frames read (0 when reading failed).
        with_person: frames in which any joint was detected.
        written: the output was written.
        skipped: the output was already there and valid (``--resume``); nothing was done.
        error: why nothing was written (one line naming the input), None on success.
        warnings: things the user should know about a written output (one line each, naming the input).
        detail: the traceback of an unexpected failure (a bug), for ``--log-level DEBUG``.
        seconds: time spent on this input (read, clean, write).
        cpu_seconds: CPU time the process spent meanwhile (all its threads).
        person_files: with ``--people N``, the file written for each person followed.
    """

    src: Path
    dst: Path
    frames: int = 0
    with_person: int = 0
    written: bool = False
    skipped: bool = False
    error: str | None = None
    warnings: tuple[str, ...] = ()
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    person_files: tuple[Path, ...] = ()

    @property
    def ok(self) -> bool:
        """The output is there: written now or, with ``--resume``, before."""
        return self.written or self.skipped

    @property
    def share(self) -> float:
        """Fraction of frames with a person (0 for an empty file)."""
        return self.with_person / self.frames if self.frames else 0.0

    def share_text(self) -> str:
        """``a person in N of T frames (P %)``."""
        return f"a person in {self.with_person} of {self.frames} frames ({100 * self.share:.1f} %)"


def read_input(
    path: Path,
    readers: Mapping[str, Callable[[Path], KeypointSequence]] | None = None,
    openpose_size: tuple[int, int] = HOW2SIGN_IMAGE_SIZE,
    openpose_fps: float = HOW2SIGN_FPS,
) -> KeypointSequence:
    """Read one input: a file by its suffix (``readers``), or a folder of OpenPose JSON output.

    Args:
        path: the input.
        readers: suffix -> reader (default ``READERS``).
        openpose_size: (width, height) reported for an OpenPose folder.
        openpose_fps: frame rate reported for an OpenPose folder.

    Returns:
        The keypoints.

    Raises:
        KeypointFormatError: no such input, an unsupported suffix, or a file not in its format.
        ValueError, OSError: what the reader raises for a bad file.
    """
    if path.is_dir():
        if not is_openpose_folder(path):
            raise KeypointFormatError(f"{path}: a folder, but not one of OpenPose JSON output (<clip>_<frame>_keypoints.json files)")
        return load_openpose_folder(path, openpose_size, openpose_fps)
    readers = READERS if readers is None else readers
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise KeypointFormatError(f"{path}: unsupported input type {path.suffix!r}; expected one of {sorted(readers)} or an OpenPose JSON folder")
    if not path.is_file():
        raise KeypointFormatError(f"{path}: no such file")
    return reader(path)


def valid_output(path: Path, fmt: str) -> bool:
    """Whether ``path`` holds a complete pose file of format ``fmt`` (``--resume`` skips its input).

    A file is written whole or not at all (a temporary file, then a rename), so one that
    reads back as a holistic75 pose sequence of at least one frame is complete.

    Args:
        path: an output file.
        fmt: a key of ``WRITERS``.

    Returns:
        True when it exists and reads back.
    """
    if not path.is_file():
        return False
    try:
        if fmt == "pose":
            from pose_format import Pose

            data = Pose.read(path.read_bytes()).body.data
            return data.ndim == 4 and data.shape[0] > 0 and data.shape[2] == 75
        poses = load_poses(path)
        return poses.skeleton == "holistic75" and len(poses.poses3d) > 0
    except Exception:  # any unreadable file is simply not valid: it is cleaned again
        log.debug("%s is not a valid output; cleaning its input again", path, exc_info=True)
        return False


Readers = Mapping[str, Callable[[Path], KeypointSequence]]
PeopleReaders = Mapping[str, Callable[[Path, int], PeopleKeypoints]]


def clean_file(
    job: CleanJob,
    cleaner: StreamingCleaner,
    readers: Readers | None = None,
    progress: bool = False,
    people_readers: PeopleReaders | None = None,
) -> FileResult:
    """Read, check, clean and write one input; every failure is caught and returned.

    The one function both ``skeletor clean`` and ``skeletor clean --ray`` run per input, so
    the two write the same bytes.

    Args:
        job: the input, its output and the per-input options.
        cleaner: the streaming cleaner (reset here before use; with ``job.people > 1`` its
            refiner serves a multi-person cleaner).
        readers: suffix -> reader (default ``READERS``; a cluster's workers are handed the
            driver's table, video readers included).
        progress: a progress bar over the input's frames (stderr).
        people_readers: suffix -> reader of several people (default ``PEOPLE_READERS``).

    Returns:
        The result: written, skipped (``job.resume`` and a valid output), or the error.

    Raises:
        KeyboardInterrupt: passed on (the output is then not written, never half written).
    """
    src, dst = job.src, job.dst
    t0, c0 = time.perf_counter(), time.process_time()
    if job.resume and valid_output(dst, job.fmt):
        return FileResult(src, dst, skipped=True, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    partial: list[FileResult] = [FileResult(src, dst)]  # frame counts, once read, for the error report
    try:
        if job.people > 1:
            result = _clean_people(job, cleaner, PEOPLE_READERS if people_readers is None else people_readers, progress, partial)
        else:
            result = _clean_one(job, cleaner, readers, progress, partial)
        return replace(result, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    except (KeypointFormatError, OSError, ValueError) as e:
        _reraise_ctrl_c(e)
        error = str(e) if str(src) in str(e) else f"{src}: {e}"
        return replace(partial[-1], error=error, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    except Exception as e:  # a bug shows on one file; the batch goes on
        _reraise_ctrl_c(e)
        return replace(
            partial[-1], error=f"{src}: failed with {type(e).__name__}: {e} (--log-level DEBUG shows where)",
            detail=traceback.format_exc(), seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
        )  # fmt: skip


def _reraise_ctrl_c(e: BaseException) -> None:
    """Raise KeyboardInterrupt when ``e`` wraps one: Ctrl-C inside compiled code (numba's
    dispatcher) comes out as ``SystemError`` with the interrupt as its cause, and must stop
    the batch, not count as one file's failure."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from e
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__


def _mtime_ns(path: Path) -> int | None:
    """``path``'s modification time (None when there is no such file)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _clean_one(job: CleanJob, cleaner: StreamingCleaner, readers: Readers | None, progress: bool, partial: list[FileResult]) -> FileResult:
    """One person: read, check, clean and write; raises on any failure."""
    src, dst = job.src, job.dst
    seq = read_input(src, readers, job.openpose_size, job.openpose_fps)
    if seq.skeleton != "holistic75":
        raise KeypointFormatError(f"{src}: skeleton {seq.skeleton!r} is not supported; expected 'holistic75'")
    seq, changes = check_keypoint_ranges(seq)
    warnings = [f"{src}: {change}" for change in changes]
    present = (seq.confidence > 0).any(axis=1)  # (T,) frames in which any joint was detected
    result = FileResult(src, dst, frames=len(seq), with_person=int(present.sum()))
    partial.append(result)
    if result.with_person == 0 and not job.allow_empty:
        raise KeypointFormatError(f"{src}: no person in any of its {result.frames} frames; nothing written (--allow-empty writes it anyway)")
    if result.share < _FEW_PEOPLE:
        warnings.append(f"{src}: {result.share_text()}; the other frames are carried or estimated")
    cleaner.reset()
    if hasattr(cleaner, "clean"):  # --offline: the whole file at once (skeletor.cleaner.offline)
        poses = cleaner.clean(seq, progress)  # type: ignore[attr-defined]
    else:
        poses = clean_sequence(seq, cleaner, progress=progress)
    WRITERS[job.fmt][1](dst, poses, seq)
    return replace(result, written=True, warnings=tuple(warnings))


def _people_cleaner(config: CleanerConfig, cleaner: StreamingCleaner) -> MultiPersonCleaner:
    """A fresh multi-person cleaner (ids from 0) for one video, on ``cleaner``'s refiner (loaded once)."""
    from skeletor.tracking import TrackerConfig

    forget = config.forget_after_s if config.forget_after_s is not None else float("inf")  # --forget-after 0 = never
    return MultiPersonCleaner(PeopleConfig(cleaner=config, tracker=TrackerConfig(forget_after_s=forget)), refiner=cleaner.refiner)


def _clean_people(job: CleanJob, cleaner: StreamingCleaner, people_readers: PeopleReaders, progress: bool, partial: list[FileResult]) -> FileResult:
    """Several people in a video (``--people N``): read, track, clean and write each; raises on any failure."""
    src, dst = job.src, job.dst
    reader = people_readers.get(src.suffix.lower())
    if reader is None:
        kinds = sorted(people_readers) or ["(none: the live extras are not installed)"]
        raise KeypointFormatError(f"{src}: --people needs a video ({', '.join(kinds)}); a keypoint file holds one person")
    if not src.is_file():
        raise KeypointFormatError(f"{src}: no such file")
    seq = reader(src, job.people)
    present = (seq.keypoints[..., 2] > 0).any(axis=(1, 2))  # (T,) frames with anyone
    result = FileResult(src, dst, frames=len(seq), with_person=int(present.sum()))
    partial.append(result)
    if result.with_person == 0:
        raise KeypointFormatError(f"{src}: no person in any of its {result.frames} frames; nothing written")
    tracks = clean_people(seq, _people_cleaner(cleaner.config, cleaner), progress=progress)
    for pid, poses in tracks.items():
        assert poses.keypoints is not None  # clean_people attaches every person's tracked 2D
        WRITERS[job.fmt][1](person_path(dst, pid), poses, KeypointSequence(poses.keypoints, seq.fps, seq.image_size, name=seq.name))
    return replace(result, written=True, person_files=tuple(person_path(dst, pid) for pid in tracks))


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
    def bar(self, desc: str, unit: str, total: int | None, position: int = 0, minimum: int = 2) -> Iterator[Any]:
        """A progress bar (a no-op object when bars are off or ``total`` is below ``minimum``)."""
        if not self.progress or (total is not None and total < minimum):
            yield _NoBar()
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, position=position, dynamic_ncols=True) as bar:
            yield bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


class _Tally:
    """Reports each input's result as it comes and counts them for the summary."""

    def __init__(self, console: _Console, total: int) -> None:
        self.console = console
        self.total = total
        self.written: list[Path] = []
        self.skipped = 0
        self.failed: list[FileResult] = []

    def __call__(self, result: FileResult) -> None:
        say = self.console.say
        for warning in result.warnings:
            say(f"skeletor clean: warning: {warning}")
        if result.skipped:
            self.skipped += 1
            say(f"skeletor clean: {result.src} -> {result.dst}: already written (--resume)")
        elif result.written:
            self.written.append(result.dst)
            if result.person_files:
                n = len(result.person_files)
                names = ", ".join(p.name for p in result.person_files)
                say(f"skeletor clean: {result.src} -> {'1 person' if n == 1 else f'{n} people'}: {names} "
                    f"(someone in {result.with_person} of {result.frames} frames)")  # fmt: skip
            else:
                say(f"skeletor clean: {result.src} -> {result.dst}: {result.share_text()}")
        else:
            self.failed.append(result)
            if result.detail:
                log.debug("cleaning %s failed:\n%s", result.src, result.detail)
            say(f"skeletor clean: error: {result.error}")

    def summary(self, problems: list[str], listed: bool) -> str:
        """The last line (and, when ``listed``, the failures again, for a long run's end)."""
        if listed and len(self.failed) + len(problems) > 1:
            print(f"skeletor clean: {len(self.failed) + len(problems)} input(s) failed:", file=sys.stderr)
            for text in problems + [r.error or "" for r in self.failed]:
                print(f"  {text}", file=sys.stderr)
        done = f"{len(self.written)} of {self.total} file(s) written"
        if self.skipped:
            done += f", {self.skipped} already written (--resume)"
        return f"skeletor clean: {done}"


def _collect_inputs(args: argparse.Namespace, suffixes: Collection[str]) -> ExpandedInputs:
    """The inputs named on the command line and in manifests; raises OSError / ValueError for an unreadable manifest."""
    specs: list[Path] = list(args.inputs)
    if args.ray is not None and args.ray and not _RAY_ADDRESS.fullmatch(args.ray):
        specs.insert(0, Path(args.ray))  # `--ray INPUT ...`: the word after --ray is an input, not an address
        args.ray = ""
    for manifest in args.manifest:
        specs += read_manifest(manifest)
    return expand_inputs(specs, suffixes)


# What --ray takes as a cluster address (anything else after --ray is an input).
_RAY_ADDRESS = re.compile(r"auto|local|[a-z][a-z0-9+.-]*://\S+|[A-Za-z0-9_.-]+:\d{1,5}")


def run(args: argparse.Namespace) -> int:
    """Clean every input (see the module docstring for what is reported and the exit status)."""
    try:
        found = _collect_inputs(args, set(READERS))
    except (OSError, ValueError) as e:
        print(f"skeletor clean: error: cannot read the manifest: {e}", file=sys.stderr)
        return 2
    for problem in found.problems:
        print(f"skeletor clean: error: {problem}", file=sys.stderr)
    inputs = found.paths
    if not inputs:
        if not found.problems:
            print("skeletor clean: error: no inputs: name files, folders or patterns, or --manifest FILE", file=sys.stderr)
        return 2
    try:
        outputs = output_paths(inputs, args.output, args.format)
    except ValueError as e:
        print(f"skeletor clean: error: {e}", file=sys.stderr)
        return 2
    formats = [args.format or (_format_of(dst) if dst == args.output else "npz") for dst in outputs]
    people = getattr(args, "people", 1)
    if people > 1 and args.resume:
        print("skeletor clean: error: --resume cannot tell whether every person of a video was written; leave it out with --people N", file=sys.stderr)
        return 2
    jobs = [
        CleanJob(src, dst, fmt, args.allow_empty, args.resume, args.openpose_size, args.openpose_fps, people)
        for src, dst, fmt in zip(inputs, outputs, formats)
    ]
    config = cleaner_config(args)
    from skeletor.refiner.runtime import ProviderUnavailableError, RefinerWeightsError

    console = _Console(progress=not args.no_progress and sys.stderr.isatty())
    tally = _Tally(console, len(jobs))
    current: tuple[CleanJob, int | None] | None = None  # the job in progress, and its output's mtime before it
    try:
        try:
            if args.offline:
                if people > 1 or args.ray is not None:
                    raise ValueError("--offline cleans one person per file, in this process: leave out --people and --ray")
                from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig

                cleaner: StreamingCleaner | OfflineCleaner = OfflineCleaner(OfflineConfig.from_cleaner(config, args.weights is not None))
            else:
                cleaner = StreamingCleaner(config)  # also checks weights and provider before any work (exit 2)
        except (ValueError, OSError, RefinerWeightsError, ProviderUnavailableError) as e:
            print(f"skeletor clean: {e}", file=sys.stderr)
            return 2
        if args.ray is not None:
            from skeletor.cleaner.batch import RayConfig, RayUnavailableError, clean_on_ray

            del cleaner  # the workers build their own
            try:
                ray_config = RayConfig(address=args.ray or None, num_cpus=args.ray_cpus, cpus_per_task=max(1, config.runtime.threads))
                clean_on_ray(jobs, config, ray_config, dict(READERS), tally, console, people_readers=dict(PEOPLE_READERS))
            except (RayUnavailableError, ConnectionError, ValueError) as e:
                print(f"skeletor clean: error: --ray: {e}", file=sys.stderr)
                return 2
        else:
            with console.bar("files", "file", len(jobs)) as bar:
                for job in jobs:
                    current = (job, _mtime_ns(job.dst))
                    tally(clean_file(job, cleaner, progress=console.progress))
                    current = None
                    bar.update(1)
    except KeyboardInterrupt:
        if current is not None and current[0].people <= 1 and _mtime_ns(current[0].dst) not in (None, current[1]):
            tally.written.append(current[0].dst)  # Ctrl-C came after its (atomic) write, before it was counted
        names = ", ".join(str(p) for p in tally.written) or "none"
        print("", file=sys.stderr)
        if tally.written:
            print("skeletor clean: the same command with --resume cleans only what is left", file=sys.stderr)
        print(f"skeletor clean: interrupted; {len(tally.written)} of {len(jobs)} file(s) written: {names}", file=sys.stderr)
        return 130
    print(tally.summary(found.problems, listed=args.ray is not None), file=sys.stderr)
    return 2 if tally.failed or found.problems else 0
