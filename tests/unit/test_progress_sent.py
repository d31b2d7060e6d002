"""Progress counts bytes as they are sent, not only when the store acknowledges a part: a
part in flight shows in ``Progress.bytes_sending`` as the HTTP layer reads its body, a retry
takes back what its failed attempt had counted, and the signer's hashing read counts nothing.

The store below reads each body as botocore and http.client do (``BufferBody``: a hashing
read, a seek back, ``before-send``, then blocks), stopping at named checkpoints where the test
takes a snapshot: an interleaving forced by events, no timing."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from s3sink._results import Progress
from s3sink._store.body import BufferBody, start_sending
from s3sink._store.transport import (
    Body,
    Commit,
    PartChecksum,
    PartReceipt,
    SendCounter,
    StoredObject,
)
from s3sink.errors import PartUploadError
from tests.support.fakes import BUCKET, KEY, WAIT, Background, FakeS3, make_writer
from tests.support.faults import FaultyStore

MiB = 1024 * 1024
BLOCK = 16 * 1024  # what urllib3 reads from a file-like body at a time


class Checkpoints:
    """The sending thread stops at each checkpoint until the test lets it go on."""

    def __init__(self) -> None:
        self._arrived: queue.Queue[str] = queue.Queue()
        self._go = threading.Semaphore(0)

    def stop_at(self, name: str) -> None:
        self._arrived.put(name)
        assert self._go.acquire(timeout=WAIT), f"checkpoint {name} never released"

    def reached(self) -> str:
        try:
            return self._arrived.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("no checkpoint reached") from None

    def go_on(self) -> None:
        self._go.release()


class WireStore(FakeS3):
    """A FakeS3 whose part 1 (or one PutObject) goes over a fake wire: hashed by the signer,
    half sent, cut and sent again (a retry), with a checkpoint at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.checkpoints = Checkpoints()

    def _send(self, body: Body, sent: SendCounter | None) -> None:
        stream = BufferBody(body, counter=sent)
        request = SimpleNamespace(body=stream)
        size = len(stream)
        stream.read()  # the signer hashes the payload
        self.checkpoints.stop_at("hashed")
        stream.seek(0)
        start_sending(request=request)
        _send_blocks(stream, size // 2)
        self.checkpoints.stop_at("half sent")
        stream.seek(0)  # the connection broke: botocore rewinds for its retry
        self.checkpoints.stop_at("rewound")
        stream.read()  # the retry is signed again
        stream.seek(0)
        start_sending(request=request)
        _send_blocks(stream, size // 4)
        self.checkpoints.stop_at("retry quarter sent")
        _send_blocks(stream, size)
        self.checkpoints.stop_at("all sent")
        stream.close()

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Body,
        *,
        extra: Mapping[str, Any],
        checksum: PartChecksum | None,
        content_md5: str | None = None,
        sent: SendCounter | None = None,
    ) -> PartReceipt:
        if part_number == 1:
            self._send(body, sent)
        return super().upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            body,
            extra=extra,
            checksum=checksum,
            content_md5=content_md5,
            sent=sent,
        )

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        extra: Mapping[str, Any],
        commit: Commit,
        sent: SendCounter | None = None,
    ) -> StoredObject:
        self._send(body, sent)
        return super().put_object(bucket, key, body, extra=extra, commit=commit, sent=sent)


def _send_blocks(stream: BufferBody, limit: int) -> None:
    """Read until ``limit`` bytes of the body were read, a block at a time, as urllib3 does."""
    while stream.tell() < limit:
        if not stream.read(min(BLOCK, limit - stream.tell())):
            break


def _walk(store: WireStore, snapshot: Callable[[], Progress]) -> Iterator[tuple[str, Progress]]:
    """Each checkpoint of the send, with the snapshot taken while it is held."""
    for _ in range(5):
        name = store.checkpoints.reached()
        yield name, snapshot()
        store.checkpoints.go_on()


