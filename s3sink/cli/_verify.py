"""``s3sink verify s3://BUCKET/KEY`` reads an object and checks it against what the store
recorded at upload, writing nothing; ``verify s3://BUCKET/PREFIX/ --recursive`` checks every
object below, a line each and a summary: the "prove my backups are readable" command for cron.

Lines and the summary go to stdout (they are the result; ``--json``: one JSON object
instead); errors to stderr. Exit 0 when every object checked out (or had nothing to check
against, which is said, unless ``--require-checksum``), 5 when any did not match, 1 when any
could not be read (4 for a single object replaced while it was read), 2 for a usage error,
130/143 when interrupted.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._exec.signals import Interrupted, SignalGuard
from .._location import S3Location, parse_location
from .._sizes import format_size
from ..errors import IdentityError, IntegrityError, S3SinkError, UsageError
from ._app import _OneLineErrors
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    IdentityOption,
    JsonOption,
    MaxAttemptsOption,
    ProfileOption,
    ReadConcurrencyOption,
    ReadMaxMemoryOption,
    ReadPartSizeOption,
    RegionOption,
    RequireChecksumOption,
    SseCKeyFileOption,
    VersionIdOption,
)
from ._reading import (
    EXIT_CORRUPT,
    QuietOption,
    ReadOptions,
    describe_check,
    exit_code_of,
    load_identities,
    message_of,
    nothing_below,
    one_version_only,
    read_transport,
    result_record,
    say,
    sse_c_extra,
    worst,
)
from ._report import EXIT_OK, EXIT_USAGE, command_logging, error_line, report_failure

if TYPE_CHECKING:
    from .._results import ReadResult
    from .._store.boto import BotoTransport
    from .._store.listing import ListedObject

__all__ = ["verify_app"]

FILES_AT_ONCE = 4  # objects read at once by --recursive (each with its share of -j and memory)


class VerifyCommand(_OneLineErrors, typer.core.TyperCommand):
    """``s3sink verify``: the same one-line usage errors as the other commands."""

    help_hint = "s3sink verify"


verify_app = typer.Typer(
    name="verify",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)


def _status(result: ReadResult | None, error: BaseException | None) -> str:
    if error is not None:
        return "corrupt" if exit_code_of(error) == EXIT_CORRUPT else "failed"
    assert result is not None  # noqa: S101  # one or the other
    return "ok" if result.verified else "unchecked"


def _line(uri: str, result: ReadResult | None, error: BaseException | None) -> str:
    status = _status(result, error)
    if error is not None:
        return f"{status.upper():9} {uri}: {error}"
    assert result is not None  # noqa: S101
    detail = f"{format_size(result.size)}, {describe_check(result)}"
    if result.encryption is not None:
        detail += f"; decrypted ({result.encryption}, authenticated)"
    return f"{status:9} {uri} ({detail})"


def _record(uri: str, result: ReadResult | None, error: BaseException | None) -> dict[str, Any]:
    record: dict[str, Any] = {"uri": uri, "status": _status(result, error)}
    if result is not None:
        record.update(result_record(result))
    if error is not None:
        record["error"] = str(error)
        if isinstance(error, IntegrityError):
            record.update(verified=False, verified_by=error.verified_by,
                          algorithm=error.algorithm, stored=error.stored,
                          computed=error.computed)  # fmt: skip
    return record


def _one(transport: BotoTransport, location: S3Location, options: ReadOptions, *,
         as_json: bool) -> int:  # fmt: skip
    from .._read.restore import verify_object  # noqa: PLC0415

    uri = location.uri
    try:
        result, error = verify_object(transport, location.bucket, location.key,
                                      options.config(),
                                      identities=options.identities), None  # fmt: skip
    except (S3SinkError, OSError) as exc:
        result, error = None, exc
    if as_json:
        sys.stdout.write(json.dumps(_record(uri, result, error)) + "\n")
    elif error is None:
        say(_line(uri, result, error), stream=sys.stdout.write)
    if error is not None:
        if not as_json:
            error_line(message_of(error))
        return exit_code_of(error)
    return EXIT_OK


def _many(transport: BotoTransport, location: S3Location, options: ReadOptions, *,
          as_json: bool, quiet: bool) -> int:  # fmt: skip
    from .._read.restore import verify_object  # noqa: PLC0415
    from .._read.tree import Cancel, each_in_parallel  # noqa: PLC0415
    from .._store.listing import list_objects  # noqa: PLC0415

    started = time.monotonic()
    objects = list(list_objects(transport.client, location.bucket, location.key))
    if not objects:
        raise nothing_below(location.uri)
    readers = max(1, min(FILES_AT_ONCE, options.concurrency, len(objects)))
    options.config(readers=readers)  # a --max-memory too small for them: refused now

    cancel = Cancel()

    def work(listed: ListedObject) -> ReadResult:
        config = options.config(readers=readers, if_match=listed.etag)
        return verify_object(transport, location.bucket, listed.key, config, cancel=cancel,
                             identities=options.identities)  # fmt: skip

    records: list[dict[str, Any]] = []
    codes: list[int] = []
    counts = {"ok": 0, "unchecked": 0, "corrupt": 0, "failed": 0}
    size = 0
    outcomes = each_in_parallel(objects, work, workers=readers, cancel=cancel)
    with contextlib.closing(outcomes):
        for outcome in outcomes:
            uri = f"s3://{location.bucket}/{outcome.item.key}"
            status = _status(outcome.result, outcome.error)
            counts[status] += 1
            codes.append(EXIT_OK if outcome.error is None else exit_code_of(outcome.error))
            if outcome.result is not None:
                size += outcome.result.size
            if as_json:
                records.append(_record(uri, outcome.result, outcome.error))
            elif status != "ok" or not quiet:
                say(_line(uri, outcome.result, outcome.error), stream=sys.stdout.write)
    seconds = time.monotonic() - started
    code = worst(codes)
    summary = {"objects": len(objects), "bytes": size, "seconds": round(seconds, 3), **counts}
    if as_json:
        sys.stdout.write(json.dumps({"ok": code == EXIT_OK, "summary": summary,
                                     "objects": records}) + "\n")  # fmt: skip
    else:
        say(
            f"{len(objects)} objects, {format_size(size)} in {seconds:.1f} s: {counts['ok']} ok, "
            f"{counts['unchecked']} unchecked, {counts['corrupt']} CORRUPT, "
            f"{counts['failed']} unreadable",
            stream=sys.stdout.write,
        )
    return code


@verify_app.command(cls=VerifyCommand)
def verify(  # noqa: PLR0917  # typer maps parameters to options
    uri: Annotated[
        str,
        typer.Argument(
            metavar="s3://BUCKET/KEY",
            show_default=False,
            help="The object; with --recursive, a prefix (s3://BUCKET/PREFIX/).",
        ),
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Every object below the prefix.")
    ] = False,
    identity: IdentityOption = None,
    version_id: VersionIdOption = None,
    require_checksum: RequireChecksumOption = False,
    sse_c_key_file: SseCKeyFileOption = None,
    part_size: ReadPartSizeOption = None,
    concurrency: ReadConcurrencyOption = 8,
    max_memory: ReadMaxMemoryOption = None,
    max_attempts: MaxAttemptsOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Read an object (or, with --recursive, every object below a prefix) and check its bytes
    against the checksum the store recorded at upload (else its ETag's MD5s), writing nothing.

    Exit 0 when all checked out, 5 when any did not match (or had nothing to check against,
    with --require-checksum), 1 when any could not be read."""
    with command_logging(debug), SignalGuard():
        try:
            location = parse_location(uri, allow_empty_key=recursive)
            if recursive:
                one_version_only(version_id, "--recursive")
            options = ReadOptions(part_size, concurrency, max_memory, require_checksum,
                                  version_id, max_attempts, load_identities(identity),
                                  extra=sse_c_extra(sse_c_key_file))  # fmt: skip
            options.config()  # the options checked before anything is read
            transport = read_transport(concurrency=concurrency, endpoint_url=endpoint_url,
                                       region=region, profile=profile,
                                       max_attempts=max_attempts)  # fmt: skip
            if recursive:
                code = _many(transport, location, options, as_json=json_output, quiet=quiet)
            else:
                code = _one(transport, location, options, as_json=json_output)
        except (UsageError, IdentityError) as exc:
            report_failure(exc, str(exc), debug=debug)
            code = EXIT_USAGE
        except S3SinkError as exc:  # the listing failed
            report_failure(exc, message_of(exc), debug=debug)
            code = exit_code_of(exc)
        except Interrupted as exc:
            error_line(f"interrupted ({exc})")
            code = exc.exit_code
    raise typer.Exit(code)
