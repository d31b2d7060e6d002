"""Exec mode's producer: a command started without a shell, whose stdout we read.

A shell pipeline (``pg_dump db | s3sink s3://b/k``) cannot tell the sink whether the producer
succeeded: EOF looks the same either way. Exec mode (``s3sink s3://b/k -- pg_dump db``) runs
the producer itself and commits only when it exits 0.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from ..errors import UsageError
from .pipes import grow_pipe
from .signals import signal_name

__all__ = [
    "EXIT_COMMAND_FAILED",
    "EXIT_COMMAND_KILLED",
    "Command",
    "CommandError",
    "ProducerFailed",
    "command_exit_code",
    "exit_status",
    "open_pipe_from",
    "open_pipe_to",
]

# s3sink's own exit codes for a command's outcome, xargs(1)'s: a command's status never passes
# through, so a cron wrapper can tell "pg_dump exited 3" from s3sink's own 3 (the abort
# failed). 126 and 127 (found but not runnable, not found) are env(1)'s and the shell's.
EXIT_COMMAND_FAILED = 123
EXIT_COMMAND_KILLED = 125
EXIT_COMMAND_NOT_EXECUTABLE = 126
EXIT_COMMAND_NOT_FOUND = 127

log = logging.getLogger("s3sink")

_STOP_POLL = 0.1  # seconds between checks for a second Ctrl-C while a producer is stopping


def exit_status(returncode: int) -> int:
    """A shell's ``$?`` for a Popen returncode: 128+N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def command_exit_code(returncode: int) -> int:
    """s3sink's exit code for a command that failed: 123 when it exited non-zero, 125 when a
    signal killed it (its own status goes into the message and ``--json``)."""
    return EXIT_COMMAND_KILLED if returncode < 0 else EXIT_COMMAND_FAILED


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
        self.killed_by_us = False

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        stdout: int | None,
        stderr: int | None = None,
        stdin: int | None = None,
    ) -> Command:
        """Spawn ``argv`` with ``stdout`` as its fd 1 (and ``stderr`` as its fd 2, ``stdin``
        as its fd 0; None: ours)."""
        name = argv[0]
        try:
            process = subprocess.Popen(
                list(argv), stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True
            )
        except FileNotFoundError:
            raise CommandError(f"command not found: {name}", EXIT_COMMAND_NOT_FOUND) from None
        except PermissionError:
            raise CommandError(
                f"command not executable: {name} (permission denied)", EXIT_COMMAND_NOT_EXECUTABLE
            ) from None
        except OSError as exc:
            raise CommandError(
                f"cannot run {name}: {exc.strerror or exc}", EXIT_COMMAND_NOT_EXECUTABLE
            ) from None
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

    def stop(
        self,
        grace: float,
        *,
        hurry: threading.Event | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> int:
        """Wait up to ``grace`` seconds, then SIGTERM, then after ``grace`` more SIGKILL;
        return the returncode. ``notify`` hears, once, what we wait for when the command
        does not exit at once; ``hurry`` (a second Ctrl-C) sends SIGKILL now.
        :attr:`killed_by_us` then says whether our SIGTERM/SIGKILL ended it."""
        deadline = time.monotonic() + 2 * grace
        announced = terminated = False
        while True:
            now = time.monotonic()
            if now >= deadline or (hurry is not None and hurry.is_set()):
                self._end(self._process.kill)
                return self._process.wait()
            if now >= deadline - grace and not terminated:
                terminated = True
                self._end(self._process.terminate)
            code = self.wait(min(_STOP_POLL, deadline - now))
            if code is not None:
                return code
            if not announced and notify is not None:
                announced = True
                notify(
                    f"waiting for {self.argv[0]} to exit; SIGKILL in "
                    f"{deadline - time.monotonic():.0f} s (Ctrl-C again: now)"
                )

    def _end(self, send: Callable[[], None]) -> None:
        log.debug("command %s still running; escalating", self.argv[0])
        self.killed_by_us = True
        with contextlib.suppress(ProcessLookupError):
            send()

    def describe(self, returncode: int) -> str:
        """``"tar exited with status 2"`` / ``"tar was killed by SIGKILL"``."""
        if returncode < 0:
            return f"{self.argv[0]} was killed by {signal_name(-returncode)}"
        return f"{self.argv[0]} exited with status {returncode}"


def open_pipe_from(
    argv: Sequence[str],
    *,
    spawn: Callable[[Sequence[str], int], Command] | None = None,
    stderr: int | None = None,
) -> tuple[Command, io.FileIO]:
    """Start ``argv`` with its stdout on a new pipe (and ``stderr`` as its fd 2, else ours);
    return it and the pipe's read end."""
    read_fd, write_fd = os.pipe()
    try:
        grow_pipe(read_fd)
        if spawn is not None:
            command = spawn(argv, write_fd)
        else:
            command = Command.start(argv, stdout=write_fd, stderr=stderr)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # the child holds its copy; ours would hide the child's EOF
    return command, io.FileIO(read_fd, "rb", closefd=True)


def open_pipe_to(argv: Sequence[str]) -> tuple[Command, int]:
    """Start ``argv`` with its stdin on a new pipe (``s3sink cat s3://b/k -- COMMAND``; its
    stdout and stderr are ours); return it and the pipe's write end (ours to close, and
    only once the command may see the end of its input)."""
    read_fd, write_fd = os.pipe()
    try:
        grow_pipe(write_fd)
        command = Command.start(argv, stdout=None, stdin=read_fd)
    except BaseException:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)  # the child holds its copy
    return command, write_fd


class ProducerFailed(Exception):
    """The exec-mode command exited non-zero (or was killed): never commit its output."""

    def __init__(self, command: Command, returncode: int) -> None:
        super().__init__(command.describe(returncode))
        self.returncode = returncode
