"""Where ``s3sink cat`` writes: stdout (file descriptor 1, partial writes resumed, a 1 MiB
pipe), ``-o PATH`` (an :class:`~s3sink._read.outfile.OutputFile`, at its name only once
verified) or exec mode's COMMAND (its stdin a pipe, closed only once the object is verified,
else after COMMAND was stopped); what each does when the read fails, and what it then says.
See :mod:`._cat_run` for the whole of a run."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
from pathlib import Path
from typing import Literal

from .._exec.pipes import grow_pipe
from .._exec.producer import open_pipe_to
from .._exec.signals import Interrupted, SignalGuard
from .._read.outfile import OutputExists, OutputFile
from ..errors import IntegrityError, UsageError

__all__ = [
    "CommandGone",
    "CommandOutput",
    "FileOutput",
    "NotStarted",
    "Output",
    "OutputClosed",
]

log = logging.getLogger("s3sink")

STOP_GRACE = 5.0  # seconds COMMAND gets to exit after SIGTERM before SIGKILL
COMMAND_EXIT_WAIT = 1.0  # seconds for a COMMAND that closed its input to exit and say how


class OutputClosed(Exception):  # an outcome, not a programming error
    """The reader of stdout closed it before the end (EPIPE)."""


class CommandGone(Exception):  # an outcome
    """COMMAND closed its stdin (or exited) before the end of the object."""


class Output:
    """Where the bytes go; ``written`` counts them. A pipe on stdout gets a 1 MiB buffer
    (Linux's unprivileged maximum): fewer, larger writes and wake-ups of its reader."""

    kind: Literal["stdout", "file", "command"] = "stdout"

    def __init__(self) -> None:
        self.written = 0
        if self.kind == "stdout":
            grow_pipe(1)

    def write(self, view: memoryview) -> None:
        self._write_all(1, view, OutputClosed)

    def _write_all(self, fd: int, view: memoryview, gone: type[Exception]) -> None:
        """All of ``view`` to ``fd``: partial writes resumed (and counted), a non-blocking
        descriptor waited for; ``gone`` when the reading end is closed."""
        while view:
            try:
                done = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [])
                continue
            except BrokenPipeError as exc:
                raise gone(str(exc)) from exc
            self.written += done
            view = view[done:]

    def finish(self) -> None:
        """The object is verified and all written: make it final."""

    def fail(self, exc: BaseException, guard: SignalGuard, *, quiet: bool) -> None:
        """The read failed (``exc``): undo what can be undone."""

    def consequence(self, exc: BaseException, size: int | None) -> str:
        """What the failure left the output with, for the error line."""
        if self.written == 0:
            return "nothing was written to stdout"
        if isinstance(exc, IntegrityError):
            return (
                f"{self.written} bytes were written to stdout, never the last range: its "
                "reader saw a short stream"
            )
        total = f" of {size}" if size is not None else ""
        return f"stdout got {self.written}{total} bytes"


class FileOutput(Output):
    kind: Literal["stdout", "file", "command"] = "file"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.existed = os.path.lexists(path)
        try:
            # Replaced on success, as `> PATH` would; never touched on a failure.
            self.out, self._dir_fd = OutputFile.at(Path(path), overwrite=True)
        except OSError as exc:
            raise UsageError(f"cannot write -o {path}: {exc.strerror or exc}") from exc
        except OutputExists as exc:  # a directory
            raise UsageError(f"cannot write -o {exc}") from exc

    def write(self, view: memoryview) -> None:
        self.written += self.out.write(view)

    def finish(self) -> None:
        try:
            self.out.commit()
        finally:
            self._close_dir()

    def fail(self, exc: BaseException, guard: SignalGuard, *, quiet: bool) -> None:
        self.out.discard()
        self._close_dir()

    def _close_dir(self) -> None:
        fd, self._dir_fd = self._dir_fd, -1
        if fd >= 0:
            os.close(fd)

    def consequence(self, exc: BaseException, size: int | None) -> str:
        return f"{self.path} was {'left as it was' if self.existed else 'not created'}"


class NotStarted(Output):
    """Exec mode before COMMAND starts (it starts once HeadObject answered)."""

    kind: Literal["stdout", "file", "command"] = "command"

    def __init__(self, argv: tuple[str, ...]) -> None:
        super().__init__()
        self.argv = argv

    def consequence(self, exc: BaseException, size: int | None) -> str:
        return f"{self.argv[0]} was not started"


class CommandOutput(Output):
    kind: Literal["stdout", "file", "command"] = "command"

    def __init__(self, argv: tuple[str, ...], guard: SignalGuard) -> None:
        super().__init__()
        with guard.deferred():  # a signal now is delivered once the child exists
            self.command, self._fd = open_pipe_to(argv)
            guard.child = self.command
        self.returncode: int | None = None
        self.stopped_early = False
        self.failed_early: int | None = None  # it failed before the end: its returncode

    def write(self, view: memoryview) -> None:
        if self.failed_early is not None:
            return  # read on, to tell whether the bytes it failed on were the object's
        try:
            self._write_all(self._fd, view, CommandGone)
        except CommandGone:
            # It closed its input. Failing (pg_restore on a corrupted dump, say), the rest
            # is still read and checked, so the outcome can say whether the object was bad
            # (5) or the command failed on good bytes (123); at peace (head), the read stops.
            returncode = self.command.wait(COMMAND_EXIT_WAIT)
            if returncode is None or returncode == 0:
                raise
            self.failed_early = returncode
            log.debug("%s", self.command.describe(returncode))

    def finish(self) -> None:
        self._close()  # the whole object, verified: now it may see the end of its input
        self.returncode = self.command.wait()
        if self.failed_early is not None:
            raise CommandGone("it failed before the end of its input")

    def fail(self, exc: BaseException, guard: SignalGuard, *, quiet: bool) -> None:
        if isinstance(exc, CommandGone):  # it closed its input: its status is the outcome
            self._close()
            self.returncode = self.command.wait()
            return
        if not isinstance(exc, Interrupted):  # an interrupt was forwarded already
            self.command.send_signal(signal.SIGTERM)
        self.stopped_early = True
        # Stopped before its stdin closes: it never reads a clean end of input. (stop()
        # signals again after half the grace, and kills after the other half.)
        self.returncode = self.command.stop(
            STOP_GRACE / 2, hurry=guard.repeated, notify=None if quiet else _say
        )
        self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def consequence(self, exc: BaseException, size: int | None) -> str:
        name = self.command.argv[0]
        if self.failed_early is not None:
            return f"{self.command.describe(self.failed_early)} before the end of its input"
        if self.returncode is None:
            return f"{name} was stopped"
        return (
            f"{name} was stopped before the end of its input "
            f"({self.command.describe(self.returncode)})"
        )


def _say(text: str) -> None:
    sys.stderr.write(f"s3sink: {text}\n")
    sys.stderr.flush()
