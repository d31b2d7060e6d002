"""The bench's package (``scripts/benchlib/``, imported as ``benchlib`` with ``scripts/`` on the
path, as ``scripts/bench`` runs it) for its tests: ``load("harness.runs")`` is
``benchlib.harness.runs``, imported once and shared by every test module that asks."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str) -> ModuleType:
    """``scripts/benchlib/NAME`` (dots for a package's module) as ``benchlib.NAME``."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(f"benchlib.{name}")
