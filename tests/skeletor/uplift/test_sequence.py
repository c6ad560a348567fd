"""The whole-sequence uplift against the streaming one, on mocap views with detector faults."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skeletor.eval import metrics
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.uplift.sequence import uplift_sequence
from skeletor.uplift.streaming import uplift_streaming
from uplift_helpers import BODY_BONES, nmpjpe_mm


def test_streaming_is_close_to_whole_sequence_and_keeps_bones(bandai_views) -> None:
    faults = DetectorFaults()
    stream, whole, cv_stream, cv_whole = [], [], [], []
    for i, v in enumerate(bandai_views):
        kp = detector_faults(v.keypoints.keypoints, HOLISTIC75, faults, np.random.default_rng(100 + i))
        seq = replace(v.keypoints, keypoints=kp)
        s = uplift_streaming(seq).poses3d
        w = uplift_sequence(seq).poses3d
        stream.append(nmpjpe_mm(s, v.truth))
        whole.append(nmpjpe_mm(w, v.truth))
        cv_stream.append(metrics.bone_length_cv(s, HOLISTIC75, bones=BODY_BONES))
        cv_whole.append(metrics.bone_length_cv(w, HOLISTIC75, bones=BODY_BONES))
    assert np.mean(stream) <= 1.3 * np.mean(whole), (stream, whole)
    assert np.mean(cv_stream) <= 0.05, cv_stream  # what is left is the online length estimate converging
    assert np.mean(cv_whole) <= 0.05
