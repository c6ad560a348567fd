"""The stream recorder: round trips in both formats, skipped frames, and what survives an interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from skeletor.pose.keypoints import load_poses
from skeletor.protocol import MessageType, PoseFrame, decode_message
from skeletor.io.recording import Recorder, RecorderConfig, iter_jsonl, read_jsonl, recover_npz, spool_path

REPO = Path(__file__).resolve().parents[2]


def make_frames(n: int, rng: np.random.Generator, seqs: list[int] | None = None) -> list[PoseFrame]:
    """Frames with a few missing joints (NaN, confidence 0) and an unknown confidence (NaN)."""
    frames = []
    for i, seq in enumerate(seqs if seqs is not None else range(n)):
        joints = rng.normal([0.0, 0.0, 2.5], 0.3, size=(75, 3)).astype(np.float32)
        conf = rng.uniform(0.5, 1.0, size=75).astype(np.float32)
        joints[40] = np.nan  # a finger never seen
        conf[40] = 0.0
        if i % 3 == 0:
            joints[12, 1] = np.nan  # one coordinate gone: the whole joint counts as missing
        conf[5] = np.nan
        frames.append(PoseFrame(seq, 1_700_000_000_000_000_000 + 33_333_333 * seq, joints, conf, latency_ms={"detect": 12.5, "uplift": 1.25}))
    return frames


def expected(frames: list[PoseFrame]) -> tuple[np.ndarray, np.ndarray]:
    """What a reader should give back: a joint with any NaN coordinate is missing (NaN, confidence 0)."""
    joints = np.stack([f.joints for f in frames])
    seen = np.isfinite(joints).all(-1)
    conf = np.where(seen, np.nan_to_num(np.stack([f.confidence for f in frames]), nan=0.0), 0.0)
    return np.where(seen[..., None], joints, np.nan), conf


def test_jsonl_round_trip_is_a_protocol_transcript(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = make_frames(12, rng)
    path = tmp_path / "take.jsonl"
    with Recorder.open(path, fps=25.0) as rec:
        for f in frames:
            rec.write(f)
    lines = path.read_text().splitlines()
    assert len(lines) == 13
    hello = decode_message(lines[0])
    assert hello["type"] == MessageType.HELLO and hello["fps"] == 25.0 and hello["units"] == "m"
    assert all(decode_message(line)["type"] == MessageType.FRAME for line in lines[1:])
    assert json.loads(lines[1])["joints"][40] is None  # JSON has no NaN: a missing joint is null
    seq = read_jsonl(path)
    joints, conf = expected(frames)
    assert seq.fps == 25.0 and seq.skeleton == "holistic75" and seq.poses3d.shape == (12, 75, 3)
    np.testing.assert_allclose(seq.poses3d, joints, atol=6e-6)  # 10 um rounding on the wire
    assert np.isnan(seq.poses3d[:, 40]).all() and np.isnan(seq.poses3d[::3, 12]).all()
    np.testing.assert_allclose(seq.confidence, conf, atol=1e-4)
    back = list(iter_jsonl(path))
    assert [f.seq for f in back] == [f.seq for f in frames]
    assert [f.t_capture_ns for f in back] == [f.t_capture_ns for f in frames]
    assert back[3].latency_ms == {"detect": 12.5, "uplift": 1.25}


def test_npz_round_trip_in_the_pose_format(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = make_frames(12, rng)
    path = tmp_path / "take.npz"
    with Recorder.open(path, fps=30.0) as rec:
        for f in frames:
            rec.write(f)
        assert spool_path(path).exists() and not path.exists()  # frames go to the spool first
    assert not spool_path(path).exists()
    seq = load_poses(path)
    joints, conf = expected(frames)
    assert seq.fps == 30.0 and seq.skeleton == "holistic75"
    np.testing.assert_array_equal(seq.poses3d, joints)  # float32, bit for bit
    np.testing.assert_array_equal(seq.confidence, conf)


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_skipped_source_frames_are_filled_at_the_source_rate(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    seqs = [10, 11, 12, 15, 16, 40]  # frames 13-14 dropped (short gap), 17-39 (over 0.5 s at 30 fps)
    frames = make_frames(len(seqs), rng, seqs)
    path = tmp_path / ("gaps" + suffix)
    with Recorder.open(path, fps=30.0) as rec:
        for f in frames:
            rec.write(f)
    seq = read_jsonl(path) if suffix == ".jsonl" else load_poses(path)
    assert seq.poses3d.shape[0] == 31  # seq 10 .. 40
    p, c = seq.poses3d, seq.confidence
    np.testing.assert_allclose(p[3, 0], frames[2].joints[0] + (frames[3].joints[0] - frames[2].joints[0]) / 3, atol=1e-4)
    np.testing.assert_allclose(p[4, 0], frames[2].joints[0] + 2 * (frames[3].joints[0] - frames[2].joints[0]) / 3, atol=1e-4)
    np.testing.assert_allclose(p[7:30, 0], np.repeat(p[6:7, 0], 23, axis=0))  # a long gap holds the last pose
    assert (c[[3, 4] + list(range(7, 30))] == 0).all() and (c[[0, 5, 30], 0] > 0).all()
    assert np.isnan(p[:, 40]).all()  # never seen stays NaN


def test_frame_numbers_going_back_keep_the_recorded_order(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = make_frames(4, rng, [5, 6, 0, 1])  # a restarted source
    path = tmp_path / "r.jsonl"
    with Recorder.open(path, fps=30.0) as rec:
        for f in frames:
            rec.write(f)
    seq = read_jsonl(path)
    assert seq.poses3d.shape[0] == 4
    np.testing.assert_allclose(seq.poses3d[2, 0], frames[2].joints[0], atol=6e-6)


def test_flushes_every_n_frames_or_after_the_interval(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = make_frames(5, rng)

    def on_disk(path: Path) -> int:  # what another process would see now
        return path.read_bytes().count(b"\n")

    by_count = tmp_path / "n.jsonl"
    rec = Recorder.open(by_count, fps=30.0, config=RecorderConfig(flush_every=3, flush_interval_s=3600.0))
    for f in frames[:3]:
        rec.write(f)
    assert on_disk(by_count) == 4  # hello + 3 frames
    rec.write(frames[3])
    assert on_disk(by_count) == 4  # still buffered
    rec.close()
    assert on_disk(by_count) == 5
    by_time = tmp_path / "t.jsonl"
    rec = Recorder.open(by_time, fps=30.0, config=RecorderConfig(flush_every=1000, flush_interval_s=0.0))
    rec.write(frames[0])
    assert on_disk(by_time) == 2
    rec.close()


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_close_from_another_thread_while_writing(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    frames = make_frames(50, rng)
    path = tmp_path / ("t" + suffix)
    rec = Recorder.open(path, fps=30.0, config=RecorderConfig(flush_every=1))
    errors: list[BaseException] = []
    attempts = 0

    def pipeline() -> None:  # writes until it has seen its frames refused after close
        nonlocal attempts
        deadline = time.monotonic() + 10.0
        try:
            while rec.frames_ignored < 5 and time.monotonic() < deadline:
                rec.write(frames[attempts % 50])
                attempts += 1
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    worker = threading.Thread(target=pipeline)
    worker.start()
    _wait_for(lambda: rec.frames_written >= 20 or not worker.is_alive())
    rec.close()
    rec.close()  # idempotent
    worker.join()
    assert not errors
    assert rec.frames_written + rec.frames_ignored == attempts and rec.frames_ignored > 0
    seq = read_jsonl(path) if suffix == ".jsonl" else load_poses(path)
    assert seq.poses3d.shape[0] == rec.frames_written  # every accepted frame is in the file
    assert not spool_path(path).exists()


def test_close_from_a_signal_handler_during_writes(tmp_path: Path, rng: np.random.Generator) -> None:
    """A handler (as skeletor-live installs for Ctrl-C) closes the recorder while this thread writes."""
    frames = make_frames(10, rng)
    path = tmp_path / "sig.jsonl"
    rec = Recorder.open(path, fps=30.0, config=RecorderConfig(flush_every=1))
    old = signal.signal(signal.SIGALRM, lambda *_: rec.close())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        deadline = time.monotonic() + 5.0
        while not rec.closed and time.monotonic() < deadline:
            rec.write(frames[rec.frames_written % 10])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert rec.closed
    lines = path.read_text().splitlines()
    assert len(lines) == rec.frames_written + 1  # every accepted frame, on a complete line
    assert all(decode_message(line) for line in lines)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def _child(path: Path, body: str) -> subprocess.Popen[str]:
    """A Python process that records to ``path``; it prints ``ready`` once 40 frames are flushed."""
    code = textwrap.dedent(
        f"""
        import signal, sys, time
        import numpy as np
        from skeletor.protocol import PoseFrame
        from skeletor.io.recording import Recorder, RecorderConfig
        rec = Recorder.open({str(path)!r}, fps=30.0, config=RecorderConfig(flush_every=5, flush_interval_s=0.05))
        def frame(i):
            j = np.full((75, 3), 0.001 * i, np.float32)
            j[40] = np.nan
            return PoseFrame(seq=i, t_capture_ns=i, joints=j, confidence=np.ones(75, np.float32))
        for i in range(40):
            rec.write(frame(i))
        rec.flush()
        print("ready", flush=True)
        """
    ) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


KEEP_WRITING = """
i = 40
while True:
    rec.write(frame(i))
    i += 1
    time.sleep(0.0005)
