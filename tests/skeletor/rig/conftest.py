"""Real cleaned clips for the rig tests: MediaPipe Holistic ``.pose`` files through the cleaner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# Real signers with both hands and the face in view (and one upper body without a face),
# together about 500 frames: a few seconds of cleaning for the whole session.
CLIPS = (
    "viewer_sample_example.pose",
    "hand_estimation/0ff215ef4f1f111e217e2cefee0adc77.pose",
    "hand_estimation/84322c38ff23406f222641da30d0a49b.pose",
    "sgg_lexicon/essen.pose",
    "sgg_lexicon/kleine.pose",
    "mediapipe.pose",
)


@dataclass(frozen=True)
class CleanClip:
    """A cleaned clip: (T, 75, 3) camera-frame metres, (T, 75) confidences, fps."""

    name: str
    poses: np.ndarray
    confidence: np.ndarray
    fps: float


@pytest.fixture(scope="session")
def clean_clips(data_dir: Path) -> list[CleanClip]:
    """The ``CLIPS`` cleaned by the shipped cleaner (uplift + refiner), as ``skeletor clean`` does."""
    from skeletor.datasets.poseformat import load_pose_file
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence

    cleaner = StreamingCleaner(CleanerConfig())
    out = []
    for name in CLIPS:
        seq = load_pose_file(data_dir / "slp_pose_format" / name)
        cleaner.reset()
        res = clean_sequence(seq, cleaner)
        out.append(CleanClip(Path(name).name, res.poses3d, res.confidence, float(seq.fps)))
    return out
