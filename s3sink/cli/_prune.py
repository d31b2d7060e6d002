"""``s3sink prune s3://BUCKET/PREFIX --keep-...``: delete the backups a retention policy
does not keep (restic's vocabulary; the rules: ``_retention/policy.py``, the run:
``_retention/prune.py``).

stdout: the table (ACTION, KEY, SIZE, LAST MODIFIED, WHY), newest first, the same with
``--dry-run``; or with ``--json`` one object with the ``kept``, ``deleted``, ``locked`` and
``failed`` lists. stderr: the prefix warning, the summary. Exit 0 done (locked objects left
alone are not a failure), 1 any delete failed (or a lock could not be read), 2 usage (a
policy that keeps nothing, a --min-size nothing reaches).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .._read.paths import shown
from .._retention.policy import Policy, parse_keep_within
from .._retention.prune import PruneReport, PruneRow, prune
from .._sizes import format_size
from ..errors import UsageError
from ._bucket import run_on_bucket
from ._ls import PREFIX_HELP, prefix_warning, utc
from ._options import (
    HELP_OPTIONS,
    DebugOption,
    EndpointOption,
    ProfileOption,
    RegionOption,
    size_option,
)
from ._report import EXIT_FAILED, EXIT_OK, format_table

if TYPE_CHECKING:
    from .._location import S3Location
    from .._store.client import S3Client

__all__ = ["prune_app"]

prune_app = typer.Typer(
    name="prune",
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)

_CONCURRENCY = 8
_EPILOG = (
    "\b\n"
    "An object is kept if any rule keeps it; the newest object is always kept.\n"
    "--keep-hourly/daily/weekly/monthly/yearly N keep the newest object of each of\n"
    "the N most recent hours/days/ISO weeks/months/years that have one (UTC).\n"
    "--keep-within counts back from the newest object, not from now.\n"
    "Objects under Object Lock retention or legal hold are left alone and reported.\n"
    "Pending multipart uploads are not touched (s3sink uploads abort).\n"
    "Exit 0 done, 1 a delete failed, 2 usage (a policy that keeps nothing)."
)


def _keep_count(text: str) -> int:
    """A whole number of at least 0 (0: the rule is off)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise typer.BadParameter(f"{text!r} is not a whole number (0 or more)")
    return value


def _within(text: str) -> tuple[float, str]:
    """``--keep-within``'s duration (seconds) and its text, as click wants errors."""
    try:
        duration, given = parse_keep_within(text)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None
    return duration.total_seconds(), given


def _count(rule: str, what: str) -> object:
    return typer.Option(
        f"--keep-{rule}",
        parser=_keep_count,
        metavar="N",
        show_default=False,
        help=f"Keep {what}.",
    )


def _record(location: S3Location, row: PruneRow) -> dict[str, object]:
    item = row.item
    record: dict[str, object] = {
        "key": item.key,
        "uri": f"s3://{location.bucket}/{item.key}",
        "size": item.size,
        "last_modified": utc(item.last_modified),
        "reasons": list(row.reasons),
    }
    if row.action == "delete":
        record["delete_marker"] = row.delete_marker
    if row.action == "failed":
        record["error"] = row.error
    return record


def _json(location: S3Location, report: PruneReport, policy: Policy) -> str:
    lists: dict[str, list[dict[str, object]]] = {
        "kept": [],
        "deleted": [],
        "locked": [],
        "failed": [],
    }
    names = {"keep": "kept", "delete": "deleted", "locked": "locked", "failed": "failed"}
    for row in report.rows:
        lists[names[row.action]].append(_record(location, row))
    failed_versions = [
        {"key": f.target.key, "version_id": f.target.version_id, "error": f"{f.code}: {f.message}"}
        for f in report.purge_failed
    ]
    record = {
        "ok": not report.failed,
        "dry_run": report.dry_run,
        "bucket": location.bucket,
        "prefix": location.key,
        "policy": policy.describe(),
        "versioning": report.versioning,
        "object_lock": report.object_lock,
        **lists,
        "purged_versions": [{"key": t.key, "version_id": t.version_id} for t in report.purged],
        "purge_locked": [
            {"key": t.key, "version_id": t.version_id, "reason": why}
            for t, why in report.purge_locked
        ],
        "purge_failed": failed_versions,
        "delete_requests": report.delete_requests,
    }
    return json.dumps(record) + "\n"


def _why(row: PruneRow) -> str:
    why = ", ".join(row.reasons)
    if row.action == "delete" and row.delete_marker:
        why += " (a delete marker: the bucket is versioned)"
    if row.action == "failed":
        why = f"not deleted: {row.error}"
    return why


