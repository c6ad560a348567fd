"""The live pipeline with a multi-person detector: one frame per person per capture, the oldest primary, people events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from realtime.detectors import DetectedPose
from realtime.pipeline import LivePipeline, PipelineConfig
from realtime.sources import CaptureSource
from skeletor.cleaner.people import MultiPersonCleaner, PeopleConfig
from skeletor.cleaner.stream import CleanerConfig
from skeletor.protocol import StatusEvent

CLIP_FRAMES = 58  # the webcam video's frames


class TwoPeopleDetector:
    """The real clip's person twice per image: as recorded and 300 px to the right (listed in changing order)."""

    name = "two-people"

    def __init__(self, inner: Any) -> None:
        self.inner, self.skeleton, self.max_people = inner, inner.skeleton, 2
        self.people: list[list[DetectedPose]] = []

    def detect_people(self, image: np.ndarray, t_ns: int) -> list[DetectedPose]:
        a = self.inner.detect(image, t_ns)
        kp = a.keypoints.copy()
        kp[:, 0] += 300
        people = [a, DetectedPose(kp, None, a.person_found)]
        if len(self.people) % 2:
            people.reverse()  # the detector's order says nothing about who is who
        self.people.append(people)
        return people

    def detect(self, image: np.ndarray, t_ns: int) -> DetectedPose:
        return self.detect_people(image, t_ns)[0]

    def close(self) -> None:
        self.inner.close()


def test_every_person_per_capture_same_seq_oldest_primary(clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path) -> None:
    """Offline, with lookahead 4: every capture gives one frame per person (same seq and
    capture time), the frames are the multi-person cleaner's own on the same detections,
    the lower id is primary, people appearing are announced, and ``hello`` hears max_people 2."""
    detector = TwoPeopleDetector(clip_detector())
    config = CleanerConfig(lookahead=4, refine=False)
    sink = collect_sink()
    pipe = LivePipeline(CaptureSource(webcam_video, detector), PipelineConfig(cleaner=config), [sink])
    assert isinstance(pipe.cleaner, MultiPersonCleaner) and pipe.max_people == 2
    pipe.start()
    assert pipe.wait(120)
    pipe.stop()
    assert pipe.error is None and sink.context.max_people == 2
    seqs = [f.seq for f in sink.frames]
    assert seqs == sorted(seqs) and sorted(set(seqs)) == list(range(CLIP_FRAMES))
    for seq in range(CLIP_FRAMES):
        mine = [f for f in sink.frames if f.seq == seq]
        assert sorted(f.person_id for f in mine) == [0, 1]
        assert len({f.t_capture_ns for f in mine}) == 1
        assert [f.primary for f in mine] == [f.person_id == 0 for f in mine]
    assert sink.events.count(StatusEvent.PERSON_APPEARED) == 2
    # The same detections through a MultiPersonCleaner of its own give the same frames.
    reference = MultiPersonCleaner(PeopleConfig(cleaner=config))
    t = [c[2] / 1e9 for c in detector.inner.calls]
    h, w = detector.inner.calls[0][0][:2]
    out = []
    for people, t_s in zip(detector.people, t):
        out += reference.push([(p.keypoints, p.depth) for p in people], t_s, (w, h)).frames
    out += reference.flush()
    expected = {(o.frame_index, o.person_id): o.frame.pose for o in out}
    for f in sink.frames:
        np.testing.assert_allclose(f.joints, expected[(f.seq, f.person_id)], atol=1e-5, equal_nan=True)
