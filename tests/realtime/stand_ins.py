"""Stand-in detector and camera, in a module of their own so a spawned detector process
(tests of :mod:`realtime.detector_process`) can import them as the conftest's fixtures do."""

from __future__ import annotations

import threading
import time

import numpy as np

from realtime.detectors import DetectedPose
from skeletor.pose.keypoints import KeypointSequence
from skeletor.pose.skeleton import HOLISTIC75

__all__ = ["ClipDetector", "StandInCamera"]


class ClipDetector:
    """Replays a real MediaPipe Holistic ``.pose`` clip, one frame per image, scaled into the image.

    Attributes:
        calls: (image shape, image dtype, t_ns) of every ``detect`` call.
        outputs: what each call returned.
        closed: ``close`` was called.
    """

    name = "clip"
    skeleton = HOLISTIC75

    def __init__(self, clip: KeypointSequence) -> None:
        self.clip = clip
        self.calls: list[tuple[tuple[int, ...], np.dtype, int]] = []
        self.outputs: list[DetectedPose] = []
        self.closed = False

    def detect(self, image: np.ndarray, t_ns: int) -> DetectedPose:
        h, w = image.shape[:2]
        kp = self.clip.keypoints[len(self.calls) % len(self.clip)].copy()
        kp[:, :2] *= min(w, h) / max(self.clip.image_size)  # the clip's square frame into this image
        self.calls.append((image.shape, image.dtype, t_ns))
        pose = DetectedPose(kp, None, bool((kp[:, 2] > 0).any()))
        self.outputs.append(pose)
        return pose

    def close(self) -> None:
        self.closed = True


class StandInCamera:
    """A camera (``cv2.VideoCapture``'s methods) behind a scripted cable, for ``CaptureSource(open_capture=...)``.

    Every :meth:`open` is one attempt to open the device; ``opens`` says, attempt by attempt,
    what happens: ``"ok"`` (images come), ``"fail"`` (cannot be opened) or ``"dark"`` (opens
    but gives no image); attempts beyond the list are ``"ok"``. :meth:`unplug` pulls the
    cable of the first opening: its reads fail from then on. Images are uint8 BGR arrays
    delivered every ``1 / fps`` s (a read blocks, as a camera's does).

    Attributes:
        attempts: what each open did, in order.
        delivered: images handed out.
    """

    def __init__(self, fps: float = 100.0, opens: tuple[str, ...] = ("ok",), burst: bool = False) -> None:
        self.fps = fps
        self.unplugged = False
        self.opens = list(opens)
        self.burst = burst  # images as fast as asked (a driver flushing its buffer), not every 1 / fps
        self.attempts: list[str] = []
        self.delivered = 0
        self._lock = threading.Lock()

    def unplug(self) -> None:
        """Pull the cable: the first opening's reads fail from now on."""
        self.unplugged = True

    def open(self, target: int | str) -> _Device:
        with self._lock:
            i = len(self.attempts)
            what = self.opens[i] if i < len(self.opens) else "ok"
            self.attempts.append(what)
        return _Device(self, what, first=i == 0)


class _Device:
    def __init__(self, camera: StandInCamera, what: str, first: bool) -> None:
        self.camera, self.what, self.first = camera, what, first
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802
        return self.what != "fail" and not self.released

    def read(self) -> tuple[bool, np.ndarray | None]:
        cam = self.camera
        if not cam.burst:
            time.sleep(1.0 / cam.fps)
        if self.released or self.what != "ok" or (self.first and cam.unplugged):
            return False, None
        cam.delivered += 1
        image = np.full((48, 64, 3), cam.delivered % 256, np.uint8)
        return True, image

    def grab(self) -> bool:
        return self.read()[0]

    def get(self, prop: int) -> float:
        return self.camera.fps if prop == 5 else 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        self.released = True
