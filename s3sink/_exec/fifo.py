"""``--fifo PATH``: a named pipe s3sink creates, reads from and removes, for producers that
insist on writing to a file path."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
from types import TracebackType

from ..errors import UsageError
from .pipes import _WaitingReader, reader_for_fd
from .producer import Command

__all__ = ["Fifo"]

_POKE_INTERVAL = 0.05  # how often the FIFO watcher retries while the reader is not open yet


class Fifo:
    """A named pipe we create (mode 0600), read from, and remove afterwards.

    Opening a FIFO for reading blocks until a writer opens it. A producer that exits
    without ever opening it would leave us blocked forever, so :meth:`release_when_exits`
    watches the producer and, once it has exited, opens the FIFO for writing without
    blocking and closes it at once: the reader's open returns and it reads EOF.
    :attr:`released_by_watcher` then says that the producer never opened the FIFO (a typo
    in its path, a writer left running in the background): the caller must not take that
    for an empty stream that ended well.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._reader_done = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()
        self._reader_opened = False
        self.released_by_watcher = False

    def create(self) -> None:
        """Make the FIFO; an existing path is refused, never reused or replaced."""
        try:
            os.mkfifo(self.path, 0o600)
        except FileExistsError:
            raise UsageError(
                f"--fifo {self.path}: the path already exists; "
                "s3sink creates the named pipe itself, so give a path that does not exist"
            ) from None
        except OSError as exc:
            raise UsageError(f"--fifo {self.path}: cannot create it: {exc.strerror}") from None
        info = os.stat(self.path)
        self._identity = (info.st_dev, info.st_ino)

    def open_reader(self) -> io.FileIO | _WaitingReader:
        """Open for reading; blocks until a writer opens the FIFO (or the watcher pokes)."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        with self._lock:
            self._reader_opened = True
        return reader_for_fd(fd, closefd=True)

    def release_when_exits(self, command: Command) -> None:
        """Start the watcher thread that unblocks the reader once ``command`` has exited."""
        self._watcher = threading.Thread(
            target=self._watch, args=(command.pid,), name="s3sink-fifo-watcher", daemon=True
        )
        self._watcher.start()

    def _watch(self, pid: int) -> None:
        # WNOWAIT: see the exit without reaping, so the main thread's wait() still works.
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        while not self._reader_done.is_set():
            with self._lock:  # open_reader() cannot note its open while we decide
                if self._reader_opened:
                    return  # the producer opened it: its exit closed its end, EOF follows
                if self._poke():
                    # Nobody else released the reader. (Its open may have returned for the
                    # producer just before it could note it; the stream then holds the
                    # producer's bytes, and only an empty stream is read as "never opened".)
                    self.released_by_watcher = True
                    return
            self._reader_done.wait(_POKE_INTERVAL)

    def _poke(self) -> bool:
        """Open and close as a writer; False while nobody has the FIFO open for reading."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            # ENXIO: no reader yet (the main thread is about to open); retry shortly.
            return exc.errno != errno.ENXIO
        os.close(fd)
        return True

    def remove(self) -> None:
        """Stop the watcher and delete the FIFO if it is still the one we made."""
        self._reader_done.set()
        if self._watcher is not None:
            self._watcher.join(timeout=1.0)
        identity, self._identity = self._identity, None
        if identity is None:
            return
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == identity:
                os.unlink(self.path)

    def __enter__(self) -> Fifo:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
