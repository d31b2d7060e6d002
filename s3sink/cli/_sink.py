"""One run of the sink command: read stdin, an exec-mode command's stdout or a FIFO into the
writer, then commit or abort, report, and pick the exit code."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import cast

from .._arguments import check_connection_options
from .._fifo import Fifo
from .._location import S3Location, parse_location
from .._pipes import Readable, reader_for_fd
from .._producer import Command, ProducerFailed, exit_status, open_pipe_from
from .._signals import Interrupted, SignalGuard
from .._writer import S3MultipartWriter, State
from ..errors import AbortFailedError, UsageError
from . import _startup
from ._options import (
    SinkOptions,
    check_target,
    check_values,
    make_client,
    writer_options,
)
from ._progress import Display, choose_mode, make_display
from ._report import (
    EXIT_USAGE,
    NothingToUpload,
    classify,
    command_logging,
    failure_reason,
    print_failure,
    print_success,
    report_failure,
)

log = logging.getLogger("s3sink")

STOP_GRACE = 5.0  # seconds a producer gets to exit after a signal or a failed upload


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _stdin_is_write_only() -> bool:
    """fd 0 opened for writing only (``s3sink URI 0>file``): every read would fail."""
    try:
        flags = fcntl.fcntl(sys.stdin.fileno(), fcntl.F_GETFL)
    except (OSError, ValueError, AttributeError):  # CliRunner's stdin has no descriptor
        return False
    return flags & os.O_ACCMODE == os.O_WRONLY


def _check_input(opts: SinkOptions) -> None:
    if opts.command and not opts.command[0]:
        raise UsageError("the command after -- is empty")
    if opts.command or opts.fifo:
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


@dataclass
class SinkRun:
    """One upload: open the input, stream it, commit or abort, report, pick the exit code."""

    opts: SinkOptions
    location: S3Location
    writer: S3MultipartWriter
    guard: SignalGuard = field(default_factory=SignalGuard)
    command: Command | None = None
    fifo: Fifo | None = None
    source: Readable | None = None
    owns_source: bool = False
    started: float = field(default_factory=time.monotonic)

    def run(self) -> int:
        """Stream, then report; returns the exit code."""
        with self.guard, contextlib.ExitStack() as cleanup:  # the FIFO goes last
            display = make_display(
                choose_mode(
                    progress=self.opts.progress,
                    quiet=self.opts.quiet,
                    stderr_is_tty=sys.stderr.isatty(),
                ),
                self.writer.progress,
                label=self.location.uri,
                stream=lambda: sys.stderr,
                total=self.opts.expected_size,
                interval=self.opts.progress_interval,
            )
            failure = self._attempt(cleanup, display)
            display.stop()
            if failure is None or self.writer.state is State.COMPLETED:
                return self._succeed()
            return self._fail(failure)

    def _attempt(self, cleanup: contextlib.ExitStack, display: Display) -> BaseException | None:
        try:
            try:
                self._stream(cleanup, display)
            finally:
                # Committed or failing: from here on a signal must not interrupt the
                # report or the abort (it is still forwarded to the command).
                self.guard.disarm()
        except BaseException as exc:  # noqa: BLE001  # every outcome is reported by _fail
            return exc
        return None

    def _stream(self, cleanup: contextlib.ExitStack, display: Display) -> None:
        # Before anything is read or started: a write that cannot be published stops here.
        self.writer.check_conditions()
        if self.opts.fifo is not None:
            # Before the command starts: it must find a FIFO, not create a regular file.
            self.fifo = cleanup.enter_context(Fifo(self.opts.fifo))
        if self.opts.command:
            self._start_command()
        display.start()
        self.started = time.monotonic()
        self.source = self._open_source()
        self.writer.readinto_from(self.source)
        self._close_source()
        if self.command is not None:
            returncode = self.command.wait()
            assert returncode is not None  # noqa: S101  # wait() without timeout
            if returncode != 0:
                raise ProducerFailed(self.command, returncode)
        self._refuse_nothing()
        self.writer.close()

    def _refuse_nothing(self) -> None:
        """A FIFO the command never opened, or (without --allow-empty) an empty stream, is
        a failure: it is what a failed or misdirected producer looks like."""
        if self.writer.bytes_written:
            return
        name = self.command.argv[0] if self.command is not None else None
        if self.fifo is not None and self.fifo.released_by_watcher:
            raise NothingToUpload(
                f"{name} exited without ever opening {self.fifo.path} for writing (is that "
                "the path it writes to?); nothing was uploaded"
            )
        if self.opts.allow_empty:
            return
        what = f"{name} wrote nothing" if name is not None else "stdin was empty"
        if self.fifo is not None:
            what = f"nothing was written to {self.fifo.path}"
        raise NothingToUpload(f"{what}: nothing uploaded; --allow-empty uploads an empty object")

    def _start_command(self) -> None:
        argv = self.opts.command
        with self.guard.deferred():  # a signal now is delivered once the child exists
            if self.fifo is None:
                self.command, self.source = open_pipe_from(argv)
                self.owns_source = True
            else:
                # Its stdout goes to our stderr: our stdout is the result channel.
                self.command = Command.start(argv, stdout=2)
            self.guard.child = self.command
        if self.fifo is not None:
            self.fifo.release_when_exits(self.command)

    def _open_source(self) -> Readable:
        if self.fifo is not None:
            self.owns_source = True
            return self.fifo.open_reader()
        if self.source is not None:  # exec mode's pipe
            return self.source
        stdin = sys.stdin
        try:
            fd = stdin.fileno()
        except (OSError, ValueError):  # not a real file (CliRunner): read what it offers
            return cast("Readable", stdin.buffer)  # BytesIO and friends have readinto
        return reader_for_fd(fd, closefd=False)

    def _close_source(self) -> None:
        source, self.source = self.source, None
        if self.owns_source and source is not None:
            with contextlib.suppress(OSError):
                source.close()  # type: ignore[attr-defined]  # our FileIO or reader

    # -- outcomes -------------------------------------------------------------------------
    def _succeed(self) -> int:
        return print_success(
            self.writer.result,
            self.location.uri,
            time.monotonic() - self.started,
            json_output=self.opts.json_output,
            quiet=self.opts.quiet,
        )

    def _fail(self, exc: BaseException) -> int:
        self._close_source()  # a producer still writing gets EPIPE
        command = self.command
        if command is not None and not isinstance(exc, (Interrupted, ProducerFailed)):
            command.send_signal(signal.SIGTERM)  # its output has nowhere to go now
        abort_error: AbortFailedError | None = None
        try:
            self.writer.abort()
        except AbortFailedError as err:
            abort_error = err
        returncode = None
        if command is not None:
            returncode = command.stop(
                STOP_GRACE,
                hurry=self.guard.repeated,
                notify=None if self.opts.quiet else _say,
            )
        code, message = classify(
            exc,
            abort_error,
            returncode,
            killed=command is not None and command.killed_by_us,
            precondition=self._precondition_message(),
            upload_started=self.writer.upload_id is not None,
            connection=self._connection_options(),
        )
        report_failure(exc, message, debug=self.opts.debug)
        if self.opts.json_output:
            print_failure(
                code=code,
                reason=failure_reason(exc, abort_error),
                message=message,
                upload_id=self.writer.upload_id,
                producer_status=exit_status(returncode) if returncode is not None else None,
            )
        return code

    def _connection_options(self) -> list[str]:
        """The options that reach this store, for a command printed to clean up."""
        given = {
            "--endpoint-url": self.opts.endpoint_url,
            "--region": self.opts.region,
            "--profile": self.opts.profile,
        }
        return [part for flag, value in given.items() if value for part in (flag, value)]

    def _precondition_message(self) -> str:
        uri = self.location.uri
        if self.opts.if_match is not None:
            return (
                f"{uri} no longer has ETag {self.opts.if_match} (--if-match); nothing was written"
            )
        return f"{uri} already exists (--no-overwrite); nothing was written"


def _say(text: str) -> None:
    sys.stderr.write(f"s3sink: {text}\n")
    sys.stderr.flush()


def run_sink(opts: SinkOptions) -> int:
    """Validate, build the client and the writer, stream; returns the exit code."""
    with command_logging(opts.debug):
        try:
            location = parse_location(opts.uri)
            check_target(location)
            check_connection_options(
                endpoint_url=opts.endpoint_url, region=opts.region, profile=opts.profile
            )
            check_values(opts)
            options = writer_options(opts)
            _check_input(opts)
            client = make_client(
                concurrency=opts.concurrency,
                checksum=opts.checksum not in ("off", "md5"),
                content_md5=opts.checksum == "md5",
                endpoint_url=opts.endpoint_url,
                region=opts.region,
                profile=opts.profile,
                max_attempts=opts.max_attempts,
                sign_payload=opts.sign_payload,
            )
            writer = S3MultipartWriter(location.bucket, location.key, client=client, **options)
        except UsageError as exc:
            report_failure(exc, str(exc), debug=opts.debug)
            if opts.json_output:
                print_failure(
                    code=EXIT_USAGE,
                    reason="usage",
                    message=str(exc),
                    upload_id=None,
                    producer_status=None,
                )
            return EXIT_USAGE
        finally:
            _startup.done()
        try:
            return SinkRun(opts, location, writer).run()
        finally:
            # A no-op once committed or aborted; it only matters if the run itself broke.
            with contextlib.suppress(AbortFailedError):
                writer.abort()
