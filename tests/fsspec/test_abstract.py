"""fsspec's own abstract suite (``fsspec.tests.abstract``: copy, get, put, pipe, open), the
one s3fs runs against itself, run against ``s3sink://`` on moto. Exclusive create (``"xb"``,
``pipe_file(mode="create")``) is S3's conditional write and raises FileExistsError."""

from __future__ import annotations

import pytest
from fsspec.tests import abstract

from s3sink.fsspec import S3SinkFileSystem


class S3SinkFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    """The suite's fixtures: a filesystem on the module's bucket, empty before each test (the
    suite removes what each test made; ``module_bucket`` checks it did)."""

    @pytest.fixture
    def fs(self, module_fs: S3SinkFileSystem) -> S3SinkFileSystem:
        return module_fs

    @pytest.fixture
    def fs_path(self, module_bucket: str) -> str:
        return module_bucket

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False  # S3 has prefixes, not directories


class TestCopy(abstract.AbstractCopyTests, S3SinkFixtures):  # type: ignore[misc]
    """fs.copy: CopyObject in the store."""


class TestGet(abstract.AbstractGetTests, S3SinkFixtures):  # type: ignore[misc]
    """fs.get: download_file (verified, renamed into place)."""


class TestPut(abstract.AbstractPutTests, S3SinkFixtures):  # type: ignore[misc]
    """fs.put: upload_file."""


class TestPipe(abstract.AbstractPipeTests, S3SinkFixtures):  # type: ignore[misc]
    """fs.pipe_file, mode="create" included."""


class TestOpen(abstract.AbstractOpenTests, S3SinkFixtures):  # type: ignore[misc]
    """fs.open, "xb" included."""
