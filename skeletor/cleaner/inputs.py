"""What ``skeletor clean`` is asked to clean: files, folders, glob patterns and manifests, as a list of inputs.

One input is one clip: a file the cleaner has a reader for (keypoint ``.npz``, ``.pose``, a
video when the live extras are installed) or a folder of OpenPose JSON output (one
``*_keypoints.json`` per frame, as How2Sign ships it). :func:`expand_inputs` turns what the
user typed into that list:

- a file is itself (whatever its suffix: an unsupported one is reported when it is read);
- a folder that holds ``*_keypoints.json`` files is one OpenPose clip;
- any other folder is searched, sub-folders included, for files with a known suffix and
  for OpenPose clip folders (names starting with ``.`` are skipped);
- a name that does not exist but holds ``*``, ``?`` or ``[`` is a glob pattern (``**``
  crosses folders), each match expanded as above;
- any other name that does not exist is kept, so that it is reported as missing in its turn.

:func:`read_manifest` reads a manifest: one input (any of the above) a line, a line starting
with ``#`` is a comment, relative paths are relative to the manifest's folder. On a cluster every worker
must see the same paths (a shared file system).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skeletor.datasets.openpose import is_openpose_folder

__all__ = ["ExpandedInputs", "expand_inputs", "read_manifest"]

_GLOB_CHARS = frozenset("*?[")


@dataclass
class ExpandedInputs:
    """The inputs found, in order, and what could not be expanded.

    Attributes:
        paths: one path per input (file or OpenPose clip folder), each once, in the order given
            (a folder's or pattern's matches sorted by path).
        problems: one message per pattern or folder that yielded no input.
    """

    paths: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _search(folder: Path, suffixes: Collection[str]) -> list[Path]:
    """Inputs under ``folder``: files with a known suffix and OpenPose clip folders, sorted."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root)
        clips = [d for d in dirs if is_openpose_folder(here / d)]
        found += [here / d for d in clips]
        dirs[:] = [d for d in dirs if d not in clips]  # a clip folder is one input: not searched further
        found += [here / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in suffixes]
    return sorted(found)


def _expand_one(spec: Path, suffixes: Collection[str]) -> tuple[list[Path], str | None]:
    if spec.is_dir():
        if is_openpose_folder(spec):
            return [spec], None
        found = _search(spec, suffixes)
        return found, None if found else f"{spec}: no inputs in this folder (files ending in {', '.join(sorted(suffixes))}, or OpenPose JSON folders)"
    if spec.exists() or not _GLOB_CHARS & set(str(spec)):
        return [spec], None
    matches = [Path(m) for m in sorted(glob.glob(str(spec), recursive=True))]
    found = []
    for m in matches:
        found += [m] if m.is_file() else _expand_one(m, suffixes)[0]
    return found, None if found else f"{spec}: no input matches this pattern"


def expand_inputs(specs: Iterable[str | os.PathLike[str]], suffixes: Collection[str]) -> ExpandedInputs:
    """Expand files, folders and glob patterns into one path per input (see the module docstring).

    Args:
        specs: what the user named, in order.
        suffixes: the file suffixes the cleaner reads (lower case, with the dot: ``.npz``).

    Returns:
        The inputs, each once (the first mention wins), and the specs that yielded none.
    """
    out = ExpandedInputs()
    seen: set[Path] = set()
    for spec in specs:
        paths, problem = _expand_one(Path(spec), suffixes)
        if problem is not None:
            out.problems.append(problem)
        for p in paths:
            key = Path(os.path.abspath(p))
            if key not in seen:
                seen.add(key)
                out.paths.append(p)
    return out


def read_manifest(path: str | os.PathLike[str]) -> list[Path]:
    """The inputs a manifest lists: one a line; blank lines and lines starting with ``#`` are skipped.

    Args:
        path: the manifest (UTF-8 text).

    Returns:
        The lines as paths; relative ones are made relative to the manifest's folder (they may
        still be folders or glob patterns, for :func:`expand_inputs`).

    Raises:
        OSError: the manifest cannot be read.
        ValueError: it is not UTF-8 text.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: a manifest is UTF-8 text, one input a line ({e})") from None
    base = path.parent
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line).expanduser()
            out.append(p if p.is_absolute() else base / p)
    return out
