"""The depth-sign filter: signs smoothed over a lookahead are no worse than causal ones (mocap views)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.streaming import uplift_streaming
from uplift_helpers import nmpjpe_mm


def test_lookahead_never_costs_much_accuracy(bandai_views) -> None:
    """Waiting for future frames must not make the uplift worse than the causal one.

    (Hard Viterbi back-tracking did: ~25 % worse N-MPJPE than causal soft signs. The
    smoothed soft signs stay within a few per cent; 2D alone rarely settles a depth sign
    within a few frames, so lookahead buys the uplift little: it is the refiner's to use.)
    """
    faults = DetectorFaults()
    causal, delayed = [], []
    for i, v in enumerate(bandai_views):
        seq = replace(v.keypoints, keypoints=detector_faults(v.keypoints.keypoints, HOLISTIC75, faults, np.random.default_rng(200 + i)))
        causal.append(nmpjpe_mm(uplift_streaming(seq).poses3d, v.truth))
        delayed.append(nmpjpe_mm(uplift_streaming(seq, UpliftConfig(lookahead=4)).poses3d, v.truth))
    assert np.mean(delayed) <= 1.05 * np.mean(causal), (delayed, causal)
