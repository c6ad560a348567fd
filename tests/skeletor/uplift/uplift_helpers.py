"""Helpers shared by the uplift tests: the body joints and N-MPJPE on them."""

from __future__ import annotations

import numpy as np

from skeletor.eval import metrics
from skeletor.pose.skeleton import HOLISTIC75, POSE_BODY_JOINTS

BODY = list(POSE_BODY_JOINTS)
BODY_BONES = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in BODY and c in BODY]


def nmpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    return 1000 * metrics.n_mpjpe(pred[:, BODY], gt[:, BODY], root=(7, 8))
