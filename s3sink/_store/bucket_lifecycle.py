"""The bucket lifecycle rule that aborts incomplete multipart uploads: read the bucket's
rules, find the ones that cover the whole bucket, and add or update s3sink's own rule while
keeping every other rule as the store returned it.

Pure functions over a botocore client (the caller's), no botocore import. A
PutBucketLifecycleConfiguration replaces the whole configuration and S3 offers no
conditional form of it, so a change made by someone else between our Get and our Put is
lost: the read-back after the Put only notices it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UploadError
from .errors import describe, error_code, is_unsupported

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = [
    "DEFAULT_DAYS",
    "RULE_ID",
    "BucketLifecycle",
    "Change",
    "LifecycleError",
    "abort_days",
    "covers_bucket",
    "ensure_rule",
    "get_lifecycle",
    "merge_rule",
    "rule_scope",
    "s3sink_rule",
]

log = logging.getLogger("s3sink")

RULE_ID = "s3sink-abort-incomplete-multipart-uploads"
DEFAULT_DAYS = 7

#: Pauses between read-backs after the Put: S3 documents that a new lifecycle configuration
#: can take a moment to show.
VERIFY_DELAYS: Sequence[float] = (0.5, 1.0, 2.0, 4.0)

# A rule's actions other than the abort: a rule that has one of them is not just ours.
_OTHER_ACTIONS = (
    "Expiration",
    "Transitions",
    "NoncurrentVersionTransitions",
    "NoncurrentVersionExpiration",
)

Rule = dict[str, Any]
Action = Literal["added", "updated", "unchanged"]


class LifecycleError(UploadError):
    """A lifecycle request failed, or the store did not keep the rule it accepted.

    ``operation`` is the S3 operation, ``permission`` the IAM action it needs."""

    def __init__(self, message: str, *, bucket: str, operation: str, permission: str) -> None:
        super().__init__(message, bucket=bucket, key="")
        self.operation = operation
        self.permission = permission

    def __str__(self) -> str:
        return f"s3://{self.bucket}: {self.args[0]}"


@dataclass(frozen=True)
class BucketLifecycle:
    """A bucket's lifecycle configuration as GetBucketLifecycleConfiguration returned it.

    ``exists`` is False for a bucket without one (NoSuchLifecycleConfiguration);
    ``minimum_object_size`` is the TransitionDefaultMinimumObjectSize, put back with the
    rules (left out, S3 would reset it to its default)."""

    rules: list[Rule] = field(default_factory=list)
    exists: bool = False
    minimum_object_size: str | None = None


@dataclass(frozen=True)
class Change:
    """What ensure_rule did: ``rule`` is s3sink's rule as read back from the store."""

    action: Action
    rule: Rule
    previous_days: int | None
    kept: int  # other rules, kept unchanged
    also_covering: list[Rule]  # other enabled rules that abort uploads in the whole bucket


def _failure(exc: Exception, bucket: str, operation: str, permission: str) -> LifecycleError:
    text = f"{operation} failed: {describe(exc)}"
    if is_unsupported(exc):
        text += (
            "; this store does not support bucket lifecycle rules: remove unfinished "
            f"uploads from cron instead (s3sink uploads abort s3://{bucket} --older-than 7d)"
        )
    return LifecycleError(text, bucket=bucket, operation=operation, permission=permission)


# -- reading rules -----------------------------------------------------------------------------
def get_lifecycle(client: BaseClient, bucket: str) -> BucketLifecycle:
    """The bucket's lifecycle configuration; an absent one is empty (``exists=False``)."""
    try:
        response = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) == "NoSuchLifecycleConfiguration":
            return BucketLifecycle()
        raise _failure(
            exc, bucket, "GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"
        ) from exc
    size = response.get("TransitionDefaultMinimumObjectSize")
    return BucketLifecycle(
        rules=list(response.get("Rules", [])),
        exists=True,
        minimum_object_size=str(size) if size else None,
    )


def abort_days(rule: Mapping[str, Any]) -> int | None:
    """The rule's DaysAfterInitiation, if it aborts incomplete multipart uploads."""
    days = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
    return int(days) if days is not None else None


