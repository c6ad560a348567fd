"""Online bone lengths and the subject's scale, estimated from 2D keypoints as they stream in.

A bone is at its full length when it lies parallel to the image, so its 3D length is taken
as a high quantile of its observed 2D lengths over the last ``length_history`` frames,
blended with the anthropometric prior while few frames have been seen, and shared between
left and right twins. Limb ratio floors catch a bone never seen straight (a runner's bent
shank). The estimate is anchored so that the body has an average adult size: **lengths are
metres under that assumption** (the true scale of a monocular view is unknown; every score
we report is scale-invariant).

The scale (pixels per metre at the subject's depth, ``sigma``) of each frame is the ratio of
2D to 3D length that ``scale_quantile`` of the (length-weighted) bones reach, exponentially
smoothed across frames.
"""

from __future__ import annotations

import numpy as np

from skeletor.compiled import njit
from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.tree import UpliftTree

__all__ = ["LengthEstimator", "SortedRing", "nanquantile_rows", "quantile_rows"]


def nanquantile_rows(a: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(a, q, axis=1)`` (linear interpolation) for a 2D array, vectorised.

    numpy's version loops over the rows in Python; this partitions each group of rows
    with the same count of finite values once (see :func:`quantile_rows`). Rows without
    a finite value give NaN, silently.
    """
    a = np.asarray(a, np.float64)
    finite = np.isfinite(a)
    return quantile_rows(np.where(finite, a, np.inf), np.add.reduce(finite, axis=1), q)


def quantile_rows(a: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """(S,) q-quantile (linear interpolation) of the n[i] finite values of each row of ``a``
    (S, N), whose other entries are +inf, so they order last; NaN where n[i] = 0.

    Interpolates between the order statistics around ``q * (n - 1)``, found by a
    selection (``np.partition``) in each row: linear in N, where a full sort of the
    300-frame bone-length history would cost about 0.3 ms a frame.
    """
    return _quantile_rows(np.ascontiguousarray(a, dtype=np.float64), np.asarray(n, dtype=np.int64), float(q))


@njit
def _quantile_rows(a: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:  # pragma: no cover - compiled
    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        if n[i] <= 0:
            continue
        pos = q * (n[i] - 1)
        lo = int(np.floor(pos))
        frac = pos - lo
        part = np.partition(a[i], lo)
        low = part[lo]
        high = part[lo + 1 :].min() if lo + 1 < n[i] else low  # the next order statistic
        out[i] = low * (1.0 - frac) + high * frac
    return out


class SortedRing:
    """A ring buffer of values per row that also keeps each row sorted, for quantiles at O(1).

    The bone-length histories (the uplift's 2D lengths, the refiner's 3D lengths) take a
    high quantile or the median of each bone's last few hundred values, once a frame:
    keeping each row sorted as values come and go (a binary search and a shift per value)
    costs a few microseconds where selecting afresh from the whole history costs ~50.

    Attributes:
        ring: (R, N) the values by slot, +inf where a slot is empty.
        counts: (R,) the values held in each row.
    """

    def __init__(self, rows: int, slots: int) -> None:
        self.ring = np.full((rows, slots), np.inf)
        self._sorted = np.full((rows, slots), np.inf)  # each row's values first, ascending; +inf after
        self.counts = np.zeros(rows, dtype=np.int64)

    def put(self, rows: np.ndarray, slots: np.ndarray, values: np.ndarray) -> None:
        """Write ``values[i]`` into slot ``slots[i]`` of row ``rows[i]`` (int arrays); a NaN or
        infinite value empties the slot. The slot's previous value leaves the row."""
        _ring_put(self.ring, self._sorted, self.counts, rows, slots, np.asarray(values, np.float64))

    def quantile(self, q: float) -> np.ndarray:
        """(R,) the q-quantile (linear interpolation, as ``np.quantile``) of each row's values; NaN for an empty row."""
        return _sorted_quantile(self._sorted, self.counts, float(q))


@njit
def _ring_put(
    ring: np.ndarray, ordered: np.ndarray, counts: np.ndarray, rows: np.ndarray, slots: np.ndarray, values: np.ndarray
) -> None:  # pragma: no cover - compiled
    for i in range(len(rows)):
        r, k, v = rows[i], slots[i], values[i]
        old = ring[r, k]
        if old < np.inf:  # the value leaving: at its place in the sorted row, shift the rest down
            n = counts[r]
            j = np.searchsorted(ordered[r, :n], old)
            ordered[r, j : n - 1] = ordered[r, j + 1 : n].copy()
            ordered[r, n - 1] = np.inf
            counts[r] = n - 1
        if np.isfinite(v):  # the value arriving: after its equals, shift the rest up
            n = counts[r]
            j = np.searchsorted(ordered[r, :n], v, side="right")
            ordered[r, j + 1 : n + 1] = ordered[r, j:n].copy()
            ordered[r, j] = v
            counts[r] = n + 1
            ring[r, k] = v
        else:
            ring[r, k] = np.inf


@njit
def _sorted_quantile(ordered: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:  # pragma: no cover - compiled
    out = np.full(ordered.shape[0], np.nan)
    for r in range(ordered.shape[0]):
        n = counts[r]
        if n > 0:
            pos = q * (n - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, n - 1)
            frac = pos - lo
            out[r] = ordered[r, lo] * (1.0 - frac) + ordered[r, hi] * frac
    return out


class LengthEstimator:
    """The bone lengths (metres) and scale (pixels per metre) of one stream, updated frame by frame.

    Attributes:
        lengths: (B,) the current bone lengths, metres, in ``UpliftTree`` bone order.
        sigma: the smoothed scale, pixels per metre; None until a frame showed two bones.
        scale_quantile: the quantile of per-bone 2D / 3D length ratios taken as the scale
            (``UpliftConfig.scale_quantile``, or its default for a known or estimated rig).
    """

    def __init__(self, tree: UpliftTree, config: UpliftConfig, known: np.ndarray | None = None) -> None:
        """Args:
            tree: the uplift tree.
            config: settings (length and scale fields).
            known: optional (B,) known rig, metres, float64; NaN entries are estimated.
        """
        self.tree = tree
        self.config = config
        self.known = known
        r_leg, r_arm = config.limb_ratio_floor
        pairs = [("left_ankle", "left_knee", r_leg), ("left_knee", "left_ankle", r_leg),
                 ("left_wrist", "left_elbow", r_arm), ("left_elbow", "left_wrist", r_arm)]  # fmt: skip
        # each bone at least ratio x its neighbour (a ratio < 1 never lifts both of a pair)
        self._floor_bone = np.array([tree.shared_id(a) for a, _, _ in pairs])
        self._floor_of = np.array([tree.shared_id(b) for _, b, _ in pairs])
        self._floor_ratio = np.array([r for _, _, r in pairs])
        self.scale_quantile = config.scale_quantile if config.scale_quantile is not None else (0.6 if known is None else 0.8)
        # each bone's place in the history: its shared length's row, column 0 (first twin) or 1 (second)
        self._bones = np.concatenate([tree.share_first, tree.share_second])
        self._rows = tree.share[self._bones]
        self._twin = np.concatenate([np.zeros(len(tree.share_first), np.int64), np.ones(len(tree.share_second), np.int64)])
        self.reset()

    def reset(self) -> None:
        """Forget every observation: back to the prior (or the known rig)."""
        t = self.tree
        self._pooled = SortedRing(t.num_shared, 2 * self.config.length_history)  # see update
        self._hist_n = 0
        self.lengths = t.prior.copy() if self.known is None else np.where(np.isfinite(self.known), self.known, t.prior)
        self.sigma: float | None = None

    def scale(self, xy_px: np.ndarray, c: np.ndarray) -> float:
        """Update the smoothed scale with this frame and return it (300 px/m before any estimate).

        Args:
            xy_px: (76, 2) keypoints with the neck, pixels.
            c: (76,) confidences, 0 = not seen.
        """
        cfg = self.config
        sigma = self.estimate_scale(xy_px, c)
        if sigma is not None:
            self.sigma = sigma if self.sigma is None else cfg.scale_smoothing * self.sigma + (1 - cfg.scale_smoothing) * sigma
        return self.sigma or 300.0

    def estimate_scale(self, xy_px: np.ndarray, c: np.ndarray) -> float | None:
        """Pixels per metre of this frame alone, from bones seen at full length; None with fewer than two bones seen."""
        t = self.tree
        ok = (c[t.children] > 0) & (c[t.bone_parent] > 0) & (t.prior > 0.02)
        if np.count_nonzero(ok) < 2:
            return None
        v = xy_px[t.children[ok]] - xy_px[t.bone_parent[ok]]
        l2d = np.sqrt(np.add.reduce(v * v, axis=-1))
        ratio = l2d / np.maximum(self.lengths[ok], 1e-6)
        # Weighted towards long bones: weight by length so fingers do not dominate.
        order = np.argsort(ratio)
        w = self.lengths[ok][order]
        cw = np.cumsum(w) / w.sum()
        return float(ratio[order][np.searchsorted(cw, self.scale_quantile)])

    def update(self, d: np.ndarray, valid: np.ndarray) -> None:
        """Add one frame's observed 2D bones to the history and re-estimate ``lengths``.

        Args:
            d: (B, 2) the frame's 2D bone vectors, metres at the subject's depth.
            valid: (B,) bones whose both ends were observed in this frame.
        """
        t, cfg = self.tree, self.config
        row = np.where(valid, np.sqrt(np.add.reduce(d * d, axis=-1)), np.inf)  # (B,) observed 2D lengths, inf = not seen
        # Ring buffer of the last H frames, left/right twins pooled: (S, 2H), one row per
        # shared length; frame slot k in columns 2k (first twin) and 2k + 1 (second twin).
        k = self._hist_n % cfg.length_history
        self._pooled.put(self._rows, 2 * k + self._twin, row[self._bones])
        self._hist_n += 1
        counts = self._pooled.counts  # (S,) observations of each length
        q = self._pooled.quantile(cfg.length_quantile)  # (S,), NaN where a length has no observation
        n_obs = counts / t.share_size  # (S,) frames observed
        prior_s = t.prior_shared
        seen = counts > 0  # q is NaN exactly where a length has no observation
        est = np.where(seen, (n_obs * np.where(seen, q, 0.0) + cfg.prior_frames * prior_s) / (n_obs + cfg.prior_frames), prior_s)
        est[self._floor_bone] = np.maximum(est[self._floor_bone], self._floor_ratio * est[self._floor_of])  # limb ratio floors
        lengths = est[t.share]
        ref = t.reference
        seen_ref = n_obs[t.share[ref]] > 0
        if seen_ref.any():  # anchor the absolute size on the reference bones
            lengths *= t.prior[ref][seen_ref].sum() / max(lengths[ref][seen_ref].sum(), 1e-9)
        if self.known is not None:
            lengths = np.where(np.isfinite(self.known), self.known, lengths)
        self.lengths = lengths
