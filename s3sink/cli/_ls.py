"""``s3sink ls s3://BUCKET[/PREFIX]``: the objects below a prefix, newest first, then the
pending multipart uploads below it.

The table (stdout): key, size, last modified (UTC), the stored checksum (algorithm and type
as the listing names them, or "none"), the Object Lock (mode and retain-until, legal hold)
and the format (zstd, gzip, age: from the Content-Type, or from the key's ending, marked
``(name)``). ``--json``: one object per line, ``"type": "object"`` or ``"upload"``. What it
costs: see ``_retention/inventory.py`` (one listing on a plain bucket; ``--long`` one
HeadObject per object). Keys from the bucket are untrusted: a key that is not printable is
shown quoted with its control characters escaped (``_read.paths.shown``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .._read.paths import shown
from .._retention.inventory import Entry, Inventory, object_format, take_inventory
from .._sizes import format_size
from ._bucket import run_on_bucket
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    ProfileOption,
    RegionOption,
)
from ._report import EXIT_OK, format_table

if TYPE_CHECKING:
    from .._location import S3Location
    from .._store.client import S3Client
    from .._store.objectlock import ObjectLock
    from .._store.transport import PendingUpload

__all__ = ["ls_app", "prefix_warning", "utc"]

ls_app = typer.Typer(
    name="ls",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)

PREFIX_HELP = (
    "Bucket and optional key prefix. The prefix is matched as S3 does, as a plain string: "
    "s3://b/db also matches db-old/...; end it with / for a directory."
)
_HEAD_CONCURRENCY = 8


def utc(when: dt.datetime | None) -> str:
    """A time as ``2026-12-05T05:17:21Z`` ("-" for none)."""
    if when is None:
        return "-"
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def prefix_warning(location: S3Location, shared: list[str]) -> None:
    """Warn (stderr) that a prefix without a trailing ``/`` matches other "directories"."""
    if shared:
        others = ", ".join(shown(s) for s in shared)
        sys.stderr.write(
            f"s3sink: warning: the prefix {shown(location.key)!s} does not end in '/' and also "
            f"matches {others} (S3 prefixes are plain strings); give "
            f"s3://{location.bucket}/{shown(location.key)}/ for the directory alone\n"
        )


def _lock_text(lock: ObjectLock | None, known: bool) -> str:
    if not known:
        return "-"
    if lock is None:
        return "none"
    parts = []
    if lock.mode is not None:
        parts.append(f"{lock.mode} until {utc(lock.retain_until)}")
    if lock.legal_hold:
        parts.append("legal hold")
    return ", ".join(parts) or "none"


def _lock_record(entry: Entry) -> dict[str, object] | None:
    if entry.info is None or entry.info.lock is None:
        return None
    lock = entry.info.lock
    return {
        "mode": lock.mode,
        "retain_until": utc(lock.retain_until) if lock.retain_until else None,
        "legal_hold": lock.legal_hold,
    }


def _checksum(entry: Entry) -> str:
    listed = entry.listed
    if listed.checksum_algorithm is None:
        return "none"
    return " ".join(filter(None, (listed.checksum_algorithm, listed.checksum_type)))


def _format(entry: Entry) -> tuple[str | None, str | None]:
    return object_format(entry.listed.key, entry.info.content_type if entry.info else None)


def _lock_known(inventory: Inventory, entry: Entry) -> bool:
    """Whether the lock is known: asked (HeadObject), or the bucket has no Object Lock."""
    return entry.info is not None or inventory.object_lock is False


def _object_record(location: S3Location, inventory: Inventory, entry: Entry) -> dict[str, object]:
    listed = entry.listed
    kind, source = _format(entry)
    return {
        "type": "object",
        "bucket": location.bucket,
        "key": listed.key,
        "uri": f"s3://{location.bucket}/{listed.key}",
        "size": listed.size,
        "last_modified": utc(listed.last_modified),
        "etag": listed.etag,
        "checksum_algorithm": listed.checksum_algorithm,
        "checksum_type": listed.checksum_type,
        "object_lock": _lock_record(entry),
        "object_lock_known": _lock_known(inventory, entry),
        "format": kind,
        "format_from": source,
    }


def _upload_record(location: S3Location, upload: PendingUpload) -> dict[str, object]:
    return {
        "type": "upload",
        "bucket": location.bucket,
        "key": upload.key,
        "uri": f"s3://{location.bucket}/{upload.key}",
        "upload_id": upload.upload_id,
        "initiated": utc(upload.initiated),
    }


def _table(inventory: Inventory) -> list[str]:
    rows = [["KEY", "SIZE", "LAST MODIFIED", "CHECKSUM", "OBJECT LOCK", "FORMAT"]]
    for entry in inventory.entries:
        kind, source = _format(entry)
        rows.append(
            [
                shown(entry.listed.key),
                format_size(entry.listed.size),
                utc(entry.listed.last_modified),
                _checksum(entry),
                _lock_text(entry.info.lock if entry.info else None, _lock_known(inventory, entry)),
                "-" if kind is None else (f"{kind} (name)" if source == "name" else kind),
            ]
        )
    lines = format_table(rows) if inventory.entries else ["no objects"]
    if inventory.uploads:
        uploads = [["PENDING UPLOAD KEY", "UPLOAD ID", "INITIATED"]]
        uploads += [[shown(u.key), u.upload_id, utc(u.initiated)] for u in inventory.uploads]
        lines += ["", *format_table(uploads)]
    return lines


def list_below(location: S3Location, client: S3Client, *, long: bool, as_json: bool) -> int:
    """Print what is below ``location`` (a table, or JSON lines); 0."""
    inventory = take_inventory(
        client,
        location.bucket,
        location.key,
        heads="all" if long else "locked",
        concurrency=_HEAD_CONCURRENCY,
    )
    prefix_warning(location, inventory.shared)
    if as_json:
        records = [_object_record(location, inventory, e) for e in inventory.entries]
        records += [_upload_record(location, u) for u in inventory.uploads]
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in records))
    else:
        sys.stdout.write("".join(line + "\n" for line in _table(inventory)))
    sys.stdout.flush()
    return EXIT_OK


@ls_app.command(
    epilog="\b\nObject Lock is shown where the bucket has it enabled (a HeadObject per object);\n"
    "--long asks every object, for the format (Content-Type) too.\n"
    "Exit 0 listed, 1 failed, 2 usage error."
)
def ls(  # noqa: PLR0917  # typer maps parameters to options
    uri: Annotated[
        str, typer.Argument(metavar="s3://BUCKET[/PREFIX]", show_default=False, help=PREFIX_HELP)
    ],
    long: Annotated[
        bool,
        typer.Option(
            "--long",
            "-l",
            help="HeadObject every object (8 at a time): its Object Lock and its format from "
            "the Content-Type.",
        ),
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", envvar="S3SINK_JSON", help="One JSON object per line on stdout."),
    ] = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """List the objects below a prefix, newest first, then the pending multipart uploads."""
    run_on_bucket(
        uri,
        lambda location, client: list_below(location, client, long=long, as_json=json_output),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
        concurrency=_HEAD_CONCURRENCY,
    )
