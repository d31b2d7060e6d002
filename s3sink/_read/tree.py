"""Many objects at once: ``s3sink get s3://B/PREFIX/ DIR`` (a tree restored) and ``s3sink
verify s3://B/PREFIX/ --recursive`` (every object read and checked).

Objects are handled on ``workers`` threads, each reading one object with its share of the
memory (the caller's reader gets ``budget`` bytes: ``max_memory // workers``), so the whole run
stays within ``max_memory`` however many objects there are. Results come back to the calling
thread as each object ends (the caller prints them there: no callback runs on a worker).

A restored file goes through :class:`~s3sink._read.outfile.OutputFile` in the directory that
:class:`~s3sink._read.paths.TreeRoot` resolved: nothing appears at its name until it is
verified. An interrupt (KeyboardInterrupt, or a signal made one) stops the run: nothing more is
started, the objects being read fail at their next write, no file is committed after it, and
every temporary file is removed before the interrupt goes on up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import S3SinkError
from .outfile import OutputExists, OutputFile
from .paths import KeyRefused, TreeEntry, TreeRoot, shown

__all__ = ["Cancel", "Cancelled", "GuardedOutput", "Outcome", "each_in_parallel", "restore_file"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class Cancelled(S3SinkError):
    """The run was interrupted: this object was not finished."""


class Cancel:
    """A run's cancellation: once :meth:`set`, nothing more starts, outputs take no more
    bytes, and every closer registered with :meth:`watch` is called at once (from the thread
    that cancels): a reader waiting for a stalled GET is closed rather than waited for."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._closers: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            closers = list(self._closers.values())
        for close in closers:
            close()

    @contextlib.contextmanager
    def watch(self, close: Callable[[], object]) -> Iterator[None]:
        """``close`` is called if the run is cancelled while the block runs (at once if it
        already was)."""
        with self._lock:
            token = next(self._ids)
            self._closers[token] = close
            cancelled = self._event.is_set()
        try:
            if cancelled:
                close()
            yield
        finally:
            with self._lock:
                del self._closers[token]


@dataclass(frozen=True)
class Outcome(Generic[_Item, _Result]):
    """How one object ended: its result, or the error that ended it (a refusal included)."""

    item: _Item
    result: _Result | None = None
    error: BaseException | None = None

    @property
    def refused(self) -> bool:
        """The object was not read: its key, or an existing file, was refused."""
        return isinstance(self.error, KeyRefused | OutputExists)


def each_in_parallel(
    items: Iterable[_Item],
    work: Callable[[_Item], _Result],
    *,
    workers: int,
    cancel: Cancel,
) -> Generator[Outcome[_Item, _Result], None, None]:
    """``work(item)`` for every item on ``workers`` threads, at most ``workers`` at once;
    each outcome is yielded in the calling thread as it comes. An exception in ``work``
    (S3SinkError or OSError) is that item's outcome; anything else (a bug, an interrupt in
    the calling thread, the generator closed early) sets ``cancel``, waits for the items in
    progress and goes on up. Iterate it inside ``contextlib.closing`` so an exception in the
    loop's body also ends it at once."""
    source = iter(items)
    started: dict[Future[_Result], _Item] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3sink-tree") as pool:
        try:
            while True:
                while len(started) < workers and not cancel.is_set():
                    try:
                        item = next(source)
                    except StopIteration:
                        break
                    started[pool.submit(work, item)] = item
                if not started:
                    return
                done, _ = wait(started, return_when=FIRST_COMPLETED)
                for future in done:
                    yield _outcome(started.pop(future), future)
        except BaseException:
            cancel.set()
            wait(started)
            raise


def _outcome(item: _Item, future: Future[_Result]) -> Outcome[_Item, _Result]:
    error = future.exception()
    if error is None:
        return Outcome(item, future.result())
    if isinstance(error, S3SinkError | OSError):
        return Outcome(item, error=error)
    raise error


class GuardedOutput:
    """An OutputFile that stops taking bytes once the run is cancelled, so the reader
    writing into it fails at its next write instead of reading on."""

    def __init__(self, out: OutputFile, cancel: Cancel) -> None:
        self._out = out
        self._cancel = cancel

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check()
        return self._out.write(data)

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        self._check()
        self._out.pwrite(data, offset)

    def fileno(self) -> int:
        return self._out.fileno()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"{self._out.shown}: interrupted")


def restore_file(
    root: TreeRoot,
    entry: TreeEntry,
    fetch: Callable[[TreeEntry, GuardedOutput], _Result],
    *,
    overwrite: bool,
    cancel: Cancel,
) -> _Result:
    """One file of a tree: DIR/entry written by ``fetch`` into its output, committed only
    once ``fetch`` returned (it verifies) and the run was not cancelled meanwhile."""
    if cancel.is_set():
        raise Cancelled(f"{shown(entry.key)}: interrupted before it started")
    dir_fd = root.parent_of(entry)
    place = shown(f"{root.path}/{entry.relative}")
    try:
        with OutputFile(dir_fd, entry.parts[-1], overwrite=overwrite, shown=place) as out:
            result = fetch(entry, GuardedOutput(out, cancel))
            if cancel.is_set():
                raise Cancelled(f"{place}: interrupted")
            out.commit()
    finally:
        os.close(dir_fd)
    return result
