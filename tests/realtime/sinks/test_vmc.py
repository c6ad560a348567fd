"""The VMC sender on its own: target parsing, the bundle's exact bytes (python-osc's own), and
sending that never waits on an absent, refusing or unreachable receiver."""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="python-osc is not installed (pip install -e '.[vmc]')")
from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

from realtime.cli import build_parser, main  # noqa: E402
from realtime.sinks import SinkContext, sinks_from_args  # noqa: E402
from realtime.sinks.vmc import VmcBundle, VmcConfig, VmcSink, VmcTarget, parse_target  # noqa: E402
from skeletor.protocol import PoseFrame  # noqa: E402
from skeletor.rig import BONES, to_unity  # noqa: E402


@pytest.mark.parametrize(
    "text, target",
    [
        ("127.0.0.1:39540", VmcTarget("127.0.0.1", 39540)),
        ("39541", VmcTarget("127.0.0.1", 39541)),
        (":39542", VmcTarget("127.0.0.1", 39542)),
        ("studio-pc", VmcTarget("studio-pc", 39539)),
        ("192.168.1.20:39539", VmcTarget("192.168.1.20", 39539)),
        ("[::1]:39543", VmcTarget("::1", 39543)),
        ("[::1]", VmcTarget("::1", 39539)),
    ],
)
def test_targets(text: str, target: VmcTarget) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["host:0", "host:70000", "host:port", "::1:39539", "[::1", ":", "[::1]x"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(ValueError):
        parse_target(text)


def test_flags() -> None:
    parse = lambda words: sinks_from_args(build_parser().parse_args(words))  # noqa: E731
    assert not any(isinstance(s, VmcSink) for s in parse([]))
    (vmc,) = [s for s in parse(["--vmc", "--vmc", "10.0.0.2:40000", "--vmc", "127.0.0.1:39539"]) if isinstance(s, VmcSink)]
    assert vmc.config.targets == (VmcTarget("127.0.0.1", 39539), VmcTarget("10.0.0.2", 40000))  # repeats sent once
    with pytest.raises(ValueError):
        parse(["--vmc", "localhost:0"])


def test_bad_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "--frames", "3", "--port", "0", "--no-status", "--vmc", "localhost:99999"]) == 2
    assert "1-65535" in capsys.readouterr().err
    assert main(["--demo", "--frames", "3", "--port", "0", "--no-status", "--no-refine", "--vmc", "no-such-host.invalid"]) == 2
    assert "cannot resolve" in capsys.readouterr().err


def reference_bundle(frame: PoseFrame, t_s: float) -> bytes:
    """The same bundle built message by message with python-osc's builders."""
    rig = frame.rig
    assert rig is not None and rig.rest_offsets is not None
    local = rig.rest_offsets.copy()
    local[0] = rig.hips_position
    p, q = to_unity(local, rig.rotations)
    b = OscBundleBuilder(IMMEDIATELY)

    def add(address: str, *args: tuple[object, str]) -> None:
        m = OscMessageBuilder(address)
        for v, kind in args:
            m.add_arg(v, kind)
        b.add_content(m.build())

    add("/VMC/Ext/Root/Pos", ("root", "s"), *((v, "f") for v in (0, 0, 0, 0, 0, 0, 1.0)))
    for i, name in enumerate(BONES):
        add("/VMC/Ext/Bone/Pos", (name, "s"), *((float(v), "f") for v in (*p[i], *q[i])))
    add("/VMC/Ext/OK", (1, "i"), (3, "i"), (0, "i"))
    add("/VMC/Ext/T", (t_s, "f"))
    return b.build().dgram


def test_bundle_bytes_are_python_oscs(rigged_frames: list[PoseFrame]) -> None:
    encoder = VmcBundle()
    rigged = [f for f in rigged_frames if f.rig is not None]
    assert len(rigged) > 100
    for f in rigged[::25]:
        assert encoder.encode(f.rig, 12.5) == reference_bundle(f, 12.5)
    idle = OscBundle(encoder.encode(None, 3.25))
    assert [(m.address, m.params) for m in (idle.content(i) for i in range(idle.num_contents))] == [
        ("/VMC/Ext/OK", [0, 0, 0]),
        ("/VMC/Ext/T", [3.25]),
    ]


def test_hips_and_rotations_in_unity_axes(rigged_frames: list[PoseFrame]) -> None:
    f = next(f for f in rigged_frames[60:] if f.rig is not None)
    b = OscBundle(VmcBundle().encode(f.rig, 0.0))
    bones = {m.params[0]: np.array(m.params[1:]) for m in (b.content(i) for i in range(b.num_contents)) if m.address == "/VMC/Ext/Bone/Pos"}
    rig = f.rig
    assert rig is not None and rig.rest_offsets is not None
    np.testing.assert_allclose(bones["Hips"][:3], rig.hips_position * [-1, 1, 1], atol=1e-6)  # x mirrored, y up kept
    i = BONES.index("LeftUpperArm")
    np.testing.assert_allclose(bones["LeftUpperArm"][3:], rig.rotations[i] * [1, -1, -1, 1], atol=1e-6)
    # The left shoulder's rest offset points to the person's left: +x in the rig world, -x in Unity.
    assert bones["LeftUpperArm"][0] < -0.05 and bones["RightUpperArm"][0] > 0.05


