"""``skeletor-live``: webcam (or video, or the built-in demo) -> clean 3D skeleton -> websockets.

Run it with no arguments: it uses camera 0, or, when there is none, says so and serves
the built-in demo. Open the printed http:// address in a browser for the live viewer;
programs subscribe to ws://HOST:PORT/ws (docs/protocol.md, docs/clients.md).

The stages are chosen here from two registries: the detector (``--detector``, from
:data:`realtime.detectors.DETECTORS`) and the outputs (every :data:`realtime.sinks.SINKS`
entry adds its own flags and runs when they ask for it). This module only parses, builds
the :class:`~realtime.sources.SourceConfig`, and runs the loop.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from realtime.detectors import DEFAULT_DETECTOR, DETECTORS
from realtime.sinks import add_sink_options, sinks_from_args
from realtime.sources import SourceConfig
from skeletor.cleaner.cli import add_cleanup_options, cleaner_config

if TYPE_CHECKING:
    from realtime.pipeline import LivePipeline

__all__ = ["build_parser", "main", "source_config_from_args"]

log = logging.getLogger("skeletor-live")

EPILOG = """\
examples:
  skeletor-live                         camera 0, or the demo when there is no camera
  skeletor-live --camera 1 --preview    another camera, with an OpenCV preview window
  skeletor-live --video talk.mp4 --realtime --loop
  skeletor-live --demo --record demo.jsonl
  skeletor-live --host 0.0.0.0 --token SECRET      serve other machines (a token, or an explicit --no-token)

