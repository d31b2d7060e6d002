"""S3MultipartWriter on the in-memory FakeS3: round trips, part layout, the file-object
contract, back-pressure, the memory budget and the stdlib wrappers."""

from __future__ import annotations

import array
import fcntl
import gzip
import io
import logging
import os
import random
import shutil
import tarfile
import threading
from pathlib import Path

import pytest

from s3sink import Progress, S3MultipartWriter, State, UsageError
from s3sink._store.checksums import Buffer, Checksummer
from tests.support.fakes import (
    BUCKET,
    KEY,
    PART,
    WAIT,
    Background,
    FakeS3,
    MiB,
    ZeroSource,
    checksum_of,
    make_writer,
    parts_for,
    payload,
    wait_until,
)
from tests.support.faults import FaultyStore


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3 with the real 5 MiB minimum part size."""
    return FakeS3()


def part_sizes(fake: FakeS3) -> list[int]:
    """Sizes of the parts that were uploaded, by part number."""
    calls = sorted(fake.calls_of("upload_part"), key=lambda c: c.part_number or 0)
    return [c.size or 0 for c in calls if c.error is None]


# -- round trips and layout -----------------------------------------------------------------
def test_round_trip_with_random_size_writes(fake: FakeS3) -> None:
    """Random-size writes come back byte for byte; bytes_written and tell() track them."""
    data = payload(17 * MiB + 123)
    rng = random.Random(42)
    with make_writer(fake) as w:
        pos = 0
        while pos < len(data):
            n = min(rng.choice([0, 1, 7, 4096, 65537, MiB, 3 * MiB + 5]), len(data) - pos)
            assert w.write(data[pos : pos + n]) == n
            pos += n
            assert w.bytes_written == w.tell() == pos
    assert fake.object_bytes(BUCKET, KEY) == data
    result = w.result
    assert (result.bucket, result.key, result.size, result.parts) == (BUCKET, KEY, len(data), 4)
    assert result.upload_id is not None
    assert result.etag == fake.objects[(BUCKET, KEY)].etag
    assert result.etag.endswith('-4"')
    assert result.checksum_algorithm == "crc64nvme"
    assert result.checksum == checksum_of("ChecksumCRC64NVME", data)
    assert result.checksum_type == "FULL_OBJECT"
    assert w.state is State.COMPLETED
    assert w.closed
    assert fake.live_uploads() == []


def test_small_stream_is_one_put_object(fake: FakeS3) -> None:
    """A stream shorter than a part is one PutObject: no multipart upload is created."""
    data = payload(MiB + 1)
    with make_writer(fake) as w:
        w.write(data[:10])
        w.write(data[10:])
    assert fake.ops() == ["put_object"]
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.upload_id is None
    assert w.result.parts == 1
    assert w.result.checksum == checksum_of("ChecksumCRC64NVME", data)
    assert w.result.checksum_type == "FULL_OBJECT"


def test_exactly_one_part_is_one_put_object(fake: FakeS3) -> None:
    """A stream of exactly one part size is still a single PutObject."""
    data = payload(PART)
    with make_writer(fake) as w:
        w.write(data[: PART // 2])
        w.write(data[PART // 2 :])
    assert fake.ops() == ["put_object"]
    assert fake.object_bytes(BUCKET, KEY) == data


def test_one_byte_over_a_part_is_multipart(fake: FakeS3) -> None:
    """One byte past a part makes a two-part upload whose last part is that byte."""
    data = payload(PART + 1)
    with make_writer(fake) as w:
        w.write(data)
    assert fake.ops() == [
        "create_multipart_upload",
        "upload_part",
        "upload_part",
        "complete_multipart_upload",
    ]
    assert part_sizes(fake) == [PART, 1]
    assert fake.object_bytes(BUCKET, KEY) == data


def test_empty_stream_is_an_empty_object(fake: FakeS3) -> None:
    """Closing without writing publishes an empty object with one PutObject, no upload."""
    with make_writer(fake) as w:
        pass
    assert fake.ops() == ["put_object"]
    assert fake.object_bytes(BUCKET, KEY) == b""
    assert w.result.size == 0
    assert w.result.checksum == checksum_of("ChecksumCRC64NVME", b"")
    assert fake.live_uploads() == []


@pytest.mark.parametrize(
    ("part_size", "total"),
    [(PART, 3 * PART), (PART, 3 * PART + 1), (6 * MiB + 3, 20 * MiB + 11)],
    ids=["exact-multiple", "multiple-plus-one", "odd-part-size"],
)
def test_parts_follow_the_schedule(fake: FakeS3, part_size: int, total: int) -> None:
    """Every part but the last has schedule.size_of(n) bytes; the last has the rest."""
    data = payload(total)
    with make_writer(fake, part_size=part_size) as w:
        w.write(data)
    sizes = part_sizes(fake)
    assert len(sizes) == parts_for(w.schedule, total)
    assert sizes[:-1] == [w.schedule.size_of(n) for n in range(1, len(sizes))]
    assert 0 < sizes[-1] <= w.schedule.size_of(len(sizes))
    assert sum(sizes) == total
    assert fake.object_bytes(BUCKET, KEY) == data
    assert fake.objects[(BUCKET, KEY)].parts == len(sizes)


def test_parts_are_sorted_by_number_at_complete(fake: FakeS3, faulty: FaultyStore) -> None:
    """Parts finishing out of order are listed in ascending order at Complete."""
    first = faulty.hold_parts(1)
    data = payload(3 * PART + 10)
    w = make_writer(faulty, concurrency=3)
    w.write(data)
    assert fake.wait_until(lambda: fake.stored_parts(w.upload_id or "") == [2, 3])
    wait_until(lambda: w.progress().parts_done == 2)  # recorded before part 1
    first.set()
    w.close()  # FakeS3 answers InvalidPartOrder to an unsorted list
    ends = {c.part_number: c.end or 0 for c in fake.calls_of("upload_part")}
    assert ends[1] > ends[3]
    assert fake.object_bytes(BUCKET, KEY) == data


@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32c", "crc32", "sha256", None])
def test_every_checksum_algorithm_round_trips(fake: FakeS3, algorithm: str | None) -> None:
    """Each algorithm's part and whole-object checksums satisfy the validating fake."""
    data = payload(2 * PART + 99)
    with make_writer(fake, checksum=algorithm) as w:
        w.write(data)
    assert fake.object_bytes(BUCKET, KEY) == data
    obj = fake.objects[(BUCKET, KEY)]
    if algorithm is None:
        assert w.result.checksum is None
        assert obj.checksums == {}
        return
    param = "Checksum" + algorithm.upper()
    assert w.result.checksum == obj.checksums[param]
    if algorithm == "sha256":
        assert w.result.checksum_type == obj.checksum_type == "COMPOSITE"
        assert w.result.checksum.endswith("-3")
    else:
        assert w.result.checksum_type == obj.checksum_type == "FULL_OBJECT"
        assert w.result.checksum == checksum_of(param, data)


