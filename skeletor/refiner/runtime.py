"""Run the Skeletor refiner live: ONNX Runtime, provider choice, and the streaming window.

No torch here (``TorchRefiner``, for benchmarks, imports it when constructed).

One module, longer than most: the provider choice, the window state and the two back ends
share the streaming contract below, which is easiest to keep right in one place.

Streaming contract (the model's, see ``skeletor.refiner.model``): the refiner reads the
last ``T = window`` frames and emits the frame ``k = lookahead`` frames behind the newest.

* ``push(pose, present)`` after the ``n``-th frame (``n`` = 0, 1, ...) returns frame
  ``n - k`` refined, or None while ``n < k``. Each push is one model call.
* Until ``T`` frames have been pushed, the window is padded at the start with frames in
  which no joint is present (zeros, present 0). The model never reads the coordinates
  of absent joints (they become its learned mask token), so this is the same as
  repeating the first frame with present 0; it was trained on such windows.
* ``flush()`` pushes ``k`` empty frames (nothing present) to get the last ``k`` frames
  out, then resets. ``refine_sequence`` gives exactly what ``push`` on every frame and
  then ``flush`` give, in batches.

Hands apart (``RuntimeConfig.hands_apart``, holistic75 only): the body is refined in a
window with the hands hidden (absent joints are the model's mask token), and each hand's
joints come from the input's emitted frame, relative to their body wrist, put on the refined
wrist: one model call. The refiner's supervised training pairs are of bodies without hands
(no finger truth), so it neither improves fingers nor keeps their chirality (on real
MediaPipe Holistic clips its hands have the fingers on the back of the palm in about a
third of the frames), and hands in its input make its body output shakier; see
``RuntimeConfig``. With ``RuntimeConfig.refine_hands`` the hands are refined too, in a
second window of the same call (batch 2): the window as it is, its hand joints kept and
moved with their wrist onto the body answer's wrist.

Cached models (ONNX layout 3, ``RefinerConfig.band``): the same window is kept (its
statistics normalise the newest frame, its presence gives the confidences), but only the
newest frame goes through the model (:mod:`skeletor.refiner.cached`), with its stream's
``StepCache`` (each layer's keys and values of the last ``w`` frames); the staged window carries the cache, and refining it
advances the cache by that frame, so each staged window is refined once, in order.
``refine_sequence`` streams the frames one by one. The answers are exactly the model's on
the whole stream (``tests/skeletor/refiner/test_cached.py``).

Output confidence per joint: 1 = observed in the emitted frame, 0.5 = absent there but
observed elsewhere in the window (the refiner filled it in), 0 = not observed anywhere
in the window (its coordinates are NaN, the repository's convention for missing joints).

Coordinates: camera frame (x right, y down, z forward), in whatever unit the caller
uses; each window is normalised (centred on its robust root, divided by its shoulder
width: :func:`window_stats`) before the model's core and put back after it, so answers
come in the same unit. Shipped files (layout 2) hold the core alone and this module does
the normalisation in numpy; files of layout 1 do it inside their graph (sorts, gathers
and ``If`` nodes that cost ONNX Runtime more than the numpy does). Both load.
"""

from __future__ import annotations

import functools
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skeletor.pose.skeleton import HOLISTIC75, LEFT_HAND, RIGHT_HAND
from skeletor.refiner.cached import StepCache, step
from skeletor.refiner.windows import carry_hands, emitted_frame, normalise_windows, window_stats

__all__ = [
    "RefinerWeightsError",
    "ProviderUnavailableError",
    "PROVIDERS",
    "default_weights_path",
    "RuntimeConfig",
    "OnnxRefiner",
    "TorchRefiner",
    "choose_providers",
    "PROVIDER_ALIASES",
    "window_stats",
]

log = logging.getLogger(__name__)

_HANDS = np.array(LEFT_HAND + RIGHT_HAND)  # holistic75 hand joints
_HAND_WRISTS = ((np.array(LEFT_HAND), 15), (np.array(RIGHT_HAND), 16))  # each hand's joints, the body wrist it hangs from


