"""S3 Object Lock for the objects s3sink writes: the rules checked before anything is read,
and the command's retention dates (an ISO 8601 date or time, or a duration such as ``30d``).

The settings travel as the writer's ``extra_args`` (``ObjectLockMode``,
``ObjectLockRetainUntilDate``, ``ObjectLockLegalHoldStatus``) on CreateMultipartUpload or the
single PutObject. S3 refuses a locked object's upload without an integrity header (Content-MD5
or an ``x-amz-checksum-*``): every part and PutObject s3sink sends carries one unless
``checksum=None``, which is refused here with the lock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UsageError

__all__ = [
    "LEGAL_HOLD",
    "MODES",
    "ObjectLock",
    "RetainUntil",
    "check_object_lock",
    "lock_problem",
    "requested_lock",
    "retain_until",
    "retain_until_or_duration",
    "retention_duration",
]

MODES = ("GOVERNANCE", "COMPLIANCE")
LEGAL_HOLD = ("ON", "OFF")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"(\d+)\s*([smhdwy])", re.IGNORECASE)


@dataclass(frozen=True)
class ObjectLock:
    """An object's Object Lock settings: a retention (mode and date), a legal hold, or both."""

    mode: str | None = None
    retain_until: dt.datetime | None = None
    legal_hold: bool = False

    def held_by(self, other: ObjectLock | None) -> bool:
        """``other`` (what the store shows) holds at least these settings."""
        if other is None:
            return False
        if self.legal_hold and not other.legal_hold:
            return False
        if self.mode is None:
            return True
        return (
            other.mode == self.mode
            and other.retain_until is not None
            and self.retain_until is not None
            # Stores keep whole seconds (some milliseconds): a date a second earlier is kept.
            and other.retain_until >= self.retain_until - dt.timedelta(seconds=1)
        )


def requested_lock(extra_args: Mapping[str, Any]) -> ObjectLock | None:
    """The lock ``extra_args`` ask for (None: none)."""
    mode = extra_args.get("ObjectLockMode")
    hold = extra_args.get("ObjectLockLegalHoldStatus") == "ON"
    if mode is None and not hold:
        return None
    return ObjectLock(mode, extra_args.get("ObjectLockRetainUntilDate"), hold)


@dataclass(frozen=True)
class RetainUntil:
    """A retention's end as given: the date it means now, and the duration when it was given
    as one (``30d``), for whoever counts it from a later moment (the mount: each file's
    commit)."""

    date: dt.datetime
    duration: dt.timedelta | None = None


def retention_duration(text: str) -> dt.timedelta | None:
    """The duration ``text`` gives (``30d``, ``12h``, ``1y`` of 365 days), or None when it is
    a date or a time."""
    duration = _DURATION_RE.fullmatch(text.strip())
    if duration is None:
        return None
    return dt.timedelta(seconds=int(duration.group(1)) * _UNITS[duration.group(2).lower()])


def retain_until_or_duration(text: str) -> RetainUntil:
    """:func:`retain_until` from now, keeping the duration when ``text`` is one."""
    return RetainUntil(retain_until(text), retention_duration(text))


def retain_until(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``30d``, ``12h``, ``1y`` (365 days) from ``now``, or an ISO 8601 date (midnight UTC) or
    time (UTC unless it says otherwise); it must lie in the future."""
    now = now or dt.datetime.now(dt.timezone.utc)
    value = text.strip()
    duration = retention_duration(value)
    if duration is not None:
        until = now + duration
    else:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"invalid retention {text!r}: give a date (2027-01-31), a time "
                "(2027-01-31T12:00:00Z) or a duration (30d, 12h, 2w, 1y)"
            ) from None
        until = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)
    if until <= now:
        raise UsageError(f"retention {text!r} ends in the past ({until.isoformat()})")
    return until.astimezone(dt.timezone.utc)


def lock_problem(
    extra_args: Mapping[str, Any], checksum: str | None
) -> Literal["needs-date", "needs-mode", "no-checksum"] | None:
    """Which of the rules that tie the settings together ``extra_args`` break: a mode
    without a date, a date without a mode, or a lock with no integrity header (S3 refuses a
    locked object's requests without one); None when they keep them (the rules the command
    phrases in its option names)."""
    mode = extra_args.get("ObjectLockMode")
    until = extra_args.get("ObjectLockRetainUntilDate")
    if mode is not None and until is None:
        return "needs-date"
    if mode is None and until is not None:
        return "needs-mode"
    locked = mode is not None or extra_args.get("ObjectLockLegalHoldStatus") is not None
    return "no-checksum" if locked and checksum is None else None


def check_object_lock(extra_args: Mapping[str, Any], checksum: str | None) -> None:
    """A mode needs a date and a date a mode; known values; an integrity header."""
    mode = extra_args.get("ObjectLockMode")
    until = extra_args.get("ObjectLockRetainUntilDate")
    hold = extra_args.get("ObjectLockLegalHoldStatus")
    if mode is None and until is None and hold is None:
        return
    if mode is not None and mode not in MODES:
        raise UsageError(f"Object Lock mode {mode!r}: use {' or '.join(MODES)}")
    problem = lock_problem(extra_args, checksum)
    if problem in ("needs-date", "needs-mode"):
        raise UsageError(
            "Object Lock retention needs both a mode (GOVERNANCE or COMPLIANCE) and a date "
            "to retain until"
        )
    if until is not None:
        if not isinstance(until, dt.datetime) or until.tzinfo is None:
            raise UsageError("ObjectLockRetainUntilDate must be a timezone-aware datetime")
        if until <= dt.datetime.now(dt.timezone.utc):
            raise UsageError(f"Object Lock retention ends in the past ({until.isoformat()})")
    if hold is not None and hold not in LEGAL_HOLD:
        raise UsageError(f"legal hold status {hold!r}: use ON or OFF")
    if problem == "no-checksum":
        raise UsageError(
            "an object with Object Lock needs an integrity header on every request (S3 "
            "refuses it otherwise): use a checksum (crc64nvme, the default, or md5)"
        )
