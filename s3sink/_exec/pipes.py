"""Pipe helpers: a larger pipe buffer, and a reader that never takes "no data yet" for EOF."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import select
import stat

__all__ = ["PIPE_SIZE", "grow_pipe", "reader_for_fd"]

log = logging.getLogger("s3sink")

PIPE_SIZE = 1024 * 1024  # Linux's default unprivileged maximum (/proc/sys/fs/pipe-max-size)


def grow_pipe(fd: int, size: int = PIPE_SIZE) -> None:
    """Give a pipe or FIFO a ``size``-byte buffer (Linux): fewer, larger reads and fewer
    producer stalls. Anything else is left alone; refusals (EPERM above the unprivileged
    limit, EBUSY) only cost speed, so they are ignored."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is None:
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, setpipe, size)
    except OSError as exc:
        log.debug("could not grow the pipe buffer of fd %d: %s", fd, exc)


class _WaitingReader:
    """``readinto`` that waits for data instead of returning None on an O_NONBLOCK fd.

    The writer reads until ``readinto`` returns a false value, so a None ("no data yet")
    from a non-blocking descriptor would end the stream early and publish a truncated object.
    """

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw

    def readinto(self, buffer: memoryview, /) -> int:
        while True:
            n = self._raw.readinto(buffer)
            if n is not None:
                return n
            select.select([self._raw.fileno()], [], [])

    def close(self) -> None:
        self._raw.close()


def reader_for_fd(fd: int, *, closefd: bool) -> io.FileIO | _WaitingReader:
    """An unbuffered reader of ``fd`` for ``readinto`` straight into part buffers."""
    grow_pipe(fd)
    raw = io.FileIO(fd, "rb", closefd=closefd)
    if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK:
        return _WaitingReader(raw)
    return raw
