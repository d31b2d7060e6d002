"""tests/wire: the library in this process, over botocore's real HTTP path, against the session's
moto server on 127.0.0.1 (tests/conftest.py), with the fault proxy where moto cannot fail on
its own."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``wire`` marker."""
    mark_folder(items, __file__, pytest.mark.wire)
