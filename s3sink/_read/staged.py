"""A file written under a temporary name beside its own and renamed over it only once the
object it holds is verified: ``cat -o PATH`` and ``download_file`` never leave a partial or
corrupted object at PATH, and an existing PATH stays as it was on any failure.

Interim: the same surface as ``_read/outfile.py``'s ``OutputFile`` (being written for
``s3sink get``: ``at``, ``write``, ``commit``, ``discard``, ``with``), which replaces this
module once it lands.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

__all__ = ["StagedFile", "staged"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class StagedFile:
    """NAME in the directory ``dir_fd``, written as ``.NAME.<hex>.s3sink-tmp`` until
    :meth:`commit` (fsync, rename over NAME, fsync the directory); leaving ``with`` without
    a commit removes the temporary file."""

    def __init__(self, dir_fd: int, name: str, *, shown: str) -> None:
        self._dir_fd = dir_fd
        self.name = name
        self.shown = shown
        self.temp_name = f".{name[:200]}.{secrets.token_hex(6)}.s3sink-tmp"
        self._fd = os.open(self.temp_name, _FLAGS, 0o666, dir_fd=dir_fd)
        self.size = 0
        self._done = False

    @classmethod
    def at(cls, path: Path) -> tuple[StagedFile, int]:
        """The file for ``path`` and its directory's descriptor (the caller closes it)."""
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return cls(dir_fd, path.name, shown=str(path)), dir_fd
        except BaseException:
            os.close(dir_fd)
            raise

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append all of ``data`` (short writes resumed)."""
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        self.size += total
        return total

    def commit(self) -> None:
        """Make the verified file NAME."""
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            os.rename(self.temp_name, self.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            self._done = True
            os.fsync(self._dir_fd)
        finally:
            self.discard()

    def discard(self) -> None:
        """Close and remove the temporary file, unless committed; idempotent."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        if not self._done:
            self._done = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_name, dir_fd=self._dir_fd)

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


@contextlib.contextmanager
def staged(path: str | os.PathLike[str]) -> Iterator[StagedFile]:
    """A StagedFile for ``path``, its directory descriptor closed at the end."""
    out, dir_fd = StagedFile.at(Path(path))
    try:
        with out:
            yield out
    finally:
        os.close(dir_fd)
