"""tests/mount: ``s3sink mount`` as a real FUSE mount (libfuse 3, fusermount3) over the moto
server (tests/support/mounted.py)."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``mount`` marker."""
    mark_folder(items, __file__, pytest.mark.mount)
