"""Part buffers that grow with the data: the writer's first buffer starts at GROW_FROM and
doubles in place up to its part; later parts get their full size at once. Every buffer is
charged its length, before it grows, so the part memory alive stays within max_memory."""

from __future__ import annotations

import io
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard

from s3sink import S3MultipartWriter
from s3sink._store import checksums
from s3sink._upload.pool import PartPool, SharedBudget
from s3sink._writer.buffer import GROW_FROM
from tests.support.fakes import (
    BUCKET,
    KEY,
    PART,
    WAIT,
    Background,
    FakeS3,
    MiB,
    make_writer,
    payload,
)

HUGE = 3 * 512 * MiB  # 1.5 GiB: a part a 3-byte stream must not pay for


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 with the real 5 MiB minimum part size."""
    return FakeS3()


@pytest.fixture
def pools() -> Iterator[list[PartPool]]:
    """Pools made by a test, shut down afterwards."""
    made: list[PartPool] = []
    yield made
    for pool in made:
        pool.record_error(RuntimeError("test over"))
        pool.shutdown()


class Chunks:
    """A readinto() source that hands out ``data`` at most ``chunk`` bytes a read."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024) -> None:
        self.data = memoryview(data)
        self.chunk = chunk

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), self.chunk, len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def capacity(w: S3MultipartWriter) -> int:
    """The length of the part buffer being filled (what it has allocated and is charged)."""
    current = w._buffer.current
    assert current is not None
    return len(current)


# -- the small case -------------------------------------------------------------------------
def _by_write(w: S3MultipartWriter, _tmp: Path) -> None:
    w.write(b"abc")


def _by_readinto(w: S3MultipartWriter, _tmp: Path) -> None:
    assert w.readinto_from(Chunks(b"abc")) == 3


def _by_file(w: S3MultipartWriter, tmp: Path) -> None:
    path = tmp / "three"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        w.write_file(fd)
        assert capacity(w) <= GROW_FROM
        w.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "feed", [_by_write, _by_readinto, _by_file], ids=["write", "readinto_from", "write_file"]
)
def test_three_bytes_at_a_huge_part_size_hold_one_small_buffer(
    fake: FakeS3, tmp_path: Path, feed: Callable[[S3MultipartWriter, Path], None]
) -> None:
    """3 bytes at a 1.5 GiB part size: the part buffer is GROW_FROM long (allocated and
    charged), not 1.5 GiB, and the object is the 3 bytes."""
    w = make_writer(fake, part_size=HUGE)
    feed(w, tmp_path)
    if not w.closed:
        assert capacity(w) == GROW_FROM
        w.close()
    assert w.peak_memory <= GROW_FROM
    assert fake.object_bytes(BUCKET, KEY) == b"abc"
    assert fake.count("put_object") == 1


def test_a_compressed_stream_at_a_huge_part_size_holds_one_small_buffer(fake: FakeS3) -> None:
    """The compressed path (CompressedFeed) fills the same growing buffer: 3 bytes at a
    1.5 GiB part take GROW_FROM of part memory, and the object decompresses to them."""
    w = make_writer(fake, part_size=HUGE, compress="zstd")
    w.write(b"abc")
    w.close()
    assert w.peak_memory <= GROW_FROM
    stored = fake.object_bytes(BUCKET, KEY)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(stored) == b"abc"


# -- growth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["write", "readinto_from"])
def test_the_first_buffer_doubles_in_place_and_later_parts_start_full(
    fake: FakeS3, path: str
) -> None:
    """The first part's buffer is GROW_FROM, then twice that, ... up to the part (the same
    object: resized, never replaced); every later part's buffer is the part's size from its
    first byte; each part's checksum (checked by the fake) and the object are right."""
    data = payload(3 * PART + 7)
    w = make_writer(fake, concurrency=2)
    first: list[int] = []
    later: set[int] = set()
    first_buffer: bytearray | None = None
    step = 256 * 1024
    for pos in range(0, len(data), step):
        chunk = data[pos : pos + step]
        if path == "write":
            w.write(chunk)
        else:
            w.readinto_from(Chunks(chunk))
        if w.bytes_written <= PART:
            if first_buffer is None:
                first_buffer = w._buffer.current
            assert w._buffer.current is first_buffer
            first.append(capacity(w))
        else:
            later.add(capacity(w))
    w.close()
    assert sorted(set(first)) == [GROW_FROM, 2 * GROW_FROM, 4 * GROW_FROM, PART]
    assert later == {PART}
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.parts == 4
    assert w.peak_memory <= (2 + 1) * PART


