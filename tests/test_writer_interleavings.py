"""Interrupts at the worst moments and abort() racing close(): the writer never sends one
buffer twice, never publishes a partial stream, and says what happened."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from s3sink import S3MultipartWriter, State
from s3sink._pool import PartPool
from tests.fakes import BUCKET, KEY, PART, WAIT, FakeS3, make_writer, payload


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


def test_an_error_escaping_write_makes_close_abort(fake: FakeS3) -> None:
    """Any exception out of write() marks the writer FAILED: close() aborts, never
    publishes what was buffered before."""
    fake.fail_create = "InternalError"
    w = make_writer(fake)
    w.write(payload(PART))
    with pytest.raises(Exception, match="CreateMultipartUpload"):
        w.write(b"x")
    assert w.state is State.FAILED
    with pytest.raises(Exception, match="CreateMultipartUpload"):
        w.close()
    assert fake.count("put_object") == 0
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
    fake: FakeS3,
) -> None:
    """abort() from another thread while close() is publishing does not interrupt it: it
    waits, and returns False because the object was published."""
    gate = threading.Event()
    entered = threading.Event()

    def hold_complete() -> None:
        entered.set()
        assert gate.wait(WAIT)

    fake.before["complete_multipart_upload"] = hold_complete
    w: S3MultipartWriter = make_writer(fake)
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
