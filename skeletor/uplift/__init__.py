"""2D -> 3D uplift with constant bone lengths: streaming (live) and whole-sequence (offline)."""

from skeletor.uplift.streaming import (
    NECK,
    StreamingUplifter,
    UpliftConfig,
    UpliftFrame,
    UpliftTree,
    fill_unestimated,
    flat_uplift,
    nanquantile_rows,
    uplift_sequence,
    uplift_streaming,
)

__all__ = [
    "UpliftConfig",
    "StreamingUplifter",
    "UpliftFrame",
    "uplift_streaming",
    "uplift_sequence",
    "flat_uplift",
    "fill_unestimated",
    "UpliftTree",
    "nanquantile_rows",
    "NECK",
]
