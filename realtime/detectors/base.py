"""The detector stage: one camera image in, one person's 2D keypoints out.

A detector turns a BGR image into keypoints in a joint layout the cleaner knows, today
``holistic75`` (:data:`skeletor.pose.skeleton.HOLISTIC75`: MediaPipe Pose's 33 landmarks, then
the subject's left and right hand, 21 points each). Keypoints are pixels of that image,
origin top-left, y down; a joint the detector did not find has confidence 0 and NaN x, y.
A detector may add a relative depth hint per joint (pixels, smaller = nearer; MediaPipe's
landmark z), which the uplift uses to settle which way a bone leans.

Detectors are picked by name (``skeletor-live --detector NAME``) from the registry in
:mod:`realtime.detectors`; each registry entry is a :class:`DetectorSpec`. Detection runs
in the pipeline's worker thread, one image at a time, in capture order, so a detector may
keep state between frames (tracking) and need not be thread-safe.

A detector that sees several people is also a :class:`MultiPersonDetector`: its
``detect_people`` gives every person found in the image (up to its ``max_people``), and its
``detect`` the first of them, so it works wherever one person is expected. Which person is
which from image to image is not its concern (``skeletor.tracking`` gives stable ids);
:func:`detect_people` asks any detector for its list of people.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from skeletor.pose.skeleton import Skeleton

__all__ = ["DetectedPose", "Detector", "DetectorSpec", "MultiPersonDetector", "check_pose", "detect_people", "no_person"]


class DetectedPose(NamedTuple):
    """One image's detection (a tuple, so ``keypoints, depth, found = detector.detect(...)`` works).

    Attributes:
        keypoints: (J, 3) float32 x px, y px, confidence in [0, 1]; missing = confidence 0, x, y NaN.
        depth: (J,) float32 relative depth hint in pixels (smaller = nearer), NaN where unknown; or None.
        person_found: whether a person was detected at all (False = every joint missing).
    """

    keypoints: np.ndarray
    depth: np.ndarray | None
    person_found: bool


def no_person(skeleton: Skeleton, with_depth: bool = True) -> DetectedPose:
    """The detection of an image with nobody in it: every joint missing."""
    kp = np.full((skeleton.num_joints, 3), np.nan, dtype=np.float32)
    kp[:, 2] = 0.0
    depth = np.full(skeleton.num_joints, np.nan, dtype=np.float32) if with_depth else None
    return DetectedPose(kp, depth, False)


@runtime_checkable
class Detector(Protocol):
    """Turns camera images into 2D keypoints of one person.

    Attributes:
        name: the registry name (``"holistic"``), for logs and messages.
        skeleton: the joint layout of its keypoints (the cleaner needs ``holistic75``).
    """

    name: str
    skeleton: Skeleton

    def detect(self, image: np.ndarray, t_ns: int) -> DetectedPose:
        """Detect the person in one image.

        Args:
            image: (H, W, 3) uint8 BGR, as OpenCV reads it.
            t_ns: the image's capture time, monotonic nanoseconds (it increases from frame
                to frame; video-mode detectors that track need it).

        Returns:
            The keypoints in ``skeleton``'s layout, pixels of ``image``.

        Raises:
            ValueError: not an (H, W, 3) uint8 image.
        """
        ...

    def close(self) -> None:
        """Free the model (idempotent)."""
        ...


@runtime_checkable
class MultiPersonDetector(Detector, Protocol):
    """A :class:`Detector` that finds several people in one image.

    Attributes:
        max_people: the most people ``detect_people`` returns.
    """

    max_people: int

    def detect_people(self, image: np.ndarray, t_ns: int) -> list[DetectedPose]:
        """Detect everyone in one image.

        Args:
            image: (H, W, 3) uint8 BGR.
            t_ns: the image's capture time, monotonic nanoseconds (increasing).

        Returns:
            One :class:`DetectedPose` per person found (``person_found`` True each), at most
            ``max_people``, the largest person in the image first; empty when no one is there.
            The order says nothing about who is who from one image to the next.

        Raises:
            ValueError: not an (H, W, 3) uint8 image.
        """
        ...


def detect_people(detector: Detector, image: np.ndarray, t_ns: int) -> list[DetectedPose]:
    """Everyone ``detector`` finds in ``image``: its ``detect_people`` where it has one, else its one person (or none).

    Args:
        detector: any detector.
        image: (H, W, 3) uint8 BGR.
        t_ns: capture time, monotonic nanoseconds.

    Returns:
        The people found (see :meth:`MultiPersonDetector.detect_people`), each checked with :func:`check_pose`.

    Raises:
        ValueError: a bad image, or keypoints not in the detector's shape.
    """
    if isinstance(detector, MultiPersonDetector):
        people = detector.detect_people(image, t_ns)
    else:
        pose = detector.detect(image, t_ns)
        people = [pose] if pose.person_found else []
    for pose in people:
        check_pose(detector, pose)
    return people


@dataclass(frozen=True)
class DetectorSpec:
    """A registry entry: how to build a detector, and its own command-line options.

    Attributes:
        summary: one line for ``--help`` (what it is, what it needs).
        create: builds the detector from its options (keys as ``options_from_args`` returns them).
        add_options: adds the detector's flags to ``skeletor-live``'s parser (None = it has none).
        options_from_args: reads those flags back into ``create``'s options (None = no options).
    """

    summary: str
    create: Callable[[Mapping[str, Any]], Detector]
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    options_from_args: Callable[[argparse.Namespace], dict[str, Any]] | None = None


def check_pose(detector: Detector, pose: DetectedPose) -> None:
    """Raise ``ValueError`` if ``pose`` is not in ``detector.skeleton``'s shape (a new detector's usual slip)."""
    j = detector.skeleton.num_joints
    kp = pose.keypoints
    if not isinstance(kp, np.ndarray) or kp.shape != (j, 3):
        raise ValueError(
            f"detector {detector.name!r}: keypoints must be ({j}, 3) for {detector.skeleton.name}, got {getattr(kp, 'shape', type(kp))}"
        )
    if pose.depth is not None and np.shape(pose.depth) != (j,):
        raise ValueError(f"detector {detector.name!r}: depth must be ({j},) or None, got {np.shape(pose.depth)}")
