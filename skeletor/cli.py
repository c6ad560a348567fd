"""``skeletor``: the library's subcommands (clean on keypoint files, train, export, evaluate, ...).

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module only collects them. ``realtime.commands`` adds the
subcommands that need I/O stacks (subscribe, bench, video input for clean).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["USER_COMMANDS", "DEVELOPER_COMMANDS", "LIBRARY_COMMANDS", "build_parser", "main"]

# Modules that provide library subcommands, in --help order: what users run first, then
# what developers of the model run (evaluate, dataset, train, export).
USER_COMMANDS: tuple[str, ...] = ("skeletor.cleaner.cli", "skeletor.rig.bvh")
DEVELOPER_COMMANDS: tuple[str, ...] = ("skeletor.eval.paper_tables", "skeletor.refiner.cli")
LIBRARY_COMMANDS: tuple[str, ...] = USER_COMMANDS + DEVELOPER_COMMANDS

EPILOG = """\
commands for users: clean, export-bvh, subscribe, relay (and the live tool, skeletor-live)
commands for developers of the model: evaluate, dataset, train, export, bench
run `skeletor COMMAND --help` for each one's options."""


def build_parser(modules: tuple[str, ...] = LIBRARY_COMMANDS) -> argparse.ArgumentParser:
    """The ``skeletor`` argument parser with one subcommand per module in ``modules``."""
    parser = argparse.ArgumentParser(
        prog="skeletor",
        description="Skeletor Live: clean 3D body poses from 2D keypoints (uplift + transformer refiner).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (DEBUG, INFO, WARNING, ERROR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None, modules: tuple[str, ...] = LIBRARY_COMMANDS) -> int:
    """Run ``skeletor`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args))
