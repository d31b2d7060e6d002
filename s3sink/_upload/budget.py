"""The mount's one memory budget for many part pools (:class:`SharedBudget`): its charge,
its spare buffers kept for reuse, and the order in which waiting requests get memory (first
come, first served)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import S3SinkError

__all__ = ["BudgetExhausted", "SharedBudget"]

T = TypeVar("T")


class BudgetExhausted(S3SinkError):
    """A part buffer waited longer than the shared budget's ``max_wait`` for memory."""


class SharedBudget:
    """One memory budget for the part buffers of many pools (the mount's open files). The
    pools that share it share its lock and condition too, so that a buffer one of them
    releases wakes a writer waiting in any other.

    Memory goes first come, first served (:meth:`wait_turn`): once a request waits, later
    ones queue behind it, so a file that streams cannot take back every buffer it releases
    while another file waits; each file written at once gets its part in turn.

    A buffer released for reuse becomes a spare of the budget, still charged, for the next
    part of the same size of any file: a new 16 MiB buffer is zero-filled with the GIL held,
    ~1 ms (measured 2026-12-01, ceed163), in the middle of a FUSE write. A spare never makes
    anyone wait:
    a writer that finds no spare of its size and no room frees them all first, and once no
    buffer is in use any more they are freed too, so an idle mount holds no part memory.
    """

    def __init__(self, limit: int, max_wait: float | None = None) -> None:
        self.limit = limit
        # A writer that waits longer than this for memory fails (BudgetExhausted) instead of
        # waiting forever: files that each hold a part buffer while the program writes to
        # another one in turn would otherwise never free any.
        self.max_wait = max_wait
        self.cond = threading.Condition()
        self.charged = 0
        self.peak = 0
        self._spares: list[bytearray] = []
        self.spare_bytes = 0  # charged, but in no file's use
        self._queue: collections.deque[object] = collections.deque()  # waiters, in order

    def wait_turn(
        self,
        attempt: Callable[[], T | None],
        exhausted: Callable[[float], BudgetExhausted],
        *,
        check: Callable[[], None] | None = None,
        slow: tuple[float, Callable[[float], None]] | None = None,
    ) -> T:
        """Call ``attempt`` (it takes memory and returns what it took, or None when it does
        not fit) until it succeeds, in turn: only when no request waits before this one.
        Idle spares are freed before waiting. ``check`` runs at every wake-up (to raise a
        recorded error); ``slow`` is (seconds, callback) to say so once after that long.
        After ``max_wait`` seconds, measured on the monotonic clock, raises
        ``exhausted(waited)``. Call with ``cond`` held."""
        start = time.monotonic()
        deadline = None if self.max_wait is None else start + self.max_wait
        ticket: object | None = None
        try:
            while True:
                if check is not None:
                    check()
                if not self._queue or self._queue[0] is ticket:
                    got = attempt()
                    if got is not None:
                        return got
                    if self.drop_spares():
                        continue  # spares no longer hold memory: try again
                if ticket is None:
                    ticket = object()
                    self._queue.append(ticket)
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise exhausted(now - start)
                if slow is not None and now - start >= slow[0]:
                    slow[1](now - start)
                    slow = None
                ends = [t for t in (deadline, slow and start + slow[0]) if t is not None]
                self.cond.wait(min(ends) - now if ends else None)
        finally:
            if ticket is not None:
                self._queue.remove(ticket)
                self.cond.notify_all()  # the next in line tries now

    def fits(self, n: int) -> bool:
        """Whether ``n`` more bytes fit now (call with ``cond`` held)."""
        return self.charged + n <= self.limit

    def charge(self, n: int) -> None:
        """Take ``n`` bytes (call with ``cond`` held, after :meth:`fits`)."""
        self.charged += n
        self.peak = max(self.peak, self.charged)

    def release(self, n: int) -> None:
        """Give ``n`` bytes back and wake every waiter; once no buffer is in use, free the
        spares too (call with ``cond`` held)."""
        self.charged -= n
        if self._spares and self.charged == self.spare_bytes:
            self.drop_spares()
        self.cond.notify_all()

    def take_spare(self, size: int) -> bytearray | None:
        """A spare of exactly ``size`` bytes, still charged, or None (call with ``cond``
        held)."""
        for i, buf in enumerate(self._spares):
            if len(buf) == size:
                self.spare_bytes -= size
                return self._spares.pop(i)
        return None

    def keep_spare(self, buf: bytearray) -> None:
        """Keep a released buffer as a spare, still charged; unless no buffer is in use any
        more: then every spare is freed (call with ``cond`` held)."""
        self._spares.append(buf)
        self.spare_bytes += len(buf)
        if self.charged == self.spare_bytes:
            self.drop_spares()
        self.cond.notify_all()

    def drop_spares(self) -> bool:
        """Free every spare; whether there was one (call with ``cond`` held)."""
        if not self._spares:
            return False
        freed, self.spare_bytes = self.spare_bytes, 0
        self._spares.clear()
        self.release(freed)
        return True
