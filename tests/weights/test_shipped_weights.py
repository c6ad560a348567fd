"""The refiners in ``weights/`` load, say what they are, and improve real held-out data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig
from skeletor.cleaner.stream import default_weights_path

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.mark.parametrize(("name", "window", "lookahead", "layout"), [
    ("skeletor_refiner.onnx", 33, 0, 3),  # the live default: cached (band 4, 8 layers: 33 frames in reach)
    ("skeletor_refiner_k8.onnx", 32, 8, 2), ("skeletor_refiner_paper.onnx", 32, 0, 2), ("skeletor_refiner_bidir.onnx", 32, 16, 2),
])  # fmt: skip
def test_each_shipped_file_loads_with_its_metadata(name: str, window: int, lookahead: int, layout: int) -> None:
    r = OnnxRefiner(RuntimeConfig(weights=str(WEIGHTS / name)))
    assert (r.window, r.lookahead, r.joints, r.skeleton, r.layout) == (window, lookahead, 75, "holistic75", layout)
    assert (r.cache_shape is not None) == (layout == 3)
    # the skeleton comes from the file, under the key the exporter writes (not the runtime's default)
    assert r.metadata["skeletor.skeleton"] == "holistic75"


def test_default_weights_are_the_causal_final_model() -> None:
    assert default_weights_path().resolve() == (WEIGHTS / "skeletor_refiner.onnx").resolve()


def test_shipped_refiner_beats_the_raw_uplift_on_held_out_mocap(data_dir: Path) -> None:
    """Bandai-Namco TEST clips (never trained on) through the benchmark's camera and detector
    faults: the default refiner cuts both the error and the jitter of the live uplift."""
    from benchmarks.accuracy import _streaming, make_cases, score
    from skeletor.datasets.bvh import bandai_split, list_bandai

    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    cases = make_cases(test[::12], seed=5)  # 3 clips, other views than the benchmark's
    raw = [score(_streaming(c.keypoints), c.truth) for c in cases]
    ref = [score(_streaming(c.keypoints, 0, default_weights_path()), c.truth) for c in cases]
    err_raw, err_ref = (np.mean([s["n_mpjpe_mm"] for s in x]) for x in (raw, ref))
    acc_raw, acc_ref = (np.mean([s["accel_mm"] for s in x]) for x in (raw, ref))
    assert err_ref < 0.8 * err_raw, (err_ref, err_raw)  # 0.61x here and on the whole benchmark
    assert acc_ref < 0.5 * acc_raw, (acc_ref, acc_raw)  # 0.30x here, 0.28x on the whole benchmark


def test_shipped_refiner_keeps_its_gain_on_a_body_with_other_proportions(data_dir: Path) -> None:
    """The same held-out clips made by a body with detector-like shoulders (x1.35, as wide
    relative to the torso as MediaPipe marks them on real people). A refiner trained on the
    mocap skeleton's proportions alone learns them and loses much of its gain here, above
    the 0.75x bound (docs/decisions.md); the shipped one, trained on views of rescaled
    bodies, keeps it: 0.64x the raw uplift on these 9 views, 0.63x on the benchmark's
    "other bodies" row."""
    from benchmarks.accuracy import DETECTOR_SHOULDERS, _streaming, make_cases, score
    from skeletor.datasets.bvh import bandai_split, list_bandai
    from skeletor.uplift import UpliftTree

    tree = UpliftTree()
    wide = np.ones(tree.num_shared)
    wide[tree.shared_id("left_shoulder")] = DETECTOR_SHOULDERS
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    cases = make_cases(test[::4], seed=5, proportions=wide)
    err_raw = np.mean([score(_streaming(c.keypoints), c.truth)["n_mpjpe_mm"] for c in cases])
    err_ref = np.mean([score(_streaming(c.keypoints, 0, default_weights_path()), c.truth)["n_mpjpe_mm"] for c in cases])
    assert err_ref < 0.75 * err_raw, (err_ref, err_raw)


def test_clean_with_the_k8_weights_needs_and_uses_their_delay(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.commands import main as skeletor
    from skeletor.datasets.poseformat import list_pose_files, load_pose_file
    from skeletor.pose.keypoints import load_poses, save_keypoints

    seq = load_pose_file(list_pose_files(data_dir / "slp_pose_format")[0])
    src = tmp_path / "clip.npz"
    save_keypoints(src, seq)
    k8 = str(WEIGHTS / "skeletor_refiner_k8.onnx")
    assert skeletor(["clean", str(src), "-o", str(tmp_path / "a.npz"), "--weights", k8]) == 2
    assert "--lookahead 8" in capsys.readouterr().err
    assert skeletor(["clean", str(src), "-o", str(tmp_path / "b.npz"), "--weights", k8, "--lookahead", "8"]) == 0
    out = load_poses(tmp_path / "b.npz")
    assert out.poses3d.shape == (len(seq), 75, 3)  # the delayed frames are flushed at the end: none lost
    assert np.isfinite(out.poses3d[:, 11:17]).all()


def test_bidirectional_refiner_moves_clean_mocap_less_and_removes_strong_noise(data_dir: Path) -> None:
    """The paper's protocol on 3 held-out Bandai-Namco test clips (``skeletor evaluate``'s data):
    clean input comes out closer to itself than with the causal final recipe (7.2e-4 against
    4.4e-3 on all 36 clips), and joint noise of s = 0.5 is removed better than by
    Savitzky-Golay (2.0e-3 against 1.0e-2)."""
    from skeletor.eval import metrics
    from skeletor.eval.baselines import linear_interpolate, savgol
    from skeletor.eval.paper_tables import _corrupt, load_heldout

    seqs = load_heldout(data_dir, max_seqs=3)["Bandai-Namco test"]
    bidir = OnnxRefiner(RuntimeConfig(weights=str(WEIGHTS / "skeletor_refiner_bidir.onnx"), hands_apart=False))
    causal = OnnxRefiner(RuntimeConfig(weights=str(WEIGHTS / "skeletor_refiner.onnx"), hands_apart=False))
    clean = {"bidir": [], "causal": []}
    noisy = {"bidir": [], "savgol": []}
    for i, (_, x, p) in enumerate(seqs):
        for name, r in (("bidir", bidir), ("causal", causal)):
            clean[name].append(metrics.paper_mse(r.refine_sequence(np.where(p[..., None], x, np.nan), p)[0], x, p))
        y, q = _corrupt(x, p, "joint_noise", 0.5, np.random.default_rng([0, i, 50]))
        noisy["bidir"].append(metrics.paper_mse(bidir.refine_sequence(np.where(q[..., None], y, np.nan), q)[0], x, p))
        noisy["savgol"].append(metrics.paper_mse(savgol(linear_interpolate(y, q), 9, 2), x, p))
    assert np.mean(clean["bidir"]) < 0.5 * np.mean(clean["causal"]), clean
    assert np.mean(noisy["bidir"]) < 0.5 * np.mean(noisy["savgol"]), noisy
