"""An output file that holds nothing at its name until the object is verified.

``s3sink cat -o PATH`` and ``s3sink get`` write every object under a temporary name in the
directory it goes to (``.NAME.XXXXXXXXXXXX.s3sink-tmp``, made with ``O_EXCL``, mode 0666 less
the umask), ``fsync`` it, and only then, in :meth:`OutputFile.commit`, rename it over NAME and
``fsync`` the directory. So NAME never holds a partial or unverified object: on any failure
the temporary file is removed and an existing NAME is left exactly as it was. The caller
makes the failure path run on signals too (the command's SignalGuard turns them into
exceptions; ``with`` or :meth:`~OutputFile.discard` removes the file).

Without ``overwrite`` an existing NAME is refused, before any byte is read and again at the
commit, atomically: the file is linked to NAME (``link`` fails if NAME exists, whatever it is,
a dangling link included) and the temporary name removed; on a filesystem without hard links
the check and a rename come one after the other. With ``overwrite`` the rename replaces NAME
(a file, or a symbolic link itself: the link is never followed); a directory at NAME is
refused either way. A replaced file's owner and mode are not carried over: the new file is
the restoring user's, mode 0666 less the umask.

Everything is relative to a directory descriptor, so an output below a restore's DIR stays
where :class:`~s3sink._read.paths.TreeRoot` resolved it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from types import TracebackType

from ..errors import S3SinkError

__all__ = ["OutputExists", "OutputFile", "temporary_name"]

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SUFFIX = ".s3sink-tmp"
# link() unsupported here: vfat/exfat, some FUSE filesystems.
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV)


class OutputExists(S3SinkError):
    """The output's name is taken: a file (without overwrite) or a directory."""

    def __init__(self, shown: str, what: str) -> None:
        super().__init__(f"{shown}: {what}")
        self.shown = shown


def temporary_name(name: str) -> str:
    """``.NAME.<12 hex>.s3sink-tmp``, with NAME cut short (at a character) so the whole fits
    in one file name (255 bytes) whatever NAME's length."""
    token = secrets.token_hex(6)
    room = 255 - len(f"..{token}{_SUFFIX}")
    stem = name
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return f".{stem}.{token}{_SUFFIX}"


class OutputFile:
    """NAME in the directory ``dir_fd`` (borrowed: the caller keeps it open until commit or
    discard), written under a temporary name until :meth:`commit`. ``shown`` names it in
    errors (the path the user knows). Use as a context manager: leaving it without a commit,
    on success or on any exception, removes the temporary file."""

    def __init__(self, dir_fd: int, name: str, *, overwrite: bool, shown: str) -> None:
        self._dir_fd = dir_fd
        self.name = name
        self.shown = shown
        self._overwrite = overwrite
        self.check_free()
        self.temp_name = temporary_name(name)
        self._fd = os.open(self.temp_name, _CREATE_FLAGS, 0o666, dir_fd=dir_fd)
        self._state = "open"  # -> committed | discarded
        self.size = 0

    @classmethod
    def at(cls, path: Path, *, overwrite: bool) -> tuple[OutputFile, int]:
        """The output at ``path`` (a user's path: links on the way to its directory are
        followed) and the descriptor of its directory, which the caller closes after the
        file is committed or discarded."""
        parent = path.parent
        dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return cls(dir_fd, path.name, overwrite=overwrite, shown=str(path)), dir_fd
        except BaseException:
            os.close(dir_fd)
            raise

    def check_free(self) -> None:
        """OutputExists if NAME is taken: by a directory, or by anything without overwrite."""
        try:
            info = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            raise OutputExists(self.shown, "is a directory")
        if not self._overwrite:
            raise OutputExists(self.shown, "exists (--overwrite replaces it)")

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()

    def fileno(self) -> int:
        """The temporary file's descriptor (for ``os.pwrite`` at an offset, ``sendfile``)."""
        self._check_open()
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append all of ``data`` (short writes resumed); returns its length."""
        self._check_open()
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            done = os.write(self._fd, view)
            view = view[done:]
        self.size += total
        return total

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        """Write all of ``data`` at ``offset`` (for ranges written out of order)."""
        self._check_open()
        view = memoryview(data).cast("B")
        while view:
            done = os.pwrite(self._fd, view, offset)
            view, offset = view[done:], offset + done
        self.size = max(self.size, offset)

    def commit(self) -> None:
        """Make the verified file NAME: fsync it, rename (or link) it over NAME, fsync the
        directory. OutputExists when NAME was taken meanwhile (the file is then discarded)."""
        self._check_open()
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            if self._overwrite:
                self._replace()
            else:
                self._place()
            self._state = "committed"
            os.fsync(self._dir_fd)  # the rename itself, on disk
        finally:
            if self._state != "committed":
                self.discard()

    def discard(self) -> None:
        """Close and remove the temporary file, unless committed; again: nothing."""
        if self._state != "open":
            return
        self._state = "discarded"
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_name, dir_fd=self._dir_fd)

    def _replace(self) -> None:
        # rename() would also move a file over an empty directory's name: check first.
        self.check_free()
        os.rename(self.temp_name, self.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)

    def _place(self) -> None:
        try:
            os.link(
                self.temp_name,
                self.name,
                src_dir_fd=self._dir_fd,
                dst_dir_fd=self._dir_fd,
                follow_symlinks=False,
            )
        except FileExistsError as exc:
            raise OutputExists(self.shown, "exists (--overwrite replaces it)") from exc
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            self.check_free()  # no atomic no-replace here: check, then rename
            os.rename(self.temp_name, self.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            return
        os.unlink(self.temp_name, dir_fd=self._dir_fd)

    def _check_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"{self.shown}: the output is {self._state}")
