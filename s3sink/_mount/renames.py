"""``rename`` in the mount: an empty directory (its marker moves), a file being written (its
key changes; after its upload began, it is committed under the upload's key and moved at the
commit), or a committed file (a verified server-side copy, then the source is deleted)."""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Callable

from .._sizes import format_size
from .dirs import Directories
from .files import OpenFile, fail
from .mover import MAX_COPY, ObjectMover
from .table import FileTable

__all__ = ["Renames"]


class Renames:
    """Renames within ``table`` and ``dirs``; ``mover`` moves committed objects,
    ``key_of(path)`` names a path's object, ``is_empty(dir)`` says whether a directory holds
    nothing; ``special`` is the status file's path (never renamed)."""

    def __init__(
        self,
        table: FileTable,
        dirs: Directories,
        mover: ObjectMover,
        *,
        key_of: Callable[[str], str],
        is_empty: Callable[[str], bool],
        special: str,
    ) -> None:
        self._table = table
        self._dirs = dirs
        self._mover = mover
        self._key_of = key_of
        self._is_empty = is_empty
        self._special = special

    def rename(self, old: str, new: str) -> None:
        """Raise OSError (with an errno) when it cannot be done; nothing changed then."""
        table = self._table
        with table.lock:
            self._dirs.check_parent(new)
            if new in self._dirs or new in table.open or self._special in (old, new):
                raise fail(
                    errno.EEXIST if new in table.open else errno.EPERM,
                    f"cannot rename {old} to {new}",
                )
            if old in self._dirs:
                self._directory(old, new)
                return
            file = table.open.get(old)
            self._check_free(old, new, file)
        if file is not None:
            self._open_file(file, old, new)
        else:
            self._committed(old, new)

    def _check_free(self, old: str, new: str, file: OpenFile | None) -> None:
        """EBUSY while another file's upload still targets ``new``'s key, or a committed file
        moves there: what is published there now would be overwritten, then deleted."""
        problem = self._table.busy(new, self._key_of(new), file)
        if problem is not None:
            raise fail(errno.EBUSY, f"cannot rename {old} to {new}: {problem}")

    def _directory(self, old: str, new: str) -> None:
        if not self._is_empty(old):
            raise fail(
                errno.EXDEV,
                f"{old}: s3sink mount renames empty directories only (keys are not moved in bulk)",
            )
        ours = self._dirs.mark(new)
        self._dirs.discard(old)
        self._dirs.add(new, marked=ours)

    def _open_file(self, file: OpenFile, old: str, new: str) -> None:
        # Lock order: a file's lock before the tree's (as write and commit take them).
        with file.lock, self._table.lock:
            if self._table.open.get(old) is not file or new in self._table.open:
                raise OSError(errno.EBUSY, f"{old} changed while being renamed")
            self._check_free(old, new, file)
            if file.writer is not None and file.moved_from is None:
                file.moved_from = file.writer.key  # its upload has that key
            file.path = new
            self._table.open[new] = self._table.open.pop(old)

    def _committed(self, old: str, new: str) -> None:
        with self._table.lock:
            record = self._table.done.get(old)
        if record is None:
            raise OSError(errno.ENOENT, old)
        if record.object_size > MAX_COPY:
            raise fail(
                errno.EXDEV,
                f"{old} is {format_size(record.object_size)}: a committed object "
                "above 5 GiB cannot be renamed by a single verified copy",
            )
        target = self._key_of(new)
        with self._table.lock:
            self._check_free(old, new, None)
            self._table.arriving.add(new)  # no file is made there while the copy runs
        try:
            self._mover.move(record.key, target, record)  # raises OSError; nothing changed
        finally:
            with self._table.lock:
                self._table.arriving.discard(new)
        with self._table.lock:
            self._table.done.pop(old, None)
            moved = dataclasses.replace(record, path=new, key=target)
            self._table.done[new] = moved
            self._table.replace(record, moved)  # one line per file, at its object's key
