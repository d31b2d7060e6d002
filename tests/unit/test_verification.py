"""How the writer knows the store received its bytes: echoed checksums, ETag MD5s, re-sends.

The fake store plays each kind of store s3sink meets: one that checks and echoes checksums
(AWS, SeaweedFS), one that ignores them (Ceph RGW 16), one that echoes what it was sent
without checking (moto); a FaultyStore in front of it flips a byte on the way in.
"""

from __future__ import annotations

import logging

import pytest

from s3sink import PartUploadError, State, UploadResult
from s3sink._store.transport import Transport
from s3sink._upload.parts import VERIFY_ATTEMPTS
from s3sink.errors import CompleteError
from tests.support.fakes import BUCKET, KEY, PART, FakeS3, make_writer, payload
from tests.support.faults import FaultyStore

MULTI = 3 * PART + 123  # four parts
SMALL = 1000  # one PutObject


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 (AWS-like unless a test says otherwise)."""
    return FakeS3()


def upload(store: Transport, data: bytes, **options: object) -> UploadResult:
    """Write ``data`` and close; return the result."""
    with make_writer(store, **options) as w:
        w.write(data)
    return w.result


@pytest.mark.parametrize("size", [SMALL, MULTI], ids=["put", "multipart"])
def test_a_store_that_confirms_checksums_gives_store_checksum(fake: FakeS3, size: int) -> None:
    """Every part's checksum echoed by the store: integrity is "store-checksum"."""
    result = upload(fake, payload(size))
    assert result.integrity == "store-checksum"


@pytest.mark.parametrize("size", [SMALL, MULTI], ids=["put", "multipart"])
@pytest.mark.parametrize("checksum", ["crc64nvme", "md5", None])
def test_a_store_that_ignores_checksums_is_verified_by_etag(
    fake: FakeS3, size: int, checksum: str | None
) -> None:
    """No echo (Ceph RGW): s3sink compares each ETag with the MD5 of what it sent."""
    fake.checksum_mode = "ignore"
    result = upload(fake, payload(size), checksum=checksum)
    assert result.integrity == "etag-md5"
    assert fake.object_bytes(BUCKET, KEY) == payload(size)


