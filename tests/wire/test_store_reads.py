"""The read half of BotoTransport over botocore's real HTTP path, against moto (and the fault
proxy for what moto cannot do): HeadObject with checksums and parts, ranged GETs read into
the caller's buffer, a broken body, a refused If-Match, the connection kept for the next
request."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import s3sink
from s3sink._read.config import ReadConfig
from s3sink._read.reader import ObjectReader
from s3sink._store.boto import BotoTransport
from s3sink._store.reading import max_attempts_of
from s3sink._store.transport import RangeBroken
from s3sink.errors import ObjectChangedError, ReadError
from tests.support.clirun import wait_for
from tests.support.fakes import Background, MiB, payload
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import make_client

DATA = payload(12 * MiB + 5, seed=3)


def upload(client: Any, bucket: str, key: str, data: bytes = DATA, **options: Any) -> None:
    options.setdefault("part_size", 5 * MiB)
    with s3sink.open(f"s3://{bucket}/{key}", "wb", client=client, **options) as writer:
        writer.write(data)


def read_all(transport: BotoTransport, bucket: str, key: str, start: int, end: int) -> bytes:
    stream = transport.get_range(bucket, key, start, end, if_match=None)
    out = bytearray(end - start)
    view = memoryview(out)
    done = 0
    try:
        while done < len(out):
            done += stream.readinto(view[done : done + 100_000])
    finally:
        stream.close()
    return bytes(out)


def test_read_head_gives_checksum_parts_and_first_part(s3_client: Any, bucket: str) -> None:
    """HeadObject: the size, the ETag, the FULL_OBJECT checksum; with PartNumber=1 the parts
    count and the first part's size; with PartNumber=3 the last part's."""
    upload(s3_client, bucket, "k")
    transport = BotoTransport(s3_client)
    head = transport.read_head(bucket, "k")
    assert head.size == len(DATA)
    assert head.etag.endswith('-3"')
    assert head.checksum_type == "FULL_OBJECT"
    assert set(head.checksums) == {"ChecksumCRC64NVME"}
    assert head.etag_is_md5
    first = transport.read_head(bucket, "k", part_number=1)
    assert (first.parts_count, first.part_size) == (3, 5 * MiB)
    assert transport.read_head(bucket, "k", part_number=3).part_size == 2 * MiB + 5


def test_read_head_of_a_missing_object_is_a_read_error(s3_client: Any, bucket: str) -> None:
    """A missing key is a ReadError that says so (not an ObjectChangedError)."""
    with pytest.raises(ReadError, match="does not exist") as caught:
        BotoTransport(s3_client).read_head(bucket, "nope")
    assert not isinstance(caught.value, ObjectChangedError)
    assert caught.value.__cause__ is not None


def test_get_range_reads_the_bytes_into_the_buffer(s3_client: Any, bucket: str) -> None:
    """A range across a part boundary, read with readinto straight from http.client's
    response (not urllib3's copying read)."""
    upload(s3_client, bucket, "k")
    transport = BotoTransport(s3_client)
    stream = transport.get_range(bucket, "k", 10, 20, if_match=None)
    assert stream._fp is not None  # the zero-copy path
    stream.close()
    start, end = 5 * MiB - 1000, 5 * MiB + 333_333
    assert read_all(transport, bucket, "k", start, end) == DATA[start:end]


def test_get_range_with_another_etag_is_object_changed(s3_client: Any, bucket: str) -> None:
    """If-Match of an ETag the object no longer has: 412, ObjectChangedError."""
    upload(s3_client, bucket, "k", b"x" * 100)
    with pytest.raises(ObjectChangedError, match="changed while it was read"):
        BotoTransport(s3_client).get_range(
            bucket, "k", 0, 10, if_match='"0123456789abcdef0123456789abcdef"'
        )


def test_a_range_read_to_its_end_leaves_its_connection_for_the_next(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """After a body read to its end the connection goes back to the pool: the next GET
    uses it (one client connection for both)."""
    upload(s3_client, bucket, "k")
    client = make_client(fault_proxy.endpoint_url)
    try:
        transport = BotoTransport(client)
        transport.read_head(bucket, "k")
        for start in (0, 1 * MiB):
            assert read_all(transport, bucket, "k", start, start + MiB) == DATA[start : start + MiB]
        assert fault_proxy.accepted == 1
    finally:
        client.close()


def test_a_body_cut_off_is_range_broken_after_the_bytes_received(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A connection reset mid-body: the bytes before it were delivered intact, then
    RangeBroken (which the reader resumes from)."""
    upload(s3_client, bucket, "k")
    client = make_client(fault_proxy.endpoint_url)
    try:
        fault_proxy.cut_response(300_000, method="GET")
        stream = BotoTransport(client).get_range(bucket, "k", 0, MiB, if_match=None)
        out = bytearray(MiB)
        view = memoryview(out)
        done = 0
        with pytest.raises(RangeBroken):
            while True:
                done += stream.readinto(view[done : done + 65_536])
        stream.close()
        assert 0 < done <= 300_000
        assert out[:done] == DATA[:done]
    finally:
        client.close()


def test_max_attempts_follow_the_client(s3_endpoint: str) -> None:
    """The reader resumes a range as often as the client tries a request."""
    assert max_attempts_of(make_client(s3_endpoint, retries={"total_max_attempts": 7})) == 7
    assert max_attempts_of(make_client(s3_endpoint, retries={"mode": "standard"})) == 3


def test_closing_a_reader_wakes_a_worker_stuck_in_a_stalled_body(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """The store stalls mid-body (for a minute): close() shuts the connection down under
    the worker blocked in its read, which ends at once, well within close()'s wait for
    workers (so the thread is gone when close() returns)."""
    upload(s3_client, bucket, "k")
    client = make_client(fault_proxy.endpoint_url)
    try:
        fault_proxy.pause_response(100_000, 60, method="GET")
        reader = ObjectReader(
            BotoTransport(client), bucket, "k", ReadConfig(part_size=MiB, concurrency=1)
        )
        consumer = Background(lambda: next(reader.chunks()))
        wait_for(lambda: any(e.method == "GET" for e in fault_proxy.log), 10)
        workers = [t for t in threading.enumerate() if t.name.startswith("s3sink-read")]
        assert workers
        reader.close()  # from another thread than the consumer's, as a finaliser may
        for worker in workers:
            assert not worker.is_alive()
        with pytest.raises(ValueError, match="closed"):
            consumer.join()
    finally:
        client.close()
