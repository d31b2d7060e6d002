"""tests/fsspec: ``s3sink://`` through fsspec and the engines that use it (pandas, pyarrow, a
Dask cluster of worker processes on 127.0.0.1), against the session's moto server; fsspec's
own abstract suite; s3fs beside it for what a failed task leaves behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from s3sink._fsspec import clients
from s3sink.fsspec import S3SinkFileSystem
from tests.support.folders import mark_folder
from tests.support.motoserver import MotoServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``fsspec`` marker."""
    mark_folder(items, __file__, pytest.mark.fsspec)


@pytest.fixture(autouse=True)
def _few_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients built anew for each test, with 2 attempts a request: moto answers a part that
    was in flight when its upload was aborted with 500 (a KeyError; S3 says NoSuchUpload,
    which is not retried), and the standard 10 attempts would retry it for ~30 s."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setattr(clients, "_clients", {})


@pytest.fixture
def s3fs_(s3_endpoint: str, aws_env: None) -> Iterator[S3SinkFileSystem]:
    """A fresh S3SinkFileSystem on the (reset) moto server, dummy credentials in the
    environment; fsspec's instance cache cleared after."""
    fs = S3SinkFileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    yield fs
    S3SinkFileSystem.clear_instance_cache()


@pytest.fixture
def fs_bucket(s3_client: Any, bucket: str) -> str:
    """The test's bucket (the ``bucket`` fixture), for the filesystem's paths."""
    return bucket


@pytest.fixture
def module_fs(
    moto_server: MotoServer, module_bucket: str, aws_env: None
) -> Iterator[S3SinkFileSystem]:
    """A filesystem on the module's bucket (``module_bucket``: empty at the start, emptied
    after), for long tables of cases that a server reset per case would slow down; its
    listing cache forgotten after each case."""
    fs = S3SinkFileSystem(endpoint_url=moto_server.endpoint_url)
    fs.invalidate_cache()
    yield fs
    fs.invalidate_cache()
