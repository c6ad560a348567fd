"""Path helpers shared by the loaders: find a source folder or file, or say clearly what is missing."""

from __future__ import annotations

import os
from pathlib import Path

from skeletor.datasets import DataNotFoundError, data_root


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
