"""``--vmc HOST:PORT``: the humanoid rig sent as VMC protocol (OSC over UDP) to avatar apps.

VSeeFace, Warudo, VirtualMotionCapture, VNyan and their users' tools receive a "Performer"
over the VMC protocol (https://protocol.vmc.info; OSC messages over UDP, port 39539 by
default). Every cleaned frame becomes **one OSC bundle** sent to every target:

``/VMC/Ext/Root/Pos`` ``"root"`` p.xyz q.xyzw
    the avatar's root transform: the origin, no rotation (the body's motion is in the Hips).
``/VMC/Ext/Bone/Pos`` name p.xyz q.xyzw, for each of the rig's 52 bones
    the Unity ``HumanBodyBones`` name, the bone's local position (the Hips: its position
    over the floor, metres; every other bone: its rest offset from its parent) and local
    rotation relative to the T-pose, in Unity's left-handed Y-up axes (avatar facing +Z),
    converted once by :func:`skeletor.rig.to_unity`: ``(x, y, z) -> (-x, y, z)``,
    ``(x, y, z, w) -> (x, -y, -z, w)``. This is what receivers apply to a VRM avatar's
    normalised bones (identity rest rotations, T-pose).
``/VMC/Ext/OK`` loaded, calibration state, calibration mode
    ``1 3 0`` (bones sent, calibrated, normal) with a rig; ``0 0 0`` (no bones in this
    bundle) while the rig calibrates or nobody is in view. The bundle is still sent so a
    receiver sees the sender alive.
``/VMC/Ext/T`` seconds since the sender started.

Sending never waits: each target has its own connected, non-blocking UDP socket, so an
unreachable or refused target (nothing listening: Linux reports the ICMP "port
unreachable" on the next send) only costs a counted error, logged once per target; a
full socket buffer drops that bundle (counted too). A target that is not this machine is
allowed (the usual setup is a second PC running the avatar app) and warned about at start:
VMC has no encryption and no authentication, so the pose goes over the network as it is.

Encoding: the bundle's layout is built once with ``python-osc`` (addresses, type tags, bone
names); each frame only writes its floats into it (52 bones cost about 2.7 ms a frame
through python-osc's builders, about 0.01 ms this way). Tests check that the bytes are
exactly python-osc's.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass

import numpy as np

from realtime.sinks.base import BaseSink, SinkContext, SinkSpec
from skeletor.protocol import PoseFrame, RigPose
from skeletor.rig import BONES, to_unity

__all__ = ["DEFAULT_PORT", "SPEC", "VmcBundle", "VmcConfig", "VmcSink", "VmcTarget", "parse_target"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 39539  # the VMC protocol's default Marionette port
ROOT_POS, BONE_POS, OK, TIME = "/VMC/Ext/Root/Pos", "/VMC/Ext/Bone/Pos", "/VMC/Ext/OK", "/VMC/Ext/T"
OK_TRACKING = (1, 3, 0)  # loaded, calibration state 3 = calibrated, mode 0 = normal (VMC protocol v2.5)
OK_NO_BONES = (0, 0, 0)


@dataclass(frozen=True)
class VmcTarget:
    """Where bundles go.

    Attributes:
        host: a host name or IP address (IPv6 without brackets).
        port: UDP port, 1-65535.
    """

    host: str
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("VMC target: empty host")
        if not 0 < self.port < 65536:
            raise ValueError(f"VMC target: port must be 1-65535, got {self.port}")

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(text: str) -> VmcTarget:
    """A ``--vmc`` value as a target.

    ``HOST:PORT``, ``HOST`` (port 39539), ``PORT`` or ``:PORT`` (this machine, 127.0.0.1) and
    ``[IPv6]:PORT``.

    Raises:
        ValueError: an empty host or a port that is not 1-65535.
    """
    s = text.strip()
    host, port = s, str(DEFAULT_PORT)
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or (len(s) > end + 1 and s[end + 1] != ":"):
            raise ValueError(f"--vmc {text!r}: expected [IPv6]:PORT")
        host, port = s[1:end], s[end + 2 :] or port
    elif s.isdigit():
        host, port = "127.0.0.1", s
    elif s.count(":") == 1:
        host, port = s.split(":")
        host = host or "127.0.0.1"
    elif s.count(":") > 1:
        raise ValueError(f"--vmc {text!r}: write an IPv6 address in brackets, [::1]:{DEFAULT_PORT}")
    if not port.isdigit():
        raise ValueError(f"--vmc {text!r}: the port must be a number 1-65535")
    return VmcTarget(host, int(port))


@dataclass(frozen=True)
class VmcConfig:
    """Settings of :class:`VmcSink`.

    Attributes:
        targets: where every bundle goes (one or more receivers).
        person: with several people (``--people N``), whose rig drives the avatar (a
            ``person_id``); None = the primary person (the oldest followed; with one
            person, that person).
    """

    targets: tuple[VmcTarget, ...] = (VmcTarget("127.0.0.1"),)
    person: int | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("VmcConfig needs at least one target")
        if self.person is not None and (isinstance(self.person, bool) or not isinstance(self.person, int) or self.person < 0):
            raise ValueError(f"--vmc-person must be a person id >= 0, got {self.person!r}")


class VmcBundle:
    """The per-frame OSC bundle: built once with python-osc, then only its floats change.

    Args:
        bones: the rig's bone names, in the order of ``RigPose.rotations``.

    Raises:
        ImportError: python-osc is not installed.
    """

    def __init__(self, bones: tuple[str, ...] = BONES) -> None:
        try:
            from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
            from pythonosc.osc_message import OscMessage
            from pythonosc.osc_message_builder import OscMessageBuilder
        except ImportError as e:
            raise ImportError("--vmc needs python-osc: pip install 'skeletor-live[vmc]' (or pip install python-osc)") from e
        self.bones = tuple(bones)

        def message(address: str, *args: tuple[object, str]) -> OscMessage:
            m = OscMessageBuilder(address)
            for value, kind in args:
                m.add_arg(value, kind)
            return m.build()

        def bundle(messages: list[OscMessage]) -> tuple[bytes, list[int]]:
            """The bundle's bytes and where each message ends in them."""
            builder = OscBundleBuilder(IMMEDIATELY)
            for m in messages:
                builder.add_content(m)
            data = builder.build().dgram
            ends, at = [], 16  # "#bundle\0" + time tag
            for m in messages:
                at += 4 + m.size
                ends.append(at)
            assert at == len(data)
            return data, ends

        pose = [(0.0, "f")] * 3 + [(0.0, "f")] * 3 + [(1.0, "f")]
        transforms = [message(ROOT_POS, ("root", "s"), *pose)] + [message(BONE_POS, (name, "s"), *pose) for name in self.bones]
        ok = message(OK, *((v, "i") for v in OK_TRACKING))
        t = message(TIME, (0.0, "f"))
        self._tracking, ends = bundle(transforms + [ok, t])
        # Byte positions of the 7 floats of each transform message (root first), and of T.
        starts = np.array(ends[: len(transforms)]) - 28
        self._float_bytes = (starts[:, None] + np.arange(28)[None, :]).ravel()
        self._time_at = ends[-1] - 4
        self._idle, idle_ends = bundle([message(OK, *((v, "i") for v in OK_NO_BONES)), t])
        self._idle_time_at = idle_ends[-1] - 4

    def encode(self, rig: RigPose | None, t_s: float) -> bytes:
        """One frame's bundle.

        Args:
            rig: the frame's rig (rig world; its ``rest_offsets`` give the bones' local
                positions, zeros when absent), or None: a bundle of ``OK 0 0 0`` and ``T``.
            t_s: the sender's relative time in seconds (``/VMC/Ext/T``).

        Returns:
            The OSC bundle's bytes.

        Raises:
            ValueError: a rig with another number of bones than :attr:`bones`.
        """
        if rig is None:
            buf = bytearray(self._idle)
            struct.pack_into(">f", buf, self._idle_time_at, t_s)
            return bytes(buf)
        b = len(self.bones)
        if rig.num_bones != b:
            raise ValueError(f"the rig has {rig.num_bones} bones; this VMC bundle was built for {b}")
        local = np.zeros((b, 3), dtype=np.float32) if rig.rest_offsets is None else rig.rest_offsets.copy()
        local[0] = rig.hips_position  # the Hips' local position: from the root at the floor, under the origin
        position, rotation = to_unity(local, rig.rotations)
        values = np.empty((b + 1, 7), dtype=">f4")
        values[0] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
        values[1:, :3] = position
        values[1:, 3:] = rotation
        buf = np.frombuffer(bytearray(self._tracking), dtype=np.uint8)
        buf[self._float_bytes] = values.view(np.uint8).ravel()
        buf[self._time_at : self._time_at + 4] = np.frombuffer(struct.pack(">f", t_s), dtype=np.uint8)
        return buf.tobytes()


