"""tests/stores: the real S3-compatible stores, SeaweedFS and Ceph RGW beside moto
(tests/support/stores.py), each started once per session when a test first needs it."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``stores`` marker."""
    mark_folder(items, __file__, pytest.mark.stores)
