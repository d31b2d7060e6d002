"""One run of the sink command: read stdin, an exec-mode command's stdout or a FIFO into the
writer, then commit or abort, report, and pick the exit code."""

from __future__ import annotations

import contextlib
import logging
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import cast

from .._exec.fifo import Fifo
from .._exec.pipes import reader_for_fd
from .._exec.producer import Command, ProducerFailed, exit_status, open_pipe_from
from .._exec.relay import LineRelay
from .._exec.signals import Interrupted, SignalGuard
from .._location import S3Location, parse_location
from .._store.boto import BotoTransport
from .._store.transport import Transport
from .._upload.journal import ResumeCommand
from .._writer.checks import check_connection_options
from .._writer.sources import Readable
from .._writer.writer import S3MultipartWriter, State
from ..errors import AbortFailedError, UsageError
from . import _startup
from ._commands import connection_options, feed_phrase, resume_argv, working_directory
from ._input import FileInput, check_input, file_input, input_feed
from ._preflight import check_bucket
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
from ._settings import (
    SinkOptions,
    check_target,
    check_values,
    client_for,
    writer_options,
)

log = logging.getLogger("s3sink")

STOP_GRACE = 5.0  # seconds a producer gets to exit after a signal or a failed upload


@dataclass
class SinkRun:
    """One upload: open the input, stream it, commit or abort, report, pick the exit code."""

    opts: SinkOptions
    location: S3Location
    writer: S3MultipartWriter
    store: Transport | None = None  # the bucket is checked there before anything starts
    guard: SignalGuard = field(default_factory=SignalGuard)
    command: Command | None = None
    fifo: Fifo | None = None
    source: Readable | None = None
    owns_source: bool = False
    file: FileInput | None = None
    started: float = field(default_factory=time.monotonic)
    # With a live progress line, the command's stderr is relayed above it, line by line.
    relay: LineRelay | None = None
    relay_stderr: bool = False

    def run(self) -> int:
        """Stream, then report; returns the exit code."""
        with self.guard, contextlib.ExitStack() as cleanup:  # the FIFO goes last
            mode = choose_mode(
                progress=self.opts.progress,
                quiet=self.opts.quiet,
                stderr_is_tty=sys.stderr.isatty(),
            )
            self.relay_stderr = mode == "rich"
            display = make_display(
                mode,
                self.writer.progress,
                label=self.location.uri,
                stream=lambda: sys.stderr,
                total=self.file.size if self.file is not None else self.opts.expected_size,
                interval=self.opts.progress_interval,
                cap=self.opts.rate_limit,
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
        # Before anything is read or started: a bucket that cannot take the upload, or a
        # write that cannot be published, stops here.
        if self.store is not None:
            check_bucket(
                self.store,
                self.location,
                connection=self._connection_options(),
                untouched=self._untouched(),
            )
        self.writer.check_conditions()
        if self.opts.fifo is not None:
            # Before the command starts: it must find a FIFO, not create a regular file.
            self.fifo = cleanup.enter_context(Fifo(self.opts.fifo))
        if self.opts.command:
            self._start_command(cleanup)
        display.start()
        self.started = time.monotonic()
        if self.file is not None:
            self.writer.write_file(
                self.file.fd, offset=self.file.offset, size=self.file.size, name=self.file.name
            )
        else:
            self.source = self._open_source()
            self.writer.readinto_from(self.source)
            self._close_source()
        if self.command is not None:
            returncode = self.command.wait()
            assert returncode is not None  # noqa: S101  # wait() without timeout
            if self.relay is not None:
                self.relay.close()  # its last lines, before anything of ours is said
            if returncode != 0:
                raise ProducerFailed(self.command, returncode)
        self._refuse_nothing()
        self.writer.close()

    def _untouched(self) -> str:
        """What a failed bucket check spared, in the words of this input."""
        if self.opts.command:
            return f"{self.opts.command[0]} was not started and nothing was written"
        if self.file is None and self.opts.fifo is None:
            return "stdin was not read and nothing was written"
        return "nothing was read or written"

    def _refuse_nothing(self) -> None:
        """A FIFO the command never opened, or (without --allow-empty) an empty stream, is
        a failure: it is what a failed or misdirected producer looks like."""
        if self.writer.bytes_written or (self.file is not None and self.file.size):
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
        if self.file is not None:
            what = f"{self.file.name} is empty"
        if self.fifo is not None:
            what = f"nothing was written to {self.fifo.path}"
        raise NothingToUpload(f"{what}: nothing uploaded; --allow-empty uploads an empty object")

    def _start_command(self, cleanup: contextlib.ExitStack) -> None:
        argv = self.opts.command
        stderr = None
        if self.relay_stderr:
            self.relay = LineRelay(_to_stderr)
            cleanup.callback(self.relay.close)
            stderr = self.relay.write_fd
        with self.guard.deferred():  # a signal now is delivered once the child exists
            if self.fifo is None:
                self.command, self.source = open_pipe_from(argv, stderr=stderr)
                self.owns_source = True
            else:
                # Its stdout goes to our stderr: our stdout is the result channel.
                self.command = Command.start(argv, stdout=stderr or 2, stderr=stderr)
            self.guard.child = self.command
        if self.relay is not None:
            self.relay.child_started()
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
        kept_id = None
        try:
            if self.opts.resumable:
                kept_id = self.writer.keep()
            else:
                self.writer.abort()
        except AbortFailedError as err:
            abort_error = err
        resume = self._resume_command() if kept_id is not None else None
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
            killed=command is not None and command.killed_by_us,
            precondition=self._precondition_message(),
            upload_started=self.writer.upload_id is not None,
            connection=self._connection_options(),
            kept=self._kept_message(kept_id, resume) if kept_id is not None else None,
        )
        report_failure(exc, message, debug=self.opts.debug)
        if self.opts.json_output:
            print_failure(
                code=code,
                reason=failure_reason(exc, abort_error),
                message=message,
                upload_id=self.writer.upload_id,
                producer_status=exit_status(returncode) if returncode is not None else None,
                resume_command=resume,
            )
        return code

    def _resume_command(self) -> str:
        """This very command line with --resume: re-run it (with the same input) to resume."""
        return shlex.join(resume_argv(self.opts.argv, self.opts.uri))

    def _kept_message(self, upload_id: str, resume: str | None) -> str:
        feed = feed_phrase(input_feed(self.opts, self.file))
        bucket = f"s3://{self.location.bucket}"
        return (
            f"the upload was kept for a resume (upload id {upload_id}); resume it{feed}:\n"
            f"  {resume}\n"
            "kept uploads cost storage until resumed or aborted; a lifecycle rule removes "
            f"forgotten ones:\n  s3sink uploads lifecycle {bucket} --days 7"
        )

    def _connection_options(self) -> list[str]:
        """The options that reach this store, for a command printed to clean up."""
        return connection_options(
            endpoint_url=self.opts.endpoint_url, region=self.opts.region, profile=self.opts.profile
        )

    def _precondition_message(self) -> str:
        uri = self.location.uri
        if self.opts.if_match is not None:
            return (
                f"{uri} no longer has ETag {self.opts.if_match} (--if-match); nothing was written"
            )
        return f"{uri} already exists (--no-overwrite); nothing was written"


