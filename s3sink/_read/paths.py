"""Object keys as paths below a directory, for ``s3sink get s3://B/PREFIX/ DIR``.

Keys are untrusted input: anyone who can write to the bucket chooses them, and a restore runs
with the restoring user's rights. A key maps to DIR/relative-key only when every segment of
the relative key is an ordinary file name; anything else is refused with a reason, never
"cleaned up" into some other path (the user decides what a strange key was meant to be).

The rules, for the part of the key below PREFIX (Linux):

- A key ending in ``/`` is a directory marker (``s3sink mount`` writes them for directories):
  it becomes a directory, so an empty directory is restored too. The marker of PREFIX itself
  is DIR.
- Refused: a NUL byte (no Linux name holds one); an empty segment (a leading ``/``, ``//``),
  which a naive join would read as the root or merge with another key; ``.`` and ``..``
  segments; a segment longer than NAME_MAX (255 bytes once encoded), which no Linux
  filesystem stores.
- Allowed as ordinary bytes: backslashes, spaces, newlines and other control characters
  (legal in Linux names; they cannot leave DIR). Reports quote keys with :func:`shown`, so a
  newline in a key cannot forge a report line.
- A key that is a file where another key needs a directory (``a`` beside ``a/b``, or beside
  the marker ``a/``) is refused; the directory and everything below it are restored.
- On disk, paths are resolved one segment at a time from a descriptor of DIR (``openat``
  with ``O_NOFOLLOW``), never as a path string: a symbolic link found in DIR, or swapped in
  while the restore runs, is refused rather than followed, and so is a file standing where a
  directory is needed. DIR itself is the user's choice and is followed if it is a link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ..errors import S3SinkError

__all__ = [
    "NAME_MAX",
    "KeyRefused",
    "TreeEntry",
    "TreePlan",
    "TreeRoot",
    "plan_tree",
    "relative_path",
    "shown",
]

NAME_MAX = 255  # bytes in one file name, on every Linux filesystem
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class KeyRefused(S3SinkError):
    """A key that is not restored: it would land outside DIR or cannot be a path there."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{shown(key)}: {reason}")
        self.key = key
        self.reason = reason


def shown(key: str) -> str:
    """A key for a report line: as it is when printable, else quoted with its control
    characters escaped (a newline in a key must not make a line of its own)."""
    if key.isprintable():
        return key
    return repr(key)


@dataclass(frozen=True)
class TreeEntry:
    """A key below PREFIX and its place below DIR: ``parts`` (one name per segment; empty for
    DIR itself) and whether it is a directory (a marker) or a file."""

    key: str
    parts: tuple[str, ...]
    is_dir: bool

    @property
    def relative(self) -> str:
        """The place below DIR as a relative path ("" for DIR)."""
        return "/".join(self.parts)


def relative_path(key: str, prefix: str) -> TreeEntry:
    """Where ``key`` goes below DIR, or KeyRefused saying why it goes nowhere."""
    if not key.startswith(prefix):
        raise KeyRefused(key, f"not below the prefix {shown(prefix)!s}")
    rest = key[len(prefix) :]
    if "\x00" in rest:
        raise KeyRefused(key, "contains a NUL byte, which no file name can hold")
    is_dir = rest.endswith("/") or rest == ""
    if rest.endswith("/"):
        rest = rest[:-1]
    if rest == "":
        if key != prefix:
            raise KeyRefused(key, "an empty path segment ('//'): it names no file below DIR")
        return TreeEntry(key, (), True)
    parts = tuple(rest.split("/"))
    for part in parts:
        problem = _segment_problem(part)
        if problem is not None:
            raise KeyRefused(key, problem)
    return TreeEntry(key, parts, is_dir)


def _segment_problem(part: str) -> str | None:
    if part == "":
        return "an empty path segment (a leading '/' or '//'): it would not stay below DIR"
    if part in (".", ".."):
        return f"a {part!r} segment: it would not stay below DIR"
    size = len(os.fsencode(part))
    if size > NAME_MAX:
        return f"a segment of {size} bytes: longer than a file name can be ({NAME_MAX})"
    return None


