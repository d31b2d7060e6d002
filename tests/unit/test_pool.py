"""The bounded upload pool: back-pressure, the memory budget, first error wins, drain, shutdown."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from s3sink._upload.policy import MemoryPlan, make_schedule
from s3sink._upload.pool import PartPool, SharedBudget

WAIT = 10.0  # generous: only reached when a test is about to fail


@pytest.fixture
def uploaders() -> Iterator[list[PartPool]]:
    """Uploaders made by a test, shut down afterwards."""
    made: list[PartPool] = []
    yield made
    for uploader in made:
        uploader.record_error(RuntimeError("test over"))
        uploader.shutdown()


def noop(_future: Future[Any]) -> None:
    """An on_done that does nothing."""


def held(event: threading.Event) -> Callable[[], None]:
    """A task that waits for ``event``."""

    def task() -> None:
        assert event.wait(WAIT)

    return task


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, threading.Event]:
    """Run ``fn`` on a thread; the Event is set once it returned (or raised)."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_submit_blocks_at_the_concurrency_limit(uploaders: list[PartPool]) -> None:
    """submit() returns at once below the limit and blocks at it until a slot frees."""
    uploader = PartPool(concurrency=2, max_memory=100)
    uploaders.append(uploader)
    gates = [threading.Event() for _ in range(3)]
    uploader.submit(held(gates[0]), noop)
    uploader.submit(held(gates[1]), noop)
    assert uploader.in_flight == 2
    thread, done = in_thread(lambda: uploader.submit(held(gates[2]), noop))
    assert not done.wait(0.3), "the third submit should wait for a slot"
    gates[0].set()
    assert done.wait(WAIT)
    thread.join(WAIT)
    gates[1].set()
    gates[2].set()
    assert uploader.drain(WAIT)
    assert uploader.peak_in_flight == 2


def test_in_flight_never_exceeds_concurrency(uploaders: list[PartPool]) -> None:
    """Measured inside the tasks under a lock, at most ``concurrency`` run at once."""
    uploader = PartPool(concurrency=3, max_memory=100)
    uploaders.append(uploader)
    lock = threading.Lock()
    running = peak = 0

    def task() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.005)
        with lock:
            running -= 1

    for _ in range(40):
        uploader.submit(task, noop)
    assert uploader.drain(WAIT)
    assert peak == 3
    assert uploader.peak_in_flight == 3


def test_memory_budget_holds_when_buffers_grow(uploaders: list[PartPool]) -> None:
    """As buffers grow, the bytes alive stay within max_memory and fewer run at once."""
    budget = 40
    uploader = PartPool(concurrency=4, max_memory=budget)
    uploaders.append(uploader)
    lock = threading.Lock()
    alive = peak_alive = 0
    running: dict[int, int] = {}  # size -> tasks of that size running now
    peak_running: dict[int, int] = {}  # size -> most tasks of that size running at once
    peak_bytes: list[int] = []  # bytes of all running tasks, whenever one started

    def acquire(size: int) -> bytearray:
        nonlocal alive, peak_alive
        buf = uploader.acquire_buffer(size)
        assert len(buf) == size
        with lock:
            alive += size
            peak_alive = max(peak_alive, alive)
        return buf

    def submit(buf: bytearray) -> None:
        size = len(buf)

        def task() -> None:
            with lock:
                running[size] = running.get(size, 0) + 1
                peak_running[size] = max(peak_running.get(size, 0), running[size])
                peak_bytes.append(sum(s * n for s, n in running.items()))
            time.sleep(0.02)
            with lock:
                running[size] -= 1

        def on_done(_future: Future[None]) -> None:
            nonlocal alive
            uploader.release_buffer(buf, size, reuse=False)
            with lock:
                alive -= size

        uploader.submit(task, on_done)

    sizes = [5] * 12 + [10] * 8 + [20] * 6 + [40] * 3
    for size in sizes:
        submit(acquire(size))
    assert uploader.drain(WAIT)
    assert peak_alive <= budget
    assert uploader.peak_charged <= budget
    assert max(peak_bytes) <= budget
    assert peak_running[5] == 4  # small buffers: the concurrency limit binds
    assert peak_running[20] == 2  # large ones: the budget binds (40 // 20)
    assert peak_running[40] == 1
    assert uploader.charged == 0


