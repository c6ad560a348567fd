"""Detectors: camera image -> one person's 2D keypoints (the pipeline's first stage).

``DETECTORS`` maps a name (``skeletor-live --detector NAME``) to a
:class:`~realtime.detectors.base.DetectorSpec`. Adding a detector is one new module here
(a class with ``name``, ``skeleton``, ``detect(image, t_ns)``, ``close()`` and a ``SPEC``)
plus one line below. Modules here import their heavy libraries (mediapipe, onnxruntime)
inside the detector's constructor, so the registry itself costs nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from realtime.detectors import holistic, multipose
from realtime.detectors.base import DetectedPose, Detector, DetectorSpec, MultiPersonDetector, check_pose, detect_people, no_person

__all__ = [
    "DETECTORS", "DEFAULT_DETECTOR", "DetectedPose", "Detector", "DetectorSpec", "MultiPersonDetector", "check_pose", "create_detector",
    "detect_people", "no_person",
]  # fmt: skip

DETECTORS: dict[str, DetectorSpec] = {
    "holistic": holistic.SPEC,
    "multipose": multipose.SPEC,
}
DEFAULT_DETECTOR = "holistic"


def create_detector(name: str, options: Mapping[str, Any] | None = None, spec: DetectorSpec | None = None) -> Detector:
    """Build the detector registered as ``name``.

    Args:
        name: a key of ``DETECTORS``.
        options: the detector's own options (as its ``options_from_args`` gives them).
        spec: its registry entry, when the caller has it (a detector process is sent the
            entry, since a detector registered at run time is not in the child's registry).

    Returns:
        A ready detector; the caller closes it.

    Raises:
        ValueError: an unknown name, or options the detector does not take or accept.
    """
    spec = spec if spec is not None else DETECTORS.get(name)
    if spec is None:
        raise ValueError(f"unknown detector {name!r}; expected one of: {', '.join(sorted(DETECTORS))}")
    try:
        return spec.create(dict(options or {}))
    except TypeError as e:  # an option the detector's config has no field for
        raise ValueError(f"detector {name!r}: bad options {dict(options or {})}: {e}") from e
