"""S3MultipartWriter: a binary file object that streams into one S3 object.

Writes are copied into part buffers; a full part is handed to the part pool when the next
byte arrives (so a stream that fits one part becomes a single PutObject). The multipart
upload is created lazily with the first part, so construction does no I/O. Nothing is ever
published except by ``close()`` (or a successful ``with`` block): garbage collection of an
open writer aborts and emits a ResourceWarning. The lifecycle is an explicit state
(``s3sink._upload.state``).

The writer owns the io surface. It composes the part buffer (``buffer``), the feed in front
of it that compresses or not (``feed``), how it ends (``finish``: close, abort, keep, the
finaliser), the part pool (``s3sink._upload.pool``, which also keeps the memory budget of
its buffers) and the store side (``s3sink._upload.multipart``: part sending and bookkeeping
in ``parts``, publishing in ``commit``, aborting in ``abort``).
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._results import Progress, UploadResult
from .._store.checksums import DEFAULT_ALGORITHM
from .._store.ratelimit import RateLimiter
from .._store.transport import Transport
from .._upload.journal import ResumeCommand
from .._upload.policy import DEFAULT_PART_SIZE, PartSchedule
from .._upload.pool import SharedBudget
from .._upload.state import Lifecycle, State
from ..errors import (
    UsageError,
)
from .assembly import assemble
from .compress import Codec
from .config import WriterConfig
from .finish import Ending
from .sources import FileSnapshot, Readable, grow_source_pipe

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .._crypt import Recipient
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


class S3MultipartWriter(io.BufferedIOBase):
    """Stream bytes into ``s3://bucket/key``; see the module docstring for the lifecycle.

    For text use ``s3sink.open(uri, "w")``, not ``io.TextIOWrapper(writer)``. A plain
    TextIOWrapper's ``__exit__`` and finaliser call ``close()``; the writer recognises both
    (``close()`` during an exception, ``_dealloc_warn`` from a finalising wrapper) and aborts
    instead of publishing what was written so far, but ``s3sink.open`` needs no guessing.

    Memory: part buffers alive at once (the one being filled, those in flight and those
    kept for reuse) never exceed ``max_memory``. With the defaults that is
    (concurrency + 1) x 16 MiB = 80 MiB for streams up to 32 GiB and 1 GiB up to 466 GiB;
    beyond that parts are 1 GiB and the budget is two of them (2 GiB), so one part is read
    while another is sent. The first part's buffer grows with the data (from 1 MiB, doubling
    in place), so a stream shorter than a part holds what it has, not a part.

    ``resume_command`` (with ``resumable``): the command line that resumes the upload,
    recorded in its journal for ``s3sink uploads list`` to print (the command passes its
    own).

    ``sse_c_key`` (32 bytes): SSE-C, the store encrypts the object with this key, sent with
    every request (never logged, never in the journal: only a salted digest of it, so a
    resume given another key is refused). Reading the object back needs the same key.

    ``encrypt_to`` (age recipients: ``age1…`` strings, SSH public key lines, or
    parsed Recipient objects): the object is stored as an age file only their
    identities open (``age -d -i KEY``); after ``compress``, so part sizes, checksums and
    ``result.size`` are of the ciphertext. A bad recipient raises RecipientError here. It
    cannot be combined with ``resumable``/``resume`` (a new file key every upload).
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
        resume_command: ResumeCommand | None = None,
        memory_budget: SharedBudget | None = None,
        compress: str | Codec | None = None,
        rate_limit: float | RateLimiter | None = None,
        sse_c_key: bytes | None = None,
        encrypt_to: Sequence[str | Recipient] | None = None,
    ) -> None:
        super().__init__()
        # Closed until construction succeeds, so __del__ never "aborts" a half-built writer
        # (whose attributes it would miss) when a bad argument raises below.
        self._life = Lifecycle(State.ABORTED)
        config = WriterConfig.from_options(
            bucket,
            key,
            part_size=part_size,
            concurrency=concurrency,
            max_memory=max_memory,
            expected_size=expected_size,
            extra_args=extra_args,
            on_progress=on_progress,
            checksum=checksum,
            fixed_part_size=fixed_part_size,
            if_none_match=if_none_match,
            if_match=if_match,
            abort_timeout=abort_timeout,
            resumable=resumable,
            resume=resume,
            upload_id=upload_id,
            journal_dir=journal_dir,
            resume_command=resume_command,
            compress=compress,
            rate_limit=rate_limit,
            sse_c_key=sse_c_key,
            encrypt_to=encrypt_to,
        )
        if config.rate_limiter is not None and transport is not None:
            raise UsageError("rate_limit applies to the writer's own transport: pass a client")
        self._build(config, client, transport, memory_budget)

    def _build(
        self,
        config: WriterConfig,
        client: S3Client | None,
        transport: Transport | None,
        memory_budget: SharedBudget | None,
    ) -> None:
        """Make the writer's parts from its checked ``config``; no I/O."""
        self.config = config
        self.bucket = config.spec.bucket
        self.key = config.spec.key
        self.max_memory = config.plan.max_memory
        self.rate_limiter = config.rate_limiter
        self._codec = config.codec
        self._result: UploadResult | None = None  # the committer's, with the source size
        self._conditions_checked = False
        self._file: FileSnapshot | None = None  # write_file()'s source, checked at close()
        self._tail_only = False  # adopt_first_part() took less than a part: close() next
        parts = assemble(
            config,
            client=client,
            transport=transport,
            memory_budget=memory_budget,
            check_conditions=self._check_conditions_once,
            source_check=self._source_check,
            made_under=_handled_exception_id(),
        )
        self._lock, self._stop_sending = parts.lock, parts.stop_sending
        self._pool, self._ledger, self._upload = parts.pool, parts.ledger, parts.upload
        self._buffer, self._feed = parts.buffer, parts.feed
        self._ending = Ending(parts, source=self)
        self._life = parts.life

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
        self._buffer.raise_failure()
        return self._feed.write(flat)

    def readinto_from(self, source: Readable, max_bytes: int | None = None) -> int:
        """Read ``source`` to EOF (or ``max_bytes``) straight into part buffers.

        The zero-copy path for pipes: each ``readinto`` lands in the part buffer itself,
        with no intermediate bytes objects (``shutil.copyfileobj`` into ``write()`` copies
        every byte once more). A pipe is given a 1 MiB buffer first, as the command's stdin
        is. Returns the number of bytes read.
        """
        with self._lock:
            self._check_open()
            try:
                return self._readinto_from(source, max_bytes)
            except BaseException as exc:
                self._upload.record_error(exc)  # as in write(): FAILED, and close() aborts
                raise

    def _readinto_from(self, source: Readable, max_bytes: int | None) -> int:
        if not self._conditions_checked:
            self.check_conditions()
        grow_source_pipe(source)
        return self._feed.read_from(source, max_bytes)

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
            if self._ledger.bytes_written or self._buffer.current is not None or self._file:
                raise ValueError("write_file() must be the writer's only write")
            try:
                snapshot = FileSnapshot.take(fd, name or f"fd {fd}")
                if size is None:
                    size = max(0, snapshot.size - offset)
                self._file = snapshot
                if not self._conditions_checked:
                    self.check_conditions()
                self._feed.write_file(snapshot, offset, size)
            except BaseException as exc:
                self._upload.record_error(exc)  # as in write(): FAILED, and close() aborts
                raise
            return size

    def adopt_first_part(self, buf: bytearray) -> None:
        """Take ``buf`` (charged to this writer's shared ``memory_budget`` already) as the
        first part buffer, full, without copying it: how the mount hands a file's staging
        buffer over. A buffer shorter than a part is the whole stream: close() follows."""
        with self._lock:
            self._check_open()
            if self._codec is not None or self.config.recipients:
                raise ValueError(
                    "adopt_first_part() takes stored bytes: not with compress or encrypt_to"
                )
            first = self._upload.schedule.size_of(1)
            if self._ledger.bytes_written or self._buffer.current is not None or len(buf) > first:
                raise ValueError("adopt_first_part() takes at most one part, before any write")
            if not self._conditions_checked:
                self.check_conditions()
            self._tail_only = self._buffer.adopt(buf)

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
    def encryption(self) -> str | None:
        """``"age"`` with ``encrypt_to``, else None."""
        return "age" if self.config.recipients else None

    @property
    def bytes_written(self) -> int:
        """Bytes accepted by write() so far (before compression and encryption)."""
        source = self._ledger.source_bytes
        return self._ledger.bytes_written if source is None else source

    @property
    def bytes_stored(self) -> int:
        """Bytes put into part buffers so far: compressed and encrypted, as stored."""
        return self._ledger.bytes_written

    @property
    def upload_id(self) -> str | None:
        """The multipart upload id, once the first part created one."""
        return self._upload.upload_id

    @property
    def schedule(self) -> PartSchedule:
        """The part-size schedule in use."""
        return self._upload.schedule

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
                encryption=self.encryption,
                recipients=len(self.config.recipients) or None,
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
                self._upload.prepare_resume()
            except BaseException as exc:
                self._upload.record_error(exc)
                raise

    def _check_conditions_once(self) -> None:
        if not self._conditions_checked:
            self._conditions_checked = True
            self._upload.committer.check_conditions()

    def _source_check(self) -> Callable[[], None] | None:
        source = self._file
        return None if source is None else lambda: source.check(self.bucket, self.key)

    def _check_open(self) -> None:
        if not self._life.accepting:
            raise ValueError(f"I/O operation on a {self._state.value} S3MultipartWriter")

    # -- how it ends (finish.Ending) -----------------------------------------------------
    def close(self) -> None:
        """Upload the tail, wait for every part and publish the object.

        Idempotent. On any failure the upload is aborted, the writer is closed all the
        same, and the first error is raised.

        Called while an exception is propagating or being handled (one that was not already
        being handled when the writer was made), close() aborts instead, logs a warning and
        returns, leaving that exception to go on: that is ``closing(writer)``, an
        ``ExitStack`` callback, a ``finally:`` block or a wrapper's ``__exit__`` unwinding
        after an error, and publishing there would publish a truncated stream. To publish
        from an ``except`` block, close after it.
        """
        self._ending.close()

    def abort(self) -> bool:
        """Discard everything: stop accepting data, abort the multipart upload at once (so
        parts still sending fail fast), wait (bounded) for parts in flight, then confirm
        with ListParts and abort again while parts remain.

        Returns True when nothing is published (this call or an earlier one aborted), False
        when the object was published: close() had already completed, or was completing in
        another thread, which abort() then waits for and does not interrupt. Idempotent.
        Raises AbortFailedError when the upload could not be aborted (its id is in the
        error, to clean up later). A resumable writer's abort() discards too, an upload
        already kept (``State.KEPT``) included.
        """
        return self._ending.abort()

    def keep(self) -> str | None:
        """End the writer without publishing, but keep the multipart upload (and, when
        resumable, its journal) for a later ``resume=True``: the failure path of a resumable
        writer, on demand. Waits (bounded) for parts in flight. Returns the upload id, or
        None when no upload was started (nothing to keep: the writer is aborted)."""
        return self._ending.keep()

    def __enter__(self) -> S3MultipartWriter:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ending.exit(exc)

    def _dealloc_warn(self, source: object) -> None:
        # CPython's io wrappers (TextIOWrapper, BufferedWriter) call this on the object they
        # wrap when they are finalised, just before they close it: that close() must abort.
        self._ending.wrapper_finalising = type(source).__name__

    def __del__(self) -> None:
        # Never complete from garbage collection: abort, then warn. io.IOBase.__del__ would
        # call close(), so it is not called. A half-built writer has no ending to run.
        ending = self.__dict__.get("_ending")
        if ending is not None:
            ending.finalise()

    def __repr__(self) -> str:
        return (
            f"<S3MultipartWriter s3://{self.bucket}/{self.key} {self._state.value} "
            f"{self._ledger.bytes_written} bytes>"
        )


def _handled_exception_id() -> int | None:
    exc = sys.exc_info()[1]
    return None if exc is None else id(exc)
