"""One run of ``s3sink cat``: the object read (``s3sink._read``) into stdout, a file (``-o``)
or a command's stdin (``-- COMMAND``), then the report and the exit code.

What each output gets when the object fails to verify (or the read fails for any reason):

- **stdout**: the ranges before the last, never the last: the reader (``zstd -d``,
  ``pg_restore``, ``tar x``) sees a short stream, and the exit code (5) says why. Bytes go
  to file descriptor 1 with ``os.write`` (partial writes resumed), never through
  ``sys.stdout``, which carries text (and the redaction) while a command runs.
- **-o PATH**: nothing: the bytes go to a temporary file beside PATH, renamed over it only
  once verified; PATH is left as it was.
- **-- COMMAND**: the command is stopped (SIGTERM, SIGKILL after a grace period) *before*
  its stdin is closed, so it never reads a clean end of input; its status is reported,
  the exit code is s3sink's.

A reader that stops early is what the user asked for (``s3sink cat … | head``): stdout's
reader closing it ends the read at once, silently, with 141 (as ``cat`` killed by SIGPIPE:
a ``pipefail`` script sees the same as with cat, and nothing was verified); a COMMAND that
closes its stdin early decides the outcome by its own status (0: exit 0, with a warning that
the object was not verified).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._exec.producer import (
    CommandError,
    command_exit_code,
    exit_status,
)
from .._exec.signals import Interrupted, SignalGuard
from .._location import parse_location
from .._read.config import DEFAULT_READ_CONCURRENCY, ReadConfig
from .._read.reader import ObjectReader
from .._read.restore import read_into
from .._results import ReadResult
from .._writer.checks import check_connection_options
from ..errors import IdentityError, UsageError
from . import _startup
from ._cat_output import (
    CommandGone,
    CommandOutput,
    FileOutput,
    NotStarted,
    Output,
    OutputClosed,
)
from ._progress import PLAIN_INTERVAL, Display, NoDisplay, choose_mode, make_display
from ._read_report import ReadOutcome, read_failure, summary_line, write_record
from ._reading import load_identities, sse_c_extra
from ._report import (
    EXIT_OUTPUT_CLOSED,
    EXIT_USAGE,
    command_logging,
    error_line,
    report_failure,
)

if TYPE_CHECKING:
    from .._crypt import Identity

log = logging.getLogger("s3sink")


@dataclass(frozen=True)
class CatOptions:
    """Everything ``s3sink cat`` was given."""

    uri: str
    command: tuple[str, ...] = ()
    output: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    version_id: str | None = None
    part_size: int | None = None
    concurrency: int = DEFAULT_READ_CONCURRENCY
    max_memory: int | None = None
    require_checksum: bool = False
    sse_c_key_file: str | None = None
    decompress: bool = False
    identity: tuple[str, ...] = ()
    max_attempts: int | None = None
    json_output: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: a bar when stderr is a terminal
    progress_interval: float = PLAIN_INTERVAL
    debug: bool = False


@dataclass
class CatRun:
    """One ``s3sink cat``: read, write out, report; :meth:`run` returns the exit code."""

    opts: CatOptions
    reader: ObjectReader
    output: Output
    uri: str
    identities: tuple[Identity, ...] = ()
    result: ReadResult | None = None
    guard: SignalGuard = field(default_factory=SignalGuard)
    started: float = field(default_factory=time.monotonic)
    display: Display = field(default_factory=NoDisplay)

    def run(self) -> int:
        with self.guard:
            failure = self._attempt()
            self.display.stop()  # before any failure's lines and the summary
            self.guard.disarm()
            if failure is not None:
                self.output.fail(failure, self.guard, quiet=self.opts.quiet)
        return self._report(failure)

    def _display(self) -> Display:
        """The progress display. In exec mode COMMAND shares the terminal (pg_restore's
        messages): no live bar under it, plain lines only when --progress asks for them."""
        mode = choose_mode(
            progress=self.opts.progress, quiet=self.opts.quiet, stderr_is_tty=sys.stderr.isatty()
        )
        if mode == "rich" and self.opts.command:
            mode = "plain" if self.opts.progress else "off"
        return make_display(
            mode,
            self.reader.progress,
            label=self.uri,
            stream=lambda: sys.stderr,
            total=self.reader.head.size,
            interval=self.opts.progress_interval,
        )

    def _attempt(self) -> BaseException | None:
        try:
            self.reader.open()
            self.display = self._display()  # the object's size known: the bar's total
            self.display.start()
            if self.opts.command:
                self.output = CommandOutput(self.opts.command, self.guard)
            self.result = read_into(
                self.reader,
                self.output,
                decompress=self.opts.decompress,
                identities=self.identities,
                on_encrypted=None if self.opts.quiet else self._encrypted,
            )
            self.output.finish()
        except BaseException as exc:  # noqa: BLE001  # every outcome is reported by _report
            # Interrupted: no wait for workers still waiting on the store (daemon threads,
            # gone with the process); anything else: they are stopped and joined.
            self.reader.close(wait=not isinstance(exc, (Interrupted, KeyboardInterrupt)))
            return exc
        self.reader.close()
        return None

    def _encrypted(self) -> None:
        log.warning(
            "%s is age-encrypted: written as stored, encrypted (give --identity to decrypt)",
            self.uri,
        )

    def _outcome(self) -> ReadOutcome:
        outcome = ReadOutcome(
            uri=self.uri,
            output=self.output.kind,
            result=self.result or self.reader.result,
            head=self.reader.layout.head if self.reader.layout is not None else None,
            bytes_written=self.output.written,
            seconds=time.monotonic() - self.started,
        )
        if isinstance(self.output, CommandOutput) and self.output.returncode is not None:
            outcome.command_status = exit_status(self.output.returncode)
        return outcome

    def _report(self, failure: BaseException | None) -> int:
        outcome = self._outcome()
        if failure is None or isinstance(failure, CommandGone):
            self._command_outcome(outcome, early=failure is not None)
        elif isinstance(failure, OutputClosed):
            outcome.code, outcome.reason = EXIT_OUTPUT_CLOSED, "output-closed"
            outcome.message = "the reader of stdout closed it; the read stopped there"
            log.debug("%s", outcome.message)
        else:
            outcome.code, outcome.reason, message = read_failure(failure)
            size = outcome.head.size if outcome.head is not None else None
            outcome.message = message
            if not isinstance(failure, CommandError):  # it says what happened itself
                outcome.message += f"; {self.output.consequence(failure, size)}"
            report_failure(failure, outcome.message, debug=self.opts.debug)
        if outcome.code == 0 and not self.opts.quiet:
            sys.stderr.write(summary_line(outcome))
            sys.stderr.flush()
        if self.opts.json_output:
            write_record(outcome, to_stderr=self.output.kind == "stdout")
        return outcome.code

    def _command_outcome(self, outcome: ReadOutcome, *, early: bool) -> None:
        """Success, or COMMAND's own failure (123/125) or early stop."""
        output = self.output
        if not isinstance(output, CommandOutput) or output.returncode is None:
            return
        command, returncode = output.command, output.returncode
        if returncode != 0:
            outcome.code, outcome.reason = command_exit_code(returncode), "command-failed"
            outcome.message = command.describe(returncode)
            if output.failed_early is not None and outcome.result is not None:
                outcome.message += (
                    " before the end of its input; the rest was read: the object verified, "
                    "so it failed on the bytes the store holds"
                )
            error_line(outcome.message)
        elif early:
            size = outcome.head.size if outcome.head is not None else 0
            log.warning(
                "%s exited before it read the whole object (%d of %d bytes); what it read "
                "was not verified",
                command.argv[0],
                output.written,
                size,
            )


