"""The dependency rules, read from the source: the library stays pure, inference never needs training code.

* ``skeletor/`` never imports cv2, mediapipe, websockets, asyncio or ``realtime`` (at the top
  of a module or inside a function): ``realtime/`` owns all I/O.
* The code a live user runs (the uplift, the cleaner, the ONNX runtime, the protocol codec,
  file formats) never imports the refiner's training code (``skeletor.refiner.train``,
  ``.data``, ``.dataset``, ``.cli``, ``.export``).
* ``skeletor clean`` and ``skeletor-live`` start without torch or onnx (checked by importing
  them in a fresh interpreter).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "skeletor"
IO_STACKS = ("cv2", "mediapipe", "websockets", "asyncio", "realtime")
TRAINING = ("skeletor.refiner.train", "skeletor.refiner.data", "skeletor.refiner.dataset", "skeletor.refiner.cli", "skeletor.refiner.export")
# Packages and modules that run at inference time (live or ``skeletor clean``).
INFERENCE = ("skeletor/pose", "skeletor/uplift", "skeletor/cleaner", "skeletor/protocol", "skeletor/io", "skeletor/rig", "skeletor/refiner/runtime.py",
             "skeletor/refiner/windows.py", "skeletor/refiner/cached.py")


def imported_modules(source: str) -> set[str]:
    """Every module named by an import statement anywhere in ``source`` (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(source: str, forbidden: tuple[str, ...]) -> list[str]:
    """The imports in ``source`` that are one of ``forbidden`` or inside one of them."""
    return sorted(m for m in imported_modules(source) if any(m == f or m.startswith(f + ".") for f in forbidden))


def _files(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = ROOT / p
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    return out


def test_the_checker_sees_imports_anywhere() -> None:
    snippet = "import numpy\ndef f():\n    import cv2.data\n    from realtime.server import x\nfrom asyncio import sleep\n"
    assert violations(snippet, IO_STACKS) == ["asyncio", "asyncio.sleep", "cv2.data", "realtime.server", "realtime.server.x"]
    assert violations("from skeletor.refiner import train\n", TRAINING) == ["skeletor.refiner.train"]
    assert violations("import numpy as np\nfrom skeletor.pose.skeleton import HOLISTIC75\n", IO_STACKS + TRAINING) == []


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_imports_no_io_stack(path: Path) -> None:
    assert violations(path.read_text(), IO_STACKS) == [], f"{path.relative_to(ROOT)} imports an I/O stack; move that code to realtime/"


def test_inference_code_imports_no_training_code() -> None:
    files = _files(INFERENCE)
    assert len(files) >= 10  # the inference packages exist where this test looks for them
    bad = {str(f.relative_to(ROOT)): violations(f.read_text(), TRAINING) for f in files}
    assert {k: v for k, v in bad.items() if v} == {}


def test_tools_start_without_torch_or_onnx() -> None:
    code = (
        "import sys\n"
        "import skeletor.cleaner.cli, realtime.cli, realtime.commands\n"
        "print(sorted(m for m in ('torch', 'onnx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
