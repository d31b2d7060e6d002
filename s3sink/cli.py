"""The ``s3sink`` command: stream stdin, a command's output or a named pipe into one S3 object.

::

    tar c DIR | s3sink s3://BUCKET/KEY                        # stdin to EOF
    s3sink s3://BUCKET/KEY -- pg_dump -Fc mydb                # exec mode: commit iff exit 0
    s3sink s3://BUCKET/KEY --fifo /tmp/db.fifo -- pg_dump -Fc --no-sync -f /tmp/db.fifo mydb
    s3sink uploads list|abort s3://BUCKET[/PREFIX]            # housekeeping

stdout carries only the result (``--json``); progress, the summary, warnings and errors go to
stderr. Exit codes (CONVENTIONS §5): 0 committed, 1 failed and aborted, 2 usage, 3 the abort
failed too (upload id printed), 4 precondition failed, 128+N after aborting on signal N, and in
exec mode the command's own status. This is the only module that imports typer; rich is
imported only for a live bar and botocore only when a client is built.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gc
import json
import logging
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, cast
from urllib.parse import quote, urlencode, urlsplit

import typer
import typer.core
from typer._click.core import Command as ClickCommand  # typer vendors click; no public alias
from typer._click.core import Context as ClickContext

from . import __version__
from .arguments import HEADER_UNSAFE_RE, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS
from .errors import (
    AbortFailedError,
    InvalidLocationError,
    PreconditionFailed,
    S3SinkError,
    UploadError,
    UsageError,
)
from .execmode import (
    Command,
    CommandError,
    Fifo,
    Interrupted,
    SignalGuard,
    exit_status,
    open_pipe_from,
    reader_for_fd,
    signal_name,
)
from .location import S3Location, parse_location
from .policy import DEFAULT_PART_SIZE, check_part_size
from .progress import PLAIN_INTERVAL, Display, choose_mode, make_display
from .sizes import format_duration, format_size, parse_duration, parse_size
from .transport import describe, error_code, http_status
from .writer import DEFAULT_CONCURRENCY, Readable, S3MultipartWriter, State

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from .transport import PendingUpload

__all__ = ["app", "main", "uploads_app"]

log = logging.getLogger("s3sink")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORT_FAILED = 3
EXIT_PRECONDITION = 4
STOP_GRACE = 5.0  # seconds a producer gets to exit after a signal or a failed upload
# botocore's own check of region names (it skips it for an empty one, which then breaks
# request signing with an obscure error).
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", re.ASCII)

Checksum = Literal["crc64nvme", "crc32c", "crc32", "sha256", "off"]
Sse = Literal["AES256", "aws:kms", "aws:kms:dsse"]
CannedAcl = Literal[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
]
_NOTHING_WRITTEN = "the upload was aborted and nothing was written"


# -- one-line errors for both apps ----------------------------------------------------------
def _error_line(message: str) -> None:
    sys.stderr.write(f"s3sink: error: {_scrub(message)}\n")
    sys.stderr.flush()


def _scrub(text: str) -> str:
    """Hide the user:password part of URLs (an endpoint URL may carry credentials)."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


def _main_one_line_errors(call: Callable[[], Any], *, standalone: bool, help_hint: str) -> Any:
    """Run a click main in non-standalone mode; print usage errors as one line."""
    try:
        result = call()
    except typer.TyperException as exc:  # click's UsageError and friends
        _error_line(f"{exc.format_message()} (see '{help_hint} --help')")
        result = exc.exit_code
    code = result if isinstance(result, int) else EXIT_OK
    if standalone:
        sys.exit(code)
    return code


class _OneLineErrors(ClickCommand):
    """Runs click's main in non-standalone mode so usage errors print as one line."""

    help_hint = "s3sink"

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # The concrete main comes from the typer class after this mixin in the MRO; mypy
        # sees only click's stub of Command.main here, hence the Any.
        parent: Any = super()
        return _main_one_line_errors(
            lambda: parent.main(args, prog_name, complete_var, False, windows_expand_args, **extra),
            standalone=standalone_mode,
            help_hint=self.help_hint,
        )


