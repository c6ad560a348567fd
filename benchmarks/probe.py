"""Downstream probe (the paper's Table 5 analogue): do refined skeletons help a task built on them?

``skeletor bench probe`` classifies Bandai-Namco dataset-1 motions, content (walk, run, bow,
...) and style (happy, old, tired, ...), from skeletons made as a live user would have them:

* every clip seen by ``--views`` virtual cameras (``skeletor.eval.views.random_view``, the
  accuracy benchmark's placement: 2.5-3.5 m, yaw -60..60 deg) through the simulated
  detector (``skeletor.eval.corrupt.DetectorFaults`` defaults: jitter, dropped bursts,
  dropped joints, outliers), seeded by the clip's name and the view number;
* then five rows: (a) the streaming uplift alone (``skeletor clean --no-refine``), (b) the
  same through the One Euro filter of ``--smooth`` (``SMOOTHING``, also what the accuracy
  benchmark's tuning finds for the uplift), (c) the causal refiner (``skeletor clean``, the
  live default, ``weights/skeletor_refiner.onnx``), (d) the bidirectional refiner offline
  (``skeletor clean --offline``, ``weights/skeletor_refiner_bidir.onnx``), (e) the mocap
  truth in the same camera (the ceiling).

The classifier is the same for every row: ``skeletor.eval.probe`` (per-clip features in a
body frame, a ridge classifier, its penalty chosen by inner cross-validation).
Split by clip: 5 folds in which every take of a (content, style) pair and every view of a
clip share a fold; each seed draws another split. Contents with fewer than 5 clips are left
out (``probe_clips``), leaving 165 clips of 10 contents and 15 styles. Reported: accuracy
over every test view, mean and standard deviation over the seeds, and for each row its
difference from row (a) on the same split (paired, mean and std over seeds).

The paper's other claim, pretraining: a classifier made of the refiner's encoder (embedding,
positional embedding, mask token, all 8 transformer layers, final norm; ``encoder_classifier``)
with a mean-pool and a linear head, initialised from the shipped causal refiner's weights
(read from the ONNX file, ``skeletor.refiner.export.onnx_state_dict``) against the same model
initialised at random, both fine-tuned with one recipe (``--encoder-steps`` AdamW steps on
32-frame windows; a view's prediction is the mean of its windows' logits) on row (a)'s
skeletons (``--encoder-rows``), one held-out fold of 5 per seed (``--encoder-seeds``).

Cleaned skeletons are cached under ``$SKELETOR_CACHE/probe`` (default ``~/.cache/skeletor``),
keyed by the weights' contents, the view and fault settings and the frame cap, so a rerun
with other weights recomputes only what changed. ``--quick`` is a small smoke run (four
contents, six styles, 90 frames a clip, three folds, few encoder steps) for the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, write_result
from skeletor.cleaner.offline import OfflineCleaner, OfflineConfig, default_offline_weights_path
from skeletor.cleaner.stream import SMOOTHING, CleanerConfig, StreamingCleaner, clean_sequence, default_weights_path
from skeletor.datasets import data_root
from skeletor.datasets.bvh import bandai_split, list_bandai, load_bandai
from skeletor.eval.baselines import one_euro
from skeletor.eval.corrupt import DetectorFaults, detector_faults
from skeletor.eval.probe import BODY, ProbeClip, clip_features, cross_validate, fold_of, probe_clips
from skeletor.eval.views import ViewConfig, random_view
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.refiner.runtime import RuntimeConfig

__all__ = ["ROWS", "ProbeSettings", "make_skeletons", "run_probe", "format_table", "encoder_classifier", "add_bench_parser", "main"]

log = logging.getLogger(__name__)

ROWS = {
    "uplift": "(a) streaming uplift (skeletor clean --no-refine)",
    "one_euro": "(b) + One Euro (--smooth settings)",
    "causal": "(c) + causal refiner (skeletor clean, the live default)",
    "offline": "(d) + bidirectional refiner offline (skeletor clean --offline)",
    "truth": "(e) mocap truth (ceiling)",
}
TASKS = ("content", "style")
CACHE_VERSION = 1  # bump when the way a row is made changes


@dataclass(frozen=True)
class ProbeSettings:
    """What one probe run does.

    Attributes:
        views: virtual cameras per clip.
        folds: outer folds of the split by clip.
        seeds: splits drawn for the linear probe, >= 3 for a spread.
        rows: which of ``ROWS`` to make and score.
        max_frames: use at most this many frames of each clip (None = all).
        contents, styles: keep at most this many contents / styles (sorted by name; None = all).
        weights, offline_weights: the causal and bidirectional refiner ONNX files.
        encoder_rows: rows the pretrained-vs-scratch encoder pair is trained on (empty = none).
        encoder_seeds: splits (and initialisations of the head and of the scratch model) for the pair.
        encoder_steps, encoder_batch, encoder_lr: its fine-tuning recipe, the same for both inits.
    """

    views: int = 1
    folds: int = 5
    seeds: int = 10
    rows: tuple[str, ...] = tuple(ROWS)
    max_frames: int | None = None
    contents: int | None = None
    styles: int | None = None
    weights: Path | None = None
    offline_weights: Path | None = None
    encoder_rows: tuple[str, ...] = ("uplift",)
    encoder_seeds: int = 3
    encoder_steps: int = 150
    encoder_batch: int = 16
    encoder_lr: float = 3e-4


def cache_root() -> Path:
    """``$SKELETOR_CACHE/probe``, else ``~/.cache/skeletor/probe``."""
    env = os.environ.get("SKELETOR_CACHE")
    return (Path(env).expanduser() if env else Path("~/.cache/skeletor").expanduser()) / "probe"


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "none"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _row_key(row: str, settings: ProbeSettings) -> str:
    """Cache folder name of a row: what it depends on, hashed."""
    weights = {"causal": settings.weights, "offline": settings.offline_weights}.get(row)
    parts = [CACHE_VERSION, row, _file_digest(weights), asdict(ViewConfig()), asdict(DetectorFaults()), settings.max_frames,
             asdict(SMOOTHING) if row == "one_euro" else None]  # fmt: skip
    return f"{row}-{hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]}"


def _view(clip: ProbeClip, v: int, max_frames: int | None) -> tuple[Any, np.ndarray]:
    """The detector keypoints and camera-frame truth of view ``v`` of ``clip`` (seeded by name and view)."""
    motion = load_bandai(clip.path)
    pos = motion.positions[:max_frames] if max_frames else motion.positions
    seed = int.from_bytes(hashlib.sha256(clip.name.encode()).digest()[:4], "little")
    rng = np.random.default_rng([seed, v])
    view = random_view(pos, motion.fps, ViewConfig(), rng, name=f"{clip.name}/view{v}")
    kp = detector_faults(view.keypoints.keypoints, HOLISTIC75, DetectorFaults(), rng)
    return replace(view.keypoints, keypoints=kp), view.truth


def make_skeletons(clips: list[ProbeClip], settings: ProbeSettings, progress: bool = True) -> dict[str, list[list[np.ndarray]]]:
    """Every row's body joints for every clip and view: row -> [clip][view] (T, 15, 3) float32.

    Each clip's view of a row is read from the cache when there, else made and stored
    (``cache_root() / <row and settings hash> / <clip>_view<v>.npy``).
    """
    from tqdm import tqdm

    causal = settings.weights or default_weights_path()
    offline = settings.offline_weights or default_offline_weights_path()
    settings = replace(settings, weights=causal, offline_weights=offline)
    need = list(dict.fromkeys(("uplift", *settings.rows) if "one_euro" in settings.rows else settings.rows))
    folders = {row: cache_root() / _row_key(row, settings) for row in need}
    out: dict[str, list[list[np.ndarray]]] = {row: [[] for _ in clips] for row in need}
    cleaners: dict[str, Callable[[Any], np.ndarray]] = {}
    up = StreamingCleaner(CleanerConfig(refine=False))
    cleaners["uplift"] = lambda kp: (up.reset(), clean_sequence(kp, up).poses3d)[1]
    if "causal" in need:
        ref = StreamingCleaner(CleanerConfig(runtime=RuntimeConfig(weights=causal)))
        cleaners["causal"] = lambda kp: (ref.reset(), clean_sequence(kp, ref).poses3d)[1]
    if "offline" in need:
        off = OfflineCleaner(OfflineConfig(runtime=RuntimeConfig(weights=offline)))
        cleaners["offline"] = lambda kp: off.clean(kp).poses3d
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(tqdm(clips, desc=f"probe skeletons ({', '.join(need)})", disable=not progress, unit="clip")):
        for v in range(settings.views):
            files = {row: folders[row] / f"{c.name}_view{v}.npy" for row in need}
            view: tuple[Any, np.ndarray] | None = None
            uplift = None
            for row in need:
                if files[row].is_file():
                    out[row][i].append(np.load(files[row]))
                    continue
                view = _view(c, v, settings.max_frames) if view is None else view
                kp, truth = view
                if row == "truth":
                    poses = truth
                elif row in ("uplift", "one_euro"):
                    uplift = cleaners["uplift"](kp) if uplift is None else uplift
                    poses = (
                        uplift if row == "uplift" else one_euro(uplift, kp.fps, SMOOTHING.min_cutoff, SMOOTHING.beta, SMOOTHING.d_cutoff)
                    )
                else:
                    poses = cleaners[row](kp)
                body = np.asarray(poses[:, BODY], np.float32)
                tmp = files[row].with_suffix(".tmp.npy")
                np.save(tmp, body)
                tmp.replace(files[row])  # whole files only: an interrupted run resumes where it stopped
                out[row][i].append(body)
    return out


def _holistic(body: np.ndarray) -> np.ndarray:
    """(T, 15, 3) body joints -> (T, 75, 3) holistic75 with NaN elsewhere."""
    full = np.full((len(body), 75, 3), np.nan, np.float32)
    full[:, BODY] = body
    return full


def _summary(values: list[float]) -> dict[str, float | list[float]]:
    a = np.asarray(values, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "per_seed": [float(x) for x in a]}


# --- the pretrained-vs-scratch pair (torch: training code, imported only here) ---------------------------

WINDOW = 32  # the refiner's window


def encoder_classifier(num_classes: int, state: dict | None = None, config: dict | None = None) -> Any:
    """The refiner's encoder with a mean-pool and a linear head, as a ``torch.nn.Module`` (torch is imported here, not at the top).

    Args:
        num_classes: outputs of the head.
        state: a ``NormalisedRefiner`` state dict (``onnx_state_dict``); its embedding,
            positional embedding (or a cached model's distance bias), mask token,
            transformer layers and final norm are copied in. None = the same architecture at its random initialisation.
        config: the refiner's ``RefinerConfig`` fields (default: the shipped shape).

    Returns:
        the module: ``forward(x (B, t, 75, 3) normalised, present (B, t, 75)) -> (B, num_classes)``.
    """
    import torch
    import torch.nn as nn

    from skeletor.refiner.model import RefinerConfig, SkeletorRefiner

    cfg = RefinerConfig(**{k: v for k, v in (config or {}).items() if k in RefinerConfig.__dataclass_fields__})
    # A classifier sees the whole window: full attention, or for a cached (banded) refiner its
    # own band, each frame reaching w * L + 1 >= T frames back, pooled over the window.
    cfg = replace(cfg, lookahead=0, bidirectional=not cfg.band)

    class _Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.core = SkeletorRefiner(cfg)
            if state is not None:
                self.core.load_state_dict({k[len("core.") :]: v for k, v in state.items() if k.startswith("core.")})
            del self.core.head  # the refiner's correction layer: the classifier has its own head
            self.head = nn.Linear(cfg.d_model, num_classes)

        def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
            return self.head(self.core.hidden_states(x, present).mean(dim=1))  # (B, t, D) pooled -> (B, classes)

    return _Encoder()


def _windows(body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 32-frame windows (stride 16, the last one flush with the end) of a clip, normalised as the refiner does.

    Returns:
        (x (W, 32, 75, 3) float32, present (W, 32, 75) bool).
    """
    import torch

    from skeletor.refiner.model import window_stats

    full = _holistic(body)
    if len(full) < WINDOW:
        full = np.concatenate([full, np.repeat(full[-1:], WINDOW - len(full), axis=0)])
    starts = sorted(set(range(0, len(full) - WINDOW + 1, WINDOW // 2)) | {len(full) - WINDOW})
    w = np.stack([full[s : s + WINDOW] for s in starts])  # (W, 32, 75, 3)
    ok = np.isfinite(w).all(-1)
    x = torch.from_numpy(np.where(ok[..., None], w, 0.0).astype(np.float32))
    p = torch.from_numpy(ok)
    root, scale = window_stats(x, p)
    x = (x - root[:, None, None]) / scale[:, None, None, None]
    return x.numpy(), ok


def _train_encoder(train: list[tuple[np.ndarray, np.ndarray, int]], test: list[tuple[np.ndarray, np.ndarray, int]], num_classes: int,
                   state: dict | None, config: dict, settings: ProbeSettings, seed: int) -> float:  # fmt: skip
    """Fine-tune one ``encoder_classifier`` on ``train`` windows, return its accuracy on ``test`` views."""
    import torch

    torch.manual_seed(seed)
    model = encoder_classifier(num_classes, state, config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.encoder_lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    xs = np.concatenate([x for x, _, _ in train])
    ps = np.concatenate([p for _, p, _ in train])
    ys = np.concatenate([np.full(len(x), y) for x, _, y in train])
    model.train()
    warm = max(1, settings.encoder_steps // 10)
    for step in range(settings.encoder_steps):
        for g in opt.param_groups:
            g["lr"] = settings.encoder_lr * min(1.0, (step + 1) / warm)
        idx = rng.integers(0, len(xs), settings.encoder_batch)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xs[idx]), torch.from_numpy(ps[idx])), torch.from_numpy(ys[idx]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    hits = 0
    with torch.no_grad():
        for x, p, y in test:
            hits += int(model(torch.from_numpy(x), torch.from_numpy(p)).mean(dim=0).argmax().item() == y)
    return hits / len(test)


def encoder_pair(skeletons: list[list[np.ndarray]], clips: list[ProbeClip], settings: ProbeSettings, progress: bool = True) -> dict:
    """Pretrained-init vs scratch encoder classifiers on one row: task -> {pretrained, scratch} summaries."""
    import torch
    from tqdm import tqdm

    from skeletor.refiner.export import onnx_state_dict

    torch.set_num_threads(1)
    config, state = onnx_state_dict(settings.weights or default_weights_path())
    wins = [[_windows(b) for b in views] for views in skeletons]
    groups = [c.group for c in clips]
    out: dict[str, dict] = {}
    bar = tqdm(total=len(TASKS) * settings.encoder_seeds * 2, desc="encoder pair", disable=not progress, unit="fit")
    for task in TASKS:
        labels = sorted({getattr(c, task) for c in clips})
        y = [labels.index(getattr(c, task)) for c in clips]
        acc: dict[str, list[float]] = {"pretrained": [], "scratch": []}
        for seed in range(settings.encoder_seeds):
            fold = fold_of(groups, settings.folds, seed)
            train = [(x, p, y[i]) for i in range(len(clips)) if fold[i] != 0 for x, p in wins[i]]
            test = [(x, p, y[i]) for i in range(len(clips)) if fold[i] == 0 for x, p in wins[i]]
            for init in ("pretrained", "scratch"):
                acc[init].append(_train_encoder(train, test, len(labels), state if init == "pretrained" else None, config, settings, seed))
                bar.update()
        out[task] = {k: _summary(v) for k, v in acc.items()} | {"test_fold": 0, "chance": 1.0 / len(labels)}
    bar.close()
    return out


# --- the benchmark -------------------------------------------------------------------------------------


def select_clips(settings: ProbeSettings) -> list[ProbeClip]:
    """The probe's clips (``probe_clips``), cut to ``settings.contents`` / ``styles`` if given."""
    clips = probe_clips(list_bandai(data_root() / "bandai_namco"))
    if settings.contents:
        keep = sorted({c.content for c in clips})[: settings.contents]
        clips = [c for c in clips if c.content in keep]
    if settings.styles:
        keep = sorted({c.style for c in clips})[: settings.styles]
        clips = [c for c in clips if c.style in keep]
    return clips


def run_probe(settings: ProbeSettings, progress: bool = True) -> dict:
    """Make the skeletons, score every row on both tasks, and run the encoder pair.

    Returns:
        the result dict (``rows``: row -> task -> accuracy summary, ``vs_uplift``: paired
        differences, ``chance``, ``encoder``, ``meta``).
    """
    t0 = time.time()
    clips = select_clips(settings)
    skeletons = make_skeletons(clips, settings, progress)
    fps = 30.0  # Bandai-Namco
    groups = [c.group for c in clips for _ in range(settings.views)]
    _, bandai_test = bandai_split([c.path for c in clips])
    unseen = np.array([c.path in set(bandai_test) for c in clips for _ in range(settings.views)])
    rows: dict[str, dict] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    for row in settings.rows:
        X = np.stack([clip_features(_holistic(b), fps) for views in skeletons[row] for b in views])
        rows[row], per_seed[row] = {}, {}
        for task in TASKS:
            y = np.array([getattr(c, task) for c in clips for _ in range(settings.views)])
            cv = [cross_validate(X, y, groups, settings.folds, seed) for seed in range(settings.seeds)]
            rows[row][task] = _summary([r["accuracy"] for r in cv])
            if unseen.any():  # the clips no refiner was trained on (the accuracy benchmark's test split)
                rows[row][task]["refiner_unseen_clips"] = _summary([float((r["predictions"][unseen] == y[unseen]).mean()) for r in cv])
            per_seed[row][task] = [r["accuracy"] for r in cv]
    chance = {}
    for task in TASKS:
        labels = [getattr(c, task) for c in clips]
        chance[task] = {"uniform": 1.0 / len(set(labels)), "majority": max(labels.count(k) for k in set(labels)) / len(labels)}
    vs = {}
    if "uplift" in rows:
        for row in rows:
            if row != "uplift":
                vs[row] = {t: _summary(list(np.subtract(per_seed[row][t], per_seed["uplift"][t]))) for t in TASKS}
    encoder = {}
    for row in settings.encoder_rows:
        if row in skeletons:
            encoder[row] = encoder_pair(skeletons[row], clips, settings, progress)
    return {
        "rows": rows,
        "vs_uplift": vs,
        "chance": chance,
        "encoder": encoder,
        "meta": {
            "clips": len(clips),
            "refiner_unseen_clips": int(unseen.sum() // settings.views),
            "views": settings.views,
            "samples": len(clips) * settings.views,
            "frames": int(sum(len(b) for views in skeletons[settings.rows[0]] for b in views)),
            "contents": sorted({c.content for c in clips}),
            "styles": sorted({c.style for c in clips}),
            "folds": settings.folds,
            "seeds": settings.seeds,
            "max_frames": settings.max_frames,
            "weights": str(settings.weights or default_weights_path()),
            "offline_weights": str(settings.offline_weights or default_offline_weights_path()),
            "encoder_seeds": settings.encoder_seeds,
            "encoder_steps": settings.encoder_steps,
            "seconds": round(time.time() - t0, 1),
        },
    }


def _pct(s: dict) -> str:
    return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"


def format_table(result: dict) -> str:
    """Markdown tables of a ``run_probe`` result (accuracy %, mean ± std over seeds)."""
    ch = result["chance"]
    n = result["meta"].get("refiner_unseen_clips", 0)
    lines = [f"| skeletons | content acc % | style acc % | content vs (a), paired | style vs (a), paired | content, {n} clips no refiner saw "
             "| style, the same |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for row, r in result["rows"].items():
        d = result["vs_uplift"].get(row)
        diff = [f"{100 * d[t]['mean']:+.1f} ± {100 * d[t]['std']:.1f}" if d else "" for t in TASKS]
        unseen = [_pct(r[t]["refiner_unseen_clips"]) if "refiner_unseen_clips" in r[t] else "" for t in TASKS]
        lines.append(f"| {ROWS[row]} | {_pct(r['content'])} | {_pct(r['style'])} | {diff[0]} | {diff[1]} | {unseen[0]} | {unseen[1]} |")
    lines.append(f"| chance (uniform / majority class) | {100 * ch['content']['uniform']:.1f} / {100 * ch['content']['majority']:.1f} "
                 f"| {100 * ch['style']['uniform']:.1f} / {100 * ch['style']['majority']:.1f} | | | | |")  # fmt: skip
    for row, e in result.get("encoder", {}).items():
        lines += ["", f"Encoder classifier on {ROWS[row]} (held-out fold 0 of each seed's split):", "",
                  "| initialisation | content acc % | style acc % |", "|---|---:|---:|"]  # fmt: skip
        for init in ("pretrained", "scratch"):
            name = "the causal refiner's encoder (ONNX weights)" if init == "pretrained" else "random (scratch)"
            lines.append(f"| {name} | {_pct(e['content'][init])} | {_pct(e['style'][init])} |")
    return "\n".join(lines)


QUICK = {"contents": 4, "styles": 6, "max_frames": 90, "folds": 3, "seeds": 3, "encoder_steps": 10}


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--views", type=int, default=1, help="virtual cameras per clip (default: %(default)s)")
    p.add_argument("--folds", type=int, default=5, help="folds of the split by clip (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=10, help="splits drawn for the linear probe; mean and std over them (default: %(default)s)")
    p.add_argument("--encoder-seeds", type=int, default=3, help="splits drawn for the encoder pair (default: %(default)s)")
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS), help="rows to make and score (default: all)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use the first N frames of each clip")
    p.add_argument("--weights", type=Path, default=None, help="causal refiner ONNX (default: the shipped weights/skeletor_refiner.onnx)")
    p.add_argument("--offline-weights", type=Path, default=None,
                   help="bidirectional refiner ONNX (default: the shipped weights/skeletor_refiner_bidir.onnx)")  # fmt: skip
    p.add_argument("--encoder-rows", nargs="*", choices=list(ROWS), default=["uplift"],
                   help="rows the pretrained-vs-scratch encoder pair is trained on (none: leave it out; default: uplift)")  # fmt: skip
    p.add_argument("--encoder-steps", type=int, default=150, help="fine-tuning steps of each encoder classifier (default: %(default)s)")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 4 contents x 6 styles, 90 frames a clip, 3 folds, 3 seeds, 10 encoder steps"
    )
    p.add_argument("--json", type=Path, default=RESULTS / "probe.json", help="where to write the results (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _settings(args: argparse.Namespace) -> ProbeSettings:
    for name in ("views", "folds", "seeds", "encoder_seeds", "encoder_steps"):
        if getattr(args, name) < 1 or (name == "folds" and args.folds < 2):
            raise ValueError(f"--{name.replace('_', '-')} must be at least {2 if name == 'folds' else 1}")
    for w in (args.weights, args.offline_weights):
        if w is not None and not w.is_file():
            raise ValueError(f"{w}: no such weights file")
    s = ProbeSettings(views=args.views, folds=args.folds, seeds=args.seeds, rows=tuple(args.rows), max_frames=args.max_frames,
                      weights=args.weights, offline_weights=args.offline_weights, encoder_rows=tuple(args.encoder_rows),
                      encoder_seeds=args.encoder_seeds, encoder_steps=args.encoder_steps)  # fmt: skip
    if args.quick:
        s = replace(s, **QUICK)
    return s


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """``skeletor bench probe``: run, print the table, write the JSON (exit 2 on bad options).

    ``argv`` (the options, when called from ``main``) only goes into the results' ``command``.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = _settings(args)
    except ValueError as e:
        log.error("%s", e)
        return 2
    result = run_probe(settings, progress=not args.no_progress)
    given = sys.argv[sys.argv.index("probe") + 1 :] if "probe" in sys.argv else sys.argv[1:]
    result["meta"]["command"] = " ".join(["skeletor bench probe", *given]) if argv is None else " ".join(["skeletor bench probe", *argv])
    print(format_table(result))
    write_result(args.json, result)
    print(f"wrote {args.json}")
    return 0


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench probe``."""
    p = sub.add_parser("probe", help="downstream probe: classify Bandai motions from raw, smoothed, refined and true skeletons (Table 5)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _add_options(p)
    p.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.probe``: the same options as ``skeletor bench probe``."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_options(ap)
    return run(ap.parse_args(argv), argv)


if __name__ == "__main__":
    raise SystemExit(main())
