"""A bounded pool for part uploads: back-pressure, a memory budget, first error wins.

The caller's thread fills part buffers and submits them; at most ``concurrency`` parts are
in flight, and every part buffer alive (being filled, in flight, or pooled for reuse) is
charged against ``max_memory``, so the writer blocks instead of growing. When parts grow,
fewer of them fit in the budget: the in-flight count drops rather than the budget being
exceeded.

A buffer is charged its length, always. A buffer that grows as its part's bytes arrive
(the writer's first, see ``_writer.buffer``) is charged each step before it takes it, not
the part it may become: what a 3-byte stream holds of a shared budget (the mount's files)
is what it has, and every release gives back ``len(buf)``, as before. In a pool of its
own, growing never waits (the first buffer is the only one charged); on a shared budget it
takes its turn like any other request.

Workers are daemon threads so that a part stalled on a dead connection can never keep the
interpreter alive after an abort (``ThreadPoolExecutor`` joins its threads at exit).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from .budget import BudgetExhausted, SharedBudget

__all__ = ["BudgetExhausted", "PartPool", "SharedBudget"]

T = TypeVar("T")

_Task = Callable[[], None]
_ALLOCATE = bytearray()  # attempt()'s answer when the memory is charged but not yet made


class PartPool:
    """Runs ``submit``-ted callables on worker threads within a count and a byte budget."""

    def __init__(
        self,
        *,
        concurrency: int,
        max_memory: int,
        name: str = "s3sink",
        limit_for: Callable[[int], int] | None = None,
        shared: SharedBudget | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.max_memory = max_memory
        self._shared = shared
        # What may be charged while parts have a given size (the default budget grows with
        # large parts, see _policy.MemoryPlan); never more than max_memory.
        self._limit_for = limit_for or (lambda _size: max_memory)
        self._name = name
        self._cond = shared.cond if shared is not None else threading.Condition()
        self._in_flight = 0
        self._callbacks = 0  # ``after`` callbacks still running (their slots are free)
        self._peak_in_flight = 0
        self._charged = 0
        self._peak_charged = 0
        self._pool: list[bytearray] = []
        self._error: BaseException | None = None
        self._sealed = False  # the commit has begun: cancel() no longer records
        self._closed = False
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    # -- state ------------------------------------------------------------------------
    @property
    def error(self) -> BaseException | None:
        """The first error recorded, if any."""
        with self._cond:
            return self._error

    @property
    def in_flight(self) -> int:
        """Parts submitted and not yet finished."""
        with self._cond:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The largest number of parts ever in flight at once."""
        with self._cond:
            return self._peak_in_flight

    @property
    def charged(self) -> int:
        """Bytes of part buffers alive now (filling, in flight and pooled)."""
        with self._cond:
            return self._charged

    @property
    def peak_charged(self) -> int:
        """The largest number of part-buffer bytes ever alive at once."""
        with self._cond:
            return self._peak_charged

    def record_error(self, exc: BaseException) -> None:
        """Record ``exc`` unless an earlier error was recorded; wake every waiter."""
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def cancel(self, exc: BaseException) -> bool:
        """Record ``exc`` (unless an earlier error was) and wake every waiter, but only while
        the commit has not begun; False once it has (see :meth:`seal`)."""
        with self._cond:
            if self._sealed:
                return False
            if self._error is None:
                self._error = exc
            self._cond.notify_all()
            return True

    def seal(self) -> None:
        """The commit begins: raise the first error if one was recorded, else make every
        later cancel() refuse, so that nothing interrupts the request that publishes."""
        with self._cond:
            self._raise_error()
            self._sealed = True

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # -- memory -----------------------------------------------------------------------
    def _limit(self, size: int) -> int:
        """What may be charged while parts are ``size`` bytes."""
        limit = self._limit_for(size)
        if self._shared is not None:
            limit = min(limit, self._shared.limit)
        return limit

    def fits(self, size: int) -> bool:
        """Whether a part of ``size`` bytes fits the budget at all (else acquire_buffer
        refuses it)."""
        return size <= self._limit(size)

    def acquire_buffer(self, size: int, *, initial: int | None = None) -> bytearray:
        """A buffer for a part of ``size`` bytes, charged to the budget: of exactly ``size``
        bytes, reused when possible; or, with ``initial``, a new one of ``initial`` bytes,
        which :meth:`grow_buffer` grows towards ``size`` as the part's bytes arrive.

        Blocks while the budget is spent; raises the first recorded error instead of
        waiting forever once an upload has failed.
        """
        if not self.fits(size):
            raise ValueError(f"a {size}-byte part does not fit the memory budget")
        length = size if initial is None else min(initial, size)
        got = self._take(length, self._limit(size), reuse=True)
        if got is not _ALLOCATE:
            return got
        try:
            # Outside the lock: zero-filling a large buffer takes a while.
            return bytearray(length)
        except BaseException:
            self._give_back(length)  # a MemoryError, or an interrupt: no one has the buffer
            raise

    def grow_buffer(self, buf: bytearray, length: int, size: int) -> None:
        """Grow ``buf`` (this pool's, charged its length, being filled for a part of
        ``size`` bytes, no view of it alive) to ``length`` bytes, in place; the bytes it
        gains are charged first, waiting for them like acquire_buffer.

        In place: CPython's resize is a realloc, which glibc does with mremap for a block
        this large (past its mmap threshold, 32 MiB at most), so the bytes already there are
        not copied and never held twice: growing to 1.5 GiB peaks at 1.5 GiB of RSS, where
        a new buffer and a copy would peak at 2.25 GiB (measured 2026-12-04). A smaller
        block may be copied, but its new tail is touched only after the old block is freed.
        """
        extra = length - len(buf)
        if extra <= 0:
            return
        self._take(extra, self._limit(size), reuse=False)
        before = len(buf)
        try:
            # bytes(n) is calloc-ed: untouched zero pages, so only buf's new tail is written.
            buf.extend(bytes(extra))
        except BaseException:
            if len(buf) == before:  # not grown (an interrupt may come just after it did)
                self._give_back(extra)
            raise

    def _give_back(self, n: int) -> None:
        """Uncharge ``n`` bytes charged for memory that was never made."""
        with self._cond:
            self._uncharge(n)
            self._cond.notify_all()

    def _take(self, n: int, limit: int, *, reuse: bool) -> bytearray:
        """Charge ``n`` bytes within ``limit``, waiting while they do not fit. With ``reuse``,
        a kept buffer of exactly ``n`` bytes (charged already) is taken when there is one;
        returns it, or ``_ALLOCATE`` when ``n`` new bytes were charged."""
        if self._shared is not None:
            return self._take_shared(n, limit, self._shared, reuse=reuse)
        with self._cond:
            while True:
                self._raise_error()
                for i, buf in enumerate(self._pool):
                    if reuse and len(buf) == n:
                        return self._pool.pop(i)
                if reuse or self._charged + n > limit:
                    # Pooled buffers of another size are useless now that parts have grown
                    # (and a buffer that grows needs their memory more than they do).
                    while self._pool:
                        self._uncharge(len(self._pool.pop()))
                if self._charged + n <= limit:
                    self._charged += n
                    self._peak_charged = max(self._peak_charged, self._charged)
                    return _ALLOCATE
                self._cond.wait()

    def _take_shared(self, n: int, limit: int, shared: SharedBudget, *, reuse: bool) -> bytearray:
        """_take from a shared budget: a spare of the size, or new memory, in turn with
        every other file's requests (released buffers go to the budget's spares, so this
        pool keeps none of its own)."""

        def attempt() -> bytearray | None:
            if self._charged + n > limit:
                return None
            spare = shared.take_spare(n) if reuse else None
            if spare is None:
                if not shared.fits(n):
                    return None
                shared.charge(n)
                spare = _ALLOCATE
            self._charged += n
            self._peak_charged = max(self._peak_charged, self._charged)
            return spare

        def exhausted(waited: float) -> BudgetExhausted:
            return BudgetExhausted(
                f"no memory for {n:,} bytes of a part after {waited:.0f} s: "
                f"the {shared.limit:,}-byte budget is held by other open files"
            )

        with self._cond:
            return shared.wait_turn(attempt, exhausted, check=self._raise_error)

    def adopt_buffer(self, size: int) -> None:
        """Count a buffer of ``size`` bytes made elsewhere and already charged to the shared
        budget (the mount's staging buffer, which becomes a part buffer as it is)."""
        with self._cond:
            self._charged += size
            self._peak_charged = max(self._peak_charged, self._charged)

    def release_buffer(self, buf: bytearray, charge: int, *, reuse: bool) -> None:
        """Give back a buffer charged ``charge`` bytes; keep it for reuse if asked."""
        with self._cond:
            if reuse and len(buf) == charge and self._shared is not None:
                # The budget's, for any file's next part (whether or not this pool is done).
                self._charged -= charge
                self._shared.keep_spare(buf)
            elif reuse and not self._closed and len(buf) == charge:
                self._pool.append(buf)
            else:
                self._uncharge(charge)
            self._cond.notify_all()

    def _uncharge(self, n: int) -> None:
        self._charged -= n
        if self._shared is not None:
            self._shared.release(n)

    # -- tasks ------------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[[], T],
        on_done: Callable[[Future[T]], None],
        after: Callable[[], None] | None = None,
    ) -> Future[T]:
        """Run ``fn`` on a worker; block while ``concurrency`` tasks are in flight.

        ``on_done`` runs on the worker thread after ``fn`` finishes, before the slot is
        freed, so its bookkeeping is visible to anyone woken by the slot. ``after`` runs
        once the slot is free (a user's callback: it may call back into the writer, even
        abort it, without holding anything another thread waits for).
        """
        future: Future[T] = Future()
        run = functools.partial(self._run, fn, future, on_done, after)
        with self._cond:
            while self._in_flight >= self.concurrency and self._error is None:
                self._cond.wait()
            self._raise_error()
            if self._closed:
                raise RuntimeError("part pool is shut down")
            if len(self._threads) < min(self.concurrency, self._in_flight + 1):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True
                )
                thread.start()  # before the slot is taken: if it raises, no slot is held
                self._threads.append(thread)
            # A slot taken but never queued would make drain() wait for nothing: a signal's
            # exception (raised in this, the main thread) must give it back.
            self._in_flight += 1
            try:
                self._tasks.put(run)
            except BaseException:
                self._in_flight -= 1
                raise
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        return future

    def _run(
        self,
        fn: Callable[[], T],
        future: Future[T],
        on_done: Callable[[Future[T]], None],
        after: Callable[[], None] | None,
    ) -> None:
        """One task on a worker thread (see submit)."""
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001  # handed to the future's owner
                    future.set_exception(exc)
        finally:
            try:
                on_done(future)
            except BaseException as exc:  # noqa: BLE001  # recorded: a bookkeeping bug must fail the upload, not hang it
                self.record_error(exc)
            finally:
                # Always free the slot: a slot lost here would block submit() and
                # drain() forever, and the exception would have killed this worker.
                with self._cond:
                    self._in_flight -= 1
                    self._callbacks += after is not None
                    self._cond.notify_all()
        if after is not None:
            try:
                after()
            except BaseException as exc:  # noqa: BLE001  # recorded: it must not kill the worker
                self.record_error(exc)
            finally:
                with self._cond:
                    self._callbacks -= 1
                    self._cond.notify_all()

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            task()
            # Drop the finished task now: its closure holds the writer, which must stay
            # collectable (garbage collection of an unclosed writer is what aborts it).
            del task

    def drain(self, timeout: float | None = None, *, until_error: bool = False) -> bool:
        """Wait until nothing is in flight; False if ``timeout`` passed first.

        ``until_error``: also wait for the ``after`` callbacks (so that every progress report
        has been made when close() returns), but stop as soon as an error is recorded (an
        abort() from one of those callbacks, say). Without it (the abort's own wait) the
        callbacks are not waited for: one of them may be the caller."""
        with self._cond:
            if not until_error:
                return self._cond.wait_for(lambda: self._in_flight == 0, timeout)
            return self._cond.wait_for(
                lambda: self._error is not None or self._in_flight + self._callbacks == 0,
                timeout,
            )

    def shutdown(self) -> None:
        """Stop the workers once their current task ends; free the pooled buffers."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._pool:
                self._uncharge(len(self._pool.pop()))
            self._cond.notify_all()
        for _ in self._threads:
            self._tasks.put(None)
