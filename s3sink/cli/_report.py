"""What the command tells its caller: exit codes, one-line errors, logging to stderr, and
the result on stdout (``--json``) with the summary line on stderr.

Exit codes (CONVENTIONS §5; the table is docs/semantics.md's): 0 committed, 1 failed and
aborted, 2 usage, 3 the abort failed too (upload id printed), 4 precondition failed (reading:
the object changed while it was read), 5 (reading) the object's bytes do not match what the
store recorded, 141 (reading) stdout's reader closed it early, as cat's SIGPIPE, 128+N
after aborting on signal N; a command's outcome in xargs(1)'s codes, never its own status:
123 it exited non-zero, 125 a signal killed it, 126 not executable, 127 not found.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shlex
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

from .._exec.producer import CommandError, ProducerFailed, command_exit_code
from .._exec.signals import Interrupted, signal_name
from .._sizes import format_duration, format_size
from .._store.errors import (
    describe,
    error_code,
    http_status,
    is_connection_problem,
    is_missing_credentials,
)
from .._store.redact import redact
from ..errors import AbortFailedError, PreconditionFailed, UploadError, UsageError

if TYPE_CHECKING:
    from .._results import UploadResult

log = logging.getLogger("s3sink")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORT_FAILED = 3
EXIT_PRECONDITION = 4
EXIT_INTEGRITY = 5  # read back: the object's bytes do not match what the store recorded
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE  # read back: the reader of stdout closed it early

_NOTHING_WRITTEN = "the upload was aborted and nothing was written"


def error_line(message: str) -> None:
    """``s3sink: error: MESSAGE``. A message may go on over more lines: a line that starts
    with two spaces is a command to run, printed alone so that it can be copied and pasted;
    any other line is ``s3sink: LINE``."""
    first, *rest = scrub(message).split("\n")
    lines = [f"s3sink: error: {first}"]
    lines += [line if line.startswith("  ") else f"s3sink: {line}" for line in rest]
    sys.stderr.write("".join(line + "\n" for line in lines))
    sys.stderr.flush()


def command_apart(text: str) -> str:
    """``...: s3sink uploads abort ...`` with the command moved to a line of its own (see
    :func:`error_line`): the library's messages keep it inline, a terminal wants it alone."""
    return re.sub(r": (s3sink \S.*?)(\.?)$", r":\n  \1", text, count=1)


scrub = redact  # every line the command prints goes through it