@pytest.mark.parametrize("size", [GROW_FROM, 2 * GROW_FROM, PART])
def test_a_stream_ending_where_the_buffer_is_full_is_one_put(fake: FakeS3, size: int) -> None:
    """A stream that ends exactly at the first buffer's length (before or after it grew,
    or at the part's end) is one PutObject: a full buffer grows, or waits for the next byte
    to be sent, never sends itself."""
    data = payload(size)
    w = make_writer(fake)
    assert w.readinto_from(Chunks(data, chunk=GROW_FROM)) == size
    w.close()
    assert fake.object_bytes(BUCKET, KEY) == data
    assert fake.count("create_multipart_upload") == 0


class Boom(Exception):
    """The producer's failure."""


def keep_upload(fake: FakeS3, data: bytes, journal: Path) -> str | None:
    """A resumable run that writes ``data`` and fails: its upload is kept."""
    w = make_writer(fake, resumable=True, journal_dir=journal)
    with pytest.raises(Boom), w:
        w.write(data)
        raise Boom
    return w.upload_id


def test_a_resume_reading_a_pipe_round_trips(fake: FakeS3, tmp_path: Path) -> None:
    """--resume reads the stream again into the growing first buffer: the parts the store
    holds are matched and skipped, the tail is sent, and the object is the stream."""
    data = payload(3 * PART + 100)
    upload_id = keep_upload(fake, data, tmp_path)
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        assert w.readinto_from(Chunks(data)) == len(data)
    assert w.result.upload_id == upload_id
    assert (w.result.parts_skipped, w.result.parts) == (3, 4)
    assert fake.object_bytes(BUCKET, KEY) == data


def test_a_resume_of_a_short_stream_holds_a_small_buffer(fake: FakeS3, tmp_path: Path) -> None:
    """A kept upload resumed by a run that reads only 3 bytes: its first buffer stays
    GROW_FROM long, and the object is this run's 3 bytes."""
    upload_id = keep_upload(fake, payload(3 * PART + 100), tmp_path)
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(b"abc")
        assert capacity(w) == GROW_FROM
    assert w.result.upload_id == upload_id
    assert w.peak_memory <= GROW_FROM
    assert fake.object_bytes(BUCKET, KEY) == b"abc"


# -- the budget -----------------------------------------------------------------------------
def test_growing_is_charged_first_and_waits_for_room(pools: list[PartPool]) -> None:
    """A growing buffer is charged its length: each step is charged before it is taken,
    and a step that does not fit waits until a part in flight gives its memory back."""
    pool = PartPool(concurrency=2, max_memory=100)
    pools.append(pool)
    in_flight = pool.acquire_buffer(60)
    growing = pool.acquire_buffer(60, initial=10)
    assert (len(growing), pool.charged) == (10, 70)
    pool.grow_buffer(growing, 20, 60)
    assert (len(growing), pool.charged) == (20, 80)
    waiting = Background(lambda: pool.grow_buffer(growing, 50, 60))
    assert not waiting.done.wait(0.3), "80 of 100 bytes are charged: growing by 30 must wait"
    assert (len(growing), pool.charged) == (20, 80)
    pool.release_buffer(in_flight, 60, reuse=False)
    waiting.join()
    assert (len(growing), pool.charged) == (50, 50)
    assert pool.peak_charged == 80


def test_a_blocked_grow_raises_the_first_error_and_charges_nothing(
    pools: list[PartPool],
) -> None:
    """A grow waiting for memory wakes and raises once a part has failed; the buffer and the
    charge stay as they were."""
    pool = PartPool(concurrency=1, max_memory=50)
    pools.append(pool)
    pool.acquire_buffer(40)
    growing = pool.acquire_buffer(40, initial=10)
    waiting = Background(lambda: pool.grow_buffer(growing, 20, 40))
    assert not waiting.done.wait(0.2)
    boom = OSError("part failed")
    pool.record_error(boom)
    assert waiting.done.wait(WAIT)
    assert waiting.error is boom
    assert (len(growing), pool.charged) == (10, 50)


def test_a_grow_that_fails_gives_its_charge_back(pools: list[PartPool]) -> None:
    """A resize that fails (no memory) leaves the buffer and the charge as they were."""
    pool = PartPool(concurrency=1, max_memory=100)
    pools.append(pool)
    growing = pool.acquire_buffer(80, initial=10)

    class NoMemory(bytearray):
        def extend(self, _more: object) -> None:
            raise MemoryError

    buf = NoMemory(growing)
    with pytest.raises(MemoryError):
        pool.grow_buffer(buf, 40, 80)
    assert (len(buf), pool.charged) == (10, 10)


