"""tests/bench: the benchmark's own machinery (scripts/benchlib, loaded through
tests/support/benchlib.py) on small inputs: no benchmark is run here."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``bench`` marker."""
    mark_folder(items, __file__, pytest.mark.bench)
