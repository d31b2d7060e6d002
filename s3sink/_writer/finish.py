"""How an S3MultipartWriter ends: ``close()`` publishes, ``abort()`` discards, ``keep()``
keeps the upload for a resume; the context manager and the finaliser choose among them, and
never publish from an error or from garbage collection.

:class:`Ending` works over what a writer is made of (its part buffer and feed, the upload,
the pool and the lifecycle), handed to it at construction; the writer's own ``close()``,
``abort()``, ``keep()``, ``__exit__`` and ``__del__`` are one line each over it.
"""

from __future__ import annotations

import logging
import sys
import warnings

from .._upload.state import State
from ..errors import AbortFailedError, UploadCancelled
from .assembly import WriterParts

__all__ = ["Ending"]

log = logging.getLogger("s3sink")


class Ending:
    """close(), abort(), keep(), ``with`` and the finaliser of one writer."""

    def __init__(self, parts: WriterParts, source: object) -> None:
        self.parts = parts
        self.bucket = parts.upload.bucket
        self.key = parts.upload.key
        self.source = source  # the writer, named by the ResourceWarning
        # Set by _dealloc_warn: the io wrapper around the writer is being finalised.
        self.wrapper_finalising: str | None = None
        self._lock = parts.lock
        self._life = parts.life
        self._upload = parts.upload
        self._pool = parts.pool

    @property
    def _state(self) -> State:
        return self._life.state

    # -- completion -------------------------------------------------------------------
    def close(self) -> None:
        """S3MultipartWriter.close: publish, or abort on any failure or while unwinding."""
        unwinding = sys.exc_info()[1]
        if unwinding is not None and id(unwinding) != self.parts.made_under:
            self.abort_unclosed(
                f"close() was called while {type(unwinding).__name__} was being handled",
                warn=False,
            )
            return
        if self.wrapper_finalising is not None:
            self.abort_unclosed(
                f"the {self.wrapper_finalising} around it was garbage-collected without close()",
                warn=True,
            )
            return
        with self._lock:
            if not self._life.accepting:
                return
            self._life.move(State.COMPLETING)
            try:
                self.parts.check_conditions()
                self.parts.buffer.raise_failure()
                self.parts.feed.finish()
                buf, fill = self.parts.buffer.take()
                self._upload.publish(buf, fill, self.parts.source_check())
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
                self.parts.feed.close()
                self._pool.shutdown()

    # -- abort ------------------------------------------------------------------------
    def abort(self) -> bool:
        """S3MultipartWriter.abort: True when nothing is (or will be) published."""
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
            self.parts.stop_sending.set()
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
        """S3MultipartWriter.keep: the kept upload's id, or None."""
        with self._lock:
            if self._state is State.KEPT:
                return self._upload.upload_id
            if not self._life.accepting:
                return None
            self._life.move(State.ABORTING)
            cause = UploadCancelled(
                "upload kept", bucket=self.bucket, key=self.key, upload_id=self._upload.upload_id
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
                self.parts.stop_sending.set()  # nothing sent from here on can be published
                self._upload.abort(cause)
        finally:
            self._life.move(ended)
            self._release_current()

    def _release_current(self) -> None:
        self.parts.feed.close()
        self.parts.buffer.release()
        self._pool.shutdown()

    # -- context manager and garbage collection ---------------------------------------
    def exit(self, exc: BaseException | None) -> None:
        """``__exit__``: publish on success; on any exception abort (or keep, when
        resumable), and let the exception go on."""
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

    def finalise(self) -> None:
        """``__del__``: never complete from garbage collection (a truncated stream would be
        published): abort, then warn."""
        if self._life.accepting:
            self.abort_unclosed("writer garbage-collected without close()", warn=True)

    def abort_unclosed(self, reason: str, *, warn: bool) -> None:
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
            warnings.warn(message, ResourceWarning, stacklevel=4, source=self.source)
        else:
            log.warning("%s", message)
