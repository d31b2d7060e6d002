"""``s3sink uploads lifecycle``'s work: show the bucket's rules that abort incomplete
multipart uploads, or add s3sink's own (read back after it is put)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._location import S3Location
from .._store import bucket_lifecycle as _lifecycle
from .._store.errors import describe, error_code, http_status
from ..errors import UsageError
from ._report import (
    EXIT_FAILED,
    EXIT_OK,
    describe_upload_error,
    error_line,
    format_table,
    scrub,
)

if TYPE_CHECKING:
    from .._store.client import S3Client

__all__ = ["add_lifecycle_rule", "show_lifecycle"]


def _lifecycle_record(rule: dict[str, object]) -> dict[str, object]:
    """One rule that aborts incomplete uploads, as the --json output shows it."""
    scope, whole = _lifecycle.rule_scope(rule)
    return {
        "id": rule.get("ID"),
        "status": rule.get("Status"),
        "scope": scope,
        "whole_bucket": whole,
        "filter": rule.get("Filter", {"Prefix": rule["Prefix"]} if "Prefix" in rule else None),
        "days_after_initiation": _lifecycle.abort_days(rule),
        "covers_bucket": _lifecycle.covers_bucket(rule),
        "s3sink": rule.get("ID") == _lifecycle.RULE_ID,
    }


def _describe_lifecycle_error(exc: _lifecycle.LifecycleError) -> str:
    cause = exc.__cause__
    if cause is not None and (error_code(cause) == "AccessDenied" or http_status(cause) == 403):
        return (
            f"access denied to {exc.operation} on s3://{exc.bucket} ({describe(cause)}); it "
            f"needs the {exc.permission} permission: check the credentials (AWS_PROFILE / "
            "--profile) and the bucket policy"
        )
    return describe_upload_error(exc)


def _whole_bucket(location: S3Location) -> str:
    if location.key:
        raise UsageError(
            f"a lifecycle rule here covers a whole bucket: give s3://{location.bucket}, "
            f"not {location.uri}"
        )
    return location.bucket


def show_lifecycle(
    location: S3Location, client: S3Client, *, as_json: bool, connection: Sequence[str] = ()
) -> int:
    """Print the rules that abort incomplete uploads; 0 if one covers the whole bucket, else
    1 with the command that adds one (``connection``: the options that reach the store)."""
    bucket = _whole_bucket(location)
    try:
        lifecycle = _lifecycle.get_lifecycle(client, bucket)
    except _lifecycle.LifecycleError as exc:
        error_line(_describe_lifecycle_error(exc))
        return EXIT_FAILED
    rules = [r for r in lifecycle.rules if _lifecycle.abort_days(r) is not None]
    covering = [r for r in rules if _lifecycle.covers_bucket(r)]
    days = min((_lifecycle.abort_days(r) or 0 for r in covering), default=None)
    # Redacted: an endpoint URL may carry credentials.
    command = scrub(
        shlex.join(["s3sink", "uploads", "lifecycle", f"s3://{bucket}", "--add", *connection])
    )
    if as_json:
        record = {
            "bucket": bucket,
            "uri": f"s3://{bucket}",
            "configured": lifecycle.exists,
            "covered": bool(covering),
            "days_after_initiation": days,
            "rules": [_lifecycle_record(r) for r in rules],
            "add_command": None if covering else command,
        }
        sys.stdout.write(json.dumps(record) + "\n")
    elif rules:
        table = [["ID", "STATUS", "SCOPE", "DAYS"]]
        table += [
            [str(r.get("ID", "-")), str(r.get("Status")), _lifecycle.rule_scope(r)[0],
             str(_lifecycle.abort_days(r))]
            for r in rules
        ]  # fmt: skip
        sys.stdout.write("".join(line + "\n" for line in format_table(table)))
    sys.stdout.flush()
    if covering:
        ids = ", ".join(str(r.get("ID", "-")) for r in covering)
        sys.stderr.write(
            f"s3sink: incomplete uploads in s3://{bucket} are aborted {days} days after they "
            f"started (rule {ids})\n"
        )
        return EXIT_OK
    what = (
        "has no lifecycle configuration"
        if not lifecycle.exists
        else "has no enabled lifecycle rule that aborts incomplete uploads in the whole bucket"
    )
    sys.stderr.write(
        f"s3sink: s3://{bucket} {what}: unfinished uploads stay until someone aborts them; "
        f"add a rule: {command}\n"
    )
    return EXIT_FAILED


def add_lifecycle_rule(location: S3Location, client: S3Client, *, days: int, as_json: bool) -> int:
    """Add or update s3sink's rule, keep the others, verify it; print what changed."""
    bucket = _whole_bucket(location)
    try:
        change = _lifecycle.ensure_rule(client, bucket, days)
    except _lifecycle.LifecycleError as exc:
        error_line(_describe_lifecycle_error(exc))
        return EXIT_FAILED
    for other in change.also_covering:
        sys.stderr.write(
            f"s3sink: rule {other.get('ID', '-')} also aborts incomplete uploads in the whole "
            f"bucket, after {_lifecycle.abort_days(other)} days (the shorter time applies)\n"
        )
    if as_json:
        record = {
            "bucket": bucket,
            "uri": f"s3://{bucket}",
            "action": change.action,
            "rule": _lifecycle_record(change.rule),
            "previous_days": change.previous_days,
            "other_rules": change.kept,
            "also_covered_by": [r.get("ID") for r in change.also_covering],
        }
        sys.stdout.write(json.dumps(record) + "\n")
        return EXIT_OK
    kept = f"{change.kept} other rule{'' if change.kept == 1 else 's'} kept"
    what = f"incomplete uploads are aborted {days} days after they started"
    if change.action == "unchanged":
        line = f"rule {_lifecycle.RULE_ID} in s3://{bucket} is already in place: {what}"
    elif change.action == "updated":
        line = (
            f"updated rule {_lifecycle.RULE_ID} in s3://{bucket}: {what} "
            f"(was {change.previous_days}; {kept})"
        )
    else:
        line = f"added rule {_lifecycle.RULE_ID} to s3://{bucket}: {what} ({kept})"
    sys.stdout.write(line + "\n")
    return EXIT_OK
