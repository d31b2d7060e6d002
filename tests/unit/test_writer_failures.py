"""S3MultipartWriter failure paths on the FakeS3, its faults injected by a FaultyStore in
front of it: first error wins, every abort path, garbage collection, failed create/complete,
lost responses and the part limit."""

from __future__ import annotations

import dataclasses
import gc
import io
import logging
import time
from typing import Any

import pytest

from s3sink import (
    AbortFailedError,
    CompleteError,
    PartLimitError,
    PartUploadError,
    PreconditionFailed,
    S3MultipartWriter,
    State,
    UploadCancelled,
    UploadError,
)
from s3sink._upload.abort import ABORT_ATTEMPTS
from s3sink._upload.policy import MAX_PARTS
from tests.support.fakes import (
    BUCKET,
    KEY,
    PART,
    WAIT,
    Background,
    CallLog,
    FakeClientError,
    FakeS3,
    MiB,
    ZeroSource,
    make_writer,
    payload,
    wait_until,
)
from tests.support.faults import FaultyStore


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 with the real 5 MiB minimum part size."""
    return FakeS3()


def assert_nothing_published(fake: FakeS3, sent: CallLog | None = None) -> None:
    """No object at the key, no upload left holding parts, and no Complete asked for (of
    the store, or of the FaultyStore the writer was given: ``sent``)."""
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []
    assert (sent or fake).count("complete_multipart_upload") == 0


def fail_inside_with(w: S3MultipartWriter, data: bytes, exc: BaseException) -> None:
    """Write ``data`` in a with block that then raises ``exc``."""
    with w:
        w.write(data)
        raise exc


def drop(writers: list[S3MultipartWriter]) -> None:
    """Drop the only reference to the writers and collect garbage."""
    writers.clear()
    gc.collect()


def cause_code(exc: BaseException) -> str:
    """The S3 error code an s3sink error was chained from."""
    cause = exc.__cause__
    assert isinstance(cause, FakeClientError), repr(cause)
    return cause.code


# -- first error wins ---------------------------------------------------------------------
def test_first_recorded_error_wins_and_poisons_the_writer(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """Of two failing parts the first failure is raised, from every later write and close."""
    faulty.fail("upload_part", "SlowDown", parts={1})
    faulty.fail("upload_part", "InternalError", parts={2})
    hold_1, hold_2 = faulty.hold_parts(1), faulty.hold_parts(2)
    w = make_writer(faulty, concurrency=4)
    w.write(payload(2 * PART + 1))  # parts 1 and 2 are in flight, both held
    hold_2.set()  # part 2 fails first ...
    wait_until(lambda: w.progress().parts_in_flight == 1)
    hold_1.set()  # ... then part 1
    wait_until(lambda: w.progress().parts_in_flight == 0)
    assert faulty.wait_for_calls("upload_part", 2)
    with pytest.raises(PartUploadError) as first:
        w.write(b"more")
    assert first.value.part_number == 2
    assert cause_code(first.value) == "InternalError"
    for _ in range(2):  # poisoned: the same error again, even for an empty write
        with pytest.raises(PartUploadError) as again:
            w.write(b"")
        assert again.value is first.value
    with pytest.raises(PartUploadError) as on_close:
        w.close()
    assert on_close.value is first.value
    assert w.state is State.ABORTED
    assert fake.count("abort_multipart_upload") == 1
    assert_nothing_published(fake, faulty)


def test_blocked_write_raises_when_a_part_fails(fake: FakeS3, faulty: FaultyStore) -> None:
    """A write() waiting for a slot wakes up with the part's error instead of hanging."""
    faulty.fail("upload_part", "InternalError")
    hold = faulty.hold_parts()
    w = make_writer(faulty, concurrency=1)
    writing = Background(lambda: w.write(payload(3 * PART)))
    assert faulty.wait_for_in_flight(1)
    assert not writing.done.wait(0.2)
    hold.set()
    with pytest.raises(PartUploadError) as info:
        writing.join()
    assert info.value.part_number == 1
    with pytest.raises(PartUploadError):
        w.close()
    assert_nothing_published(fake, faulty)