class _StderrHandler(logging.Handler):
    """Writes ``s3sink: warning: ...`` to whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = scrub(self.format(record))
            sys.stderr.write(f"s3sink: {record.levelname.lower()}: {line}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001  # logging must never break the upload
            self.handleError(record)


class _Redacting:
    """A text stream whose every write goes through :func:`scrub` (the rest is the
    stream's own). Every write of the commands is a whole line or a whole JSON object, so
    a URL is never split between two writes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def _redacted_output() -> Iterator[None]:
    """sys.stdout and sys.stderr through the redaction while a command runs: whatever it
    prints (a result, a report, a warning, a traceback) cannot carry an endpoint URL's
    credentials, even from code that forgot to scrub."""
    saved = sys.stdout, sys.stderr
    if saved[0] is not None:
        sys.stdout = cast("TextIO", _Redacting(saved[0]))
    if saved[1] is not None:
        sys.stderr = cast("TextIO", _Redacting(saved[1]))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def command_logging(debug: bool) -> Iterator[None]:
    """For the duration of one command: route the s3sink logger (never botocore's: its
    debug output carries secrets) to stderr, and everything printed through the
    redaction."""
    handler = _StderrHandler()
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        with _redacted_output():
            yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


def report_failure(exc: BaseException, message: str, *, debug: bool) -> None:
    if debug:
        # The standard traceback never shows local variables (credentials live there), but
        # exception messages in it may hold an endpoint URL with credentials.
        sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
    error_line(message)


def describe_upload_error(exc: UploadError) -> str:
    """Say what went wrong in the user's terms (missing bucket, access, network...)."""
    if exc.__cause__ is None:
        return str(exc)
    return describe_cause(exc.__cause__, exc.bucket, exc.key) or str(exc)


def describe_cause(cause: BaseException, bucket: str, key: str) -> str | None:
    """A store's error in the user's terms when it is a common one (a missing bucket,
    access denied, no network, no credentials); None otherwise. Shared by the upload and
    the read commands."""
    uri = f"s3://{bucket}/{key}"
    code = error_code(cause)
    if code == "NoSuchBucket":
        return (
            f"bucket {bucket!r} does not exist ({uri}); "
            "create it, or check the bucket name and the endpoint"
        )
    if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId") or (
        http_status(cause) == 403
    ):
        return (
            f"access denied to {uri} ({describe(cause)}); "
            "check the credentials (AWS_PROFILE / --profile) and the bucket policy"
        )
    if is_connection_problem(cause):
        return (
            f"cannot reach the S3 endpoint for {uri} ({cause}); "
            "check --endpoint-url / AWS_ENDPOINT_URL and the network"
        )
    if is_missing_credentials(cause):
        return (
            f"no AWS credentials found for {uri}; set AWS_PROFILE (or --profile) or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    return None


# -- outcomes -----------------------------------------------------------------------------------
def print_success(
    result: UploadResult, uri: str, seconds: float, *, json_output: bool, quiet: bool
) -> int:
    """The result on stdout (``--json``) and the summary line on stderr; returns EXIT_OK."""
    if json_output:
        record = {
            "ok": True,
            "bucket": result.bucket,
            "key": result.key,
            "uri": uri,
            "etag": result.etag,
            "version_id": result.version_id,
            "size": result.size,
            "source_size": result.source_size if result.source_size is not None else result.size,
            "compression": result.compression,
            "encryption": result.encryption,
            "recipients": result.recipients,
            "parts": result.parts,
            "seconds": round(seconds, 3),
            "upload_id": result.upload_id,
            "checksum_algorithm": result.checksum_algorithm,
            "checksum": result.checksum,
            "checksum_type": result.checksum_type,
            "integrity": result.integrity,
            "parts_skipped": result.parts_skipped,
            "bytes_skipped": result.bytes_skipped,
            "object_lock": result.object_lock,
        }
        try:
            _write_stdout(json.dumps(record) + "\n")
        except OSError as exc:
            # Committed is committed: a closed or broken result channel is worth one line,
            # not exit 1 (which says "failed, aborted").
            _discard_stdout()
            sys.stderr.write(
                "s3sink: warning: the object was committed, but the result could not be "
                f"written to stdout ({exc.strerror or exc})\n"
            )
    if not quiet:
        source = result.source_size if result.source_size is not None else result.size
        rate = format_size(int(source / seconds)) if seconds > 0 else "-"
        compressed = ""
        if result.compression is not None:
            ratio = f"{source / result.size:.1f}x" if result.size else "-"
            compressed = f" ({result.compression} of {format_size(source)} read, {ratio})"
        if result.encryption is not None:
            many = "recipient" if result.recipients == 1 else "recipients"
            compressed += f" ({result.encryption}-encrypted to {result.recipients} {many})"
        check = f", {result.checksum_algorithm} {result.checksum}" if result.checksum else ""
        plural = "part" if result.parts == 1 else "parts"
        skipped = ""
        if result.parts_skipped:
            skipped = (
                f", {result.parts_skipped} already stored ({format_size(result.bytes_skipped)}"
                " not sent again)"
            )
        sys.stderr.write(
            f"s3sink: uploaded {format_size(result.size)}{compressed} to {uri} in "
            f"{format_duration(seconds)} ({rate}/s, {result.parts} {plural}{skipped}{check})\n"
        )
    return EXIT_OK


class NothingToUpload(Exception):  # an outcome, not a programming error
    """The stream ended with nothing to publish that the user asked for: empty input (a
    0-byte "backup" is almost always a failed producer), or a FIFO nobody opened."""


class PreflightFailed(Exception):  # an outcome, not a programming error
    """The bucket check before anything started failed (a missing bucket, refused
    credentials, an endpoint out of reach): nothing was started or written, and the
    message says what to do, a command to run on a line of its own."""


Reason = Literal[
    "producer-failed",
    "upload-failed",
    "abort-failed",
    "precondition-failed",
    "interrupted",
    "usage",
    "empty",
]


def failure_reason(  # noqa: PLR0911  # a flat table: exception type -> reason
    exc: BaseException, abort_error: AbortFailedError | None
) -> Reason:
    """What kind of failure ``exc`` is, for scripts (the ``reason`` of the --json object)."""
    if abort_error is not None or isinstance(exc, AbortFailedError):
        return "abort-failed"
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return "interrupted"
    if isinstance(exc, (ProducerFailed, CommandError)):
        return "producer-failed"
    if isinstance(exc, PreconditionFailed):
        return "precondition-failed"
    if isinstance(exc, UsageError):
        return "usage"
    if isinstance(exc, NothingToUpload):
        return "empty"
    return "upload-failed"


def print_failure(
    *,
    code: int,
    reason: Reason,
    message: str,
    upload_id: str | None,
    producer_status: int | None,
    resume_command: str | None = None,
) -> None:
    """With --json, a failure is one object on stdout too: ``{"ok": false, ...}``, so that a
    script can tell a producer's exit 3 from s3sink's own; ``"kept": true`` and the
    ``resume_command`` when the upload was kept for a resume."""
    record = {
        "ok": False,
        "exit": code,
        "reason": reason,
        "message": scrub(message),
        "upload_id": upload_id,
        "producer_status": producer_status,
        "kept": resume_command is not None,
        "resume_command": scrub(resume_command) if resume_command is not None else None,
    }
    with contextlib.suppress(OSError):  # the error line on stderr says it all the same
        _write_stdout(json.dumps(record) + "\n")


def _write_stdout(text: str) -> None:
    if sys.stdout is None:  # fd 1 was closed when Python started
        raise OSError(errno.EBADF, "stdout is closed")
    sys.stdout.write(text)
    sys.stdout.flush()


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null, so that flushing what is still buffered at exit cannot fail
    again (Python would then exit 120)."""
    try:
        if sys.stdout.fileno() != 1:
            return
    except (OSError, ValueError, AttributeError):  # not a real file (CliRunner), or closed
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)


def classify(
    exc: BaseException,
    abort_error: AbortFailedError | None,
    *,
    precondition: str,
    killed: bool = False,
    upload_started: bool = True,
    connection: Sequence[str] = (),
    kept: str | None = None,
) -> tuple[int, str]:
    """The exit code and the error line for a failed run. ``precondition`` is the message for
    a refused conditional write; ``upload_started`` whether a multipart upload existed (and
    so was aborted); ``connection`` the options that reach the store (``--endpoint-url``
    ...), which the printed cleanup command must repeat; ``kept`` the message for an upload
    kept for a resume (instead of "aborted")."""
    orphan = abort_error or (exc if isinstance(exc, AbortFailedError) else None)
    if orphan is not None:
        # close() raises the AbortFailedError itself, the first error as its context.
        first = exc.__context__ if exc is orphan else exc
        what = f"{_what_failed(first, precondition, killed=killed)[1]}, and then " if first else ""
        text = str(orphan)
        if connection and orphan.upload_id:
            flag = f"--upload-id {orphan.upload_id}"
            text = text.replace(flag, " ".join([flag, *map(shlex.quote, connection)]))
        return EXIT_ABORT_FAILED, command_apart(f"{what}{text}")
    code, what = _what_failed(exc, precondition, killed=killed)
    says_so = (PreconditionFailed, UsageError, NothingToUpload, PreflightFailed)
    if isinstance(exc, says_so):  # says so itself
        return code, what
    if kept is not None:
        return code, f"{what}; nothing was written, {kept}"
    return code, f"{what}; {_NOTHING_WRITTEN if upload_started else 'nothing was written'}"


def _what_failed(  # noqa: PLR0911  # a flat table: exception type -> exit code
    exc: BaseException, precondition: str, *, killed: bool = False
) -> tuple[int, str]:
    if isinstance(exc, Interrupted):
        # The command's status (it may have died of the signal we forwarded, or exited 1 on
        # it) is not the outcome: s3sink was stopped, and says so with 128+N.
        what = f"interrupted by {signal_name(exc.signum)}"
        if killed:  # it ignored the signal and we had to end it
            what += "; the command did not exit and was killed"
        return exc.exit_code, what
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT, "interrupted"
    if isinstance(exc, ProducerFailed):
        return command_exit_code(exc.returncode), str(exc)
    if isinstance(exc, (NothingToUpload, PreflightFailed)):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, CommandError):
        return exc.exit_code, str(exc)
    if isinstance(exc, PreconditionFailed):
        return EXIT_PRECONDITION, precondition
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, UploadError):
        return EXIT_FAILED, describe_upload_error(exc)
    if isinstance(exc, OSError):
        return EXIT_FAILED, f"reading the input failed: {exc}"
    return EXIT_FAILED, f"unexpected error: {type(exc).__name__}: {exc}"


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
