"""Where the shared data lives (``data_root``) and path helpers shared by the loaders: find a
source folder or file, or say clearly what is missing."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DataNotFoundError", "data_root", "source_dir", "require_file"]


class DataNotFoundError(FileNotFoundError):
    """The shared data folder (or a file in it) is not where it was expected."""


def data_root() -> Path:
    """The folder holding the shared third-party data.

    ``$SKELETOR_DATA`` if set, else ``../shared/data`` beside the repository (found from
    this file, then from the working directory).

    Raises:
        DataNotFoundError: no such folder exists.
    """
    env = os.environ.get("SKELETOR_DATA")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parents[3] / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
        Path.cwd() / "shared" / "data",
    ]
    for c in candidates:
        if (c / "SOURCES.md").is_file():
            return c
    raise DataNotFoundError(
        "shared data not found; set SKELETOR_DATA or put it at ../shared/data (looked in: "
        + ", ".join(str(c) for c in candidates)
        + ")"
    )


def source_dir(root: str | os.PathLike[str] | None, sub: str) -> Path:
    """The folder of one source.

    Args:
        root: the source's own folder; ``None`` means ``data_root() / sub``.
        sub: the source's folder name under the data root (for the default and messages).

    Returns:
        The folder.

    Raises:
        DataNotFoundError: the folder does not exist.
    """
    d = Path(root) if root is not None else data_root() / sub
    if not d.is_dir():
        raise DataNotFoundError(f"{d}: expected the {sub!r} data folder (see shared/data/SOURCES.md)")
    return d


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file.

    Raises:
        DataNotFoundError: naming the path and what it should have held.
    """
    if not path.is_file():
        raise DataNotFoundError(f"{path}: expected {what}, but there is no such file")
    return path
