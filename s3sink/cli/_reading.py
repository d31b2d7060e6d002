"""What ``s3sink verify`` and ``s3sink get`` share (besides the read options of ``_options``,
which ``cat`` uses too): ``-q``, the read options split between objects read at once, the
client and transport, ``--identity`` files read (cat's too), a read's result as a line and
as JSON, and errors as exit codes (1 failed, 2 usage, 4 changed while read, 5 the bytes do
not match what the store recorded)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._sizes import format_size
from .._writer.checks import check_connection_options
from ..errors import ReadError, S3SinkError, UsageError
from ._read_report import describe_read_error, read_failure
from ._report import EXIT_FAILED, EXIT_INTEGRITY, EXIT_OK, scrub

if TYPE_CHECKING:
    from .._crypt import Identity
    from .._read.config import ReadConfig
    from .._results import ReadResult
    from .._store.boto import BotoTransport

__all__ = [
    "EXIT_CORRUPT",
    "ReadOptions",
    "describe_check",
    "exit_code_of",
    "load_identities",
    "message_of",
    "nothing_below",
    "one_version_only",
    "read_transport",
    "result_record",
    "sse_c_extra",
]

EXIT_CORRUPT = EXIT_INTEGRITY  # the object's bytes do not match what the store recorded

# Not _options.QuietOption (cat's: no summary): here -q leaves out the lines of the objects
# that checked out, never a failure or the summary.
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", envvar="S3SINK_QUIET", help="Only failures and the summary."),
]


@dataclass(frozen=True)
class ReadOptions:
    """The read options as given: a :class:`ReadConfig` for each of ``readers`` objects read
    at once, splitting the concurrency and the memory between them."""

    part_size: int | None
    concurrency: int
    max_memory: int | None
    require_checksum: bool
    version_id: str | None = None
    max_attempts: int | None = None  # tries per request and per broken range (None: botocore's)
    identities: tuple[Identity, ...] = ()  # --identity: age objects decrypted (verify, get)
    extra: dict[str, Any] = field(default_factory=dict)  # with every request (SSE-C)

    def config(self, *, readers: int = 1, if_match: str | None = None) -> ReadConfig:
        """The config of one of ``readers`` objects read at once (UsageError if the memory
        cannot hold a range for each)."""
        from .._read.config import DEFAULT_READ_PART_SIZE, ReadConfig  # noqa: PLC0415

        part_size = self.part_size or DEFAULT_READ_PART_SIZE
        memory = None if self.max_memory is None else self.max_memory // readers
        if memory is not None and memory < part_size:
            raise UsageError(
                f"--max-memory {format_size(self.max_memory or 0)} cannot hold a range of "
                f"{format_size(part_size)} for each of {readers} objects read at once; raise "
                "it, or lower --part-size or --concurrency"
            )
        return ReadConfig(
            part_size=part_size,
            concurrency=max(1, self.concurrency // readers),
            max_memory=memory,
            version_id=self.version_id,
            if_match=if_match,
            require_checksum=self.require_checksum,
            max_attempts=self.max_attempts,
            extra=self.extra,
        )


def read_transport(
    *,
    concurrency: int,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    max_attempts: int | None = None,
) -> BotoTransport:
    """The store, with a connection for every GET in flight."""
    check_connection_options(endpoint_url=endpoint_url, region=region, profile=profile)
    from .._store.boto import BotoTransport  # noqa: PLC0415  # botocore: a slow import
    from .._store.client import build_client  # noqa: PLC0415

    client = build_client(
        concurrency=concurrency,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        max_attempts=max_attempts,
    )
    return BotoTransport(client)


def sse_c_extra(key_file: str | None) -> dict[str, Any]:
    """The SSE-C parameters of ``--sse-c-key-file`` (none without it); UsageError for a file
    that holds no key (its content never shown)."""
    if key_file is None:
        return {}
    from .._store.ssec import read_key_file, sse_c_args  # noqa: PLC0415  # only when given

    return sse_c_args(read_key_file(key_file))


def one_version_only(version_id: str | None, many: str) -> None:
    """UsageError for --version-id where ``many`` objects are read."""
    if version_id is not None:
        raise UsageError(f"--version-id names one object's version: not with {many}")


def nothing_below(uri: str) -> ReadError:
    """The error for a prefix with no object below it: an empty or missing backup is a
    failure until proven otherwise (a typo in the prefix, a backup that never ran)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return ReadError(
        "no object below this prefix: nothing to read (is the prefix right? a prefix ends "
        "with '/')",
        bucket=bucket,
        key=prefix,
    )


def describe_check(result: ReadResult) -> str:
    """How the bytes were checked, in words: "CRC64NVME of the whole object"."""
    algorithm = (result.algorithm or "").upper()
    if result.verified_by == "checksum-full-object":
        return f"{algorithm} of the whole object"
    if result.verified_by == "checksum-composite":
        return f"{algorithm} of each of its {result.parts} parts"
    if result.verified_by == "etag-md5":
        what = "its MD5" if result.parts <= 1 else f"the MD5s of its {result.parts} parts"
        return f"the ETag ({what})"
    return "NOT verified: nothing stored to check its bytes against"


def result_record(result: ReadResult) -> dict[str, Any]:
    """A read's result as ``--json`` shows it (``cat --json``'s fields)."""
    record = asdict(result)
    record["uri"] = f"s3://{result.bucket}/{result.key}"
    record["seconds"] = round(result.seconds, 3)
    record["mib_per_second"] = round(result.mib_per_second, 1)
    return record


def exit_code_of(exc: BaseException) -> int:
    """The exit code for an error that ended one object's read (``cat``'s table); anything
    that is no failure of a read (a bug) propagates."""
    if not isinstance(exc, S3SinkError | OSError):
        raise exc
    return read_failure(exc)[0]


def message_of(exc: BaseException) -> str:
    """An error in the user's terms (a missing bucket, access, the network: as cat says it)."""
    return describe_read_error(exc) if isinstance(exc, ReadError) else str(exc)


def worst(codes: list[int]) -> int:
    """One exit code for many objects: 5 if any did not match, else 1 if any failed or was
    refused (4 for one changed while read, too), else 0."""
    if EXIT_CORRUPT in codes:
        return EXIT_CORRUPT
    return EXIT_FAILED if any(code != EXIT_OK for code in codes) else EXIT_OK


def say(line: str, *, stream: Callable[[str], object] | None = None) -> None:
    """One line to stderr (or ``stream``), credentials scrubbed."""
    write = stream or sys.stderr.write
    write(scrub(line) + "\n")


def load_identities(paths: Sequence[str] | None) -> tuple[Identity, ...]:
    """The identities of ``--identity`` PATHs (IdentityError if a file is unusable: exit 2,
    before anything is read)."""
    if not paths:
        return ()
    from .._crypt import read_identities  # noqa: PLC0415  # cryptography: only when decrypting

    return tuple(identity for path in paths for identity in read_identities(path))