def _count_checksum_passes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every whole-buffer checksum pass from now on: (thread name, bytes)."""
    passes: list[tuple[str, int]] = []
    whole = Checksummer.digest

    def digest(self: Checksummer, data: Buffer) -> bytes:
        passes.append((threading.current_thread().name, memoryview(data).nbytes))
        return whole(self, data)

    monkeypatch.setattr(Checksummer, "digest", digest)
    return passes


@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32c", "sha256"])
@pytest.mark.parametrize("how", ["write", "readinto_from"])
def test_full_parts_are_checksummed_as_their_bytes_land(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch, how: str, algorithm: str
) -> None:
    """A part filled by write() or readinto_from() is checksummed as its bytes land in the
    buffer, not in a second pass on the worker: only the last part is checksummed whole.
    The fake checks every part's checksum against its bytes, and the object's."""
    passes = _count_checksum_passes(monkeypatch)
    data = payload(3 * PART + 99)
    with make_writer(fake, checksum=algorithm) as w:
        if how == "write":
            rng = random.Random(5)
            pos = 0
            while pos < len(data):
                n = rng.choice([1, 4093, 65536, MiB + 7])
                w.write(data[pos : pos + n])
                pos += n
        else:
            w.readinto_from(io.BufferedReader(io.BytesIO(data), 65536))
    assert fake.object_bytes(BUCKET, KEY) == data
    assert part_sizes(fake) == [PART, PART, PART, 99]
    assert [n for _, n in passes] == [99]
    if algorithm != "sha256":
        assert w.result.checksum == checksum_of("Checksum" + algorithm.upper(), data)


def test_a_files_parts_are_checksummed_where_they_are_read(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """write_file() reads each part on a worker thread, straight into its buffer, so
    that is where each part is checksummed, whole."""
    data = payload(3 * PART + 99)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    passes = _count_checksum_passes(monkeypatch)
    with path.open("rb") as f, make_writer(fake) as w:
        w.write_file(f.fileno())
    assert fake.object_bytes(BUCKET, KEY) == data
    assert sorted(n for _, n in passes) == [99, PART, PART, PART]
    caller = threading.current_thread().name
    assert all(name != caller for name, _ in passes)


def test_extra_args_reach_the_upload(fake: FakeS3) -> None:
    """extra_args such as ContentType are sent with the create (and the single put)."""
    with make_writer(fake, extra_args={"ContentType": "application/x-tar"}) as w:
        w.write(payload(PART + 1))
    assert fake.objects[(BUCKET, KEY)].extra == {"ContentType": "application/x-tar"}
    with make_writer(fake, extra_args={"ContentType": "text/plain"}) as w:
        w.write(b"small")
    assert fake.objects[(BUCKET, KEY)].extra == {"ContentType": "text/plain"}


def test_construction_does_no_io(fake: FakeS3) -> None:
    """Creating a writer (and writing less than a part) sends nothing."""
    w = make_writer(fake)
    w.write(b"x" * 1000)
    assert fake.calls == []
    w.close()


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"concurrency": True},
        {"part_size": PART - 1},
        {"max_memory": PART - 1},
        {"extra_args": {"Bucket": "other"}},
        {"if_none_match": "*", "if_match": '"etag"'},
        {"checksum": "adler32"},
        {"expected_size": -1},
    ],
)
def test_bad_options_are_usage_errors(fake: FakeS3, options: dict[str, object]) -> None:
    """Invalid options raise UsageError at construction, before any I/O."""
    with pytest.raises(UsageError):
        make_writer(fake, **options)
    assert fake.calls == []


TiB = 1024 * 1024 * MiB


@pytest.mark.parametrize(
    "expected_size",
    [0, 100 * 1024 * MiB, 1 * TiB, 8 * TiB, 9 * TiB, 20 * TiB, 10_000 * 5 * 1024 * MiB],
    ids=["0", "100GiB", "1TiB", "8TiB", "9TiB", "20TiB", "48.8TiB"],
)
def test_expected_size_up_to_the_s3_maximum_with_default_memory(
    fake: FakeS3, expected_size: int
) -> None:
    """Without max_memory any expected size up to 48.8 TiB fits a default budget of its parts."""
    # The default budget is 1 GiB, or two parts once parts are above 512 MiB.
    w = make_writer(fake, part_size=16 * MiB, expected_size=expected_size)
    largest = max(w.schedule.size_of(n) for n in range(1, 10_001))
    w.abort()
    assert w.schedule.capacity >= expected_size
    assert 2 * largest <= w.max_memory
    assert w.max_memory == max(1024 * MiB, 2 * largest)


@pytest.mark.parametrize(
    ("part_size", "max_memory"),
    [(PART, PART), (PART, 3 * PART), (16 * MiB, 100 * MiB), (64 * MiB, 8 * 1024 * MiB)],
)
def test_no_scheduled_part_exceeds_max_memory(
    fake: FakeS3, part_size: int, max_memory: int
) -> None:
    """With an explicit max_memory the schedule's parts never outgrow the budget."""
    w = make_writer(fake, part_size=part_size, max_memory=max_memory)
    assert max(w.schedule.size_of(n) for n in range(1, 10_001)) <= max_memory
    assert w.max_memory == max_memory
    w.abort()


