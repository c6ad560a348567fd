"""scripts/gpu_check.sh on a machine without an NVIDIA GPU: it says so, measures nothing, exits 3."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_refuses_without_a_gpu_and_writes_nothing(tmp_path: Path) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    out = tmp_path / "gpu"
    env = {**os.environ, "GPU_OUT": str(out), "GPU_VENV": str(tmp_path / "venv")}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 3
    assert "no NVIDIA GPU found" in res.stderr and "Nothing measured" in res.stderr
    assert not out.exists() and not (tmp_path / "venv").exists()


def test_a_fake_gpu_gets_past_the_check_and_installs_without_the_cpu_onnxruntime(tmp_path: Path) -> None:
    """With an nvidia-smi that lists a GPU, the script goes on to make its venv and asks pip for
    onnxruntime-gpu and tensorrt but never for the CPU onnxruntime (a stand-in pip records the call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Fake'\n")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    real_python = shutil.which("python3")
    # A stand-in interpreter: records `-m pip ...` calls and fails them (so nothing is installed);
    # runs everything else (reading pyproject.toml) with the real interpreter.
    (venv / "bin" / "python").write_text(
        f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> {log}; exit 7; fi\nexec {real_python} "$@"\n'
    )
    for f in (bin_dir / "nvidia-smi", venv / "bin" / "python"):
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GPU_OUT": str(tmp_path / "gpu"), "GPU_VENV": str(venv)}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 7  # the stand-in pip's failure stops the script (set -e)
    words = log.read_text().split()
    assert "onnxruntime-gpu" in words and "tensorrt" in words and "mediapipe==0.10.21" in words
    assert not [w for w in words if w.startswith("onnxruntime") and w != "onnxruntime-gpu"]
