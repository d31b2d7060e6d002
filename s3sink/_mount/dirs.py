"""The mount's directories: the set of paths that are directories, and the marker objects
(an empty ``key/``) this mount published for them, so that an empty directory, which a
restore needs (pg_basebackup's pg_notify, pg_tblspc, ...), is in the bucket too."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator

from .._writer.writer import S3MultipartWriter
from ..errors import PreconditionFailed, S3SinkError
from .files import fail

__all__ = ["Directories"]


class Directories:
    """Directory paths (``/`` always), and which of them have a marker that is this mount's
    to remove. ``make_writer(key, True)`` makes a marker's writer; ``remove(key)`` deletes
    one; ``key_of(path)`` names a path's object."""

    def __init__(
        self,
        make_writer: Callable[[str, bool], S3MultipartWriter],
        remove: Callable[[str], None],
        key_of: Callable[[str], str],
    ) -> None:
        self._paths: set[str] = {"/"}
        self._markers: set[str] = set()  # directories whose marker object this mount made
        self._make_writer = make_writer
        self._remove = remove
        self._key_of = key_of

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def check_parent(self, path: str) -> None:
        """Raise ENOENT unless ``path``'s parent is a directory."""
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self._paths:
            raise OSError(errno.ENOENT, f"no directory {parent}")

    def add(self, path: str, *, marked: bool) -> None:
        """``path`` is a directory now; ``marked``: its marker is this mount's."""
        self._paths.add(path)
        if marked:
            self._markers.add(path)

    def discard(self, path: str) -> None:
        """``path`` is no directory any more; its marker, if ours, is removed first."""
        self.unmark(path)
        self._paths.discard(path)

    def mark(self, path: str) -> bool:
        """Publish the directory's marker. False if a marker was there already (then it is
        not ours to remove). A request to the store: call it outside the tree's lock."""
        key = self._key_of(path) + "/"
        try:
            writer = self._make_writer(key, True)
            writer.close()
        except PreconditionFailed:
            return False  # --no-overwrite and an earlier run's marker: the same empty object
        except S3SinkError as exc:
            raise fail(errno.EIO, f"{path}: its directory marker {key}: {exc}") from exc
        return True

    def unmark(self, path: str) -> None:
        """Delete the directory's marker, if this mount made it."""
        if path in self._markers:
            self._remove(self._key_of(path) + "/")
            self._markers.discard(path)
