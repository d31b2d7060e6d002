"""Interrupts at the worst moments and abort() racing close(): the writer never sends one
buffer twice, never publishes a partial stream, and says what happened."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from s3sink import S3MultipartWriter, State
from s3sink._upload.pool import PartPool
from tests.support.fakes import BUCKET, KEY, PART, WAIT, FakeS3, make_writer, payload, wait_until
from tests.support.faults import FaultyStore


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3."""
    return FakeS3()


def test_an_interrupt_right_after_a_part_is_queued_sends_it_once(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt just after a full part was handed to the pool: the part is in
    flight and no longer the writer's current buffer; close() aborts and nothing is
    published or sent twice."""
    real_submit = PartPool.submit
    fired = []

    def submit_then_interrupt(self: PartPool, *args: Any, **kwargs: Any) -> Any:
        future = real_submit(self, *args, **kwargs)
        if not fired:
            fired.append(True)
            raise KeyboardInterrupt
        return future

    monkeypatch.setattr(PartPool, "submit", submit_then_interrupt)
    w = make_writer(fake)
    with pytest.raises(KeyboardInterrupt):
        w.write(payload(PART + 10))  # the full part goes out when byte PART+1 arrives
    assert w.state is State.FAILED
    with pytest.raises(KeyboardInterrupt):
        w.close()  # re-raises the first error, and aborts
    assert w.state is State.ABORTED
    assert [c.part_number for c in fake.calls_of("upload_part")] == [1]
    assert fake.objects == {}
    assert fake.live_uploads() == []


def test_an_error_escaping_write_makes_close_abort(fake: FakeS3, faulty: FaultyStore) -> None:
    """Any exception out of write() marks the writer FAILED: close() aborts, never
    publishes what was buffered before."""
    faulty.fail("create_multipart_upload", "InternalError")
    w = make_writer(faulty)
    w.write(payload(PART))
    with pytest.raises(Exception, match="CreateMultipartUpload"):
        w.write(b"x")
    assert w.state is State.FAILED
    with pytest.raises(Exception, match="CreateMultipartUpload"):
        w.close()
    assert faulty.count("put_object") == 0
    assert fake.objects == {}


def test_abort_says_whether_it_aborted(fake: FakeS3) -> None:
    """abort() is True when nothing is published, False once the object is."""
    w = make_writer(fake)
    w.write(payload(100))
    assert w.abort() is True
    assert w.abort() is True  # idempotent
    done = make_writer(fake)
    done.write(payload(100))
    done.close()
    assert done.abort() is False
    assert fake.object_bytes(BUCKET, KEY) == payload(100)


def test_abort_racing_a_completing_close_waits_and_reports_the_publication(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """abort() from another thread while close() is publishing does not interrupt it: it
    waits, and returns False because the object was published."""
    gate = threading.Event()
    entered = threading.Event()

    def hold_complete() -> None:
        entered.set()
        assert gate.wait(WAIT)

    faulty.before("complete_multipart_upload", hold_complete)
    w: S3MultipartWriter = make_writer(faulty)
    w.write(payload(2 * PART + 1))
    closer = threading.Thread(target=w.close)
    closer.start()
    assert entered.wait(WAIT)
    results: list[bool] = []
    aborter = threading.Thread(target=lambda: results.append(w.abort()))
    aborter.start()
    aborter.join(0.2)
    assert aborter.is_alive()  # waits for close(), does not race it
    gate.set()
    closer.join(WAIT)
    aborter.join(WAIT)
    assert results == [False]
    assert w.state is State.COMPLETED
    assert fake.object_bytes(BUCKET, KEY) == payload(2 * PART + 1)


def test_abort_from_on_progress_while_close_waits_for_parts(
    fake: FakeS3, faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """on_progress calling abort() while close() waits for the parts in flight: no deadlock
    (callbacks run outside slots and locks, and the wait wakes on the cancellation), close()
    raises, nothing is published, and abort() says it aborted."""
    results: list[bool] = []
    holder: list[S3MultipartWriter] = []

    def on_progress(progress: Any) -> None:
        if progress.parts_done == 1 and not results:
            results.append(holder[0].abort())

    faulty.delay_parts(lambda number: 0.3 if number > 1 else 0.0)
    w = make_writer(faulty, on_progress=on_progress, concurrency=4, abort_timeout=30)
    holder.append(w)
    w.write(payload(3 * PART + 1))
    with pytest.raises(Exception, match="aborted"):
        w.close()
    wait_until(lambda: bool(results))  # the callback's abort() returns after close() raised
    assert results == [True]
    assert w.state is State.ABORTED
    assert fake.objects == {}
    assert fake.live_uploads() == []
    assert "still in flight" not in caplog.text  # the abort did not wait out its timeout


def test_abort_from_on_progress_during_write_does_not_stall(
    fake: FakeS3, caplog: pytest.LogCaptureFixture
) -> None:
    """on_progress calling abort() while write() is blocked on back-pressure: write()
    raises at once and the abort does not wait its whole abort_timeout for the very part
    whose callback called it."""
    holder: list[S3MultipartWriter] = []
    results: list[bool] = []

    def on_progress(progress: Any) -> None:
        if not results:
            results.append(holder[0].abort())

    w = make_writer(fake, on_progress=on_progress, concurrency=1, abort_timeout=30)
    holder.append(w)
    with pytest.raises(Exception, match="aborted"):
        for _ in range(8):
            w.write(payload(PART))
    wait_until(lambda: bool(results))  # write() raised first, then the abort finished
    assert results == [True]
    assert w.state is State.ABORTED
    assert fake.objects == {}
    assert fake.live_uploads() == []
    assert "still in flight" not in caplog.text


def test_every_progress_report_is_made_before_close_returns(fake: FakeS3) -> None:
    """Progress callbacks run after their part's slot is free, yet close() returns only once
    every one of them has run."""
    seen: list[int] = []

    def on_progress(progress: Any) -> None:
        time_to_think = 0.05
        threading.Event().wait(time_to_think)
        seen.append(progress.parts_done)

    w = make_writer(fake, on_progress=on_progress)
    w.write(payload(4 * PART + 1))
    w.close()
    assert len(seen) == w.result.parts
    assert max(seen) == w.result.parts


def test_an_interrupt_during_create_names_the_upload_it_may_have_made(
    fake: FakeS3, faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """KeyboardInterrupt after the store created the upload but before its id arrived: the
    abort cannot know the id, so it lists this key's uploads and names the one with the
    command that removes it, instead of leaving it unreported."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    faulty.after("create_multipart_upload", interrupt)
    w = make_writer(faulty)
    with pytest.raises(KeyboardInterrupt):
        w.write(payload(PART + 1))
    (orphan,) = fake.live_uploads()
    assert w.abort() is True
    assert f"upload {orphan} (started" in caplog.text
    assert f"s3sink uploads abort s3://{BUCKET}/{KEY} --upload-id {orphan}" in caplog.text


def test_a_second_interrupt_during_the_abort_is_reported(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A second Ctrl-C while aborting: the abort does not finish, and the log names the
    upload id and the exact command that finishes it."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    w = make_writer(faulty)
    w.write(payload(PART + 1))
    upload_id = w.upload_id
    faulty.before("abort_multipart_upload", interrupt)
    with pytest.raises(KeyboardInterrupt):
        w.abort()
    assert f"the abort of upload {upload_id} did not finish" in caplog.text
    assert f"s3sink uploads abort s3://{BUCKET}/{KEY} --upload-id {upload_id}" in caplog.text


@pytest.mark.parametrize("checksum", ["crc64nvme", "md5"])
def test_a_complete_that_wins_the_race_with_the_abort_is_reported_published(
    fake: FakeS3,
    faulty: FaultyStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    checksum: str,
) -> None:
    """Ctrl-C while the store is still processing CompleteMultipartUpload: the upload is
    still there, so the writer aborts; but the store finishes the Complete before the abort
    arrives. Asking once more after the abort finds the object: the writer reports it
    published (also without a whole-object checksum: by the multipart ETag of its parts)."""
    real_complete = fake.complete_multipart_upload
    processing: list[tuple[Any, ...]] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        processing.append((args, kwargs))  # the store has the request and works on it
        raise KeyboardInterrupt

    def store_finishes_first() -> None:
        for args, kwargs in processing:
            real_complete(*args, **kwargs)

    monkeypatch.setattr(fake, "complete_multipart_upload", interrupted)
    faulty.before("abort_multipart_upload", store_finishes_first)
    data = payload(2 * PART + 3)
    w = make_writer(faulty, checksum=checksum)
    w.write(data)
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert fake.count("abort_multipart_upload") == 1
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.state is State.COMPLETED
    assert w.result.size == len(data)
    assert w.result.parts == 3
    assert w.abort() is False
    assert "the store finished it before the abort" in caplog.text


def test_an_interrupted_complete_the_abort_beats_is_reported_aborted(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same interrupt, but the abort wins (the store drops the Complete): nothing is
    published and the writer says so."""

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "complete_multipart_upload", interrupted)
    w = make_writer(fake)
    w.write(payload(2 * PART + 3))
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert w.state is State.ABORTED
    assert fake.objects == {}
    assert fake.live_uploads() == []
    assert fake.count("head_object") >= 1  # it did look again
