"""``skeletor-live --people 3`` end to end on a real street video: every person to clients that ask, the primary person to the others."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import websockets
from live_helpers import start_live

from skeletor.protocol import decode_message


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """Start skeletor-live on a free port; return the process and its ws:// URL (its startup line names the people)."""
    proc, url, line = start_live(*args, env=env, timeout_s=120)
    assert "people: up to 3" in line, line
    return proc, url


async def _client(url: str, subscribe: str | None) -> dict:
    """Everything one client gets until the server closes: hello, frames (decoded), status events."""
    out: dict = {"frames": [], "events": [], "hello": None}
    try:
        async with websockets.connect(url) as ws:
            if subscribe is not None:
                await ws.send(subscribe)
            while True:
                msg = decode_message(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "frame":
                    out["frames"].append(msg)
                elif msg["type"] == "status":
                    out["events"].append((msg["event"], msg.get("person_id")))
                elif msg["type"] == "hello":
                    out["hello"] = msg
    except websockets.ConnectionClosed:
        pass
    return out


def test_people_all_gets_every_person_and_an_old_client_one(data_dir: Path, tmp_path: Path) -> None:
    """openpose_video.avi (street dancers, 205 frames at 1280 x 720) with --people 3: a client
    subscribed to people "all" gets frames of several person_ids (the same seq for each
    person of a capture); an old client, with no people in its subscription (JSON, and
    binary), gets one frame per capture, with no person_id on the wire, each equal to one
    person's frame of that capture, and that person changes only to a later id (one person
    at a time: the oldest followed)."""
    video = data_dir / "videos" / "openpose_video.avi"
    proc, url = _start({"SKELETOR_CACHE": str(tmp_path / "cache")}, "--video", str(video), "--people", "3", "--no-refine")

    async def clients() -> list[dict]:
        return list(await asyncio.gather(
            _client(url, '{"type":"subscribe","people":"all","fields":["joints"]}'),
            _client(url, None),
            _client(url, '{"type":"subscribe","format":"binary","fields":["joints"]}'),
        ))  # fmt: skip

    try:
        every, old, old_binary = asyncio.run(clients())
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert every["hello"]["max_people"] == 3 and old["hello"]["max_people"] == 3
    ids = {f["person_id"] for f in every["frames"]}
    assert len(ids) >= 2, ids
    by_capture: dict[int, dict[int, dict]] = {}
    for f in every["frames"]:
        assert f["person_id"] not in by_capture.setdefault(f["seq"], {})  # one frame per person per capture
        by_capture[f["seq"]][f["person_id"]] = f
    assert sum(len(people) >= 2 for people in by_capture.values()) >= 20  # several people at once, same seq
    appeared = {pid for event, pid in every["events"] if event == "person_appeared"}
    assert ids <= appeared | {min(ids)}  # every id was announced (the first may be before the client connected)
    for client in (old, old_binary):
        frames = client["frames"]
        assert len(frames) >= 100
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(set(seqs))  # exactly one frame per capture
        assert all("person_id" not in f for f in frames)  # an old client's bytes: no person_id
        followed = []
        for f in frames:
            same = [pid for pid, g in by_capture.get(f["seq"], {}).items() if _same_joints(g, f)]
            if same:
                followed.append(min(same))
        assert len(followed) >= 0.8 * len(frames), (len(followed), len(frames))
        assert followed == sorted(followed)  # the primary person changes only when the oldest leaves
        assert len(set(followed)) < len(ids) + 1


def _same_joints(a: dict, b: dict) -> bool:
    """The two frames carry the same pose (JSON rounds to 10 um; binary is float32)."""
    import numpy as np

    ja, jb = np.asarray(a["joints"], float), np.asarray(b["joints"], float)
    return bool(np.allclose(ja, jb, atol=1e-5, equal_nan=True))