def test_acquire_reuses_a_pooled_buffer_of_the_same_size(uploaders: list[PartPool]) -> None:
    """A released buffer kept for reuse comes back for the same size, still charged."""
    uploader = PartPool(concurrency=1, max_memory=100)
    uploaders.append(uploader)
    buf = uploader.acquire_buffer(30)
    uploader.release_buffer(buf, 30, reuse=True)
    assert uploader.charged == 30
    assert uploader.acquire_buffer(30) is buf
    assert uploader.charged == 30


def test_pooled_buffers_of_another_size_are_freed(uploaders: list[PartPool]) -> None:
    """When parts grow, pooled buffers of the old size stop counting against the budget."""
    uploader = PartPool(concurrency=1, max_memory=60)
    uploaders.append(uploader)
    a, b = uploader.acquire_buffer(20), uploader.acquire_buffer(20)
    uploader.release_buffer(a, 20, reuse=True)
    uploader.release_buffer(b, 20, reuse=True)
    assert uploader.charged == 40
    big = uploader.acquire_buffer(50)
    assert len(big) == 50
    assert uploader.charged == 50


def test_a_buffer_released_on_a_shared_budget_serves_any_pool_without_a_new_charge(
    uploaders: list[PartPool],
) -> None:
    """On a shared budget (the mount's files), a buffer released for reuse is the budget's
    spare: the next part of that size, in any pool, gets that very buffer (no new one to
    zero-fill), and the budget's charge does not move."""
    budget = SharedBudget(100)
    a = PartPool(concurrency=1, max_memory=100, shared=budget)
    b = PartPool(concurrency=1, max_memory=100, shared=budget)
    uploaders += [a, b]
    in_use = a.acquire_buffer(30)
    released = a.acquire_buffer(30)
    a.release_buffer(released, 30, reuse=True)
    assert (a.charged, budget.charged, budget.spare_bytes) == (30, 60, 30)
    assert b.acquire_buffer(30) is released
    assert (b.charged, budget.charged, budget.spare_bytes) == (30, 60, 0)
    a.shutdown()  # a pool that is done still gives its buffer to the budget
    a.release_buffer(in_use, 30, reuse=True)
    assert (budget.charged, budget.spare_bytes) == (60, 30)


def test_spares_are_freed_once_no_buffer_is_in_use(uploaders: list[PartPool]) -> None:
    """An idle mount holds no part memory: when the last buffer in use is released (for
    reuse or not), or staging bytes charged to the budget itself are given back, the
    spares are freed."""
    budget = SharedBudget(100)
    pool = PartPool(concurrency=1, max_memory=100, shared=budget)
    uploaders.append(pool)
    first, second = pool.acquire_buffer(30), pool.acquire_buffer(30)
    pool.release_buffer(first, 30, reuse=True)
    assert budget.spare_bytes == 30
    pool.release_buffer(second, 30, reuse=True)
    assert (budget.charged, budget.spare_bytes) == (0, 0)
    with budget.cond:
        budget.charge(10)  # a file's staging bytes
    third = pool.acquire_buffer(30)
    pool.release_buffer(third, 30, reuse=True)
    assert (budget.charged, budget.spare_bytes) == (40, 30)
    with budget.cond:
        budget.release(10)
    assert (budget.charged, budget.spare_bytes) == (0, 0)


def test_spares_of_another_size_never_make_a_writer_wait(uploaders: list[PartPool]) -> None:
    """A part of a size no spare has, on a budget full of spares, frees them and goes on."""
    budget = SharedBudget(100, max_wait=WAIT)
    pool = PartPool(concurrency=1, max_memory=100, shared=budget)
    uploaders.append(pool)
    small = [pool.acquire_buffer(30) for _ in range(3)]
    for buf in small[:2]:
        pool.release_buffer(buf, 30, reuse=True)
    assert (budget.charged, budget.spare_bytes) == (90, 60)
    started = time.monotonic()
    big = pool.acquire_buffer(70)
    assert time.monotonic() - started < WAIT / 2
    assert len(big) == 70
    assert (budget.charged, budget.spare_bytes) == (100, 0)


def test_acquire_blocks_until_memory_is_released(uploaders: list[PartPool]) -> None:
    """acquire_buffer waits while the budget is spent and returns once a buffer is released."""
    uploader = PartPool(concurrency=1, max_memory=50)
    uploaders.append(uploader)
    first = uploader.acquire_buffer(30)
    got: list[bytearray] = []
    thread, done = in_thread(lambda: got.append(uploader.acquire_buffer(30)))
    assert not done.wait(0.3), "the budget is spent; acquire should wait"
    uploader.release_buffer(first, 30, reuse=False)
    assert done.wait(WAIT)
    thread.join(WAIT)
    assert len(got[0]) == 30
    assert uploader.peak_charged == 30


