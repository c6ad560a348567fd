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

__all__ = ["LIBRARY_COMMANDS", "build_parser", "main"]

# Modules that provide library subcommands, in --help order.
LIBRARY_COMMANDS: tuple[str, ...] = ("skeletor.clean", "skeletor.rig.bvh", "skeletor.paper_tables", "skeletor.refiner.cli")


def build_parser(modules: tuple[str, ...] = LIBRARY_COMMANDS) -> argparse.ArgumentParser:
    """The ``skeletor`` argument parser with one subcommand per module in ``modules``."""
    parser = argparse.ArgumentParser(
        prog="skeletor",
        description="Skeletor Live: clean 3D body poses from 2D keypoints (uplift + transformer refiner).",
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
