"""The writer ``s3sink://`` hands out (:class:`FileWriter`): S3MultipartWriter, abort-safe
as ever, that tells its filesystem when it ended (the listing cache goes) and, opened
exclusive (``"xb"``, ``pipe_file(mode="create")``), reports a refused If-None-Match as the
``FileExistsError`` fsspec's callers expect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._writer.writer import S3MultipartWriter
from ..errors import PreconditionFailed

__all__ = ["FileWriter", "exists_as"]


@contextmanager
def exists_as(path: str) -> Iterator[None]:
    """A refused conditional write (If-None-Match) as the FileExistsError fsspec expects."""
    try:
        yield
    except PreconditionFailed as exc:
        raise FileExistsError(f"{path} exists (a conditional write was refused)") from exc


class FileWriter(S3MultipartWriter):
    """The writer a filesystem hands out: when it ends the filesystem's listing cache is
    forgotten, and, exclusive, a refused condition is a ``FileExistsError``."""

    fs_path = ""
    on_end: Callable[[], None] | None = None

    def write(self, data: Any) -> int:
        with exists_as(self.fs_path):
            return super().write(data)

    def check_conditions(self) -> None:
        with exists_as(self.fs_path):
            super().check_conditions()

    def close(self) -> None:
        try:
            with exists_as(self.fs_path):
                super().close()
        finally:
            if self.on_end is not None:
                self.on_end()

    def __exit__(self, *exc_info: Any) -> None:
        try:
            with exists_as(self.fs_path):
                super().__exit__(*exc_info)
        finally:
            if self.on_end is not None:
                self.on_end()