clients: open http://HOST:PORT/ in a browser, or `skeletor subscribe ws://HOST:PORT/ws`.
axes of the streamed joints: camera frame, x right, y down, z forward, metres.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``skeletor-live`` argument parser (the registered detectors' and sinks' flags included)."""
    p = argparse.ArgumentParser(
        prog="skeletor-live",
        description="Real-time 3D body-pose cleanup: detector (MediaPipe Holistic) -> streaming uplift -> Skeletor refiner -> websockets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source (default: camera 0, else the demo)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="capture from camera N (exit code 2 if it cannot be opened)")
    src.add_argument("--video", type=Path, metavar="PATH", help="read a video file")
    src.add_argument("--demo", action="store_true", help="built-in animated person (no camera, no data file, no detector)")
    vid = p.add_argument_group("video options")
    vid.add_argument("--realtime", action="store_true", help="pace a video at its own fps (default: as fast as possible)")
    vid.add_argument("--loop", action="store_true", help="restart the video at its end")
    det = p.add_argument_group("detector")
    det.add_argument(
        "--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR,
        help="2D keypoint detector for --camera / --video: " + "; ".join(f"{k}: {v.summary}" for k, v in sorted(DETECTORS.items()))
        + f" (default {DEFAULT_DETECTOR})",
    )  # fmt: skip
    det.add_argument(
        "--detector-process", action="store_true",
        help="run the camera's or video's capture and detector in a child process: a detector that crashes (in native "
        "code) is restarted for a camera and reported for a video instead of taking skeletor-live down; ~1-2 s more at "
        "start, same live rate (BENCHMARKS.md)",
    )  # fmt: skip
    for spec in DETECTORS.values():
        if spec.add_options is not None:
            spec.add_options(p)
    add_cleanup_options(p.add_argument_group("cleanup"))
    add_sink_options(p)
    run = p.add_argument_group("run")
    run.add_argument("--frames", type=int, default=None, metavar="N", help="stop after N frames (default: run until Ctrl-C or the video ends)")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    run.add_argument("--no-status", action="store_true", help="no one-line status on stderr")
    return p


def _refiner_line(cleaner: object) -> str:
    """What the startup line says of the refiner: off, or the provider it runs on and its threads."""
    refiner = getattr(cleaner, "refiner", None)
    if refiner is None:
        return "off (uplift only)"
    providers = getattr(refiner, "providers", None) or ["?"]
    config = cleaner.config  # type: ignore[attr-defined]
    threads = getattr(config, "cleaner", config).runtime.threads  # a MultiPersonCleaner's PeopleConfig holds the cleaner's
    return f"on ({providers[0].removesuffix('ExecutionProvider')}, {threads or 'all'} thread(s))"


def source_config_from_args(args: argparse.Namespace) -> SourceConfig:
    """The :class:`SourceConfig` that ``skeletor-live``'s source, video and detector flags describe.

    Raises:
        ValueError: a bad value (a negative camera index or frame count, an unknown detector).
    """
    if args.demo:
        kind = "demo"
    elif args.video is not None:
        kind = "video"
    elif args.camera is not None:
        kind = "camera"
    else:
        kind = "auto"
    spec = DETECTORS.get(args.detector)
    options = spec.options_from_args(args) if spec is not None and spec.options_from_args is not None else {}
    return SourceConfig(
        kind=kind, camera=args.camera if args.camera is not None else 0, video=args.video, realtime=args.realtime,
        loop=args.loop, detector=args.detector, detector_options=options, max_frames=args.frames,
        detector_process=args.detector_process, images=bool(getattr(args, "preview", False)),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skeletor-live``; returns the exit code (2 = bad input, no such camera, an output that cannot be opened).

    SIGINT (Ctrl-C) and SIGTERM stop it cleanly from the moment the arguments are parsed:
    during startup it stops before streaming; while streaming, clients get close code 1001
    and the recording is finished; either way the exit code is 0.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second signal (`timeout` signals the process and its group): said once
            log.debug("%s again: already shutting down", signal.Signals(signum).name)
            return
        log.info("%s: shutting down", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if threading.current_thread() is threading.main_thread() else {}
    try:
        return _run(args, stop)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Build the stages, stream until ``stop`` is set or the source ends; the exit code."""
    from realtime.pipeline import LivePipeline, PipelineConfig
    from realtime.sinks import SinkError
    from realtime.sources import SourceError, open_source
    from skeletor.refiner.runtime import ProviderUnavailableError, RefinerWeightsError

    try:
        source_cfg = source_config_from_args(args)
        sinks = sinks_from_args(args)
        config = PipelineConfig(cleaner=cleaner_config(args), max_frames=args.frames)
        source, what = open_source(source_cfg)
    except (SourceError, ValueError, ImportError, OSError) as e:  # OSError includes a detector process's TimeoutError
        print(f"skeletor-live: {e}", file=sys.stderr)
        return 2
    people = int(getattr(source, "max_people", 1))
    try:
        from skeletor.cleaner.people import MultiPersonCleaner, PeopleConfig
        from skeletor.cleaner.stream import StreamingCleaner

        cleaner: StreamingCleaner | MultiPersonCleaner
        cleaner = MultiPersonCleaner(PeopleConfig(cleaner=config.cleaner)) if people > 1 else StreamingCleaner(config.cleaner)
    except (RefinerWeightsError, ProviderUnavailableError, ValueError, OSError) as e:
        source.close()
        print(f"skeletor-live: {e}", file=sys.stderr)
        return 2
    if stop.is_set():  # a signal during startup: nothing was served yet
        source.close()
        log.info("stopped before streaming")
        return 0

    pipeline = LivePipeline(source, config, sinks, cleaner=cleaner)
    try:
        pipeline.start()  # opens the sinks: binds the server, creates the recording
    except SinkError as e:
        pipeline.stop()
        print(f"skeletor-live: {e.__cause__ or e}", file=sys.stderr)
        return 2
    log.info("source: %s; refiner: %s; people: %d", what, _refiner_line(cleaner), people)
    line = pipeline.sinks.describe()
    if people > 1:
        line.append(f"people: up to {people} (clients get the oldest person unless they subscribe with \"people\": \"all\")")
    print("skeletor-live: " + "  ".join(line), file=sys.stderr, flush=True)
    try:
        last = 0.0
        while not stop.is_set() and pipeline.running:
            stop.wait(0.1)
            pipeline.sinks.pump()  # GUI sinks draw on the main thread
            now = time.monotonic()
            if not args.no_status and now - last >= 1.0:
                last = now
                print("\r" + _status_line(pipeline) + "   ", end="", file=sys.stderr, flush=True)
    finally:
        pipeline.stop()  # the sinks close after the last frame: clients get 1001, the recording is finished
        if not args.no_status:
            print(file=sys.stderr)
    if pipeline.error is not None:
        print(f"skeletor-live: stopped by an error: {pipeline.error}", file=sys.stderr)
        return 1
    log.info("done: %d frames, %d dropped by the source", pipeline.stats.frames, pipeline.stats.dropped)
    return 0


def _status_line(pipeline: LivePipeline) -> str:
    """``fps | latency | (the sinks' words, e.g. clients) | frames | dropped | sink errors``."""
    st, sinks = pipeline.stats, pipeline.sinks
    parts = [f"fps {st.fps():5.1f}", f"latency p50 {st.latency_p50_ms():6.1f} ms", *sinks.summary(), f"frames {st.frames}", f"dropped {st.dropped}"]
    if sinks.total_failures:
        parts.append(f"sink errors {sinks.total_failures}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
