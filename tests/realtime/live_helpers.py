"""Start a real ``skeletor-live`` process for end-to-end tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time


def start_live(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> tuple[subprocess.Popen, str, str]:
    """Start skeletor-live on a free port with ``args``.

    Returns:
        The process, its ws:// URL and the startup line that named it.

    Raises:
        AssertionError: it did not print its stream address within ``timeout_s`` (its stderr is in the message).
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from realtime.cli import main; sys.exit(main())", "--port", "0", "--no-status", *args],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip
    deadline = time.time() + timeout_s
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        m = re.search(r"stream (ws://\S+)", line)
        if m:
            return proc, m.group(1), line
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("skeletor-live did not start:\n" + "".join(lines))
