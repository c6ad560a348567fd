"""Loads the Blender add-on's pure modules (``rig_pose``, ``stream``) without Blender: the package's
``__init__`` (which imports ``bpy``) is not run."""

from __future__ import annotations

import sys
import types
from pathlib import Path

ADDON = Path(__file__).resolve().parents[3] / "clients" / "blender" / "skeletor_live"

if "skeletor_live" not in sys.modules:
    package = types.ModuleType("skeletor_live")
    package.__path__ = [str(ADDON)]  # type: ignore[attr-defined]
    sys.modules["skeletor_live"] = package
