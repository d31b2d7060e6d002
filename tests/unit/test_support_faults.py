"""The test support works: FaultyStore in front of a FakeS3 fails, holds, corrupts and loses
exactly the calls it was told to, and records every call the writer made."""

from __future__ import annotations

import threading

import pytest

from s3sink._store.transport import Commit, CompletedPart
from s3sink.errors import CompleteError, PartUploadError, UploadError
from tests.support.fakes import BUCKET, KEY, PART, WAIT, FakeS3, payload
from tests.support.faults import FaultyStore

NO_EXTRA: dict[str, str] = {}


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 (tests/unit/conftest.py puts the FaultyStore in front of it)."""
    return FakeS3()


def start_upload(faulty: FaultyStore) -> str:
    return faulty.create_multipart_upload(
        BUCKET, KEY, extra=NO_EXTRA, checksum_algorithm=None, checksum_type=None
    )


def send_part(faulty: FaultyStore, upload_id: str, number: int, body: bytes) -> str:
    receipt = faulty.upload_part(
        BUCKET, KEY, upload_id, number, body, extra=NO_EXTRA, checksum=None
    )
    return receipt.etag


def test_a_failure_is_the_s3_error_and_never_reaches_the_store(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """fail() raises what BotoTransport raises for the code, limited to its parts and times;
    the store sees only the calls that got through, the wrapper all of them."""
    faulty.fail("upload_part", "InternalError", parts={2}, times=1)
    upload_id = start_upload(faulty)
    send_part(faulty, upload_id, 1, b"a")
    with pytest.raises(PartUploadError) as info:
        send_part(faulty, upload_id, 2, b"b")
    assert (info.value.part_number, info.value.upload_id) == (2, upload_id)
    assert getattr(info.value.__cause__, "code", None) == "InternalError"
    send_part(faulty, upload_id, 2, b"b")  # the one time is used up
    assert fake.stored_parts(upload_id) == [1, 2]
    assert [c.error for c in faulty.calls_of("upload_part")] == [None, "InternalError", None]
    assert fake.count("upload_part") == 2


def test_a_held_part_is_in_flight_until_released(fake: FakeS3, faulty: FaultyStore) -> None:
    """hold_parts(): the call is recorded and counted in flight at the wrapper while it waits,
    and reaches the store only once the Event is set."""
    hold = faulty.hold_parts(1)
    upload_id = start_upload(faulty)
    sender = threading.Thread(target=send_part, args=(faulty, upload_id, 1, b"a"))
    sender.start()
    assert faulty.wait_for_in_flight(1)
    assert fake.count("upload_part") == 0
    hold.set()
    sender.join(WAIT)
    assert faulty.in_flight == 0
    assert fake.stored_parts(upload_id) == [1]


def test_corruption_flips_a_byte_of_a_copy(fake: FakeS3, faulty: FaultyStore) -> None:
    """corrupt(): the store receives the middle byte flipped, the caller's buffer stays as
    it was, and only ``times`` sends are corrupted."""
    fake.checksum_mode = "ignore"
    faulty.corrupt("put_object", times=1)
    body = bytearray(b"abcde")
    faulty.put_object(BUCKET, KEY, body, extra=NO_EXTRA, commit=Commit())
    assert body == b"abcde"
    assert fake.object_bytes(BUCKET, KEY) == b"ab\x9cde"
    faulty.put_object(BUCKET, KEY, body, extra=NO_EXTRA, commit=Commit())
    assert fake.object_bytes(BUCKET, KEY) == b"abcde"


def test_a_lost_response_raises_after_the_store_acted(fake: FakeS3, faulty: FaultyStore) -> None:
    """lose_response(): the store publishes, the caller gets the error it was told."""
    faulty.lose_response("put_object", "PreconditionFailed")
    with pytest.raises(UploadError) as info:
        faulty.put_object(BUCKET, KEY, b"data", extra=NO_EXTRA, commit=Commit())
    assert type(info.value).__name__ == "PreconditionFailed"
    assert fake.object_bytes(BUCKET, KEY) == b"data"


def test_a_rewritten_commit_reaches_the_store(fake: FakeS3, faulty: FaultyStore) -> None:
    """rewrite_commit(): the store checks what the wrapper let through (a wrong size)."""
    faulty.rewrite_commit("complete_multipart_upload", lambda c: Commit(size=(c.size or 0) + 1))
    upload_id = start_upload(faulty)
    data = payload(PART)
    etag = send_part(faulty, upload_id, 1, data)
    with pytest.raises(CompleteError):
        faulty.complete_multipart_upload(
            BUCKET,
            KEY,
            upload_id,
            [CompletedPart(1, etag, len(data))],
            extra=NO_EXTRA,
            commit=Commit(size=len(data)),
        )
    assert fake.objects == {}


def test_hooks_run_around_a_call_and_after_only_on_success(faulty: FaultyStore) -> None:
    """before() runs as the call arrives, even one that fails; after() only once it succeeded."""
    seen: list[str] = []
    faulty.before("head_object", lambda: seen.append("before"))
    faulty.after("head_object", lambda: seen.append("after"))
    assert faulty.head_object(BUCKET, KEY) is None
    faulty.fail("head_object", "InternalError")
    with pytest.raises(UploadError):
        faulty.head_object(BUCKET, KEY)
    assert seen == ["before", "after", "before"]


def test_a_leaked_abort_lets_a_part_in_flight_land(fake: FakeS3, faulty: FaultyStore) -> None:
    """leak_aborts(): the parts stored are freed, a part still arriving lands, and the next
    abort removes the upload."""
    faulty.leak_aborts(1)
    upload_id = start_upload(faulty)
    send_part(faulty, upload_id, 1, b"a")
    faulty.abort_multipart_upload(BUCKET, KEY, upload_id)
    assert fake.stored_parts(upload_id) == []
    send_part(faulty, upload_id, 2, b"b")
    assert fake.live_uploads() == [upload_id]
    faulty.abort_multipart_upload(BUCKET, KEY, upload_id)
    assert fake.live_uploads() == []