@pytest.mark.parametrize("mode", ["ignore", "echo-unchecked"])
def test_a_part_corrupted_in_transit_is_sent_again(
    fake: FakeS3, faulty: FaultyStore, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A flipped byte that the store did not catch shows in the part's ETag: the part is
    sent again from the buffer still held, and the right bytes are published."""
    fake.checksum_mode = mode
    fake.checks_content_md5 = False  # as moto: only the ETag tells
    faulty.corrupt("upload_part", parts={2})
    data = payload(MULTI)
    with caplog.at_level(logging.WARNING, "s3sink"):
        result = upload(faulty, data, checksum="md5" if mode == "echo-unchecked" else "crc64nvme")
    assert fake.object_bytes(BUCKET, KEY) == data
    assert [c.part_number for c in fake.calls_of("upload_part")].count(2) == 2
    assert result.integrity == "etag-md5"
    assert "part 2 of s3://bkt/dir/obj.bin: the store received other bytes" in caplog.text


def test_a_store_that_echoes_without_checking_fools_the_default_but_not_md5(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """An echo is taken as the store's word: a store that echoes unchecked values needs
    checksum="md5", which compares ETags and sends Content-MD5."""
    fake.checksum_mode = "echo-unchecked"
    fake.checks_content_md5 = False
    faulty.corrupt("upload_part", parts={1})
    upload(faulty, payload(MULTI))
    assert fake.object_bytes(BUCKET, KEY) != payload(MULTI)  # why doctor recommends md5
    faulty.corrupt("upload_part", parts={1})
    upload(faulty, payload(MULTI), checksum="md5")
    assert fake.object_bytes(BUCKET, KEY) == payload(MULTI)


def test_a_part_the_store_refuses_as_corrupted_is_sent_again(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A store that checks (BadDigest) refuses the corrupted part; botocore does not retry a
    400, so s3sink sends it again itself."""
    faulty.corrupt("upload_part", parts={3}, times=2)
    data = payload(MULTI)
    result = upload(faulty, data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert [c.part_number for c in fake.calls_of("upload_part")].count(3) == 3
    assert result.integrity == "store-checksum"


@pytest.mark.parametrize("mode", ["aws", "ignore"])
def test_a_part_corrupted_every_time_fails_and_nothing_is_published(
    fake: FakeS3, faulty: FaultyStore, mode: str
) -> None:
    """After VERIFY_ATTEMPTS corrupted sends the part fails: aborted, nothing published."""
    fake.checksum_mode = mode
    faulty.corrupt("upload_part", parts={2}, times=VERIFY_ATTEMPTS)
    w = make_writer(faulty)
    w.write(payload(MULTI))
    with pytest.raises(PartUploadError) as info:
        w.close()
    assert info.value.part_number == 2
    assert [c.part_number for c in fake.calls_of("upload_part")].count(2) == VERIFY_ATTEMPTS
    assert w.state is State.ABORTED
    assert fake.objects == {}
    assert fake.live_uploads() == []


def test_a_corrupted_put_object_is_replaced(fake: FakeS3, faulty: FaultyStore) -> None:
    """A PutObject publishes as it lands: when its ETag shows other bytes, s3sink replaces
    the object it published (If-Match on that ETag) with the right bytes."""
    fake.checksum_mode = "ignore"
    faulty.corrupt("put_object")
    data = payload(SMALL)
    result = upload(faulty, data, if_none_match="*")
    assert fake.object_bytes(BUCKET, KEY) == data
    assert fake.count("put_object") == 2
    replacing = fake.calls_of("put_object")[1]
    assert replacing.error is None
    assert result.integrity == "etag-md5"


def test_a_put_object_corrupted_every_time_is_deleted(
    fake: FakeS3, faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Every PutObject corrupted: the corrupted object is deleted and close() fails."""
    fake.checksum_mode = "ignore"
    faulty.corrupt("put_object", times=VERIFY_ATTEMPTS)
    w = make_writer(faulty)
    w.write(payload(SMALL))
    with pytest.raises(CompleteError, match="3 times, so nothing was written"):
        w.close()
    assert fake.objects == {}
    assert fake.count("delete_object") == 1
    assert "deleted the corrupted object" in caplog.text


@pytest.mark.parametrize("size", [SMALL, MULTI], ids=["put", "multipart"])
def test_etags_that_are_no_md5_leave_the_upload_unverified(
    fake: FakeS3, size: int, caplog: pytest.LogCaptureFixture
) -> None:
    """SSE-KMS on a store that confirms no checksum: "unverified", with a warning why."""
    fake.checksum_mode = "ignore"
    fake.sse_kms = True
    with caplog.at_level(logging.WARNING, "s3sink"):
        result = upload(fake, payload(size))
    assert result.integrity == "unverified"
    assert "could not be verified" in caplog.text
    assert "SSE-KMS" in caplog.text


def test_md5_mode_sends_content_md5_a_checking_store_refuses_corruption(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """checksum="md5" sends Content-MD5 with every part: a store that checks it refuses a
    corrupted part, which is sent again; no flexible checksum travels."""
    fake.checksum_mode = "ignore"
    faulty.corrupt("upload_part", parts={1})
    data = payload(MULTI)
    result = upload(faulty, data, checksum="md5")
    assert fake.object_bytes(BUCKET, KEY) == data
    assert [c.error for c in fake.calls_of("upload_part") if c.part_number == 1] == [
        "BadDigest",
        None,
    ]
    assert result.checksum_algorithm == "md5"
    assert result.checksum is None
    assert fake.uploads == {}


def test_a_put_object_the_store_refuses_as_corrupted_is_sent_again(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A store that checks the PutObject's checksum refuses the corrupted one (BadDigest):
    nothing was published, and s3sink sends it again."""
    faulty.corrupt("put_object")
    data = payload(SMALL)
    result = upload(faulty, data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert [c.error for c in fake.calls_of("put_object")] == ["BadDigest", None]
    assert result.integrity == "store-checksum"