class SinkCommand(_OneLineErrors, typer.core.TyperCommand):
    """The sink command: everything after the first ``--`` is the exec-mode command,
    kept away from option parsing (``-- tar -czf - DIR`` must not meet ``-c``)."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["s3sink.command"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: ClickContext) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- COMMAND [ARG...]]"]


class UploadsGroup(_OneLineErrors, typer.core.TyperGroup):
    """``s3sink uploads``: the same one-line errors as the sink command."""

    help_hint = "s3sink uploads"


_SINK_EPILOG = (
    "\b\n"
    "Exit codes: 0 committed, 1 failed (upload aborted), 2 usage error,\n"
    "3 the abort failed too (the upload id is printed), 4 precondition failed,\n"
    "130/143/129 aborted on SIGINT/SIGTERM/SIGHUP; in exec mode a failed\n"
    "command's own status (127: command not found).\n"
    "\b\n"
    "AWS settings stay botocore's: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,\n"
    "credentials. Housekeeping: s3sink uploads list|abort s3://BUCKET[/PREFIX]."
)

app = typer.Typer(
    name="s3sink",
    add_completion=False,
    rich_markup_mode=None,  # plain click help: no rich import just to print --help
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
uploads_app = typer.Typer(
    name="uploads",
    cls=UploadsGroup,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    help="Find and abort unfinished multipart uploads (they cost storage until aborted).",
)


# -- option parsers ---------------------------------------------------------------------------
def _size(text: str) -> int:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"s3sink {__version__}\n")
        raise typer.Exit(EXIT_OK)


EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="S3SINK_ENDPOINT_URL",
        metavar="URL",
        help="S3 endpoint, for S3-compatible stores [default: botocore's, e.g. AWS_ENDPOINT_URL].",
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_REGION",
        metavar="REGION",
        help="AWS region [default: botocore's, AWS_REGION].",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        envvar="S3SINK_PROFILE",
        metavar="NAME",
        help="AWS profile [default: botocore's, AWS_PROFILE].",
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug", envvar="S3SINK_DEBUG", help="Debug logging; tracebacks on errors (no locals)."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", envvar="S3SINK_JSON", help="Print the result as JSON on stdout.")
]


# -- the sink command -------------------------------------------------------------------------
@dataclass(frozen=True)
class SinkOptions:
    """Everything the sink command was given, parsed but not yet validated together."""

    uri: str
    command: tuple[str, ...] = ()
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    part_size: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_memory: int | None = None
    expected_size: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    storage_class: str | None = None
    acl: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    metadata: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    no_overwrite: bool = False
    checksum: str = "crc64nvme"
    fixed_part_size: bool = False
    if_match: str | None = None
    max_attempts: int | None = None
    sign_payload: bool = False
    fifo: str | None = None
    json_output: bool = False
    quiet: bool = False
    progress: bool | None = None
    progress_interval: float = PLAIN_INTERVAL
    debug: bool = False


@app.command(cls=SinkCommand, epilog=_SINK_EPILOG, no_args_is_help=False)
def sink(  # noqa: PLR0917  # typer maps each parameter to one documented option
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(metavar="s3://BUCKET/KEY", show_default=False, help="Where to write."),
    ],
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    part_size: Annotated[
        int | None,
        typer.Option(
            parser=_size,
            metavar="SIZE",
            envvar="S3SINK_PART_SIZE",
            help=f"First part size, 5MiB..5GiB; parts grow on long streams "
            f"[default: {format_size(DEFAULT_PART_SIZE)}].",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-j",
            min=1,
            metavar="N",
            envvar="S3SINK_CONCURRENCY",
            help="Parts uploaded in parallel.",
        ),
    ] = DEFAULT_CONCURRENCY,
    max_memory: Annotated[
        int | None,
        typer.Option(
            parser=_size,
            metavar="SIZE",
            envvar="S3SINK_MAX_MEMORY",
            help="Cap on part buffers alive at once [default: 1GiB].",
        ),
    ] = None,
    expected_size: Annotated[
        int | None,
        typer.Option(
            parser=_size,
            metavar="SIZE",
            envvar="S3SINK_EXPECTED_SIZE",
            help="Rough stream size, to pick the part size (an estimate is fine).",
        ),
    ] = None,
    content_type: Annotated[
        str | None, typer.Option(envvar="S3SINK_CONTENT_TYPE", metavar="TYPE", help="Content-Type.")
    ] = None,
    content_encoding: Annotated[
        str | None,
        typer.Option(
            envvar="S3SINK_CONTENT_ENCODING", metavar="ENCODING", help="Content-Encoding."
        ),
    ] = None,
    storage_class: Annotated[
        str | None,
        typer.Option(
            envvar="S3SINK_STORAGE_CLASS", metavar="CLASS", help="e.g. STANDARD_IA, GLACIER_IR."
        ),
    ] = None,
    acl: Annotated[
        CannedAcl | None,
        typer.Option(
            envvar="S3SINK_ACL",
            metavar="ACL",
            help="Canned ACL: private, public-read, bucket-owner-full-control, ...",
        ),
    ] = None,
    sse: Annotated[
        Sse | None, typer.Option(envvar="S3SINK_SSE", help="Server-side encryption.")
    ] = None,
    sse_kms_key_id: Annotated[
        str | None,
        typer.Option(
            envvar="S3SINK_SSE_KMS_KEY_ID", metavar="KEY", help="KMS key (implies --sse aws:kms)."
        ),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE", envvar="S3SINK_METADATA", help="User metadata (repeatable)."
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", envvar="S3SINK_TAG", help="Object tag (repeatable)."),
    ] = None,
    no_overwrite: Annotated[
        bool,
        typer.Option(
            "--no-overwrite",
            envvar="S3SINK_NO_OVERWRITE",
            help="Fail (exit 4) instead of replacing an existing object (If-None-Match: *).",
        ),
    ] = False,
    checksum: Annotated[
        Checksum,
        typer.Option(
            envvar="S3SINK_CHECKSUM",
            case_sensitive=False,
            help="Full-object checksum the store verifies.",
        ),
    ] = "crc64nvme",
    fixed_part_size: Annotated[
        bool,
        typer.Option(
            "--fixed-part-size",
            envvar="S3SINK_FIXED_PART_SIZE",
            help="Never grow parts (stores that need equal parts); fails at 10,000 parts.",
        ),
    ] = False,
    if_match: Annotated[
        str | None,
        typer.Option(
            metavar="ETAG",
            envvar="S3SINK_IF_MATCH",
            help="Replace the object only if its ETag still matches (else exit 4).",
        ),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            envvar="S3SINK_MAX_ATTEMPTS",
            show_default=False,
            help="Tries per request, the first included [default: AWS_MAX_ATTEMPTS, else 10].",
        ),
    ] = None,
    sign_payload: Annotated[
        bool,
        typer.Option(
            "--sign-payload",
            envvar="S3SINK_SIGN_PAYLOAD",
            help="SHA-256 every byte for the request signatures (tamper-evidence on plain "
            "HTTP); by default the parts' checksums guard the bytes.",
        ),
    ] = False,
    fifo: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            envvar="S3SINK_FIFO",
            help="Create a named pipe (0600) at PATH, upload what is written into it, "
            "remove it afterwards. With exec mode, the command's stdout goes to stderr.",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", envvar="S3SINK_QUIET", help="No progress, no summary."),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            envvar="S3SINK_PROGRESS",
            show_default=False,
            help="Progress on stderr [default: a bar when stderr is a terminal].",
        ),
    ] = None,
    progress_interval: Annotated[
        float,
        typer.Option(envvar="S3SINK_PROGRESS_INTERVAL", hidden=True, min=0.01),
    ] = PLAIN_INTERVAL,
    debug: DebugOption = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Stream stdin (or COMMAND's stdout, or a named pipe) into s3://BUCKET/KEY.

    The object appears only when the whole stream arrived: on any failure, signal or a
    failed COMMAND the multipart upload is aborted and nothing is written.
    """
    command = ctx.meta.get("s3sink.command")
    if command == []:
        _error_line("nothing after '--': give the COMMAND to run (see 's3sink --help')")
        raise typer.Exit(EXIT_USAGE)
    options = SinkOptions(
        uri=uri,
        command=tuple(command or ()),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        part_size=part_size,
        concurrency=concurrency,
        max_memory=max_memory,
        expected_size=expected_size,
        content_type=content_type,
        content_encoding=content_encoding,
        storage_class=storage_class,
        acl=acl,
        sse=sse,
        sse_kms_key_id=sse_kms_key_id,
        metadata=tuple(metadata or ()),
        tags=tuple(tag or ()),
        no_overwrite=no_overwrite,
        checksum=checksum,
        fixed_part_size=fixed_part_size,
        if_match=if_match,
        max_attempts=max_attempts,
        sign_payload=sign_payload,
        fifo=fifo,
        json_output=json_output,
        quiet=quiet,
        progress=progress,
        progress_interval=progress_interval,
        debug=debug,
    )
    raise typer.Exit(run_sink(options))


