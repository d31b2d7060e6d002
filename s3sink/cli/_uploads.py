"""``s3sink uploads list|abort|lifecycle``: find and abort unfinished multipart uploads, and
the bucket lifecycle rule that aborts them."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from .._location import S3Location
from .._sizes import format_duration, format_size
from .._store import bucket_lifecycle as _lifecycle
from .._store.boto import BotoTransport
from .._upload.journal import Journal, JournalRecord, find_journals, journal_dir
from ..errors import UploadError, UsageError
from ._app import UploadsGroup
from ._bucket import run_on_bucket
from ._commands import connection_options, feed_phrase, resume_command_line, working_directory
from ._lifecycle_rule import add_lifecycle_rule, show_lifecycle
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    JsonOption,
    ProfileOption,
    RegionOption,
    count_option,
    duration_option,
)
from ._report import (
    EXIT_FAILED,
    EXIT_OK,
    describe_upload_error,
    error_line,
    format_table,
)

if TYPE_CHECKING:
    from .._store.client import S3Client
    from .._store.transport import PendingUpload

__all__ = ["abort_pending", "list_pending", "uploads_app"]

uploads_app = typer.Typer(
    name="uploads",
    cls=UploadsGroup,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
    help="Find and abort unfinished multipart uploads (they cost storage until aborted), and "
    "keep the bucket lifecycle rule that aborts them.",
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


def _pending(location: S3Location, client: S3Client) -> list[PendingUpload]:
    # Listed completely before anything is aborted: aborting shifts the paging markers.
    return list(BotoTransport(client).list_uploads(location.bucket, location.key))


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


def _journals_here(location: S3Location, client: S3Client) -> dict[str, JournalRecord]:
    """This machine's resume journals for the bucket and endpoint, by upload id."""
    # Compared without the endpoint's credentials: journals never hold them.
    endpoint = str(client.meta.endpoint_url)
    return {
        r.upload_id: r
        for r in find_journals(journal_dir(), endpoint=endpoint, bucket=location.bucket)
    }


def _resumable(record: JournalRecord | None) -> str:
    if record is None:
        return "-"
    return f"{len(record.parts)} parts, {format_size(record.bytes_recorded)}"


def _resume_command(
    upload: PendingUpload, journal: JournalRecord | None, connection: Sequence[str]
) -> str | None:
    """The command that resumes ``upload``, as its journal here recorded it (None without
    one, or when it records none: the library's, which resumes with ``resume=True``)."""
    if journal is None or journal.command is None:
        return None
    return resume_command_line(
        journal.command, upload.upload_id, connection, here=working_directory()
    )


def _resume_lines(
    upload: PendingUpload, journal: JournalRecord, connection: Sequence[str]
) -> list[str]:
    """How to resume ``upload``: what to give it again, then its command alone on a line."""
    what = f"{upload.key} (upload {upload.upload_id})"
    if journal.command is None:  # a journal the library wrote
        return [
            f"{what} resumes with the options it was started with and --resume; no command "
            "was recorded (the library resumes with resume=True)"
        ]
    command = resume_command_line(
        journal.command, upload.upload_id, connection, here=working_directory()
    )
    return [f"resume {what}{feed_phrase(journal.command.feed)}:", f"  {command}"]


def list_pending(
    location: S3Location, client: S3Client, *, as_json: bool, connection: Sequence[str] = ()
) -> int:
    """Print the unfinished uploads under ``location`` (a table, or a JSON array), and for
    those with a resume journal here (``--resumable``) the parts it recorded and the command
    that resumes them (``connection``: the options that reached the store, for it)."""
    uploads = _pending(location, client)
    now = dt.datetime.now(dt.timezone.utc)
    journals = _journals_here(location, client)
    if as_json:
        records = []
        for upload in uploads:
            journal = journals.get(upload.upload_id)
            records.append(
                {
                    **_record(location, upload, now),
                    "resumable": journal is not None,
                    "journal": str(journal.path) if journal is not None else None,
                    "parts_recorded": len(journal.parts) if journal is not None else None,
                    "bytes_recorded": journal.bytes_recorded if journal is not None else None,
                    "resume_command": _resume_command(upload, journal, connection),
                }
            )
        sys.stdout.write(json.dumps(records) + "\n")
        return EXIT_OK
    if not uploads:
        sys.stderr.write(f"s3sink: no unfinished uploads under {location.uri}\n")
        return EXIT_OK
    rows = [["KEY", "UPLOAD ID", "INITIATED", "AGE", "RESUMABLE HERE"]]
    rows += [
        [
            u.key,
            u.upload_id,
            _initiated(u),
            format_duration(_age(u, now)),
            _resumable(journals.get(u.upload_id)),
        ]
        for u in uploads
    ]
    lines = format_table(rows)
    for upload in uploads:
        journal = journals.get(upload.upload_id)
        if journal is not None:
            lines += ["", *_resume_lines(upload, journal, connection)]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def abort_pending(
    location: S3Location,
    client: S3Client,
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
    journals = _journals_here(location, client)
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
            else:
                journal = journals.get(upload.upload_id)
                if journal is not None:
                    Journal(journal.path).remove()  # nothing is left to resume
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
    """List unfinished multipart uploads: key, upload id, initiated, age, and for those
    resumable here how far they got and the command that resumes them."""
    connection = connection_options(endpoint_url=endpoint_url, region=region, profile=profile)
    run_on_bucket(
        uri,
        lambda location, client: list_pending(
            location, client, as_json=json_output, connection=connection
        ),
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


# -- lifecycle --------------------------------------------------------------------------------
_LIFECYCLE_EPILOG = (
    "\b\n"
    "Without --add or --days: show the rules that abort incomplete uploads.\n"
    "Exit 0 when an enabled rule does so for the whole bucket, 1 when none does\n"
    "(or on an error; with --json a result on stdout means the rules were read),\n"
    "2 usage error. With --add/--days: add or update s3sink's own rule\n"
    f"({_lifecycle.RULE_ID}), keep every other rule,\n"
    "read the configuration back; exit 0 when the rule is there, else 1.\n"
    "The configuration is replaced as a whole: a change made by someone else at\n"
    "the same moment can be lost."
)


BucketArgument = Annotated[
    str, typer.Argument(metavar="s3://BUCKET", show_default=False, help="The bucket.")
]


@uploads_app.command("lifecycle", epilog=_LIFECYCLE_EPILOG)
def uploads_lifecycle(  # noqa: PLR0917  # typer maps parameters to options
    uri: BucketArgument,
    add: Annotated[
        bool,
        typer.Option(
            "--add",
            help=f"Add s3sink's rule that aborts incomplete uploads {_lifecycle.DEFAULT_DAYS} "
            "days after they started (or update it to that); every other rule is kept.",
        ),
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            parser=count_option,
            metavar="N",
            help="Abort incomplete uploads N days after they started (implies --add).",
        ),
    ] = None,
    json_output: JsonOption = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Show the bucket's lifecycle rule that aborts incomplete uploads, or add one."""
    connection = connection_options(endpoint_url=endpoint_url, region=region, profile=profile)

    def work(location: S3Location, client: S3Client) -> int:
        if add or days is not None:
            chosen = days if days is not None else _lifecycle.DEFAULT_DAYS
            return add_lifecycle_rule(location, client, days=chosen, as_json=json_output)
        return show_lifecycle(location, client, as_json=json_output, connection=connection)

    run_on_bucket(uri, work, endpoint_url=endpoint_url, region=region, profile=profile, debug=debug)
