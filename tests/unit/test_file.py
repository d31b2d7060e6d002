"""Files as input (library): upload_file and write_file read parts with positional reads on
the worker threads, fit the parts to the file, and publish nothing if the file changes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

import s3sink
from s3sink import SourceChangedError, State
from tests.support.fakes import BUCKET, KEY, PART, URI, FakeS3, make_writer, payload
from tests.support.faults import FaultyStore


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3."""
    return FakeS3()


def make_file(tmp_path: Path, data: bytes, name: str = "big.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_upload_file_reads_parts_on_the_worker_threads(
    fake: FakeS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part is read by a positional read on a worker thread (never the caller's),
    at its own offset; the object equals the file."""
    data = payload(4 * PART + 123)
    path = make_file(tmp_path, data)
    reads: list[tuple[str, int]] = []
    real = os.preadv

    def preadv(fd: int, buffers: Any, offset: int) -> int:
        reads.append((threading.current_thread().name, offset))
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", preadv)
    result = s3sink.upload_file(path, URI, transport=fake, part_size=PART)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert result.size == len(data)
    assert result.parts == 5
    caller = threading.current_thread().name
    assert reads
    assert all(name != caller for name, _ in reads)
    assert sorted({offset for _, offset in reads}) == [i * PART for i in range(5)]


def test_the_part_size_is_fitted_to_the_file(fake: FakeS3, tmp_path: Path) -> None:
    """The file's size is known: parts fit it as an exact expected_size would."""
    data = payload(3 * PART)
    path = make_file(tmp_path, data)
    result = s3sink.upload_file(path, URI, transport=fake, part_size=PART)
    sizes = [c.size for c in fake.calls_of("upload_part")]
    assert sizes == [PART, PART, PART]
    assert result.parts == 3


@pytest.mark.parametrize("size", [0, 10, PART], ids=["empty", "small", "one-part"])
def test_a_file_of_one_part_is_one_put(fake: FakeS3, tmp_path: Path, size: int) -> None:
    data = payload(size)
    path = make_file(tmp_path, data)
    s3sink.upload_file(path, URI, transport=fake, part_size=PART)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert fake.count("put_object") == 1
    assert fake.count("create_multipart_upload") == 0


@pytest.mark.parametrize("change", ["append", "touch", "truncate"])
def test_a_file_changed_during_the_upload_publishes_nothing(
    fake: FakeS3, tmp_path: Path, change: str
) -> None:
    """Grown, re-timestamped or shrunk while parts were sent: SourceChangedError, the
    upload aborted, nothing published."""
    data = payload(4 * PART + 1)
    path = make_file(tmp_path, data)
    done = threading.Event()

    def modify() -> None:
        if done.is_set():
            return
        done.set()
        if change == "append":
            with path.open("ab") as f:
                f.write(b"more")
        elif change == "touch":
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        else:
            os.truncate(path, PART + 5)

    faulty = FaultyStore(fake)
    faulty.before("upload_part", modify)
    with pytest.raises(SourceChangedError, match=r"(changed|shrank) during the upload"):
        s3sink.upload_file(path, URI, transport=faulty, part_size=PART, concurrency=1)
    assert (BUCKET, KEY) not in fake.objects
    assert fake.live_uploads() == []
    assert fake.count("complete_multipart_upload") == 0


def test_write_file_must_be_the_only_write(fake: FakeS3, tmp_path: Path) -> None:
    path = make_file(tmp_path, payload(10))
    w = make_writer(fake)
    w.write(b"x")
    with path.open("rb") as f, pytest.raises(ValueError, match="only write"):
        w.write_file(f.fileno())
    w.abort()


def test_write_file_from_an_offset(fake: FakeS3, tmp_path: Path) -> None:
    """A file whose descriptor is already past its start (``(head -c 10; s3sink) < f``)."""
    data = payload(2 * PART + 9)
    path = make_file(tmp_path, data)
    with path.open("rb") as f:
        w = make_writer(fake, expected_size=len(data) - 9)
        with w:
            w.write_file(f.fileno(), offset=9)
    assert fake.object_bytes(BUCKET, KEY) == data[9:]
    assert w.state is State.COMPLETED


def test_a_resumable_file_upload_resumes_with_the_missing_parts_only(
    fake: FakeS3, tmp_path: Path
) -> None:
    data = payload(4 * PART + 7)
    path = make_file(tmp_path, data)
    journal = tmp_path / "journal"
    faulty = FaultyStore(fake)
    faulty.fail("upload_part", "InternalError", parts={4})
    with pytest.raises(s3sink.UploadError):
        s3sink.upload_file(
            path,
            URI,
            transport=faulty,
            part_size=PART,
            resumable=True,
            journal_dir=journal,
            concurrency=1,
        )
    (upload_id,) = fake.live_uploads()
    stored = fake.stored_parts(upload_id)
    assert 4 not in stored
    sent = len(fake.calls_of("upload_part"))
    result = s3sink.upload_file(  # straight to the store now: part 4 goes through
        path, URI, transport=fake, part_size=PART, resume=True, journal_dir=journal
    )
    again = sorted(c.part_number or 0 for c in fake.calls_of("upload_part")[sent:])
    assert again == [n for n in range(1, 6) if n not in stored]
    assert result.parts_skipped == len(stored)
    assert fake.object_bytes(BUCKET, KEY) == data