# Written by skeletor.refiner.export (kept in step by tests/skeletor/test_runtime.py).
FORMAT = "skeletor-refiner"
LAYOUT_VERSION = 2  # what the exporter writes: the model's core, normalised by the runtime
# Layouts this runtime reads: 1 = camera-frame poses in and out (the window's root and scale
# computed inside the graph); 2 = the core alone, fed normalised poses (``window_stats``).
# 3 = a cached (banded) model's step: the newest frame, normalised, and each layer's keys and
# values of the last w frames in; the frame refined and the shifted cache out (graph.refiner_step_graph).
READABLE_VERSIONS = (1, 2, 3)
_INPUTS = {1: "poses", 2: "normalised", 3: "normalised"}  # the coordinates input of each layout
_STEP_INPUTS = {"normalised", "present", "past_keys", "past_values", "past_present"}

PROVIDER_ALIASES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

Frame = tuple[np.ndarray, np.ndarray]  # (pose (J, 3) float32, confidence (J,) float32)
# (poses (T, J, 3) float32, present (T, J) float32, oldest frame first; the stream's StepCache for a cached model, else None)
Window = tuple[np.ndarray, np.ndarray, "StepCache | None"]


# What ``--provider`` accepts: ``auto`` takes the fastest available (TensorRT, then CUDA, then
# the CPU) and says which; the others are a demand, and an error when they cannot be met.
PROVIDERS: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt")
_AUTO_ORDER: tuple[str, ...] = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_MISSING_HOW: dict[str, str] = {
    "CUDAExecutionProvider": "install onnxruntime-gpu in place of onnxruntime (never both) and a CUDA 12 runtime",
    "TensorrtExecutionProvider": "install onnxruntime-gpu in place of onnxruntime (never both) and tensorrt (pip install tensorrt)",
}


def default_weights_path() -> Path:
    """The shipped refiner: ``weights/skeletor_refiner.onnx`` beside the package."""
    return Path(__file__).resolve().parents[2] / "weights" / "skeletor_refiner.onnx"


class RefinerWeightsError(RuntimeError):
    """The refiner's weights file is missing, unreadable, or not a Skeletor refiner."""


class ProviderUnavailableError(RuntimeError):
    """An explicitly requested execution provider is not available (or did not start)."""


@dataclass(frozen=True)
class RuntimeConfig:
    """How to run the refiner.

    Attributes:
        weights: the ONNX file written by ``skeletor.refiner.export``; None = the shipped
            weights (:func:`default_weights_path`).
        provider: ``auto`` (TensorRT, then CUDA, then the CPU: the first available, and
            logged), or ``cpu`` / ``cuda`` / ``tensorrt``: exactly that one, else
            :class:`ProviderUnavailableError` naming what is missing (never a silent CPU
            fallback). A full ONNX Runtime provider name is accepted too.
        threads: CPU intra-op threads. 1 leaves the other cores to the detector, and one
            thread is also the fastest on a busy 2-core machine (a batch-1 call under
            contention: 2.2 ms on 1 thread, 8.6 ms on 2); 0 = ONNX Runtime's default (all
            cores). The same default in every tool and benchmark.
        max_batch: largest batch ``refine_sequence`` sends (and TensorRT's profile maximum).
        trt_cache_dir: TensorRT engine cache folder, so engines are built once
            (default ``~/.cache/skeletor/trt``).
        trt_fp16: let TensorRT run in fp16 (about 2x faster; coordinates are normalised
            inside the model, so fp16 range is ample).
        hands_apart: refine the body without the hands in view (see the module docstring;
            holistic75 models only). The supervised pairs the refiner learnt from
            (Bandai-Namco mocap) have no hands, and hands in its input shake its body output:
            on the 10 real MediaPipe Holistic clips of ``skeletor bench accuracy`` the
            upper-body jitter is 24.4 mm/frame^2 for the uplift, 21.1 refined with the hands
            in the body's window and 14.0 with the hands apart. Bodies without hands are
            unchanged. False = one call with everything, hands refined with the body (the
            paper's protocol).
        refine_hands: with ``hands_apart``, also refine the hands, in a second window of the
            same call (batch 2 while a hand is in view). Off: the hands are the input's
            (the cleaner gives the detector's 3D hand, ``CleanerConfig.detector_hands``),
            carried on the refined wrist, one batch-1 call. The refiner never saw finger
            truth; on the real clips of ``skeletor bench rig`` its hands are mirrored
            (fingers on the back of the palm) in about a third of the frames, and the rig's
            finger FK error is 1.51 cm against 0.98 with the carried hands
            (docs/decisions.md, "hands from the detector").
    """

    weights: str | Path | None = None
    provider: str = "auto"
    threads: int = 1
    max_batch: int = 64
    trt_cache_dir: str | None = None
    trt_fp16: bool = True
    hands_apart: bool = True
    refine_hands: bool = False

    def __post_init__(self) -> None:
        if self.threads < 0 or self.max_batch < 1:
            raise ValueError(f"threads must be >= 0 and max_batch >= 1, got {self.threads}, {self.max_batch}")
        known = self.provider.lower() in PROVIDERS or self.provider.lower() in PROVIDER_ALIASES or self.provider in _AUTO_ORDER
        if not known:
            raise ValueError(f"unknown provider {self.provider!r}; choose one of {', '.join(PROVIDERS)}")

    @property
    def weights_path(self) -> Path:
        """The weights file to load (the shipped one when ``weights`` is None)."""
        return Path(self.weights).expanduser() if self.weights is not None else default_weights_path()

    @property
    def providers(self) -> tuple[str, ...]:
        """Full ONNX Runtime provider names in order of preference (one when explicit)."""
        if self.provider.lower() == "auto":
            return _AUTO_ORDER
        return (PROVIDER_ALIASES.get(self.provider.lower(), self.provider),)

    @property
    def explicit(self) -> bool:
        """A provider was demanded (not ``auto``)."""
        return self.provider.lower() != "auto"