class VmcSink(BaseSink):
    """Sends every frame's rig as one VMC bundle to each target (see the module docstring).

    Args:
        config: the targets.

    Attributes:
        bundles_sent: bundles handed to the OS, all targets together.
        bundles_with_bones: frames whose bundle carried the rig.
        errors: sends that failed (refused, unreachable, buffer full), all targets together.
    """

    name = "vmc"
    wants_rig = True

    def __init__(self, config: VmcConfig = VmcConfig()) -> None:
        self.config = config
        self.bundles_sent = 0
        self.bundles_with_bones = 0
        self.errors = 0
        self._bundle: VmcBundle | None = None
        self._sockets: list[tuple[VmcTarget, socket.socket]] = []
        self._failed: dict[VmcTarget, int] = {}
        self._t0 = time.monotonic()

    def open(self, context: SinkContext) -> None:
        """Resolve every target and open its UDP socket; warn about targets off this machine.

        Raises:
            ImportError: python-osc is not installed.
            OSError: a host name that does not resolve.
        """
        self._bundle = VmcBundle(BONES)
        for target in self.config.targets:
            try:
                family, kind, proto, _, address = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)[0]
            except socket.gaierror as e:
                self.close()
                raise OSError(f"--vmc {target}: cannot resolve {target.host!r} ({e.strerror})") from e
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                sock.connect(address)  # a connected UDP socket hears "refused"; connect sends nothing
            except OSError as e:
                sock.close()
                self.close()
                raise OSError(f"--vmc {target}: {e.strerror or e}") from e
            if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
                log.warning(
                    "--vmc %s is not this machine: the pose goes over the network unencrypted and anyone on the way can read it "
                    "(VMC has no encryption or authentication)",
                    target,
                )
            self._sockets.append((target, sock))
        self._t0 = time.monotonic()

    @property
    def rig_person(self) -> int | None:
        """The person whose rig the pipeline should solve (None = the primary person)."""
        return self.config.person

    def write(self, frame: PoseFrame) -> None:
        """Encode the frame's bundle once and send it to every target (never blocks); other people's frames are skipped."""
        if self._bundle is None:
            return
        person = self.config.person
        if (frame.person_id != person) if person is not None else not frame.primary:
            return
        data = self._bundle.encode(frame.rig, time.monotonic() - self._t0)
        self.bundles_with_bones += frame.rig is not None
        for target, sock in self._sockets:
            try:
                sock.send(data)
                self.bundles_sent += 1
            except OSError as e:
                self._error(target, e)

    def _error(self, target: VmcTarget, error: OSError) -> None:
        self.errors += 1
        n = self._failed.get(target, 0) + 1
        self._failed[target] = n
        if n == 1:
            why = {
                ConnectionRefusedError: "refused: nothing is listening there (start the avatar app, check its port)",
                BlockingIOError: "the socket's buffer is full; bundles are dropped",
            }.get(type(error), error.strerror or str(error))
            log.warning("--vmc %s: %s; still sending, further errors are only counted", target, why)

    def close(self) -> None:
        """Close the sockets (idempotent); says how many sends failed."""
        for _, sock in self._sockets:
            sock.close()
        self._sockets = []
        if self.errors:
            log.warning("--vmc: %d of %d sends failed (%s)", self.errors, self.errors + self.bundles_sent,
                        ", ".join(f"{t} {n}" for t, n in self._failed.items()))  # fmt: skip

    def describe(self) -> str:
        """The targets."""
        return "vmc " + ", ".join(str(t) for t in self.config.targets)

    def summary(self) -> str:
        """Bundles sent (and failed sends)."""
        return f"vmc {self.bundles_sent}" + (f" ({self.errors} failed)" if self.errors else "")