@pytest.mark.timeout(60)
def test_a_part_in_flight_counts_as_it_is_sent() -> None:
    """Part 1 in flight: nothing counts while the signer hashes it; half of it sent shows
    as bytes_sending with nothing uploaded yet; a retry's rewind takes it back and the
    retry counts anew (no double count); once acknowledged, bytes_sending is 0 again and
    bytes_uploaded is the whole stream."""
    store = WireStore()
    part = 5 * MiB
    data = bytes(range(256)) * (6 * MiB // 256)
    writer = make_writer(store)
    writer.write(data)  # part 1 goes to the pool; 1 MiB stays in the buffer
    seen = dict(_walk(store, writer.progress))
    writer.close()
    assert [(s.bytes_sending, s.bytes_uploaded) for s in seen.values()] == [
        (0, 0),  # hashed: the signer's read is no send
        (part // 2, 0),
        (0, 0),  # rewound for the retry
        (part // 4, 0),  # the retry, not half plus a quarter
        (part, 0),
    ]
    assert list(seen) == ["hashed", "half sent", "rewound", "retry quarter sent", "all sent"]
    assert all(s.parts_in_flight == 1 and s.parts_done == 0 for s in seen.values())
    assert seen["half sent"].bytes_sent == part // 2
    done = writer.progress()
    assert (done.bytes_sending, done.bytes_uploaded, done.bytes_sent) == (0, len(data), len(data))
    assert store.object_bytes(BUCKET, KEY) == data


@pytest.mark.timeout(60)
def test_the_single_put_counts_as_it_is_sent() -> None:
    """A stream that fits in one PutObject: its bytes count as they are sent, a retry takes
    them back, and the acknowledged size replaces them in one step."""
    store = WireStore()
    data = b"x" * MiB
    writer = make_writer(store)
    writer.write(data)
    closing = Background(writer.close)
    seen = dict(_walk(store, writer.progress))
    closing.join()
    assert [s.bytes_sending for s in seen.values()] == [0, MiB // 2, 0, MiB // 4, MiB]
    assert all(s.bytes_uploaded == 0 for s in seen.values())
    done = writer.progress()
    assert (done.bytes_sending, done.bytes_uploaded) == (0, len(data))


@pytest.mark.timeout(60)
def test_a_failed_part_stops_counting() -> None:
    """A part sent whole whose answer never comes (the request fails) no longer counts as
    being sent, nor as uploaded."""
    faulty = FaultyStore(FakeS3())
    faulty.lose_response("upload_part", "InternalError")
    writer = make_writer(faulty)
    with pytest.raises(PartUploadError):
        writer.write(bytes(6 * MiB))
        writer.close()
    snapshot = writer.progress()
    assert (snapshot.bytes_sending, snapshot.bytes_uploaded) == (0, 0)


def test_the_counter_follows_the_sending_reads_only() -> None:
    """BufferBody: reads before before-send add nothing; reads after it add their length; a
    seek sets the count back to 0; a new body for the same counter starts from 0."""
    counter = SendCounter()
    stream = BufferBody(bytes(100_000), counter=counter)
    stream.read(40_000)
    assert counter.sent == 0
    stream.seek(0)
    start_sending(request=SimpleNamespace(body=stream))
    stream.read(BLOCK)
    stream.read(BLOCK)
    assert counter.sent == 2 * BLOCK
    stream.seek(0)
    assert counter.sent == 0
    assert not stream.sending
    stream.read(BLOCK)
    assert counter.sent == 0  # not sending until the next before-send
    stream.close()
    counter.sent = 77
    again = BufferBody(bytes(10), counter=counter)
    assert counter.sent == 0
    again.close()


def test_bytes_sent_in_source_bytes_when_compressing() -> None:
    """Compressing, the bar counts what was sent in source bytes, in the ratio so far."""
    snapshot = Progress(10 * MiB, 4 * MiB, 1, 1, 5 * MiB, source_bytes=30 * MiB, bytes_sending=MiB)
    assert snapshot.bytes_sent == 5 * MiB
    assert snapshot.source_sent == 15 * MiB
    assert snapshot.source_uploaded == 12 * MiB
    assert Progress(1, 1, 1, 0, 1).bytes_sending == 0  # the old positional form still works