def choose_providers(preference: tuple[str, ...] | list[str], available: list[str]) -> list[str]:
    """The preferred providers that are available, in preference order.

    Args:
        preference: provider names or aliases (``tensorrt``, ``cuda``, ``cpu``).
        available: what ``onnxruntime.get_available_providers()`` says.

    Returns:
        Full provider names, best first (duplicates dropped).

    Raises:
        ProviderUnavailableError: none of the preferred providers is available; says what to install.
    """
    chosen: list[str] = []
    for name in preference:
        full = PROVIDER_ALIASES.get(name.lower(), name)
        if full in available and full not in chosen:
            chosen.append(full)
    if not chosen:
        wanted = [PROVIDER_ALIASES.get(n.lower(), n) for n in preference]
        how = "; ".join(_MISSING_HOW[w] for w in wanted if w in _MISSING_HOW)
        raise ProviderUnavailableError(
            f"execution provider {', '.join(wanted)} is not available in this onnxruntime (it has: {', '.join(available)})"
            + (f": {how}" if how else "")
        )
    return chosen


@functools.cache
def _load_gpu_libraries() -> None:
    """Load CUDA and cuDNN from the nvidia-* pip packages, once a process: onnxruntime-gpu from
    PyPI (>= 1.21) finds them only then, unless torch was imported first."""
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()