def _add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("VMC protocol (OSC over UDP to VSeeFace, Warudo, VirtualMotionCapture, VNyan, ...)")
    group.add_argument(
        "--vmc",
        action="append",
        nargs="?",
        const=f"127.0.0.1:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"send the avatar rig (bone rotations) as VMC bundles, one per frame, to HOST:PORT (default 127.0.0.1:{DEFAULT_PORT}; "
        "PORT alone = this machine); repeat for several receivers. Another machine is allowed and warned about: "
        "VMC is unencrypted. Needs python-osc (pip install 'skeletor-live[vmc]')",
    )
    group.add_argument(
        "--vmc-person", type=int, default=None, metavar="ID",
        help="with --people N: the person (their person_id, as the viewer and status messages show it) whose rig "
        "drives the avatar (default: the primary person, the oldest followed)",
    )  # fmt: skip


def _from_args(args: argparse.Namespace) -> VmcSink | None:
    """A VMC sender when ``--vmc`` is given.

    Raises:
        ValueError: a malformed HOST:PORT.
        ImportError: python-osc is missing (said before anything starts).
    """
    person = getattr(args, "vmc_person", None)
    if not getattr(args, "vmc", None):
        if person is not None:
            raise ValueError("--vmc-person needs --vmc (where to send the avatar's rig)")
        return None
    targets = tuple(dict.fromkeys(parse_target(t) for t in args.vmc))  # a target given twice gets one bundle a frame
    VmcBundle(BONES)  # python-osc is there
    return VmcSink(VmcConfig(targets, person))


SPEC = SinkSpec(add_options=_add_options, from_args=_from_args)
