"""The streaming cleaner (uplift + refiner) on real MediaPipe detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.eval import metrics
from skeletor.datasets.poseformat import load_pose_file
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence

UPPER = [0, 11, 12, 13, 14, 15, 16]  # nose, shoulders, elbows, wrists: in view in every clip


def reprojection_px(poses: np.ndarray, seq) -> np.ndarray:
    """Pixel errors of the upper body through the uplift's default camera (focal = the larger image side)."""
    return metrics.reprojection_error(poses[:, UPPER], seq.keypoints[:, UPPER], float(max(seq.image_size)), seq.image_size)


@pytest.fixture(scope="module")
def real_clip(data_dir: Path):
    return load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")  # 278 frames of real Holistic output


def test_detection_pull_keeps_the_refined_skeleton_on_its_detections(real_clip) -> None:
    """The refiner lets joints drift off their detections; the pull brings them back
    towards them without giving back its smoothness or its rigid bones."""
    runs = {x: clean_sequence(real_clip, StreamingCleaner(CleanerConfig(detection_pull=x))).poses3d for x in (0.0, 0.1)}
    off, on = (np.median(reprojection_px(runs[x], real_clip)) for x in (0.0, 0.1))
    assert on < 0.85 * off, (on, off)
    assert metrics.jitter(runs[0.1][:, UPPER]) < 1.1 * metrics.jitter(runs[0.0][:, UPPER])
    arms = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in UPPER[1:] and c in UPPER[1:]]
    cv = [metrics.bone_length_cv(runs[x], HOLISTIC75, bones=arms) for x in (0.0, 0.1)]
    assert cv[1] <= 1.02 * cv[0], cv  # the bones are put back to the uplift's lengths after the pull


def test_detection_pull_off_is_the_plain_refiner_and_reset_forgets_it(real_clip) -> None:
    seq = real_clip
    cleaner = StreamingCleaner(CleanerConfig(detection_pull=0.1))
    first = clean_sequence(seq, cleaner).poses3d
    cleaner.reset()
    np.testing.assert_array_equal(clean_sequence(seq, cleaner).poses3d, first)  # no offset left from the first run
    plain = clean_sequence(seq, StreamingCleaner(CleanerConfig(detection_pull=0.0))).poses3d
    assert not np.allclose(plain, first, equal_nan=True)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_detection_pull_must_be_a_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="detection_pull"):
        StreamingCleaner(CleanerConfig(refine=False, detection_pull=rate))


def test_smoothing_steadies_a_real_clip_and_keeps_the_bones(real_clip) -> None:
    """--smooth (a One Euro filter after everything else) lowers the jitter of a real clip
    and leaves the bones at the rig's lengths; the timestamps are the input's."""
    from skeletor.cleaner.stream import SMOOTHING

    plain = clean_sequence(real_clip, StreamingCleaner(CleanerConfig())).poses3d
    smooth = clean_sequence(real_clip, StreamingCleaner(CleanerConfig(smoothing=SMOOTHING))).poses3d
    assert metrics.jitter(smooth[:, UPPER]) < 0.9 * metrics.jitter(plain[:, UPPER])  # 0.87x with the shipped refiner
    arms = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in UPPER[1:] and c in UPPER[1:]]
    assert metrics.bone_length_cv(smooth, HOLISTIC75, bones=arms) <= 1.02 * metrics.bone_length_cv(plain, HOLISTIC75, bones=arms)
    np.testing.assert_array_equal(np.isnan(smooth), np.isnan(plain))
    # a cut (reset) starts the filter afresh: the same clip twice gives the same output
    cleaner = StreamingCleaner(CleanerConfig(smoothing=SMOOTHING))
    clean_sequence(real_clip, cleaner)
    cleaner.reset()
    np.testing.assert_array_equal(clean_sequence(real_clip, cleaner).poses3d, smooth)