"""


def test_kill_9_leaves_every_flushed_jsonl_line_readable(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    proc = _child(path, KEEP_WRITING)
    _wait_for(lambda: path.read_bytes().count(b"\n") > 150)  # periodic flushes reach the disk while it runs
    proc.kill()  # SIGKILL: no handler, no atexit
    proc.wait(10)
    lines = path.read_bytes().split(b"\n")
    complete = lines[:-1]  # the hello line and the frames; what follows the last newline may be cut short
    assert len(complete) > 150
    assert all(decode_message(line.decode()) for line in complete)
    seq = read_jsonl(path)  # a cut-off last line is skipped
    assert seq.poses3d.shape[0] in (len(complete) - 1, len(complete))  # (the kill may fall just before a newline)
    np.testing.assert_allclose(seq.poses3d[39, 0], [0.039, 0.039, 0.039], atol=1e-5)


def test_kill_9_of_an_npz_recording_is_recoverable(tmp_path: Path) -> None:
    path = tmp_path / "killed.npz"
    proc = _child(path, KEEP_WRITING)
    record = 16 + 75 * 4 * 4  # seq, t_capture_ns, joints, confidence
    _wait_for(lambda: spool_path(path).stat().st_size > 150 * record)
    proc.kill()
    proc.wait(10)
    assert not path.exists() and spool_path(path).exists()
    with pytest.raises(FileExistsError, match="recover_npz"):
        Recorder.open(path, fps=30.0)  # never silently overwrite a take
    seq = recover_npz(path)
    assert seq.poses3d.shape[0] >= 150 and not spool_path(path).exists()
    loaded = load_poses(path)
    np.testing.assert_array_equal(loaded.poses3d, seq.poses3d)
    np.testing.assert_allclose(loaded.poses3d[:40, 0, 0], 0.001 * np.arange(40), atol=1e-7)
    assert np.isnan(loaded.poses3d[:, 40]).all()


def test_sigterm_handler_and_plain_exit_finish_the_npz(tmp_path: Path) -> None:
    """SIGTERM with a handler that closes (as skeletor-live does); a plain exit relies on atexit."""
    on_term = tmp_path / "term.npz"
    proc = _child(on_term, "signal.signal(signal.SIGTERM, lambda *_: (rec.close(), sys.exit(0)))\n" + KEEP_WRITING)
    time.sleep(0.05)  # mid-write, most likely
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert load_poses(on_term).poses3d.shape[0] >= 40 and not spool_path(on_term).exists()
    at_exit = tmp_path / "exit.npz"
    proc = _child(at_exit, "sys.exit(0)\n")  # never calls close()
    assert proc.wait(10) == 0
    assert load_poses(at_exit).poses3d.shape[0] == 40


def test_bad_use_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl or \.npz"):
        Recorder.open(tmp_path / "x.csv", fps=30.0)
    with pytest.raises(ValueError, match="fps"):
        Recorder.open(tmp_path / "x.jsonl", fps=0.0)
    with pytest.raises(ValueError, match="joints"):
        RecorderConfig(fields=("confidence",))
    rec = Recorder.open(tmp_path / "x.jsonl", fps=30.0)
    with pytest.raises(ValueError, match="75"):
        rec.write(PoseFrame(0, 0, np.zeros((50, 3)), np.ones(50)))
    rec.close()
    rec.write(make_frames(1, rng)[0])  # after close: ignored, not an error
    assert rec.frames_ignored == 1 and rec.frames_written == 0
    (tmp_path / "bad.jsonl").write_text('{"type":"hello","skeleton":{"name":"holistic75"},"fps":30}\nnot json\n{"type":"frame"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_jsonl(tmp_path / "bad.jsonl")


WRITE_AND_REPORT = """
import sys, time
import numpy as np
from skeletor.protocol import PoseFrame
from skeletor.io.recording import Recorder
rec = Recorder.open(sys.argv[1], fps=30.0)  # the default config, as skeletor-live --record uses it
def frame(i):
    return PoseFrame(seq=i, t_capture_ns=i, joints=np.full((75, 3), 0.001 * i, np.float32), confidence=np.ones(75, np.float32))