def test_part_failure_raises_from_close_naming_the_part(fake: FakeS3, faulty: FaultyStore) -> None:
    """A failed part makes close() raise PartUploadError (bucket, key, part, cause) and abort."""
    faulty.fail("upload_part", "InternalError", parts={2})
    hold = faulty.hold_parts(2)  # so that write() itself cannot see the failure yet
    w = make_writer(faulty)
    w.write(payload(3 * PART))
    hold.set()
    with pytest.raises(PartUploadError) as info:
        w.close()
    error = info.value
    assert (error.bucket, error.key, error.part_number) == (BUCKET, KEY, 2)
    assert error.upload_id == w.upload_id is not None
    assert f"s3://{BUCKET}/{KEY}" in str(error)
    assert "part 2" in str(error)
    assert cause_code(error) == "InternalError"
    assert w.state is State.ABORTED
    assert w.closed
    assert not w.writable()
    with pytest.raises(ValueError, match="aborted"):
        w.write(b"x")
    assert fake.count("abort_multipart_upload") == 1
    assert_nothing_published(fake, faulty)


# -- abort paths --------------------------------------------------------------------------
@pytest.mark.parametrize("size", [100, 2 * PART + 1], ids=["buffered", "multipart"])
def test_exception_inside_with_aborts(fake: FakeS3, size: int) -> None:
    """An exception in the with block aborts, publishes nothing and propagates unchanged."""
    boom = RuntimeError("producer died")
    w = make_writer(fake)
    with pytest.raises(RuntimeError) as info:
        fail_inside_with(w, payload(size), boom)
    assert info.value is boom
    assert w.state is State.ABORTED
    assert fake.count("put_object") == 0
    assert fake.count("abort_multipart_upload") == (1 if size > PART else 0)
    assert_nothing_published(fake)


def test_keyboard_interrupt_inside_with_aborts(fake: FakeS3) -> None:
    """Ctrl-C (a BaseException, not an Exception) inside the with block aborts too."""
    w = make_writer(fake)
    with pytest.raises(KeyboardInterrupt):
        fail_inside_with(w, payload(2 * PART + 1), KeyboardInterrupt())
    assert w.state is State.ABORTED
    assert fake.count("abort_multipart_upload") == 1
    assert_nothing_published(fake)


