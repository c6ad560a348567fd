"""``skeletor dataset build`` / ``train`` / ``export`` on a tiny real-data cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.commands import main
from skeletor.datasets.bvh import bandai_split, list_bandai
from skeletor.refiner.data import SequenceDataset
from skeletor.refiner.dataset import BuildConfig, align_truth


@pytest.fixture(scope="module")
def tiny_cache(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "tiny.npz"
    assert main(["dataset", "build", "--out", str(out), "--max-files", "1", "--views", "2"]) == 0
    return out


def test_cache_holds_every_source_and_never_the_benchmark_test_split(tiny_cache: Path, data_dir: Path) -> None:
    with np.load(tiny_cache) as z:
        names = [str(n) for n in z["names"]]
        assert {"sequences", "present", "offsets", "names", "split", "targets"} <= set(z.files)
        assert z["sequences"].shape[1:] == (75, 3) and z["targets"].shape == z["sequences"].shape
    sources = {n.split("/")[0] for n in names}
    assert sources == {"phoenix", "gopeith", "how2sign", "pose", "bandai", "manipnet", "pymo"}
    _, test = bandai_split(list_bandai(data_dir / "bandai_namco"))
    assert not any(p.stem in n for p in test for n in names)
    train = SequenceDataset.from_cache(tiny_cache, "train")
    sup = train.supervised
    assert sup.any() and not sup.all()  # Bandai views are supervised, the rest self-supervised
    assert all(n.startswith("bandai/") for n, s in zip(train.names, sup) if s)


def test_views_after_the_first_see_a_body_of_other_proportions(tiny_cache: Path) -> None:
    """The supervised targets of one clip's two views: the first keeps the mocap's bones,
    the second is the same motion by a body whose bones are rescaled within the ranges."""
    from skeletor.refiner.dataset import BuildConfig
    from skeletor.uplift import UpliftTree

    train = SequenceDataset.from_cache(tiny_cache, "train")
    views = {n.rsplit("/", 1)[1]: (t, p) for n, t, p in zip(train.names, train.targets, train.target_present) if n.startswith("bandai/")}
    assert set(views) == {"view0", "view1"}
    tree = UpliftTree()

    def relative_lengths(t: np.ndarray, p: np.ndarray) -> np.ndarray:
        lengths = tree.bone_lengths_of(np.where(p[..., None], t, np.nan))[tree.share_first]  # (S,) one per shared bone
        return lengths / np.nansum(lengths)

    ratio = relative_lengths(*views["view1"]) / relative_lengths(*views["view0"])  # per bone; the overall scale drops out
    ratio = ratio[np.isfinite(ratio)]
    assert len(ratio) >= 8
    cfg = BuildConfig()
    spread = max(cfg.shoulder_scale[1], cfg.bone_scale[1]) / min(cfg.shoulder_scale[0], cfg.bone_scale[0])
    assert ratio.max() / ratio.min() > 1.1  # other proportions, not just another size
    assert ratio.max() / ratio.min() < spread


def test_align_truth_matches_the_inputs_frame() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(10, 75, 3)).astype(np.float32)
    uplifted = 0.5 * truth + np.array([1.0, 2.0, 3.0], np.float32)  # another scale and place
    np.testing.assert_allclose(align_truth(uplifted, truth), uplifted, atol=1e-5)


def test_train_and_export_commands(tiny_cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_cache), "--out", str(run), "--steps", "30", "--batch-size", "8"]) == 0
    rows = (run / "log.csv").read_text().strip().splitlines()
    first, last = (float(r.split(",")[2]) for r in (rows[1], rows[-1]))
    assert last < first  # the validation loss went down
    onnx_path = tmp_path / "w.onnx"
    assert main(["export", str(run / "ckpt.pt"), "-o", str(onnx_path)]) == 0
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    ref = OnnxRefiner(RuntimeConfig(weights=onnx_path))
    assert ref.lookahead == 0


def test_cli_help_does_not_import_torch() -> None:
    code = "import sys; from realtime.commands import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_missing_cache_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "none.npz" in capsys.readouterr().err


def test_bidirectional_train_from_onnx_weights_and_export_with_the_window(tiny_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """skeletor train --bidirectional --init a causal model's ONNX, then export --window-output:
    what skeletor clean --offline loads."""
    causal, bidir = tmp_path / "causal", tmp_path / "bidir"
    assert main(["train", "--data", str(tiny_cache), "--out", str(causal), "--steps", "20", "--batch-size", "8", "--window", "8"]) == 0
    assert main(["export", str(causal / "ckpt.pt"), "-o", str(tmp_path / "causal.onnx")]) == 0
    argv = ["train", "--data", str(tiny_cache), "--out", str(bidir), "--steps", "20", "--batch-size", "8", "--window", "8",
            "--bidirectional", "--lookahead", "4", "--init", str(tmp_path / "causal.onnx"), "--truth-input", "0.3", "--noise-range", "0.2", "3"]  # fmt: skip
    assert main(argv) == 0
    assert main(["export", str(bidir / "ckpt.pt"), "-o", str(tmp_path / "bidir.onnx"), "--window-output"]) == 0
    from skeletor.cleaner.offline import is_bidirectional
    from skeletor.refiner.runtime import OnnxRefiner, RuntimeConfig

    ref = OnnxRefiner(RuntimeConfig(weights=tmp_path / "bidir.onnx"))
    assert (ref.window, ref.lookahead) == (8, 4) and ref.has_window_output and is_bidirectional(ref.metadata)
    # weights of another shape are refused with the reason
    assert main(["train", "--data", str(tiny_cache), "--out", str(tmp_path / "x"), "--steps", "1", "--init", str(tmp_path / "causal.onnx")]) == 2
    assert "window 8 != 32" in capsys.readouterr().err


@pytest.mark.data
def test_real_noise_changes_only_the_bandai_views(tiny_cache: Path, tmp_path: Path) -> None:
    """--real-noise 1 gives every Bandai view the measured MediaPipe noise; the other sources stay as they were."""
    out = tmp_path / "real.npz"
    assert main(["dataset", "build", "--out", str(out), "--max-files", "1", "--views", "2", "--real-noise", "1"]) == 0
    with np.load(tiny_cache) as a, np.load(out) as b:
        names = [str(n) for n in a["names"]]
        assert names == [str(n) for n in b["names"]]
        bounds = list(zip(a["offsets"][:-1], a["offsets"][1:]))
        for name, (lo, hi) in zip(names, bounds):
            same = np.array_equal(a["sequences"][lo:hi], b["sequences"][lo:hi], equal_nan=True)
            assert same == (not name.startswith("bandai")), name


def test_real_noise_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match="real_noise"):
        BuildConfig(real_noise=1.5)
