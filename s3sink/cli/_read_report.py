"""What the read commands (``s3sink cat``) tell their caller: the exit code and the error line
of a failed read, the summary line on stderr, and the ``--json`` record.

The record: ``ok``, ``exit``, ``reason`` (null, "read-failed", "changed", "integrity",
"usage", "interrupted", "output-closed", "command-failed"), ``message``, the object
(``bucket``, ``key``, ``uri``, ``version_id``, ``etag``, ``size``, ``parts``, ``ranges``),
how it was checked (``verified``, ``verified_by``, ``algorithm``, ``stored``, ``computed``),
``bytes_written`` (to the output), ``seconds``, ``mib_per_second``, ``output`` ("stdout",
"file", "command"), in exec mode ``command_status`` (the command's own status, as a
shell's ``$?``), and ``encryption`` ("age" when ``--identity`` decrypted the object, else
null).
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from typing import Any, Literal

from .._exec.producer import CommandError
from .._exec.signals import Interrupted
from .._results import ReadResult
from .._sizes import format_duration, format_size
from .._store.errors import SSE_C_HINTS
from ..errors import (
    DecompressError,
    IdentityError,
    IntegrityError,
    NotCompressedError,
    ObjectChangedError,
    ReadError,
    UsageError,
)
from ._report import (
    EXIT_FAILED,
    EXIT_INTEGRITY,
    EXIT_PRECONDITION,
    EXIT_USAGE,
    describe_cause,
    scrub,
)

__all__ = ["ReadOutcome", "describe_read_error", "read_failure", "summary_line", "write_record"]

Reason = Literal[
    "read-failed",
    "changed",
    "integrity",
    "usage",
    "interrupted",
    "output-closed",
    "command-failed",
]


@dataclass
class ReadOutcome:
    """One read command's outcome, for the summary and the record."""

    uri: str
    output: Literal["stdout", "file", "command"]
    code: int = 0
    reason: Reason | None = None
    message: str | None = None
    result: ReadResult | None = None
    head: Any = None  # ObjectHead when HeadObject answered
    bytes_written: int = 0
    seconds: float = 0.0
    command_status: int | None = None


def describe_read_error(exc: ReadError) -> str:
    """Say what went wrong in the user's terms (missing bucket, access, network...)."""
    if exc.__cause__ is None or isinstance(exc, (ObjectChangedError, IntegrityError)):
        return str(exc)
    described = describe_cause(exc.__cause__, exc.bucket, exc.key)
    if described is None:
        return str(exc)
    # A 403 reads as access denied; under SSE-C the key is the likelier culprit: keep the hint.
    hints = [hint for hint in SSE_C_HINTS.values() if hint in str(exc)]
    return "; ".join([described, *hints])


def read_failure(exc: BaseException) -> tuple[int, Reason, str]:  # noqa: PLR0911  # a table
    """The exit code, the reason and the message for a failed read."""
    if isinstance(exc, Interrupted):
        return exc.exit_code, "interrupted", f"interrupted by {signal.Signals(exc.signum).name}"
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT, "interrupted", "interrupted"
    if isinstance(exc, CommandError):
        return exc.exit_code, "command-failed", str(exc)
    if isinstance(exc, UsageError | IdentityError):
        return EXIT_USAGE, "usage", str(exc)
    if isinstance(exc, IntegrityError | DecompressError):
        return EXIT_INTEGRITY, "integrity", str(exc)
    if isinstance(exc, ObjectChangedError):
        return EXIT_PRECONDITION, "changed", str(exc)
    if isinstance(exc, NotCompressedError):  # --decompress of an object that is not
        return EXIT_FAILED, "read-failed", str(exc)
    if isinstance(exc, ReadError):
        return EXIT_FAILED, "read-failed", describe_read_error(exc)
    if isinstance(exc, OSError):
        return EXIT_FAILED, "read-failed", f"writing the output failed: {exc}"
    return EXIT_FAILED, "read-failed", f"unexpected error: {type(exc).__name__}: {exc}"


def summary_line(outcome: ReadOutcome) -> str:
    """``s3sink: read 12.0 MiB from s3://b/k in 0.4 s (30 MiB/s, 3 parts), verified by
    crc64nvme (checksum-full-object)``."""
    result = outcome.result
    if result is None:
        return ""
    rate = f"{format_size(int(result.size / result.seconds))}/s" if result.seconds > 0 else "-"
    plural = "part" if result.parts == 1 else "parts"
    if result.verified:
        check = f"verified by {result.algorithm} ({result.verified_by})"
    else:
        check = "NOT verified: nothing to check the bytes against"
    if result.encryption is not None:
        check += f", decrypted ({result.encryption}, authenticated)"
    return (
        f"s3sink: read {format_size(result.size)} from {outcome.uri} in "
        f"{format_duration(result.seconds)} ({rate}, {result.parts} {plural}), {check}\n"
    )


def record(outcome: ReadOutcome) -> dict[str, Any]:
    """The --json record (see the module docstring)."""
    result, head = outcome.result, outcome.head
    fields: dict[str, Any] = {
        "ok": outcome.code == 0,
        "exit": outcome.code,
        "reason": outcome.reason,
        "message": scrub(outcome.message) if outcome.message else None,
        "uri": outcome.uri,
        "bucket": None,
        "key": None,
        "version_id": getattr(head, "version_id", None),
        "etag": getattr(head, "etag", None),
        "size": getattr(head, "size", None),
        "parts": None,
        "ranges": None,
        "verified": False,
        "verified_by": None,
        "algorithm": None,
        "stored": None,
        "computed": None,
        "bytes_written": outcome.bytes_written,
        "seconds": round(outcome.seconds, 3),
        "mib_per_second": None,
        "output": outcome.output,
        "command_status": outcome.command_status,
        "encryption": None,
    }
    if result is not None:
        fields.update(
            bucket=result.bucket,
            key=result.key,
            parts=result.parts,
            ranges=result.ranges,
            verified=result.verified,
            verified_by=result.verified_by,
            algorithm=result.algorithm,
            stored=result.stored,
            computed=result.computed,
            mib_per_second=round(result.mib_per_second, 1),
            encryption=result.encryption,
        )
    return fields


def write_record(outcome: ReadOutcome, *, to_stderr: bool) -> None:
    """The --json record on stdout, or on stderr when stdout carries the object."""
    text = json.dumps(record(outcome)) + "\n"
    stream = sys.stderr if to_stderr else sys.stdout
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a closed result channel: the exit code says it all
        return
