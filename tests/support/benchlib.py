"""The bench's scripts (``scripts/benchlib/``, not a package) as modules for its tests: each
imported by path once, under ``bench_NAME``, and shared by every test module that asks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHLIB = Path(__file__).resolve().parents[2] / "scripts" / "benchlib"


def load(name: str) -> ModuleType:
    """``scripts/benchlib/NAME.py`` as the module ``bench_NAME``."""
    loaded = sys.modules.get(f"bench_{name}")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHLIB / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
