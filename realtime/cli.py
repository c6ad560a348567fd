"""``skeletor-live``: the live pipeline (lands with the live-pipeline issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skeletor-live``; not implemented yet."""
    print("skeletor-live: the live pipeline is not implemented yet (see issue #4).", file=sys.stderr)
    return 1
