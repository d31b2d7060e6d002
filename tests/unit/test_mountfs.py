"""The mount's filesystem operations, called directly (no FUSE) over the fake store: keys,
sequential writes, commit at the last close or fsync, EIO on a failed commit, aborts,
renames, refusals, and one memory budget for every open file."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from s3sink._mount.fs import (
    STATUS_PATH,
    FileRetention,
    ProcHolders,
    StoreMover,
    UploadFS,
    marker_options,
)
from s3sink._store.transport import Transport
from s3sink._upload.pool import SharedBudget
from s3sink._writer.writer import S3MultipartWriter
from tests.support.fakes import BUCKET, PART, WAIT, Background, FakeS3, payload, text_like
from tests.support.faults import FaultyStore

MiB = 1024 * 1024


def make_fs(
    store: Transport,
    *,
    budget: int = 64 * MiB,
    max_wait: float | None = None,
    retention: FileRetention | None = None,
    holders: set[str] | None = None,
    **options: Any,
) -> UploadFS:
    shared = SharedBudget(budget, max_wait=max_wait)
    failures: list[str] = []

    def make_writer(key: str, marker: bool) -> S3MultipartWriter:
        chosen = marker_options(options) if marker else options
        if retention is not None and not marker:
            chosen = retention.options(chosen)
        return S3MultipartWriter(
            BUCKET, key, transport=store, part_size=PART, memory_budget=shared, **chosen
        )

    fs = UploadFS(
        bucket=BUCKET,
        prefix="backups/tonight",
        make_writer=make_writer,
        budget=shared,
        part_size=PART,
        mover=StoreMover(store, BUCKET),
        on_failure=lambda: failures.append("x"),
        retention=retention,
        holders=None if holders is None else holders.__contains__,
    )
    fs.failures_seen = failures  # type: ignore[attr-defined]
    return fs


def fi(flags: int = os.O_WRONLY) -> Any:
    return SimpleNamespace(fh=0, flags=flags, direct_io=0, nonseekable=0)


def write_file(fs: UploadFS, path: str, data: bytes, chunk: int = 1 << 20) -> Any:
    handle = fi()
    fs.create(path, 0o644, handle)
    for offset in range(0, len(data), chunk):
        fs.write(path, data[offset : offset + chunk], offset, handle)
    return handle


def close(fs: UploadFS, path: str, handle: Any) -> None:
    fs.flush(path, handle)
    fs.release(path, handle)


@pytest.fixture
def fake() -> FakeS3:
    return FakeS3()


@pytest.mark.parametrize("size", [0, 100, 3 * PART + 5], ids=["empty", "small", "multipart"])
def test_a_file_becomes_the_object_under_the_prefix(fake: FakeS3, size: int) -> None:
    fs = make_fs(fake)
    fs.mkdir("/db", 0o755)
    data = payload(size)
    assert fake.object_bytes(BUCKET, "backups/tonight/db/") == b""  # the directory's marker
    handle = write_file(fs, "/db/table.dat", data)
    assert set(fake.objects) == {(BUCKET, "backups/tonight/db/")}  # no file before the close
    close(fs, "/db/table.dat", handle)
    assert fake.object_bytes(BUCKET, "backups/tonight/db/table.dat") == data
    assert fake.count("put_object") == (2 if size < PART else 1)  # and the marker
    (line,) = fs.status_text().splitlines()
    record = json.loads(line)
    assert record["state"] == "committed"
    assert record["key"] == "backups/tonight/db/table.dat"
    assert record["size"] == size
    assert record["checksum"]
    assert fs.getattr("/db/table.dat")["st_size"] == size
    assert "table.dat" in fs.readdir("/db")


def test_a_non_sequential_write_aborts_the_upload(
    fake: FakeS3, caplog: pytest.LogCaptureFixture
) -> None:
    fs = make_fs(fake)
    handle = write_file(fs, "/f", payload(2 * PART))
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.write("/f", b"x", 10, handle)
    assert raised.value.errno == errno.EINVAL
    assert "write at offset 10 but 10,485,760 bytes were written" in caplog.text
    assert fake.live_uploads() == []
    assert fake.objects == {}
    with pytest.raises(OSError, match=r"\S") as again:
        fs.write("/f", b"x", 2 * PART, handle)
    assert again.value.errno in (errno.EBADF, errno.EIO)
    close(fs, "/f", handle)
    assert fake.objects == {}
    assert [r.state for r in fs.failures()] == ["aborted"]


def zero_fill(fs: UploadFS, path: str, size: int, block: int = 8192) -> Any:
    """What pg_basebackup does to each WAL segment before writing it from offset 0."""
    handle = fi()
    fs.create(path, 0o644, handle)
    for offset in range(0, size, block):
        fs.write(path, bytes(block), offset, handle)
    return handle


@pytest.mark.parametrize(
    "real", [0, 5000, 3 * PART, 4 * PART], ids=["none", "short", "parts", "all"]
)
def test_a_zero_filled_file_may_be_rewritten_from_the_start(fake: FakeS3, real: int) -> None:
    size = 4 * PART
    fs = make_fs(fake)
    fs.mkdir("/pg_wal", 0o755)
    handle = zero_fill(fs, "/pg_wal/000000010000000000000002", size)
    assert fake.count("upload_part") == 0  # zeros wait for real data
    data = payload(real)
    for offset in range(0, real, 8192):
        fs.write("/pg_wal/000000010000000000000002", data[offset : offset + 8192], offset, handle)
    assert fs.getattr("/pg_wal/000000010000000000000002")["st_size"] == size
    close(fs, "/pg_wal/000000010000000000000002", handle)
    stored = fake.object_bytes(BUCKET, "backups/tonight/pg_wal/000000010000000000000002")
    assert stored == data + bytes(size - real)  # the zeros past the data are kept, as on disk
    assert json.loads(fs.status_text())["size"] == size


def test_zeros_then_data_at_a_later_offset_keeps_the_zeros_before_it(fake: FakeS3) -> None:
    fs = make_fs(fake)
    handle = fi()
    fs.create("/f", 0o644, handle)
    fs.write("/f", bytes(PART + 3), 0, handle)
    fs.write("/f", b"tail", PART + 3, handle)
    close(fs, "/f", handle)
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == bytes(PART + 3) + b"tail"


@pytest.mark.parametrize(
    ("first", "offset"),
    [(b"\0\0x" * 100, 0), (bytes(300), 301)],
    ids=["rewrite-after-real-data", "gap-past-the-zeros"],
)
def test_only_zeros_may_be_rewritten(fake: FakeS3, first: bytes, offset: int) -> None:
    fs = make_fs(fake)
    handle = fi()
    fs.create("/f", 0o644, handle)
    fs.write("/f", first, 0, handle)
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.write("/f", b"y", offset, handle)
    assert raised.value.errno == errno.EINVAL
    close(fs, "/f", handle)
    assert fake.objects == {}
    assert fake.live_uploads() == []


def test_fsync_commits_and_later_writes_fail(fake: FakeS3) -> None:
    fs = make_fs(fake)
    handle = write_file(fs, "/f", b"hello")
    fs.fsync("/f", 0, handle)
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"hello"
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.write("/f", b"more", 5, handle)
    assert raised.value.errno in (errno.EIO, errno.EBADF)
    close(fs, "/f", handle)


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_RDWR, os.O_WRONLY])
def test_reopening_a_committed_file_only_to_fsync_it_works(fake: FakeS3, flags: int) -> None:
    """pg_dump and pg_basebackup fsync every file after closing it, opened O_RDWR."""
    fs = make_fs(fake)
    close(fs, "/f", write_file(fs, "/f", b"data"))
    handle = fi(flags)
    fs.open("/f", handle)
    assert fs.fsync("/f", 0, handle) == 0
    if flags != os.O_RDONLY:
        with pytest.raises(OSError, match="is committed") as raised:
            fs.write("/f", b"x", 0, handle)
        assert raised.value.errno == errno.EPERM
    close(fs, "/f", handle)
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"data"
    assert [r.state for r in fs.records] == ["committed"]


def test_a_failed_commit_is_eio_at_close_and_publishes_nothing(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    fs = make_fs(faulty)
    faulty.fail("complete_multipart_upload", "InternalError")
    handle = write_file(fs, "/f", payload(2 * PART))
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.flush("/f", handle)
    assert raised.value.errno == errno.EIO
    fs.release("/f", handle)
    assert fake.objects == {}
    assert fake.live_uploads() == []
    (failed,) = fs.failures()
    assert failed.state == "failed"
    assert "CompleteMultipartUpload" in (failed.error or "")
    assert fs.failures_seen  # type: ignore[attr-defined]


def test_no_overwrite_refuses_at_the_first_part_with_eio(fake: FakeS3) -> None:
    """--no-overwrite: an existing key is refused before its first part is sent."""
    fs = make_fs(fake, if_none_match="*")
    fake.seed(BUCKET, "backups/tonight/f", b"yesterday")
    handle = fi()
    fs.create("/f", 0o644, handle)
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.write("/f", payload(PART), 0, handle)
        fs.write("/f", b"x", PART, handle)
        fs.flush("/f", handle)
    assert raised.value.errno == errno.EIO
    fs.release("/f", handle)
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"yesterday"
    assert fake.count("upload_part") == 0


def test_the_commit_waits_for_the_last_writable_handle(fake: FakeS3) -> None:
    fs = make_fs(fake)
    first = write_file(fs, "/f", b"ab")
    second = fi()
    fs.open("/f", second)
    close(fs, "/f", first)
    assert fake.objects == {}
    fs.write("/f", b"cd", 2, second)
    close(fs, "/f", second)
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"abcd"


def test_files_open_at_unmount_are_aborted(fake: FakeS3) -> None:
    fs = make_fs(fake)
    write_file(fs, "/big", payload(3 * PART))
    write_file(fs, "/small", b"x")
    fs.destroy("/")
    assert fake.objects == {}
    assert fake.live_uploads() == []
    assert sorted(r.path for r in fs.failures()) == ["/big", "/small"]
    assert all("still open at unmount" in (r.error or "") for r in fs.failures())


def test_rename_while_writing_changes_the_key(fake: FakeS3) -> None:
    """Before its first part (no upload yet) and after (copied at commit)."""
    fs = make_fs(fake)
    small = write_file(fs, "/a.tmp", b"small")
    fs.rename("/a.tmp", "/a")
    close(fs, "/a", small)
    data = payload(2 * PART + 1)
    big = write_file(fs, "/b.tmp", data)
    fs.rename("/b.tmp", "/b")
    close(fs, "/b", big)
    assert sorted(k for _, k in fake.objects) == ["backups/tonight/a", "backups/tonight/b"]
    assert fake.object_bytes(BUCKET, "backups/tonight/b") == data


def test_rename_of_a_committed_file_is_a_verified_copy_then_delete(fake: FakeS3) -> None:
    """pg_basebackup writes backup_manifest.tmp, closes it, then renames it."""
    fs = make_fs(fake)
    data = payload(PART + 3)
    close(fs, "/backup_manifest.tmp", write_file(fs, "/backup_manifest.tmp", data))
    fs.rename("/backup_manifest.tmp", "/backup_manifest")
    assert [k for _, k in fake.objects] == ["backups/tonight/backup_manifest"]
    assert fake.object_bytes(BUCKET, "backups/tonight/backup_manifest") == data
    assert fake.count("copy_object") == 1
    assert fs.getattr("/backup_manifest")["st_size"] == len(data)
    with pytest.raises(OSError, match=r"backup_manifest\.tmp"):
        fs.getattr("/backup_manifest.tmp")


def test_a_copy_that_does_not_match_keeps_the_source(fake: FakeS3) -> None:
    fs = make_fs(fake)
    close(fs, "/m.tmp", write_file(fs, "/m.tmp", b"manifest"))
    real = fake.copy_object

    def bad_copy(bucket: str, source: str, target: str) -> None:
        real(bucket, source, target)
        fake.objects[(bucket, target)].size -= 1  # the store kept fewer bytes

    fake.copy_object = bad_copy  # type: ignore[method-assign]
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.rename("/m.tmp", "/m")
    assert raised.value.errno == errno.EIO
    assert [k for _, k in fake.objects] == ["backups/tonight/m.tmp"]


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        (lambda fs: fs.read("/f", 10, 0, fi(os.O_RDONLY)), errno.EACCES),
        (lambda fs: fs.truncate("/f", 3), errno.EPERM),
        (lambda fs: fs.link("/g", "/f"), errno.EPERM),
        (lambda fs: fs.symlink("/g", "/f"), errno.EPERM),
        (lambda fs: fs.setxattr("/f", "user.x", b"1", 0), errno.ENOTSUP),
        (lambda fs: fs.open("/f", fi(os.O_WRONLY | os.O_APPEND)), errno.EPERM),
        (lambda fs: fs.unlink("/f"), errno.EPERM),
    ],
    ids=["read", "truncate", "link", "symlink", "xattr", "append", "unlink"],
)
def test_what_a_write_only_store_cannot_do_is_refused(
    fake: FakeS3, operation: Any, code: int
) -> None:
    fs = make_fs(fake)
    close(fs, "/f", write_file(fs, "/f", b"committed"))
    with pytest.raises(OSError, match=r"\S") as raised:
        operation(fs)
    assert raised.value.errno == code
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"committed"


def test_the_status_file_is_readable(fake: FakeS3) -> None:
    fs = make_fs(fake)
    close(fs, "/f", write_file(fs, "/f", b"1"))
    write_file(fs, "/g", b"22")
    text = fs.read(STATUS_PATH, 1 << 20, 0, fi(os.O_RDONLY)).decode()
    states = [json.loads(line)["state"] for line in text.splitlines()]
    assert states == ["committed", "writing"]


def test_many_open_files_share_one_memory_budget(fake: FakeS3) -> None:
    """40 files open at once, each with less than a part: staging holds only their bytes,
    so all fit a budget of 3 parts (a part buffer each would need 40 parts); a file that
    grows past a part gets part buffers from the same budget."""
    fs = make_fs(fake, budget=3 * PART, concurrency=1)
    handles = {f"/f{i}": write_file(fs, f"/f{i}", payload(256 * 1024, seed=i)) for i in range(40)}
    assert fs.budget.peak <= 3 * PART
    big = write_file(fs, "/big", payload(4 * PART))
    close(fs, "/big", big)
    for path, handle in handles.items():
        close(fs, path, handle)
    assert len(fake.objects) == 41
    assert fs.budget.peak <= 3 * PART
    assert fs.budget.charged == 0


def test_a_write_waits_for_memory_and_goes_on_when_it_is_free(fake: FakeS3) -> None:
    fs = make_fs(fake, budget=PART)
    first = write_file(fs, "/a", payload(PART - 10))
    second = fi()
    fs.create("/b", 0o644, second)
    done = threading.Event()

    def writer() -> None:
        fs.write("/b", payload(100), 0, second)
        done.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert not done.wait(0.5)  # the budget is spent by /a's staging
    close(fs, "/a", first)
    assert done.wait(5)
    close(fs, "/b", second)
    assert len(fake.objects) == 2


def test_files_that_hold_the_budget_make_a_waiting_write_fail_not_hang(fake: FakeS3) -> None:
    """A program writing, in turns, to more files past their first part than the budget has
    parts for: each holds a part buffer, none can free one, so the write that cannot get
    memory fails after max_wait (EIO, that file aborted) instead of hanging for ever."""
    fs = make_fs(fake, budget=2 * PART, max_wait=0.5)
    # Each holds a part buffer with one byte in it, waiting for more: the budget is spent.
    first = write_file(fs, "/a", payload(PART + 1))
    third = write_file(fs, "/c", payload(PART + 1))
    second = fi()
    fs.create("/b", 0o644, second)
    with pytest.raises(OSError, match="no memory") as raised:
        fs.write("/b", payload(10), 0, second)
    assert raised.value.errno == errno.EIO
    assert [r.path for r in fs.failures()] == ["/b"]
    close(fs, "/a", first)
    close(fs, "/c", third)
    assert sorted(k for _, k in fake.objects) == ["backups/tonight/a", "backups/tonight/c"]


def test_directories_are_markers_so_that_empty_ones_are_restored(fake: FakeS3) -> None:
    """pg_basebackup's empty pg_notify, pg_tblspc, ...: a restore needs them."""
    fs = make_fs(fake)
    fs.mkdir("/base", 0o700)
    fs.mkdir("/base/pg_notify", 0o700)
    fs.mkdir("/base/gone", 0o700)
    fs.mkdir("/base/old", 0o700)
    fs.rmdir("/base/gone")
    fs.rename("/base/old", "/base/new")
    assert sorted(k for _, k in fake.objects) == [
        "backups/tonight/base/",
        "backups/tonight/base/new/",
        "backups/tonight/base/pg_notify/",
    ]
    assert fs.records == []  # markers are not files


