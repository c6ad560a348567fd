"""The uplift's settings: one frozen dataclass shared by the streaming and the whole-sequence uplift.

Kept apart from the code that reads it so a caller (the cleaner, the CLI, a benchmark) can
build a configuration without importing the uplift's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UpliftConfig"]


@dataclass(frozen=True)
class UpliftConfig:
    """Settings of the uplift (streaming and whole-sequence).

    Attributes:
        focal_px: focal length in pixels, used only to place the subject at a plausible
            distance (z of the root); None = the larger image side (a ~55 deg webcam).
        min_confidence: joints below this confidence are treated as missing.
        length_quantile: quantile of observed 2D bone lengths taken as the 3D length.
        length_history: frames of history for the online bone-length estimate.
        prior_frames: weight (in frames) of the anthropometric prior in the length estimate.
        scale_quantile: quantile of per-bone (2D length / 3D length) ratios giving the scale.
            Together with ``length_quantile`` it sets how long bones are relative to their
            2D lengths, i.e. how much depth the uplift gives the body: a higher scale
            quantile assumes more bones are seen at full length, and yields more depth.
            None = 0.8 with a known rig (``bone_lengths`` given), 0.6 with lengths
            estimated online. Estimated lengths err per bone (+-5-10 %), and an overlong
            bone gets depth it does not have: the lower quantile gives less depth overall.
            The pair 0.9 / 0.6 was chosen on Bandai-Namco training views and the PyMO walk,
            not the test split (docs/decisions.md).
        scale_smoothing: exponential smoothing of the per-frame scale (0 = none).
        continuity_std: std (metres per frame, plus 15 % of the bone length) of depth steps.
        hint_std: std (metres) trusted in a detector's depth hint; inf ignores hints.
        prior_weight: weight of the anatomical sign priors (facing, knees).
        outlier_ratio: a joint whose 2D bone exceeds this times its 3D length, and which
            jumped, is treated as missing for the frame.
        max_jump_m: a joint moving more than this (metres) in one frame is an outlier.
        carry_half_life: frames over which a missing joint's output confidence halves.
        lookahead: frames of delay (0 = causal). k > 0 back-tracks depth signs k frames.
        limb_ratio_floor: (legs, arms): each of thigh and shank is at least ``legs`` times
            the other, each of upper arm and forearm at least ``arms`` times the other.
            A bone's length is a high quantile of its 2D lengths, which a bone never seen
            straight across the image (a runner's always-bent shank) underestimates; these
            anthropometric bounds (thigh and shank ~0.245 of body height each, forearm
            ~0.8 of the upper arm: Winter, Biomechanics of Human Movement) catch the worst
            of it. (0, 0) turns them off. Legs at 0.95: a standing person's shank leans in
            depth and is never seen at full length, the thigh is; people's thigh/shank
            ratios differ by a few per cent. Chosen on Bandai-Namco training views, the PyMO
            walk and bodies with every bone rescaled by ~4 % (docs/decisions.md).
        soft_signs: causal output uses the posterior mean of each bone's depth sign (the
            minimum-mean-square-error choice) instead of the single most likely sign; an
            uncertain bone is drawn shorter in depth rather than confidently wrong.
        sign_temperature: temperature of that posterior (< 1 sharpens it towards hard
            signs: longer, steadier bones, larger errors when the sign is wrong).
        rigid_soft_signs: after a soft sign has placed a child between its two depth
            solutions (nearer its parent than the bone's length), stretch the bone back to
            its length along the same direction, so every bone keeps its length (the
            uplift's promise). On the public benchmark it costs 0.7 mm N-MPJPE and halves
            the body bone-length CV (5.2 % without it, 2.4 % with it, measured 2026-12-01).
        perspective: place each joint on its pixel's viewing ray at its bone's length from
            its parent (full pinhole model, needs a focal length) instead of weak perspective.
    """

    focal_px: float | None = None
    min_confidence: float = 0.3
    length_quantile: float = 0.9
    length_history: int = 300
    prior_frames: float = 1.0
    scale_quantile: float | None = None
    scale_smoothing: float = 0.8
    continuity_std: float = 0.03
    hint_std: float = 0.15
    prior_weight: float = 1.0
    outlier_ratio: float = 1.3
    max_jump_m: float = 0.6
    carry_half_life: float = 15.0
    lookahead: int = 0
    limb_ratio_floor: tuple[float, float] = (0.95, 0.7)
    perspective: bool = True
    soft_signs: bool = True
    sign_temperature: float = 1.0
    rigid_soft_signs: bool = True

    def focal_length(self, image_size: tuple[int, int]) -> float:
        """The focal length (pixels) the uplift assumes for images of ``image_size`` (width, height)."""
        return float(self.focal_px or max(image_size))