# -- validation -------------------------------------------------------------------------------
def _pairs(values: Sequence[str], what: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as pairs; a missing ``=``, an empty or a repeated key is refused.

    Metadata names and values are checked by the writer (HTTP header rules).
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        if key in seen:
            raise UsageError(f"{what} key {key!r} given twice")
        seen.add(key)
        pairs.append((key, value))
    return pairs


def _tags(values: Sequence[str]) -> list[tuple[str, str]]:
    """``--tag`` pairs within S3's limits; the store would refuse them only after the stream."""
    pairs = _pairs(values, "--tag")
    if len(pairs) > MAX_TAGS:
        raise UsageError(f"{len(pairs)} --tag options given; S3 allows at most {MAX_TAGS} tags")
    for key, value in pairs:
        if len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise UsageError(
                f"invalid --tag {f'{key}={value}'!r}: S3 allows keys of at most {MAX_TAG_KEY} "
                f"characters and values of at most {MAX_TAG_VALUE}"
            )
    return pairs


def extra_args(opts: SinkOptions) -> dict[str, Any]:
    """The writer's ``extra_args`` (S3 request parameters) for the options given."""
    extra: dict[str, Any] = {}
    simple = {
        "ContentType": opts.content_type,
        "ContentEncoding": opts.content_encoding,
        "StorageClass": opts.storage_class,
        "ACL": opts.acl,
    }
    extra.update({name: value for name, value in simple.items() if value is not None})
    sse = opts.sse
    if opts.sse_kms_key_id is not None:
        if sse == "AES256":
            raise UsageError("--sse-kms-key-id needs --sse aws:kms or aws:kms:dsse, not AES256")
        sse = sse or "aws:kms"
        extra["SSEKMSKeyId"] = opts.sse_kms_key_id
    if sse is not None:
        extra["ServerSideEncryption"] = sse
    if opts.metadata:
        extra["Metadata"] = dict(_pairs(opts.metadata, "--metadata"))
    if opts.tags:
        # S3 takes tags as a URL query string; %20 (not '+') for spaces is the safe encoding.
        extra["Tagging"] = urlencode(_tags(opts.tags), quote_via=quote, safe="")
    return extra


def writer_options(opts: SinkOptions) -> dict[str, Any]:
    """Keyword arguments for S3MultipartWriter (no client); raises UsageError."""
    part_size = opts.part_size if opts.part_size is not None else DEFAULT_PART_SIZE
    check_part_size(part_size)
    if opts.max_memory is not None and opts.max_memory < part_size:
        raise UsageError(
            f"--max-memory {format_size(opts.max_memory)} cannot hold one part of "
            f"{format_size(part_size)} (--part-size); raise --max-memory or lower --part-size"
        )
    return {
        "part_size": part_size,
        "concurrency": opts.concurrency,
        "max_memory": opts.max_memory,
        "expected_size": opts.expected_size,
        "extra_args": extra_args(opts),
        "checksum": opts.checksum,
        "fixed_part_size": opts.fixed_part_size,
        "if_none_match": "*" if opts.no_overwrite else None,
        "if_match": opts.if_match,
    }


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


def _check_target(location: S3Location) -> None:
    """The sink writes one object: a key ending in '/' names a folder, not a file."""
    if location.key.endswith("/"):
        raise InvalidLocationError(
            f"invalid S3 location {location.uri!r}: the key ends with '/', which S3 tools show "
            f"as a folder; name the object, e.g. {location.uri}NAME"
        )


def _check_connection_options(
    *, endpoint_url: str | None, region: str | None, profile: str | None
) -> None:
    """Refuse what botocore would accept here and fail on later, in a request (an empty
    region breaks request signing; an ftp:// endpoint fails endpoint resolution)."""
    if endpoint_url is not None:
        parts = urlsplit(endpoint_url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # a port that is not a number or out of range
            port_ok = False
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
            raise UsageError(
                f"invalid --endpoint-url {endpoint_url!r}: expected http(s)://HOST[:PORT], "
                "e.g. https://s3.eu-west-1.amazonaws.com"
            )
    if region is not None and _REGION_RE.fullmatch(region) is None:
        raise UsageError(
            f"invalid --region {region!r}: expected a region name such as us-east-1 "
            "(letters, digits and '-')"
        )
    if profile is not None and not profile.strip():
        raise UsageError("--profile is empty; give a profile name or leave it out")


def _check_values(opts: SinkOptions) -> None:
    """Options that name something cannot be empty: S3 would reject or ignore them later."""
    named = {
        "--content-type": opts.content_type,
        "--content-encoding": opts.content_encoding,
        "--storage-class": opts.storage_class,
        "--sse-kms-key-id": opts.sse_kms_key_id,
        "--if-match": opts.if_match,
    }
    for option, value in named.items():
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty; give a value or leave the option out")
        if value is not None and HEADER_UNSAFE_RE.search(value):
            # The writer refuses them too, but in terms of its extra_args.
            raise UsageError(
                f"invalid {option} {value!r}: a control character or an undecodable byte "
                "cannot travel in an HTTP header"
            )


# -- client -----------------------------------------------------------------------------------
def make_client(
    *,
    concurrency: int,
    checksum: bool,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    max_attempts: int | None = None,
    sign_payload: bool = False,
) -> BaseClient:
    """Build the S3 client; configuration errors become UsageError (exit 2)."""
    from .transport import build_client  # noqa: PLC0415  # imports botocore: slow, so only now

    try:
        return build_client(
            concurrency=concurrency,
            checksum=checksum,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            max_attempts=max_attempts,
            # Only ever forced on: without it, built clients decide (and the config file).
            sign_payload=True if sign_payload else None,
        )
    except Exception as exc:
        from botocore.exceptions import BotoCoreError  # noqa: PLC0415

        if isinstance(exc, (BotoCoreError, ValueError)):  # ProfileNotFound, bad endpoint URL
            raise UsageError(f"cannot set up the S3 client: {exc}") from exc
        raise


# -- logging and failures ---------------------------------------------------------------------
class _StderrHandler(logging.Handler):
    """Writes ``s3sink: warning: ...`` to whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"s3sink: {record.levelname.lower()}: {self.format(record)}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001  # logging must never break the upload
            self.handleError(record)


@contextlib.contextmanager
def _logging(debug: bool) -> Iterator[None]:
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


def _report(exc: BaseException, message: str, *, debug: bool) -> None:
    if debug:
        # The standard traceback never shows local variables (credentials live there).
        traceback.print_exception(exc, file=sys.stderr)
    _error_line(message)


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


class ProducerFailed(Exception):
    """The exec-mode command exited non-zero (or was killed): never commit its output."""

    def __init__(self, command: Command, returncode: int) -> None:
        super().__init__(command.describe(returncode))
        self.returncode = returncode


# -- one run of the sink ----------------------------------------------------------------------
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
            if self.fifo is not None and self.writer.bytes_written == 0:
                log.warning("%s never wrote to %s", self.command.argv[0], self.fifo.path)
        self.writer.close()

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
        result = self.writer.result
        seconds = time.monotonic() - self.started
        if self.opts.json_output:
            record = {
                "bucket": result.bucket,
                "key": result.key,
                "uri": self.location.uri,
                "etag": result.etag,
                "version_id": result.version_id,
                "size": result.size,
                "parts": result.parts,
                "seconds": round(seconds, 3),
                "upload_id": result.upload_id,
                "checksum_algorithm": result.checksum_algorithm,
                "checksum": result.checksum,
                "checksum_type": result.checksum_type,
            }
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        if not self.opts.quiet:
            rate = format_size(int(result.size / seconds)) if seconds > 0 else "-"
            check = f", {result.checksum_algorithm} {result.checksum}" if result.checksum else ""
            plural = "part" if result.parts == 1 else "parts"
            sys.stderr.write(
                f"s3sink: uploaded {format_size(result.size)} to {self.location.uri} in "
                f"{format_duration(seconds)} ({rate}/s, {result.parts} {plural}{check})\n"
            )
        return EXIT_OK

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
        returncode = command.stop(STOP_GRACE) if command is not None else None
        code, message = self._classify(exc, abort_error, returncode)
        _report(exc, message, debug=self.opts.debug)
        return code

    def _classify(
        self, exc: BaseException, abort_error: AbortFailedError | None, returncode: int | None
    ) -> tuple[int, str]:
        orphan = abort_error or (exc if isinstance(exc, AbortFailedError) else None)
        if orphan is not None:
            # close() raises the AbortFailedError itself, the first error as its context.
            first = exc.__context__ if exc is orphan else exc
            what = f"{self._what_failed(first, returncode)[1]}, and then " if first else ""
            return EXIT_ABORT_FAILED, f"{what}{orphan}"
        code, what = self._what_failed(exc, returncode)
        if isinstance(exc, (PreconditionFailed, UsageError)):  # says so itself / nothing began
            return code, what
        return code, f"{what}; {_NOTHING_WRITTEN}"

    def _what_failed(  # noqa: PLR0911  # a flat table: exception type -> exit code
        self, exc: BaseException, returncode: int | None
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
            return EXIT_PRECONDITION, self._precondition_message()
        if isinstance(exc, UsageError):
            return EXIT_USAGE, str(exc)
        if isinstance(exc, UploadError):
            return EXIT_FAILED, describe_upload_error(exc)
        if isinstance(exc, OSError):
            return EXIT_FAILED, f"reading the input failed: {exc}"
        return EXIT_FAILED, f"unexpected error: {type(exc).__name__}: {exc}"

    def _precondition_message(self) -> str:
        uri = self.location.uri
        if self.opts.if_match is not None:
            return (
                f"{uri} no longer has ETag {self.opts.if_match} (--if-match); nothing was written"
            )
        return f"{uri} already exists (--no-overwrite); nothing was written"


def run_sink(opts: SinkOptions) -> int:
    """Validate, build the client and the writer, stream; returns the exit code."""
    with _logging(opts.debug):
        try:
            location = parse_location(opts.uri)
            _check_target(location)
            _check_connection_options(
                endpoint_url=opts.endpoint_url, region=opts.region, profile=opts.profile
            )
            _check_values(opts)
            options = writer_options(opts)
            _check_input(opts)
            client = make_client(
                concurrency=opts.concurrency,
                checksum=opts.checksum != "off",
                endpoint_url=opts.endpoint_url,
                region=opts.region,
                profile=opts.profile,
                max_attempts=opts.max_attempts,
                sign_payload=opts.sign_payload,
            )
            writer = S3MultipartWriter(location.bucket, location.key, client=client, **options)
        except UsageError as exc:
            _report(exc, str(exc), debug=opts.debug)
            return EXIT_USAGE
        finally:
            _start_up_done()
        try:
            return SinkRun(opts, location, writer).run()
        finally:
            # A no-op once committed or aborted; it only matters if the run itself broke.
            with contextlib.suppress(AbortFailedError):
                writer.abort()


# -- housekeeping: s3sink uploads list|abort --------------------------------------------------
PrefixArgument = Annotated[
    str,
    typer.Argument(
        metavar="s3://BUCKET[/PREFIX]", show_default=False, help="Bucket and optional key prefix."
    ),
]


def _housekeeping(
    uri: str,
    work: Callable[[S3Location, BaseClient], int],
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    debug: bool,
) -> NoReturn:
    """Shared setup and error handling of the uploads subcommands."""
    with _logging(debug):
        try:
            location = parse_location(uri, allow_empty_key=True)
            _check_connection_options(endpoint_url=endpoint_url, region=region, profile=profile)
            client = make_client(
                concurrency=1,
                checksum=True,
                endpoint_url=endpoint_url,
                region=region,
                profile=profile,
            )
            code = work(location, client)
        except UsageError as exc:
            _report(exc, str(exc), debug=debug)
            code = EXIT_USAGE
        except UploadError as exc:
            _report(exc, describe_upload_error(exc), debug=debug)
            code = EXIT_FAILED
        except S3SinkError as exc:
            _report(exc, str(exc), debug=debug)
            code = EXIT_FAILED
    raise typer.Exit(code)


def _age(upload: PendingUpload, now: dt.datetime) -> float:
    return max(0.0, (now - upload.initiated).total_seconds())  # clamp clock skew


def _initiated(upload: PendingUpload) -> str:
    return upload.initiated.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pending(location: S3Location, client: BaseClient) -> list[PendingUpload]:
    from .transport import BotoTransport  # noqa: PLC0415  # the transport wants botocore

    # Listed completely before anything is aborted: aborting shifts the paging markers.
    return list(BotoTransport(client).list_uploads(location.bucket, location.key))


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def list_pending(location: S3Location, client: BaseClient, *, as_json: bool) -> int:
    """Print the unfinished uploads under ``location`` (a table, or a JSON array)."""
    uploads = _pending(location, client)
    now = dt.datetime.now(dt.timezone.utc)
    if as_json:
        records = [
            {
                "bucket": location.bucket,
                "key": u.key,
                "uri": f"s3://{location.bucket}/{u.key}",
                "upload_id": u.upload_id,
                "initiated": _initiated(u),
                "age_seconds": round(_age(u, now), 3),
            }
            for u in uploads
        ]
        sys.stdout.write(json.dumps(records) + "\n")
        return EXIT_OK
    if not uploads:
        sys.stderr.write(f"s3sink: no unfinished uploads under {location.uri}\n")
        return EXIT_OK
    rows = [["KEY", "UPLOAD ID", "INITIATED", "AGE"]]
    rows += [[u.key, u.upload_id, _initiated(u), format_duration(_age(u, now))] for u in uploads]
    sys.stdout.write("".join(line + "\n" for line in format_table(rows)))
    return EXIT_OK


def abort_pending(
    location: S3Location,
    client: BaseClient,
    *,
    older_than: float | None,
    upload_id: str | None,
    dry_run: bool,
) -> int:
    """Abort the selected unfinished uploads; prints each; 1 if any abort failed."""
    from .transport import BotoTransport  # noqa: PLC0415

    if upload_id is not None and not upload_id.strip():
        raise UsageError("--upload-id is empty; give the id that 's3sink uploads list' shows")
    transport = BotoTransport(client)
    now = dt.datetime.now(dt.timezone.utc)
    selected = [
        u
        for u in _pending(location, client)
        if (upload_id is None or u.upload_id == upload_id)
        and (older_than is None or _age(u, now) >= older_than)
    ]
    failed = 0
    verb = "would abort" if dry_run else "aborted"
    for upload in selected:
        line = (
            f"{verb} s3://{location.bucket}/{upload.key} upload {upload.upload_id} "
            f"(initiated {_initiated(upload)}, age {format_duration(_age(upload, now))})"
        )
        if not dry_run:
            try:
                transport.abort_multipart_upload(location.bucket, upload.key, upload.upload_id)
            except UploadError as exc:
                _error_line(describe_upload_error(exc))
                failed += 1
                continue
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if not selected:
        which = f"upload {upload_id}" if upload_id else "unfinished uploads"
        sys.stderr.write(f"s3sink: no {which} to abort under {location.uri}\n")
    return EXIT_FAILED if failed else EXIT_OK


@uploads_app.command("list")
def uploads_list(  # noqa: PLR0917  # typer maps parameters to options
    uri: PrefixArgument,
    json_output: JsonOption = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """List unfinished multipart uploads: key, upload id, initiated, age."""
    _housekeeping(
        uri,
        lambda location, client: list_pending(location, client, as_json=json_output),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
    )


@uploads_app.command("abort")
def uploads_abort(  # noqa: PLR0917  # typer maps parameters to options
    uri: PrefixArgument,
    older_than: Annotated[
        float | None,
        typer.Option(
            parser=_duration,
            metavar="DURATION",
            help="Only uploads at least this old (90s, 12h, 7d). Without it, uploads still "
            "being written are aborted too.",
        ),
    ] = None,
    upload_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Only the upload with this id.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be aborted; abort nothing.")
    ] = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Abort unfinished multipart uploads under a prefix (prints each one)."""
    _housekeeping(
        uri,
        lambda location, client: abort_pending(
            location, client, older_than=older_than, upload_id=upload_id, dry_run=dry_run
        ),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
    )


def _start_up_done() -> None:
    """Freeze what start-up built and let the collector run again (see main)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point (also ``python -m s3sink``).

    A positional URI and subcommands clash in click, so ``uploads`` is dispatched here.
    """
    # Start-up allocates a few hundred thousand objects that live as long as the process
    # (botocore, its S3 model, the client): the cyclic collector would scan them again and
    # again for nothing, about 60 ms of CPU. It stays off until the client is built, and
    # what exists then is frozen out of later collections.
    gc.disable()
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        if args[:1] == ["uploads"]:
            uploads_app(args=args[1:], prog_name="s3sink uploads")
        else:
            app(args=args, prog_name="s3sink")
    finally:
        gc.enable()
