"""``s3sink uploads list|abort``: find and abort unfinished multipart uploads."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from .._boto import BotoTransport
from .._location import S3Location
from .._sizes import format_duration
from ..errors import UploadError, UsageError
from ._app import UploadsGroup
from ._bucket import run_on_bucket
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    JsonOption,
    ProfileOption,
    RegionOption,
    duration_option,
)
from ._report import (
    EXIT_FAILED,
    EXIT_OK,
    describe_upload_error,
    error_line,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from .._transport import PendingUpload

__all__ = ["abort_pending", "list_pending", "uploads_app"]

uploads_app = typer.Typer(
    name="uploads",
    cls=UploadsGroup,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
    help="Find and abort unfinished multipart uploads (they cost storage until aborted).",
)


PrefixArgument = Annotated[
    str,
    typer.Argument(
        metavar="s3://BUCKET[/PREFIX]", show_default=False, help="Bucket and optional key prefix."
    ),
]


def _age(upload: PendingUpload, now: dt.datetime) -> float:
    return max(0.0, (now - upload.initiated).total_seconds())  # clamp clock skew


def _initiated(upload: PendingUpload) -> str:
    return upload.initiated.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pending(location: S3Location, client: BaseClient) -> list[PendingUpload]:
    # Listed completely before anything is aborted: aborting shifts the paging markers.
    return list(BotoTransport(client).list_uploads(location.bucket, location.key))


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _record(location: S3Location, upload: PendingUpload, now: dt.datetime) -> dict[str, object]:
    """One pending upload as the --json output shows it."""
    return {
        "bucket": location.bucket,
        "key": upload.key,
        "uri": f"s3://{location.bucket}/{upload.key}",
        "upload_id": upload.upload_id,
        "initiated": _initiated(upload),
        "age_seconds": round(_age(upload, now), 3),
    }


def list_pending(location: S3Location, client: BaseClient, *, as_json: bool) -> int:
    """Print the unfinished uploads under ``location`` (a table, or a JSON array)."""
    uploads = _pending(location, client)
    now = dt.datetime.now(dt.timezone.utc)
    if as_json:
        records = [_record(location, u, now) for u in uploads]
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
    as_json: bool = False,
) -> int:
    """Abort the selected unfinished uploads; prints each (a line, or with ``as_json`` one
    JSON array of records with ``aborted`` and ``error``); 1 if any abort failed."""
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
    records = []
    for upload in selected:
        line = (
            f"{verb} s3://{location.bucket}/{upload.key} upload {upload.upload_id} "
            f"(initiated {_initiated(upload)}, age {format_duration(_age(upload, now))})"
        )
        error = None
        if not dry_run:
            try:
                transport.abort_multipart_upload(location.bucket, upload.key, upload.upload_id)
            except UploadError as exc:
                error = describe_upload_error(exc)
                error_line(error)
                failed += 1
        records.append({**_record(location, upload, now), "aborted": not dry_run and not error})
        records[-1]["error"] = error
        if not as_json and error is None:
            sys.stdout.write(line + "\n")
    if as_json:
        sys.stdout.write(json.dumps(records) + "\n")
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
    run_on_bucket(
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
            parser=duration_option,
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
    json_output: JsonOption = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Abort unfinished multipart uploads under a prefix (prints each one)."""
    run_on_bucket(
        uri,
        lambda location, client: abort_pending(
            location,
            client,
            older_than=older_than,
            upload_id=upload_id,
            dry_run=dry_run,
            as_json=json_output,
        ),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
    )
