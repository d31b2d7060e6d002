"""What the command tells its caller: exit codes, one-line errors, logging to stderr, and
the result on stdout (``--json``) with the summary line on stderr.

Exit codes (CONVENTIONS §5): 0 committed, 1 failed and aborted, 2 usage, 3 the abort failed
too (upload id printed), 4 precondition failed, 128+N after aborting on signal N, and in exec
mode the command's own status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import sys
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._boto import describe, error_code, http_status
from .._producer import CommandError, ProducerFailed, exit_status
from .._signals import Interrupted, signal_name
from .._sizes import format_duration, format_size
from ..errors import AbortFailedError, PreconditionFailed, UploadError, UsageError

if TYPE_CHECKING:
    from .._results import UploadResult

log = logging.getLogger("s3sink")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORT_FAILED = 3
EXIT_PRECONDITION = 4

_NOTHING_WRITTEN = "the upload was aborted and nothing was written"


def error_line(message: str) -> None:
    sys.stderr.write(f"s3sink: error: {scrub(message)}\n")
    sys.stderr.flush()


def scrub(text: str) -> str:
    """Hide the user:password part of URLs (an endpoint URL may carry credentials)."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


class _StderrHandler(logging.Handler):
    """Writes ``s3sink: warning: ...`` to whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"s3sink: {record.levelname.lower()}: {self.format(record)}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001  # logging must never break the upload
            self.handleError(record)


@contextlib.contextmanager
def command_logging(debug: bool) -> Iterator[None]:
    """Route the s3sink logger (never botocore's: its debug output carries secrets) to
    stderr for the duration of one command."""
    handler = _StderrHandler()
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


def report_failure(exc: BaseException, message: str, *, debug: bool) -> None:
    if debug:
        # The standard traceback never shows local variables (credentials live there).
        traceback.print_exception(exc, file=sys.stderr)
    error_line(message)


def _connection_problem(cause: BaseException) -> bool:
    from botocore import exceptions  # noqa: PLC0415  # loaded already: a client was built

    # EndpointConnectionError and ConnectTimeoutError derive from botocore's ConnectionError.
    return isinstance(cause, exceptions.ConnectionError)


def _missing_credentials(cause: BaseException) -> bool:
    from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

    return isinstance(cause, NoCredentialsError)


def describe_upload_error(exc: UploadError) -> str:
    """Say what went wrong in the user's terms (missing bucket, access, network...)."""
    cause = exc.__cause__
    uri = f"s3://{exc.bucket}/{exc.key}"
    if cause is None:
        return str(exc)
    code = error_code(cause)
    if code == "NoSuchBucket":
        return (
            f"bucket {exc.bucket!r} does not exist ({uri}); "
            "create it, or check the bucket name and the endpoint"
        )
    if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId") or (
        http_status(cause) == 403
    ):
        return (
            f"access denied to {uri} ({describe(cause)}); "
            "check the credentials (AWS_PROFILE / --profile) and the bucket policy"
        )
    if _connection_problem(cause):
        return (
            f"cannot reach the S3 endpoint for {uri} ({cause}); "
            "check --endpoint-url / AWS_ENDPOINT_URL and the network"
        )
    if _missing_credentials(cause):
        return (
            f"no AWS credentials found for {uri}; set AWS_PROFILE (or --profile) or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    return str(exc)


# -- outcomes -----------------------------------------------------------------------------------
def print_success(
    result: UploadResult, uri: str, seconds: float, *, json_output: bool, quiet: bool
) -> int:
    """The result on stdout (``--json``) and the summary line on stderr; returns EXIT_OK."""
    if json_output:
        record = {
            "bucket": result.bucket,
            "key": result.key,
            "uri": uri,
            "etag": result.etag,
            "version_id": result.version_id,
            "size": result.size,
            "parts": result.parts,
            "seconds": round(seconds, 3),
            "upload_id": result.upload_id,
            "checksum_algorithm": result.checksum_algorithm,
            "checksum": result.checksum,
            "checksum_type": result.checksum_type,
            "integrity": result.integrity,
        }
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    if not quiet:
        rate = format_size(int(result.size / seconds)) if seconds > 0 else "-"
        check = f", {result.checksum_algorithm} {result.checksum}" if result.checksum else ""
        plural = "part" if result.parts == 1 else "parts"
        sys.stderr.write(
            f"s3sink: uploaded {format_size(result.size)} to {uri} in "
            f"{format_duration(seconds)} ({rate}/s, {result.parts} {plural}{check})\n"
        )
    return EXIT_OK


def classify(
    exc: BaseException,
    abort_error: AbortFailedError | None,
    returncode: int | None,
    *,
    precondition: str,
) -> tuple[int, str]:
    """The exit code and the error line for a failed run. ``returncode`` is the exec-mode
    command's, ``precondition`` the message for a refused conditional write."""
    orphan = abort_error or (exc if isinstance(exc, AbortFailedError) else None)
    if orphan is not None:
        # close() raises the AbortFailedError itself, the first error as its context.
        first = exc.__context__ if exc is orphan else exc
        what = f"{_what_failed(first, returncode, precondition)[1]}, and then " if first else ""
        return EXIT_ABORT_FAILED, f"{what}{orphan}"
    code, what = _what_failed(exc, returncode, precondition)
    if isinstance(exc, (PreconditionFailed, UsageError)):  # says so itself / nothing began
        return code, what
    return code, f"{what}; {_NOTHING_WRITTEN}"


def _what_failed(  # noqa: PLR0911  # a flat table: exception type -> exit code
    exc: BaseException, returncode: int | None, precondition: str
) -> tuple[int, str]:
    if isinstance(exc, Interrupted):
        code = exc.exit_code
        if returncode:  # the command died of it (or failed): report its status
            code = exit_status(returncode)
        return code, f"interrupted by {signal_name(exc.signum)}"
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT, "interrupted"
    if isinstance(exc, ProducerFailed):
        return exit_status(exc.returncode), str(exc)
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
