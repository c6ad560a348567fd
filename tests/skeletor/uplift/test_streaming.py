"""The uplift on real mocap (Bandai-Namco) seen by a virtual camera, and on real MediaPipe output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skeletor.eval import metrics
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.pose.skeleton import HOLISTIC75, POSE_BODY_JOINTS
from skeletor.uplift import StreamingUplifter, UpliftConfig, UpliftTree, flat_uplift, uplift_sequence, uplift_streaming
from skeletor.eval.views import ViewConfig, detector_depth_hint, random_view

BODY = list(POSE_BODY_JOINTS)
BODY_BONES = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in BODY and c in BODY]


def nmpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    return 1000 * metrics.n_mpjpe(pred[:, BODY], gt[:, BODY], root=(7, 8))


@pytest.fixture(scope="module")
def bandai_views(data_dir: Path):
    """Four test-split clips, each seen by a seeded random camera (clean 2D, 3D truth)."""
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    picks = [p for p in test if any(k in p.name for k in ("bow", "walk_", "punch", "bye_"))][:4]
    out = []
    for i, p in enumerate(picks):
        m = load_bandai(p)
        out.append(random_view(m.positions, m.fps, ViewConfig(), np.random.default_rng(i), name=p.stem))
    return out


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


def test_streaming_beats_flat_by_a_fifth_on_the_public_benchmark(data_dir: Path) -> None:
    """Issue 2's bound on the public benchmark's own cases (every test-split clip, its
    seeded views and detector faults, no depth hint): streaming N-MPJPE <= 0.8x flat."""
    from benchmarks.accuracy import make_cases, score

    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    cases = make_cases(test, seed=0)
    stream = np.mean([score(uplift_streaming(c.keypoints).poses3d, c.truth)["n_mpjpe_mm"] for c in cases])
    flat = np.mean([score(flat_uplift(c.keypoints).poses3d, c.truth)["n_mpjpe_mm"] for c in cases])
    assert stream <= 0.8 * flat, (stream, flat)


def test_uncertain_bone_lies_at_its_parents_depth(bandai_views) -> None:
    """A bone whose depth sign is undecided is put at its parent's depth, not across its
    child's viewing ray: the shanks of a person standing and bowing (mocap), ~1.2 m below
    the camera, stay upright in depth (the old placement tilted them ~12 deg towards the
    camera; the truth leans ~12 deg away, the knees slightly bent)."""
    view = bandai_views[0]  # dataset-1_bow_active_001
    pred = uplift_streaming(view.keypoints, UpliftConfig(sign_temperature=1e6)).poses3d  # every sign posterior flat: soft sign 0
    knee, ankle = HOLISTIC75.index("left_knee"), HOLISTIC75.index("left_ankle")
    tilt = lambda v: float(np.median(np.degrees(np.arctan2(v[:, 2], v[:, 1]))))  # noqa: E731 (z over y: < 0 towards the camera)
    shank, shank_true = tilt(pred[:, ankle] - pred[:, knee]), tilt(view.truth[:, ankle] - view.truth[:, knee])
    assert abs(shank) < 2.0, shank
    assert abs(shank - shank_true) < 15.0, (shank, shank_true)


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


def test_streaming_frame_cost(bandai_views, data_dir: Path) -> None:
    """Median cost of one new frame: body only (mocap) and body + both hands (real MediaPipe)."""
    import time

    body = bandai_views[1].keypoints
    with_hands = [s for s in map(load_pose_file, list_pose_files(data_dir / "slp_pose_format")) if (s.confidence[:, 33:] > 0).mean() > 0.5]
    hands = max(with_hands, key=len)
    for seq in (body, hands):
        up = StreamingUplifter()
        for i in range(20):
            up.push(seq.keypoints[i], None, None, seq.image_size)
        ms = []
        for i in range(20, min(len(seq), 200)):
            t0 = time.perf_counter()
            up.push(seq.keypoints[i], None, None, seq.image_size)
            ms.append(1000 * (time.perf_counter() - t0))
        # ~0.8 ms for both on a quiet 2-core machine (`skeletor bench throughput` prints it;
        # the issue asks <= 1 ms); the bound leaves room for a busy CI machine.
        assert np.median(ms) < 1.5, (seq.name, np.median(ms))


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


def test_a_limb_bone_never_seen_straight_keeps_a_plausible_length(bandai_views) -> None:
    """A shank foreshortened in every frame (here: its 2D drawn 40 % short, as for a runner
    whose knee never straightens) is estimated at >= 0.95 of the thigh (the default bound), not at its 2D length."""
    v = bandai_views[0]
    kp = v.keypoints.keypoints.copy()
    for knee, ankle in ((25, 27), (26, 28)):
        kp[:, ankle, :2] = kp[:, knee, :2] + 0.6 * (kp[:, ankle, :2] - kp[:, knee, :2])
    tree = UpliftTree()
    shank, thigh = tree.shared_id("left_ankle"), tree.shared_id("left_knee")
    ratios = {}
    default = UpliftConfig().limb_ratio_floor
    assert default[0] == 0.95
    for floor in (default, (0.0, 0.0)):
        up = StreamingUplifter(UpliftConfig(limb_ratio_floor=floor))
        for i in range(len(kp)):
            up.push(kp[i], None, None, v.keypoints.image_size)
        lengths = up.bone_lengths
        ratios[floor] = lengths[tree.share == shank][0] / lengths[tree.share == thigh][0]
    assert ratios[default] >= 0.95 - 1e-9, ratios
    assert ratios[(0.0, 0.0)] < 0.75, ratios  # without the bound: the foreshortened 2D length


def test_nanquantile_rows_matches_numpy(rng: np.random.Generator) -> None:
    from skeletor.uplift import nanquantile_rows

    a = rng.normal(size=(40, 300))
    a[rng.random(a.shape) < 0.4] = np.nan
    a[3] = np.nan  # a row with no value
    a[5, 1:] = np.nan  # a row with one value
    for q in (0.0, 0.5, 0.85, 1.0):
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanquantile(a, q, axis=1)
        np.testing.assert_allclose(nanquantile_rows(a, q), want, rtol=1e-12, equal_nan=True)


def test_rescale_bones_gives_another_body_making_the_same_motion(data_dir: Path) -> None:
    """Real mocap with its bones rescaled: each bone's length changes by exactly its factor
    (twins alike), its direction and the mid-shoulder stay, missing joints stay missing."""
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    pos = load_bandai(test[0]).positions[:60]
    tree = UpliftTree()
    f = np.random.default_rng(3).uniform(0.8, 1.6, tree.num_shared)
    out = tree.rescale_bones(pos, f)
    before, after = tree.bone_lengths_of(pos), tree.bone_lengths_of(out)
    seen = np.isfinite(before)
    assert seen.sum() >= 14
    np.testing.assert_allclose(after[seen], before[seen] * f[tree.share][seen], rtol=1e-4)
    assert not np.isfinite(after[~seen]).any()
    ext = lambda p: np.concatenate([p, 0.5 * (p[:, 11:12] + p[:, 12:13])], axis=1)  # noqa: E731 (with the neck)
    v0 = ext(pos)[:, tree.children] - ext(pos)[:, tree.bone_parent]
    v1 = ext(out)[:, tree.children] - ext(out)[:, tree.bone_parent]
    cos = (v0 * v1).sum(-1)[:, seen] / (np.linalg.norm(v0, axis=-1) * np.linalg.norm(v1, axis=-1))[:, seen]
    assert cos.min() > 1 - 1e-5
    np.testing.assert_allclose(ext(out)[:, -1], ext(pos)[:, -1], atol=1e-5)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(pos))
    with pytest.raises(ValueError, match="positive factors"):
        tree.rescale_bones(pos, -f)


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


def _impose_by_walking(tree: UpliftTree, pose: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The definition of ``impose_lengths``: from the root outwards, each joint moves along
    its bone to the bone's length; a bone without a direction (a NaN end, zero length) or
    below a NaN joint leaves its child where it was."""
    p = np.concatenate([pose, 0.5 * (pose[11:12] + pose[12:13])]).astype(np.float64)  # (76, 3) with the neck
    out = p.copy()
    for b in np.argsort(tree.depth[tree.children], kind="stable"):
        ch, pa = tree.children[b], tree.bone_parent[b]
        v = p[ch] - p[pa]
        n = np.linalg.norm(v)
        if np.isfinite(n) and n > 1e-9 and np.isfinite(out[pa]).all():
            out[ch] = out[pa] + v / n * lengths[b]
    return out[:75].astype(np.float32)


