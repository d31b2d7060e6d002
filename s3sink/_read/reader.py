"""``ObjectReader``: one object read in parallel ranged GETs, handed over in order, verified,
in bounded memory.

The consumer's thread drives everything; workers only fetch:

- **Back-pressure, no reorder buffer.** A range is asked for only once a buffer is free for
  it, and buffers are handed to ranges in order, by the consumer's thread, before their
  GETs are queued. So the range the consumer waits for always has its buffer (no deadlock
  of later ranges holding every buffer), at most ``memory // part_size`` buffers ever exist
  (reused, never more: ``peak_memory``), and a slow consumer simply leaves the workers idle
  with full buffers. In flight: ``min(concurrency, buffers)`` GETs.
- **In order.** :meth:`chunks` yields each range's bytes (a view of its buffer, valid until
  the next one is asked for) in order; the buffer goes back when the next is asked for.
- **Withheld until verified.** The digests of the ranges are folded in as they are handed
  over (:class:`~.verify.Verifier`), and the last range is handed over only once the whole
  object checks out: otherwise :class:`~s3sink.errors.IntegrityError` is raised instead, so a
  consumer never reads a clean end of a corrupted object.
- **The first error wins.** A worker's failure (the object changed, a range that kept
  breaking, access denied) stops the other workers and is raised by the consumer's next
  wait, whatever range it was waiting for.
- **Closing** (early, on an error, or from the finaliser) stops the workers at their next
  chunk and drops every buffer. Workers are daemon threads holding only this engine, never
  the file object the library hands out, so an unclosed reader can be collected; a worker
  stuck in a stalled read does not keep the interpreter from exiting.

Use: ``with ObjectReader(transport, bucket, key, config) as reader: reader.open();
for view in reader.chunks(): ...``, then ``reader.result``; or ``reader.copy_to(write)``.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from .._results import ReadProgress, ReadResult
from .._sizes import format_size
from .._store.checksums import Digest
from .._store.transport import ObjectHead, ReadTransport
from ..errors import IntegrityError
from .config import ReadConfig
from .fetch import ActiveStreams, IfMatch, Stopped, Target, fetch_range
from .guess import GuessingVerifier
from .layout import Layout, describe
from .plan import Range, count_ranges, iter_ranges
from .verify import Verdict, Verifier

__all__ = ["JOIN_TIMEOUT", "ObjectReader"]

JOIN_TIMEOUT = 5.0  # seconds close() waits for workers still waiting on the store


@dataclass(eq=False)
class _Landing:
    """One range on its way: its buffer, then (on a worker) its bytes and digest."""

    range: Range
    buffer: bytearray
    digest: Digest | None = None
    done: bool = False


class ObjectReader:
    """Reads s3://``bucket``/``key`` through ``transport`` as ``config`` says (see the module
    docstring). The constructor does no I/O; :meth:`open` asks HeadObject. One consumer
    thread."""

    def __init__(
        self,
        transport: ReadTransport,
        bucket: str,
        key: str,
        config: ReadConfig | None = None,
    ) -> None:
        self.config = config or ReadConfig()
        self.bucket = bucket
        self.key = key
        self._target = Target(transport, bucket, key, self.config.version_id, self.config.extra)
        self.layout: Layout | None = None
        self.result: ReadResult | None = None
        self.bytes_delivered = 0
        self._ranges_done = 0
        self.peak_memory = 0  # bytes of range buffers allocated (they are reused)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._queue: queue.SimpleQueue[_Landing | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._active = ActiveStreams()
        self._pending: collections.deque[_Landing] = collections.deque()
        self._free: list[bytearray] = []
        self._held: _Landing | None = None
        self._ranges: Iterator[Range] = iter(())
        self._verifier: Verifier | GuessingVerifier | None = None
        self._if_match: IfMatch | None = None
        self._buffer_size = 0
        self._slots = 1
        self._started = 0.0

    # -- before the first byte ---------------------------------------------------------------
    def open(self) -> ObjectHead:
        """HeadObject (and the parts, when needed), then the plan; idempotent. Raises
        ReadError (not found, denied...), ObjectChangedError, or IntegrityError when nothing
        can check the bytes and ``require_checksum`` was asked."""
        if self.layout is not None:
            return self.layout.head
        self._check_open()
        self._started = time.monotonic()
        layout = describe(self._target, self.config)
        size = layout.head.size
        self._ranges = iter_ranges(
            size,
            self.config.part_size,
            part_sizes=layout.part_sizes,
            first_part=layout.first_part,
        )
        self._verifier = (
            GuessingVerifier(layout.check, layout.guesses)
            if layout.guesses is not None
            else Verifier(layout.check, parts=layout.parts)
        )
        self._if_match = IfMatch(layout.head.etag)
        self._buffer_size = min(self.config.part_size, size)
        self._slots = max(1, self.config.memory // max(1, self._buffer_size))
        self.layout = layout
        return layout.head

    @property
    def head(self) -> ObjectHead:
        """HeadObject's answer (after :meth:`open`)."""
        if self.layout is None:
            raise ValueError("the reader is not open yet")
        return self.layout.head

    @property
    def ranges(self) -> int:
        """How many GETs the object is read in (after :meth:`open`)."""
        layout = self.layout
        if layout is None:
            return 0
        return count_ranges(
            layout.head.size,
            self.config.part_size,
            part_sizes=layout.part_sizes,
            first_part=layout.first_part,
        )

    def progress(self) -> ReadProgress:
        """Where the read is; safe from any thread (a display polls it)."""
        layout = self.layout
        return ReadProgress(
            bytes_delivered=self.bytes_delivered,
            size=layout.head.size if layout is not None else 0,
            ranges_done=self._ranges_done,
            ranges_in_flight=len(self._pending),  # ranges asked for, not yet handed over
            ranges=self.ranges,
        )

    # -- the bytes, in order -----------------------------------------------------------------
    def chunks(self) -> Iterator[memoryview]:
        """The object's bytes, range by range, in order; each view is valid until the next
        is asked for. The last range comes only once the object is verified
        (IntegrityError otherwise). Closing the iterator early closes the reader."""
        self._check_open()
        self.open()
        verifier = self._verifier
        assert verifier is not None  # noqa: S101  # set by open()
        try:
            while True:
                self._release_held()
                self._top_up()
                if not self._pending:
                    break
                landing = self._pending.popleft()
                self._held = landing
                self._wait(landing)
                rng = landing.range
                view = memoryview(landing.buffer)[: rng.length]
                verifier.deliver(rng, view, landing.digest)
                if rng.last:
                    self._judge(verifier.verdict())
                self.bytes_delivered += rng.length
                self._ranges_done += 1
                yield view
            if self.head.size == 0:
                self._judge(verifier.verdict())
            self.result = self._result(verifier.verdict())
        finally:
            self.close()

    def copy_to(self, write: Callable[[memoryview], object]) -> ReadResult:
        """Hand every range to ``write`` in order (see :meth:`chunks`); the result."""
        for view in self.chunks():
            write(view)
        assert self.result is not None  # noqa: S101  # set at the end of chunks()
        return self.result

    def _judge(self, verdict: Verdict) -> None:
        check = verdict.check
        if verdict.ok or check.by is None:
            return
        guessed = ""
        if isinstance(self._verifier, GuessingVerifier):
            sizes = ", ".join(format_size(size) for size in self._verifier.tried)
            guessed = f" (the store does not say where the parts begin; tried parts of {sizes})"
        raise IntegrityError(
            f"the object's bytes do not match what the store recorded: {check.algorithm} "
            f"({check.by}) stored {check.stored}, computed {verdict.computed}{guessed}",
            bucket=self.bucket,
            key=self.key,
            version_id=self.config.version_id,
            verified_by=check.by,
            algorithm=check.algorithm,
            stored=check.stored,
            computed=verdict.computed,
        )

    def _result(self, verdict: Verdict) -> ReadResult:
        head, check = self.head, verdict.check
        layout = self.layout
        return ReadResult(
            bucket=self.bucket,
            key=self.key,
            version_id=head.version_id,
            etag=head.etag,
            size=head.size,
            parts=layout.parts if layout is not None else 1,
            ranges=self.ranges,
            verified=verdict.ok,
            verified_by=check.by if verdict.ok else None,
            algorithm=check.algorithm,
            stored=check.stored,
            computed=verdict.computed,
            seconds=time.monotonic() - self._started,
            content_type=head.content_type,
        )

    # -- buffers and workers -----------------------------------------------------------------
    def _top_up(self) -> None:
        """Queue the next ranges while buffers are free (the back-pressure)."""
        held = 1 if self._held is not None else 0
        while len(self._pending) + held < self._slots:
            rng = next(self._ranges, None)
            if rng is None:
                return
            landing = _Landing(rng, self._buffer())
            self._pending.append(landing)
            self._queue.put(landing)
            self._start_worker()

    def _buffer(self) -> bytearray:
        if self._free:
            return self._free.pop()
        self.peak_memory += self._buffer_size
        return bytearray(self._buffer_size)

    def _release_held(self) -> None:
        landing, self._held = self._held, None
        if landing is not None:
            self._free.append(landing.buffer)

    def _start_worker(self) -> None:
        if len(self._threads) >= min(self.config.concurrency, self._slots):
            return
        thread = threading.Thread(
            target=self._work, name=f"s3sink-read-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        """A worker: fetch the queued ranges until told to stop."""
        verifier = self._verifier
        if_match = self._if_match
        assert verifier is not None  # noqa: S101  # set by open()
        assert if_match is not None  # noqa: S101
        attempts = self.config.max_attempts or self._target.transport.max_attempts
        while True:
            landing = self._queue.get()
            if landing is None:
                return
            if self._stop.is_set():
                continue
            algorithm = verifier.worker_algorithm(landing.range)
            digest = Digest(algorithm) if algorithm is not None else None
            try:
                fetch_range(
                    self._target,
                    landing.range,
                    memoryview(landing.buffer)[: landing.range.length],
                    digest,
                    if_match=if_match,
                    stop=self._stop,
                    attempts=attempts,
                    wait=self.config.wait,
                    active=self._active,
                )
            except Stopped:
                continue
            except BaseException as exc:  # noqa: BLE001  # handed to the consumer: first wins
                with self._cond:
                    if self._error is None:
                        self._error = exc
                    self._stop.set()
                    self._cond.notify_all()
                continue
            with self._cond:
                landing.digest = digest
                landing.done = True
                self._cond.notify_all()

    def _wait(self, landing: _Landing) -> None:
        with self._cond:
            while not landing.done and self._error is None and not self._closed:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            self._check_open()

    # -- the end -----------------------------------------------------------------------------
    def close(self, *, wait: bool = True) -> None:
        """Stop the workers and drop every buffer; idempotent. A worker blocked reading a
        body is woken (its connection shut down); one still waiting for a store's answer
        gets ``JOIN_TIMEOUT`` seconds, then is left to its socket's timeout (a daemon
        thread, holding one buffer). ``wait=False`` (a finaliser, an interrupt) does not
        join them at all."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        self._active.abort_all()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            current = threading.current_thread()
            deadline = time.monotonic() + JOIN_TIMEOUT
            for thread in self._threads:
                if thread is not current:
                    thread.join(max(0.0, deadline - time.monotonic()))
        self._pending.clear()
        self._free.clear()
        self._held = None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed reader")

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
