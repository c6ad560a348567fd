"""Loaders for the third-party data in ``../shared/data`` (see its SOURCES.md).

Each loader converts units once and maps joints onto ``holistic75`` where they
correspond; joints a source lacks are marked missing (confidence 0, NaN coordinates).
"""

from __future__ import annotations

# The loaders import their heavy readers (h5py, pose-format, bvhio) lazily, so importing
# them here costs only numpy.
from skeletor.datasets._files import DataNotFoundError, data_root
from skeletor.datasets.motion import Motion
from skeletor.datasets.phoenix import load_phoenix
from skeletor.datasets.openpose import load_gopeith, load_how2sign
from skeletor.datasets.poseformat import PoseLayoutError, list_pose_files, load_pose_file
from skeletor.datasets.bvh import (
    bandai_split,
    list_bandai,
    load_bandai,
    load_manipnet,
    load_pymo_walk,
    read_bvh,
)

__all__ = [
    "data_root",
    "DataNotFoundError",
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
