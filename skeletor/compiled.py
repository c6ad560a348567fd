"""Skeletor's compiled loops: numba, cached on disk, GIL released.

The streaming cleaner runs once per frame of a live stream on arrays of a few dozen
joints: there numpy's per-call overhead (about a microsecond a call, hundreds of calls a
frame) costs more than the arithmetic, so the per-frame hot paths (the uplift's sign
filter and priors, placement on viewing rays, bone-length quantiles and rigid bones; the
hands' chirality, the One Euro filter, the hands carried on the refined wrists) are plain
loops compiled by numba. :func:`njit` compiles with ``cache=True`` (the machine code is
kept beside the module, or in numba's user cache where that is read-only, so only the
first run on a machine compiles) and ``nogil=True`` (a frame's uplift does not hold the
interpreter while the detector's thread wants it). Building a
:class:`~skeletor.cleaner.stream.StreamingCleaner` compiles (or loads) every one its frames
use, once per process, before the first frame; code that runs the uplift alone (offline)
compiles at its first frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba import njit as _numba_njit

__all__ = ["njit"]

F = TypeVar("F", bound=Callable)


def njit(fn: F) -> F:
    """``fn`` compiled by numba in nopython mode, cached on disk, releasing the GIL."""
    return _numba_njit(cache=True, nogil=True)(fn)  # type: ignore[return-value]
