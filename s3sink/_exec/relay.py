"""An exec-mode command's stderr, relayed line by line: while a live progress line is on the
terminal, a line the command writes must land above it, whole, not glued onto it (``…0.5s
pg_dump: dumping table 2``) and not leave a trail of stale progress lines. The command writes
into a pipe; a thread reads it as fast as it comes (the command never waits for us) and hands
each whole line to ``write``; what is left at the end is handed over too."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

__all__ = ["LineRelay"]

_CHUNK = 64 * 1024


class LineRelay:
    """A pipe for a child's stderr (:attr:`write_fd`) and the thread that relays it."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._read_fd, self.write_fd = os.pipe()
        self._thread = threading.Thread(target=self._run, name="s3sink-stderr", daemon=True)
        self._thread.start()

    def child_started(self) -> None:
        """The child holds its copy of the write end now: ours would hide its EOF."""
        with contextlib.suppress(OSError):
            os.close(self.write_fd)

    def close(self, timeout: float = 2.0) -> None:
        """Wait (bounded: a grandchild may keep the pipe open) for the relay to hand over
        everything the command wrote, then let go of the pipe."""
        self.child_started()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            with contextlib.suppress(OSError):
                os.close(self._read_fd)

    def _run(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_fd, _CHUNK)
            except OSError:
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            # A meter redrawn with \r (pv, rsync): only its latest state is worth a line.
            pending = pending.rsplit(b"\r", 1)[-1]
            for line in lines:
                self._emit(line.rsplit(b"\r", 1)[-1])
        if pending:
            self._emit(pending)

    def _emit(self, line: bytes) -> None:
        # A failing terminal must not stop the reading: the command would block on a full
        # pipe. What cannot be shown is dropped, as a closed terminal would drop it.
        with contextlib.suppress(OSError, ValueError):
            self._write(line.decode(errors="replace") + "\n")
