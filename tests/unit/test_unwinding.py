"""close() that comes from an unwinding, not a decision to publish: a plain
``io.TextIOWrapper(writer)`` (its ``__exit__`` after an error, its finaliser),
``contextlib.closing``, ``ExitStack`` and ``finally:`` blocks abort instead of publishing a
truncated stream (issue #12, item 6)."""

from __future__ import annotations

import contextlib
import gc
import io

import pytest

from s3sink import S3MultipartWriter, State
from tests.support.fakes import BUCKET, KEY, PART, FakeS3, make_writer, payload


def fail(message: str) -> None:
    raise OSError(message)


SIZES = pytest.mark.parametrize("size", [10, 2 * PART + 1], ids=["single", "multipart"])


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3."""
    return FakeS3()


def assert_aborted(fake: FakeS3, w: S3MultipartWriter) -> None:
    assert w.state is State.ABORTED
    assert (BUCKET, KEY) not in fake.objects
    assert fake.count("complete_multipart_upload") == 0
    assert fake.count("put_object") == 0
    assert fake.live_uploads() == []


@SIZES
def test_plain_text_wrapper_exiting_with_an_error_aborts(
    fake: FakeS3, size: int, caplog: pytest.LogCaptureFixture
) -> None:
    """TextIOWrapper.__exit__ flushes and closes the writer while the error propagates:
    the writer aborts, the original error reaches the caller, and a warning says why."""
    w = make_writer(fake)
    with pytest.raises(ValueError, match="producer broke"):  # noqa: SIM117
        with io.TextIOWrapper(w, encoding="utf-8") as text:
            text.write("x" * size)
            raise ValueError("producer broke")
    assert_aborted(fake, w)
    assert "close() was called while ValueError was being handled" in caplog.text
    assert "nothing was published" in caplog.text


@SIZES
def test_plain_text_wrapper_garbage_collected_aborts(fake: FakeS3, size: int) -> None:
    """The wrapper's finaliser calls the writer's _dealloc_warn and then close(): abort, with
    a ResourceWarning, instead of publishing."""
    w = make_writer(fake)
    holder: list[io.TextIOWrapper] = [io.TextIOWrapper(w, encoding="utf-8")]
    holder[0].write("y" * size)
    with pytest.warns(ResourceWarning, match="TextIOWrapper around it was garbage-collected"):
        holder.clear()
        gc.collect()
    assert_aborted(fake, w)


def test_buffered_writer_garbage_collected_aborts(fake: FakeS3) -> None:
    """io.BufferedWriter's finaliser warns its raw object the same way."""
    w = make_writer(fake)
    holder: list[io.BufferedWriter] = [io.BufferedWriter(w)]  # type: ignore[arg-type]
    holder[0].write(payload(PART + 1))
    with pytest.warns(ResourceWarning, match="BufferedWriter around it"):
        holder.clear()
        gc.collect()
    assert_aborted(fake, w)


def test_plain_text_wrapper_closed_normally_publishes(fake: FakeS3) -> None:
    """Without an error, the plain wrapper's close publishes everything."""
    w = make_writer(fake)
    with io.TextIOWrapper(w, encoding="utf-8") as text:
        text.write("z" * (PART + 7))
    assert w.state is State.COMPLETED
    assert fake.object_bytes(BUCKET, KEY) == b"z" * (PART + 7)


@pytest.mark.parametrize("how", ["closing", "exitstack", "finally"])
def test_close_while_an_error_propagates_aborts(fake: FakeS3, how: str) -> None:
    """closing(writer), an ExitStack callback and a finally: block all call close() while
    the error propagates."""
    w = make_writer(fake)
    with pytest.raises(KeyError):
        if how == "closing":
            with contextlib.closing(w):
                w.write(payload(2 * PART + 1))
                raise KeyError("stop")
        elif how == "exitstack":
            with contextlib.ExitStack() as stack:
                stack.callback(w.close)
                w.write(payload(2 * PART + 1))
                raise KeyError("stop")
        else:
            try:
                w.write(payload(2 * PART + 1))
                raise KeyError("stop")
            finally:
                w.close()
    assert_aborted(fake, w)


def test_writer_made_while_handling_an_error_publishes(fake: FakeS3) -> None:
    """An error report written from an except block: the error was already being handled
    when the writer was made, so closing there is a decision to publish."""
    try:
        fail("the job failed")
    except OSError:
        with make_writer(fake) as w:
            w.write(b"report")
        closed_here = make_writer(fake)
        closed_here.write(b"report 2")
        closed_here.close()
    assert w.state is State.COMPLETED
    assert closed_here.state is State.COMPLETED
    assert fake.object_bytes(BUCKET, KEY) == b"report 2"


def test_close_inside_an_except_block_aborts_and_after_it_publishes(fake: FakeS3) -> None:
    """Closing a writer made before the error from inside the handler aborts (the warning
    says so); closing after the handler publishes."""
    inside = make_writer(fake)
    inside.write(b"a")
    try:
        fail("transient")
    except OSError:
        inside.close()
    assert inside.state is State.ABORTED

    after = make_writer(fake)
    after.write(b"b")
    with contextlib.suppress(OSError):
        fail("transient")
    after.close()
    assert after.state is State.COMPLETED
    assert fake.object_bytes(BUCKET, KEY) == b"b"
