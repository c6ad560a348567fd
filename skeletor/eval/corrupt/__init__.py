"""Corruption of skeleton sequences: the Skeletor paper's masking and noise, and detector faults.

Two families, one module each: :mod:`~skeletor.eval.corrupt.paper` (the paper's BERT-style
masking and noise of clean 3D sequences, the refiner's training inputs) and
:mod:`~skeletor.eval.corrupt.detector` (a live detector's faults on 2D keypoints, and the
same faults on 3D). :mod:`~skeletor.eval.corrupt.common` holds the :class:`Corrupted`
result and the argument checks both use. Every function returns new arrays and takes its
randomness only from its ``rng`` argument.
"""

from skeletor.eval.corrupt.common import Corrupted
from skeletor.eval.corrupt.detector import (
    DetectorFaults,
    detector_faults,
    detector_faults_3d,
    drop_frame_bursts,
    drop_joints,
    hand_joints,
    jitter,
    lose_hand,
    outliers,
    swap_left_right,
)
from skeletor.eval.corrupt.paper import PaperCorruption, corrupt_paper, frame_noise, joint_noise, mask_frames, mask_joints

__all__ = [
    "Corrupted",
    # the paper's masking and noise (paper.py)
    "PaperCorruption", "corrupt_paper", "mask_frames", "mask_joints", "frame_noise", "joint_noise",
    # detector faults (detector.py)
    "DetectorFaults", "detector_faults", "detector_faults_3d", "jitter", "drop_frame_bursts", "drop_joints", "lose_hand",
    "outliers", "swap_left_right", "hand_joints",
]  # fmt: skip
