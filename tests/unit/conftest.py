"""tests/unit: no sockets, no subprocesses: the fast loop (``scripts/test --fast``)."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``unit`` marker."""
    mark_folder(items, __file__, pytest.mark.unit)
