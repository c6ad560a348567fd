"""The streaming uplift on real mocap (Bandai-Namco) seen by a virtual camera, and on real MediaPipe output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skeletor.eval import metrics
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.datasets.bvh import bandai_split, list_bandai
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.sequence import flat_uplift, uplift_sequence
from skeletor.uplift.streaming import StreamingUplifter, uplift_streaming
from skeletor.uplift.tree import UpliftTree
from skeletor.eval.views import detector_depth_hint
from uplift_helpers import nmpjpe_mm


def test_true_bone_lengths_and_depth_cue_recover_3d_closely(bandai_views) -> None:
    """mocap -> 2D -> uplift: with the rig's true bone lengths and the detector's depth cue
    (noise-free here) the 3D comes back within a few centimetres; flat 2D is far off."""
    tree = UpliftTree()
    errs, flat = [], []
    for v in bandai_views:
        hint = detector_depth_hint(v.truth, v.keypoints.keypoints[..., 2] > 0, 1000.0, np.random.default_rng(0), 0.0, 0.0)
        up = StreamingUplifter(UpliftConfig(focal_px=1000.0), bone_lengths=tree.bone_lengths_of(v.truth))
        seq = replace(v.keypoints, depth=hint)
        pred = np.stack([up.push(seq.keypoints[i], None, seq.depth[i], seq.image_size).pose for i in range(len(seq))])
        errs.append(nmpjpe_mm(pred, v.truth))
        flat.append(nmpjpe_mm(flat_uplift(v.keypoints).poses3d, v.truth))
    assert np.mean(errs) < 45.0, errs
    assert np.mean(errs) < 0.5 * np.mean(flat), (errs, flat)


def test_streaming_beats_flat_by_a_fifth_on_the_public_benchmark(data_dir: Path) -> None:
    """Issue 2's bound on the public benchmark's own cases (every test-split clip, its
    seeded views and detector faults, no depth hint): streaming N-MPJPE <= 0.8x flat."""
    from benchmarks.accuracy import make_cases, score

    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    cases = make_cases(test, seed=0)
    stream = np.mean([score(uplift_streaming(c.keypoints).poses3d, c.truth)["n_mpjpe_mm"] for c in cases])
    flat = np.mean([score(flat_uplift(c.keypoints).poses3d, c.truth)["n_mpjpe_mm"] for c in cases])
    assert stream <= 0.8 * flat, (stream, flat)


def test_no_nan_out_for_any_corruption(bandai_views, data_dir: Path) -> None:
    """Every joint the input ever saw is finite in every output frame, whatever the faults."""
    rng = np.random.default_rng(7)
    harsh = DetectorFaults(jitter_px=6.0, drop_frames=0.4, drop_burst=8.0, drop_joints=0.3, outliers=0.05,
                           outlier_max_px=300.0, lose_hand=0.3, swaps=0.05)  # fmt: skip
    seqs = [v.keypoints for v in bandai_views[:2]]
    seqs += [load_pose_file(p) for p in list_pose_files(data_dir / "slp_pose_format")[:3]]
    for seq in seqs:
        kp = detector_faults(seq.keypoints, HOLISTIC75, harsh, rng)
        kp[:5] = np.nan  # the first frames are all dropped
        kp[:5, :, 2] = 0.0
        seq2 = replace(seq, keypoints=kp)
        seen = (kp[..., 2] > 0).any(0)
        for fn in (uplift_streaming, uplift_sequence):
            out = fn(seq2)
            assert np.isfinite(out.poses3d[:, seen]).all(), (seq.name, fn.__name__)
            assert np.isnan(out.poses3d[:, ~seen]).all()


def test_real_mediapipe_output_gives_stable_bones(data_dir: Path) -> None:
    """Real MediaPipe Holistic detections (.pose files) -> 3D with near-constant arm bones.

    Measured 1-5.5 % per file (what varies is the online length estimate, still
    converging during these short clips; 2-9 % before soft signs kept bones rigid).
    """
    files = [p for p in list_pose_files(data_dir / "slp_pose_format") if "hand_estimation" not in str(p)][:2]
    arm = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if (p, c) in {(11, 13), (13, 15), (12, 14), (14, 16)}]
    for p in files:
        seq = load_pose_file(p)
        out = uplift_streaming(seq)
        ok = (seq.confidence[:, [11, 12, 13, 14, 15, 16]] > 0.5).all(1)
        cv = metrics.bone_length_cv(out.poses3d[ok], HOLISTIC75, bones=arm)
        assert cv < 0.065, (p.name, cv)


def test_streaming_contract(bandai_views) -> None:
    v = bandai_views[0]
    up = StreamingUplifter(UpliftConfig(lookahead=3))
    outs = [up.push(v.keypoints.keypoints[i], float(i)) for i in range(10)]
    assert outs[:3] == [None, None, None]
    assert [o.index for o in outs[3:]] == list(range(7))
    rest = up.flush()
    assert [o.index for o in rest] == [7, 8, 9]
    with pytest.raises(ValueError, match=r"\(75, 3\)"):
        up.push(np.zeros((33, 3)))
    up.reset()
    assert up.push(v.keypoints.keypoints[0]) is None  # lookahead refills after a reset


def test_uplift_frames_say_which_joints_were_detected_in_them(bandai_views) -> None:
    """``observed``: detected now (confident, not an outlier) -> on the detection's ray;
    a dropped frame or a joint below the confidence floor is carried, not observed."""
    kp = bandai_views[0].keypoints.keypoints[:20].copy()
    kp[5] = 0.0  # a dropped frame
    kp[8, 13, 2] = 0.1  # left elbow below min_confidence
    up = StreamingUplifter(UpliftConfig())
    frames = [up.push(k, image_size=bandai_views[0].keypoints.image_size) for k in kp]
    assert not frames[5].observed.any() and frames[5].confidence[11] > 0  # carried, still confident
    assert not frames[8].observed[13] and frames[8].observed[11]
    np.testing.assert_array_equal(frames[3].observed, kp[3, :, 2] >= UpliftConfig().min_confidence)


def _off_centre(kp: np.ndarray, empty_first: int = 0, no_left_shoulder: bool = False) -> np.ndarray:
    """(T + empty_first, 75, 3) ``kp`` moved 250 px right of the image centre, after
    ``empty_first`` frames with nobody detected, the left shoulder missing in the first detection."""
    kp = kp.copy()
    kp[..., 0] += 250.0
    if no_left_shoulder:
        kp[0, 11] = (np.nan, np.nan, 0.0)
    empty = np.zeros((empty_first, *kp.shape[1:]), kp.dtype)
    empty[..., :2] = np.nan
    return np.concatenate([empty, kp])


@pytest.mark.parametrize(
    ("empty_first", "no_left_shoulder"),
    [(7, False), (0, True), (7, True)],
    ids=["empty frames first", "first frame without a shoulder", "both"],
)
def test_off_centre_start_up_costs_nothing_later(bandai_views, empty_first: int, no_left_shoulder: bool) -> None:
    """Someone off the image centre, arriving in an empty room or stepping in from the edge
    with one shoulder in view, is uplifted as well as when seen whole from the first frame.

    Empty frames used to leave the joints at the image centre, so the first detections
    looked like jumps and were dropped as outliers; a first frame without a shoulder put the
    root at the image centre, whose bones, clipped to length, made the next frame's
    detections look like jumps. Either way the joints stayed carried for the whole clip.
    Measured mean N-MPJPE on these 4 views: normal start 81.4 mm; empty frames first 184.2
    before, 81.4 now (bit-identical to the normal start); no left shoulder 205.9 -> 83.1;
    both 199.8 -> 83.1 (the neck falling back to the mean of the joints, but only when no
    frame came before, gave 85.4 and 205.9). 1.05x the normal start leaves room for the
    frame without a shoulder, and is far below 2.2x, the old failure.
    """
    base, late = [], []
    for v in bandai_views:
        normal = _off_centre(v.keypoints.keypoints)
        started = _off_centre(v.keypoints.keypoints, empty_first, no_left_shoulder)
        base.append(nmpjpe_mm(uplift_streaming(replace(v.keypoints, keypoints=normal)).poses3d, v.truth))
        late.append(nmpjpe_mm(uplift_streaming(replace(v.keypoints, keypoints=started)).poses3d[empty_first:], v.truth))
    assert np.mean(late) <= 1.05 * np.mean(base), (late, base)