def test_abort_is_idempotent_and_waits_for_parts_in_flight(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """abort() waits for running parts before ListParts; a second abort() does nothing."""
    hold = faulty.hold_parts(2)
    faulty.delay_parts(lambda number: 0.2 if number == 2 else 0.0)
    faulty.after("abort_multipart_upload", hold.set)  # part 2 resumes only after the abort
    w = make_writer(faulty, concurrency=4)
    w.write(payload(2 * PART + 1))
    assert faulty.wait_for_part(2)
    w.abort()
    assert faulty.in_flight == 0
    part_2 = next(c for c in faulty.calls_of("upload_part") if c.part_number == 2)
    list_call = faulty.calls_of("list_parts")[0]
    assert part_2.end is not None
    assert part_2.end <= list_call.start
    assert part_2.error == "NoSuchUpload"
    calls = len(faulty.calls)
    w.abort()
    assert len(faulty.calls) == calls
    assert w.state is State.ABORTED
    with pytest.raises(ValueError, match="aborted"):
        w.write(b"x")
    assert_nothing_published(fake)


def test_abort_repeats_when_a_part_in_flight_survived(fake: FakeS3, faulty: FaultyStore) -> None:
    """A part that lands after the first abort is found by ListParts and aborted again."""
    faulty.leak_aborts(1)
    hold = faulty.hold_parts(2)
    faulty.after("abort_multipart_upload", hold.set)
    w = make_writer(faulty, concurrency=4)
    w.write(payload(2 * PART + 1))
    upload_id = w.upload_id
    assert upload_id is not None
    assert faulty.wait_for_part(2)  # in flight (held) when the first abort comes
    assert fake.wait_until(lambda: fake.stored_parts(upload_id) == [1])
    w.abort()
    assert fake.count("abort_multipart_upload") == 2
    assert fake.count("list_parts") == 2
    part_2 = next(c for c in fake.calls_of("upload_part") if c.part_number == 2)
    assert part_2.error is None  # it did land after the first abort
    assert upload_id not in fake.uploads
    assert_nothing_published(fake)


def test_abort_retries_a_transient_abort_failure(fake: FakeS3, faulty: FaultyStore) -> None:
    """One failed AbortMultipartUpload is retried; the upload ends up gone."""
    faulty.fail("abort_multipart_upload", "InternalError", times=1)
    w = make_writer(faulty)
    w.write(payload(PART + 1))
    w.abort()
    assert faulty.count("abort_multipart_upload") == 2
    assert_nothing_published(fake, faulty)


def test_abort_failure_raises_abort_failed_error_naming_the_upload(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """When every abort fails, AbortFailedError names the orphaned upload id."""
    faulty.fail("abort_multipart_upload", "InternalError")
    w = make_writer(faulty)
    w.write(payload(PART + 1))
    upload_id = w.upload_id
    assert upload_id is not None
    with pytest.raises(AbortFailedError) as info:
        w.abort()
    assert info.value.upload_id == upload_id
    assert upload_id in str(info.value)
    assert isinstance(info.value.__cause__, UploadError)
    assert cause_code(info.value.__cause__) == "InternalError"
    assert faulty.count("abort_multipart_upload") == ABORT_ATTEMPTS
    assert w.state is State.ABORTED
    assert fake.live_uploads() == [upload_id]  # honestly orphaned, as the error says


def test_abort_failure_inside_with_keeps_the_original_error(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed abort after an error in ``with`` keeps that error and logs the upload id."""
    faulty.fail("abort_multipart_upload", "InternalError")
    w = make_writer(faulty)
    with caplog.at_level(logging.WARNING, logger="s3sink"), pytest.raises(RuntimeError):
        fail_inside_with(w, payload(PART + 1), RuntimeError("producer died"))
    assert w.upload_id is not None
    assert w.upload_id in caplog.text
    assert w.state is State.ABORTED


def test_failed_close_with_failed_abort_raises_abort_failed_error(faulty: FaultyStore) -> None:
    """Complete and abort both failing: close() raises AbortFailedError over the CompleteError."""
    faulty.fail("complete_multipart_upload", "InternalError")
    faulty.fail("abort_multipart_upload", "InternalError")
    w = make_writer(faulty)
    w.write(payload(PART + 1))
    with pytest.raises(AbortFailedError) as info:
        w.close()
    assert isinstance(info.value.__context__, CompleteError)
    assert w.state is State.ABORTED


def test_abort_is_bounded_by_abort_timeout(
    fake: FakeS3, faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A part stuck in flight does not hold abort() beyond abort_timeout; it aborts again."""
    hold = faulty.hold_parts(2)
    w = make_writer(faulty, abort_timeout=0.2)
    w.write(payload(2 * PART + 1))
    upload_id = w.upload_id
    assert faulty.wait_for_part(2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="s3sink"):
        w.abort()
    assert time.monotonic() - started < WAIT
    assert f"{upload_id} still in flight" in caplog.text
    assert fake.count("abort_multipart_upload") == 2
    hold.set()  # the stuck part now fails with NoSuchUpload
    assert faulty.wait_for_calls("upload_part", 2)
    assert_nothing_published(fake, faulty)


def test_close_after_abort_is_a_no_op(fake: FakeS3) -> None:
    """close() after abort() neither raises nor completes, and there is no result."""
    w = make_writer(fake)
    w.write(payload(PART + 1))
    w.abort()
    w.close()
    assert fake.count("complete_multipart_upload") == 0
    with pytest.raises(ValueError, match="no result"):
        _ = w.result
    assert_nothing_published(fake)


# -- create / complete failures -------------------------------------------------------------
def test_create_failure_raises_from_write_and_publishes_nothing(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A failed CreateMultipartUpload surfaces from the write that needed it."""
    faulty.fail("create_multipart_upload", "AccessDenied")
    with pytest.raises(UploadError) as info, make_writer(faulty) as w:
        w.write(payload(PART + 1))
    assert cause_code(info.value) == "AccessDenied"
    assert w.state is State.ABORTED
    assert faulty.count("upload_part") == 0
    assert faulty.count("abort_multipart_upload") == 0  # there is no upload to abort
    assert_nothing_published(fake, faulty)


def test_put_failure_raises_from_close(fake: FakeS3, faulty: FaultyStore) -> None:
    """A failed single PutObject raises CompleteError from close(); the writer is closed."""
    faulty.fail("put_object", "InternalError")
    w = make_writer(faulty)
    w.write(b"small")
    with pytest.raises(CompleteError) as info:
        w.close()
    assert cause_code(info.value) == "InternalError"
    assert w.closed
    assert w.state is State.ABORTED
    assert (BUCKET, KEY) not in fake.objects


def test_complete_failure_aborts(fake: FakeS3, faulty: FaultyStore) -> None:
    """A failed Complete (object not there) raises CompleteError and aborts the upload."""
    faulty.fail("complete_multipart_upload", "InternalError")
    w = make_writer(faulty)
    w.write(payload(2 * PART + 1))
    with pytest.raises(CompleteError) as info:
        w.close()
    assert cause_code(info.value) == "InternalError"
    assert fake.count("head_object") == 1  # it checked whether the object landed anyway
    assert fake.count("abort_multipart_upload") == 1
    assert w.state is State.ABORTED
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []


def test_lost_complete_response_with_matching_object_succeeds(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A lost Complete response with our size and checksum at the key counts as success."""
    faulty.lose_response("complete_multipart_upload", "NoSuchUpload")
    data = payload(2 * PART + 1)
    with make_writer(faulty) as w:
        w.write(data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.etag == fake.objects[(BUCKET, KEY)].etag
    assert w.result.size == len(data)
    assert fake.count("abort_multipart_upload") == 0
    assert w.state is State.COMPLETED


def test_lost_complete_response_then_412_is_our_own_object(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """With if_none_match, the retried Complete of a lost response gets 412 from our own
    object: the upload is gone and the object matches, so this is success, not exit 4."""
    faulty.lose_response("complete_multipart_upload", "PreconditionFailed")
    data = payload(2 * PART + 1)
    with make_writer(faulty, if_none_match="*") as w:
        w.write(data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.state is State.COMPLETED


def test_genuine_412_on_complete_is_not_mistaken_for_ours(fake: FakeS3) -> None:
    """A 412 while our upload still exists is a real conflict, even when the existing
    object (written by someone else during the upload) happens to have our bytes:
    PreconditionFailed, and the upload is aborted."""
    data = payload(2 * PART + 1)
    w = make_writer(fake, if_none_match="*")
    w.write(data)
    existing = fake.seed(BUCKET, KEY, data)
    with pytest.raises(PreconditionFailed):
        w.close()
    assert fake.objects[(BUCKET, KEY)] is existing
    assert fake.live_uploads() == []


def test_lost_complete_response_with_different_object_fails(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A same-size object with another checksum is not ours: close() fails and aborts."""
    data = payload(2 * PART + 1)
    other = fake.seed(BUCKET, KEY, payload(len(data), seed=99))
    faulty.fail("complete_multipart_upload", "InternalError")
    w = make_writer(faulty)
    w.write(data)
    with pytest.raises(CompleteError):
        w.close()
    assert fake.objects[(BUCKET, KEY)] is other
    assert fake.count("abort_multipart_upload") == 1
    assert fake.live_uploads() == []


def test_lost_complete_response_without_checksum_is_recognised_by_etag(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """Without a whole-object checksum the writer recognises its object by the multipart
    ETag its parts' MD5s make (size and ETag both match)."""
    faulty.lose_response("complete_multipart_upload", "NoSuchUpload")
    data = payload(PART + 1)
    w = make_writer(faulty, checksum=None)
    w.write(data)
    w.close()
    assert w.state is State.COMPLETED
    assert w.result.etag == fake.objects[(BUCKET, KEY)].etag
    assert fake.object_bytes(BUCKET, KEY) == data


def test_lost_complete_response_without_checksum_or_md5_etags_is_a_failure(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """With neither a checksum nor MD5 part ETags (SSE-KMS) the writer cannot tell its
    object from another, so it reports failure."""
    faulty.lose_response("complete_multipart_upload", "NoSuchUpload")
    fake.sse_kms = True
    w = make_writer(faulty, checksum=None)
    w.write(payload(PART + 1))
    with pytest.raises(CompleteError):
        w.close()
    assert fake.count("head_object") == 0
    assert w.state is State.ABORTED


@pytest.mark.parametrize("size", [100, PART + 1], ids=["put", "multipart"])
def test_if_none_match_refuses_to_overwrite(fake: FakeS3, size: int) -> None:
    """if_none_match="*" on a key created during the upload: the final request's condition
    raises PreconditionFailed and changes nothing."""
    w = make_writer(fake, if_none_match="*")
    w.write(payload(size))
    existing = fake.seed(BUCKET, KEY, b"precious")
    with pytest.raises(PreconditionFailed):
        w.close()
    assert fake.objects[(BUCKET, KEY)] is existing
    assert fake.live_uploads() == []
    assert w.state is State.ABORTED


@pytest.mark.parametrize("how", ["write", "readinto_from", "close", "explicit"])
def test_conditions_are_checked_before_the_first_byte(fake: FakeS3, how: str) -> None:
    """An existing key with if_none_match (or another ETag with if_match) is refused by a
    HeadObject before any byte is taken: nothing created, sent or published, whatever
    the store would do with the condition on the final request."""
    existing = fake.seed(BUCKET, KEY, b"precious")
    for options in ({"if_none_match": "*"}, {"if_match": '"0123456789abcdef0123456789abcdef"'}):
        fake.calls.clear()
        w = make_writer(fake, **options)
        with pytest.raises(PreconditionFailed, match="nothing was written"):
            if how == "write":
                w.write(payload(2 * PART + 1))
            elif how == "readinto_from":
                w.readinto_from(io.BytesIO(payload(2 * PART + 1)))
            elif how == "close":
                w.close()
            else:
                w.check_conditions()
        w.abort()  # nothing to abort: no upload was created
        assert fake.ops() == ["head_object"]
        assert w.state is State.ABORTED
        assert fake.objects[(BUCKET, KEY)] is existing


@pytest.mark.parametrize("given", ["quoted", "bare"])
def test_if_match_takes_the_etag_with_or_without_quotes(fake: FakeS3, given: str) -> None:
    """if_match works whether the ETag is given as HeadObject shows it or without quotes."""
    existing = fake.seed(BUCKET, KEY, b"v1")
    etag = existing.etag if given == "quoted" else existing.etag.strip('"')
    with make_writer(fake, if_match=etag) as w:
        w.write(b"v2")
    assert fake.object_bytes(BUCKET, KEY) == b"v2"


def test_if_match_replaces_only_the_expected_version(fake: FakeS3) -> None:
    """if_match with the current ETag overwrites; with a stale one it is refused."""
    existing = fake.seed(BUCKET, KEY, b"v1")
    with make_writer(fake, if_match=existing.etag) as w:
        w.write(b"v2")
    assert fake.object_bytes(BUCKET, KEY) == b"v2"
    w = make_writer(fake, if_match=existing.etag)
    with pytest.raises(PreconditionFailed):  # refused before the first byte
        w.write(b"v3")
    w.abort()
    assert fake.object_bytes(BUCKET, KEY) == b"v2"
    w = make_writer(fake, if_match=fake.objects[(BUCKET, KEY)].etag)
    w.write(b"v4")
    fake.seed(BUCKET, KEY, b"changed during the upload")
    with pytest.raises(PreconditionFailed):  # refused by the final request
        w.close()
    assert fake.object_bytes(BUCKET, KEY) == b"changed during the upload"


# -- garbage collection ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [100, 2 * PART + 1], ids=["buffered", "multipart"])
def test_garbage_collected_writer_aborts_with_resource_warning(fake: FakeS3, size: int) -> None:
    """An unclosed writer that is garbage-collected aborts, warns, and never publishes."""
    writers = [make_writer(fake)]
    writers[0].write(payload(size))
    assert fake.wait_for_calls("upload_part", size // PART)
    with pytest.warns(ResourceWarning, match="without close"):
        drop(writers)
    assert fake.count("put_object") == 0
    assert fake.count("abort_multipart_upload") == (1 if size > PART else 0)
    assert_nothing_published(fake)


def test_garbage_collected_writer_with_part_in_flight_aborts(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """Parts in flight do not keep an abandoned writer alive: it is collected and aborts."""
    hold = faulty.hold_parts(2)
    faulty.after("abort_multipart_upload", hold.set)
    writers = [make_writer(faulty)]
    writers[0].write(payload(2 * PART + 1))
    assert faulty.wait_for_part(2)
    with pytest.warns(ResourceWarning):
        drop(writers)
    assert fake.count("abort_multipart_upload") >= 1
    assert faulty.in_flight == 0
    assert_nothing_published(fake, faulty)


# -- the part limit -------------------------------------------------------------------------
@pytest.mark.slow
def test_fixed_part_size_fills_exactly_10000_parts() -> None:
    """Fixed 5 MiB parts take a stream of exactly 10,000 parts (48.8 GiB)."""
    # The bytes are neither copied nor stored (a counting source and fake), so the real
    # writer path runs 10,000 parts in about a second.
    fake = FakeS3(store_bodies=False)
    w = make_writer(fake, fixed_part_size=True, checksum=None, concurrency=2)
    capacity = w.schedule.capacity
    assert capacity == MAX_PARTS * PART
    assert w.readinto_from(ZeroSource(capacity)) == capacity
    w.close()
    assert w.result.parts == MAX_PARTS
    assert fake.objects[(BUCKET, KEY)].size == capacity


@pytest.mark.slow
def test_one_byte_past_10000_parts_raises_part_limit_error() -> None:
    """The byte that would need part 10,001 raises PartLimitError; the upload is aborted."""
    fake = FakeS3(store_bodies=False)
    w = make_writer(fake, fixed_part_size=True, checksum=None, concurrency=2)
    capacity = w.schedule.capacity
    assert w.readinto_from(ZeroSource(capacity)) == capacity
    with pytest.raises(PartLimitError, match="10,000 parts") as info:
        w.write(b"x")
    assert "drop fixed part size" in str(info.value)
    assert info.value.upload_id == w.upload_id
    with pytest.raises(PartLimitError):
        w.close()
    assert fake.count("complete_multipart_upload") == 0
    assert fake.live_uploads() == []
    assert (BUCKET, KEY) not in fake.objects


def test_small_fixed_stream_is_far_from_the_part_limit(fake: FakeS3) -> None:
    """Fixed mode does not change small streams: equal parts and a short tail."""
    data = payload(3 * PART + MiB)
    with make_writer(fake, fixed_part_size=True) as w:
        w.write(data)
    calls = sorted(fake.calls_of("upload_part"), key=lambda c: c.part_number or 0)
    assert [c.size for c in calls] == [PART, PART, PART, MiB]


@pytest.mark.parametrize("corrupt", ["body", "size"])
def test_store_rejects_corrupted_bytes_or_size(
    fake: FakeS3, faulty: FaultyStore, corrupt: str
) -> None:
    """A part corrupted in transit (per-part checksum) or a wrong size claim (MpuObjectSize)
    is rejected by a validating store (the FakeS3, since moto validates neither): the upload
    fails, is aborted, and nothing is published."""
    if corrupt == "body":
        faulty.corrupt("upload_part", parts={2}, times=None)  # every send of part 2
    else:
        faulty.rewrite_commit(
            "complete_multipart_upload",
            lambda commit: dataclasses.replace(commit, size=(commit.size or 0) + 1),
        )
    w = S3MultipartWriter(BUCKET, KEY, transport=faulty, part_size=PART)
    w.write(payload(2 * PART + 1))
    with pytest.raises(UploadError):
        w.close()
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []
    assert w.state is State.ABORTED


def test_abort_from_another_thread_wakes_a_write_blocked_on_back_pressure() -> None:
    """A watchdog thread's abort() does not wait for the blocked write() to get a slot (which
    could take as long as a stalled part's retries): the write raises UploadCancelled at once,
    and the abort goes ahead."""
    fake = FakeS3()
    faulty = FaultyStore(fake)
    hold = faulty.hold_parts()
    w = make_writer(faulty, concurrency=1, abort_timeout=WAIT)
    writing = Background(lambda: w.write(payload(3 * PART)))  # part 1 held, part 2 waits
    assert faulty.wait_for_in_flight(1)
    assert not writing.done.wait(0.2)  # blocked on back-pressure, holding the writer's lock
    aborting = Background(w.abort)
    assert writing.done.wait(WAIT)
    with pytest.raises(UploadCancelled):
        writing.join()
    hold.set()  # the part in flight may now finish; the abort confirms and returns
    aborting.join()
    assert w.state is State.ABORTED
    assert fake.live_uploads() == []
    assert fake.objects == {}


@pytest.mark.parametrize("size", [PART + 1, 100], ids=["multipart", "single-put"])
@pytest.mark.parametrize("reached_store", [True, False], ids=["after-commit", "before-commit"])
def test_interrupt_during_the_commit_request_reports_what_happened(
    monkeypatch: pytest.MonkeyPatch, size: int, reached_store: bool
) -> None:
    """Ctrl-C while CompleteMultipartUpload (or PutObject) is in flight: if the store had
    already published the object, close() still raises the interrupt but the writer says
    COMPLETED, with the result; if it had not, the upload is aborted and nothing exists."""
    fake = FakeS3()
    op = "complete_multipart_upload" if size > PART else "put_object"
    real = getattr(fake, op)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if reached_store:
            real(*args, **kwargs)  # the store acted; the response is what got interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, op, interrupted)
    data = payload(size)
    w = make_writer(fake)
    w.write(data)
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert fake.live_uploads() == []
    if reached_store:
        assert w.state is State.COMPLETED
        assert w.result.size == size
        assert fake.object_bytes(BUCKET, KEY) == data
    else:
        assert w.state is State.ABORTED
        assert fake.objects == {}
