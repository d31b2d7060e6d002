"""tests/cli: programs as real processes: the installed ``s3sink`` command with real pipes,
FIFOs, signals and exit codes (tests/support/clirun.py), PostgreSQL's pg_dump, a fresh
interpreter for import costs; against the moto server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``cli`` marker."""
    mark_folder(items, __file__, pytest.mark.cli)
