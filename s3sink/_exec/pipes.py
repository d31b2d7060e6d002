"""Pipe helpers: a larger pipe buffer, and a reader that never takes "no data yet" for EOF."""

from __future__ import annotations

import fcntl
import io
import os
import select

from .._writer.sources import PIPE_SIZE, grow_pipe

__all__ = ["PIPE_SIZE", "grow_pipe", "reader_for_fd"]


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
