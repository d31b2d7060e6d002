"""``s3sink prune``: a retention policy applied to the objects below a prefix.

The order of a run, each step before anything is deleted:

1. the listing (the objects, newest first), then :func:`~.policy.apply_policy`: KEEP with
   the rules that keep each object, DELETE with the reason;
2. the locks: where the bucket has Object Lock enabled (or will not say), one HeadObject per
   object to delete; one under retention that has not ended, or under a legal hold, is LOCKED
   ("locked until ...") and left alone. It must be skipped here: a DeleteObjects without a
   version id succeeds on a locked object in a versioned bucket and puts a delete marker over
   it (the lock protects the version, not the listing). An object whose lock cannot be read
   is not deleted either, and counts as a failure;
3. DeleteObjects in batches of at most 1,000 (``--dry-run`` stops before it); in a versioned
   bucket each delete leaves a delete marker and the report says so;
4. ``--purge-versions``: the noncurrent versions of the keys deleted in this run, and only
   those (never a kept key's), locked versions left alone as in 2.

Pending multipart uploads are never touched (``s3sink uploads abort`` and the bucket's
lifecycle rule are for them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from .._store.client import S3Client
from .._store.deletes import DeleteFailure, DeleteTarget, delete_objects
from .._store.listing import list_versions
from .._store.objectinfo import ObjectInfo, bucket_versioning
from ..errors import ReadError
from .inventory import HEAD_CONCURRENCY, head_all, take_inventory
from .policy import Decision, Policy, Stamped, apply_policy

__all__ = ["Action", "PruneReport", "PruneRow", "lock_reason", "prune"]

Action = Literal["keep", "delete", "locked", "failed"]


@dataclass(frozen=True)
class PruneRow:
    """One object's outcome: ``keep`` (reasons: the rules), ``delete`` (deleted, or would be
    in a dry run; ``delete_marker``: a marker took its place), ``locked`` (left alone:
    why), ``failed`` (not deleted: ``error``)."""

    item: Stamped
    action: Action
    reasons: tuple[str, ...]
    delete_marker: bool = False
    error: str | None = None


@dataclass
class PruneReport:
    """A run's outcome, newest object first."""

    rows: list[PruneRow]
    dry_run: bool
    versioning: str | None
    object_lock: bool | None
    shared: list[str]
    purged: list[DeleteTarget] = field(default_factory=list)
    purge_locked: list[tuple[DeleteTarget, str]] = field(default_factory=list)
    purge_failed: list[DeleteFailure] = field(default_factory=list)
    delete_requests: int = 0

    @property
    def failed(self) -> bool:
        return any(r.action == "failed" for r in self.rows) or bool(self.purge_failed)


def lock_reason(info: ObjectInfo, now: dt.datetime) -> str | None:
    """Why S3 would refuse to delete the object (None: it would not)."""
    if info.lock is None or not info.locked_at(now):
        return None
    parts = []
    if info.lock.retain_until is not None and info.lock.retain_until > now:
        until = info.lock.retain_until.strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f"locked until {until} ({info.lock.mode or 'retention'})")
    if info.lock.legal_hold:
        parts.append("locked: legal hold")
    return ", ".join(parts)


def _check_locks(
    client: S3Client, bucket: str, decisions: list[Decision], now: dt.datetime
) -> dict[str, PruneRow]:
    """The objects to delete that must be left alone: locked, or their lock unreadable."""
    doomed = [d for d in decisions if not d.keep]
    left: dict[str, PruneRow] = {}
    try:
        infos = head_all(client, bucket, [(d.item.key, None) for d in doomed])
    except ReadError:
        # One at a time, so that each object's own answer decides its fate.
        infos = []
        for d in doomed:
            try:
                infos += head_all(client, bucket, [(d.item.key, None)], concurrency=1)
            except ReadError as exc:
                left[d.item.key] = PruneRow(d.item, "failed", d.reasons, error=str(exc))
                infos.append(ObjectInfo(None, None))
    for d, info in zip(doomed, infos, strict=True):
        why = lock_reason(info, now)
        if why is not None and d.item.key not in left:
            left[d.item.key] = PruneRow(d.item, "locked", (why,))
    return left


def _purge(
    client: S3Client, bucket: str, prefix: str, report: PruneReport, *, check_locks: bool
) -> None:
    """The noncurrent versions of the keys this run deleted (dry run: would delete)."""
    gone = {r.item.key for r in report.rows if r.action == "delete"}
    if not gone or report.versioning is None:  # unversioned: a delete leaves no versions
        return
    versions = [
        DeleteTarget(v.key, v.version_id)
        for v in list_versions(client, bucket, prefix)
        if v.key in gone and not v.delete_marker and (report.dry_run or not v.is_latest)
    ]
    if check_locks and versions:
        now = dt.datetime.now(dt.timezone.utc)
        infos = head_all(client, bucket, [(v.key, v.version_id) for v in versions])
        free = []
        for version, info in zip(versions, infos, strict=True):
            why = lock_reason(info, now)
            if why is None:
                free.append(version)
            else:
                report.purge_locked.append((version, why))
        versions = free
    if report.dry_run:
        report.purged = versions
        return
    outcome = delete_objects(client, bucket, versions)
    report.delete_requests += outcome.requests
    report.purged = outcome.deleted
    report.purge_failed = outcome.failed


def prune(
    client: S3Client,
    bucket: str,
    prefix: str,
    policy: Policy,
    *,
    dry_run: bool,
    purge_versions: bool = False,
    now: dt.datetime | None = None,
    concurrency: int = HEAD_CONCURRENCY,
) -> PruneReport:
    """Apply ``policy`` to the objects below ``prefix`` (see the module docstring). A policy
    that keeps nothing raises UsageError before any request."""
    now = now or dt.datetime.now(dt.timezone.utc)
    apply_policy([], policy, now=now)  # refuses a policy that keeps nothing, before listing
    inventory = take_inventory(
        client, bucket, prefix, heads="none", uploads=False, concurrency=concurrency
    )
    stamped = [Stamped(e.listed.key, e.listed.size, e.last_modified) for e in inventory.entries]
    decisions = apply_policy(stamped, policy, now=now)
    object_lock = inventory.object_lock
    left = {} if object_lock is False else _check_locks(client, bucket, decisions, now)
    versioning = bucket_versioning(client, bucket)
    report = PruneReport([], dry_run, versioning, object_lock, inventory.shared)
    doomed = [d for d in decisions if not d.keep and d.item.key not in left]
    markers: set[str] = set()
    failures: dict[str, str] = {}
    if doomed and not dry_run:
        outcome = delete_objects(client, bucket, [DeleteTarget(d.item.key) for d in doomed])
        report.delete_requests = outcome.requests
        markers = {t.key for t in outcome.markers}
        failures = {f.target.key: f"{f.code}: {f.message}" for f in outcome.failed}
    for d in decisions:
        if d.keep:
            report.rows.append(PruneRow(d.item, "keep", d.reasons))
        elif d.item.key in left:
            report.rows.append(left[d.item.key])
        elif d.item.key in failures:
            report.rows.append(PruneRow(d.item, "failed", d.reasons, error=failures[d.item.key]))
        else:
            marker = d.item.key in markers or (dry_run and versioning is not None)
            report.rows.append(PruneRow(d.item, "delete", d.reasons, delete_marker=marker))
    if purge_versions:
        _purge(client, bucket, prefix, report, check_locks=object_lock is not False)
    return report
