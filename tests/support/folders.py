"""Each test folder names what its tests need, and its conftest.py marks them with it, so
that ``pytest -m unit`` (or ``-m "not stores"``) selects by need wherever the tests are run
from."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def mark_folder(items: Iterable[pytest.Item], conftest: str, marker: pytest.MarkDecorator) -> None:
    """Add ``marker`` to every collected test under the folder of ``conftest`` (a conftest's
    ``__file__``). pytest hands every conftest's hook the whole session's items, hence the
    check of the path."""
    folder = Path(conftest).resolve().parent
    for item in items:
        if folder in item.path.resolve().parents:
            item.add_marker(marker)
