"""Files as input: parts read with positional reads on the worker threads, the part size
fitted to the file's size, and the file checked unchanged before the commit.

:meth:`S3MultipartWriter.write_file` hands each part to the pool with a ``fill`` that
``preadv``-s the part's byte range straight into its buffer on the worker thread that then
sends it: no reader in between, no extra copy, and as many parts read at once as are in
flight. :func:`upload_file` is the library's one-call form.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._location import parse_location
from .._results import UploadResult
from ..errors import SourceChangedError, UsageError

__all__ = ["FileSnapshot", "pread_into", "upload_file"]


@dataclass(frozen=True)
class FileSnapshot:
    """What the file looked like when the upload began: it must look the same at the end."""

    fd: int
    name: str
    size: int
    mtime_ns: int

    @classmethod
    def take(cls, fd: int, name: str) -> FileSnapshot:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{name} is not a regular file")
        return cls(fd, name, info.st_size, info.st_mtime_ns)

    def check(self, bucket: str, key: str) -> None:
        """Raise SourceChangedError if the file's size or modification time changed."""
        try:
            info = os.fstat(self.fd)
        except OSError as exc:
            raise SourceChangedError(
                f"{self.name} can no longer be checked ({exc.strerror}); nothing was published",
                bucket=bucket,
                key=key,
            ) from exc
        if info.st_size != self.size or info.st_mtime_ns != self.mtime_ns:
            what = "size" if info.st_size != self.size else "modification time"
            raise SourceChangedError(
                f"{self.name} changed during the upload (its {what}); nothing was published",
                bucket=bucket,
                key=key,
            )


def pread_into(
    snapshot: FileSnapshot, offset: int, counted: Callable[[int], None], bucket: str, key: str
) -> Callable[[bytearray | memoryview], None]:
    """A part's ``fill``: read as many bytes as ``buf`` holds, at ``offset``, into it."""

    def fill(buf: bytearray | memoryview) -> None:
        with memoryview(buf) as view:
            got = 0
            while got < view.nbytes:
                n = os.preadv(snapshot.fd, [view[got:]], offset + got)
                if n == 0:
                    raise SourceChangedError(
                        f"{snapshot.name} shrank during the upload (nothing at offset "
                        f"{offset + got:,}); nothing was published",
                        bucket=bucket,
                        key=key,
                    )
                got += n
            counted(got)

    return fill


def upload_file(
    path: str | os.PathLike[str],
    uri: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **writer_options: Any,
) -> UploadResult:
    """Upload the file at ``path`` to ``s3://bucket/key`` and return what was published.

    Parts are cut to fit the file (as an exact ``expected_size``) and read in parallel
    with positional reads. If the file changes size or modification time meanwhile,
    SourceChangedError is raised and nothing is published. ``writer_options`` are
    S3MultipartWriter's (``resumable=True`` and ``resume=True`` included); ``endpoint_url``,
    ``region`` and ``profile`` build the client as the command does."""
    from .._api import add_client  # noqa: PLC0415  # _open imports _writer, which imports us
    from .writer import S3MultipartWriter  # noqa: PLC0415

    location = parse_location(uri)
    add_client(writer_options, endpoint_url=endpoint_url, region=region, profile=profile)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        writer_options.setdefault("expected_size", size)
        with S3MultipartWriter(location.bucket, location.key, **writer_options) as writer:
            writer.write_file(fd, name=os.fspath(path))
        return writer.result
    finally:
        os.close(fd)
