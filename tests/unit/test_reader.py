"""ObjectReader on the in-memory store: round trips for every upload mode, the last range
withheld from a corrupted object, resumed ranges, an object replaced or deleted mid-read,
bounded memory with a slow consumer, early close, and RGW's bare If-Match."""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
from typing import Any

import pytest

from s3sink._read.config import ReadConfig
from s3sink._read.fileobj import S3Reader
from s3sink._read.reader import ObjectReader
from s3sink.errors import IntegrityError, ObjectChangedError, ReadError
from tests.support.fakes import BUCKET, KEY, FakeS3, MiB, b64, make_writer, payload
from tests.support.faults import FaultyStore

KiB = 1024
DATA = payload(10 * MiB + 12_345, seed=5)


def config(**options: Any) -> ReadConfig:
    options.setdefault("part_size", 1 * MiB)
    options.setdefault("concurrency", 3)
    options.setdefault("wait", lambda attempt: 0.0)
    return ReadConfig(**options)


def write(store: FakeS3, data: bytes = DATA, **options: Any) -> None:
    writer = make_writer(store, **options)
    writer.write(data)
    writer.close()


def read(store: Any, **options: Any) -> tuple[bytes, Any]:
    reader = ObjectReader(store, BUCKET, KEY, config(**options))
    out = bytearray()
    result = reader.copy_to(out.extend)
    return bytes(out), result


def chunks_until_error(reader: ObjectReader) -> tuple[list[bytes], BaseException]:
    got: list[bytes] = []
    with pytest.raises((IntegrityError, ReadError)) as caught:
        for view in reader.chunks():
            got.append(bytes(view))
    return got, caught.value


EXPECTED = {
    "crc64nvme": ("checksum-full-object", "checksum-full-object"),
    "crc32c": ("checksum-full-object", "checksum-full-object"),
    "crc32": ("checksum-full-object", "checksum-full-object"),
    "sha256": ("checksum-full-object", "checksum-composite"),
    "md5": ("etag-md5", "etag-md5"),
    "off": ("etag-md5", "etag-md5"),
}


@pytest.mark.parametrize("checksum", sorted(EXPECTED))
@pytest.mark.parametrize("size", [3 * MiB, len(DATA)], ids=["single", "multipart"])
def test_every_upload_mode_reads_back_verified(checksum: str, size: int) -> None:
    """What the writer uploads in each mode reads back byte for byte and verified, by the
    stored checksum or, without one, by the ETag's MD5s."""
    store = FakeS3()
    write(store, DATA[:size], checksum=checksum)
    data, result = read(store)
    assert data == DATA[:size]
    assert result.verified
    assert result.verified_by == EXPECTED[checksum][size > 5 * MiB]
    assert result.stored == result.computed
    assert result.size == size
    assert result.parts == (1 if size <= 5 * MiB else 3)


def test_a_wrong_stored_checksum_withholds_the_last_range() -> None:
    """The store recorded another CRC64NVME: every range but the last is handed over, then
    IntegrityError instead of the last, naming both values."""
    store = FakeS3()
    store.seed(
        BUCKET,
        KEY,
        DATA,
        parts=[5 * MiB, 5 * MiB, len(DATA) - 10 * MiB],
        checksums={"ChecksumCRC64NVME": b64(b"\0" * 8)},
    )
    reader = ObjectReader(store, BUCKET, KEY, config())
    got, error = chunks_until_error(reader)
    assert isinstance(error, IntegrityError)
    assert b"".join(got) == DATA[: len(b"".join(got))]
    assert len(b"".join(got)) < len(DATA)
    assert len(got) == reader.ranges - 1
    assert (error.verified_by, error.algorithm, error.stored) == (
        "checksum-full-object",
        "crc64nvme",
        b64(b"\0" * 8),
    )
    assert error.computed is not None
    assert "do not match what the store recorded" in str(error)


def test_an_object_in_one_range_hands_over_nothing_when_corrupted() -> None:
    """A byte flipped in transit in an object that is one range: not one byte reaches the
    consumer."""
    store = FakeS3()
    store.seed(BUCKET, KEY, DATA[:100_000])
    faulty = FaultyStore(store)
    faulty.corrupt("get_range")
    got, error = chunks_until_error(ObjectReader(faulty, BUCKET, KEY, config()))
    assert got == []
    assert isinstance(error, IntegrityError)