def test_an_allocation_that_fails_gives_its_charge_back(
    pools: list[PartPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new buffer that cannot be made (no memory) leaves nothing charged."""
    from s3sink._upload import pool as pool_module

    def no_memory(_size: int) -> bytearray:
        raise MemoryError

    pool = PartPool(concurrency=1, max_memory=100)
    pools.append(pool)
    monkeypatch.setattr(pool_module, "bytearray", no_memory, raising=False)
    with pytest.raises(MemoryError):
        pool.acquire_buffer(80, initial=10)
    assert pool.charged == 0


def test_pools_growing_at_once_never_hold_more_than_the_shared_budget(
    pools: list[PartPool],
) -> None:
    """Four pools on one budget each grow buffers step by step and send them, at once:
    the bytes of all their live buffers (counted by length, as they are after each step)
    never exceed the budget, and every charge comes back."""
    part, limit = 32, 80  # four buffers half-grown (64) leave room for a step: no deadlock
    budget = SharedBudget(limit, max_wait=WAIT)
    lock = threading.Lock()
    live: dict[int, int] = {}  # id(buffer) -> its length
    peaks: list[int] = []

    def track(buf: bytearray | None, key: int) -> None:
        with lock:
            if buf is None:
                live.pop(key)
            else:
                live[key] = len(buf)
            peaks.append(sum(live.values()))

    rounds = threading.Barrier(4)  # each round starts together: the pools compete

    def run(pool: PartPool, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(100):
            rounds.wait(WAIT)
            buf = pool.acquire_buffer(part, initial=rng.choice([1, 4, 8]))
            track(buf, id(buf))
            while len(buf) < part:
                time.sleep(0)  # let the others take a step: the GIL would run this round whole
                pool.grow_buffer(buf, min(part, 2 * len(buf)), part)
                track(buf, id(buf))
            time.sleep(0)
            track(None, id(buf))  # forgotten before it is released, as a sent part is
            pool.release_buffer(buf, len(buf), reuse=rng.random() < 0.5)

    workers = []
    for seed in range(4):
        pool = PartPool(concurrency=1, max_memory=limit, shared=budget)
        pools.append(pool)
        workers.append(Background(lambda pool=pool, seed=seed: run(pool, seed)))
    for worker in workers:
        worker.join()
    assert max(peaks) <= limit
    assert budget.peak <= limit
    assert max(peaks) > 2 * part, "the pools never competed for the budget"
    assert (budget.charged, budget.spare_bytes) == (0, 0)
    assert all(pool.charged == 0 for pool in pools)


def test_writers_sharing_a_budget_stay_within_it_as_their_buffers_grow(fake: FakeS3) -> None:
    """Three writers on one budget, written at once: the budget's peak stays within it,
    every charge comes back, and each object is its bytes."""
    budget = SharedBudget(4 * PART, max_wait=WAIT)
    streams = {f"k{i}": payload(3 * PART + 1000 * i, seed=i) for i in range(3)}

    def write(key: str, data: bytes) -> None:
        with S3MultipartWriter(
            BUCKET, key, transport=fake, part_size=PART, memory_budget=budget
        ) as w:
            for pos in range(0, len(data), 300_000):
                w.write(data[pos : pos + 300_000])

    workers = [Background(lambda k=k, d=d: write(k, d)) for k, d in streams.items()]
    for worker in workers:
        worker.join()
    assert budget.peak <= 4 * PART
    assert budget.charged == 0
    for key, data in streams.items():
        assert fake.object_bytes(BUCKET, key) == data


def test_small_streams_open_at_once_hold_only_what_they_have(fake: FakeS3) -> None:
    """Five writers on a budget of two parts, each holding a small stream open at once: each
    holds a GROW_FROM buffer, not a part, so none waits for memory."""
    budget = SharedBudget(2 * PART, max_wait=WAIT)
    writers = [
        S3MultipartWriter(BUCKET, f"k{i}", transport=fake, part_size=PART, memory_budget=budget)
        for i in range(5)
    ]
    for i, w in enumerate(writers):
        w.write(b"x" * (i + 1))
    assert budget.charged == 5 * GROW_FROM
    for w in writers:
        w.close()
    assert budget.charged == 0
    assert [fake.object_bytes(BUCKET, f"k{i}") for i in range(5)] == [
        b"x" * (i + 1) for i in range(5)
    ]


@pytest.mark.parametrize("path", ["write", "readinto_from"])
def test_a_view_held_elsewhere_does_not_stop_the_first_buffer_growing(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A sampling profiler (Dask's workers run one, every 10 ms) may hold the frame of a
    call that took a slice of the part buffer, and with it the slice: the writer releases
    its slices itself, so growing the buffer in place never meets a live export (found by
    scripts/bench --dask on 2026-12-05: BufferError "Existing exports of data")."""
    held: list[memoryview] = []
    update = checksums.RunningChecksum.update

    def holding(self: checksums.RunningChecksum, data: memoryview) -> None:
        held.append(data)  # as a frame kept alive by a profiler would
        update(self, data)

    monkeypatch.setattr(checksums.RunningChecksum, "update", holding)
    data = payload(4 * GROW_FROM + 5)
    with make_writer(fake) as writer:
        if path == "write":
            for start in range(0, len(data), GROW_FROM // 2):
                writer.write(data[start : start + GROW_FROM // 2])
        else:
            writer.readinto_from(io.BytesIO(data))
    assert held
    assert fake.object_bytes(BUCKET, KEY) == data