def _conditions(rule: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The rule's key prefix, and its other conditions (tags, sizes) in words."""
    legacy = str(rule.get("Prefix") or "")  # the pre-2016 form, without a Filter
    filt = rule.get("Filter")
    conds: Mapping[str, Any] = filt.get("And", filt) if isinstance(filt, Mapping) else {}
    prefix = str(conds.get("Prefix") or "") or legacy
    others = [f"prefix {legacy}"] if legacy and legacy != prefix else []
    for name, value in conds.items():
        if name == "Prefix":
            continue
        if name in ("Tag", "Tags"):
            tags = [value] if name == "Tag" else list(value)
            others += [f"tag {tag.get('Key')}={tag.get('Value')}" for tag in tags]
        elif name == "ObjectSizeGreaterThan":
            others.append(f"size > {value} B")
        elif name == "ObjectSizeLessThan":
            others.append(f"size < {value} B")
        else:  # a condition newer than this code: never taken for the whole bucket
            others.append(f"{name} {value}")
    return prefix, others


def rule_scope(rule: Mapping[str, Any]) -> tuple[str, bool]:
    """What the rule applies to in words (``whole bucket``, ``prefix logs/``...), and
    whether that is every key of the bucket."""
    prefix, others = _conditions(rule)
    words = ([f"prefix {prefix}"] if prefix else []) + others
    return (", ".join(words) or "whole bucket"), not words


def covers_bucket(rule: Mapping[str, Any]) -> bool:
    """Enabled, aborts incomplete uploads, and applies to every key of the bucket."""
    return rule.get("Status") == "Enabled" and abort_days(rule) is not None and rule_scope(rule)[1]


# -- s3sink's rule -----------------------------------------------------------------------------
def _legacy(rules: Sequence[Mapping[str, Any]]) -> bool:
    # S3 refuses a configuration that mixes rules with a top-level Prefix and with a Filter.
    return any("Filter" not in r and "Prefix" in r for r in rules)


def s3sink_rule(days: int, *, legacy: bool = False) -> Rule:
    """s3sink's rule: abort every incomplete upload ``days`` after it was started.

    An explicit empty prefix, not ``Filter: {}``: the form every S3-compatible store takes."""
    scope: Rule = {"Prefix": ""} if legacy else {"Filter": {"Prefix": ""}}
    return {
        "ID": RULE_ID,
        "Status": "Enabled",
        **scope,
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


def _is_ours(rule: Mapping[str, Any], days: int) -> bool:
    """Whether ``rule`` is s3sink's rule with ``days``, whatever form the store returned."""
    return (
        rule.get("ID") == RULE_ID
        and covers_bucket(rule)
        and abort_days(rule) == days
        and not any(name in rule for name in _OTHER_ACTIONS)
    )


def _find_ours(rules: Sequence[Rule]) -> Rule | None:
    return next((r for r in rules if r.get("ID") == RULE_ID), None)


def merge_rule(rules: Sequence[Rule], days: int) -> list[Rule]:
    """``rules`` with s3sink's rule for ``days`` in place of its old one (or appended).

    Every other rule is the very object given, except that a rule with neither Filter nor
    Prefix (some stores return them so) gets the empty prefix it means: S3 refuses a rule
    without one."""
    legacy = _legacy(rules)
    ours = s3sink_rule(days, legacy=legacy)
    empty: Rule = {"Prefix": ""} if legacy else {"Filter": {"Prefix": ""}}
    merged: list[Rule] = []
    placed = False
    for rule in rules:
        if rule.get("ID") == RULE_ID:
            if not placed:  # a second copy (a store allowed it) goes
                merged.append(ours)
                placed = True
        elif "Filter" in rule or "Prefix" in rule:
            merged.append(rule)
        else:
            merged.append({**rule, **empty})
    if not placed:
        merged.append(ours)
    return merged


def _put(client: BaseClient, bucket: str, lifecycle: BucketLifecycle, rules: list[Rule]) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "LifecycleConfiguration": {"Rules": rules}}
    if lifecycle.minimum_object_size is not None:
        kwargs["TransitionDefaultMinimumObjectSize"] = lifecycle.minimum_object_size
    try:
        client.put_bucket_lifecycle_configuration(**kwargs)
    except Exception as exc:
        raise _failure(
            exc, bucket, "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"
        ) from exc


def _read_back(
    client: BaseClient, bucket: str, days: int, written: int, sleep: Callable[[float], None]
) -> Rule:
    """s3sink's rule as the store now returns it; LifecycleError if it never shows."""
    delays = [*VERIFY_DELAYS, None]
    for delay in delays:
        rules = get_lifecycle(client, bucket).rules
        ours = _find_ours(rules)
        if ours is not None and _is_ours(ours, days):
            if len(rules) != written:
                log.warning(
                    "the lifecycle configuration of s3://%s now has %d rules, %d were written: "
                    "someone else may have changed it at the same time",
                    bucket,
                    len(rules),
                    written,
                )
            return ours
        if delay is not None:
            sleep(delay)
    raise LifecycleError(
        f"the store accepted the lifecycle configuration, but reading it back does not show "
        f"rule {RULE_ID} with {days} days: this store ignores lifecycle rules or "
        "AbortIncompleteMultipartUpload, or someone changed the configuration at the same time",
        bucket=bucket,
        operation="GetBucketLifecycleConfiguration",
        permission="s3:GetLifecycleConfiguration",
    )


def ensure_rule(
    client: BaseClient, bucket: str, days: int, *, sleep: Callable[[float], None] = time.sleep
) -> Change:
    """Add s3sink's rule (or update its days), keep every other rule, and read it back."""
    before = get_lifecycle(client, bucket)
    current = _find_ours(before.rules)
    others = [r for r in before.rules if r.get("ID") != RULE_ID]
    also = [r for r in others if covers_bucket(r)]
    previous = abort_days(current) if current is not None else None
    if current is not None and _is_ours(current, days):
        return Change("unchanged", current, previous, len(others), also)
    merged = merge_rule(before.rules, days)
    _put(client, bucket, before, merged)
    ours = _read_back(client, bucket, days, len(merged), sleep)
    return Change("added" if current is None else "updated", ours, previous, len(others), also)
