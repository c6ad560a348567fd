"""Sinks: where cleaned pose frames go (the pipeline's last stage).

``SINKS`` maps a name to a :class:`~realtime.sinks.base.SinkSpec`: the sink's own
``skeletor-live`` flags and how to build it from them (or nothing, when its flag is not
given). ``skeletor-live`` adds every entry's flags and runs every sink the flags ask for,
in this order. Adding an output is one new module here (a :class:`~realtime.sinks.base.BaseSink`
subclass and a ``SPEC``) plus one line below; see DEVELOPERS.md.
"""

from __future__ import annotations

import argparse

from realtime.sinks import preview, recording, redis, vmc, websocket
from realtime.sinks.base import BaseSink, FunctionSink, Sink, SinkContext, SinkError, SinkSet, SinkSpec

__all__ = [
    "SINKS",
    "BaseSink",
    "FunctionSink",
    "Sink",
    "SinkContext",
    "SinkError",
    "SinkSet",
    "SinkSpec",
    "add_sink_options",
    "sinks_from_args",
]

SINKS: dict[str, SinkSpec] = {
    "websocket": websocket.SPEC,
    "record": recording.SPEC,
    "preview": preview.SPEC,
    "vmc": vmc.SPEC,
    "redis": redis.SPEC,
}


def add_sink_options(parser: argparse.ArgumentParser) -> None:
    """Add every registered sink's flags to ``parser``."""
    for spec in SINKS.values():
        spec.add_options(parser)


def sinks_from_args(args: argparse.Namespace) -> list[Sink]:
    """The sinks the parsed flags ask for, in registry order (not opened yet).

    Raises:
        ValueError: a sink's flags have bad values.
    """
    return [s for s in (spec.from_args(args) for spec in SINKS.values()) if s is not None]
