"""The live humanoid rig: the pipeline's cleaned frames get joint rotations when an output wants them.

:class:`LiveRig` holds one :class:`skeletor.rig.RigSolver` and, per cleaned
:class:`~skeletor.protocol.PoseFrame`, returns the frame with its
:class:`~skeletor.protocol.RigPose` attached (the stream's ``rotations`` field, the VMC
sender's bones). It solves only while some sink wants the rig (``wants_rig``: the VMC
sender always, the websocket server while a client subscribes to ``rotations``), so
nobody pays for it otherwise; when nobody has wanted it for a frame, the solver is reset
and the next person (or the same one) is calibrated afresh.

``rig_version`` on the wire counts every rest rig this process has sent (it never goes
back, even when the solver is reset), so a client keeps the ``rig`` message whose version
its frames name.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

from skeletor.protocol import PoseFrame, RigLayout, RigPose
from skeletor.rig import AXES, BONES, PARENTS, RigConfig, RigSolver
from skeletor.rig.humanoid import CANONICAL_REST
from skeletor.rig.kinematics import RestRig

__all__ = ["LiveRig", "RIG_AXES", "rig_layout"]

log = logging.getLogger(__name__)

# The rig world in words (skeletor.rig.axes): what hello's rig.axes says.
RIG_AXES = {
    "x": "left (the person's own left, in the rest pose)",
    "y": "up (the floor is y = 0)",
    "z": "forward (the way the person faces in the rest pose)",
    "handedness": "right",
}


def rig_layout(rest_offsets: np.ndarray | None = None) -> RigLayout:
    """The rig as ``hello`` describes it.

    Args:
        rest_offsets: (B, 3) metres; None = an average adult's (``skeletor.rig``'s canonical
            T-pose), which is what a client has before the person's ``rig`` message.

    Returns:
        Bone names (Unity ``HumanBodyBones``), parents, rest offsets, axes, convention.
    """
    off = RestRig(CANONICAL_REST).offsets if rest_offsets is None else rest_offsets
    return RigLayout(BONES, PARENTS, off, RIG_AXES, AXES)


class LiveRig:
    """Attaches the solved rig to cleaned frames while some output wants it.

    Args:
        wanted: called once per frame; True when some sink wants the rig (typically
            ``SinkSet.wants_rig``).
        config: the solver's settings.

    Attributes:
        solver: the streaming rig solver.
        rig_version: the last rest rig sent (0 = none yet).
        frames_solved: frames given a rig.
    """

    def __init__(self, wanted: Callable[[], bool], config: RigConfig = RigConfig()) -> None:
        self.wanted = wanted
        self.config = config
        self.solver = RigSolver(config)
        self.rig_version = 0
        self.frames_solved = 0
        self._active = False
        self._rest: RestRig | None = None
        self._rest_offsets: np.ndarray | None = None

    def attach(self, frame: PoseFrame) -> PoseFrame:
        """``frame`` with its rig, when one is wanted and solved; else ``frame`` itself.

        The solver's time is the frame's capture time (``t_capture_ns``); its cost goes into
        ``latency_ms["rig"]``. No rig is attached while the solver calibrates (about
        ``config.calibration_s`` after a person appears) or when nobody is detected.

        Args:
            frame: a cleaned frame (holistic75, camera frame, metres).

        Returns:
            The frame, with ``rig`` set when solved (a new :class:`PoseFrame`).
        """
        if not self.wanted():
            if self._active:
                self._active = False
                self.solver.reset()
                log.debug("no output wants the rig: solver reset")
            return frame
        self._active = True
        t0 = time.perf_counter()
        rig = self.solver.push(frame.joints, frame.confidence, frame.t_capture_ns / 1e9)
        if rig is None:
            return frame
        if self.solver.rest_rig is not self._rest:  # a new rest rig (the solver builds one per calibration)
            self._rest = self.solver.rest_rig
            self.rig_version += 1
            self._rest_offsets = self.solver.rest_offsets.copy()
            self._rest_offsets.flags.writeable = False
            log.info("rest rig %d (calibrated from the person)", self.rig_version)
        pose = RigPose(rig.hips_position, rig.rotations, rig.valid, self.rig_version, self._rest_offsets)
        ms = (time.perf_counter() - t0) * 1e3
        self.frames_solved += 1
        return dataclasses.replace(frame, rig=pose, latency_ms={**frame.latency_ms, "rig": ms})
