"""Object Lock in the library (s3sink._store.objectlock) on the FakeS3: values checked before
anything is sent, retention dates and durations, and a lock the store dropped set after the
commit. Through the real command into moto: tests/cli/test_cli_object_lock.py."""

from __future__ import annotations

import datetime as dt

import pytest

from s3sink._store.objectlock import check_object_lock, retain_until, retain_until_or_duration
from s3sink._writer.writer import S3MultipartWriter
from s3sink.errors import UsageError
from tests.support.fakes import BUCKET, KEY, PART, FakeS3, payload
from tests.support.faults import FaultyStore


def test_the_library_checks_the_lock_too() -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    check_object_lock({"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": later}, "md5")
    for extra, checksum, needle in [
        ({"ObjectLockMode": "GOVERNANCE"}, "crc64nvme", "both a mode"),
        ({"ObjectLockRetainUntilDate": later}, "crc64nvme", "both a mode"),
        ({"ObjectLockMode": "X", "ObjectLockRetainUntilDate": later}, "crc64nvme", "mode"),
        (
            {
                "ObjectLockMode": "GOVERNANCE",
                "ObjectLockRetainUntilDate": later.replace(tzinfo=None),
            },
            "crc64nvme",
            "timezone-aware",
        ),
        ({"ObjectLockLegalHoldStatus": "MAYBE"}, "crc64nvme", "ON or OFF"),
        ({"ObjectLockLegalHoldStatus": "ON"}, None, "integrity header"),
    ]:
        with pytest.raises(UsageError, match=needle):
            check_object_lock(extra, checksum)


def test_retention_dates_and_durations() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert retain_until("30d", now=now) == now + dt.timedelta(days=30)
    assert retain_until("12h", now=now) == now + dt.timedelta(hours=12)
    assert retain_until("2w", now=now) == now + dt.timedelta(weeks=2)
    assert retain_until("1y", now=now) == now + dt.timedelta(days=365)
    assert retain_until("2027-01-31", now=now) == dt.datetime(2027, 1, 31, tzinfo=dt.timezone.utc)
    assert retain_until("2027-01-31T12:00:00+02:00", now=now) == dt.datetime(
        2027, 1, 31, 10, tzinfo=dt.timezone.utc
    )
    assert retain_until("2027-01-31T12:00:00Z", now=now).hour == 12
    for bad in ("0d", "-3d", "2026-11-30", "tomorrow", ""):
        with pytest.raises(UsageError):
            retain_until(bad, now=now)


LOCK = {
    "ObjectLockMode": "GOVERNANCE",
    "ObjectLockRetainUntilDate": dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc),
    "ObjectLockLegalHoldStatus": "ON",
}


def test_a_duration_is_kept_for_whoever_counts_it_later() -> None:
    """The mount counts a duration from each file's commit: the parsed value keeps it."""
    given = retain_until_or_duration("35d")
    assert given.duration == dt.timedelta(days=35)
    assert given.date > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=34)
    assert retain_until_or_duration("2099-01-31").duration is None


@pytest.mark.parametrize(
    ("drops", "fails", "state"),
    [(False, False, "kept"), (True, False, "applied"), (True, True, "missing")],
)
def test_a_lock_the_store_dropped_is_set_after_the_commit(
    drops: bool, fails: bool, state: str, caplog: pytest.LogCaptureFixture
) -> None:
    """RGW 16 drops the Object Lock given to CreateMultipartUpload (measured): after the
    commit s3sink checks the object, sets a missing lock, and says when it still is not."""
    fake = FakeS3()
    fake.drops_multipart_lock = drops
    faulty = FaultyStore(fake)
    if fails:
        faulty.fail("put_object_lock", "AccessDenied")
    with S3MultipartWriter(BUCKET, KEY, transport=faulty, part_size=PART, extra_args=LOCK) as w:
        w.write(payload(2 * PART + 1))
    assert w.result.object_lock == state
    assert faulty.count("put_object_lock") == (1 if drops else 0)
    lock = fake.head_object(BUCKET, KEY).lock  # type: ignore[union-attr]
    assert (lock is not None) == (state != "missing")
    assert ("NOT protected by Object Lock" in caplog.text) == (state == "missing")


def test_no_lock_asked_no_check() -> None:
    fake = FakeS3()
    with S3MultipartWriter(BUCKET, KEY, transport=fake, part_size=PART) as w:
        w.write(payload(2 * PART + 1))
    assert w.result.object_lock is None
    assert fake.count("head_object") == 0


@pytest.mark.parametrize("drops", [False, True], ids=["store-kept-it", "store-dropped-it"])
def test_the_lock_is_checked_and_set_on_the_version_this_commit_made(drops: bool) -> None:
    """Another writer publishes the key right after our Complete: the lock is read and set
    on the version the Complete returned, not on the key's current one (theirs), and the
    result's verdict is about ours."""
    fake = FakeS3()
    fake.drops_multipart_lock = drops
    faulty = FaultyStore(fake)
    faulty.after("complete_multipart_upload", lambda: fake.seed(BUCKET, KEY, b"theirs"))
    with S3MultipartWriter(BUCKET, KEY, transport=faulty, part_size=PART, extra_args=LOCK) as w:
        w.write(payload(2 * PART + 1))
    ours, theirs = w.result.version_id, fake.objects[BUCKET, KEY].version_id
    assert ours is not None
    assert ours != theirs
    assert w.result.object_lock == ("applied" if drops else "kept")
    assert fake.head_object(BUCKET, KEY, ours).lock is not None  # type: ignore[union-attr]
    assert fake.head_object(BUCKET, KEY, theirs).lock is None  # type: ignore[union-attr]
