"""S3MultipartWriter: a binary file object that streams into one S3 object.

Lifecycle (an explicit state)::

    OPEN ──close()──▶ COMPLETING ──▶ COMPLETED
      │                   │ (failure)
      └──abort() / error / exception in ``with`` / garbage collection──▶ ABORTING ──▶ ABORTED

Writes are copied into part buffers; a full part is handed to the upload pool when the
next byte arrives (so a stream that fits one part becomes a single PutObject). The
multipart upload is created lazily with the first part, so construction does no I/O.
Nothing is ever published except by ``close()`` (or a successful ``with`` block):
garbage collection of an open writer aborts and emits a ResourceWarning.
"""

from __future__ import annotations

import enum
import errno
import io
import logging
import threading
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._arguments import check_writer_options
from ._checksum import DEFAULT_ALGORITHM, Checksummer, encode, resolve_algorithm
from ._location import check_bucket_and_key
from ._policy import (
    DEFAULT_MAX_PART_SIZE,
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    PartSchedule,
    hinted_part_size,
    make_schedule,
)
from ._pool import PartPool
from ._sizes import format_size
from ._transport import (
    BotoTransport,
    Commit,
    CompletedPart,
    PartChecksum,
    StoredObject,
    Transport,
    per_request,
)
from .errors import (
    AbortFailedError,
    CompleteError,
    PartLimitError,
    PreconditionFailed,
    S3SinkError,
    UploadCancelled,
    UploadError,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from typing_extensions import Buffer

log = logging.getLogger("s3sink")

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_MEMORY = 1024 * 1024 * 1024
ABORT_ATTEMPTS = 3


class Readable(Protocol):
    """What ``readinto_from`` reads: anything with ``readinto`` (raw or buffered files)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _read_blocking(source: Readable, view: memoryview) -> int:
    """``source.readinto(view)``; a non-blocking source with no data yet (None) is an
    error, not end of stream: taking it for EOF would publish a truncated object."""
    n = source.readinto(view)
    if n is None:
        raise BlockingIOError(errno.EAGAIN, "readinto_from needs a blocking source")
    return n


class State(enum.Enum):
    """Where a writer is in its lifecycle."""

    OPEN = "open"
    COMPLETING = "completing"
    COMPLETED = "completed"
    ABORTING = "aborting"
    ABORTED = "aborted"


@dataclass(frozen=True)
class UploadResult:
    """What was published. ``upload_id`` is None when the stream fit in one PutObject."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    parts: int
    upload_id: str | None
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class Progress:
    """A snapshot passed to ``on_progress`` (from a worker thread: keep callbacks quick)."""

    bytes_written: int
    bytes_uploaded: int
    parts_done: int
    parts_in_flight: int
    part_size: int


def _default_max_memory(schedule_base: int) -> int:
    # Room for the largest part of an expected-size schedule plus one in flight.
    return max(DEFAULT_MAX_MEMORY, 2 * schedule_base)


class _PartSender:
    """Checksums and sends one part; what in-flight tasks hold instead of the writer."""

    def __init__(
        self,
        transport: Transport,
        bucket: str,
        key: str,
        extra: Mapping[str, Any],
        checksummer: Checksummer | None,
    ) -> None:
        self.transport = transport
        self.bucket = bucket
        self.key = key
        self.extra = extra
        self.checksummer = checksummer

    def send(self, upload_id: str, number: int, body: bytearray) -> CompletedPart:
        """Runs on a worker thread: checksum the part once, then upload it."""
        part_checksum = digest = None
        if self.checksummer is not None:
            digest = self.checksummer.digest(body)
            part_checksum = PartChecksum(self.checksummer.param, encode(digest))
        etag = self.transport.upload_part(
            self.bucket, self.key, upload_id, number, body, extra=self.extra, checksum=part_checksum
        )
        return CompletedPart(number, etag, len(body), part_checksum, digest)


class _Ledger:
    """Counters and parts uploaded so far, shared by the writer and its worker threads."""

    def __init__(self, on_progress: Callable[[Progress], None] | None) -> None:
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self.parts: dict[int, CompletedPart] = {}
        self.bytes_written = 0
        self.bytes_uploaded = 0
        self.part_size = 0

    def progress(self, in_flight: int) -> Progress:
        """A snapshot of the counters."""
        return Progress(
            bytes_written=self.bytes_written,
            bytes_uploaded=self.bytes_uploaded,
            parts_done=len(self.parts),
            parts_in_flight=max(0, in_flight),
            part_size=self.part_size,
        )

    def report(self, in_flight: int) -> None:
        """Call ``on_progress``; a failing callback is logged, never fatal to the upload."""
        if self._on_progress is None:
            return
        try:
            self._on_progress(self.progress(in_flight))
        except Exception as exc:  # noqa: BLE001  # a user's broken callback must not fail the upload
            log.warning("on_progress callback failed: %r", exc)

    def record(self, part: CompletedPart) -> None:
        with self._lock:
            self.parts[part.number] = part
            self.bytes_uploaded += part.size

    @property
    def count(self) -> int:
        return len(self.parts)

    def sorted_parts(self) -> list[CompletedPart]:
        with self._lock:
            return [self.parts[n] for n in sorted(self.parts)]


def _warn_if_capacity_capped(schedule: PartSchedule, part_size: int, max_memory: int) -> None:
    """A max_memory too small for the parts to grow as usual caps the stream's length: say so
    now, not at part 10,001 after hours of streaming."""
    usual = make_schedule(part_size=part_size).capacity
    if schedule.capacity < usual:
        log.warning(
            "a memory budget (max_memory) of %s keeps parts at %s or less, so the stream can "
            "reach %s (%s with the default budget)",
            format_size(max_memory),
            format_size(schedule.max_part),
            format_size(schedule.capacity),
            format_size(usual),
        )


class S3MultipartWriter(io.BufferedIOBase):
    """Stream bytes into ``s3://bucket/key``; see the module docstring for the lifecycle.

    Memory: part buffers alive at once (the one being filled, those in flight and those
    kept for reuse) never exceed ``max_memory``; with the defaults that is
    (concurrency + 1) x 16 MiB = 80 MiB for streams up to 32 GiB, and never more than
    1 GiB however long the stream grows.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        client: BaseClient | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_memory: int | None = None,
        expected_size: int | None = None,
        extra_args: Mapping[str, Any] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        checksum: str | None = DEFAULT_ALGORITHM,
        fixed_part_size: bool = False,
        if_none_match: str | None = None,
        if_match: str | None = None,
        abort_timeout: float = 60.0,
        transport: Transport | None = None,
    ) -> None:
        super().__init__()
        # Closed until construction succeeds, so __del__ never "aborts" a half-built writer
        # (whose attributes it would miss) when a bad argument raises below.
        self._state = State.ABORTED
        check_bucket_and_key(bucket, key)
        check_writer_options(
            part_size=part_size,
            concurrency=concurrency,
            max_memory=max_memory,
            expected_size=expected_size,
            extra_args=extra_args,
            on_progress=on_progress,
            checksum=checksum,
            if_none_match=if_none_match,
            if_match=if_match,
            abort_timeout=abort_timeout,
        )
        self.bucket = bucket
        self.key = key
        if max_memory is not None:
            ceiling = min(MAX_PART_SIZE, max_memory)
        else:
            # The default budget grows to two of the hinted parts (see _default_max_memory),
            # so a hint up to S3's maximum object may pick parts above 1 GiB instead of
            # being refused for want of max_memory.
            ceiling = max(DEFAULT_MAX_PART_SIZE, hinted_part_size(expected_size, part_size))
        self._schedule: PartSchedule = make_schedule(
            part_size=part_size,
            max_part_size=ceiling,
            expected_size=expected_size,
            fixed=fixed_part_size,
        )
        if max_memory is None:
            max_memory = _default_max_memory(self._schedule.base)
        elif expected_size is None and not fixed_part_size:
            _warn_if_capacity_capped(self._schedule, part_size, max_memory)
        self.max_memory = max_memory
        self._extra = dict(extra_args or {})
        self._part_extra = per_request(self._extra)
        algorithm = resolve_algorithm(checksum)
        self._checksummer = Checksummer(algorithm) if algorithm is not None else None
        self._if_none_match = if_none_match
        self._if_match = if_match
        self._abort_timeout = abort_timeout
        if transport is None:
            if client is None:
                from ._transport import build_client  # noqa: PLC0415  # boto3 is slow to import

                client = build_client(concurrency=concurrency, checksum=algorithm is not None)
            transport = BotoTransport(client)
        self._transport = transport
        self._pool = PartPool(
            concurrency=concurrency, max_memory=max_memory, name=f"s3sink-{key[:20]}"
        )
        self._lock = threading.RLock()  # serialises write/close/abort; parts run outside it
        self._buf: bytearray | None = None
        self._fill = 0
        self._next_part = 1
        self._upload_id: str | None = None
        self._ledger = _Ledger(on_progress)
        self._sender = _PartSender(
            transport, self.bucket, self.key, self._part_extra, self._checksummer
        )
        self._result: UploadResult | None = None
        self._state = State.OPEN

    # -- io.BufferedIOBase -------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the writer completed or aborted (or is doing so)."""
        return self._state is not State.OPEN

    def writable(self) -> bool:
        """True while the writer is open."""
        return not self.closed

    def readable(self) -> bool:
        """Always False: the writer cannot be read."""
        return False

    def seekable(self) -> bool:
        """Always False: the stream only appends."""
        return False

    def tell(self) -> int:
        """Bytes written so far (the position in an append-only stream)."""
        self._check_open()
        return self._ledger.bytes_written

    def flush(self) -> None:
        """Does nothing but check the state: S3 needs 5 MiB for every part but the last,
        so a flush cannot force a short part out. Data is safe only after close()."""
        self._check_open()

    def write(self, data: Buffer) -> int:
        """Copy ``data`` into part buffers; block while the in-flight limit is reached."""
        if isinstance(data, str):
            raise TypeError("write() needs a bytes-like object, not str")
        with self._lock:
            self._check_open()
            self._raise_failure()
            with memoryview(data) as view:
                flat = view if view.format == "B" and view.ndim == 1 else view.cast("B")
                total = flat.nbytes
                pos = 0
                while pos < total:
                    buf = self._writable_buffer()
                    take = min(total - pos, len(buf) - self._fill)
                    buf[self._fill : self._fill + take] = flat[pos : pos + take]
                    self._fill += take
                    self._ledger.bytes_written += take
                    pos += take
                if flat is not view:
                    flat.release()
            return total

    def readinto_from(self, source: Readable, max_bytes: int | None = None) -> int:
        """Read ``source`` to EOF (or ``max_bytes``) straight into part buffers.

        The zero-copy path for pipes: each ``readinto`` lands in the part buffer itself,
        with no intermediate bytes objects. Returns the number of bytes read.
        """
        total = 0
        with self._lock:
            self._check_open()
            while max_bytes is None or total < max_bytes:
                self._raise_failure()
                if self._buf is not None and self._fill == len(self._buf):
                    # The part is full: send it only once more data turns up (as write()
                    # does), so a stream ending exactly here stays a single PutObject.
                    probe = bytearray(1)
                    if not _read_blocking(source, memoryview(probe)):
                        break
                    total += self.write(probe)
                    continue
                buf = self._writable_buffer()
                room = len(buf) - self._fill
                if max_bytes is not None:
                    room = min(room, max_bytes - total)
                with memoryview(buf) as view:
                    n = _read_blocking(source, view[self._fill : self._fill + room])
                if not n:
                    break
                self._fill += n
                self._ledger.bytes_written += n
                total += n
        return total

    # -- public state -----------------------------------------------------------------
    @property
    def state(self) -> State:
        """The lifecycle state."""
        return self._state

    @property
    def name(self) -> str:
        """The destination URI (what ``io.TextIOWrapper`` shows in its repr)."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def bytes_written(self) -> int:
        """Bytes accepted by write() so far."""
        return self._ledger.bytes_written

    @property
    def upload_id(self) -> str | None:
        """The multipart upload id, once the first part created one."""
        return self._upload_id

    @property
    def schedule(self) -> PartSchedule:
        """The part-size schedule in use."""
        return self._schedule

    @property
    def peak_memory(self) -> int:
        """The most part-buffer bytes that were alive at once."""
        return self._pool.peak_charged

    @property
    def peak_in_flight(self) -> int:
        """The most parts that were in flight at once."""
        return self._pool.peak_in_flight

    @property
    def result(self) -> UploadResult:
        """What was published; only after a successful close()."""
        if self._result is None:
            raise ValueError(f"no result: the writer is {self._state.value}")
        return self._result

    def progress(self) -> Progress:
        """A snapshot of the progress so far."""
        return self._ledger.progress(self._pool.in_flight)

    # -- buffering --------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._state is not State.OPEN:
            raise ValueError(f"I/O operation on a {self._state.value} S3MultipartWriter")

    def _raise_failure(self) -> None:
        error = self._pool.error
        if error is not None:
            raise error

    def _writable_buffer(self) -> bytearray:
        """The current part buffer with room in it, submitting a full one first."""
        buf = self._buf
        if buf is not None and self._fill < len(buf):
            return buf
        if buf is not None:
            # The buffer is full and more data is coming: it is not the last part.
            self._submit(buf, self._fill)
            self._buf = None
        if self._next_part > MAX_PARTS:
            exc = PartLimitError(
                f"the stream outgrew {MAX_PARTS:,} parts "
                f"({format_size(self._ledger.bytes_written)} written); pass a larger part size or "
                "expected_size" + ("" if not self._schedule.fixed else ", or drop fixed part size"),
                bucket=self.bucket,
                key=self.key,
                upload_id=self._upload_id,
            )
            self._pool.record_error(exc)
            raise exc
        size = self._schedule.size_of(self._next_part)
        self._ledger.part_size = size
        self._buf = self._pool.acquire_buffer(size)
        self._fill = 0
        return self._buf

    def _submit(self, buf: bytearray, length: int) -> None:
        """Hand a part to the pool (creating the multipart upload first if needed)."""
        number = self._next_part
        self._next_part += 1
        charge = len(buf)
        if length < charge:
            del buf[length:]  # the last part: shrink in place instead of copying a slice
        if self._upload_id is None:
            self._upload_id = self._create_upload()
        # The task must not reference the writer: an unclosed writer has to stay
        # collectable while its parts are in flight, so that garbage collection aborts.
        sender, ledger, pool = self._sender, self._ledger, self._pool
        upload_id = self._upload_id

        def on_done(future: Future[CompletedPart]) -> None:
            exc = future.exception()
            if exc is None:
                ledger.record(future.result())
            else:
                pool.record_error(exc)
            pool.release_buffer(buf, charge, reuse=length == charge)
            if exc is None:
                ledger.report(pool.in_flight - 1)  # this part still holds its slot

        pool.submit(lambda: sender.send(upload_id, number, buf), on_done)

    def _create_upload(self) -> str:
        checksummer = self._checksummer
        try:
            return self._transport.create_multipart_upload(
                self.bucket,
                self.key,
                extra=self._extra,
                checksum_algorithm=checksummer.boto_name if checksummer else None,
                checksum_type=checksummer.checksum_type if checksummer else None,
            )
        except BaseException as exc:
            self._pool.record_error(exc)
            raise

    # -- completion -------------------------------------------------------------------
    def close(self) -> None:
        """Upload the tail, wait for every part and publish the object.

        Idempotent. On any failure the upload is aborted, the writer is closed all the
        same, and the first error is raised.
        """
        with self._lock:
            if self._state is not State.OPEN:
                return
            self._state = State.COMPLETING
            try:
                self._raise_failure()
                self._result = self._complete()
                self._state = State.COMPLETED
            except BaseException as exc:
                if self._result is not None:
                    # Interrupted, but the object was published first: nothing to abort,
                    # and the interrupt still reaches the caller.
                    self._state = State.COMPLETED
                    raise
                self._abort_after(exc)
                raise
            finally:
                self._pool.shutdown()

    def _complete(self) -> UploadResult:
        buf, length = self._buf, self._fill
        self._buf = None
        if self._upload_id is None:
            return self._put_single(buf, length)
        if buf is not None and length:
            self._submit(buf, length)
        elif buf is not None:
            self._pool.release_buffer(buf, len(buf), reuse=False)
        self._pool.drain()
        self._raise_failure()
        return self._complete_multipart()

    def _commit_options(self, checksum: str | None, *, multipart: bool) -> Commit:
        checksummer = self._checksummer
        sent = None
        # A COMPOSITE checksum-of-checksums is not a value the request can carry; the
        # store verifies each part's checksum instead.
        composite = (
            multipart and checksummer is not None and checksummer.checksum_type == "COMPOSITE"
        )
        if checksummer is not None and checksum is not None and not composite:
            sent = PartChecksum(checksummer.param, checksum)
        return Commit(
            checksum=sent,
            checksum_type=checksummer.checksum_type if checksummer and multipart else None,
            size=self._ledger.bytes_written if multipart else None,
            if_none_match=self._if_none_match,
            if_match=self._if_match,
        )

    def _put_single(self, buf: bytearray | None, length: int) -> UploadResult:
        body: bytearray = buf if buf is not None else bytearray()
        charge = len(body)
        if length < len(body):
            del body[length:]
        checksum = None
        if self._checksummer is not None:
            checksum = encode(self._checksummer.digest(body))
        try:
            stored = self._transport.put_object(
                self.bucket,
                self.key,
                body,
                extra=self._extra,
                commit=self._commit_options(checksum, multipart=False),
            )
        except BaseException as exc:
            self._check_interrupted_commit(exc, None, checksum, parts=1)
            raise
        finally:
            if buf is not None:
                self._pool.release_buffer(buf, charge, reuse=False)
        self._ledger.bytes_uploaded = length
        return self._make_result(stored, parts=1, checksum=checksum)

    def _check_interrupted_commit(
        self, exc: BaseException, upload_id: str | None, checksum: str | None, *, parts: int
    ) -> None:
        """An interrupt (KeyboardInterrupt, a signal's exception) during the request that
        publishes the object may come after the store acted on it. Reporting "nothing was
        written" then would be false: if the upload is gone and an object with exactly our
        size and checksum is there, keep the result, so that close() reports it."""
        if isinstance(exc, Exception):
            return  # a failed request: handled by the caller
        if upload_id is not None and not self._upload_gone(upload_id):
            return
        landed = self._landed_anyway(checksum)
        if landed is not None:
            log.warning("interrupted, but the object had already been published")
            self._result = self._make_result(landed, parts=parts, checksum=checksum)

    def _complete_multipart(self) -> UploadResult:
        upload_id = self._upload_id
        assert upload_id is not None  # noqa: S101  # only called after a part was sent
        parts = self._ledger.sorted_parts()
        checksum = None
        if self._checksummer is not None:
            checksum = self._checksummer.combine([(p.digest or b"", p.size) for p in parts])
        commit = self._commit_options(checksum, multipart=True)
        try:
            stored = self._transport.complete_multipart_upload(
                self.bucket, self.key, upload_id, parts, extra=self._part_extra, commit=commit
            )
        except (CompleteError, PreconditionFailed) as exc:
            # A lost response to a Complete that succeeded makes the retry fail: S3 answers
            # NoSuchUpload, or 412 when If-None-Match now sees our own object. The object
            # may be there: check before declaring failure. A 412 counts as ours only if
            # our upload is gone too (a genuine conflict leaves it in place).
            landed = None
            if not isinstance(exc, PreconditionFailed) or self._upload_gone(upload_id):
                landed = self._landed_anyway(checksum)
            if landed is None:
                raise
            log.warning("CompleteMultipartUpload failed (%s) but the object landed intact", exc)
            stored = landed
        except BaseException as exc:
            self._check_interrupted_commit(exc, upload_id, checksum, parts=len(parts))
            raise
        return self._make_result(stored, parts=len(parts), checksum=checksum)

    def _upload_gone(self, upload_id: str) -> bool:
        """True when the multipart upload no longer exists (completed or aborted)."""
        try:
            return self._transport.list_parts(self.bucket, self.key, upload_id) is None
        except S3SinkError as exc:
            log.warning("could not check upload %s: %s", upload_id, exc)
            return False

    def _landed_anyway(self, checksum: str | None) -> StoredObject | None:
        """The object, if one with exactly our size and whole-object checksum exists."""
        checksummer = self._checksummer
        if checksummer is None or checksum is None:
            return None  # without a checksum we cannot tell our object from another
        try:
            info = self._transport.head_object(self.bucket, self.key)
        except S3SinkError as exc:
            log.warning("could not check whether the object landed: %s", exc)
            return None
        if info is None or info.size != self._ledger.bytes_written:
            return None
        if info.checksums.get(checksummer.param) != checksum:
            return None
        return StoredObject(info.etag, info.version_id, checksum, info.checksum_type)

    def _make_result(
        self, stored: StoredObject, *, parts: int, checksum: str | None
    ) -> UploadResult:
        checksummer = self._checksummer
        checksum_type = None
        if checksummer is not None:
            # A single PutObject's checksum covers the whole object, whatever the algorithm.
            checksum_type = checksummer.checksum_type if self._upload_id else "FULL_OBJECT"
        return UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=stored.etag,
            version_id=stored.version_id,
            size=self._ledger.bytes_written,
            parts=parts,
            upload_id=self._upload_id,
            checksum_algorithm=checksummer.algorithm if checksummer else None,
            checksum=stored.checksum or checksum,
            checksum_type=stored.checksum_type or checksum_type,
        )

    # -- abort ------------------------------------------------------------------------
    def abort(self) -> None:
        """Discard everything: stop accepting data, abort the multipart upload at once (so
        parts still sending fail fast), wait (bounded) for parts in flight, then confirm
        with ListParts and abort again while parts remain.

        Idempotent; a no-op after a successful close(). Raises AbortFailedError when the
        upload could not be aborted (its id is in the error, to clean up later).
        """
        cancelled = UploadCancelled(
            "upload aborted", bucket=self.bucket, key=self.key, upload_id=self._upload_id
        )
        if self._state is State.OPEN:
            # Called from another thread while write() waits for a free slot or buffer (with
            # the lock held): failing the pool wakes it, it raises and lets go of the lock.
            # Not once close() is completing: that one is allowed to finish.
            self._pool.record_error(cancelled)
        with self._lock:
            if self._state in (State.ABORTED, State.COMPLETED, State.ABORTING):
                return
            self._abort_after(cancelled)

    def _abort_after(self, cause: BaseException) -> None:
        """Abort because of ``cause``; raise AbortFailedError (chained) if that fails."""
        self._state = State.ABORTING
        self._pool.record_error(cause)
        try:
            self._abort_upload()
        except AbortFailedError as exc:
            exc.__context__ = cause
            raise
        finally:
            self._state = State.ABORTED
            buf, self._buf = self._buf, None
            if buf is not None:
                self._pool.release_buffer(buf, len(buf), reuse=False)
            self._pool.shutdown()

    def _abort_upload(self) -> None:
        upload_id = self._upload_id
        if upload_id is None:
            return
        # Abort at once so parts still sending fail fast, then again once they are done:
        # a part that was in flight during the first abort may still have been stored.
        last_error: BaseException | None = None
        for attempt in range(ABORT_ATTEMPTS):
            try:
                self._transport.abort_multipart_upload(self.bucket, self.key, upload_id)
                if attempt == 0 and not self._pool.drain(self._abort_timeout):
                    log.warning(
                        "parts of upload %s still in flight after %.0fs; aborting again",
                        upload_id,
                        self._abort_timeout,
                    )
                    continue
                remaining = self._transport.list_parts(self.bucket, self.key, upload_id)
            except UploadError as exc:
                last_error = exc
                continue
            if not remaining:
                return
            last_error = None
        reason = f" ({last_error.args[0]})" if last_error is not None else ""
        raise AbortFailedError(
            f"could not abort multipart upload {upload_id}{reason}; it keeps its parts on the "
            f"server until you run: s3sink uploads abort s3://{self.bucket}/{self.key} "
            f"--upload-id {upload_id}",
            bucket=self.bucket,
            key=self.key,
            upload_id=upload_id,
        ) from last_error

    # -- context manager and garbage collection ---------------------------------------
    def __enter__(self) -> S3MultipartWriter:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        with self._lock:
            if self._state is State.OPEN:
                try:
                    self._abort_after(exc)
                except AbortFailedError as abort_exc:
                    # The original error stays the one raised; the orphan must be visible.
                    log.warning("%s", abort_exc)

    def __del__(self) -> None:
        # Never complete from garbage collection (a truncated stream would be published):
        # abort, then warn. io.IOBase.__del__ would call close(), so it is not called.
        if getattr(self, "_state", State.ABORTED) is not State.OPEN:
            return
        try:
            self._abort_after(
                UploadCancelled(
                    "writer garbage-collected without close()",
                    bucket=self.bucket,
                    key=self.key,
                    upload_id=self._upload_id,
                )
            )
        except AbortFailedError as exc:
            log.warning("%s", exc)
        warnings.warn(
            f"S3MultipartWriter for s3://{self.bucket}/{self.key} was garbage-collected "
            "without close(); the upload was aborted and nothing was published",
            ResourceWarning,
            stacklevel=2,
            source=self,
        )

    def __repr__(self) -> str:
        return (
            f"<S3MultipartWriter s3://{self.bucket}/{self.key} {self._state.value} "
            f"{self._ledger.bytes_written} bytes>"
        )
