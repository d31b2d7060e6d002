"""``--object-lock-retain-until DURATION`` in the mount: every file is retained for DURATION
from its own commit, not until one date fixed when the mount started (which would protect a
file written late for less, and refuse every file once it passed)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .._store.objectlock import ObjectLock
from .._writer.writer import S3MultipartWriter
from .mover import ObjectMover

__all__ = ["FileRetention"]

log = logging.getLogger("s3sink")

SLACK = dt.timedelta(seconds=1)  # stores keep whole seconds: closer dates are the same


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class FileRetention:
    """Retention ``mode`` for ``duration`` from each file's commit. A file's writer gets the
    date from when it is made: at the commit for a file smaller than a part (one PutObject),
    at its first part for a larger one (CreateMultipartUpload carries the date); the latter
    is moved to ``duration`` from its commit once the commit is done (PutObjectRetention:
    extending is allowed in both modes)."""

    def __init__(
        self,
        mode: str,
        duration: dt.timedelta,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.mode = mode
        self.duration = duration
        self._clock = clock

    def options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """A new file's writer options, with its retention ending ``duration`` from now."""
        extra = dict(options.get("extra_args") or {})
        extra["ObjectLockRetainUntilDate"] = self._clock() + self.duration
        return {**options, "extra_args": extra}

    def extend(self, writer: S3MultipartWriter, mover: ObjectMover) -> None:
        """After ``writer``'s commit: retain its object ``duration`` from now, if its date was
        set earlier (at its first part). A failure is logged: the object is published and
        retained until the earlier date, which the warning names."""
        spec = writer.config.spec
        given = spec.extra.get("ObjectLockRetainUntilDate")
        until = self._clock() + self.duration
        if not isinstance(given, dt.datetime) or until - given < SLACK:
            return
        result = writer.result
        try:
            mover.retain(result.key, result.version_id, ObjectLock(self.mode, until), spec.extra)
        except OSError as exc:
            log.warning(
                "s3://%s/%s is committed and retained until %s (set at its first part), not "
                "until %s: %s",
                result.bucket,
                result.key,
                given.isoformat(),
                until.isoformat(),
                exc.strerror or exc,
            )