def test_a_size_dependent_limit_lets_two_large_parts_overlap(uploaders: list[PartPool]) -> None:
    """With the default plan's limit (a base budget, raised to two parts of the current
    size up to max_memory), two parts larger than half the base budget are charged at once,
    small parts stay within the base budget, and a third large part waits."""
    plan = MemoryPlan(make_schedule(), max_memory=200, warning=None, budget=100)
    uploader = PartPool(concurrency=4, max_memory=200, limit_for=plan.limit_for)
    uploaders.append(uploader)
    small = [uploader.acquire_buffer(30) for _ in range(3)]
    _, done = in_thread(lambda: uploader.acquire_buffer(30))
    assert not done.wait(0.3), "small parts share the 100-byte base budget"
    for buf in small:
        uploader.release_buffer(buf, 30, reuse=False)
    assert done.wait(WAIT)
    uploader.release_buffer(bytearray(30), 30, reuse=False)
    first = uploader.acquire_buffer(90)
    second = uploader.acquire_buffer(90)  # 180 > 100: the second large part still fits
    _, third = in_thread(lambda: uploader.acquire_buffer(90))
    assert not third.wait(0.3), "two parts of 90 bytes at most"
    uploader.release_buffer(first, 90, reuse=False)
    assert third.wait(WAIT)
    assert uploader.peak_charged == 180
    del second


def test_buffer_larger_than_budget_is_refused(uploaders: list[PartPool]) -> None:
    """A buffer that can never fit the budget raises instead of waiting forever."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    with pytest.raises(ValueError, match="does not fit"):
        uploader.acquire_buffer(11)


def test_first_error_wins(uploaders: list[PartPool]) -> None:
    """Only the first recorded error is kept; later ones are ignored."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    first, second = OSError("first"), OSError("second")
    uploader.record_error(first)
    uploader.record_error(second)
    assert uploader.error is first


def test_blocked_submit_raises_the_error_instead_of_waiting(uploaders: list[PartPool]) -> None:
    """A submit waiting for a slot wakes and raises once a part has failed."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    gate = threading.Event()
    uploader.submit(held(gate), noop)
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            uploader.submit(lambda: None, noop)
        except OSError as exc:
            errors.append(exc)

    thread, done = in_thread(submit)
    assert not done.wait(0.2)
    boom = OSError("part failed")
    uploader.record_error(boom)
    assert done.wait(WAIT)
    thread.join(WAIT)
    assert errors == [boom]
    gate.set()


def test_blocked_acquire_raises_the_error_instead_of_waiting(uploaders: list[PartPool]) -> None:
    """An acquire_buffer waiting for memory wakes and raises once a part has failed."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    uploader.acquire_buffer(10)
    errors: list[BaseException] = []

    def acquire() -> None:
        try:
            uploader.acquire_buffer(10)
        except OSError as exc:
            errors.append(exc)

    thread, done = in_thread(acquire)
    assert not done.wait(0.2)
    boom = OSError("part failed")
    uploader.record_error(boom)
    assert done.wait(WAIT)
    thread.join(WAIT)
    assert errors == [boom]


def test_on_done_runs_before_the_slot_is_freed(uploaders: list[PartPool]) -> None:
    """Whoever is woken by a free slot sees the finished task's bookkeeping."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    seen: list[int] = []
    done_count = 0

    def on_done(_future: Future[None]) -> None:
        nonlocal done_count
        time.sleep(0.01)  # widen the window a wrong order would expose
        done_count += 1

    for _ in range(5):
        uploader.submit(lambda: None, on_done)
        seen.append(done_count)
    assert uploader.drain(WAIT)
    # Submitting task i waited for task i-1's slot, so task i-1's on_done had finished.
    assert all(count >= i for i, count in enumerate(seen)), seen
    assert done_count == 5


def test_task_exception_reaches_on_done(uploaders: list[PartPool]) -> None:
    """A task's exception (even a BaseException) is handed to on_done via the future."""
    uploader = PartPool(concurrency=2, max_memory=10)
    uploaders.append(uploader)
    got: list[BaseException | None] = []

    def boom() -> None:
        raise KeyboardInterrupt

    uploader.submit(boom, lambda f: got.append(f.exception()))
    assert uploader.drain(WAIT)
    assert len(got) == 1
    assert isinstance(got[0], KeyboardInterrupt)


