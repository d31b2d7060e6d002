"""S3MultipartWriter: a binary file object that streams into one S3 object.

Writes are copied into part buffers; a full part is handed to the part pool when the next
byte arrives (so a stream that fits one part becomes a single PutObject). The multipart
upload is created lazily with the first part, so construction does no I/O. Nothing is ever
published except by ``close()`` (or a successful ``with`` block): garbage collection of an
open writer aborts and emits a ResourceWarning. The lifecycle is an explicit state
(``s3sink._upload.state``).

The writer owns the io surface and buffering (how it ends, close/abort/keep and the
finaliser, is its mixin ``_ending``); it composes the part pool
(``_pool``, which also keeps the memory budget of its buffers) and the store side
(``_upload``: part sending and bookkeeping in ``_parts``, publishing in ``_commit``,
aborting in ``_abort``).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._location import check_bucket_and_key
from .._results import Progress, UploadResult
from .._sizes import format_size
from .._store.boto import BotoTransport
from .._store.checksums import DEFAULT_ALGORITHM, Checksummer, RunningChecksum, resolve_mode
from .._store.ratelimit import RateLimiter, resolve_rate_limit
from .._store.transport import Transport
from .._upload.multipart import Resumption, Upload
from .._upload.parts import PartLedger
from .._upload.policy import DEFAULT_PART_SIZE, MAX_PARTS, PartSchedule, plan_memory
from .._upload.pool import PartPool, SharedBudget
from .._upload.resume import journal_dir as default_journal_dir
from .._upload.state import Lifecycle, State
from ..errors import (
    PartLimitError,
    UsageError,
)
from .checks import check_writer_options
from .compress import Codec, CompressionStage, resolve_codec
from .finish import WriterEnding
from .sources import FileSnapshot, Readable, pread_into, read_blocking

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .._store.client import S3Client

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Progress",
    "S3MultipartWriter",
    "State",
    "UploadResult",
]

log = logging.getLogger("s3sink")

DEFAULT_CONCURRENCY = 4
# Source bytes read (and handed to the compressor) at a time when compressing: enough for
# libzstd's and ISA-L's threads to have whole jobs, small beside the part buffers.
COMPRESS_CHUNK = 1024 * 1024


class S3MultipartWriter(WriterEnding, io.BufferedIOBase):
    """Stream bytes into ``s3://bucket/key``; see the module docstring for the lifecycle.

    For text use ``s3sink.open(uri, "w")``, not ``io.TextIOWrapper(writer)``. A plain
    TextIOWrapper's ``__exit__`` and finaliser call ``close()``; the writer recognises both
    (``close()`` during an exception, ``_dealloc_warn`` from a finalising wrapper) and aborts
    instead of publishing what was written so far, but ``s3sink.open`` needs no guessing.

    Memory: part buffers alive at once (the one being filled, those in flight and those
    kept for reuse) never exceed ``max_memory``. With the defaults that is
    (concurrency + 1) x 16 MiB = 80 MiB for streams up to 32 GiB and 1 GiB up to 466 GiB;
    beyond that parts are 1 GiB and the budget is two of them (2 GiB), so one part is read
    while another is sent.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        client: S3Client | None = None,
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
        resumable: bool = False,
        resume: bool = False,
        upload_id: str | None = None,
        journal_dir: str | os.PathLike[str] | None = None,
        memory_budget: SharedBudget | None = None,
        compress: str | Codec | None = None,
        rate_limit: float | RateLimiter | None = None,
    ) -> None:
        super().__init__()
        # Closed until construction succeeds, so __del__ never "aborts" a half-built writer
        # (whose attributes it would miss) when a bad argument raises below.
        self._life = Lifecycle(State.ABORTED)
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
        codec = resolve_codec(compress)
        if codec is not None and (resumable or resume or upload_id is not None):
            # A re-run must rebuild byte-identical parts to skip any, and multi-threaded
            # zstd does not promise the same output twice.
            raise UsageError("compress cannot be combined with resumable, resume or upload_id")
        self.bucket = bucket
        self.key = key
        extra = dict(extra_args or {})
        if codec is not None:
            extra.setdefault("ContentType", codec.content_type)
        self._codec = codec
        self._stage = (
            None
            if codec is None
            else CompressionStage(codec, bucket=bucket, key=key, upload_id=lambda: self.upload_id)
        )
        self._result: UploadResult | None = None  # the committer's, with the source size
        plan = plan_memory(
            part_size=part_size,
            max_memory=max_memory,
            expected_size=expected_size,
            fixed=fixed_part_size,
        )
        if plan.warning is not None:
            log.warning("%s", plan.warning)
        self._schedule: PartSchedule = plan.schedule
        self.max_memory = plan.max_memory
        algorithm, content_md5 = resolve_mode(checksum)
        limiter = resolve_rate_limit(rate_limit)
        if limiter is not None and transport is not None:
            raise UsageError("rate_limit applies to the writer's own transport: pass a client")
        self.rate_limiter = limiter
        # Set when the writer aborts: parts still being sent at the cap stop at once.
        self._stop_sending = threading.Event()
        if transport is None:
            if client is None:
                from .._store.client import build_client  # noqa: PLC0415  # botocore: slow import

                client = build_client(checksum=checksum, concurrency=concurrency)
            transport = BotoTransport(client, limiter=limiter, stop=self._stop_sending)
        self._pool = PartPool(
            concurrency=concurrency,
            max_memory=self.max_memory,
            name=f"s3sink-{key[:20]}",
            limit_for=plan.limit_for,
            shared=memory_budget,
        )
        self._lock = threading.RLock()  # serialises write/close/abort; parts run outside it
        self._buf: bytearray | None = None
        self._fill = 0
        self._checksummer = Checksummer(algorithm) if algorithm is not None else None
        # The current buffer's checksum, folded in as write() and readinto_from() put bytes
        # in it, while they are in cache. Bytes put there any other way (a file's read, an
        # adopted buffer) are not in its ``covered``: such a part is checksummed whole on
        # the worker before it is sent.
        self._running: RunningChecksum | None = None
        self._ledger = PartLedger(on_progress)
        if codec is not None:
            self._ledger.source_bytes = 0
        life = Lifecycle(State.OPEN)
        self._upload = Upload(
            transport,
            bucket,
            key,
            extra=extra,
            checksummer=self._checksummer,
            content_md5=content_md5,
            pool=self._pool,
            ledger=self._ledger,
            lifecycle=life,
            if_none_match=if_none_match,
            if_match=if_match,
            abort_timeout=abort_timeout,
            schedule=self._schedule,
            resumption=Resumption(
                keep=resumable,
                resume=resume or upload_id is not None,
                upload_id=upload_id,
                journal_dir=(
                    Path(journal_dir)
                    if journal_dir is not None
                    else default_journal_dir()
                    if resumable or resume or upload_id is not None
                    else None
                ),
                endpoint=getattr(transport, "endpoint", ""),
            ),
        )
        self._conditions_checked = False
        self._file: FileSnapshot | None = None  # write_file()'s source, checked at close()
        self._tail_only = False  # adopt_first_part() took less than a part: close() next
        # The exception being handled when the writer was made (by id: holding it would
        # keep its frames alive): close() under any other one is an unwinding, not a commit.
        self._made_under = _handled_exception_id()
        self._life = life

    @property
    def _state(self) -> State:
        return self._life.state

    # -- io.BufferedIOBase -------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the writer completed or aborted (or is doing so)."""
        return not self._life.accepting

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
        """Bytes written so far (the position in an append-only stream; before
        compression, with ``compress``)."""
        self._check_open()
        return self.bytes_written

    def flush(self) -> None:
        """Does nothing but check the state: S3 needs 5 MiB for every part but the last,
        so a flush cannot force a short part out. Data is safe only after close()."""
        self._check_open()

    def write(self, data: Buffer) -> int:
        """Copy ``data`` into part buffers; block while the in-flight limit is reached."""
        if isinstance(data, str):
            raise TypeError("write() needs a bytes-like object, not str")
        with self._lock, memoryview(data) as view:
            self._check_open()
            # A view that is no bytes-like argument is the caller's mistake, taken before
            # any byte: it leaves the writer as it was (TypeError).
            flat = view if view.format == "B" and view.ndim == 1 else view.cast("B")
            try:
                return self._write(flat)
            except BaseException as exc:
                # Whatever escapes from here (an upload error, an interrupt half-way) leaves
                # bytes of this write unsent: the writer is FAILED, and close() aborts.
                self._upload.record_error(exc)
                raise
            finally:
                if flat is not view:
                    flat.release()

    def _write(self, flat: memoryview) -> int:
        if self._tail_only and flat.nbytes:
            raise ValueError("the stream was handed over whole (adopt_first_part): close it")
        if not self._conditions_checked:
            self.check_conditions()
        self._raise_failure()
        if self._stage is not None:
            self._store(self._stage.compress(flat))
            self._ledger.count_source(flat.nbytes)
            return flat.nbytes
        return self._store(flat)

    def _store(self, flat: memoryview) -> int:
        """Copy ``flat`` (what is stored: compressed already, with ``compress``) into part
        buffers, sending each full one."""
        total = flat.nbytes
        pos = 0
        while pos < total:
            buf = self._writable_buffer()
            take = min(total - pos, len(buf) - self._fill)
            buf[self._fill : self._fill + take] = flat[pos : pos + take]
            if self._running is not None:  # from the buffer: ``flat`` may be strided
                with memoryview(buf) as view:
                    self._running.update(view[self._fill : self._fill + take])
            self._fill += take
            self._ledger.bytes_written += take
            pos += take
        return total

    def readinto_from(self, source: Readable, max_bytes: int | None = None) -> int:
        """Read ``source`` to EOF (or ``max_bytes``) straight into part buffers.

        The zero-copy path for pipes: each ``readinto`` lands in the part buffer itself,
        with no intermediate bytes objects. Returns the number of bytes read.
        """
        with self._lock:
            self._check_open()
            try:
                return self._readinto_from(source, max_bytes)
            except BaseException as exc:
                self._upload.record_error(exc)  # as in write(): FAILED, and close() aborts
                raise

    def _readinto_from(self, source: Readable, max_bytes: int | None) -> int:
        total = 0
        if not self._conditions_checked:
            self.check_conditions()
        if self._stage is not None:
            return self._readinto_compressed(self._stage, source, max_bytes)
        while max_bytes is None or total < max_bytes:
            self._raise_failure()
            if self._buf is not None and self._fill == len(self._buf):
                # The part is full: send it only once more data turns up (as write()
                # does), so a stream ending exactly here stays a single PutObject.
                probe = bytearray(1)
                if not read_blocking(source, memoryview(probe)):
                    break
                total += self._write(memoryview(probe))
                continue
            buf = self._writable_buffer()
            room = len(buf) - self._fill
            if max_bytes is not None:
                room = min(room, max_bytes - total)
            with memoryview(buf) as view:
                n = read_blocking(source, view[self._fill : self._fill + room])
                if self._running is not None:
                    self._running.update(view[self._fill : self._fill + n])
            if not n:
                break
            self._fill += n
            self._ledger.bytes_written += n
            total += n
        return total

    def _readinto_compressed(
        self, stage: CompressionStage, source: Readable, max_bytes: int | None
    ) -> int:
        """readinto_from() through the compressor: source bytes are read into one chunk
        buffer, and what the compressor returns is copied into the part buffers."""
        chunk = bytearray(COMPRESS_CHUNK)
        total = 0
        with memoryview(chunk) as view:
            while max_bytes is None or total < max_bytes:
                self._raise_failure()
                room = (
                    COMPRESS_CHUNK if max_bytes is None else min(COMPRESS_CHUNK, max_bytes - total)
                )
                n = read_blocking(source, view[:room])
                if not n:
                    break
                self._store(stage.compress(view[:n]))
                self._ledger.count_source(n)
                total += n
        return total

    def write_file(
        self, fd: int, *, offset: int = 0, size: int | None = None, name: str | None = None
    ) -> int:
        """Upload ``size`` bytes (by default, to its end) of the regular file open on ``fd``
        from ``offset``, with positional reads on the worker threads: parts are read in
        parallel, straight into their buffers, never through this thread.

        It must be the writer's only write. Keep ``fd`` open until close() (or the end of
        the ``with`` block), which first checks that the file kept its size and
        modification time: if not, SourceChangedError, and nothing is published. Pass
        ``expected_size`` (the file's size) to the writer to fit the parts to the file, as
        :func:`s3sink.upload_file` does. Returns ``size``."""
        with self._lock:
            self._check_open()
            if self._ledger.bytes_written or self._buf is not None or self._file is not None:
                raise ValueError("write_file() must be the writer's only write")
            try:
                snapshot = FileSnapshot.take(fd, name or f"fd {fd}")
                if size is None:
                    size = max(0, snapshot.size - offset)
                self._file = snapshot
                if not self._conditions_checked:
                    self.check_conditions()
                if self._stage is not None:
                    self._write_file_compressed(self._stage, snapshot, offset, size)
                else:
                    self._write_file(snapshot, offset, size)
            except BaseException as exc:
                self._upload.record_error(exc)  # as in write(): FAILED, and close() aborts
                raise
            return size

    def _write_file(self, snapshot: FileSnapshot, offset: int, size: int) -> None:
        first = self._schedule.size_of(1)
        if size <= first:
            # One part at most: read here, and close() makes it one PutObject.
            buf = self._writable_buffer()
            pread_into(snapshot, offset, self._ledger.count_written, self.bucket, self.key)(
                memoryview(buf)[:size]
            )
            self._fill = size
            return
        done = 0
        while done < size:
            self._raise_failure()
            number = self._upload.next_part
            if number > MAX_PARTS:
                raise PartLimitError(
                    f"{format_size(size)} does not fit the part schedule ({MAX_PARTS:,} parts)",
                    bucket=self.bucket,
                    key=self.key,
                    upload_id=self._upload.upload_id,
                )
            charge = self._schedule.size_of(number)
            length = min(charge, size - done)
            self._ledger.part_size = charge
            buf = self._pool.acquire_buffer(charge)
            fill = pread_into(
                snapshot, offset + done, self._ledger.count_written, self.bucket, self.key
            )
            self._upload.send(buf, length, fill)
            done += length

    def _write_file_compressed(
        self, stage: CompressionStage, snapshot: FileSnapshot, offset: int, size: int
    ) -> None:
        """A file through the compressor: read in order on this thread (the stored size is
        unknown until the end, so parts cannot be cut from the file), its size in the zstd
        frame header."""
        stage.start(size)
        chunk = bytearray(min(COMPRESS_CHUNK, max(size, 1)))
        done = 0
        with memoryview(chunk) as view:
            while done < size:
                self._raise_failure()
                n = min(len(chunk), size - done)
                pread_into(
                    snapshot, offset + done, self._ledger.count_source, self.bucket, self.key
                )(view[:n])
                self._store(stage.compress(view[:n]))
                done += n

    def _drop_compressor(self) -> None:
        if self._stage is not None:
            self._stage.close()

    def adopt_first_part(self, buf: bytearray) -> None:
        """Take ``buf`` (charged to this writer's shared ``memory_budget`` already) as the
        first part buffer, full, without copying it: how the mount hands a file's staging
        buffer over. A buffer shorter than a part is the whole stream: close() follows."""
        with self._lock:
            self._check_open()
            if self._codec is not None:
                raise ValueError("adopt_first_part() takes stored bytes: not with compress")
            first = self._schedule.size_of(1)
            if self._ledger.bytes_written or self._buf is not None or len(buf) > first:
                raise ValueError("adopt_first_part() takes at most one part, before any write")
            if not self._conditions_checked:
                self.check_conditions()
            self._pool.adopt_buffer(len(buf))
            self._buf, self._fill, self._running = buf, len(buf), None
            self._ledger.part_size = first
            self._ledger.bytes_written = len(buf)
            self._tail_only = len(buf) < first

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
    def compression(self) -> str | None:
        """The codec and level (``zstd:3``) with ``compress``, else None."""
        return self._codec.name if self._codec is not None else None

    @property
    def bytes_written(self) -> int:
        """Bytes accepted by write() so far (before compression, with ``compress``)."""
        source = self._ledger.source_bytes
        return self._ledger.bytes_written if source is None else source

    @property
    def bytes_stored(self) -> int:
        """Bytes put into part buffers so far: compressed, with ``compress``."""
        return self._ledger.bytes_written

    @property
    def upload_id(self) -> str | None:
        """The multipart upload id, once the first part created one."""
        return self._upload.upload_id

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
        result = self._upload.committer.published
        if result is None or self._state is not State.COMPLETED:
            raise ValueError(f"no result: the writer is {self._state.value}")
        if self._result is None or self._result.etag != result.etag:
            self._result = replace(
                result,
                source_size=self.bytes_written,
                compression=self._codec.name if self._codec is not None else None,
                object_lock=self._upload.lock_state,
            )
        return self._result

    def progress(self) -> Progress:
        """A snapshot of the progress so far."""
        return self._ledger.progress(self._pool.in_flight)

    def check_conditions(self) -> None:
        """Check ``if_none_match`` / ``if_match`` against the store now (HeadObject), and
        raise :class:`PreconditionFailed` when they do not hold. Done once; the first
        write(), readinto_from() or close() does it if the caller did not, so that no byte
        is read for an upload that cannot be published."""
        with self._lock:
            self._check_open()
            if self._conditions_checked:
                return
            self._conditions_checked = True
            try:
                self._upload.committer.check_conditions()
                self._schedule = self._upload.prepare_resume(self._schedule)
            except BaseException as exc:
                self._upload.record_error(exc)
                raise

    # -- buffering --------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._life.accepting:
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
            # The buffer is full and more data is coming: it is not the last part. It leaves
            # the writer before it is sent, so that an interrupt inside send() can never
            # leave one buffer both in flight and current (sent twice, or overwritten).
            fill, self._buf, self._fill = self._fill, None, 0
            running, self._running = self._running, None
            digest = running.digest() if running is not None and running.covered == fill else None
            self._upload.send(buf, fill, digest=digest)
        if self._upload.next_part > MAX_PARTS:
            exc = PartLimitError(
                f"the stream outgrew {MAX_PARTS:,} parts "
                f"({format_size(self._ledger.bytes_written)} written); pass a larger part size or "
                "expected_size" + ("" if not self._schedule.fixed else ", or drop fixed part size"),
                bucket=self.bucket,
                key=self.key,
                upload_id=self._upload.upload_id,
            )
            self._upload.record_error(exc)
            raise exc
        size = self._schedule.size_of(self._upload.next_part)
        self._ledger.part_size = size
        self._buf = self._pool.acquire_buffer(size)
        self._fill = 0
        self._running = self._checksummer.running() if self._checksummer is not None else None
        return self._buf

    def __repr__(self) -> str:
        return (
            f"<S3MultipartWriter s3://{self.bucket}/{self.key} {self._state.value} "
            f"{self._ledger.bytes_written} bytes>"
        )


def _handled_exception_id() -> int | None:
    exc = sys.exc_info()[1]
    return None if exc is None else id(exc)
