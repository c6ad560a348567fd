"""The demo source and the procedural person behind it."""

from __future__ import annotations

import time

import numpy as np

from realtime.sources import DemoConfig, DemoSource
from skeletor.pose.procedural import ProceduralPerson
from skeletor.pose.skeleton import HOLISTIC75


def test_procedural_person_has_constant_limb_bones_and_a_human_size() -> None:
    x = ProceduralPerson().sequence(150, 30.0)
    bones = HOLISTIC75.bones
    lengths = np.linalg.norm(x[:, bones[:, 1]] - x[:, bones[:, 0]], axis=-1)
    torso = {(11, 23), (12, 24)}  # the spine bends: shoulder-hip may change a little
    limb = [b for b, (p, c) in enumerate(bones) if (int(p), int(c)) not in torso]
    assert lengths[:, limb].std(0).max() < 1e-5
    assert lengths.std(0).max() < 2e-3
    height = x[:, :, 1].max(1) - x[:, :, 1].min(1)
    assert (1.4 < height).all() and (height < 1.9).all()
    assert np.ptp(x[:, 15], axis=0).max() > 0.1  # the hands move


def test_demo_source_is_deterministic_noisy_and_inside_the_image() -> None:
    a = DemoSource(DemoConfig(paced=False, seed=3))
    b = DemoSource(DemoConfig(paced=False, seed=3))
    da = [a.read(0.1) for _ in range(60)]
    db = [b.read(0.1) for _ in range(60)]
    np.testing.assert_array_equal(da[10].keypoints, db[10].keypoints)
    kp = np.stack([d.keypoints for d in da])
    ok = kp[..., 2] > 0
    assert 0.85 < ok.mean() < 0.999  # dropouts happen
    assert (kp[ok][:, 0] >= 0).all() and (kp[ok][:, 0] < 1280).all()
    truth = np.stack([a.truth(i) for i in range(60)])
    px = a._camera.project(truth)
    err = np.linalg.norm(kp[..., :2] - px, axis=-1)[ok]
    assert 0.5 < err.mean() < 5.0  # jitter of a couple of pixels


def test_demo_source_paces_at_its_fps() -> None:
    src = DemoSource(DemoConfig(fps=50.0))
    t0 = time.monotonic()
    n = 0
    while n < 25:
        if src.read(0.5) is not None:
            n += 1
    assert 0.4 < time.monotonic() - t0 < 0.9