def test_refined_body_is_steadier_than_the_uplift_on_a_steady_signer(data_dir: Path) -> None:
    """A seated signer, one hand in view (real Holistic output, little motion): the refiner
    must not add jitter to the body. Its supervised pairs have no hands, and with the hands
    in its input it does (upper-body jitter 6.6 against the uplift's 6.0 mm/frame^2 on this
    clip, the cleaner's depth filter off: the first assertion shows the clip exposes the
    failure). With the hands apart (``RuntimeConfig.hands_apart``, the default) the body is
    steadier than the uplift's (3.1, 0.52x; the bound 0.8x asks for a clear gain) and the
    hand, carried onto the wrist, is steadier than the uplift's."""
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig
    from skeletor.cleaner.stream import default_weights_path

    seq = load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose")
    assert (seq.keypoints[:, 54:75, 2] > 0).any(axis=1).mean() > 0.5  # the right hand is in view most of the clip
    uplift = clean_sequence(seq, StreamingCleaner(CleanerConfig(refine=False))).poses3d
    runs = {}
    for apart in (False, True):
        refiner = OnnxRefiner(RuntimeConfig(weights=str(default_weights_path()), hands_apart=apart))
        # the depth filter after the refiner (CleanerConfig.depth_smoothing) off: this is about the refiner's own output
        runs[apart] = clean_sequence(seq, StreamingCleaner(CleanerConfig(depth_smoothing=None), refiner=refiner)).poses3d
    j_up, j_joint, j_apart = (metrics.jitter(p[:, UPPER]) for p in (uplift, runs[False], runs[True]))
    assert j_joint > j_up, (j_joint, j_up)  # the failure this guards against
    assert j_apart < 0.8 * j_up, (j_apart, j_up)
    hand = list(range(54, 75))
    rel = [p[:, hand] - p[:, [16]] for p in (uplift, runs[True])]  # the hand's own motion, wrist removed
    assert metrics.jitter(rel[1]) < metrics.jitter(rel[0])


def _longer_arms(kp: np.ndarray, factor: float = 1.3) -> np.ndarray:
    """The same detections with both arms (and hands) drawn ``factor`` x longer from the shoulder: another person."""
    out = kp.copy()
    for shoulder, chain in ((11, [13, 15, 17, 19, 21, *range(33, 54)]), (12, [14, 16, 18, 20, 22, *range(54, 75)])):
        out[:, chain, :2] = out[:, [shoulder], :2] + factor * (out[:, chain, :2] - out[:, [shoulder], :2])
    return out


@pytest.mark.parametrize("refine", [False, True])
def test_someone_coming_back_after_no_one_gets_a_fresh_start(data_dir: Path, refine: bool) -> None:
    """Person A, 3 s with no one, person B (longer arms): B's estimates are exactly those of
    a cleaner that never saw A (bone lengths, scale, filters all B's own); without
    ``forget_after_s`` B inherits A's bone lengths. Frame indices run on, and every joint
    seen is finite in every frame."""
    from dataclasses import replace

    a = load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose")
    b_kp = _longer_arms(a.keypoints)
    gap = np.zeros((int(3 * a.fps), 75, 3), np.float32)  # nothing detected: all confidence 0
    both = replace(a, keypoints=np.concatenate([a.keypoints, gap, b_kp]))
    alone = clean_sequence(replace(a, keypoints=b_kp), StreamingCleaner(CleanerConfig(refine=refine)))
    n = len(b_kp)
    est = alone.confidence > 0  # (n, 75) joints estimated in the frame (not filled)
    runs = {}
    for forget in (2.0, None):
        out = clean_sequence(both, StreamingCleaner(CleanerConfig(refine=refine, forget_after_s=forget)))
        assert out.poses3d.shape == (len(both), 75, 3)
        seen = np.isfinite(out.poses3d).all(-1).any(0)
        assert np.isfinite(out.poses3d[:, seen]).all()
        runs[forget] = out
    np.testing.assert_array_equal(runs[2.0].poses3d[-n:][est], alone.poses3d[est])
    np.testing.assert_array_equal(runs[2.0].confidence[-n:], alone.confidence)
    def arm_over_torso(poses: np.ndarray) -> float:  # right upper arm + forearm over the shoulder width
        arm = np.linalg.norm(poses[:, 14] - poses[:, 12], axis=-1) + np.linalg.norm(poses[:, 16] - poses[:, 14], axis=-1)
        return float(np.nanmedian(arm / np.linalg.norm(poses[:, 12] - poses[:, 11], axis=-1)))

    ratio = {k: arm_over_torso(r.poses3d[-n:]) for k, r in runs.items()}
    assert ratio[None] < 0.95 * ratio[2.0], ratio  # A's length history holds B's longer arms back


