"""``skeletor-live``'s wiring: flags -> SourceConfig, and the two registries (detectors, sinks)
that let a new detector or a new output be one new class plus one registry line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.cli import build_parser, main, source_config_from_args
from realtime.detectors import DETECTORS, DetectorSpec
from realtime.sinks import SINKS, SinkSpec
from realtime.sources import SourceConfig
from skeletor.cleaner.cli import cleaner_config
from skeletor.protocol import StatusEvent
from skeletor.pose.skeleton import HOLISTIC75
from skeletor.cleaner.stream import StreamingCleaner

HOLISTIC_DEFAULTS = {"model_complexity": 1}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], SourceConfig(kind="auto", detector_options=HOLISTIC_DEFAULTS, images=False)),
        (["--demo", "--frames", "45"], SourceConfig(kind="demo", max_frames=45, detector_options=HOLISTIC_DEFAULTS, images=False)),
        (["--camera", "2", "--model-complexity", "2", "--preview"], SourceConfig(kind="camera", camera=2, detector_options={"model_complexity": 2})),
        (["--camera", "0", "--detector-process"], SourceConfig(kind="camera", camera=0, detector_options=HOLISTIC_DEFAULTS, detector_process=True, images=False)),
        (
            ["--video", "talk.mp4", "--realtime", "--loop", "--detector", "holistic", "--model-complexity", "0"],
            SourceConfig(
                kind="video",
                video=Path("talk.mp4"),
                realtime=True,
                loop=True,
                detector="holistic",
                detector_options={"model_complexity": 0},
                images=False,
            ),
        ),
    ],
)
def test_source_config_from_cli_words(words: list[str], expected: SourceConfig) -> None:
    config = source_config_from_args(build_parser().parse_args(words))
    assert config == expected
    assert hash(config) == hash(expected)  # frozen and hashable, options included


def test_bad_source_words_exit_2_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--camera", "-1", "--port", "0"]) == 2
    assert "camera index must be >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--detector", "nope"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_a_new_detector_and_a_new_sink_are_one_registry_line_each(
    monkeypatch: pytest.MonkeyPatch, clip_detector: Callable[[], Any], collect_sink: type, webcam_video: Path
) -> None:
    """A stand-in detector (a real Holistic clip replayed) and a stand-in sink, each added to
    its registry with one line, run through ``skeletor-live`` on a real video: the detector
    sees every image, the sink gets the cleaner's output for exactly those keypoints."""
    made: dict[str, Any] = {}

    def make_detector(options: dict[str, Any]) -> Any:
        made["detector"] = clip_detector()
        return made["detector"]

    def add_collect_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--collect", action="store_true")

    def collect_from_args(args: argparse.Namespace) -> Any:
        made["sink"] = collect_sink() if args.collect else None
        return made["sink"]

    monkeypatch.setitem(DETECTORS, "clip", DetectorSpec(summary="a real clip replayed", create=make_detector))
    monkeypatch.setitem(SINKS, "collect", SinkSpec(add_options=add_collect_options, from_args=collect_from_args))

    words = ["--video", str(webcam_video), "--detector", "clip", "--collect", "--no-refine", "--port", "0", "--no-status"]
    assert main(words) == 0
    det, sink = made["detector"], made["sink"]

    assert len(det.calls) == 58  # every frame of the video (read as fast as possible, none dropped)
    assert all(shape == (720, 540, 3) and dtype == np.uint8 for shape, dtype, _ in det.calls)
    times = [t for _, _, t in det.calls]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert det.closed

    assert sink.context.skeleton is HOLISTIC75 and sink.context.fps == pytest.approx(29.92, abs=0.01)
    assert [f.seq for f in sink.frames] == list(range(58))
    assert sink.events[0] == StatusEvent.PERSON_FOUND and sink.events[-1] == StatusEvent.SOURCE_ENDED
    assert sink.closed

    cleaner = StreamingCleaner(cleaner_config(build_parser().parse_args(words)))
    expected = []
    for (shape, _, t), pose in zip(det.calls, det.outputs):
        expected += [f.pose for f in cleaner.push(pose.keypoints, t / 1e9, pose.depth, (shape[1], shape[0]))]
    expected += [f.pose for f in cleaner.flush()]
    got = np.stack([f.joints for f in sink.frames])
    np.testing.assert_array_equal(got, np.stack(expected))
    assert np.isfinite(got[:, [11, 12]]).all() and (got[:, [11, 12], 2] > 0.5).all()  # shoulders, in front of the camera
