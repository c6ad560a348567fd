"""``skeletor``: the library's subcommands plus those that need I/O stacks.

``skeletor clean`` also reads videos here (MediaPipe detection, then the same streaming
cleaner); ``subscribe``, ``relay`` and ``bench`` are added as their modules land.
"""

from __future__ import annotations

import importlib.util

from skeletor import cli as library_cli

__all__ = ["COMMANDS", "main"]

# Subcommand modules that live outside the pure library (added only if present).
_REALTIME_USER_COMMANDS: tuple[str, ...] = ("realtime.client", "realtime.relay")
_REALTIME_DEVELOPER_COMMANDS: tuple[str, ...] = ("benchmarks.cli",)
_REALTIME_COMMANDS: tuple[str, ...] = _REALTIME_USER_COMMANDS + _REALTIME_DEVELOPER_COMMANDS


def _available(modules: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for m in modules if importlib.util.find_spec(m) is not None)


COMMANDS: tuple[str, ...] = library_cli.LIBRARY_COMMANDS


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skeletor`` command; returns the exit code."""
    _register_video_readers()
    modules = (library_cli.USER_COMMANDS + _available(_REALTIME_USER_COMMANDS)
               + library_cli.DEVELOPER_COMMANDS + _available(_REALTIME_DEVELOPER_COMMANDS))  # fmt: skip
    return library_cli.main(argv, modules)


def _register_video_readers() -> None:
    """Let ``skeletor clean`` take video files (MediaPipe Holistic, the default detector; with ``--people N``, the multi-person one)."""
    try:
        from realtime.detectors.video import VIDEO_SUFFIXES, read_video_keypoints, read_video_people
    except ImportError:
        return
    from skeletor.cleaner import cli as clean

    for suffix in VIDEO_SUFFIXES:
        clean.READERS.setdefault(suffix, read_video_keypoints)
        clean.PEOPLE_READERS.setdefault(suffix, read_video_people)


if __name__ == "__main__":
    raise SystemExit(main())
