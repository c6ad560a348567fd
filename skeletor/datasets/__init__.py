"""Loaders for the third-party data in ``../shared/data`` (see its SOURCES.md).

Each loader converts units once and maps joints onto ``holistic75`` where they
correspond; joints a source lacks are marked missing (confidence 0, NaN coordinates).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "DataNotFoundError"]


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


# The loaders import their heavy readers (h5py, pose-format, bvhio) lazily, so importing
# them here costs only numpy. They come after the definitions above, which they import.
from skeletor.datasets.motion import Motion  # noqa: E402
from skeletor.datasets.phoenix import load_phoenix  # noqa: E402
from skeletor.datasets.openpose import load_gopeith, load_how2sign  # noqa: E402
from skeletor.datasets.poseformat import PoseLayoutError, list_pose_files, load_pose_file  # noqa: E402
from skeletor.datasets.bvh import (  # noqa: E402
    bandai_split,
    list_bandai,
    load_bandai,
    load_manipnet,
    load_pymo_walk,
    read_bvh,
)

__all__ += [
    "Motion",
    "load_phoenix",
    "load_gopeith",
    "load_how2sign",
    "load_pose_file",
    "list_pose_files",
    "PoseLayoutError",
    "read_bvh",
    "load_bandai",
    "list_bandai",
    "bandai_split",
    "load_pymo_walk",
    "load_manipnet",
]