def test_a_marker_left_by_an_earlier_run_is_kept(fake: FakeS3) -> None:
    make_fs(fake).mkdir("/d", 0o755)  # an earlier run's
    fs = make_fs(fake, if_none_match="*")
    fs.mkdir("/d", 0o755)
    fs.rmdir("/d")  # not this mount's marker: never deleted
    assert set(fake.objects) == {(BUCKET, "backups/tonight/d/")}


def test_a_directory_whose_marker_fails_is_not_made(faulty: FaultyStore) -> None:
    faulty.fail("put_object", "AccessDenied")
    fs = make_fs(faulty)
    with pytest.raises(OSError, match="directory marker") as raised:
        fs.mkdir("/d", 0o755)
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError, match=r"\S"):
        fs.getattr("/d")


@pytest.mark.parametrize("size", [100, 3 * PART + 5], ids=["small", "multipart"])
def test_compressed_files_stage_their_source_bytes(fake: FakeS3, size: int) -> None:
    """With compress, the staged bytes are the source: they go through write() (the stored
    parts are compressed), and the budget is all given back."""
    import zstandard

    fs = make_fs(fake, budget=4 * PART, compress="zstd:1")
    data = payload(size)
    close(fs, "/f.zst", write_file(fs, "/f.zst", data))
    stored = fake.object_bytes(BUCKET, "backups/tonight/f.zst")
    assert zstandard.ZstdDecompressor().decompressobj().decompress(stored) == data
    assert fs.budget.charged == 0


