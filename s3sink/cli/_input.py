"""The sink command's input: stdin (a pipe, a terminal refused, a regular file read with
positional reads), ``--file PATH``, and what a resume must be given again."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
from dataclasses import dataclass

from ..errors import UsageError
from ._settings import SinkOptions

__all__ = ["FileInput", "check_input", "file_input", "input_feed"]


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _stdin_is_write_only() -> bool:
    """fd 0 opened for writing only (``s3sink URI 0>file``): every read would fail."""
    try:
        flags = fcntl.fcntl(sys.stdin.fileno(), fcntl.F_GETFL)
    except (OSError, ValueError, AttributeError):  # CliRunner's stdin has no descriptor
        return False
    return flags & os.O_ACCMODE == os.O_WRONLY


@dataclass(frozen=True)
class FileInput:
    """A regular file to upload: ``--file PATH``, or one redirected to stdin (``< PATH``),
    from ``offset`` (where the descriptor stood) for ``size`` bytes."""

    fd: int
    name: str
    offset: int
    size: int
    owned: bool  # opened by us (--file), so closed by us

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
        else:
            # As if it had been read: a script reading on after s3sink sees the end.
            with contextlib.suppress(OSError):
                os.lseek(self.fd, self.offset + self.size, os.SEEK_SET)


def file_input(opts: SinkOptions) -> FileInput | None:
    """The file to read with positional reads, if the input is one; raises UsageError."""
    if opts.file is not None:
        if opts.command or opts.fifo:
            raise UsageError("--file reads a file: it cannot be combined with -- COMMAND or --fifo")
        try:
            fd = os.open(opts.file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise UsageError(f"cannot open --file {opts.file}: {exc.strerror}") from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise UsageError(f"--file {opts.file} is not a regular file")
        return FileInput(fd, opts.file, 0, info.st_size, owned=True)
    if opts.command or opts.fifo or sys.stdin is None:
        return None
    try:
        fd = sys.stdin.fileno()
        info = os.fstat(fd)
        offset = os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):  # a pipe, or no descriptor (CliRunner)
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileInput(fd, "stdin", offset, max(0, info.st_size - offset), owned=False)


def check_input(opts: SinkOptions) -> None:
    if opts.command and not opts.command[0]:
        raise UsageError("the command after -- is empty")
    if opts.command or opts.fifo or opts.file:
        return
    # (stdin a directory never gets here: the interpreter refuses to start.)
    if sys.stdin is None:
        raise UsageError("stdin is closed; pipe data into s3sink or use exec mode")
    if _stdin_is_terminal():
        raise UsageError(
            "stdin is a terminal; pipe data in (tar c DIR | s3sink s3://BUCKET/KEY) "
            "or let s3sink run the producer (s3sink s3://BUCKET/KEY -- COMMAND ARGS)"
        )
    if _stdin_is_write_only():
        raise UsageError("stdin is open for writing only; pipe data into s3sink or use exec mode")


def input_feed(opts: SinkOptions, file: FileInput | None) -> str | None:
    """What a resume of this run must be given again (see ResumeCommand.feed)."""
    if opts.command:
        return None
    if opts.fifo is not None:
        return "fifo"
    if file is not None and file.owned:  # --file: the command line names it
        return None
    return "stdin"  # a pipe, or a file redirected to stdin
