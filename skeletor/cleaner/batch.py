"""``skeletor clean --ray``: the inputs of one run cleaned in parallel on a Ray cluster.

One Ray task per input runs :func:`skeletor.cleaner.cli.clean_file`, the function the serial
run calls, in a worker process that keeps one :class:`~skeletor.cleaner.stream.StreamingCleaner`
(and so one ONNX Runtime session) for all the inputs it is given, reset before each, as the
serial run does: the outputs are the same bytes. Each task writes its output itself (whole or
not at all), so every node must see the input and output paths (a shared file system), and
returns only the small :class:`~skeletor.cleaner.cli.FileResult`. The driver keeps a window of
tasks in flight (twice the cluster's CPUs), reports each result as it comes, and on Ctrl-C
cancels the rest.

Ray is imported here only when a run asks for it: it is an optional extra
(``pip install 'skeletor-live[cluster]'``), and neither ``import skeletor`` nor a serial
``skeletor clean`` loads it. It is the one engine of the library that talks to other
machines; it touches no camera, socket or event loop of ours (the I/O rule of
``tests/test_dependency_rules.py``).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner
from skeletor.pose.keypoints import KeypointSequence

if TYPE_CHECKING:
    from skeletor.cleaner.cli import CleanJob, FileResult, _Console

__all__ = ["RayConfig", "RayUnavailableError", "clean_on_ray"]

log = logging.getLogger(__name__)

Readers = Mapping[str, Callable[[Path], KeypointSequence]]
PeopleReaders = Mapping[str, Callable[[Path, int], Any]]


class RayUnavailableError(RuntimeError):
    """``--ray`` was asked for but the ``ray`` package is not installed."""


@dataclass(frozen=True)
class RayConfig:
    """Where and how the inputs are cleaned on Ray (``--ray [ADDRESS]``, ``--ray-cpus``).

    Attributes:
        address: None = start a Ray on this machine for this run (stopped at its end);
            ``"auto"`` = join the cluster this machine belongs to; ``host:port`` or
            ``ray://host:port`` = that cluster. A process that already runs Ray uses it.
        num_cpus: CPUs of the Ray started here (None = all); ignored when joining a cluster.
        cpus_per_task: CPUs each task reserves: the refiner's ``--threads`` (at least 1),
            so that tasks never share a core.
        max_in_flight: tasks submitted and not yet reported (None = twice the cluster's
            CPUs): enough to keep every worker busy, few enough that Ctrl-C stops soon and
            the driver never holds a corpus' worth of task handles.
        local_object_store_bytes: the object store of a Ray started here; the tasks pass
            only file paths and small result records, so it stays small.
    """

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_task: float = 1.0
    max_in_flight: int | None = None
    local_object_store_bytes: int = 128 * 2**20

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1, got {self.num_cpus}")
        if self.cpus_per_task <= 0 or (self.max_in_flight is not None and self.max_in_flight < 1):
            raise ValueError("cpus_per_task must be > 0 and max_in_flight >= 1")


# One cleaner per worker process, kept across the tasks it runs (an ONNX session takes a
# while to build); keyed by its config, so a worker reused by another run with other
# options builds a new one.
_WORKER: tuple[CleanerConfig, StreamingCleaner] | None = None


def _worker_cleaner(config: CleanerConfig) -> StreamingCleaner:
    global _WORKER
    if _WORKER is None or _WORKER[0] != config:
        _WORKER = (config, StreamingCleaner(config))
    return _WORKER[1]


def _clean_on_worker(job: CleanJob, config: CleanerConfig, readers: Readers, people_readers: PeopleReaders) -> FileResult:
    """The Ray task: clean one input with this worker's cleaner (``clean_file`` catches every failure)."""
    from skeletor.cleaner.cli import FileResult, clean_file

    try:
        cleaner = _worker_cleaner(config)
    except Exception as e:  # the driver built the same cleaner, so this is the node's fault (no weights there)
        return FileResult(job.src, job.dst, error=f"{job.src}: the worker cannot build the cleaner: {type(e).__name__}: {e}")
    return clean_file(job, cleaner, readers, people_readers=people_readers)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RayUnavailableError(f"the ray package is not installed ({e}); pip install 'skeletor-live[cluster]'") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray itself retries for minutes).

    Raises:
        ConnectionError: the TCP connection is refused or times out.
    """
    m = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d{1,5})/?", address)
    if m is None:  # "auto" and other forms: Ray's own check is quick
        return
    host, port = m.group(1), int(m.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:
        raise ConnectionError(f"cannot join the Ray cluster at {address}: nothing answers at {host}:{port} ({e}); "
                              "start one there with `ray start --head`, or give --ray without an address") from None  # fmt: skip


def _connect(ray: Any, config: RayConfig) -> bool:
    """Join or start Ray; returns whether this call started it (and so must stop it)."""
    if ray.is_initialized():
        return False
    if config.address is None:  # Ray's start-up notes (token file written, ...) are about its machinery: errors only
        ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False, log_to_driver=False,
                 object_store_memory=config.local_object_store_bytes, logging_level=logging.ERROR)  # fmt: skip
    else:
        _check_reachable(config.address)
        try:
            ray.init(address=config.address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConnectionError(f"cannot join the Ray cluster at {config.address}: {e}") from e
    return True


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


def clean_on_ray(
    jobs: Iterable[CleanJob],
    config: CleanerConfig,
    ray_config: RayConfig,
    readers: Readers,
    report: Callable[[FileResult], None],
    console: _Console | None = None,
    people_readers: PeopleReaders | None = None,
) -> None:
    """Clean ``jobs`` on Ray, handing each result to ``report`` as it comes back.

    Args:
        jobs: the inputs and outputs (``CleanJob``); the paths must be valid on every node.
        config: the cleaner's settings (the same for every input).
        ray_config: where to run.
        readers: suffix -> reader, the driver's table (video readers included); the functions
            are sent to the workers, which import their modules.
        report: called in the driver with each :class:`~skeletor.cleaner.cli.FileResult`, in
            the order they finish. A task lost with its node (after Ray's retries) comes
            back as a result with an error.
        console: progress bars over files and frames (None = none).
        people_readers: suffix -> reader of several people (``--people N``), sent as ``readers``.

    Raises:
        RayUnavailableError: ray is not installed.
        ConnectionError: the cluster at ``ray_config.address`` cannot be joined.
        KeyboardInterrupt: passed on after cancelling the tasks still running (an output
            being written is left out, never half written) and reporting the ones that
            finished meanwhile.
    """
    from skeletor.cleaner.cli import FileResult, _Console

    ray = _import_ray()
    jobs = list(jobs)
    console = console or _Console(progress=False)
    started = _connect(ray, ray_config)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        window = ray_config.max_in_flight or max(2, 2 * cpus)
        log.info("cleaning %d inputs on Ray: %d CPUs, %g per task, %d tasks in flight", len(jobs), cpus, ray_config.cpus_per_task, window)
        task = ray.remote(num_cpus=ray_config.cpus_per_task, max_retries=2)(_clean_on_worker)
        shared = (ray.put(config), ray.put(dict(readers)), ray.put(dict(people_readers or {})))
        pending: dict[Any, CleanJob] = {}
        queue = iter(jobs)
        t0 = time.perf_counter()
        frames = 0

        def submit() -> None:
            for job in queue:
                pending[task.remote(job, *shared)] = job
                if len(pending) >= window:
                    return

        def collect(ref: Any, frames_bar: Any) -> None:
            nonlocal frames
            job = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as e:  # the worker died (out of memory, node lost) beyond Ray's retries, or was cancelled
                result = FileResult(job.src, job.dst, error=f"{job.src}: lost on the cluster: {type(e).__name__}: {_first_line(e)}")
            frames += result.frames if result.written else 0
            frames_bar.update(result.frames if result.written else 0)
            report(result)

        with console.bar("files", "file", len(jobs), position=0) as files_bar, console.bar("frames", "frame", None, position=1) as frames_bar:
            submit()
            try:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        collect(ref, frames_bar)
                        files_bar.update(1)
                    submit()
            except KeyboardInterrupt:
                for ref in pending:
                    ray.cancel(ref)
                done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=5.0)
                for ref in done:  # outputs finished meanwhile are reported; cancelled tasks wrote nothing
                    try:
                        result = ray.get(ref)
                    except Exception:
                        continue
                    if result.written:
                        report(result)
                raise
        seconds = time.perf_counter() - t0
        log.info("cleaned %d frames in %.1f s on Ray (%.1f frames/s)", frames, seconds, frames / seconds if seconds else 0.0)
    finally:
        if started:
            ray.shutdown()