def test_compressed_files_open_at_once_hold_what_they_store_not_a_part(fake: FakeS3) -> None:
    """A compressed file's first part buffer grows with its compressed bytes: four such
    files written at once under a budget of three parts each hold a small buffer, so the
    fourth file's staging gets its memory (with a full part charged each, it waited)."""
    import zstandard

    fs = make_fs(fake, budget=3 * PART, max_wait=WAIT, compress="zstd:1")
    data = {f"/f{i}.zst": text_like(2 * PART, seed=i) for i in range(4)}
    handles = {path: write_file(fs, path, body) for path, body in data.items()}
    assert fs.budget.charged < 2 * PART
    for path, handle in handles.items():
        close(fs, path, handle)
    for path, body in data.items():
        stored = fake.object_bytes(BUCKET, f"backups/tonight{path}")
        assert zstandard.ZstdDecompressor().decompressobj().decompress(stored) == body
    assert fs.budget.charged == 0


def test_small_writes_reach_the_writer_gathered(
    fake: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tar's 10 KiB records: after the first part, the writer gets them 256 KiB at a time,
    and the object is the same bytes."""
    from s3sink._mount import fs as _mountfs

    calls: list[int] = []
    real_write = S3MultipartWriter.write

    def counting(self: S3MultipartWriter, data: Any) -> int:
        calls.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(S3MultipartWriter, "write", counting)
    fs = make_fs(fake)
    data = payload(2 * PART + 12345)
    close(fs, "/x.tar", write_file(fs, "/x.tar", data, chunk=10240))
    assert fake.object_bytes(BUCKET, "backups/tonight/x.tar") == data
    after_first_part = (len(data) - PART) // 10240
    assert len(calls) < after_first_part / 20  # not one per write
    assert max(calls) < _mountfs.COALESCE + 10240


def test_markers_are_empty_and_unlocked_whatever_the_files_are(fake: FakeS3) -> None:
    """With --compress and Object Lock, a directory's marker stays an empty object with no
    lock (so rmdir can remove it), while the files are compressed and locked."""
    import datetime as dt

    lock = {
        "ObjectLockMode": "GOVERNANCE",
        "ObjectLockRetainUntilDate": dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc),
    }
    fs = make_fs(fake, compress="zstd", extra_args=lock)
    fs.mkdir("/d", 0o755)
    close(fs, "/d/f.zst", write_file(fs, "/d/f.zst", b"data" * 1000))
    marker = fake.objects[BUCKET, "backups/tonight/d/"]
    assert marker.data == b""
    assert "ObjectLockMode" not in marker.extra
    assert "ContentType" not in marker.extra
    stored = fake.objects[BUCKET, "backups/tonight/d/f.zst"]
    assert stored.extra["ObjectLockMode"] == "GOVERNANCE"
    assert stored.extra["ContentType"] == "application/zstd"


def test_a_compressed_file_keeps_the_size_written_and_reports_the_stored_size(
    fake: FakeS3,
) -> None:
    """``size`` is what the program wrote (stat, status file); ``stored_size`` is the object's
    compressed size, a field of its own."""
    fs = make_fs(fake, compress="zstd:1")
    data = b"0123456789" * 300_000
    close(fs, "/log.zst", write_file(fs, "/log.zst", data))
    stored = len(fake.object_bytes(BUCKET, "backups/tonight/log.zst"))
    assert stored < len(data) // 100
    assert fs.getattr("/log.zst")["st_size"] == len(data)
    record = json.loads(fs.status_text())
    assert (record["size"], record["stored_size"]) == (len(data), stored)
    fs.rename("/log.zst", "/log.1.zst")  # a verified copy keeps both
    (moved,) = fs.committed()
    assert (moved.size, moved.stored_size) == (len(data), stored)
    assert fs.getattr("/log.1.zst")["st_size"] == len(data)


def test_a_retention_duration_counts_from_each_files_commit(fake: FakeS3) -> None:
    """--object-lock-retain-until 35d: a file committed on day 34 is retained until day 69;
    one past its first part gets its date at that part and is moved to 35 days from its
    commit once committed."""
    day0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    clock = [day0]
    retention = FileRetention("GOVERNANCE", dt.timedelta(days=35), clock=lambda: clock[0])
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": day0 + dt.timedelta(35)}
    fs = make_fs(fake, retention=retention, extra_args=lock)
    big = write_file(fs, "/big", payload(PART + 1))  # its upload began on day 0
    clock[0] = day0 + dt.timedelta(days=34)
    close(fs, "/small", write_file(fs, "/small", b"day 34"))
    close(fs, "/big", big)
    for key in ("small", "big"):
        obj = fake.objects[BUCKET, f"backups/tonight/{key}"]
        assert obj.extra["ObjectLockRetainUntilDate"] == day0 + dt.timedelta(days=34 + 35), key
    assert fake.count("put_object_lock") == 1  # only the file whose date was set earlier


@pytest.mark.parametrize(
    ("path", "options", "code"),
    [
        (
            "/f",
            {
                "extra_args": {
                    "ObjectLockMode": "GOVERNANCE",
                    "ObjectLockRetainUntilDate": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
                }
            },
            errno.EIO,
        ),
        ("/" + "x" * 1100, {}, errno.EINVAL),
    ],
    ids=["retention-past", "key-too-long"],
)
def test_a_file_that_could_not_be_stored_is_refused_at_its_open(
    fake: FakeS3, path: str, options: dict[str, Any], code: int
) -> None:
    """Refused at create (the program sees the errno), not at a commit that may come from a
    dup2 or an exit, which reports to no one; and counted as failed."""
    fs = make_fs(fake, **options)
    with pytest.raises(OSError, match="cannot be written") as raised:
        fs.create(path, 0o644, fi())
    assert raised.value.errno == code
    with pytest.raises(OSError, match=r"\S"):
        fs.getattr(path)
    assert [r.state for r in fs.failures()] == ["failed"]
    assert fs.failures_seen  # type: ignore[attr-defined]
    assert fake.objects == {}


def status_lines(fs: UploadFS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fs.status_text().splitlines()]


def test_a_name_whose_key_a_renamed_upload_still_targets_is_busy(fake: FakeS3) -> None:
    """Log rotation: app.log's upload began (its key is app.log's), then app.log became
    app.log.1. Until app.log.1 is committed there and moved, a new app.log (created, or
    renamed there) is EBUSY: published first, it would be overwritten, then deleted."""
    fs = make_fs(fake)
    old_data = payload(PART + 1)
    old = write_file(fs, "/app.log", old_data)  # part 1 is out: the upload exists
    fs.rename("/app.log", "/app.log.1")
    close(fs, "/other", write_file(fs, "/other", b"other"))
    for attempt in (
        lambda: fs.create("/app.log", 0o644, fi()),
        lambda: fs.open("/app.log", fi(os.O_WRONLY | os.O_CREAT)),
        lambda: fs.rename("/other", "/app.log"),
    ):
        with pytest.raises(OSError, match="renamed from it") as raised:
            attempt()
        assert raised.value.errno == errno.EBUSY
    fs.write("/app.log.1", b"tail", PART + 1, old)
    close(fs, "/app.log.1", old)
    close(fs, "/app.log", write_file(fs, "/app.log", b"new"))
    assert fake.object_bytes(BUCKET, "backups/tonight/app.log.1") == old_data + b"tail"
    assert fake.object_bytes(BUCKET, "backups/tonight/app.log") == b"new"
    assert fs.failures() == []
    committed = {r["key"]: r["size"] for r in status_lines(fs) if r["state"] == "committed"}
    assert committed == {
        k: len(fake.object_bytes(BUCKET, k)) for (_, k) in fake.objects
    }  # the status file matches the bucket


def test_a_renamed_file_is_one_line_of_the_status_file(fake: FakeS3) -> None:
    """A committed file renamed: its line moves to the new name and key (the old key is
    gone from the bucket)."""
    fs = make_fs(fake)
    close(fs, "/m.tmp", write_file(fs, "/m.tmp", b"manifest"))
    fs.rename("/m.tmp", "/m")
    assert [(r["path"], r["key"]) for r in status_lines(fs)] == [("/m", "backups/tonight/m")]


def test_a_renamed_file_whose_move_fails_is_reported_where_it_is(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """Committed under its upload's key, then the copy to its new name fails: EIO, and the
    status file names the key where the object is."""
    fs = make_fs(faulty)
    faulty.fail("copy_object", "InternalError")
    handle = write_file(fs, "/a.tmp", payload(PART + 1))
    fs.rename("/a.tmp", "/a")
    with pytest.raises(OSError, match="CopyObject failed") as raised:
        fs.flush("/a", handle)
    assert raised.value.errno == errno.EIO
    fs.release("/a", handle)
    (line,) = status_lines(fs)
    assert (line["state"], line["key"]) == ("failed", "backups/tonight/a.tmp")
    assert [k for _, k in fake.objects] == ["backups/tonight/a.tmp"]


def test_a_wait_for_memory_lasts_its_real_time_whatever_wakes_it(fake: FakeS3) -> None:
    """Every buffer released anywhere wakes a waiting write: 30 wake-ups in well under a
    second are not 30 seconds (the wait counted one second per wake-up, so a 60 s wait ended
    after ~1.7 s of a large file's parts)."""
    fs = make_fs(fake, budget=PART, max_wait=10.0)
    first = write_file(fs, "/a", payload(PART - 3))  # the budget is spent by its staging
    second = fi()
    fs.create("/b", 0o644, second)
    waiting = Background(lambda: fs.write("/b", b"hello\n", 0, second))
    for _ in range(30):
        time.sleep(0.02)
        with fs.budget.cond:
            fs.budget.cond.notify_all()
    assert not waiting.done.is_set(), waiting.error  # still waiting: 10 s have not passed
    close(fs, "/a", first)
    assert waiting.join() == 6
    close(fs, "/b", second)
    assert fake.object_bytes(BUCKET, "backups/tonight/b") == b"hello\n"


def test_a_write_takes_back_the_budgets_idle_spare_buffers(fake: FakeS3) -> None:
    """A file past its parts leaves its sent buffers as spares of the budget (for the next
    part of any file); a small file's staging takes that memory back instead of waiting for
    it (it waited until --max-memory's wait ran out: EIO)."""
    fs = make_fs(fake, budget=2 * PART, max_wait=3.0)
    big = write_file(fs, "/big", payload(2 * PART))  # part 2 filling
    assert fake.wait_for_calls("upload_part", 1)  # part 1 sent: its buffer is a spare
    small = write_file(fs, "/small", b"hello\n")
    close(fs, "/small", small)
    close(fs, "/big", big)
    assert fake.object_bytes(BUCKET, "backups/tonight/small") == b"hello\n"
    assert fs.failures() == []


def test_a_file_being_streamed_does_not_starve_a_waiting_one(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """--max-memory of 3 parts, one file streaming with parts in flight (held here): a small
    file's write that waits for memory gets it at the next part sent, before the large file
    takes more (first come, first served); the large file took every buffer back first, for
    as long as it streamed."""
    fs = make_fs(faulty, budget=3 * PART, concurrency=4)
    gates = {n: faulty.hold_parts(n) for n in range(2, 21)}
    chunk = payload(1 << 20)
    big = fi()
    fs.create("/big", 0o644, big)

    def stream() -> None:
        for i in range(20 * 5):
            fs.write("/big", chunk, i << 20, big)

    streaming = Background(stream)
    assert faulty.wait_for_in_flight(3)  # parts 2-4 held: the budget is spent
    small = fi()
    fs.create("/small", 0o644, small)
    writing = Background(lambda: fs.write("/small", b"hello\n", 0, small))
    for number in range(2, 8):  # one part sent at a time
        gates[number].set()
        if writing.done.wait(2.0):
            break
    assert writing.done.is_set(), "the small file's write is still waiting"
    assert not streaming.done.is_set()  # the large file is still being written
    assert writing.join() == 6
    close(fs, "/small", small)
    for gate in gates.values():
        gate.set()
    streaming.join()
    close(fs, "/big", big)
    assert fake.object_bytes(BUCKET, "backups/tonight/small") == b"hello\n"
    assert len(fake.object_bytes(BUCKET, "backups/tonight/big")) == 100 << 20


def test_closing_a_copy_while_another_descriptor_remains_does_not_commit(fake: FakeS3) -> None:
    """``exec 3>f; echo first >&3; echo second >&3; exec 3>&-``: each echo's dup2 back closes
    a copy of fd 3 (a flush) while fd 3 remains; the file is committed whole at the close
    after which no process holds it (it was committed at the first: ``first`` alone)."""
    held: set[str] = set()
    fs = make_fs(fake, holders=held)
    handle = fi()
    fs.create("/f", 0o644, handle)
    held.add("/f")  # fd 3
    fs.write("/f", b"first\n", 0, handle)
    fs.flush("/f", handle)  # stdout restored: a copy closed
    fs.write("/f", b"second\n", 6, handle)
    fs.flush("/f", handle)
    assert fake.objects == {}
    held.discard("/f")
    fs.flush("/f", handle)  # exec 3>&-: the last descriptor
    assert fake.object_bytes(BUCKET, "backups/tonight/f") == b"first\nsecond\n"
    fs.release("/f", handle)
    assert [r.state for r in fs.records] == ["committed"]


def test_a_file_still_held_at_the_openers_close_commits_at_release(
    fake: FakeS3, faulty: FaultyStore
) -> None:
    """A child still holds the file when the parent closes it: that close commits nothing;
    the child's writes go on, and the last reference's release commits. A failure there has
    no close to go to: it is in the status file (and a later fsync of the path says EIO)."""
    held = {"/ok", "/bad"}
    fs = make_fs(faulty, holders=held)
    faulty.fail("put_object", "InternalError", times=1)
    for path in ("/bad", "/ok"):
        handle = write_file(fs, path, b"parent\n")
        fs.flush(path, handle)  # the parent's close: the child still holds it
        fs.write(path, b"child\n", 7, handle)
        held.discard(path)
        fs.release(path, handle)  # the child's exit, without a flush that committed
    assert fake.object_bytes(BUCKET, "backups/tonight/ok") == b"parent\nchild\n"
    assert [(r.path, r.state) for r in fs.records] == [("/bad", "failed"), ("/ok", "committed")]
    later = fi(os.O_RDONLY)
    with pytest.raises(OSError, match=r"\S") as raised:
        fs.open("/bad", later)
        fs.fsync("/bad", 0, later)
    assert raised.value.errno in (errno.ENOENT, errno.EIO)


def make_proc(root: Any, pid: int, fds: dict[int, tuple[str, int]]) -> None:
    """A /proc/PID with descriptors (target, open flags) as the kernel shows them."""
    (root / str(pid) / "fd").mkdir(parents=True)
    (root / str(pid) / "fdinfo").mkdir()
    for fd, (target, flags) in fds.items():
        (root / str(pid) / "fd" / str(fd)).symlink_to(target)
        (root / str(pid) / "fdinfo" / str(fd)).write_text(
            f"pos:\t0\nflags:\t{flags:o}\nmnt_id:\t42\nino:\t7\n"
        )


def test_holders_are_the_writable_descriptors_of_other_processes(tmp_path: Any) -> None:
    """A descriptor open for writing on the path, in any process but the mount's own;
    read-only ones (a reopen to fsync), other paths and vanished entries do not count."""
    proc = tmp_path / "proc"
    make_proc(proc, 100, {3: ("/mnt/b/f", os.O_RDONLY), 4: ("/mnt/b/g", os.O_WRONLY)})
    make_proc(proc, 200, {1: ("/mnt/b/dir/f", os.O_WRONLY | os.O_APPEND)})
    make_proc(proc, 300, {5: ("/mnt/b/own", os.O_RDWR)})
    (proc / "self").mkdir()  # not a process
    (proc / "400").mkdir()  # no fd directory: gone, or not ours to read
    holders = ProcHolders("/mnt/b/", proc=str(proc), own_pid=300)
    assert holders.writing("/g")
    assert holders.writing("/dir/f")
    assert not holders.writing("/f")  # read-only
    assert not holders.writing("/own")  # the mount's own descriptor
    assert not holders.writing("/none")


def test_every_close_of_a_file_that_failed_says_eio(fake: FakeS3, faulty: FaultyStore) -> None:
    """A part fails while the program writes: the write that meets it says EIO, but the
    kernel turns that into a short count when earlier pieces of the same write(2) went in,
    so the close must say it too (it returned 0: a program that did not check the count
    saw a clean close of a file that was not stored)."""
    fs = make_fs(faulty)
    faulty.fail("upload_part", "InternalError")
    handle = write_file(fs, "/f", payload(PART + 1))  # part 1 goes out with more, and fails
    # The part fails on a worker thread: keep writing (bounded) until a write meets it.
    offset, deadline = PART + 1, time.monotonic() + 60
    with pytest.raises(OSError, match=r"\S") as at_write:
        while time.monotonic() < deadline:
            fs.write("/f", payload(1 << 16), offset, handle)
            offset += 1 << 16
            time.sleep(0.001)
    assert at_write.value.errno == errno.EIO
    with pytest.raises(OSError, match="was not stored") as at_close:
        fs.flush("/f", handle)
    assert at_close.value.errno == errno.EIO
    fs.release("/f", handle)
    assert fake.objects == {}
    assert [r.state for r in fs.failures()] == ["failed"]