def _read_config(opts: CatOptions) -> ReadConfig:
    options: dict[str, object] = {
        "concurrency": opts.concurrency,
        "max_memory": opts.max_memory,
        "version_id": opts.version_id,
        "require_checksum": opts.require_checksum,
        "max_attempts": opts.max_attempts,
        "extra": sse_c_extra(opts.sse_c_key_file),
    }
    if opts.part_size is not None:
        options["part_size"] = opts.part_size
    return ReadConfig(**options)  # type: ignore[arg-type]  # checked by ReadConfig itself


def _check_output(opts: CatOptions) -> None:
    if opts.command and not opts.command[0]:
        raise UsageError("the command after -- is empty")
    if opts.command and opts.output is not None:
        raise UsageError("-o PATH and -- COMMAND both take the object: choose one")
    to_stdout = not opts.command and opts.output in (None, "-")
    if to_stdout and os.isatty(1):
        raise UsageError(
            "stdout is a terminal; redirect it, or use -o PATH or -- COMMAND "
            "(s3sink cat s3://BUCKET/KEY | tar x, s3sink cat s3://BUCKET/KEY -- pg_restore -d DB)"
        )


def run_cat(opts: CatOptions) -> int:
    """Validate, build the client and the reader, run; returns the exit code."""
    with command_logging(opts.debug):
        output: Output | None = None
        try:
            location = parse_location(opts.uri)
            check_connection_options(
                endpoint_url=opts.endpoint_url, region=opts.region, profile=opts.profile
            )
            config = _read_config(opts)
            _check_output(opts)
            identities = load_identities(opts.identity)
            from .._store.boto import BotoTransport  # noqa: PLC0415  # botocore: slow import
            from .._store.client import build_client  # noqa: PLC0415

            client = build_client(
                concurrency=config.concurrency,
                checksum=None,  # the reader checks the object itself, over the raw bytes
                endpoint_url=opts.endpoint_url,
                region=opts.region,
                profile=opts.profile,
                max_attempts=opts.max_attempts,
            )
            reader = ObjectReader(BotoTransport(client), location.bucket, location.key, config)
            output = Output()
            if opts.command:
                output = NotStarted(opts.command)
            elif opts.output not in (None, "-"):
                output = FileOutput(opts.output)
        except (UsageError, IdentityError) as exc:
            report_failure(exc, str(exc), debug=opts.debug)
            if opts.json_output:
                outcome = ReadOutcome(uri=opts.uri, output="stdout", code=EXIT_USAGE)
                outcome.reason, outcome.message = "usage", str(exc)
                write_record(outcome, to_stderr=not opts.command and opts.output is None)
            return EXIT_USAGE
        finally:
            _startup.done()
        return CatRun(opts, reader, output, location.uri, identities).run()