@dataclass
class TreePlan:
    """A listing sorted out: the directories to make, the files to restore (in listing order)
    and the keys refused, each with its reason."""

    dirs: list[TreeEntry] = field(default_factory=list)
    files: list[TreeEntry] = field(default_factory=list)
    refused: list[KeyRefused] = field(default_factory=list)


def plan_tree(prefix: str, keys: Iterable[str]) -> TreePlan:
    """Sort the keys below ``prefix`` into directories, files and refusals (see the module's
    rules). Every key is held until all are seen: ``a`` can only be known to clash with
    ``a/b`` once both are, and a listing does not put them side by side (``a-x`` sorts
    between them)."""
    plan = TreePlan()
    entries: list[TreeEntry] = []
    for key in keys:
        try:
            entries.append(relative_path(key, prefix))
        except KeyRefused as refused:
            plan.refused.append(refused)
    needed: set[tuple[str, ...]] = set()
    for entry in entries:
        depth = len(entry.parts) if entry.is_dir else len(entry.parts) - 1
        needed.update(entry.parts[:n] for n in range(1, depth + 1))
    for entry in entries:
        if entry.is_dir:
            plan.dirs.append(entry)
        elif entry.parts in needed:
            reason = "a file where other keys need a directory (they are restored)"
            plan.refused.append(KeyRefused(entry.key, reason))
        else:
            plan.files.append(entry)
    return plan


class TreeRoot:
    """DIR, held open as a descriptor; paths below it resolved one segment at a time.

    ``open_dir(parts)`` hands out a descriptor of DIR/parts (made if ``create``), walking down
    with ``O_NOFOLLOW | O_DIRECTORY``: a symbolic link or a file on the way is KeyRefused, so
    nothing below DIR is ever reached through a link, whatever appears there meanwhile. The
    caller closes the descriptor it gets. Safe to use from many threads (two making the same
    directory at once both get it)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if create:
            path.mkdir(parents=True, exist_ok=True)
        # DIR itself is what the user named: followed if it is a link.
        self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> TreeRoot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release DIR's descriptor (again: nothing)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def open_dir(self, entry: TreeEntry, parts: tuple[str, ...], *, create: bool) -> int:
        """A new descriptor of DIR/``parts`` (for ``entry``, named in a refusal)."""
        fd = os.dup(self._fd)
        try:
            for depth, name in enumerate(parts, start=1):
                child = self._step(fd, name, entry, parts[:depth], create=create)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def make_dir(self, entry: TreeEntry) -> None:
        """DIR/entry made (with its parents), or KeyRefused."""
        os.close(self.open_dir(entry, entry.parts, create=True))

    def parent_of(self, entry: TreeEntry) -> int:
        """A new descriptor of the directory ``entry`` (a file) goes in, made if missing."""
        return self.open_dir(entry, entry.parts[:-1], create=True)

    def _step(
        self, fd: int, name: str, entry: TreeEntry, where: tuple[str, ...], *, create: bool
    ) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            raise _refusal(fd, name, entry, where, exc) from exc
        # FileExistsError: made by another worker meanwhile (or a link put there: refused
        # by the open that follows).
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=fd)  # the umask applies
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise _refusal(fd, name, entry, where, exc) from exc


def _refusal(
    fd: int, name: str, entry: TreeEntry, where: tuple[str, ...], exc: OSError
) -> KeyRefused:
    """Why DIR/``where`` (``name`` in ``fd``) could not be walked into, as a refusal."""
    place = shown("DIR/" + "/".join(where))
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        # Linux says ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW: look.
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return KeyRefused(entry.key, f"{place} is a symbolic link: not followed")
        return KeyRefused(entry.key, f"{place} is not a directory")
    return KeyRefused(entry.key, f"{place}: {exc.strerror or exc}")
