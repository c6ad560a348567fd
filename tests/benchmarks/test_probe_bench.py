"""``skeletor bench probe`` (the Table 5 analogue): a short run on real data and the pretrained encoder's initialisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.probe import ProbeSettings, QUICK, main, run_probe


def test_quick_probe_on_real_data_truth_beats_chance(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path / "cache"))
    settings = ProbeSettings(rows=("uplift", "truth"), encoder_rows=(), **QUICK)
    res = run_probe(settings, progress=False)
    assert res["meta"]["clips"] == 24 and len(res["meta"]["contents"]) == 4
    chance = res["chance"]["content"]["uniform"]
    assert chance == 0.25
    truth = res["rows"]["truth"]["content"]
    assert truth["mean"] > 2 * chance and len(truth["per_seed"]) == 3
    assert 0.0 <= res["rows"]["uplift"]["content"]["mean"] <= 1.0
    assert set(res["vs_uplift"]) == {"truth"}
    folders = sorted((tmp_path / "cache" / "probe").iterdir())  # one folder per row, a file per clip view
    assert [f.name.split("-")[0] for f in folders] == ["truth", "uplift"] and all(len(list(f.glob("*.npy"))) == 24 for f in folders)
    again = run_probe(settings, progress=False)  # from the cache: the same skeletons, the same numbers
    assert again["rows"] == res["rows"]


def test_cli_writes_the_json_and_refuses_bad_options(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "probe.json"
    assert main(["--quick", "--rows", "truth", "--encoder-rows", "--seeds", "3", "--no-progress", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert (
        set(res["rows"]) == {"truth"}
        and "environment" in res
        and res["meta"]["command"].startswith("skeletor bench probe --quick --rows truth")
    )
    assert main(["--folds", "1", "--json", str(out)]) == 2
    assert main(["--weights", str(tmp_path / "missing.onnx"), "--json", str(out)]) == 2


def test_the_encoder_classifier_starts_from_the_refiner_weights() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from benchmarks.probe import encoder_classifier
    from skeletor.cleaner.stream import default_weights_path
    from skeletor.refiner.export import onnx_state_dict
    from skeletor.refiner.model import NormalisedRefiner, RefinerConfig

    config, state = onnx_state_dict(default_weights_path())
    torch.manual_seed(0)
    pre = encoder_classifier(7, state, config)
    scratch = encoder_classifier(7, None, config)
    got = pre.state_dict()
    copied = [k for k in got if k.startswith("core.")]
    assert len(copied) == 4 + 8 * 12 + 2  # mask, embed (w, b), positions (a table, or a cached model's bias per distance); 8 layers of 12 tensors; the final norm
    assert "core.head.weight" not in got  # the refiner's correction layer is not the classifier's
    for k in copied:
        assert torch.equal(got[k], state[k]), k
        if k.endswith("weight") and "norm" not in k:  # the random init is another model
            assert not torch.equal(scratch.state_dict()[k], state[k]), k
    assert got["head.weight"].shape == (7, config["d_model"])
    # The copied encoder computes what the refiner computes: the states its correction is read
    # from (checked against its own output), pooled.
    ref = NormalisedRefiner(RefinerConfig(**config))
    ref.load_state_dict(state)
    ref.eval(), pre.eval()
    x, present = torch.randn(2, 32, 75, 3), torch.rand(2, 32, 75) > 0.3
    with torch.no_grad():
        core = ref.core
        h = core.hidden_states(x, present)  # (2, 32, D)
        base = torch.where(present[..., None], x, core.mask_value)
        assert torch.allclose(core(x, present), base + core.head(h).reshape(2, 32, 75, 3), atol=1e-5)
        want = pre.head(h.mean(dim=1))
        assert torch.allclose(pre(x, present), want, atol=1e-5)
    assert np.isfinite(want.numpy()).all()


def test_refined_rows_are_made_and_cached_per_clip_view(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.probe import make_skeletons, select_clips

    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path / "cache"))
    settings = ProbeSettings(rows=("uplift", "causal", "offline"), contents=1, styles=2, max_frames=40, views=2)
    clips = select_clips(settings)
    assert len(clips) == 2
    rows = make_skeletons(clips, settings, progress=False)
    for row in settings.rows:
        assert [len(views) for views in rows[row]] == [2, 2]
        assert all(b.shape == (40, 15, 3) and np.isfinite(b).all() for views in rows[row] for b in views)
    assert not np.allclose(rows["causal"][0][0], rows["uplift"][0][0])  # the refiner changed the uplift
    assert not np.allclose(rows["uplift"][0][0], rows["uplift"][0][1])  # two cameras, two views
    assert len(list((tmp_path / "cache" / "probe").rglob("*.npy"))) == 3 * 2 * 2
    again = make_skeletons(clips, settings, progress=False)
    assert all(np.array_equal(a, b) for row in settings.rows for va, vb in zip(rows[row], again[row]) for a, b in zip(va, vb))
