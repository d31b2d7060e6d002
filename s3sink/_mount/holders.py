"""Who else still holds a file of the mount open for writing: read from ``/proc``.

FUSE sends ``flush`` at every close(2) of a descriptor, including the closes of dup()ed and
inherited copies (a shell's ``>&3`` dup2s fd 3 to stdout and back; a child closes its copy
at exec or exit), and ``release`` once, when the last reference to the open file goes. Only
``flush`` can return an error to the program, so the mount commits at the flush that closes
the last descriptor, and must tell that one from the others: a flush after which some process
still has a writable descriptor on the file is not the last. The descriptor being closed is
already out of its process's table when ``flush`` runs, so any descriptor found here is
another one.

Reading ``/proc/PID/fd`` costs a readlink per descriptor of every process (about 3 ms with 74
processes here, measured 2026-12-04), and it is done only at a flush that would otherwise
commit. readlink and ``fdinfo`` never call into the mount (no FUSE request from its own
thread). Processes whose ``/proc`` entries this process may not read (another user's, another
PID namespace's) are not seen: a descriptor held only there is missed, and the file commits at
the other close (its later writes then fail with EIO).
"""

from __future__ import annotations

import os

__all__ = ["ProcHolders"]


class ProcHolders:
    """Writable descriptors on files below ``mountpoint``, in every process but this one."""

    def __init__(self, mountpoint: str, *, proc: str = "/proc", own_pid: int | None = None):
        self._root = mountpoint.rstrip("/")
        self._proc = proc
        self._own = str(os.getpid() if own_pid is None else own_pid)

    def writing(self, path: str) -> bool:
        """Whether a process holds ``path`` (the mount's path, ``/dir/file``) open for
        writing."""
        target = self._root + path
        try:
            entries = os.listdir(self._proc)
        except OSError:
            return False
        for pid in entries:
            if pid.isdigit() and pid != self._own and self._holds(pid, target):
                return True
        return False

    def _holds(self, pid: str, target: str) -> bool:
        fds = f"{self._proc}/{pid}/fd"
        try:
            names = os.listdir(fds)
        except OSError:  # gone, or not ours to read
            return False
        for name in names:
            try:
                if os.readlink(f"{fds}/{name}") != target:
                    continue
                with open(f"{self._proc}/{pid}/fdinfo/{name}") as info:
                    flags = _flags(info.read())
            except OSError:  # closed meanwhile
                continue
            if flags & os.O_ACCMODE != os.O_RDONLY:
                return True
        return False


def _flags(fdinfo: str) -> int:
    """The ``flags:`` line of an fdinfo file (octal)."""
    for line in fdinfo.splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    return os.O_RDWR  # unknown: count it as a writer (the safe side: commit later)
