"""What ``ls`` and ``prune`` ask beyond a listing: the bucket's Object Lock and versioning
(one request each, once a run) and one HeadObject per object (its lock and Content-Type).

HeadObject is the one request that tells both an object's retention and its legal hold
(GetObjectRetention and GetObjectLegalHold are two, and moto 5.2 answers the first with a
500). S3 includes the lock headers only for a caller allowed ``s3:GetObjectRetention`` and
``s3:GetObjectLegalHold``: without those permissions a locked object looks unlocked here, and
the store still refuses to remove its version (docs/command.md says so).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .client import S3Client
from .errors import error_code, translate_read
from .listing import utc_time
from .objectlock import ObjectLock

__all__ = [
    "ObjectInfo",
    "bucket_has_object_lock",
    "bucket_versioning",
    "head_info",
]

_NO_LOCK_CONFIGURATION = ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound")


@dataclass(frozen=True)
class ObjectInfo:
    """What one HeadObject says: the lock (None: neither retention nor legal hold) and the
    Content-Type."""

    lock: ObjectLock | None
    content_type: str | None

    def locked_at(self, now: dt.datetime) -> bool:
        """Under retention that has not ended, or a legal hold: S3 refuses to delete it."""
        if self.lock is None:
            return False
        if self.lock.legal_hold:
            return True
        return self.lock.retain_until is not None and self.lock.retain_until > now


def bucket_has_object_lock(client: S3Client, bucket: str) -> bool | None:
    """Whether Object Lock is enabled on ``bucket`` (GetObjectLockConfiguration): True, False
    (no configuration), or None when the store would not say (access denied, not
    implemented): the caller then checks every object it would delete."""
    try:
        answer = client.get_object_lock_configuration(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001  # an answer of its own: see the docstring
        if error_code(exc) in _NO_LOCK_CONFIGURATION:
            return False
        return None
    config = answer.get("ObjectLockConfiguration") or {}
    return config.get("ObjectLockEnabled") == "Enabled"


def bucket_versioning(client: S3Client, bucket: str) -> str | None:
    """``Enabled``, ``Suspended``, or None (never versioned, or the store would not say)."""
    try:
        answer = client.get_bucket_versioning(Bucket=bucket)
    except Exception:  # noqa: BLE001  # unknown is an answer: a delete then reports what it made
        return None
    status = answer.get("Status")
    return str(status) if status else None


def head_info(client: S3Client, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
    """One HeadObject: the object's lock and Content-Type; a failure is a ReadError."""
    args = {"Bucket": bucket, "Key": key}
    if version_id is not None:
        args["VersionId"] = version_id
    try:
        answer = client.head_object(**args)
    except Exception as exc:
        raise translate_read(
            exc, "HeadObject", bucket=bucket, key=key, version_id=version_id, started=False
        ) from exc
    mode = answer.get("ObjectLockMode")
    until = utc_time(answer.get("ObjectLockRetainUntilDate"))
    hold = answer.get("ObjectLockLegalHoldStatus") == "ON"
    lock = None
    if mode is not None or until is not None or hold:
        lock = ObjectLock(str(mode) if mode else None, until, hold)
    content_type = answer.get("ContentType")
    return ObjectInfo(lock, str(content_type) if content_type else None)
