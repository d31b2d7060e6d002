"""s3sink.open: binary and text mode, and text mode's abort-safety (smart_open#684/#763), on the
FakeS3. The client open() builds itself, against moto: tests/wire/test_wire.py."""

from __future__ import annotations

import gc
import io

import pytest

import s3sink
from s3sink import InvalidLocationError, S3MultipartWriter, State, UsageError
from s3sink._api import AbortingTextWriter
from tests.support.fakes import BUCKET, KEY, PART, URI, FakeS3, payload
from tests.support.faults import FaultyStore


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 with the real 5 MiB minimum part size."""
    return FakeS3()


def write_then_raise(f: io.IOBase, text: str, exc: BaseException) -> None:
    """Write ``text`` inside the file's with block, then raise ``exc``."""
    with f:
        f.write(text)  # type: ignore[attr-defined]
        raise exc


def test_binary_mode_returns_the_writer(fake: FakeS3) -> None:
    """mode "wb" (the default) returns the S3MultipartWriter itself."""
    with s3sink.open(URI, transport=fake, part_size=PART) as f:
        assert isinstance(f, S3MultipartWriter)
        assert (f.bucket, f.key) == (BUCKET, KEY)
        f.write(b"binary")
    assert fake.object_bytes(BUCKET, KEY) == b"binary"


def test_text_mode_writes_utf8_by_default(fake: FakeS3) -> None:
    """mode "w" wraps the writer in text mode, UTF-8 unless told otherwise."""
    with s3sink.open(URI, "w", transport=fake) as f:
        assert isinstance(f, io.TextIOWrapper)
        f.write("grüße ✓\n")
        f.write("second line\n")
    assert fake.object_bytes(BUCKET, KEY) == "grüße ✓\nsecond line\n".encode()


def test_text_mode_options(fake: FakeS3) -> None:
    """encoding, errors and newline are passed to the text layer."""
    with s3sink.open(URI, "wt", transport=fake, encoding="latin-1", newline="\r\n") as f:
        f.write("café\n")
    assert fake.object_bytes(BUCKET, KEY) == "café\r\n".encode("latin-1")
    with s3sink.open(URI, "w", transport=fake, encoding="ascii", errors="replace") as f:
        f.write("naïve")
    assert fake.object_bytes(BUCKET, KEY) == b"na?ve"


def test_text_mode_multipart_round_trip(fake: FakeS3) -> None:
    """Text mode streams a multipart object when the text outgrows a part."""
    line = "λ-line of text ✓\n"
    text = line * (2 * PART // len(line.encode()) + 10)
    with s3sink.open(URI, "w", transport=fake, part_size=PART) as f:
        f.write(text)
    assert fake.object_bytes(BUCKET, KEY).decode() == text
    assert fake.objects[(BUCKET, KEY)].parts == 3


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()], ids=type)
def test_exception_in_text_mode_with_aborts(fake: FakeS3, exc: BaseException) -> None:
    """An exception in ``with s3sink.open(uri, "w")`` aborts unpublished (smart_open#763)."""
    f = s3sink.open(URI, "w", transport=fake)
    with pytest.raises(type(exc)):
        write_then_raise(f, "partial line", exc)
    assert fake.calls == []
    assert (BUCKET, KEY) not in fake.objects
    assert isinstance(f, AbortingTextWriter)
    assert f.buffer.state is State.ABORTED


def test_exception_in_text_mode_with_aborts_multipart(fake: FakeS3) -> None:
    """The same once parts were sent: the multipart upload is aborted, nothing published."""
    f = s3sink.open(URI, "w", transport=fake, part_size=PART)
    with pytest.raises(RuntimeError):
        write_then_raise(f, "x" * (2 * PART + 1), RuntimeError("producer died"))
    assert fake.count("abort_multipart_upload") == 1
    assert fake.count("complete_multipart_upload") == 0
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []


def test_exception_in_binary_mode_with_aborts(fake: FakeS3) -> None:
    """Binary mode aborts on an exception too."""
    f = s3sink.open(URI, "wb", transport=fake)
    with pytest.raises(RuntimeError):
        write_then_raise(f, b"partial", RuntimeError("boom"))  # type: ignore[arg-type]
    assert fake.calls == []
    assert (BUCKET, KEY) not in fake.objects


