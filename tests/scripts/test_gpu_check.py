"""scripts/gpu_check.sh and scripts/gpu_wheels.sh without an NVIDIA GPU: the refusal, and each
path's decisions up to the first measurement, with stand-ins for nvidia-smi, pip and the GPU
machine's python3 (which record what they were asked)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_PYTHON = shutil.which("python3")
UNREACHABLE_INDEX = "http://127.0.0.1:9/simple"  # the discard port: connection refused at once


def _run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "scripts" / script), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def _fake_gpu(tmp_path: Path) -> str:
    """A PATH whose nvidia-smi lists one GPU."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake'\n")
    smi.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def _stand_in(path: Path, log: Path, torch_sees_gpu: bool) -> Path:
    """An interpreter that records each `-m pip ...` call (with the sha256 of a .whl it is given)
    and fails it, answers the script's torch check as told, and runs anything else for real."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> {log}; '
        f'for a in "$@"; do case "$a" in *.whl) sha256sum "$a" >> {log};; esac; done; exit 7; fi\n'
        f'if [ "$1" = "-c" ] && echo "$2" | grep -q torch.cuda; then exit {0 if torch_sees_gpu else 1}; fi\n'
        f'exec {REAL_PYTHON} "$@"\n'
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def index_url(tmp_path: Path) -> Iterator[str]:
    """A package index that answers (a local HTTP server over an empty folder)."""
    (tmp_path / "index" / "simple" / "pip").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "index"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()


def test_refuses_without_a_gpu_and_writes_nothing(tmp_path: Path) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    out = tmp_path / "gpu"
    res = _run("gpu_check.sh", {"GPU_OUT": str(out), "GPU_VENV": str(tmp_path / "venv")})
    assert res.returncode == 3
    assert "no NVIDIA GPU found" in res.stderr and "Nothing measured" in res.stderr
    assert not out.exists() and not (tmp_path / "venv").exists()


def test_with_an_index_it_installs_onnxruntime_gpu_and_tensorrt_never_the_cpu_onnxruntime(tmp_path: Path, index_url: str) -> None:
    venv = tmp_path / "venv"
    log = tmp_path / "pip.log"
    _stand_in(venv / "bin" / "python", log, torch_sees_gpu=True)
    env = {"PATH": _fake_gpu(tmp_path), "GPU_OUT": str(tmp_path / "gpu"), "GPU_VENV": str(venv), "PIP_INDEX_URL": index_url}
    res = _run("gpu_check.sh", env)
    assert res.returncode == 7, res.stderr  # the stand-in pip's failure stops the script (set -e)
    assert "does not answer" not in res.stderr
    words = log.read_text().split()
    assert "onnxruntime-gpu" in words and "tensorrt" in words and "mediapipe==0.10.21" in words
    assert not [w for w in words if w.startswith("onnxruntime") and w != "onnxruntime-gpu"]


def test_offline_without_a_torch_that_sees_the_gpu_it_says_so_and_downloads_nothing(tmp_path: Path) -> None:
    log = tmp_path / "pip.log"
    python = _stand_in(tmp_path / "machine" / "python3", log, torch_sees_gpu=False)
    env = {"PATH": _fake_gpu(tmp_path), "GPU_OUT": str(tmp_path / "gpu"), "GPU_VENV": str(tmp_path / "venv"),
           "PIP_INDEX_URL": UNREACHABLE_INDEX, "PYTHON": str(python)}  # fmt: skip
    res = _run("gpu_check.sh", env)
    assert res.returncode == 4, res.stderr
    assert f"the package index {UNREACHABLE_INDEX} does not answer" in res.stderr and "has no torch that sees the GPU" in res.stderr
    assert not log.exists() and not (tmp_path / "gpu").exists()


def test_offline_what_was_carried_is_put_together_and_installed_beside_the_system(tmp_path: Path) -> None:
    """The onnxruntime-gpu wheel split by gpu_wheels.sh (GPU_CARRY/ort) is joined, checked, and
    handed with the kit's wheels (GPU_CARRY/kit) to the machine's own pip: no index, no
    dependencies, a target folder of its own."""
    carry = tmp_path / "carry"
    wheel = tmp_path / "onnxruntime_gpu-9.9.9-cp312-cp312-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(os.urandom(3 * 2**20 + 12345))
    split = _run("gpu_wheels.sh", {"PART_MB": "1"}, "split", str(wheel), str(carry / "ort"))
    assert split.returncode == 0, split.stderr
    assert len(sorted((carry / "ort").glob("*.part-*"))) == 4
    (carry / "kit").mkdir()
    kit_wheel = carry / "kit" / "mediapipe-0.10.21-cp312-cp312-manylinux_2_28_x86_64.whl"
    kit_wheel.write_bytes(b"not really a wheel")
    log = tmp_path / "pip.log"
    python = _stand_in(tmp_path / "machine" / "python3", log, torch_sees_gpu=True)
    env = {"PATH": _fake_gpu(tmp_path), "GPU_OUT": str(tmp_path / "gpu"), "GPU_VENV": str(tmp_path / "venv"),
           "PIP_INDEX_URL": UNREACHABLE_INDEX, "PYTHON": str(python), "GPU_CARRY": str(carry)}  # fmt: skip
    res = _run("gpu_check.sh", env)
    assert res.returncode == 7, res.stderr  # the stand-in pip's failure
    call, *digests = log.read_text().splitlines()
    assert call.split()[:2] == ["-m", "pip"] and {"install", "--no-index", "--no-deps", "--target"} <= set(call.split())
    assert str(tmp_path / "venv" / "offline-site") in call.split()
    by_name = {Path(d.split()[1]).name: d.split()[0] for d in digests}
    assert by_name == {wheel.name: hashlib.sha256(wheel.read_bytes()).hexdigest(), kit_wheel.name: hashlib.sha256(kit_wheel.read_bytes()).hexdigest()}


def test_a_damaged_part_is_refused(tmp_path: Path) -> None:
    original = tmp_path / "file.whl"
    original.write_bytes(os.urandom(2 * 2**20 + 7))
    parts = tmp_path / "parts"
    assert _run("gpu_wheels.sh", {"PART_MB": "1"}, "split", str(original), str(parts)).returncode == 0
    joined = _run("gpu_wheels.sh", {}, "join", str(parts), str(tmp_path / "ok"))
    assert joined.returncode == 0 and Path(joined.stdout.strip()).read_bytes() == original.read_bytes()
    last = sorted(parts.glob("*.part-*"))[-1]
    last.write_bytes(last.read_bytes()[:-1])
    damaged = _run("gpu_wheels.sh", {}, "join", str(parts), str(tmp_path / "bad"))
    assert damaged.returncode == 1 and "does not match its SHA256" in damaged.stderr
    assert not (tmp_path / "bad" / "file.whl").exists()
