"""``skeletor clean --ray``: a local Ray with 2 CPUs cleans real inputs to the serial run's bytes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.commands import main
from skeletor.cleaner.batch import RayConfig
from skeletor.pose.keypoints import load_poses

pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[cluster]' (CI installs it with the dev extras)")

REPO = Path(__file__).resolve().parents[3]


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_ray_writes_the_serial_outputs_lists_failures_and_resumes(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The How2Sign OpenPose clips, MediaPipe .pose files and two broken inputs, on a Ray started
    here with 2 CPUs: every good input's output is byte for byte the serial run's; the broken
    ones are reported (and listed again at the end) while the rest is written; exit 2 as
    serial; run again with --resume, nothing is cleaned twice."""
    json_dir = data_dir / "how2sign_openpose_prompt2sign" / "json"
    poses = [data_dir / "slp_pose_format" / n for n in ("mediapipe.pose", "viewer_sample_example.pose")]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00 not a zip")
    no_json = tmp_path / "clip_000000000000_keypoints.json"  # an OpenPose folder whose file is not JSON
    bad_clip = tmp_path / "bad_clip"
    bad_clip.mkdir()
    (bad_clip / no_json.name).write_text("{not json")
    inputs = [str(json_dir), *map(str, poses), str(junk), str(bad_clip)]

    serial, ray_out = tmp_path / "serial", tmp_path / "ray"
    assert main(["clean", *inputs, "-o", str(serial), "--no-progress"]) == 2
    serial_err = capsys.readouterr().err
    # `--ray INPUT`: the word after --ray is not an address, so it is the first input
    with monkeypatch.context() as m:
        m.setattr(sys.stderr, "isatty", lambda: True)
        rc = main(["clean", "--ray", *inputs, "--ray-cpus", "2", "-o", str(ray_out)])
    assert rc == 2
    err = capsys.readouterr().err
    frames = sum(len(load_poses(p).poses3d) for p in serial.iterdir())
    assert re.search(r"files: +100%.*9/9", err) and f"frames: {frames}frame" in err
    assert _contents(ray_out) == _contents(serial) and len(_contents(serial)) == 7
    assert err.strip().splitlines()[-1] == serial_err.strip().splitlines()[-1] == "skeletor clean: 7 of 9 file(s) written"
    listed = err[err.index("2 input(s) failed:") :].splitlines()[1:3]
    assert any(str(junk) in line for line in listed) and any(str(bad_clip) in line and "OpenPose JSON" in line for line in listed)

    rc = main(["clean", *inputs, "-o", str(ray_out), "--ray", "--ray-cpus", "2", "--no-progress", "--resume"])
    assert rc == 2
    err = capsys.readouterr().err
    assert sum(" -> " in line and line.endswith("already written (--resume)") for line in err.splitlines()) == 7
    assert err.strip().splitlines()[-1] == "skeletor clean: 0 of 9 file(s) written, 7 already written (--resume)"
    assert _contents(ray_out) == _contents(serial)


def test_ray_config_and_addresses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad Ray settings are refused; a cluster that is not there is exit 2 naming the address, nothing written."""
    with pytest.raises(ValueError):
        RayConfig(num_cpus=0)
    with pytest.raises(ValueError):
        RayConfig(max_in_flight=0)
    src = tmp_path / "in.npz"
    src.write_bytes(b"")
    rc = main(["clean", str(src), "-o", str(tmp_path / "out"), "--ray=127.0.0.1:1", "--no-refine", "--no-progress"])
    assert rc == 2
    assert "cannot join the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_ray_stays_out_of_serial_runs() -> None:
    """Neither the library nor a serial ``skeletor clean`` imports ray (an optional extra)."""
    code = "import sys, skeletor, skeletor.cleaner.cli, skeletor.cleaner.batch, realtime.commands\nprint('ray' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
