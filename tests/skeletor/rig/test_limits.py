"""Anatomical twist limits: swing kept, twist clipped and shared, continuous; real clips stay in range."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from skeletor.rig import BONES, bone_index
from skeletor.rig.clip import solve_clip
from skeletor.rig.limits import TWIST_LIMITS, TwistLimiter, twist_angles, twist_axis
from skeletor.rig.quaternion import quat_angle

IDENT = np.tile([0.0, 0.0, 0.0, 1.0], (len(BONES), 1))
USED = np.ones(len(BONES), dtype=bool)


def _frame(**rots: Rotation) -> np.ndarray:
    q = IDENT.copy()
    for name, r in rots.items():
        q[bone_index(name)] = r.as_quat()
    return q


def test_every_limited_bone_is_in_one_group_with_a_reason() -> None:
    names = [n for lim in TWIST_LIMITS for n in lim.bones]
    assert len(names) == len(set(names))
    assert {"Neck", "Head", "LeftLowerArm", "RightHand", "LeftFoot", "RightLittleDistal"} <= set(names)
    assert all(len(lim.why) > 20 and 0.0 < lim.share <= 1.0 for lim in TWIST_LIMITS)


def test_a_clipped_twist_keeps_the_swing_so_an_on_axis_child_does_not_move() -> None:
    """A foot twisted 120 degrees about its long axis after a 50-degree swing: the toe stays, the twist clips to 35."""
    a = twist_axis("LeftFoot")
    across = np.cross(a, [1.0, 0.0, 0.0])
    r = Rotation.from_rotvec(np.radians(50.0) * across / np.linalg.norm(across)) * Rotation.from_rotvec(np.radians(120.0) * a)
    out = TwistLimiter().apply(_frame(LeftFoot=r), USED)
    q = out[bone_index("LeftFoot")]
    np.testing.assert_allclose(np.degrees(twist_angles(q, a)), 35.0, atol=1e-6)
    np.testing.assert_allclose(Rotation.from_quat(q).apply(a), r.apply(a), atol=1e-9)  # the toe's direction


def test_a_pair_shares_its_twist_and_keeps_the_second_bones_world_rotation() -> None:
    """Forearm roll all on the LowerArm (as solved from the knuckles): half goes to the Hand, the hand's world stays."""
    a = twist_axis("LeftLowerArm")
    fore = Rotation.from_rotvec(np.radians(30.0) * np.array([0.0, 0.0, 1.0])) * Rotation.from_rotvec(np.radians(140.0) * a)
    hand = Rotation.from_rotvec(np.radians(40.0) * np.array([0.0, 1.0, 0.0]))  # the wrist bent, no twist
    out = TwistLimiter().apply(_frame(LeftLowerArm=fore, LeftHand=hand), USED)
    qf, qh = out[bone_index("LeftLowerArm")], out[bone_index("LeftHand")]
    np.testing.assert_allclose(np.degrees(twist_angles(qf, a)), 70.0, atol=1e-6)
    np.testing.assert_allclose(np.degrees(twist_angles(qh, a)), 70.0, atol=1e-6)
    world = (Rotation.from_quat(qf) * Rotation.from_quat(qh)).as_quat()
    assert np.degrees(quat_angle(world, (fore * hand).as_quat())) < 1e-6  # the palm where the knuckles put it
    np.testing.assert_allclose(Rotation.from_quat(qf).apply(a), fore.apply(a), atol=1e-9)  # the wrist stays


def test_a_head_turning_past_its_range_holds_at_the_limit_without_jumping() -> None:
    """The head's total turn sweeps 0 -> 250 degrees (an ear line turning past half a turn): Neck + Head stop at 80.

    Past 260 (half a turn from the held 80) the reading is nearer the other limit and jumps
    there; the solver's flip guard eases that (``test_solver``'s flip tests)."""
    lim = TwistLimiter()
    y = np.array([0.0, 1.0, 0.0])
    totals, prev, steps = [], None, []
    for deg in np.linspace(0.0, 250.0, 101):
        out = lim.apply(_frame(Neck=Rotation.from_rotvec(np.radians(deg) * y)), USED)
        qn, qh = out[bone_index("Neck")], out[bone_index("Head")]
        totals.append(np.degrees(twist_angles(qn, y) + twist_angles(qh, y)))
        if prev is not None:
            steps.append(np.degrees(quat_angle(qh, prev)))
        prev = qh
    totals = np.array(totals)
    assert np.abs(totals).max() <= 80.0 + 1e-6 and totals[-1] > 80.0 - 1e-6  # held on the side it reached
    assert max(steps) < 3.0  # 2.5 degrees of input a step: never more in the output


def test_real_clips_keep_every_twist_within_its_limit(clean_clips: list) -> None:
    """Streamed on real signers, no bone's local twist leaves its range (a finger's solved twist reached 180)."""
    lim = TwistLimiter()
    for c in clean_clips:
        clip = solve_clip(c.poses, c.confidence, c.fps, calibration="stream")
        q = clip.rotations.astype(np.float64)
        for b in lim.limited:
            tw = np.degrees(np.abs(twist_angles(q[:, b], lim.bone_axis[b]))).max()
            assert tw <= np.degrees(lim.bone_range[b]) + 0.01, (c.name, BONES[b], tw)


def test_a_phalanx_passes_its_excess_twist_on_so_the_finger_keeps_its_shape() -> None:
    """A proximal phalanx twisted 60 degrees over a bent finger: clipped to 15, the rest on down the chain."""
    a = twist_axis("LeftIndexProximal")
    bend = np.cross(a, [0.0, 1.0, 0.0])
    prox = Rotation.from_rotvec(np.radians(60.0) * a)
    inter = Rotation.from_rotvec(np.radians(70.0) * bend / np.linalg.norm(bend))  # the PIP bent, no twist
    out = TwistLimiter().apply(_frame(LeftIndexProximal=prox, LeftIndexIntermediate=inter), USED)
    qp, qi, qd = (out[bone_index(f"LeftIndex{p}")] for p in ("Proximal", "Intermediate", "Distal"))
    for q in (qp, qi, qd):
        assert abs(np.degrees(twist_angles(q, a))) <= 15.0 + 1e-6
    # 45 + 30 degrees went down the chain (the Distal drops the last 15: its tip is on its axis),
    # so the bent middle phalanx still points where it did: the finger keeps its joints.
    world_i = Rotation.from_quat(qp) * Rotation.from_quat(qi)
    np.testing.assert_allclose(world_i.apply(a), (prox * inter).apply(a), atol=1e-9)
