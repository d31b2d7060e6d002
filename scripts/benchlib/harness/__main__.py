"""``scripts/bench`` runs this: ``python scripts/benchlib/harness ARGS`` (or, with ``scripts/``
on the path, ``python -m benchlib.harness ARGS``)."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run by path: sys.path[0] is this folder; import the package from scripts/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from benchlib.harness.cli import main  # after the path is set

if __name__ == "__main__":
    raise SystemExit(main())
