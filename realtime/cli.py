"""``skeletor-live``: webcam (or video, or the built-in demo) -> clean 3D skeleton -> websockets.

Run it with no arguments: it uses camera 0, or, when there is none, says so and serves
the built-in demo. Open the printed http:// address in a browser for the live viewer;
programs subscribe to ws://HOST:PORT/ws (docs/protocol.md, docs/clients.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from skeletor.clean import add_cleanup_options, cleaner_config

__all__ = ["build_parser", "main"]

log = logging.getLogger("skeletor-live")

EPILOG = """\
examples:
  skeletor-live                         camera 0, or the demo when there is no camera
  skeletor-live --camera 1 --preview    another camera, with an OpenCV preview window
  skeletor-live --video talk.mp4 --realtime --loop
  skeletor-live --demo --record demo.jsonl
  skeletor-live --host 0.0.0.0 --token SECRET      serve other machines (token required)

clients: open http://HOST:PORT/ in a browser, or `skeletor subscribe ws://HOST:PORT/ws`.
axes of the streamed joints: camera frame, x right, y down, z forward, metres.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``skeletor-live`` argument parser."""
    p = argparse.ArgumentParser(
        prog="skeletor-live",
        description="Real-time 3D body-pose cleanup: MediaPipe Holistic -> streaming uplift -> Skeletor refiner -> websockets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source (default: camera 0, else the demo)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="capture from camera N (exit code 2 if it cannot be opened)")
    src.add_argument("--video", type=Path, metavar="PATH", help="read a video file")
    src.add_argument("--demo", action="store_true", help="built-in animated person (no camera, no data file)")
    vid = p.add_argument_group("video options")
    vid.add_argument("--realtime", action="store_true", help="pace a video at its own fps (default: as fast as possible)")
    vid.add_argument("--loop", action="store_true", help="restart the video at its end")
    net = p.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    net.add_argument("--port", type=int, default=8765, help="TCP port for http:// (viewer) and ws:// (stream); default 8765")
    net.add_argument("--token", default=os.environ.get("SKELETOR_TOKEN"), help="shared secret clients must send (default: $SKELETOR_TOKEN); needed for --host 0.0.0.0")
    net.add_argument("--allowed-origin", action="append", default=None, metavar="ORIGIN", help="browser origin allowed besides local pages (repeatable; '*' = any)")
    net.add_argument("--max-clients", type=int, default=500, help="most simultaneous clients (default 500)")
    clean = p.add_argument_group("cleanup")
    clean.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1, help="MediaPipe model: 0 fast, 1 default, 2 accurate")
    add_cleanup_options(clean)
    out = p.add_argument_group("output")
    out.add_argument("--preview", action="store_true", help="OpenCV window: the image with 2D keypoints and the cleaned 3D skeleton")
    out.add_argument("--record", type=Path, metavar="PATH", help="record the stream to PATH (.jsonl or .npz), flushed on exit")
    out.add_argument("--frames", type=int, default=None, metavar="N", help="stop after N frames (default: run until Ctrl-C or the video ends)")
    out.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    out.add_argument("--no-status", action="store_true", help="no one-line status on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skeletor-live``; returns the exit code (2 = bad input or no such camera)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from realtime.pipeline import LivePipeline, PipelineConfig
    from realtime.server import ServerConfig, ServerThread, security_warnings
    from realtime.sources import SourceError, open_source
    from skeletor.runtime import RefinerWeightsError

    try:
        server_cfg = ServerConfig(
            host=args.host, port=args.port, token=args.token or None,
            allowed_origins=tuple(args.allowed_origin) if args.allowed_origin else None, max_clients=args.max_clients,
        )  # fmt: skip
    except ValueError as e:
        print(f"skeletor-live: {e}", file=sys.stderr)
        return 2
    for warning in security_warnings(server_cfg):
        log.warning("%s", warning)
    try:
        source, what = open_source(args)
        config = PipelineConfig(cleaner=cleaner_config(args), max_frames=args.frames)
        from skeletor.stream import StreamingCleaner

        cleaner = StreamingCleaner(config.cleaner)
    except (SourceError, RefinerWeightsError, ValueError, OSError) as e:
        print(f"skeletor-live: {e}", file=sys.stderr)
        return 2

    recorder = None
    if args.record is not None:
        from skeletor.recording import Recorder

        try:
            recorder = Recorder.open(args.record, fps=source.fps or 30.0)
        except (ValueError, OSError) as e:
            source.close()
            print(f"skeletor-live: --record {args.record}: {e}", file=sys.stderr)
            return 2
    server = ServerThread(server_cfg, fps=source.fps)
    try:
        server.start()
    except OSError as e:
        source.close()
        print(f"skeletor-live: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    sinks = [server.publish]
    if recorder is not None:
        sinks.append(recorder.write)
    preview = None
    if args.preview:
        from realtime.sinks.preview import Preview

        preview = Preview()
        sinks.append(preview.show_pose)
    pipeline = LivePipeline(source, config, sinks, lambda ev, text: server.publish_status(ev, text), cleaner)
    log.info("source: %s; refiner: %s", what, "on" if config.cleaner.refine else "off (uplift only)")
    print(f"skeletor-live: viewer {server.http_url}  stream {server.url}", file=sys.stderr, flush=True)

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if threading.current_thread() is threading.main_thread() else {}
    pipeline.start()
    try:
        last = 0.0
        while not stop.is_set() and pipeline.running:
            stop.wait(0.1)
            if preview is not None:
                preview.pump()
            now = time.monotonic()
            if not args.no_status and now - last >= 1.0:
                last = now
                st = pipeline.stats
                print(
                    f"\rfps {st.fps():5.1f} | latency p50 {st.latency_p50_ms():6.1f} ms | clients {server.server.num_clients:3d}"
                    f" | frames {st.frames} | dropped {st.dropped}   ",
                    end="", file=sys.stderr, flush=True,
                )  # fmt: skip
    finally:
        pipeline.stop()
        server.stop()  # clients get close code 1001 (going away)
        if recorder is not None:
            recorder.close()
        if preview is not None:
            preview.close()
        for s, h in old.items():
            signal.signal(s, h)
        if not args.no_status:
            print(file=sys.stderr)
    if pipeline.error is not None:
        print(f"skeletor-live: stopped by an error: {pipeline.error}", file=sys.stderr)
        return 1
    log.info("done: %d frames, %d dropped by the source", pipeline.stats.frames, pipeline.stats.dropped)
    return 0
