"""``skeletor clean --offline``: the bidirectional refiner over real MediaPipe files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from realtime.commands import main
from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig, default_offline_weights_path, is_bidirectional
from skeletor.cleaner.one_euro import OneEuroParams
from skeletor.cleaner.stream import CleanerConfig, default_weights_path
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.eval import metrics
from skeletor.pose.keypoints import KeypointSequence, load_poses, save_keypoints
from skeletor.refiner.runtime import RuntimeConfig

UPPER = [11, 12, 13, 14, 15, 16]  # shoulders, elbows, wrists: in view in every frame of the clip


@pytest.fixture(scope="module")
def real_clip(data_dir: Path) -> KeypointSequence:
    """The longest real MediaPipe Holistic clip of the set (278 frames, a seated signer)."""
    return load_pose_file(data_dir / "slp_pose_format" / "mediapipe_long.pose")


def test_offline_writes_every_frame_of_a_real_file(real_clip: KeypointSequence, tmp_path: Path) -> None:
    src = tmp_path / "clip.npz"
    save_keypoints(src, real_clip)
    assert main(["clean", str(src), "-o", str(tmp_path / "off.npz"), "--offline", "--no-progress"]) == 0
    assert main(["clean", str(src), "-o", str(tmp_path / "live.npz"), "--no-progress"]) == 0
    off, live = load_poses(tmp_path / "off.npz"), load_poses(tmp_path / "live.npz")
    n = len(real_clip.keypoints)
    assert off.poses3d.shape == (n, 75, 3)  # the 16 frames the model waits for are flushed at the end
    seen = (real_clip.keypoints[..., 2] > 0).any(0)
    assert np.isfinite(off.poses3d[:, seen]).all() and not np.isfinite(off.poses3d[:, ~seen]).any()
    np.testing.assert_array_equal(off.keypoints, real_clip.keypoints)
    # not the causal cleaner's output, and in step with the detections (no shift by the model's
    # 16 frames of future, no lag of a filter): the wrists' sideways motion lines up best at lag 0
    assert np.median(np.linalg.norm(off.poses3d[:, UPPER] - live.poses3d[:, UPPER], axis=-1)) > 1e-3
    # (the bidirectional half alone exactly; the mean with the causal half, lined up by whole
    # frames, within one)
    alone = OfflineCleaner(OfflineConfig(causal=None)).clean(real_clip).poses3d
    for poses, most in ((alone, 0), (off.poses3d, 1)):
        for wrist in (15, 16):
            a, b = np.diff(poses[:, wrist, 0]), np.diff(real_clip.keypoints[:, wrist, 0])
            lags = list(range(-10, 11))
            corr = [np.corrcoef(a[max(0, d) : len(a) + min(0, d)], b[max(0, -d) : len(b) + min(0, -d)])[0, 1] for d in lags]
            assert abs(lags[int(np.argmax(corr))]) <= most and max(corr) > 0.3, (wrist, most, max(corr))
    # steadier than the causal cleaner (mean |acceleration| of the upper body)
    assert metrics.jitter(off.poses3d[:, UPPER]) < metrics.jitter(live.poses3d[:, UPPER])


def test_the_pull_takes_the_offline_skeleton_back_onto_the_detections(real_clip: KeypointSequence) -> None:
    """Reprojection error (median distance from the detected joints of the result seen through
    the uplift's camera, in shoulder widths): the refiner moves joints off their detections,
    the pull brings them back, and with the rig's lengths from the uplift alone they end up
    near them (the bidirectional half alone: the causal half has its own pull)."""
    cfg = OfflineConfig(causal=None)
    cleaner = OfflineCleaner(cfg)
    both = (real_clip.keypoints[:, 11, 2] >= 0.5) & (real_clip.keypoints[:, 12, 2] >= 0.5)
    shoulder = np.median(np.linalg.norm(real_clip.keypoints[both, 11, :2] - real_clip.keypoints[both, 12, :2], axis=-1))
    focal = cfg.uplift.focal_length(real_clip.image_size)

    def reprojection(**settings: float) -> float:
        cleaner.config = replace(cfg, **settings)
        poses = cleaner.clean(real_clip).poses3d
        err = metrics.reprojection_error(poses[:, UPPER], real_clip.keypoints[:, UPPER], focal, real_clip.image_size)
        return float(np.median(err) / shoulder)

    none, default, on_rays = reprojection(detection_pull=0.0), reprojection(), reprojection(refined_lengths=0.0, detection_pull=0.3)
    assert on_rays < default < none, (on_rays, default, none)
    assert on_rays < 0.1


def test_blended_windows_against_the_centre_only(real_clip: KeypointSequence) -> None:
    """Blending every window's estimate of a frame is steadier than each frame's own
    window centre alone, and stays close to it (the same model, the same input)."""
    from skeletor.uplift import uplift_sequence

    blended, centre = OfflineCleaner(OfflineConfig(blend=True)), OfflineCleaner(OfflineConfig(blend=False))
    assert blended.blend and not centre.blend
    up = uplift_sequence(real_clip)
    present = (up.confidence > 0) & np.isfinite(up.poses3d).all(-1)
    a, b = blended.refine(up.poses3d, present), centre.refine(up.poses3d, present)
    seen = present.any(0)
    assert a.shape == b.shape == (len(up.poses3d), 75, 3) and np.isfinite(a[:, seen]).all()
    assert metrics.jitter(a[:, UPPER]) < metrics.jitter(b[:, UPPER])
    assert np.median(np.linalg.norm(a[:, UPPER] - b[:, UPPER], axis=-1)) < 0.02  # metres


def test_offline_options_follow_the_clean_options() -> None:
    cfg = OfflineConfig.from_cleaner(CleanerConfig(detection_pull=0.2, refined_lengths=0.0))
    assert (cfg.detection_pull, cfg.refined_lengths) == (0.2, 0.0)
    assert cfg.runtime.weights == default_offline_weights_path()
    mine = OfflineConfig.from_cleaner(CleanerConfig(runtime=RuntimeConfig(weights="x.onnx")), explicit_weights=True)
    assert str(mine.runtime.weights) == "x.onnx"
    with pytest.raises(ValueError, match="--no-refine"):
        OfflineConfig.from_cleaner(CleanerConfig(refine=False))


def test_shipped_offline_weights_are_bidirectional_and_the_default_is_not() -> None:
    from skeletor.refiner.runtime import OnnxRefiner

    bidir = OnnxRefiner(RuntimeConfig(weights=default_offline_weights_path()))
    assert is_bidirectional(bidir.metadata) and (bidir.window, bidir.lookahead) == (32, 16)
    assert not is_bidirectional(OnnxRefiner(RuntimeConfig(weights=default_weights_path())).metadata)


def test_offline_errors_are_clear(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "clip.npz"
    save_keypoints(src, load_pose_file(list_pose_files(data_dir / "slp_pose_format")[0]))
    out = str(tmp_path / "o.npz")
    assert main(["clean", str(src), "-o", out, "--offline", "--weights", str(default_weights_path())]) == 2
    assert "not a bidirectional refiner" in capsys.readouterr().err
    assert main(["clean", str(src), "-o", out, "--offline", "--no-refine"]) == 2
    assert "--no-refine" in capsys.readouterr().err
    assert main(["clean", str(src), "-o", out, "--offline", "--weights", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx" in capsys.readouterr().err
    assert not Path(out).exists()


def test_offline_is_the_mean_of_the_bidirectional_and_the_causal_pipelines(real_clip: KeypointSequence) -> None:
    """The default averages the bidirectional result (one length per bone for the file) with
    plain ``skeletor clean``'s causal output for the same file, joint by joint, the causal
    output moved earlier by its delay (the last frames: the bidirectional result alone)."""
    from skeletor.cleaner.offline import _delay
    from skeletor.cleaner.stream import StreamingCleaner, clean_sequence

    both = OfflineCleaner(OfflineConfig()).clean(real_clip).poses3d
    alone = OfflineCleaner(OfflineConfig(causal=None)).clean(real_clip).poses3d
    causal = clean_sequence(real_clip, StreamingCleaner(CleanerConfig())).poses3d
    d = _delay(alone, causal)  # the causal output is moved earlier by its delay behind the bidirectional half
    assert 0 <= d <= 2
    if d:
        causal = np.concatenate([causal[d:], np.full_like(causal[:d], np.nan)])
    seen = np.isfinite(alone).all(-1) & np.isfinite(causal).all(-1)
    assert seen[: len(seen) - d, UPPER].all()
    seen[:, 33:] = False  # hands: not averaged (test_offline_hands_keep_their_chirality)
    np.testing.assert_allclose(both[seen], 0.5 * (alone[seen] + causal[seen]), atol=1e-5)
    np.testing.assert_allclose(both[len(both) - d :], alone[len(alone) - d :], atol=1e-6)
    forearm = np.linalg.norm(alone[:, 15] - alone[:, 13], axis=-1)
    assert np.ptp(forearm) < 1e-4  # the bidirectional half alone: one length for the file
    assert metrics.jitter(both[:, UPPER]) < metrics.jitter(causal[:, UPPER])


def test_the_causal_half_runs_the_clean_options_with_causal_weights() -> None:
    plain = OfflineConfig.from_cleaner(CleanerConfig(detection_pull=0.2, smoothing=OneEuroParams()))
    assert plain.causal is not None and plain.causal.runtime.weights is None  # the shipped causal weights
    assert plain.causal.detection_pull == 0.2 and plain.causal.smoothing is None  # the mean is smoothed once
    mine = OfflineConfig.from_cleaner(CleanerConfig(runtime=RuntimeConfig(weights="bidir.onnx")), explicit_weights=True)
    assert mine.causal is not None and mine.causal.runtime.weights is None


@pytest.fixture(scope="module")
def phoenix_clip(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """A Phoenix14T test skeleton (T, 75, 3) at shoulder width 1/3 (the paper's protocol) and its present mask."""
    from skeletor.datasets.phoenix import load_phoenix
    from skeletor.eval.paper_tables import _phoenix_units

    m = load_phoenix("test", data_dir / "ptslp_phoenix14t")[0]
    p = np.isfinite(m.positions).all(-1)
    return _phoenix_units(np.nan_to_num(m.positions), p), p


@pytest.fixture(scope="module")
def paper_cleaner() -> OfflineCleaner:
    return OfflineCleaner(OfflineConfig(runtime=RuntimeConfig(weights=default_offline_weights_path(), hands_apart=False), causal=None))


def test_restore_leaves_good_input_alone(phoenix_clip: tuple[np.ndarray, np.ndarray], paper_cleaner: OfflineCleaner) -> None:
    x, p = phoenix_clip
    out = paper_cleaner.restore(np.where(p[..., None], x, np.nan), p, outlier_factor=None)
    np.testing.assert_array_equal(out[p], x[p])


def test_restore_fills_masked_frames_as_well_as_interpolation_and_keeps_the_rest(
    phoenix_clip: tuple[np.ndarray, np.ndarray], paper_cleaner: OfflineCleaner
) -> None:
    from skeletor.eval.baselines import hold_last, linear_interpolate
    from skeletor.eval.corrupt import mask_frames

    x, p = phoenix_clip
    q = p & ~mask_frames(p, 0.1, np.random.default_rng(3))
    out = paper_cleaner.restore(np.where(q[..., None], x, np.nan), q, outlier_factor=None)
    np.testing.assert_array_equal(out[q], x[q])
    assert np.isfinite(out[p]).all()
    mse = metrics.paper_mse(out, x, p)
    assert mse <= 1.2 * metrics.paper_mse(linear_interpolate(x, q), x, p)
    assert mse < 0.5 * metrics.paper_mse(hold_last(x, q), x, p)


def test_restore_replaces_noisy_joints(phoenix_clip: tuple[np.ndarray, np.ndarray], paper_cleaner: OfflineCleaner) -> None:
    """Joint noise of strength 0.5 on 15 % of the entries: found against the refiner's own
    error scale and refilled, far below Savitzky-Golay's smoothing of them."""
    from skeletor.eval.baselines import linear_interpolate, savgol
    from skeletor.eval.corrupt import joint_noise

    x, p = phoenix_clip
    y, _ = joint_noise(np.where(p[..., None], x, 0.0), 0.15, 0.5, np.random.default_rng(4))
    y = np.where(p[..., None], y, np.nan)
    out = paper_cleaner.restore(y, p)
    mse = metrics.paper_mse(out, x, p)
    assert mse < 0.5 * metrics.paper_mse(savgol(linear_interpolate(y, p), 9, 2), x, p)
    assert mse < 0.05 * metrics.paper_mse(y, x, p)


def test_the_causal_half_is_lined_up_by_its_delay(real_clip: KeypointSequence) -> None:
    """The delay between two outputs is found from their motion: a copy of a real cleaned
    clip shifted later by 2 frames is 2 frames late, and the clip itself is not late."""
    from skeletor.cleaner.offline import _delay
    from skeletor.uplift import uplift_sequence

    poses = uplift_sequence(real_clip).poses3d
    late = np.concatenate([poses[:1], poses[:1], poses[:-2]])
    assert _delay(poses, late) == 2 and _delay(poses, poses) == 0


@pytest.mark.parametrize("causal", [True, False], ids=["with-causal-half", "bidirectional-half-alone"])
def test_offline_hands_keep_their_chirality(data_dir: Path, causal: bool) -> None:
    """The bidirectional model never learnt hands: offline, as live, the hands' shapes are carried
    onto the refined wrists rather than refined (a refined hand came out mirrored in about a
    third of the frames of this clip), and the two halves' hands are not averaged."""
    from skeletor.uplift.hands import HAND_OFFSETS, hand_chirality

    seq = load_pose_file(data_dir / "slp_pose_format" / "hand_estimation" / "0ff215ef4f1f111e217e2cefee0adc77.pose")
    cfg = OfflineConfig() if causal else OfflineConfig(causal=None)
    out = OfflineCleaner(cfg).clean(seq).poses3d
    o, _ = HAND_OFFSETS["right"]
    seen = (seq.keypoints[:, o : o + 21, 2] > 0).all(-1)
    assert seen.sum() >= 50
    assert np.mean(hand_chirality(out[seen], "right") > 0) >= 0.9