n = int(sys.argv[2])
i = 0
while n == 0 or i < n:
    rec.write(frame(i))
    i += 1
    print(i, flush=True)  # after write() returned: this many frames are recorded
time.sleep(3600)  # a stalled source: no more frames, the process stays alive until killed
"""


def _kill_9_after(path: Path, frames: int, at_least: int = 0) -> int:
    """Record ``frames`` frames (0 = without end) in a child, SIGKILL it, return how many writes had returned."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", WRITE_AND_REPORT, str(path), str(frames)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    returned = 0
    while returned < max(frames, at_least):
        returned = int(proc.stdout.readline())
    proc.kill()  # SIGKILL: no handler, no atexit, no flush
    proc.wait(10)
    return returned


@pytest.mark.parametrize("frames", [1, 40])
def test_kill_9_of_a_stalled_recording_keeps_every_frame_written(tmp_path: Path, frames: int) -> None:
    """Defect: a SIGKILL'd .jsonl lost its last frames: they sat in the file's buffer until the
    next flush (every 30 frames by default), for ever if the source had stalled. Now every frame
    whose write() returned is in the operating system's hands, so a killed process loses none."""
    path = tmp_path / "stalled.jsonl"
    assert _kill_9_after(path, frames) == frames
    raw = path.read_bytes()
    assert raw.endswith(b"\n")  # no cut-short line: the kill came between writes
    lines = raw.split(b"\n")[:-1]
    assert len(lines) == 1 + frames and decode_message(lines[0].decode())["type"] == MessageType.HELLO
    seq = read_jsonl(path)
    assert seq.poses3d.shape[0] == frames
    np.testing.assert_allclose(seq.poses3d[-1, 0], 0.001 * (frames - 1), atol=1e-5)

    spooled = tmp_path / "stalled.npz"
    assert _kill_9_after(spooled, frames) == frames
    assert recover_npz(spooled).poses3d.shape[0] == frames


