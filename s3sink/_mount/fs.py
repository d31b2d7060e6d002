"""The write-only filesystem behind ``s3sink mount``: every file created in it streams, as it
is written, into the object ``PREFIX/relative/path`` through an S3MultipartWriter.

The operations are mfusepy's (``raw_fi``: each takes the ``fuse_file_info``), called on
libfuse's threads; they raise ``OSError(errno)``, which mfusepy returns to the kernel. This
module never imports mfusepy, so it is tested without a mount too. Its rules (the table in
docs/mount.md is written from them):

* writes are sequential: a write at any other offset aborts the file's upload (EINVAL); zeros
  at the end of a file may be written over (``_sequence`` has the rules);
* a file is committed when the last descriptor of its last writable handle is closed: at
  the flush after which no process holds it for writing any more (``holders``: a dup()ed or
  inherited copy closed first does not commit), else at release; an empty file at release
  only (a shell's redirect opens, dup2()s and closes before writing); or at fsync. After
  that, writes fail (EIO). A commit that fails makes that close or fsync return EIO, and
  publishes nothing;
* a file that is still open at unmount is aborted, never published;
* memory: every file's bytes go to a staging buffer, charged byte by byte, until they fill a
  part; only then does the file get a writer and part buffers. Staging buffers and all part
  buffers share one budget (``SharedBudget``), so the total stays within ``--max-memory``
  however many files are open; a write waits while the budget is spent, in turn with the
  other files' requests (first come, first served), for at most 60 s. A file past its
  first part also gathers up to ``COALESCE`` bytes of small writes before its writer takes
  them (outside the budget: 256 KiB per such file).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import stat
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._upload.pool import SharedBudget
from .._writer.writer import S3MultipartWriter
from ..errors import S3SinkError
from .dirs import Directories
from .ending import Endings
from .files import FileRecord, committed_message, fail
from .holders import ProcHolders
from .mover import ObjectMover, StoreMover
from .opening import Opener
from .renames import Renames
from .retention import FileRetention
from .sequencer import NonSequential
from .staging import COALESCE, Staging
from .table import FileTable

__all__ = [
    "COALESCE",
    "STATUS_NAME",
    "FileRecord",
    "FileRetention",
    "ObjectMover",
    "ProcHolders",
    "StoreMover",
    "UploadFS",
    "marker_options",
]

log = logging.getLogger("s3sink")

STATUS_NAME = ".s3sink-status"
STATUS_PATH = "/" + STATUS_NAME


def marker_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Writer options for a directory's marker: the same object settings (encryption, ACL,
    storage class...), but no compression and no encryption (a marker is empty, not an empty
    zstd frame or age file) and no Object Lock (``rmdir`` may delete it)."""
    extra = {k: v for k, v in (options.get("extra_args") or {}).items() if "ObjectLock" not in k}
    return {**options, "compress": None, "encrypt_to": None, "extra_args": extra}


