"""DeleteObjects for ``s3sink prune``: batches of at most 1,000 keys (S3's limit), every key's
outcome kept, nothing raised for a key that failed.

A batch answers per key: ``Deleted`` (with ``DeleteMarker`` when the bucket is versioned and
the delete made a marker rather than removing a version) and ``Errors`` (a code and a message
per key). A batch whose request fails as a whole (access denied, the network after the
client's retries) makes every key of that batch a failure with that error, and the next
batch is still tried: each key's fate is reported, and the caller's exit code says that some
failed. Quiet mode is not used, so a key the store forgot to mention is visible as neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .client import S3Client
from .errors import describe, error_code

__all__ = ["MAX_BATCH", "DeleteFailure", "DeleteOutcome", "DeleteTarget", "delete_objects"]

MAX_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass(frozen=True)
class DeleteTarget:
    """A key to delete; with a version id, that version (for good, no marker)."""

    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class DeleteFailure:
    """A key the store did not delete, and why."""

    target: DeleteTarget
    code: str
    message: str


@dataclass
class DeleteOutcome:
    """What every batch answered: the targets deleted (``markers``: those that left a
    delete marker in their place), the failures, and the DeleteObjects requests made."""

    deleted: list[DeleteTarget] = field(default_factory=list)
    markers: set[DeleteTarget] = field(default_factory=set)
    failed: list[DeleteFailure] = field(default_factory=list)
    requests: int = 0


def _identifier(target: DeleteTarget) -> dict[str, str]:
    if target.version_id is None:
        return {"Key": target.key}
    return {"Key": target.key, "VersionId": target.version_id}


def _batch(
    client: S3Client, bucket: str, batch: Sequence[DeleteTarget], outcome: DeleteOutcome
) -> None:
    outcome.requests += 1
    try:
        answer = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [_identifier(t) for t in batch], "Quiet": False}
        )
    except Exception as exc:  # noqa: BLE001  # reported per key, not raised: see the docstring
        code = error_code(exc) or type(exc).__name__
        outcome.failed += [DeleteFailure(t, code, describe(exc)) for t in batch]
        return
    by_id = {(t.key, t.version_id): t for t in batch}
    by_key = {t.key: t for t in batch if t.version_id is None}
    for item in answer.get("Deleted", []):
        key = str(item.get("Key", ""))
        version = item.get("VersionId")
        target = by_id.get((key, version)) or by_key.get(key) or DeleteTarget(key, version)
        outcome.deleted.append(target)
        if item.get("DeleteMarker") and target.version_id is None:
            outcome.markers.add(target)
    for item in answer.get("Errors", []):
        key = str(item.get("Key", ""))
        version = item.get("VersionId")
        target = by_id.get((key, version)) or by_key.get(key) or DeleteTarget(key, version)
        message = str(item.get("Message") or item.get("Code") or "failed")
        outcome.failed.append(DeleteFailure(target, str(item.get("Code") or "?"), message))


def delete_objects(
    client: S3Client, bucket: str, targets: Sequence[DeleteTarget], *, batch_size: int = MAX_BATCH
) -> DeleteOutcome:
    """Delete ``targets`` in order, ``batch_size`` (at most 1,000) a request; never raises
    for a store's refusal: see :class:`DeleteOutcome`."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH}, got {batch_size}")
    outcome = DeleteOutcome()
    for start in range(0, len(targets), batch_size):
        _batch(client, bucket, targets[start : start + batch_size], outcome)
    return outcome
