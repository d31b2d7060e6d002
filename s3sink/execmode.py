"""Process plumbing for the CLI: exec mode, named pipes, pipe sizing and signal forwarding.

A shell pipeline (``pg_dump db | s3sink s3://b/k``) cannot tell the sink whether the producer
succeeded: EOF looks the same either way. Exec mode (``s3sink s3://b/k -- pg_dump db``) runs
the producer itself, without a shell, and commits only when it exits 0. ``--fifo PATH`` serves
producers that insist on writing to a file path.

Signals: :class:`SignalGuard` turns SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` (a
``BaseException``, like ``KeyboardInterrupt``) raised in the main thread, so the writer's abort
path runs wherever the main thread was blocked: Python re-runs signal handlers when a system
call returns EINTR (a pipe read, a FIFO open, a lock wait), and a handler that raises ends it.
The guard forwards each signal to the producer first.

No typer, rich or boto here: only ``os``, ``subprocess`` and ``signal``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import logging
import os
import select
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

from .errors import UsageError

__all__ = [
    "FORWARDED_SIGNALS",
    "PIPE_SIZE",
    "Command",
    "CommandError",
    "Fifo",
    "Interrupted",
    "SignalGuard",
    "exit_status",
    "grow_pipe",
    "open_pipe_from",
    "reader_for_fd",
    "signal_name",
]

log = logging.getLogger("s3sink")

FORWARDED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PIPE_SIZE = 1024 * 1024  # Linux's default unprivileged maximum (/proc/sys/fs/pipe-max-size)
_POKE_INTERVAL = 0.05  # how often the FIFO watcher retries while the reader is not open yet


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the bare number for signals Python has no name for."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(returncode: int) -> int:
    """A shell's ``$?`` for a Popen returncode: 128+N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class Interrupted(BaseException):
    """A forwarded signal arrived; raised in the main thread so that cleanup code runs.

    A ``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` must not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
        return 128 + self.signum


class SignalGuard:
    """Install handlers for SIGINT/SIGTERM/SIGHUP while the ``with`` block runs.

    The first signal is forwarded to :attr:`child` (when set) and raised as
    :class:`Interrupted`; later ones are only forwarded, so that the abort they would
    interrupt can finish. After :meth:`disarm` signals are forwarded and recorded only.
    Signals that were ignored when we started (``nohup``, background jobs of a
    non-interactive shell) stay ignored, as the user's environment asked.
    """

    def __init__(self, signals: Sequence[signal.Signals] = FORWARDED_SIGNALS) -> None:
        self._signals = tuple(signals)
        self._previous: dict[signal.Signals, Any] = {}
        self._armed = True
        self._deferring = False
        self._pending: int | None = None
        self.received: int | None = None
        self.child: Command | None = None

    def __enter__(self) -> SignalGuard:
        for signum in self._signals:
            try:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN:
                    continue
                signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                return self
            self._previous[signum] = previous
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._armed = False
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def disarm(self) -> None:
        """Stop raising: from now on signals are forwarded and recorded only."""
        self._armed = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold back the exception while the block runs (e.g. while a child is spawned,
        so that it is never left running unseen), then raise it."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        pending, self._pending = self._pending, None
        if pending is not None and self._armed:
            if self.child is not None:  # spawned while the signal was held back
                self.child.send_signal(pending)
            raise Interrupted(pending)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        child = self.child
        if child is not None:
            child.send_signal(signum)
        if self.received is not None:
            return
        self.received = signum
        if self._deferring:
            self._pending = signum
        elif self._armed:
            raise Interrupted(signum)


class CommandError(UsageError):
    """The exec-mode command could not be started (127: not found, 126: not executable)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Command:
    """A producer started without a shell; its stdout goes where the caller said."""

    def __init__(self, process: subprocess.Popen[bytes], argv: Sequence[str]) -> None:
        self._process = process
        self.argv = list(argv)

    @classmethod
    def start(cls, argv: Sequence[str], *, stdout: int) -> Command:
        """Spawn ``argv`` with ``stdout`` as its fd 1; stdin and stderr are inherited."""
        name = argv[0]
        try:
            process = subprocess.Popen(list(argv), stdout=stdout, close_fds=True)
        except FileNotFoundError:
            raise CommandError(f"command not found: {name}", 127) from None
        except PermissionError:
            raise CommandError(f"command not executable: {name} (permission denied)", 126) from None
        except OSError as exc:
            raise CommandError(f"cannot run {name}: {exc.strerror or exc}", 126) from None
        return cls(process, argv)

    @property
    def pid(self) -> int:
        """The producer's process id."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """Popen's returncode once reaped: negative -N when killed by signal N."""
        return self._process.poll()

    def send_signal(self, signum: int) -> None:
        """Signal the producer unless it has already been reaped."""
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the producer; its returncode, or None if ``timeout`` passed first."""
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float) -> int:
        """Wait up to ``grace`` seconds, then SIGTERM, then SIGKILL; return the returncode."""
        for escalate in (self._process.terminate, self._process.kill):
            code = self.wait(grace)
            if code is not None:
                return code
            log.debug("command %s still running after %.0fs; escalating", self.argv[0], grace)
            with contextlib.suppress(ProcessLookupError):
                escalate()
        return self._process.wait()

    def describe(self, returncode: int) -> str:
        """``"tar exited with status 2"`` / ``"tar was killed by SIGKILL"``."""
        if returncode < 0:
            return f"{self.argv[0]} was killed by {signal_name(-returncode)}"
        return f"{self.argv[0]} exited with status {returncode}"


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


def open_pipe_from(
    argv: Sequence[str], *, spawn: Callable[[Sequence[str], int], Command] | None = None
) -> tuple[Command, io.FileIO]:
    """Start ``argv`` with its stdout on a new pipe; return it and the pipe's read end."""
    read_fd, write_fd = os.pipe()
    try:
        grow_pipe(read_fd)
        command = (spawn or _spawn)(argv, write_fd)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # the child holds its copy; ours would hide the child's EOF
    return command, io.FileIO(read_fd, "rb", closefd=True)


def _spawn(argv: Sequence[str], stdout: int) -> Command:
    return Command.start(argv, stdout=stdout)


class Fifo:
    """A named pipe we create (mode 0600), read from, and remove afterwards.

    Opening a FIFO for reading blocks until a writer opens it. A producer that exits
    without ever opening it would leave us blocked forever, so :meth:`release_when_exits`
    watches the producer and, once it has exited, opens the FIFO for writing without
    blocking and closes it at once: the reader's open returns and it reads EOF.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._reader_done = threading.Event()
        self._watcher: threading.Thread | None = None

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
            if self._poke():
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