def test_impose_lengths_is_the_walk_from_the_root_on_real_poses_with_holes(data_dir: Path) -> None:
    """Real uplifted poses (hands included) with random joints, shoulders and a whole hand
    missing: every bone at the given length, every hole where it was, the same as the walk."""
    tree = UpliftTree()
    seq = load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")
    poses = uplift_streaming(seq).poses3d
    rng = np.random.default_rng(3)
    lengths = tree.prior * rng.uniform(0.8, 1.2, size=tree.prior.shape)
    for k, pose in enumerate(poses[::10]):
        pose = pose.copy()
        pose[rng.random(75) < 0.1] = np.nan
        if k % 3 == 0:
            pose[11 + k % 2] = np.nan  # a shoulder: the neck (the root) is missing too
        if k % 4 == 0:
            pose[33:54] = np.nan
        got = tree.impose_lengths(pose, lengths)
        np.testing.assert_allclose(got, _impose_by_walking(tree, pose, lengths), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(pose))
    # every bone with a direction gets its length (the neck's bones aside: the neck is
    # recomputed from the moved shoulders when lengths are measured)
    before = tree.bone_lengths_of(poses[100][None])
    after = tree.bone_lengths_of(tree.impose_lengths(poses[100], lengths)[None])
    check = (before > 1e-9) & (tree.bone_parent != 75)  # 75: the virtual neck
    assert check.sum() >= 20
    np.testing.assert_allclose(after[check], lengths[check], rtol=1e-5)
