"""Many objects at once (``s3sink._read.tree``): every item's outcome, at most ``workers`` at
once, errors as outcomes, an interrupt that stops the run and waits for what is in progress;
and one file of a tree committed only once fetched, never after a cancel, never over an
existing file without overwrite."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from s3sink._read.outfile import OutputExists
from s3sink._read.paths import KeyRefused, TreeRoot, relative_path
from s3sink._read.tree import Cancel, Cancelled, GuardedOutput, each_in_parallel, restore_file
from s3sink.errors import S3SinkError


def test_every_item_has_its_outcome() -> None:
    """Results and S3SinkErrors both come back, one outcome per item."""

    def work(n: int) -> int:
        if n == 3:
            raise S3SinkError("three failed")
        return n * 10

    cancel = Cancel()
    outcomes = list(each_in_parallel(range(6), work, workers=2, cancel=cancel))
    assert sorted(o.item for o in outcomes) == list(range(6))
    assert {o.item: o.result for o in outcomes if o.error is None} == {
        0: 0, 1: 10, 2: 20, 4: 40, 5: 50,
    }  # fmt: skip
    assert [str(o.error) for o in outcomes if o.error is not None] == ["three failed"]
    assert not cancel.is_set()


def test_at_most_workers_at_once() -> None:
    """The third item starts only once one of the first two has ended."""
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Semaphore(0)

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.acquire()
        with lock:
            running -= 1
        return n

    outcomes = each_in_parallel(range(5), work, workers=2, cancel=Cancel())
    for _ in range(5):
        release.release()
    assert len(list(outcomes)) == 5
    assert most <= 2


def test_an_interrupt_cancels_and_waits_for_work_in_progress() -> None:
    """An exception in the loop's body (an interrupt) cancels the run: nothing more starts,
    the work in progress is woken through what it registered (a reader waiting for a GET
    is closed), and the loop returns only once that work has ended."""
    cancel = Cancel()
    started: list[int] = []
    finished: list[int] = []

    def work(n: int) -> int:
        started.append(n)
        if n == 0:
            return n
        woken = threading.Event()
        with cancel.watch(woken.set):  # what read_into does with its reader
            woken.wait()
        finished.append(n)
        return n

    outcomes = each_in_parallel(range(100), work, workers=2, cancel=cancel)
    with pytest.raises(KeyboardInterrupt), contextlib.closing(outcomes):
        for outcome in outcomes:
            assert outcome.item == 0
            raise KeyboardInterrupt
    assert cancel.is_set()
    assert sorted(finished) == sorted(n for n in started if n)
    assert len(started) <= 3


def test_watch_after_cancel_closes_at_once() -> None:
    """A closer registered once the run is cancelled is called at once."""
    cancel = Cancel()
    cancel.set()
    calls: list[str] = []
    with cancel.watch(lambda: calls.append("closed")):
        assert calls == ["closed"]


def test_a_bug_in_work_goes_up() -> None:
    """An exception that is no S3SinkError or OSError is not an outcome: it ends the run."""

    def work(n: int) -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        list(each_in_parallel(range(3), work, workers=2, cancel=Cancel()))


def _fetch_bytes(data: bytes):  # type: ignore[no-untyped-def]
    def fetch(entry: object, out: GuardedOutput) -> int:
        out.write(data)
        return len(data)

    return fetch


def test_restore_file_commits_what_was_fetched(tmp_path: Path) -> None:
    """The file appears at DIR/relative-key with the fetched bytes."""
    with TreeRoot(tmp_path) as root:
        entry = relative_path("p/a/b.txt", "p/")
        size = restore_file(root, entry, _fetch_bytes(b"hello"), overwrite=False,
                            cancel=Cancel())  # fmt: skip
    assert size == 5
    assert (tmp_path / "a/b.txt").read_bytes() == b"hello"


def test_a_failed_fetch_leaves_nothing(tmp_path: Path) -> None:
    """A fetch that raises (a mismatch) leaves no file and no temporary file."""

    def fetch(entry: object, out: GuardedOutput) -> int:
        out.write(b"bad bytes")
        raise S3SinkError("checksum mismatch")

    with TreeRoot(tmp_path) as root, pytest.raises(S3SinkError, match="mismatch"):
        restore_file(root, relative_path("p/f", "p/"), fetch, overwrite=False,
                     cancel=Cancel())  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_no_commit_after_cancel(tmp_path: Path) -> None:
    """Cancelled while fetching: the next write fails, and nothing is committed."""
    cancel = Cancel()

    def fetch(entry: object, out: GuardedOutput) -> int:
        out.write(b"first")
        cancel.set()
        out.write(b"second")
        return 0

    with TreeRoot(tmp_path) as root, pytest.raises(Cancelled):
        restore_file(root, relative_path("p/f", "p/"), fetch, overwrite=False, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_refused_before_any_read(tmp_path: Path) -> None:
    """Without overwrite an existing file is refused and fetch never runs; with it, the
    file is replaced."""
    (tmp_path / "f").write_bytes(b"old")
    calls: list[str] = []

    def fetch(entry: object, out: GuardedOutput) -> int:
        calls.append("fetch")
        out.write(b"new")
        return 3

    with TreeRoot(tmp_path) as root:
        with pytest.raises(OutputExists):
            restore_file(root, relative_path("p/f", "p/"), fetch, overwrite=False,
                         cancel=Cancel())  # fmt: skip
        assert calls == []
        restore_file(root, relative_path("p/f", "p/"), fetch, overwrite=True,
                     cancel=Cancel())  # fmt: skip
    assert (tmp_path / "f").read_bytes() == b"new"


def test_a_link_on_the_way_is_refused_before_any_read(tmp_path: Path) -> None:
    """A symbolic link where a directory of the key should be: refused, fetch never runs,
    nothing written where the link points."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir/sub").symlink_to(outside)
    with TreeRoot(tmp_path / "dir") as root, pytest.raises(KeyRefused, match="symbolic link"):
        restore_file(root, relative_path("p/sub/f", "p/"), _fetch_bytes(b"x"),
                     overwrite=True, cancel=Cancel())  # fmt: skip
    assert list(outside.iterdir()) == []