def _to_stderr(line: str) -> None:
    """Whatever sys.stderr is now: while the live line shows, the writer that prints above
    it (RichDisplay swaps it in)."""
    sys.stderr.write(line)
    sys.stderr.flush()


def _say(text: str) -> None:
    sys.stderr.write(f"s3sink: {text}\n")
    sys.stderr.flush()


def run_sink(opts: SinkOptions) -> int:
    """Validate, build the client and the writer, stream; returns the exit code."""
    with command_logging(opts.debug):
        file: FileInput | None = None
        try:
            location = parse_location(opts.uri)
            check_target(location)
            check_connection_options(
                endpoint_url=opts.endpoint_url, region=opts.region, profile=opts.profile
            )
            check_values(opts)
            options = writer_options(opts)
            check_input(opts)
            file = file_input(opts)
            if file is not None:
                options["expected_size"] = file.size  # exact: parts fitted to the file
            if opts.resumable:  # recorded in the journal: a kill -9 cannot print it
                argv = resume_argv(opts.argv, opts.uri)
                options["resume_command"] = ResumeCommand(
                    tuple(argv), input_feed(opts, file), working_directory()
                )
            client = client_for(opts, concurrency=opts.concurrency)
            writer = S3MultipartWriter(location.bucket, location.key, client=client, **options)
        except UsageError as exc:
            if file is not None:
                file.close()
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
            return SinkRun(opts, location, writer, store=BotoTransport(client), file=file).run()
        finally:
            # A no-op once committed, aborted or kept; it only matters if the run itself broke.
            with contextlib.suppress(AbortFailedError):
                if opts.resumable:
                    writer.keep()
                else:
                    writer.abort()
            if file is not None:
                file.close()
