"""--vmc-person: with several people, the avatar follows one person (default the primary one)."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="python-osc is not installed (pip install -e '.[vmc]')")

from realtime.cli import main  # noqa: E402
from realtime.sinks.base import SinkContext, SinkSet  # noqa: E402
from realtime.sinks.vmc import VmcConfig, VmcSink, VmcTarget  # noqa: E402
from skeletor.protocol import PoseFrame  # noqa: E402


def _capture(seq: int) -> list[PoseFrame]:
    """One capture of people 1 (primary) and 3."""
    base = PoseFrame(seq, 1000 + seq, np.zeros((75, 3), np.float32), np.ones(75, np.float32))
    return [dataclasses.replace(base, person_id=1, primary=True), dataclasses.replace(base, person_id=3, primary=False)]


@pytest.mark.parametrize("person, sent_for", [(None, 1), (3, 3), (7, None)])
def test_vmc_sends_the_chosen_persons_frames_only(person: int | None, sent_for: int | None) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    sink = VmcSink(VmcConfig((VmcTarget("127.0.0.1", receiver.getsockname()[1]),), person))
    sinks = SinkSet([sink])
    assert sinks.rig_person == person
    sinks.open(SinkContext(max_people=3))
    try:
        for seq in range(5):
            for frame in _capture(seq):
                sinks.write(frame)
        assert sink.bundles_sent == (0 if sent_for is None else 5)
    finally:
        sinks.close()
        receiver.close()


def test_vmc_person_validation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError):
        VmcConfig(person=-1)
    assert main(["--demo", "--port", "0", "--vmc-person", "2"]) == 2
    assert "--vmc-person needs --vmc" in capsys.readouterr().err