@pytest.mark.parametrize("checksum", ["crc64nvme", "sha256", "off"])
def test_a_byte_flipped_in_transit_is_never_a_clean_end(checksum: str) -> None:
    """A corrupted range (in the middle of the object) makes the read fail before its end,
    whatever the check."""
    store = FakeS3()
    write(store, checksum=checksum)
    faulty = FaultyStore(store)
    faulty.corrupt("get_range")
    got, error = chunks_until_error(ObjectReader(faulty, BUCKET, KEY, config()))
    assert isinstance(error, IntegrityError)
    assert len(b"".join(got)) < len(DATA)


def test_a_range_broken_mid_body_resumes_from_the_bytes_received(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection cut after 300 KiB of a range: the rest is asked for from there (a
    smaller GET), each retry logged, and the object reads back right."""
    store = FakeS3()
    write(store)
    faulty = FaultyStore(store)
    faulty.break_ranges(300 * KiB, times=2)
    with caplog.at_level(logging.WARNING, logger="s3sink"):
        data, result = read(faulty, concurrency=1)
    assert data == DATA
    assert result.verified
    sizes = [c.size for c in store.calls_of("get_range")]
    assert sizes[:3] == [MiB, MiB - 300 * KiB, MiB - 600 * KiB]
    assert "retrying GetObject of bytes 0-1048575 from byte 307200 (attempt 2 of 10)" in caplog.text


def test_a_range_that_keeps_breaking_fails_after_max_attempts() -> None:
    """Broken on every attempt: a ReadError after max_attempts GETs of that range."""
    store = FakeS3()
    write(store)
    faulty = FaultyStore(store)
    faulty.break_ranges(10 * KiB, times=None)
    with pytest.raises(ReadError, match="broke off 3 times") as caught:
        read(faulty, concurrency=1, max_attempts=3)
    assert not isinstance(caught.value, IntegrityError)
    assert store.count("get_range") == 3


def test_an_object_replaced_between_ranges_fails_as_changed() -> None:
    """Replaced after the first range was asked for: the next GET's If-Match is refused,
    ObjectChangedError, and nothing of the new version is handed over."""
    store = FakeS3()
    write(store)
    faulty = FaultyStore(store)
    calls = []

    def replace() -> None:
        calls.append(1)
        if len(calls) == 2:
            store.seed(BUCKET, KEY, b"new" * 1000)

    faulty.before("get_range", replace)
    got, error = chunks_until_error(ObjectReader(faulty, BUCKET, KEY, config(concurrency=1)))
    assert isinstance(error, ObjectChangedError)
    assert "changed while it was read" in str(error)
    assert b"".join(got) == DATA[: len(b"".join(got))]


def test_an_object_deleted_mid_read_fails_as_changed() -> None:
    """Deleted after the first range: ObjectChangedError (not "does not exist")."""
    store = FakeS3()
    write(store)
    faulty = FaultyStore(store)
    calls = []
    faulty.before(
        "get_range",
        lambda: calls.append(1) or (len(calls) == 2 and store.delete_object(BUCKET, KEY, None)),
    )
    _, error = chunks_until_error(ObjectReader(faulty, BUCKET, KEY, config(concurrency=1)))
    assert isinstance(error, ObjectChangedError)
    assert "deleted while it was read" in str(error)


def test_a_store_that_wants_a_bare_if_match_is_read_all_the_same() -> None:
    """RGW refuses the quoted ETag in If-Match: one HeadObject shows the ETag unchanged,
    and every GET goes on with the bare form."""
    store = FakeS3()
    write(store)
    store.bare_if_match = True
    data, result = read(store)
    assert data == DATA
    assert result.verified
    assert store.count("read_head") == 3  # the object, its first part, the check of the ETag


@pytest.mark.parametrize("max_memory", [2 * MiB, 5 * MiB])
def test_a_slow_consumer_keeps_memory_bounded(max_memory: int) -> None:
    """However slow the consumer, ranges are asked for only as buffers free up: GETs
    started never run ahead of the consumer by more than the buffers, and the buffers
    allocated never exceed max_memory."""
    store = FakeS3()
    big = payload(40 * MiB, seed=9)
    store.seed(BUCKET, KEY, big)
    reader = ObjectReader(store, BUCKET, KEY, config(max_memory=max_memory, concurrency=8))
    slots = max_memory // MiB
    out = bytearray()
    for index, view in enumerate(reader.chunks()):
        assert store.count("get_range") <= index + slots
        assert reader.peak_memory <= max_memory
        out += view
    assert hashlib.sha256(out).digest() == hashlib.sha256(big).digest()
    assert reader.peak_memory <= max_memory


def test_closing_early_stops_the_workers_and_frees_the_buffers() -> None:
    """A consumer that stops after the first range: closing joins the workers, no GET starts
    after it, and the buffers are dropped."""
    store = FakeS3()
    write(store)
    reader = ObjectReader(store, BUCKET, KEY, config())
    chunks = reader.chunks()
    next(chunks)
    chunks.close()
    assert reader.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("s3sink-read")]
    started = store.count("get_range")
    with pytest.raises(ValueError, match="closed"):
        next(reader.chunks())
    assert store.count("get_range") == started


def test_an_unclosed_file_object_is_collected_and_its_workers_stop() -> None:
    """An S3Reader dropped half read (no close): the collector finalises it, its workers
    end."""
    store = FakeS3()
    write(store)
    reader = S3Reader(ObjectReader(store, BUCKET, KEY, config()))
    reader.read(10)
    engine = reader._reader
    threads = [t for t in threading.enumerate() if t.name.startswith("s3sink-read")]
    assert threads
    del reader
    gc.collect()
    assert engine.closed
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_require_checksum_refuses_an_object_with_nothing_to_check_before_any_get() -> None:
    """SSE-KMS and no checksum: nothing to check the bytes against; with require_checksum
    an IntegrityError at open, no GET sent; without, a warning and verified False."""
    store = FakeS3()
    store.sse_kms = True
    write(store, checksum="off")
    with pytest.raises(IntegrityError, match="nothing to check the bytes against"):
        ObjectReader(store, BUCKET, KEY, config(require_checksum=True)).open()
    assert store.count("get_range") == 0
    data, result = read(store)
    assert data == DATA
    assert (result.verified, result.verified_by) == (False, None)


def test_a_missing_object_is_a_read_error_at_open() -> None:
    """No such key: ReadError from open(), before any GET."""
    store = FakeS3()
    with pytest.raises(ReadError, match="does not exist"):
        ObjectReader(store, BUCKET, KEY, config()).open()
    assert store.count("get_range") == 0


def test_an_empty_object_is_verified_without_a_get() -> None:
    """0 bytes: no range, and the checksum of nothing is checked."""
    store = FakeS3()
    store.seed(BUCKET, KEY, b"")
    data, result = read(store)
    assert data == b""
    assert result.verified
    assert store.count("get_range") == 0


def test_a_version_is_read_as_it_was() -> None:
    """version_id reads that version, though another is current."""
    store = FakeS3()
    old = store.seed(BUCKET, KEY, b"old" * 1000)
    store.seed(BUCKET, KEY, b"new" * 1000)
    data, result = read(store, version_id=old.version_id)
    assert data == b"old" * 1000
    assert result.version_id == old.version_id


def test_if_match_of_another_etag_fails_before_any_get() -> None:
    """if_match (say, a listing's ETag) that the object no longer has: ObjectChangedError."""
    store = FakeS3()
    store.seed(BUCKET, KEY, b"abc")
    with pytest.raises(ObjectChangedError):
        ObjectReader(store, BUCKET, KEY, config(if_match='"00"')).open()
    assert store.count("get_range") == 0


def test_a_failed_range_fails_the_read_whatever_the_consumer_waits_for() -> None:
    """Access denied on a GET: a ReadError, the first error, to the consumer."""
    store = FakeS3()
    write(store)
    faulty = FaultyStore(store)
    faulty.fail("get_range", "AccessDenied")
    with pytest.raises(ReadError, match="AccessDenied"):
        read(faulty)


def test_progress_counts_the_bytes_and_ranges_handed_over() -> None:
    """``progress()`` (what cat's display polls): bytes written out in order, ranges done and
    asked for, of the object's size and range count."""
    store = FakeS3()
    write(store)
    reader = ObjectReader(store, BUCKET, KEY, config(concurrency=2))
    reader.open()
    before = reader.progress()
    assert (before.bytes_delivered, before.size, before.ranges_done) == (0, len(DATA), 0)
    assert before.ranges == 11  # 10 MiB + 12,345 bytes in 1 MiB ranges
    seen = []
    for view in reader.chunks():
        seen.append((reader.progress(), len(view)))
    delivered = 0
    for i, (snapshot, length) in enumerate(seen):
        delivered += length
        assert (snapshot.bytes_delivered, snapshot.ranges_done) == (delivered, i + 1)
        assert snapshot.ranges_in_flight <= 2 + 1  # concurrency, and the one handed over
    assert reader.progress().bytes_delivered == len(DATA)