def udp_receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def send_paced(sink: VmcSink, frames: list[PoseFrame]) -> None:
    """Write frames a few ms apart, as a live source does (a burst of 4 kB datagrams overflows
    a loopback receive buffer that nobody reads in the meantime)."""
    for f in frames:
        sink.write(f)
        time.sleep(0.003)


def test_sends_one_bundle_a_frame_to_every_target(rigged_frames: list[PoseFrame]) -> None:
    a, b = udp_receiver(), udp_receiver()
    sink = VmcSink(VmcConfig(tuple(VmcTarget("127.0.0.1", s.getsockname()[1]) for s in (a, b))))
    sink.open(SinkContext(fps=30))
    try:
        got: list[list[bytes]] = [[], []]
        readers = [
            threading.Thread(target=lambda s=s, out=out: out.extend(s.recv(65536) for _ in range(40))) for s, out in zip((a, b), got)
        ]
        for r in readers:
            r.start()
        send_paced(sink, rigged_frames[:40])
        for r in readers:
            r.join(10)
    finally:
        sink.close()
        a.close()
        b.close()
    assert len(got[0]) == 40 and got[0] == got[1] and all(OscBundle.dgram_is_bundle(d) for d in got[0])
    with_bones = sum(f.rig is not None for f in rigged_frames[:40])
    assert 0 < with_bones < 40 and sink.bundles_with_bones == with_bones  # the first frames calibrate
    assert sink.bundles_sent == 80 and sink.errors == 0 and sink.summary() == "vmc 80"


def test_a_refusing_target_never_stops_the_others_and_is_logged_once(
    rigged_frames: list[PoseFrame], caplog: pytest.LogCaptureFixture
) -> None:
    closed = udp_receiver()
    refused_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the kernel answers "port unreachable"
    alive = udp_receiver()
    sink = VmcSink(VmcConfig((VmcTarget("127.0.0.1", refused_port), VmcTarget("127.0.0.1", alive.getsockname()[1]))))
    sink.open(SinkContext(fps=30))
    try:
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.extend(alive.recv(65536) for _ in range(60)))
        reader.start()
        with caplog.at_level(logging.WARNING, logger="realtime.sinks.vmc"):
            send_paced(sink, rigged_frames[:60])
        reader.join(10)
    finally:
        sink.close()
        alive.close()
    assert len(received) == 60  # the live target got every bundle
    assert sink.errors >= 29  # every other send to the refusing one fails (Linux reports the refusal on the next send)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert "failed" in sink.summary()


def test_another_machine_is_warned_about_and_never_blocks(rigged_frames: list[PoseFrame], caplog: pytest.LogCaptureFixture) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never a real host. Whether this machine has a route
    # there or not, a send either leaves at once or fails at once: the socket never waits.
    sink = VmcSink(VmcConfig((VmcTarget("192.0.2.1", 39539),)))
    with caplog.at_level(logging.WARNING, logger="realtime.sinks.vmc"):
        sink.open(SinkContext(fps=30))
        try:
            for f in rigged_frames[:30]:
                sink.write(f)
        finally:
            sink.close()
    assert any("not this machine" in r.getMessage() and "unencrypted" in r.getMessage() for r in caplog.records)
    assert sink.bundles_sent + sink.errors == 30
    assert not sink._sockets[0:] and sink._bundle is not None  # closed


def test_a_full_socket_buffer_drops_bundles_and_counts_them(rigged_frames: list[PoseFrame]) -> None:
    """A receiver that never reads: once the kernel's buffers fill, sends fail at once (counted)
    instead of waiting. (Loopback UDP may also drop silently; either way nothing blocks.)"""
    rx = udp_receiver()
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink = VmcSink(VmcConfig((VmcTarget("127.0.0.1", rx.getsockname()[1]),)))
    sink.open(SinkContext(fps=30))
    sink._sockets[0][1].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    frame = next(f for f in rigged_frames if f.rig is not None)
    try:
        for _ in range(2000):
            sink.write(frame)
    finally:
        sink.close()
        rx.close()
    assert sink.bundles_sent + sink.errors == 2000


def test_skeletor_live_with_nobody_listening_runs_to_the_end(caplog: pytest.LogCaptureFixture) -> None:
    """A refused receiver never stops or slows the stream: every frame is still emitted, one warning."""
    closed = udp_receiver()
    port = closed.getsockname()[1]
    closed.close()
    with caplog.at_level(logging.INFO):
        code = main(["--demo", "--frames", "45", "--port", "0", "--no-status", "--no-refine", "--vmc", f"127.0.0.1:{port}"])
    assert code == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("done: 45 frames" in m for m in messages), messages[-5:]
    assert sum("refused" in m for m in messages) == 1
    assert any(m.startswith("--vmc: ") and "sends failed" in m for m in messages)
