"""Opening files in the mount: ``create`` and ``open``, which file each handle writes (a new
one, another handle on a file being written, or none: a committed file reopened to fsync it,
the status file, a directory), and the handles by number."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from .dirs import Directories
from .ending import Endings
from .files import Handle, OpenFile, committed_message, fail
from .staging import Staging
from .table import FileTable

__all__ = ["Opener"]


class Opener:
    """``create`` and ``open`` over ``table`` and ``dirs``: a new file is checked by
    ``staging`` (could it be stored?) and refusals are recorded by ``endings``;
    ``key_of(path)`` names a path's object, ``special`` is the status file's path."""

    def __init__(
        self,
        table: FileTable,
        dirs: Directories,
        staging: Staging,
        endings: Endings,
        *,
        key_of: Callable[[str], str],
        special: str,
    ) -> None:
        self.handles: dict[int, Handle] = {}  # fuse_file_info.fh -> the handle
        self._next = 1
        self._table = table
        self._dirs = dirs
        self._staging = staging
        self._endings = endings
        self._key_of = key_of
        self._special = special

    def _handle(self, fi: Any, file: OpenFile | None, writable: bool) -> int:
        number = self._next
        self._next += 1
        self.handles[number] = Handle(file, writable)
        fi.fh = number
        if writable:
            # Never cached: every write reaches UploadFS.write with its offset, and fails
            # there if out of order. Not nonseekable: a pwrite() elsewhere would then fail
            # in the kernel with ESPIPE, and the program's close would commit what it wrote
            # so far; here it aborts the file.
            fi.direct_io = 1
        return 0

    def create(self, path: str, fi: Any) -> int:
        with self._table.lock:
            self._dirs.check_parent(path)
            if path in self._dirs or path == self._special or path in self._table.open:
                raise fail(errno.EEXIST, f"{path} exists and is being written or is special")
            return self._handle(fi, self._new_file(path), writable=True)

    def _new_file(self, path: str) -> OpenFile:
        """A file to write at ``path``, replacing a committed one (O_TRUNC); refused (its
        errno) when it could not be stored."""
        problem = self._table.busy(path, self._key_of(path))
        if problem is not None:
            raise fail(errno.EBUSY, f"{path} cannot be written now: {problem}")
        try:
            self._staging.check(path)
        except OSError as exc:
            self._endings.refused(path, exc)
            raise
        self._table.done.pop(path, None)
        file = OpenFile(path, writable_handles=1)
        self._table.open[path] = file
        return file

    def open(self, path: str, fi: Any) -> int:
        access = fi.flags & 0o3  # O_ACCMODE
        writable = access != 0  # O_WRONLY or O_RDWR
        truncate = bool(fi.flags & 0o1000)  # O_TRUNC
        with self._table.lock:
            if path == self._special or path in self._dirs:
                if writable:
                    raise OSError(errno.EACCES, path)
                return self._handle(fi, None, writable=False)
            file = self._table.open.get(path)
            if not writable:
                if file is None and path not in self._table.done:
                    raise OSError(errno.ENOENT, path)
                return self._handle(fi, file, writable=False)  # for fsync (pg_dump does)
            if file is not None:
                file.writable_handles += 1  # another handle on the same upload
                return self._handle(fi, file, writable=True)
            if path in self._table.done and not truncate:
                if fi.flags & os.O_APPEND:
                    raise fail(errno.EPERM, committed_message(path))
                # Opened for writing only to fsync it: PostgreSQL's tools open every file
                # O_RDWR to fsync it. A write through this handle fails (EPERM).
                return self._handle(fi, None, writable=False)
            self._dirs.check_parent(path)
            return self._handle(fi, self._new_file(path), writable=True)
