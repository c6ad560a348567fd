"""2D -> 3D uplift with constant bone lengths (after Zelinka & Kanis, WACV 2020).

Model
-----
Weak perspective: a joint at camera-frame position ``(X, Y, Z_t + z)`` appears at pixel
``c + sigma_t * (X, Y)``, where ``sigma_t = f / Z_t`` is the subject's scale in pixels per
metre at frame t and ``c`` the image centre. So each joint's X, Y come straight from its
2D position; what the uplift solves is the depth ``z`` of every joint relative to a root.

Along a bone of 3D length L whose 2D projection has length l (in metres, i.e. pixels /
sigma_t), the depth step is ``dz = +-sqrt(L^2 - l^2)``. The magnitude is known; the sign is
the classic ambiguity. It is resolved per bone by a two-state filter (Viterbi forward
recursion) whose transition cost is temporal continuity of dz and whose emission cost
comes from the detector's depth hint (MediaPipe z) where given, and from weak anatomical
priors: the feet and the nose point the way the body faces, the shoulder line turns with
it, and knees bend backwards.

Bone lengths are not known in advance. They are estimated online as a high quantile of
each bone's observed 2D length (a bone is at its full length when parallel to the image),
blended with an anthropometric prior while few frames have been seen, shared between left
and right twins, and anchored so that the body has an average adult size: **units are
metres under that assumption** (the true scale of a monocular view is unknown; all our
scores are scale-invariant).

The tree is ``holistic75`` plus one virtual joint, the neck (mid-shoulders), which is the
root and the parent of the nose and both shoulders.

Two entry points:
    :class:`StreamingUplifter` -- frame by frame, O(1) per frame (about 1 ms on one CPU
        core: ``skeletor bench throughput``), lookahead k
        (0 = causal; k > 0 emits the frame k behind the newest, with k frames of sign
        back-tracking and smoothing).
    :func:`uplift_sequence` -- the whole-sequence uplift: bone lengths from the whole
        sequence, a streaming pass with them for the initial depths, then gradient descent
        on confidence-weighted reprojection error + bone-length term + temporal smoothness
        (left/right share lengths).

Modules, in the order a frame goes through them:
    ``config`` (:class:`UpliftConfig`), ``tree`` (:class:`UpliftTree`: the bone tree and
    its prior lengths), ``lengths`` (online bone lengths and scale), ``priors`` (the depth
    hint's and the anatomy's sign costs), ``signs`` (the depth-sign filter, smoothing and
    back-tracking), ``placement`` (joints onto their viewing rays), ``streaming``
    (:class:`StreamingUplifter`, :func:`uplift_streaming`), ``sequence``
    (:func:`uplift_sequence`, :func:`flat_uplift`).

Output coordinates: camera frame, x right, y down, z forward, metres (see above).
"""

from skeletor.uplift.config import UpliftConfig
from skeletor.uplift.lengths import nanquantile_rows
from skeletor.uplift.sequence import flat_uplift, uplift_sequence
from skeletor.uplift.streaming import StreamingUplifter, UpliftFrame, fill_unestimated, uplift_streaming
from skeletor.uplift.tree import NECK, UpliftTree

__all__ = [
    "UpliftConfig",  # config.py
    "UpliftTree", "NECK",  # tree.py
    "nanquantile_rows",  # lengths.py
    "StreamingUplifter", "UpliftFrame", "uplift_streaming", "fill_unestimated",  # streaming.py
    "uplift_sequence", "flat_uplift",  # sequence.py
]  # fmt: skip