def collect(holder: list[object]) -> None:
    """Drop the only reference to the file objects and collect garbage."""
    holder.clear()
    gc.collect()


@pytest.mark.parametrize("size", [10, 2 * PART + 1], ids=["buffered", "multipart"])
def test_garbage_collected_text_wrapper_aborts(fake: FakeS3, size: int) -> None:
    """A garbage-collected open text wrapper aborts with a ResourceWarning, never completes."""
    # A plain TextIOWrapper's finaliser would call close() and publish the truncated text.
    holder: list[object] = [s3sink.open(URI, "w", transport=fake, part_size=PART)]
    holder[0].write("y" * size)  # type: ignore[attr-defined]
    with pytest.warns(ResourceWarning, match="without close"):
        collect(holder)
    assert fake.count("put_object") == 0
    assert fake.count("complete_multipart_upload") == 0
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []


def test_text_wrapper_abort(fake: FakeS3) -> None:
    """abort() on the text wrapper discards everything; close() afterwards does nothing."""
    f = s3sink.open(URI, "w", transport=fake, part_size=PART)
    f.write("z" * (PART + 1))
    f.abort()
    f.close()
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []


def test_text_wrapper_close_propagates_upload_errors(fake: FakeS3, faulty: FaultyStore) -> None:
    """A failing upload surfaces from the text wrapper's close(), and nothing is published."""
    faulty.fail("put_object", "InternalError")
    f = s3sink.open(URI, "w", transport=faulty)
    f.write("data")
    with pytest.raises(s3sink.CompleteError):
        f.close()
    assert (BUCKET, KEY) not in fake.objects


@pytest.mark.parametrize("mode", ["a", "ab", "w+", "wb+", "r+", "rb+", "x", "", "b"])
def test_bad_modes_are_usage_errors(fake: FakeS3, mode: str) -> None:
    """Only "wb", "w" and "wt" (and "rb", "r", "rt" to read) are accepted."""
    with pytest.raises(UsageError, match="mode"):
        s3sink.open(URI, mode, transport=fake)  # type: ignore[call-overload]
    assert fake.calls == []


@pytest.mark.parametrize("option", [{"encoding": "utf-8"}, {"errors": "strict"}, {"newline": ""}])
def test_text_options_in_binary_mode_are_usage_errors(fake: FakeS3, option: dict[str, str]) -> None:
    """encoding/errors/newline make no sense in binary mode."""
    with pytest.raises(UsageError, match="text mode"):
        s3sink.open(URI, "wb", transport=fake, **option)


@pytest.mark.parametrize("uri", ["bkt/key", "s3://", "s3://bkt", "s3://bkt/", "http://bkt/k"])
def test_bad_uris_are_invalid_location_errors(fake: FakeS3, uri: str) -> None:
    """A malformed URI is an InvalidLocationError (a UsageError)."""
    with pytest.raises(InvalidLocationError):
        s3sink.open(uri, transport=fake)


def test_writer_options_pass_through(fake: FakeS3) -> None:
    """Writer options (here part size and checksum) reach the writer."""
    with s3sink.open(URI, "wb", transport=fake, part_size=6 * 1024 * 1024, checksum="crc32") as f:
        f.write(payload(7 * 1024 * 1024))
    assert fake.objects[(BUCKET, KEY)].parts == 2
    assert "ChecksumCRC32" in fake.objects[(BUCKET, KEY)].checksums


def test_open_refuses_a_client_with_connection_options(fake: FakeS3) -> None:
    """endpoint_url with a client of one's own is ambiguous: a usage error, before any I/O."""
    with pytest.raises(s3sink.UsageError, match="pass no client"):
        s3sink.open("s3://bkt/k", endpoint_url="http://127.0.0.1:9", transport=fake)
    with pytest.raises(s3sink.UsageError, match="invalid endpoint_url"):
        s3sink.open("s3://bkt/k", endpoint_url="ftp://x")