def test_forget_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="forget_after_s"):
        StreamingCleaner(CleanerConfig(refine=False, forget_after_s=0.0))


def test_refined_lengths_steady_a_real_clips_bones_and_keep_its_detections(real_clip) -> None:
    """The rig's body bones half from the refiner's 3D lengths (``CleanerConfig.refined_lengths``):
    on a real clip the arms' lengths vary less than with the uplift's 2D-based lengths only,
    and less than without the refiner (the issue's "lower bone-length variation than
    --no-refine"), without moving the skeleton off its detections."""
    arms = [b for b, (p, c) in enumerate(HOLISTIC75.bones) if p in UPPER[1:] and c in UPPER[1:]]
    runs = {
        "uplift": clean_sequence(real_clip, StreamingCleaner(CleanerConfig(refine=False))).poses3d,
        "uplift lengths": clean_sequence(real_clip, StreamingCleaner(CleanerConfig(refined_lengths=0.0))).poses3d,
        "default": clean_sequence(real_clip, StreamingCleaner(CleanerConfig())).poses3d,
    }
    cv = {k: metrics.bone_length_cv(p, HOLISTIC75, bones=arms) for k, p in runs.items()}
    assert cv["default"] < 0.97 * cv["uplift"], cv  # 4.5 vs 5.6 % here (0.80x; 0.84x over the benchmark's 10 real clips)
    assert cv["default"] < 0.97 * cv["uplift lengths"], cv
    err = {k: np.median(reprojection_px(p, real_clip)) for k, p in runs.items()}
    assert err["default"] < 1.1 * err["uplift lengths"], err
    np.testing.assert_array_equal(np.isnan(runs["default"]), np.isnan(runs["uplift lengths"]))


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_refined_lengths_must_be_a_weight(weight: float) -> None:
    with pytest.raises(ValueError, match="refined_lengths"):
        StreamingCleaner(CleanerConfig(refine=False, refined_lengths=weight))


def test_staged_pushes_give_what_push_gives(real_clip) -> None:
    """``stage`` + one refiner call + ``complete`` (what the multi-person cleaner batches)
    is ``push``, frame by frame, on a real clip, with the refiner and without, with lookahead."""
    from skeletor.refiner.runtime import OnnxRefiner

    model = OnnxRefiner()
    for config in (CleanerConfig(), CleanerConfig(refine=False), CleanerConfig(lookahead=3)):
        plain = StreamingCleaner(config, refiner=OnnxRefiner() if config.refine else None)
        staged = StreamingCleaner(config, refiner=model.new_stream() if config.refine else None)
        for i, kp in enumerate(real_clip.keypoints[:60]):
            want = plain.push(kp, i / real_clip.fps, None, real_clip.image_size)
            step = staged.stage(kp, i / real_clip.fps, None, real_clip.image_size)
            refined = model.refine_windows([step.window])[0] if step.window is not None else None
            got = staged.complete(step, refined)
            assert [f.index for f in got] == [f.index for f in want]
            for g, w in zip(got, want):
                np.testing.assert_allclose(g.pose, w.pose, atol=1e-5)
    fresh = StreamingCleaner(CleanerConfig(lookahead=3), refiner=model.new_stream())
    step = fresh.stage(real_clip.keypoints[0])
    assert step.window is None  # the uplift holds the first 3 frames back
    with pytest.raises(ValueError, match="a refined frame is needed exactly when"):
        fresh.complete(step, (np.zeros((75, 3)), np.zeros(75)))