def test_failing_on_done_frees_the_slot_and_records_the_error(uploaders: list[PartPool]) -> None:
    """A bug in on_done fails the upload instead of leaking the slot and hanging drain()."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    bug = AttributeError("bookkeeping bug")

    def on_done(_future: Future[None]) -> None:
        raise bug

    uploader.submit(lambda: None, on_done)
    assert uploader.drain(WAIT), "the slot was never freed"
    assert uploader.error is bug
    with pytest.raises(AttributeError):
        uploader.submit(lambda: None, noop)


def test_drain_times_out_while_a_task_runs(uploaders: list[PartPool]) -> None:
    """drain(timeout) reports False while a task is still running, True once it finished."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    gate = threading.Event()
    uploader.submit(held(gate), noop)
    assert uploader.drain(0.05) is False
    gate.set()
    assert uploader.drain(WAIT) is True


def test_shutdown_stops_workers_and_frees_the_pool() -> None:
    """After shutdown: no new tasks, the worker threads exit, pooled buffers are freed."""
    uploader = PartPool(concurrency=3, max_memory=100, name="pool-under-test")
    for _ in range(3):
        uploader.submit(lambda: time.sleep(0.01), noop)
    assert uploader.drain(WAIT)
    buf = uploader.acquire_buffer(10)
    uploader.release_buffer(buf, 10, reuse=True)
    workers = [t for t in threading.enumerate() if t.name.startswith("pool-under-test-")]
    assert 1 <= len(workers) <= 3
    assert all(t.daemon for t in workers)
    uploader.shutdown()
    uploader.shutdown()  # idempotent
    assert uploader.charged == 0
    for thread in workers:
        thread.join(WAIT)
        assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        uploader.submit(lambda: None, noop)


def test_release_after_shutdown_does_not_pool(uploaders: list[PartPool]) -> None:
    """A buffer released after shutdown (a part that outlived an abort) is not kept."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)
    buf = uploader.acquire_buffer(10)
    uploader.shutdown()
    uploader.release_buffer(buf, 10, reuse=True)
    assert uploader.charged == 0


def test_idle_workers_do_not_keep_finished_tasks_alive(uploaders: list[PartPool]) -> None:
    """An idle worker drops its last task, so objects the task referenced can be collected."""
    uploader = PartPool(concurrency=1, max_memory=10)
    uploaders.append(uploader)

    class Owner:
        """Stands in for the writer a task's closure refers to."""

    owner = Owner()
    ref = weakref.ref(owner)
    uploader.submit(lambda o=owner: None, lambda f, o=owner: None)
    assert uploader.drain(WAIT)
    del owner
    gc.collect()
    assert ref() is None


def test_concurrency_must_be_positive() -> None:
    """A pool with no slots is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        PartPool(concurrency=0, max_memory=10)


def test_an_interrupt_while_a_worker_starts_holds_no_slot(
    uploaders: list[PartPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt raised as submit() starts a worker thread (a signal in the main
    thread) leaves nothing in flight: drain() returns at once instead of waiting it out."""
    uploader = PartPool(concurrency=2, max_memory=1024)
    uploaders.append(uploader)

    def interrupted(self: threading.Thread) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", interrupted)
        with pytest.raises(KeyboardInterrupt):
            uploader.submit(lambda: None, noop)
    assert uploader.in_flight == 0
    assert uploader.drain(timeout=0.1)
    assert uploader.submit(lambda: 7, noop).result(WAIT) == 7  # and it still works


def test_an_interrupt_while_a_task_is_queued_holds_no_slot(uploaders: list[PartPool]) -> None:
    """The same for an exception while the task goes onto the queue."""
    uploader = PartPool(concurrency=2, max_memory=1024)
    uploaders.append(uploader)
    assert uploader.submit(lambda: 1, noop).result(WAIT) == 1  # a worker exists now
    assert uploader.drain(timeout=WAIT)

    class InterruptingQueue:
        def put(self, item: object) -> None:
            raise KeyboardInterrupt

    real, uploader._tasks = uploader._tasks, InterruptingQueue()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        uploader.submit(lambda: None, noop)
    uploader._tasks = real
    assert uploader.in_flight == 0
    assert uploader.drain(timeout=0.1)
