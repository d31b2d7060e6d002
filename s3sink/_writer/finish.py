"""How an S3MultipartWriter ends: ``close()`` publishes, ``abort()`` discards, ``keep()``
keeps the upload for a resume; the context manager and the finaliser choose among them, and
never publish from an error or from garbage collection.

A mixin of the writer (``_writer``), which holds the state these methods read; the
declarations under TYPE_CHECKING name what they use of it.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from types import TracebackType
from typing import TYPE_CHECKING

from .._upload.state import State
from ..errors import AbortFailedError, UploadCancelled

if TYPE_CHECKING:
    from .._upload.multipart import Upload
    from .._upload.pool import PartPool
    from .._upload.state import Lifecycle
    from .compress import CompressionStage
    from .sources import FileSnapshot
    from .writer import S3MultipartWriter

__all__ = ["WriterEnding"]

log = logging.getLogger("s3sink")


class WriterEnding:
    """close(), abort(), keep(), ``with`` and ``__del__`` of S3MultipartWriter."""

    if TYPE_CHECKING:
        bucket: str
        key: str
        _lock: threading.RLock
        _life: Lifecycle
        _upload: Upload
        _pool: PartPool
        _buf: bytearray | None
        _fill: int
        _file: FileSnapshot | None
        _stage: CompressionStage | None
        _stop_sending: threading.Event
        _conditions_checked: bool
        _made_under: int | None

        @property
        def _state(self) -> State: ...
        @property
        def upload_id(self) -> str | None: ...
        def _raise_failure(self) -> None: ...
        def _check_open(self) -> None: ...
        def _drop_compressor(self) -> None: ...
        def _store(self, flat: memoryview) -> int: ...

    # -- completion -------------------------------------------------------------------
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
        unwinding = sys.exc_info()[1]
        if unwinding is not None and id(unwinding) != self._made_under:
            self._abort_unclosed(
                f"close() was called while {type(unwinding).__name__} was being handled",
                warn=False,
            )
            return
        if self._wrapper_finalising is not None:
            self._abort_unclosed(
                f"the {self._wrapper_finalising} around it was garbage-collected without close()",
                warn=True,
            )
            return
        with self._lock:
            if not self._life.accepting:
                return
            self._life.move(State.COMPLETING)
            try:
                if not self._conditions_checked:
                    self._conditions_checked = True
                    self._upload.committer.check_conditions()
                self._raise_failure()
                if self._stage is not None:
                    tail = self._stage.finish()
                    self._stage.close()  # frees libzstd's buffers before the wait
                    self._store(tail)
                buf, self._buf = self._buf, None
                source = self._file
                self._upload.publish(
                    buf,
                    self._fill,
                    None if source is None else lambda: source.check(self.bucket, self.key),
                )
                self._life.move(State.COMPLETED)
            except BaseException as exc:
                if self._upload.committer.published is not None:
                    # Interrupted, but the object was published first: nothing to abort,
                    # and the interrupt still reaches the caller.
                    self._life.move(State.COMPLETED)
                    raise
                try:
                    self._abort_after(exc)
                finally:
                    # An interrupted Complete can still win the race with that abort.
                    if self._upload.committer.landed_after_abort():
                        self._life.move(State.COMPLETED)
                raise
            finally:
                self._drop_compressor()
                self._pool.shutdown()

    # -- abort ------------------------------------------------------------------------
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
        cancelled = UploadCancelled(
            "upload aborted", bucket=self.bucket, key=self.key, upload_id=self._upload.upload_id
        )
        if self._state in (State.OPEN, State.FAILED, State.COMPLETING) and self._pool.cancel(
            cancelled
        ):
            # Called from another thread (an on_progress callback, say) while write() waits
            # for a free slot or buffer, or close() for the parts in flight, with the lock
            # held: the recorded cancellation wakes it, it raises, aborts and lets go of the
            # lock. Once close() has begun the request that publishes, cancel() refuses and
            # that request is allowed to finish.
            self._stop_sending.set()
            self._life.fail(cancelled)
        with self._lock:
            if self._state is State.COMPLETED:
                return False
            if self._state in (State.ABORTED, State.ABORTING):
                return True
            if self._state is State.KEPT:
                self._life.move(State.ABORTING)
                try:
                    self._upload.abort(cancelled)
                finally:
                    self._life.move(State.ABORTED)
                return True
            self._abort_after(cancelled, discard=True)
            return True

    def keep(self) -> str | None:
        """End the writer without publishing, but keep the multipart upload (and, when
        resumable, its journal) for a later ``resume=True``: the failure path of a resumable
        writer, on demand. Waits (bounded) for parts in flight. Returns the upload id, or
        None when no upload was started (nothing to keep: the writer is aborted)."""
        with self._lock:
            if self._state is State.KEPT:
                return self._upload.upload_id
            if not self._life.accepting:
                return None
            self._life.move(State.ABORTING)
            cause = UploadCancelled(
                "upload kept", bucket=self.bucket, key=self.key, upload_id=self.upload_id
            )
            self._pool.record_error(cause)
            ended = State.ABORTED
            try:
                if self._upload.keep(cause):
                    ended = State.KEPT
            finally:
                self._life.move(ended)
                self._release_current()
            return self._upload.upload_id if ended is State.KEPT else None

    def _abort_after(self, cause: BaseException, *, discard: bool = False) -> None:
        """Abort because of ``cause`` (keep the upload instead, when resumable and not
        ``discard``); raise AbortFailedError (chained) if the abort fails."""
        self._life.move(State.ABORTING)
        self._pool.record_error(cause)
        ended = State.ABORTED
        try:
            if self._upload.resumption.keep and not discard and self._upload.keep(cause):
                ended = State.KEPT
            else:
                self._stop_sending.set()  # nothing sent from here on can be published
                self._upload.abort(cause)
        finally:
            self._life.move(ended)
            self._release_current()

    def _release_current(self) -> None:
        self._drop_compressor()
        buf, self._buf = self._buf, None
        if buf is not None:
            self._pool.release_buffer(buf, len(buf), reuse=False)
        self._pool.shutdown()

    # -- context manager and garbage collection ---------------------------------------
    def __enter__(self) -> S3MultipartWriter:
        self._check_open()
        return self  # type: ignore[return-value]  # only ever a writer

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
            if self._life.accepting:
                try:
                    self._abort_after(exc)
                except AbortFailedError as abort_exc:
                    # The original error stays the one raised; the orphan must be visible.
                    log.warning("%s", abort_exc)

    def _dealloc_warn(self, source: object) -> None:
        # CPython's io wrappers (TextIOWrapper, BufferedWriter) call this on the object they
        # wrap when they are finalised, just before they close it: that close() must abort.
        self._wrapper_finalising = type(source).__name__

    _wrapper_finalising: str | None = None

    def __del__(self) -> None:
        # Never complete from garbage collection (a truncated stream would be published):
        # abort, then warn. io.IOBase.__del__ would call close(), so it is not called.
        life = getattr(self, "_life", None)
        if life is not None and life.accepting:  # a half-built writer is never accepting
            self._abort_unclosed("writer garbage-collected without close()", warn=True)

    def _abort_unclosed(self, reason: str, *, warn: bool) -> None:
        """End a writer that must not publish: abort, and say so (an AbortFailedError is
        logged, not raised: whatever is unwinding stays the error the caller sees)."""
        with self._lock:
            if not self._life.accepting:
                return
            try:
                self._abort_after(
                    UploadCancelled(
                        reason, bucket=self.bucket, key=self.key, upload_id=self._upload.upload_id
                    )
                )
            except AbortFailedError as exc:
                log.warning("%s", exc)
        ended = "kept for a resume" if self._state is State.KEPT else "aborted"
        message = (
            f"{reason}: the upload of s3://{self.bucket}/{self.key} was {ended} and nothing "
            "was published"
        )
        if warn:
            warnings.warn(message, ResourceWarning, stacklevel=3, source=self)
        else:
            log.warning("%s", message)