@pytest.mark.parametrize(("bucket", "key"), [("", "k"), ("b", "")])
def test_empty_bucket_or_key_is_a_usage_error(fake: FakeS3, bucket: str, key: str) -> None:
    """Bucket and key must not be empty."""
    with pytest.raises(UsageError):
        S3MultipartWriter(bucket, key, transport=fake)


def test_progress_reports_uploaded_bytes(fake: FakeS3) -> None:
    """on_progress sees every finished part; bytes_uploaded grows to the object size."""
    seen: list[Progress] = []
    data = payload(3 * PART + 1)
    with make_writer(fake, on_progress=seen.append, concurrency=1) as w:
        w.write(data)
    uploaded = [p.bytes_uploaded for p in seen]
    assert uploaded == sorted(uploaded)
    assert uploaded[-1] == len(data)
    assert [p.parts_done for p in seen] == [1, 2, 3, 4]
    assert w.progress().bytes_uploaded == len(data)


def test_failing_progress_callback_does_not_fail_the_upload(
    fake: FakeS3, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken on_progress is logged at warning and the object is still published."""

    def broken(_progress: Progress) -> None:
        raise RuntimeError("callback bug")

    data = payload(PART + 1)
    with (
        caplog.at_level(logging.WARNING, logger="s3sink"),
        make_writer(fake, on_progress=broken) as w,
    ):
        w.write(data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert "callback bug" in caplog.text


# -- the file-object contract -----------------------------------------------------------
def test_write_after_close_is_a_value_error(fake: FakeS3) -> None:
    """write, flush and tell raise ValueError once the writer is closed."""
    w = make_writer(fake)
    w.close()
    for call in (lambda: w.write(b"x"), w.flush, w.tell):
        with pytest.raises(ValueError, match="completed"):
            call()
    assert not w.writable()


def test_write_str_is_a_type_error(fake: FakeS3) -> None:
    """str is refused: the writer is binary."""
    with make_writer(fake) as w, pytest.raises(TypeError, match="bytes-like"):
        w.write("text")  # type: ignore[arg-type]


def test_io_capabilities(fake: FakeS3) -> None:
    """Writable while open; never readable or seekable, so seek/read/truncate are refused."""
    with make_writer(fake) as w:
        assert w.writable()
        assert not w.readable()
        assert not w.seekable()
        assert isinstance(w, io.BufferedIOBase)
        with pytest.raises(io.UnsupportedOperation):
            w.seek(0)
        with pytest.raises(io.UnsupportedOperation):
            w.read(1)
        with pytest.raises(io.UnsupportedOperation):
            w.truncate(0)
        with pytest.raises(io.UnsupportedOperation):
            w.fileno()
        assert w.name == f"s3://{BUCKET}/{KEY}"
    assert not w.writable()


def test_flush_never_forces_a_short_part(fake: FakeS3) -> None:
    """flush() sends nothing: only full parts (and the tail at close) are uploaded."""
    data = payload(PART + 3 * MiB)
    with make_writer(fake) as w:
        w.write(data[:MiB])
        w.flush()
        assert fake.calls == []
        w.write(data[MiB : PART + MiB])
        w.flush()
        assert fake.wait_for_calls("upload_part", 1)
        assert fake.count("upload_part") == 1  # part 1 only: the 1 MiB tail stays buffered
        w.write(data[PART + MiB :])
        w.flush()
    assert part_sizes(fake) == [PART, 3 * MiB]
    assert fake.object_bytes(BUCKET, KEY) == data


@pytest.mark.parametrize("size", [100, 2 * PART + 5], ids=["single-put", "multipart"])
def test_caller_buffers_mutated_after_write_do_not_change_the_object(
    fake: FakeS3, size: int
) -> None:
    """write() copies: changing the caller's bytearray or memoryview afterwards is harmless."""
    original = payload(size)
    source = bytearray(original)
    with make_writer(fake) as w:
        w.write(source)
        source[:] = b"\xff" * size
        view_source = bytearray(original)
        w.write(memoryview(view_source))
        view_source[:] = b"\x00" * size
    assert fake.object_bytes(BUCKET, KEY) == original + original


def test_non_byte_memoryviews_are_written_as_bytes(fake: FakeS3) -> None:
    """array('I'), a 2-D memoryview and a bytearray all count and store as raw bytes."""
    numbers = array.array("I", range(1000))
    grid = memoryview(bytes(range(24))).cast("B", (4, 6))
    with make_writer(fake) as w:
        assert w.write(numbers) == numbers.itemsize * 1000
        assert w.write(grid) == 24
        assert w.write(memoryview(numbers).cast("B")[:3]) == 3
    assert (
        fake.object_bytes(BUCKET, KEY)
        == numbers.tobytes() + bytes(range(24)) + (numbers.tobytes()[:3])
    )
    assert w.result.size == numbers.itemsize * 1000 + 27


def test_strided_memoryviews(fake: FakeS3) -> None:
    """A strided byte view is written as its bytes; a strided wider-item view raises TypeError."""
    with make_writer(fake) as w:
        assert w.write(memoryview(b"abcdef")[::2]) == 3
        with pytest.raises(TypeError):
            w.write(memoryview(array.array("I", range(10)))[::2])
        assert w.bytes_written == 3
    assert fake.object_bytes(BUCKET, KEY) == b"ace"


def test_close_is_idempotent(fake: FakeS3) -> None:
    """A second close() does nothing: one Complete, the same result."""
    w = make_writer(fake)
    w.write(payload(PART + 1))
    w.close()
    result = w.result
    w.close()
    assert fake.count("complete_multipart_upload") == 1
    assert w.result is result


def test_result_before_close_is_refused(fake: FakeS3) -> None:
    """result exists only after a successful close()."""
    with make_writer(fake) as w:
        with pytest.raises(ValueError, match="open"):
            _ = w.result
        w.write(b"x")


def test_abort_after_close_is_a_no_op(fake: FakeS3) -> None:
    """abort() after a successful close() leaves the object alone."""
    w = make_writer(fake)
    w.write(payload(PART + 1))
    w.close()
    w.abort()
    assert fake.count("abort_multipart_upload") == 0
    assert w.state is State.COMPLETED
    assert (BUCKET, KEY) in fake.objects


# -- back-pressure and the in-flight limit ------------------------------------------------
def test_in_flight_limit_is_never_exceeded(fake: FakeS3, faulty: FaultyStore) -> None:
    """With parts held, exactly ``concurrency`` are in flight and the writer waits."""
    gate = faulty.hold_parts()
    w = make_writer(faulty, concurrency=3)
    data = payload(8 * PART + 1)
    writing = Background(lambda: w.write(data))
    assert faulty.wait_for_in_flight(3)
    assert not writing.done.wait(0.3), "write() should block while 3 parts are in flight"
    assert faulty.in_flight == 3
    gate.set()
    writing.join()
    w.close()
    assert faulty.peak_in_flight == 3
    assert w.peak_in_flight == 3
    assert max(c.in_flight for c in faulty.calls_of("upload_part")) == 3
    assert fake.object_bytes(BUCKET, KEY) == data


def test_write_returns_at_once_below_the_limit_and_blocks_at_it(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """write() never waits for a part while fewer than ``concurrency`` are in flight."""
    gate = faulty.hold_parts()
    w = make_writer(faulty, concurrency=2)
    chunks = [payload(PART, seed=n) for n in range(4)]
    w.write(chunks[0])  # fills part 1; nothing is sent until more data arrives
    for n in (1, 2):  # each sends one part while the parts are held
        writing = Background(lambda n=n: w.write(chunks[n]))
        assert writing.done.wait(WAIT), f"write {n} blocked with {n - 1} part(s) in flight"
        writing.join()
    assert faulty.wait_for_in_flight(2)
    blocked = Background(lambda: w.write(chunks[3]))
    assert not blocked.done.wait(0.3), "a third part must wait for a free slot"
    gate.set()
    blocked.join()
    w.close()
    assert fake.object_bytes(BUCKET, KEY) == b"".join(chunks)
    assert faulty.peak_in_flight == 2


def test_parts_upload_on_worker_threads(fake: FakeS3) -> None:
    """Parts go out on the pool's threads, not the caller's; create and complete on the caller's."""
    with make_writer(fake, concurrency=2) as w:
        w.write(payload(3 * PART + 1))
    main = fake.calls_of("create_multipart_upload")[0].thread
    assert fake.calls_of("complete_multipart_upload")[0].thread == main
    assert all(c.thread != main for c in fake.calls_of("upload_part"))


# -- the memory budget --------------------------------------------------------------------
def test_memory_budget_limits_parts_in_flight(fake: FakeS3, faulty: FaultyStore) -> None:
    """max_memory of 3 parts caps buffers at 3 (in flight or filling), below concurrency 4."""
    gate = faulty.hold_parts()
    w = make_writer(faulty, concurrency=4, max_memory=3 * PART)
    data = payload(7 * PART + 1)
    writing = Background(lambda: w.write(data))
    assert faulty.wait_for_in_flight(3)
    assert not writing.done.wait(0.3), "the budget is spent: write() should wait"
    assert faulty.in_flight == 3
    gate.set()
    writing.join()
    w.close()
    assert w.peak_memory <= 3 * PART
    assert faulty.peak_in_flight == w.peak_in_flight == 3
    assert faulty.peak_bytes_in_flight <= 3 * PART
    assert fake.object_bytes(BUCKET, KEY) == data


def test_peak_memory_is_concurrency_plus_one_parts(faulty: FaultyStore) -> None:
    """With room in the budget, buffers alive peak at (concurrency + 1) parts (docs/library.md)."""
    gate = faulty.hold_parts()
    w = make_writer(faulty, concurrency=2, max_memory=10 * PART)
    writing = Background(lambda: w.write(payload(5 * PART)))
    assert faulty.wait_for_in_flight(2)
    gate.set()
    writing.join()
    w.close()
    assert w.peak_in_flight == 2
    assert w.peak_memory <= 3 * PART


@pytest.mark.slow
def test_memory_budget_holds_when_parts_grow() -> None:
    """When parts double after part 2,048 the budget holds and fewer of them are in flight."""
    # 10 GiB pass through the real writer path without copying: the source and the fake
    # both skip the bytes, so this takes about a second.
    fake = FakeS3(store_bodies=False)
    faulty = FaultyStore(fake)
    budget = 4 * PART
    slow = range(2040, 2060)  # hold the parts around the growth step long enough to overlap
    faulty.delay_parts(lambda number: 0.02 if number in slow else 0.0)
    w = make_writer(faulty, concurrency=4, max_memory=budget, checksum=None)
    assert w.schedule.size_of(2048) == PART
    assert w.schedule.size_of(2049) == 2 * PART
    total = 2048 * PART + 10 * 2 * PART
    assert w.readinto_from(ZeroSource(total)) == total
    w.close()
    assert w.result.parts == 2058
    assert w.peak_memory <= budget
    assert faulty.peak_bytes_in_flight <= budget
    calls = faulty.calls_of("upload_part")

    def most_overlapping(size: int) -> int:
        same = [c for c in calls if c.size == size]
        return max(sum(1 for o in same if o.start <= c.start < (o.end or 0)) for c in same)

    assert most_overlapping(PART) == 4  # small parts: the concurrency limit binds
    assert most_overlapping(2 * PART) == 2  # doubled parts: the budget binds (4 // 2)


# -- stdlib wrappers and readinto_from ------------------------------------------------------
def test_gzip_round_trip(fake: FakeS3) -> None:
    """gzip.GzipFile(fileobj=writer) produces an object that decompresses to the input."""
    data = payload(12 * MiB)
    with make_writer(fake) as w, gzip.GzipFile(fileobj=w, mode="wb") as gz:
        for i in range(0, len(data), 100_000):
            gz.write(data[i : i + 100_000])
    assert gzip.decompress(fake.object_bytes(BUCKET, KEY)) == data
    assert w.result.parts >= 2


def test_text_io_wrapper_round_trip(fake: FakeS3) -> None:
    """io.TextIOWrapper(writer) encodes text into a multipart object; closing it completes."""
    line = "héllo wörld ✓ — line\n"
    text = line * (11 * MiB // len(line.encode()))
    w = make_writer(fake)
    wrapper = io.TextIOWrapper(w, encoding="utf-8", newline="")
    for i in range(0, len(text), 50_000):
        wrapper.write(text[i : i + 50_000])
    wrapper.close()
    assert w.state is State.COMPLETED
    assert fake.object_bytes(BUCKET, KEY).decode("utf-8") == text
    assert w.result.parts >= 2


def test_tarfile_stream_round_trip(fake: FakeS3, tmp_path: Path) -> None:
    """tarfile.open(fileobj=writer, mode="w|") streams an archive that extracts intact."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {
        "big.bin": payload(7 * MiB, seed=1),
        "small.txt": b"hello\n",
        "sub/empty": b"",
        "sub/mid.bin": payload(300_000, seed=2),
    }
    for name, content in files.items():
        (src / name).write_bytes(content)
    with make_writer(fake) as w, tarfile.open(fileobj=w, mode="w|") as tar:
        tar.add(src, arcname="src")
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(fake.object_bytes(BUCKET, KEY)), mode="r:") as tar:
        tar.extractall(out, filter="data")
    for name, content in files.items():
        assert (out / "src" / name).read_bytes() == content


def test_shutil_copyfileobj_round_trip(fake: FakeS3) -> None:
    """shutil.copyfileobj from a file object into the writer copies everything."""
    data = payload(11 * MiB + 7)
    with make_writer(fake) as w:
        shutil.copyfileobj(io.BytesIO(data), w, length=256 * 1024)
    assert fake.object_bytes(BUCKET, KEY) == data


def test_readinto_from_bytesio(fake: FakeS3) -> None:
    """readinto_from reads a source to EOF straight into part buffers."""
    data = payload(2 * PART + 12345)
    with make_writer(fake) as w:
        w.write(b"head:")
        assert w.readinto_from(io.BytesIO(data)) == len(data)
        w.write(b":tail")
    assert fake.object_bytes(BUCKET, KEY) == b"head:" + data + b":tail"
    assert w.bytes_written == len(data) + 10


def test_readinto_from_respects_max_bytes(fake: FakeS3) -> None:
    """max_bytes stops the read there, leaving the rest of the source unread."""
    data = payload(PART + 100)
    source = io.BytesIO(data)
    with make_writer(fake) as w:
        assert w.readinto_from(source, max_bytes=PART + 1) == PART + 1
    assert source.read() == data[PART + 1 :]
    assert fake.object_bytes(BUCKET, KEY) == data[: PART + 1]


@pytest.mark.parametrize("size", [0, 1, PART, 2 * PART])
def test_readinto_from_keeps_the_part_layout_of_write(fake: FakeS3, size: int) -> None:
    """readinto_from lays out parts like write(): exactly one part is a single PutObject."""
    data = payload(size)
    with make_writer(fake) as w:
        assert w.readinto_from(io.BytesIO(data)) == size
    assert fake.object_bytes(BUCKET, KEY) == data
    if size <= PART:
        assert fake.ops() == ["put_object"]
    else:
        assert part_sizes(fake) == [PART, PART]


def test_readinto_from_a_real_pipe(fake: FakeS3) -> None:
    """readinto_from drains an os.pipe fed by another thread (short reads included)."""
    data = payload(2 * PART + 777)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb", buffering=0) as pipe:
            view = memoryview(data)
            while view:
                written = pipe.write(view[:100_000])
                view = view[written or 0 :]

    feeder = Background(feed)
    with open(read_fd, "rb", buffering=0) as source, make_writer(fake) as w:
        assert w.readinto_from(source) == len(data)
    feeder.join()
    assert fake.object_bytes(BUCKET, KEY) == data


def test_readinto_from_refuses_non_blocking_source(fake: FakeS3) -> None:
    """A source whose readinto() answers None (no data yet) raises BlockingIOError instead
    of being taken for end of stream; the ``with`` block then aborts, nothing published."""

    class NotReady(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> None:
            return None

    with pytest.raises(BlockingIOError), make_writer(fake) as w:
        w.write(b"some data first")
        w.readinto_from(NotReady())
    assert fake.objects == {}


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        ({"part_size": 16 * MiB, "max_memory": 64 * MiB}, True),  # parts can never grow past 64 MiB
        ({"part_size": 16 * MiB, "max_memory": 2 * 1024 * MiB}, False),  # room to grow
        ({"part_size": 16 * MiB}, False),  # the default budget
        ({"part_size": 16 * MiB, "max_memory": 64 * MiB, "fixed_part_size": True}, False),
        ({"part_size": 16 * MiB, "max_memory": 64 * MiB, "expected_size": 100 * MiB}, False),
    ],
)
def test_a_budget_that_caps_the_stream_length_is_announced(
    fake: FakeS3, caplog: pytest.LogCaptureFixture, options: dict[str, int], warned: bool
) -> None:
    """A max_memory too small for parts to grow shortens the longest possible stream: the
    writer says so at construction (with both lengths), not at part 10,001."""
    with caplog.at_level(logging.WARNING, logger="s3sink"):
        w = make_writer(fake, **options)
        w.abort()
    messages = [r.getMessage() for r in caplog.records if "max_memory" in r.getMessage()]
    if warned:
        (message,) = messages
        assert "keeps parts at 64 MiB or less" in message
        assert "with the default budget" in message
    else:
        assert messages == []


def test_readinto_from_gives_a_pipe_the_commands_buffer(fake: FakeS3) -> None:
    """A pipe read through readinto_from gets a 1 MiB buffer, as the command's stdin does
    (from a 64 KiB pipe, 0.05 CPU s/GiB more in system time)."""
    read_fd, write_fd = os.pipe()
    data = payload(PART + 7)
    try:
        assert fcntl.fcntl(read_fd, fcntl.F_GETPIPE_SZ) < 1024 * 1024

        def feed() -> None:
            os.write(write_fd, data)
            os.close(write_fd)

        feeder = threading.Thread(target=feed)
        feeder.start()
        with open(read_fd, "rb", closefd=False) as source, make_writer(fake) as w:
            assert w.readinto_from(source) == len(data)
            assert fcntl.fcntl(read_fd, fcntl.F_GETPIPE_SZ) == 1024 * 1024
        feeder.join(10)
    finally:
        os.close(read_fd)
    assert fake.object_bytes(BUCKET, KEY) == data


def test_readinto_from_leaves_sources_without_a_pipe_alone(fake: FakeS3, tmp_path: Path) -> None:
    """No descriptor (BytesIO says UnsupportedOperation), a regular file: read as before."""
    path = tmp_path / "f"
    path.write_bytes(b"file bytes")
    with make_writer(fake) as w, path.open("rb") as f:
        assert w.readinto_from(io.BytesIO(b"memory ")) == 7
        assert w.readinto_from(f) == 10
    assert fake.object_bytes(BUCKET, KEY) == b"memory file bytes"