def test_kill_9_mid_stream_leaves_the_file_valid_to_the_last_whole_frame(tmp_path: Path) -> None:
    """Killed while writing as fast as it can: every frame whose write() had returned is
    there, every whole line decodes, and at most one cut-short line ends the file (the
    reader skips it)."""
    path = tmp_path / "busy.jsonl"
    returned = _kill_9_after(path, 0, at_least=200)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    whole, tail = lines[:-1], lines[-1]  # tail: b"" or the cut-short frame being written at the kill
    frames = [decode_message(line.decode()) for line in whole[1:]]
    assert [f["seq"] for f in frames] == list(range(len(frames)))
    assert len(frames) >= returned
    seq = read_jsonl(path)
    assert seq.poses3d.shape[0] == len(frames)
    if tail:
        with pytest.raises(ValueError):
            json.loads(tail)


def test_a_flush_that_fails_at_close_cuts_the_file_back_to_its_last_whole_frame(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames batched (flush_every 10) when the disk fills: close() raises RecordingError, the
    file keeps the frames of the last good flush, every line whole, and the descriptor is closed."""
    import errno
    import io

    import skeletor.io.recording as recording
    from skeletor.io.recording import RecordingError

    frames = make_frames(25, rng)
    path = tmp_path / "rec.jsonl"
    state = {"full": False, "raw": None}

    class Disk(io.FileIO):
        def write(self, b: object) -> int:
            if state["full"]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(b)  # type: ignore[arg-type]

    def fake_open(p: object, mode: str = "r", buffering: int = -1, encoding: str | None = None, newline: str | None = None) -> object:
        state["raw"] = raw = Disk(p, "w")  # type: ignore[arg-type]
        return io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding=encoding, newline=newline)

    monkeypatch.setattr(recording, "open", fake_open, raising=False)
    rec = Recorder.open(path, fps=30.0, config=RecorderConfig(flush_every=10, flush_interval_s=3600))
    for f in frames:
        rec.write(f)  # flushed after frames 10 and 20; 21-25 wait in the buffer
    state["full"] = True
    with pytest.raises(RecordingError, match="No space left on device; recording stopped") as exc:
        rec.close()
    assert exc.value.frames_kept == rec.frames_kept == 20 and rec.closed and state["raw"].closed
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines[1:]] == list(range(20))
    rec.write(frames[0])  # after the failure: ignored, never raised again
    assert rec.frames_ignored == 1
