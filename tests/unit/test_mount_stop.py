"""The mount stopping at once (a second SIGINT, SIGTERM or SIGHUP): every file still open is
aborted now, even one whose close is still sending its parts or whose write waits for
memory; that request fails with EIO and nothing of the file is published."""

from __future__ import annotations

import errno

import pytest

from tests.support.fakes import PART, Background, FakeS3, payload, wait_until
from tests.support.faults import FaultyStore
from tests.unit.test_mountfs import close, fi, make_fs, write_file

REASON = "a second signal (SIGINT)"


@pytest.fixture
def fake() -> FakeS3:
    return FakeS3()


def test_a_commit_still_sending_its_parts_is_aborted(fake: FakeS3, faulty: FaultyStore) -> None:
    fs = make_fs(faulty)
    held = faulty.hold_parts(1)
    handle = write_file(fs, "/f", payload(PART + 10))  # part 1 in flight, held
    closing = Background(lambda: close(fs, "/f", handle))
    faulty.wait_for_part(2)  # the close sent the tail: it waits for part 1 now
    stopping = Background(lambda: fs.stop_open_files(REASON))
    # The cancelled close aborts the upload, then waits for the part in flight.
    wait_until(lambda: faulty.count("abort_multipart_upload") > 0)
    held.set()
    stopping.join()
    with pytest.raises(OSError, match=r"\S") as raised:
        closing.join()
    assert raised.value.errno == errno.EIO
    (record,) = fs.failures()
    assert (record.path, record.state) == ("/f", "aborted")
    assert record.error is not None
    assert f"still open at {REASON}" in record.error
    assert fake.objects == {}
    assert fake.live_uploads() == []


def test_a_write_waiting_for_memory_gives_up(fake: FakeS3) -> None:
    fs = make_fs(fake, budget=PART)  # waits for memory would last forever (no max_wait)
    first = write_file(fs, "/a", payload(PART - 10))  # the budget is spent
    second = fi()
    fs.create("/b", 0o644, second)
    waiting = Background(lambda: fs.write("/b", payload(100), 0, second))
    wait_until(lambda: bool(fs.budget._queue))  # /b waits its turn (no public view of it)
    fs.stop_open_files(REASON)
    with pytest.raises(OSError, match=r"\S") as raised:
        waiting.join()
    assert raised.value.errno == errno.EIO
    assert sorted((r.path, r.state) for r in fs.failures()) == [
        ("/a", "aborted"),
        ("/b", "aborted"),
    ]
    close(fs, "/a", first)
    close(fs, "/b", second)
    assert fake.objects == {}
    assert fs.budget.charged == 0
