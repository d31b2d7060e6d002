"""tests/fsspec: ``s3sink://`` through fsspec and the engines that use it (pandas, pyarrow, a
Dask cluster of worker processes on 127.0.0.1), against the session's moto server; fsspec's
own abstract suite; s3fs beside it for what a failed task leaves behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from s3sink.fsspec import S3SinkFileSystem
from tests.support.folders import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the ``fsspec`` marker."""
    mark_folder(items, __file__, pytest.mark.fsspec)


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
