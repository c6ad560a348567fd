"""Shared fixtures of the client tests: a real clip's frames with their humanoid rig."""

from __future__ import annotations

from pathlib import Path

import pytest

from skeletor.protocol import PoseFrame


@pytest.fixture(scope="session")
def rigged_frames(data_dir: Path) -> list[PoseFrame]:
    """pose-format's real MediaPipe Holistic clip (170 frames), cleaned and rigged as skeletor-live
    does at 30 frames/s (:class:`realtime.rig.LiveRig`); the first frames, while the rig calibrates, have none."""
    from realtime.rig import LiveRig
    from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence
    from skeletor.datasets.poseformat import load_pose_file

    out = clean_sequence(load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose"), StreamingCleaner(CleanerConfig()))
    rig = LiveRig(lambda: True)
    return [rig.attach(PoseFrame(i, round(i * 1e9 / 30), out.poses3d[i], out.confidence[i])) for i in range(len(out.poses3d))]
