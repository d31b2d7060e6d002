"""docs/architecture.md is the map of the package: every module is listed in its room's table,
and every module it lists exists, so the map cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "s3sink"
DOC = ROOT / "docs" / "architecture.md"


def _sections() -> dict[str, set[str]]:
    """The module names (``boto.py``) in each room's table, by room (``_store``; ``""`` for
    the leaves)."""
    rooms: dict[str, set[str]] = {}
    room: str | None = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"\*\*(?:`(\w+)/`|Leaves)\*\*", line)
        if heading:
            room = heading.group(1) or ""
            rooms[room] = set()
        elif room is not None and line.startswith("| `"):
            first_cell = line.split("|")[1]
            rooms[room].update(re.findall(r"`([\w.]+\.py)`", first_cell))
    return rooms


def _modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        room = relative.parts[0] if len(relative.parts) > 1 else ""
        found.setdefault(room, set()).add(path.name)
    return found


def test_every_module_is_on_the_map() -> None:
    """Each module of s3sink/ appears in its room's table (a room's ``__init__.py`` only
    re-exports or documents, and need not)."""
    listed = _sections()
    for room, names in _modules().items():
        missing = names - listed.get(room, set()) - ({"__init__.py"} if room else set())
        assert not missing, f"docs/architecture.md does not list {sorted(missing)} in {room!r}"


def test_the_map_lists_no_module_that_is_gone() -> None:
    """Every module the map names exists where it says."""
    present = _modules()
    for room, names in _sections().items():
        gone = names - present.get(room, set())
        assert not gone, f"docs/architecture.md lists {sorted(gone)} in {room!r}: not there"