def _table(report: PruneReport) -> list[str]:
    rows = [["ACTION", "KEY", "SIZE", "LAST MODIFIED", "WHY"]]
    for row in report.rows:
        action = row.action.upper()
        if row.action == "delete" and report.dry_run:
            action = "DELETE"
        item = row.item
        rows.append(
            [action, shown(item.key), format_size(item.size), utc(item.last_modified), _why(row)]
        )
    lines = format_table(rows) if report.rows else ["no objects"]
    verb = "would purge" if report.dry_run else "purged"
    lines += [f"{verb} {shown(t.key)} version {t.version_id}" for t in report.purged]
    lines += [
        f"left {shown(t.key)} version {t.version_id}: {why}" for t, why in report.purge_locked
    ]
    return lines


def _summary(report: PruneReport) -> str:
    counts = {a: sum(r.action == a for r in report.rows) for a in ("keep", "delete", "locked")}
    failed = sum(r.action == "failed" for r in report.rows)
    verb = "would delete" if report.dry_run else "deleted"
    text = f"s3sink: kept {counts['keep']}, {verb} {counts['delete']}"
    if counts["locked"]:
        text += f", left {counts['locked']} locked"
    if failed:
        text += f", {failed} failed"
    markers = sum(r.delete_marker for r in report.rows if r.action == "delete")
    if markers:
        text += (
            f"; the bucket is versioned: {'each would leave' if report.dry_run else 'each left'}"
            " a delete marker, the data stays as noncurrent versions (--purge-versions removes"
            " them)"
        )
    if report.purge_failed:
        text += f"; {len(report.purge_failed)} noncurrent versions not purged"
    return text + ("; dry run: nothing was deleted\n" if report.dry_run else "\n")


def run_prune(
    location: S3Location,
    client: S3Client,
    policy: Policy,
    *,
    dry_run: bool,
    purge_versions: bool,
    as_json: bool,
) -> int:
    """One prune run: the report printed, the exit code returned."""
    report = prune(
        client,
        location.bucket,
        location.key,
        policy,
        dry_run=dry_run,
        purge_versions=purge_versions,
        concurrency=_CONCURRENCY,
    )
    prefix_warning(location, report.shared)
    if as_json:
        sys.stdout.write(_json(location, report, policy))
    else:
        sys.stdout.write("".join(line + "\n" for line in _table(report)))
    sys.stdout.flush()
    for row in report.rows:
        if row.action == "failed":
            sys.stderr.write(f"s3sink: error: {shown(row.item.key)} not deleted: {row.error}\n")
    for failure in report.purge_failed:
        sys.stderr.write(
            f"s3sink: error: {shown(failure.target.key)} version {failure.target.version_id} "
            f"not purged: {failure.code}: {failure.message}\n"
        )
    sys.stderr.write(_summary(report))
    return EXIT_FAILED if report.failed else EXIT_OK


@prune_app.command(epilog=_EPILOG)
def prune_command(  # noqa: PLR0917  # typer maps parameters to options
    uri: Annotated[
        str, typer.Argument(metavar="s3://BUCKET[/PREFIX]", show_default=False, help=PREFIX_HELP)
    ],
    keep_last: Annotated[int, _count("last", "the N newest objects")] = 0,
    keep_hourly: Annotated[int, _count("hourly", "the newest object of each of N hours")] = 0,
    keep_daily: Annotated[int, _count("daily", "the newest object of each of N days")] = 0,
    keep_weekly: Annotated[int, _count("weekly", "the newest object of each of N weeks")] = 0,
    keep_monthly: Annotated[int, _count("monthly", "the newest object of each of N months")] = 0,
    keep_yearly: Annotated[int, _count("yearly", "the newest object of each of N years")] = 0,
    keep_within: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Keep every object newer than the newest one's time minus DURATION (30d, "
            "2w, 36h; no months or years: 180d, 365d).",
        ),
    ] = None,
    min_size: Annotated[
        int | None,
        typer.Option(
            parser=size_option,
            metavar="SIZE",
            help="Objects smaller than SIZE are not backups: no rule counts or keeps them "
            "(an empty object from a failed job does not push a good one out).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the KEEP/DELETE table; delete nothing.")
    ] = False,
    purge_versions: Annotated[
        bool,
        typer.Option(
            "--purge-versions",
            help="In a versioned bucket, also delete the noncurrent versions of the keys "
            "deleted now (never of kept keys).",
        ),
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", envvar="S3SINK_JSON", help="The kept and deleted lists as JSON on stdout."
        ),
    ] = False,
    endpoint_url: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    debug: DebugOption = False,
) -> None:
    """Delete the objects below a prefix that a retention policy does not keep."""
    within = None
    if keep_within is not None:
        within = _within(keep_within)
    policy = Policy(
        last=keep_last,
        hourly=keep_hourly,
        daily=keep_daily,
        weekly=keep_weekly,
        monthly=keep_monthly,
        yearly=keep_yearly,
        within=None if within is None else dt.timedelta(seconds=within[0]),
        within_text=None if within is None else within[1],
        min_size=min_size or 0,
    )
    run_on_bucket(
        uri,
        lambda location, client: run_prune(
            location,
            client,
            policy,
            dry_run=dry_run,
            purge_versions=purge_versions,
            as_json=json_output,
        ),
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        debug=debug,
        concurrency=_CONCURRENCY,
    )