class _WindowedRefiner(ABC):
    """The streaming window shared by the ONNX and torch back ends.

    Not thread-safe: one stream per instance (``reset`` between streams).
    """

    cache_shape: tuple[int, int, int, int] | None = None  # (L, H, w, hd) of a cached model's step, else None

    def __init__(
        self, window: int, lookahead: int, joints: int, hands_apart: bool = False, refine_hands: bool = False
    ) -> None:
        """Args:
            window, lookahead, joints: the model's (from its metadata or config).
            hands_apart: refine the body without the hands (``RuntimeConfig.hands_apart``); only
                a holistic75 model (75 joints) has hands, so for any other it stays off.
            refine_hands: with ``hands_apart``, refine the hands in a second window
                (``RuntimeConfig.refine_hands``); off, they are the input's, on the refined wrist.
        """
        if not 0 <= lookahead < window:
            raise ValueError(f"lookahead must be in [0, window={window}), got {lookahead}")
        self.window, self.lookahead, self.joints = window, lookahead, joints
        self.hands_apart = hands_apart and joints == len(HOLISTIC75.joints)
        self.refine_hands = refine_hands and self.hands_apart
        self.reset()

    @abstractmethod
    def _infer(self, poses: np.ndarray, present: np.ndarray, caches: list[StepCache] | None = None, lane: str = "body") -> np.ndarray:
        """One model call: poses (B, T, J, 3) float32, present (B, T, J) float32 -> emitted frames (B, J, 3).

        A cached model steps each window's newest frame with ``caches[b]``'s ``lane`` and advances it.
        """

    def _refine_windows(self, poses: np.ndarray, present: np.ndarray, caches: list[StepCache] | None = None) -> np.ndarray:
        """The emitted frames (B, J, 3) of windows (B, T, J, 3) with present (B, T, J): one model call.

        With ``hands_apart``, the body is refined with the hands hidden and the hands are
        carried on its wrists; with ``refine_hands`` too, each window holding a hand joint is
        sent a second time, as it is, in the same call (module docstring).
        """
        if not self.hands_apart:
            return self._infer(poses, present, caches)
        with_hands = np.flatnonzero(present[:, :, _HANDS].any(axis=(1, 2)))  # (H,) windows with a hand joint
        if len(with_hands) == 0:
            return self._infer(poses, present, caches)
        body_present = present.copy()
        body_present[:, :, _HANDS] = 0.0  # absent joints are the model's mask token: their coordinates are not read
        if not self.refine_hands:
            return carry_hands(self._infer(poses, body_present, caches), poses, present, self.emit_index)
        b = len(poses)
        if caches is not None:  # a cached model: the hands' windows step their own lane
            body = self._infer(poses, body_present, caches)
            hands = self._infer(poses[with_hands], present[with_hands], [caches[i] for i in with_hands], lane="hands")
        else:
            out = self._infer(np.concatenate([poses, poses[with_hands]]), np.concatenate([body_present, present[with_hands]]))
            body, hands = out[:b], out[b:]  # (B, J, 3), (H, J, 3)
        for hand, wrist in _HAND_WRISTS:
            # (H, 21, 3): each hand's joints relative to its wrist in the second answer, put on the first answer's wrist
            body[with_hands[:, None], hand] = hands[:, hand] - hands[:, [wrist]] + body[with_hands][:, [wrist]]
        return body

    @property
    def emit_index(self) -> int:
        """Window index of the emitted frame, ``T - 1 - k``."""
        return self.window - 1 - self.lookahead

    @property
    def frames_pushed(self) -> int:
        """Frames pushed since the last ``reset`` (or ``flush``)."""
        return self._count

    def reset(self) -> None:
        """Forget the stream: the next push is frame 0 of a new one."""
        self._poses = np.zeros((self.window, self.joints, 3), dtype=np.float32)  # ring buffer
        self._present = np.zeros((self.window, self.joints), dtype=np.float32)
        self._count = 0
        self._cache = StepCache(*self.cache_shape) if self.cache_shape else None

    def _check_frame(self, pose: np.ndarray, present: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(J, 3) pose and (J,) present (None = every finite joint) as float32, absent joints zeroed."""
        pose = np.asarray(pose, dtype=np.float32)
        if pose.shape != (self.joints, 3):
            raise ValueError(f"pose: expected ({self.joints}, 3), got {pose.shape}")
        ok = np.isfinite(pose).all(axis=-1)
        if present is not None:
            present = np.asarray(present)
            if present.shape != (self.joints,):
                raise ValueError(f"present: expected ({self.joints},), got {present.shape}")
            ok &= present > 0
        return np.where(ok[:, None], pose, np.float32(0.0)), ok.astype(np.float32)

    def _finish(self, refined: np.ndarray, present: np.ndarray) -> Frame:
        """Emitted pose and confidence from the model output (J, 3) and the window's present (T, J)."""
        return emitted_frame(np.asarray(refined, np.float32), np.asarray(present), self.emit_index)

    def push(self, pose: np.ndarray, present: np.ndarray | None = None) -> Frame | None:
        """Add the newest frame; get frame ``n - k`` refined (None while fewer than ``k + 1`` frames came).

        Args:
            pose: (J, 3) camera-frame coordinates; NaN marks an absent joint.
            present: (J,) bool or confidence (> 0 = present), or None for every finite joint.

        Returns:
            (pose (J, 3) float32, confidence (J,) float32) of the emitted frame, or None.

        Raises:
            ValueError: wrong shapes.
        """
        window = self.stage(pose, present)
        return None if window is None else self.refine_windows([window])[0]

    def stage(self, pose: np.ndarray, present: np.ndarray | None = None) -> Window | None:
        """Add the newest frame, as ``push`` does, but leave the model call to :meth:`refine_windows`.

        Several streams (one per person, from :meth:`new_stream`) stage their frames, and
        one ``refine_windows`` call refines all their windows at once.

        Args:
            pose: (J, 3) camera-frame coordinates; NaN marks an absent joint.
            present: (J,) bool or confidence (> 0 = present), or None for every finite joint.

        Returns:
            The window whose emitted frame (``n - k``) is now due: poses (T, J, 3) and
            present (T, J) float32, oldest frame first, copies, and for a cached model the
            stream's cache (refine each staged window once, in order: the call advances
            it); None while fewer than ``k + 1`` frames came.

        Raises:
            ValueError: wrong shapes.
        """
        slot = self._count % self.window
        self._poses[slot], self._present[slot] = self._check_frame(pose, present)
        self._count += 1
        if self._count <= self.lookahead:
            return None
        order = (self._count + np.arange(self.window)) % self.window  # oldest slot first
        return self._poses[order], self._present[order], self._cache  # (T, J, 3), (T, J)

    def refine_windows(self, windows: list[Window]) -> list[Frame]:
        """Refine staged windows (of any streams on this model) in one model call.

        Args:
            windows: what :meth:`stage` returned, from this refiner or the streams of
                :meth:`new_stream`.

        Returns:
            (pose (J, 3) float32, confidence (J,) float32) of each window's emitted frame, in order.
        """
        if not windows:
            return []
        poses = np.stack([w[0] for w in windows])  # (B, T, J, 3)
        pres = np.stack([w[1] for w in windows])  # (B, T, J)
        caches = [w[2] for w in windows] if self.cache_shape else None
        refined = self._refine_windows(poses, pres, caches)  # type: ignore[arg-type]  # (B, J, 3)
        return [self._finish(refined[i], pres[i]) for i in range(len(windows))]

    def new_stream(self) -> _WindowedRefiner:
        """Another streaming window on this refiner's model: frames of its own, the model (and its sessions) shared.

        One per person when several are cleaned at once; their staged windows can be
        refined together by :meth:`refine_windows`. Not thread-safe, as the model is not.
        """
        return _SharedStream(self)

    def flush(self) -> list[Frame]:
        """Emit the last ``k`` frames (the stream has ended), then ``reset``.

        Returns:
            The remaining frames, oldest first (fewer than ``k`` if fewer were pushed).
        """
        empty = np.full((self.joints, 3), np.nan, dtype=np.float32)
        outs = [out for _ in range(self.lookahead) if (out := self.push(empty)) is not None]
        self.reset()
        return outs

    def refine_sequence(
        self, poses: np.ndarray, present: np.ndarray | None = None, batch: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Refine a whole sequence offline: the same frames ``push`` + ``flush`` give, in batches.

        The streaming state is left untouched.

        Args:
            poses: (N, J, 3) camera frame; NaN marks absent joints.
            present: (N, J) bool or confidence (> 0 = present), or None for every finite joint.
            batch: most windows per model call (with ``refine_hands``, half as many windows,
                each of which may be sent twice).

        Returns:
            (poses (N, J, 3) float32, confidence (N, J) float32).

        Raises:
            ValueError: wrong shapes.
        """
        poses = np.asarray(poses, dtype=np.float32)
        if poses.ndim != 3 or poses.shape[1:] != (self.joints, 3):
            raise ValueError(f"poses: expected (N, {self.joints}, 3), got {poses.shape}")
        n = poses.shape[0]
        ok = np.isfinite(poses).all(axis=-1)
        if present is not None:
            present = np.asarray(present)
            if present.shape != poses.shape[:2]:
                raise ValueError(f"present: expected {poses.shape[:2]}, got {present.shape}")
            ok &= present > 0
        out = np.empty((n, self.joints, 3), dtype=np.float32)
        conf = np.empty((n, self.joints), dtype=np.float32)
        if self.cache_shape:  # a cached model: one step a frame, on a stream of its own
            stream = self.new_stream()
            for i in range(n):
                out[i], conf[i] = stream.push(poses[i], ok[i])  # type: ignore[misc]
            return out, conf
        T, k = self.window, self.lookahead
        past = T - 1 - k
        pad_x = np.zeros((past + n + k, self.joints, 3), dtype=np.float32)  # (past + N + k, J, 3)
        pad_p = np.zeros((past + n + k, self.joints), dtype=np.float32)
        pad_x[past : past + n] = np.where(ok[..., None], poses, np.float32(0.0))
        pad_p[past : past + n] = ok
        # window e (emitting frame e) is pad[e : e + T]
        win_x = np.lib.stride_tricks.sliding_window_view(pad_x, T, axis=0).transpose(0, 3, 1, 2)  # (N, T, J, 3)
        win_p = np.lib.stride_tricks.sliding_window_view(pad_p, T, axis=0).transpose(0, 2, 1)  # (N, T, J)
        step = max(1, batch // 2) if self.refine_hands else batch  # refined hands can send each window twice
        for s in range(0, n, step):
            bx, bp = np.ascontiguousarray(win_x[s : s + step]), np.ascontiguousarray(win_p[s : s + step])
            refined = self._refine_windows(bx, bp)
            for i in range(len(refined)):
                out[s + i], conf[s + i] = self._finish(refined[i], bp[i])
        return out, conf


class _SharedStream(_WindowedRefiner):
    """A streaming window of its own on another refiner's model (:meth:`_WindowedRefiner.new_stream`)."""

    def __init__(self, model: _WindowedRefiner) -> None:
        self._model = model
        self.providers: list[str] = list(getattr(model, "providers", []))
        self.cache_shape = model.cache_shape
        super().__init__(model.window, model.lookahead, model.joints, model.hands_apart, model.refine_hands)

    def _infer(self, poses: np.ndarray, present: np.ndarray, caches: list[StepCache] | None = None, lane: str = "body") -> np.ndarray:
        return self._model._infer(poses, present, caches, lane)


def _metadata_int(meta: dict[str, str], key: str, path: Path) -> int:
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        raise RefinerWeightsError(f"{path}: metadata {key!r} missing or not an integer (has {sorted(meta)})") from None


class OnnxRefiner(_WindowedRefiner):
    """The refiner on ONNX Runtime (TensorRT -> CUDA -> CPU, whichever are available).

    Args:
        cfg: weights path, providers, threads, TensorRT cache.

    Raises:
        RefinerWeightsError: the weights file is missing, unreadable, or lacks the
            refiner's metadata or inputs; the message names the path.
        ProviderUnavailableError: the requested provider is not available, or did not start.
    """

    def __init__(self, cfg: RuntimeConfig = RuntimeConfig()) -> None:
        import onnxruntime as ort  # a dependency, but keep `import skeletor.refiner.runtime` cheap

        self.cfg = cfg
        path = cfg.weights_path
        self.path = path
        if not path.is_file():
            raise RefinerWeightsError(f"{path}: refiner weights not found (RuntimeConfig.weights)")
        available = ort.get_available_providers()
        chosen = choose_providers(cfg.providers, available)
        if chosen[0] != "CPUExecutionProvider":
            _load_gpu_libraries()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cfg.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:  # on the CPU first: check the file before any TensorRT engine is built for it
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
            raise RefinerWeightsError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {e})") from e
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("skeletor.format") != FORMAT:
            found = meta.get("skeletor.format")
            raise RefinerWeightsError(f"{path}: not a Skeletor refiner (metadata skeletor.format={found!r})")
        version = _metadata_int(meta, "skeletor.version", path)
        if version not in READABLE_VERSIONS:
            raise RefinerWeightsError(f"{path}: refiner layout version {version}, this runtime reads {READABLE_VERSIONS}")
        window = _metadata_int(meta, "skeletor.window", path)
        lookahead = _metadata_int(meta, "skeletor.lookahead", path)
        joints = _metadata_int(meta, "skeletor.joints", path)
        self.layout = version
        self._coords = _INPUTS[version]  # the name of the coordinates input
        names = {i.name: i.shape for i in session.get_inputs()}
        if version == 3:
            fits = set(names) == _STEP_INPUTS and list(names["normalised"][1:]) == [joints, 3]
            layers, _, heads, band, head_dims = names.get("past_keys", [0] * 5)
            self.cache_shape = (layers, heads, band, head_dims)
        else:
            fits = set(names) == {self._coords, "present"} and list(names[self._coords][1:]) == [window, joints, 3]
        if not fits:
            want = f"window {window}, joints {joints}"
            raise RefinerWeightsError(f"{path}: inputs {names} do not match its metadata ({want})")
        self.skeleton = meta.get("skeletor.skeleton", "holistic75")
        self.metadata = dict(meta)
        providers = self._provider_options(chosen, window, joints) if chosen[0] != "CPUExecutionProvider" else ["CPUExecutionProvider"]
        if chosen[0] != "CPUExecutionProvider":
            session = ort.InferenceSession(str(path), opts, providers=providers)
        self._session = session
        # Streaming calls have batch 1 (or 2 with refine_hands and a hand in view): a session each
        # with the batch dimension fixed lets ONNX Runtime plan static shapes (about 13 %
        # faster a call on one CPU thread; outputs equal to the dynamic graph's within 2e-6).
        self._fixed: dict[int, Any] = {}
        for batch in (1, 2) if chosen[0] == "CPUExecutionProvider" else ():
            fixed_opts = ort.SessionOptions()
            fixed_opts.intra_op_num_threads, fixed_opts.inter_op_num_threads = cfg.threads, 1
            fixed_opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            fixed_opts.add_free_dimension_override_by_name("batch", batch)
            self._fixed[batch] = ort.InferenceSession(str(path), fixed_opts, providers=providers)
        self.providers: list[str] = session.get_providers()
        if self.providers[0] != chosen[0]:
            if cfg.explicit:
                raise ProviderUnavailableError(
                    f"{chosen[0]} is installed but did not start (ONNX Runtime fell back to {self.providers[0]}); "
                    "check the CUDA / TensorRT libraries it needs, or use --provider auto"
                )
            log.warning("refiner %s: %s did not start; running on %s", path, chosen[0], self.providers[0])
        log.info("refiner %s: window %d, lookahead %d, providers %s", path, window, lookahead, self.providers)
        super().__init__(window, lookahead, joints, hands_apart=cfg.hands_apart, refine_hands=cfg.refine_hands)

    def _provider_options(self, chosen: list[str], window: int, joints: int) -> list[Any]:
        """Providers with their options: TensorRT gets fp16, an engine cache and a fixed profile."""
        out: list[Any] = []
        for name in chosen:
            if name == "TensorrtExecutionProvider":
                cache = Path(self.cfg.trt_cache_dir or "~/.cache/skeletor/trt").expanduser()
                cache.mkdir(parents=True, exist_ok=True)

                def shapes(b: int) -> str:
                    if self.cache_shape:  # a cached model's step
                        L, H, w, hd = self.cache_shape
                        cache = f"{L}x{b}x{H}x{w}x{hd}"
                        return f"normalised:{b}x{joints}x3,present:{b}x{joints},past_keys:{cache},past_values:{cache},past_present:{b}x{w}"
                    return f"{self._coords}:{b}x{window}x{joints}x3,present:{b}x{window}x{joints}"

                out.append((name, {
                    "trt_fp16_enable": self.cfg.trt_fp16,
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(cache),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(cache),
                    "trt_profile_min_shapes": shapes(1),
                    "trt_profile_opt_shapes": shapes(2 if self.cfg.hands_apart and self.cfg.refine_hands else 1),  # a frame with hands in view
                    "trt_profile_max_shapes": shapes(self.cfg.max_batch),
                }))  # fmt: skip
            else:
                out.append(name)
        return out

    def _infer(self, poses: np.ndarray, present: np.ndarray, caches: list[StepCache] | None = None, lane: str = "body") -> np.ndarray:
        session = self._fixed.get(len(poses), self._session)
        if self.layout == 3:
            return step(session, poses, present, caches or [], lane)
        return self._run(session, "refined", poses, present)

    def _run(self, session: Any, output: str, poses: np.ndarray, present: np.ndarray) -> np.ndarray:
        """One call of ``session`` for ``output`` (``refined`` (B, J, 3) or ``window`` (B, T, J, 3)),
        camera-frame poses (B, T, J, 3) and present (B, T, J) in, camera frame out.

        Layout 2 files hold the core alone: the window is centred and scaled here
        (:func:`window_stats`) and the answer put back; layout 1 files do both inside.
        """
        if self.layout == 1:
            return session.run([output], {"poses": poses, "present": present})[0]
        x, ok, root, scale = normalise_windows(poses, present)  # (B, T, J, 3), (B, T, J), (B, 3), (B,)
        r, s = root[:, None, None], scale[:, None, None, None]  # (B, 1, 1, 3), (B, 1, 1, 1)
        y = session.run([output], {"normalised": x, "present": ok})[0]
        if y.ndim == 3:  # (B, J, 3) the emitted frame
            r, s = r[:, 0], s[:, 0]
        return y * s + r

    @property
    def has_window_output(self) -> bool:
        """Whether the file also outputs every frame of the window (``export_onnx(window_output=True)``)."""
        return "window" in {o.name for o in self._session.get_outputs()}

    def infer_windows(self, poses: np.ndarray, present: np.ndarray) -> np.ndarray:
        """One model call returning every refined frame of each window, not only the emitted one.

        Args:
            poses: (B, T, J, 3) float32 camera frame, absent joints 0.
            present: (B, T, J) float32, 1 = observed.

        Returns:
            (B, T, J, 3) float32.

        Raises:
            RefinerWeightsError: the file has no ``window`` output.
        """
        if not self.has_window_output:
            raise RefinerWeightsError(f"{self.path}: no 'window' output (export it with window_output=True)")
        return self._run(self._session, "window", poses, present)

    def refine_sequence(
        self, poses: np.ndarray, present: np.ndarray | None = None, batch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``_WindowedRefiner.refine_sequence`` with batches of at most ``cfg.max_batch``."""
        return super().refine_sequence(poses, present, batch=min(batch or self.cfg.max_batch, self.cfg.max_batch))


class TorchRefiner(_WindowedRefiner):
    """The same streaming refiner on torch (for benchmarks and parity checks); torch is imported here.

    Args:
        model: a training checkpoint path (``ckpt.pt``) or a ``NormalisedRefiner``.
        threads: ``torch.set_num_threads`` (0 = leave it).
        device: torch device.
        hands_apart, refine_hands: as ``RuntimeConfig``'s (holistic75 models only).

    Raises:
        RefinerWeightsError: the checkpoint is missing or unreadable; the message names the path.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Any,
        threads: int = 0,
        device: str = "cpu",
        hands_apart: bool = True,
        refine_hands: bool = False,
    ) -> None:
        import torch

        from skeletor.refiner.model import load_checkpoint

        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise RefinerWeightsError(f"{path}: refiner checkpoint not found")
            try:
                model, _ = load_checkpoint(path)
            except Exception as e:  # torch.load raises many kinds (pickle, zip, key errors)
                raise RefinerWeightsError(f"{path}: not a refiner checkpoint ({type(e).__name__}: {e})") from e
        if threads > 0:
            torch.set_num_threads(threads)
        self._torch = torch
        self._device = torch.device(device)
        self.model = model.to(self._device).eval()
        cfg = model.cfg
        if cfg.band:
            raise RefinerWeightsError("a cached (banded) refiner streams through OnnxRefiner (export it); "
                                      "NormalisedRefiner.forward on a whole sequence gives the same frames in torch")
        self.skeleton = cfg.skeleton
        super().__init__(cfg.window, cfg.lookahead, cfg.joints, hands_apart=hands_apart, refine_hands=refine_hands)

    def _infer(self, poses: np.ndarray, present: np.ndarray, caches: list[StepCache] | None = None, lane: str = "body") -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(poses).to(self._device)
            p = torch.from_numpy(present).to(self._device)
            return self.model.emit(x, p).cpu().numpy()
