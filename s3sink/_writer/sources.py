"""Files as input: parts read with positional reads on the worker threads, the part size
fitted to the file's size, and the file checked unchanged before the commit.

:meth:`S3MultipartWriter.write_file` hands each part to the pool with a ``fill`` that
``preadv``-s the part's byte range straight into its buffer on the worker thread that then
sends it: no reader in between, no extra copy, and as many parts read at once as are in
flight. Also what :meth:`S3MultipartWriter.readinto_from` reads: any blocking ``readinto``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import SourceChangedError, UsageError

__all__ = ["FileSnapshot", "Readable", "pread_into", "read_blocking"]


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


class Readable(Protocol):
    """What ``readinto_from`` reads: anything with ``readinto`` (raw or buffered files)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def read_blocking(source: Readable, view: memoryview) -> int:
    """``source.readinto(view)``; a non-blocking source with no data yet (None) is an
    error, not end of stream: taking it for EOF would publish a truncated object."""
    n = source.readinto(view)
    if n is None:
        raise BlockingIOError(errno.EAGAIN, "readinto_from needs a blocking source")
    return n