class UploadFS:
    """The mount's operations over ``bucket``/``prefix``; ``make_writer(key, marker)`` makes
    each file's writer (on ``budget``), and with ``marker`` a directory marker's (see
    :func:`marker_options`); ``mover`` renames committed objects, ``on_failure`` is called at
    each failed or aborted file (``--exit-on-error`` unmounts there); ``retention`` moves a
    file's Object Lock date to a duration from its commit; ``holders(path)`` says whether a
    process still holds ``path`` open for writing (see :mod:`.holders`)."""

    use_ns = True  # mfusepy: times in nanoseconds

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        make_writer: Callable[[str, bool], S3MultipartWriter],
        budget: SharedBudget,
        part_size: int,
        mover: ObjectMover,
        on_failure: Callable[[], None] | None = None,
        retention: FileRetention | None = None,
        holders: Callable[[str], bool] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.budget = budget  # shared by every file's staging and part buffers
        self._mover = mover
        # Whether a process still holds a path open for writing (/proc); none without.
        self._held = holders or (lambda _path: False)
        self._dirs = Directories(make_writer, mover.remove, self.key_of)
        self._table = FileTable()
        self._started = time.time_ns()
        self._staging = Staging(budget, part_size, make_writer, self.key_of)
        self._endings = Endings(
            self._table,
            self._staging,
            mover,
            self.key_of,
            bucket=bucket,
            on_failure=on_failure,
            retention=retention,
        )
        self._opener = Opener(
            self._table,
            self._dirs,
            self._staging,
            self._endings,
            key_of=self.key_of,
            special=STATUS_PATH,
        )
        self._handles = self._opener.handles
        self._renames = Renames(
            self._table,
            self._dirs,
            mover,
            key_of=self.key_of,
            is_empty=lambda path: len(self.readdir(path)) <= 2,  # only "." and ".."
            special=STATUS_PATH,
        )

    # -- names ------------------------------------------------------------------------
    def key_of(self, path: str) -> str:
        """The object key a path in the mount stands for."""
        return self.prefix + path.lstrip("/")

    def _exists(self, path: str) -> bool:
        return (
            path in self._dirs
            or path in self._table.open
            or path in self._table.done
            or path == STATUS_PATH
        )

    # -- metadata ---------------------------------------------------------------------
    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        now = time.time_ns()
        base = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now, "st_ctime": now}
        with self._table.lock:
            if path in self._dirs:
                return {**base, "st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
            if path == STATUS_PATH:
                size = len(self.status_text().encode())
                return {**base, "st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": size}
            file = self._table.open.get(path)
            if file is not None:
                return {
                    **base,
                    "st_mode": stat.S_IFREG | 0o644,
                    "st_nlink": 1,
                    "st_size": file.seq.size,
                }
            record = self._table.done.get(path)
            if record is not None:
                return {
                    **base,
                    "st_mode": stat.S_IFREG | 0o644,
                    "st_nlink": 1,
                    "st_size": record.size,
                }
        raise OSError(errno.ENOENT, path)

    def readdir(self, path: str, fh: Any = None) -> list[str]:
        with self._table.lock:
            if path not in self._dirs:
                raise OSError(errno.ENOENT, path)
            names = {".", ".."}
            if path == "/":
                names.add(STATUS_NAME)
            base = path.rstrip("/") + "/"
            for entry in (*self._dirs, *self._table.open, *self._table.done):
                if entry != path and entry.startswith(base) and "/" not in entry[len(base) :]:
                    names.add(entry[len(base) :])
        return sorted(names)

    def mkdir(self, path: str, mode: int) -> int:
        with self._table.lock:
            self._dirs.check_parent(path)
            if self._exists(path):
                raise OSError(errno.EEXIST, path)
        ours = self._dirs.mark(path)  # outside the tree's lock: a request to the store
        with self._table.lock:
            if self._exists(path):
                raise OSError(errno.EEXIST, path)
            self._dirs.add(path, marked=ours)
        return 0

    def rmdir(self, path: str) -> int:
        with self._table.lock:
            if path not in self._dirs or path == "/":
                raise OSError(errno.ENOENT if path not in self._dirs else errno.EBUSY, path)
            if len(self.readdir(path)) > 2:
                raise OSError(errno.ENOTEMPTY, path)
            self._dirs.discard(path)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        blocks = 1 << 40
        return {
            "f_bsize": 1 << 20,
            "f_frsize": 1 << 20,
            "f_blocks": blocks,
            "f_bfree": blocks,
            "f_bavail": blocks,
            "f_files": 1 << 30,
            "f_ffree": 1 << 30,
            "f_namemax": 1024,
        }

    def chmod(self, path: str, mode: int) -> int:
        self.getattr(path)  # accepted and ignored: S3 keeps no modes (cp -p, tar do this)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self.getattr(path)
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        self.getattr(path)
        return 0

    # -- opening ----------------------------------------------------------------------
    def create(self, path: str, mode: int, fi: Any) -> int:
        return self._opener.create(path, fi)

    def open(self, path: str, fi: Any) -> int:
        return self._opener.open(path, fi)

    # -- data -------------------------------------------------------------------------
    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        if path == STATUS_PATH:
            return self.status_text().encode()[offset : offset + size]
        raise fail(errno.EACCES, f"{path}: s3sink mount is write-only; read the object from S3")

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        file = handle.file if handle is not None and handle.writable else None
        if file is None:
            if handle is not None and path in self._table.done:
                raise fail(errno.EPERM, committed_message(path))
            raise OSError(errno.EBADF, path)
        with file.lock:
            if file.state != "writing":
                raise fail(errno.EIO, f"{file.path}: write after the file was {file.state}")
            try:
                for chunk in file.seq.accept(offset, data):
                    self._staging.append(file, chunk)
            except NonSequential as exc:
                self._endings.abort(file, f"{file.path}: {exc}; its upload was aborted")
                raise OSError(errno.EINVAL, f"{file.path}: {exc}") from None
            except S3SinkError as exc:
                self._endings.failed(file, str(exc), cause=exc)
                raise OSError(errno.EIO, str(exc)) from exc
        return len(data)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        with self._table.lock:
            file = self._table.open.get(path)
            if length == 0 and file is not None and file.seq.size == 0:
                return 0  # O_TRUNC at create
            if length == 0 and path in self._table.done:
                del self._table.done[path]  # replaced by the open that follows (O_TRUNC)
                return 0
        raise fail(errno.EPERM, f"{path}: s3sink mount cannot truncate (only to 0 at create)")

    # -- committing -------------------------------------------------------------------
    def flush(self, path: str, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        if handle is None or handle.file is None or not handle.writable:
            return 0
        file = handle.file
        if file.state == "failed":
            # Said at the write that met it, but the kernel makes that a short count when
            # earlier pieces of the same write(2) went in: every close says it too.
            raise OSError(errno.EIO, f"{file.path} was not stored: it failed (see the log)")
        # close(2) returns what this raises, so the last close commits here. Every close of
        # a dup()ed or inherited copy flushes too (a shell's >&3, a child's exec or exit):
        # not the last while another descriptor of the file remains, in any process. Nor
        # for a file still empty: a shell redirect opens, dup2()s to fd 1 and closes the
        # first descriptor before anything is written; it commits at release.
        if (
            file.writable_handles == 1
            and file.state == "writing"
            and file.seq.size
            and not self._held(file.path)
        ):
            self._endings.commit(file)
        return 0

    def fsync(self, path: str, datasync: int, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        file = handle.file if handle is not None else None
        if file is None:
            record = self._table.done.get(path)
            if record is None and path not in self._dirs and path != STATUS_PATH:
                raise OSError(errno.EIO, f"{path} was not committed")
            return 0
        if file.state == "writing":
            self._endings.commit(file)
        elif file.state != "committed":
            raise OSError(errno.EIO, f"{file.path} was {file.state}")
        return 0

    def release(self, path: str, fi: Any) -> int:
        with self._table.lock:
            handle = self._handles.pop(fi.fh, None)
            if handle is None or handle.file is None or not handle.writable:
                return 0
            file = handle.file
            file.writable_handles -= 1
            last = file.writable_handles == 0
        if last and file.state == "writing":
            # The last reference went without a flush that committed (an empty file, a
            # descriptor the scan saw as still held). Logged and recorded: release cannot
            # return an error to anyone.
            with contextlib.suppress(OSError):
                self._endings.commit(file)
        return 0

    # -- names changing ---------------------------------------------------------------
    def rename(self, old: str, new: str) -> int:
        self._renames.rename(old, new)
        return 0

    def unlink(self, path: str) -> int:
        with self._table.lock:
            file = self._table.open.get(path)
        if file is not None:
            with file.lock:
                self._endings.abort(
                    file, f"{path} was removed while being written; its upload was aborted"
                )
            return 0
        if path in self._table.done:
            raise fail(errno.EPERM, f"{path}: s3sink mount never deletes objects")
        raise OSError(errno.ENOENT, path)

    def link(self, target: str, source: str) -> int:
        raise fail(errno.EPERM, f"{target}: s3sink mount has no hard links")

    def symlink(self, target: str, source: str) -> int:
        raise fail(errno.EPERM, f"{target}: s3sink mount has no symbolic links")

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise fail(errno.EPERM, f"{path}: s3sink mount holds regular files only")

    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        raise OSError(errno.ENOTSUP, path)

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        raise OSError(errno.ENOTSUP, path)

    def listxattr(self, path: str) -> list[str]:
        return []

    def removexattr(self, path: str, name: str) -> int:
        raise OSError(errno.ENOTSUP, path)

    # -- the end ----------------------------------------------------------------------
    def destroy(self, path: str) -> None:
        self.abort_open_files("unmount")

    def abort_orphans(self) -> list[tuple[str, str]]:
        """Try once more to abort the uploads whose abort failed; returns those still left."""
        return self._endings.abort_orphans()

    def abort_open_files(self, reason: str) -> None:
        """Unmounting (or a signal): every file still being written is aborted."""
        self._endings.abort_open(reason)

    def stop_open_files(self, reason: str) -> None:
        """Stopping at once (a second signal): every file still open is aborted now, even
        one whose write or commit is under way (that request fails with EIO)."""
        self._endings.stop_open(reason)

    def status_text(self) -> str:
        """One JSON line per file: those that ended, then those being written."""
        return self._table.status_text(self.key_of)

    def committed(self) -> list[FileRecord]:
        """The files committed (under their current names)."""
        return self._table.committed()

    def failures(self) -> list[FileRecord]:
        """The files that failed or were aborted."""
        return self._table.failures()

    @property
    def records(self) -> list[FileRecord]:
        """Every file that ended, in order."""
        return self._table.records
