"""The pieces of ``ls`` and ``prune`` that need no server: DeleteObjects batches and their
per-key answers (a fake client), the other "directories" a prefix matches, an object's format
from its Content-Type or name, and what makes an object locked."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, cast

import pytest

from s3sink._retention.inventory import object_format, shared_starts
from s3sink._retention.prune import lock_reason
from s3sink._store.client import S3Client
from s3sink._store.deletes import DeleteTarget, delete_objects
from s3sink._store.objectinfo import ObjectInfo
from s3sink._store.objectlock import ObjectLock

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)


class DeniedError(Exception):
    """What botocore raises for a refused request, as far as _store/errors reads it."""

    response: ClassVar[dict[str, Any]] = {"Error": {"Code": "AccessDenied", "Message": "denied"}}


class FakeDeletes:
    """A client whose DeleteObjects fails the keys in ``refuse`` one by one, and raises for
    the batches numbered in ``fail_batches``."""

    def __init__(self, refuse: set[str] | None = None, fail_batches: set[int] | None = None):
        self.refuse = refuse or set()
        self.fail_batches = fail_batches or set()
        self.batches: list[list[dict[str, str]]] = []

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        objects = Delete["Objects"]
        self.batches.append(objects)
        if len(self.batches) in self.fail_batches:
            raise DeniedError("denied")
        deleted = [
            {"Key": o["Key"], "DeleteMarker": "VersionId" not in o}
            for o in objects
            if o["Key"] not in self.refuse
        ]
        errors = [
            {"Key": o["Key"], "Code": "AccessDenied", "Message": "locked"}
            for o in objects
            if o["Key"] in self.refuse
        ]
        return {"Deleted": deleted, "Errors": errors}


def client(fake: FakeDeletes) -> S3Client:
    return cast("S3Client", fake)


def test_deletes_go_in_batches_of_at_most_1000() -> None:
    """2,500 keys: three requests of 1,000, 1,000 and 500, every key deleted."""
    fake = FakeDeletes()
    targets = [DeleteTarget(f"k{n}") for n in range(2500)]
    outcome = delete_objects(client(fake), "b", targets)
    assert [len(b) for b in fake.batches] == [1000, 1000, 500]
    assert outcome.requests == 3
    assert outcome.deleted == targets
    assert not outcome.failed


def test_per_key_errors_are_kept_and_nothing_is_raised() -> None:
    """A key the store refuses is a failure with its code; the others are deleted, their
    delete markers noted."""
    fake = FakeDeletes(refuse={"k1"})
    outcome = delete_objects(client(fake), "b", [DeleteTarget("k0"), DeleteTarget("k1")])
    assert outcome.deleted == [DeleteTarget("k0")]
    assert outcome.markers == {DeleteTarget("k0")}
    assert [(f.target.key, f.code, f.message) for f in outcome.failed] == [
        ("k1", "AccessDenied", "locked")
    ]


def test_a_failed_batch_fails_its_keys_and_the_next_batch_is_tried() -> None:
    """The first request refused as a whole: its keys are failures; the second goes on."""
    fake = FakeDeletes(fail_batches={1})
    targets = [DeleteTarget(f"k{n}") for n in range(5)]
    outcome = delete_objects(client(fake), "b", targets, batch_size=3)
    assert [f.target.key for f in outcome.failed] == ["k0", "k1", "k2"]
    assert {f.code for f in outcome.failed} == {"AccessDenied"}
    assert outcome.deleted == targets[3:]


def test_versions_are_deleted_by_id_without_markers() -> None:
    """A target with a version id names it in the request; no marker is recorded."""
    fake = FakeDeletes()
    outcome = delete_objects(client(fake), "b", [DeleteTarget("k", "v1")])
    assert fake.batches == [[{"Key": "k", "VersionId": "v1"}]]
    assert outcome.markers == set()


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_is_bounded(size: int) -> None:
    """S3 takes 1 to 1,000 keys a request."""
    with pytest.raises(ValueError, match="batch_size"):
        delete_objects(client(FakeDeletes()), "b", [], batch_size=size)


@pytest.mark.parametrize(
    ("prefix", "keys", "shared"),
    [
        ("db", ["db/1", "db-old/1", "db-old/2", "dbx/y/z"], ["db-old/", "dbx/"]),
        ("db", ["db/1", "db.dump"], []),
        ("db/", ["db/1", "db/x/2"], []),
        ("", ["a/1", "b/1"], []),
        ("backups/db-", ["backups/db-2026.dump"], []),
    ],
)
def test_shared_starts(prefix: str, keys: list[str], shared: list[str]) -> None:
    """Only a prefix without '/' that matches other "directories" is reported."""
    assert shared_starts(prefix, keys) == shared


@pytest.mark.parametrize(
    ("key", "content_type", "expected"),
    [
        ("db/1", "application/zstd", ("zstd", "content-type")),
        ("db/1.gz", "application/octet-stream", ("gzip", "name")),
        ("db/1", "application/gzip; charset=binary", ("gzip", "content-type")),
        ("db/1.tar.zst", None, ("zstd", "name")),
        ("db/1.age", None, ("age", "name")),
        ("db/1.dump", None, (None, None)),
    ],
)
def test_object_format(key: str, content_type: str | None, expected: tuple[str, str]) -> None:
    """The Content-Type first, then the key's ending."""
    assert object_format(key, content_type) == expected


def test_lock_reason() -> None:
    """Retention not yet ended or a legal hold lock an object; an ended retention does not."""
    later = NOW + dt.timedelta(days=1)
    retained = ObjectInfo(ObjectLock("COMPLIANCE", later), None)
    assert lock_reason(retained, NOW) == "locked until 2026-12-06T00:00:00Z (COMPLIANCE)"
    held = ObjectInfo(ObjectLock(None, None, legal_hold=True), None)
    assert lock_reason(held, NOW) == "locked: legal hold"
    ended = ObjectInfo(ObjectLock("GOVERNANCE", NOW - dt.timedelta(seconds=1)), None)
    assert lock_reason(ended, NOW) is None
    assert lock_reason(ObjectInfo(None, None), NOW) is None
