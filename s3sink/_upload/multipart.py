"""The store side of one writer: the multipart upload, created with the first part; parts
sent on the pool; then one commit or one abort.

The writer fills part buffers and hands each full one to :meth:`MultipartUpload.send`, which owns it
from then on (it goes back to the pool once sent). This keeps the writer to its io surface,
its state machine and its buffering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .._sizes import format_size
from .._store.objectlock import requested_lock
from .._store.transport import Transport
from ..errors import AbortFailedError, S3SinkError
from .abort import abort_upload, cleanup_command, report_unknown_uploads
from .commit import Committer
from .journal import Journal
from .parts import PartLedger, PartSender, submit_part
from .policy import PartSchedule
from .pool import PartPool
from .resume import Resumption, new_journal, take_up
from .spec import UploadSpec
from .state import Lifecycle

__all__ = ["MultipartUpload", "Resumption"]

log = logging.getLogger("s3sink")


class MultipartUpload:
    """Creates, feeds and ends one multipart upload (or publishes one PutObject)."""

    def __init__(
        self,
        transport: Transport,
        spec: UploadSpec,
        *,
        pool: PartPool,
        ledger: PartLedger,
        lifecycle: Lifecycle,
        abort_timeout: float,
        schedule: PartSchedule,
        resumption: Resumption | None = None,
    ) -> None:
        self.spec = spec
        self.bucket = spec.bucket
        self.key = spec.key
        self._transport = transport
        self._extra = spec.extra
        self._pool = pool
        self._ledger = ledger
        self._life = lifecycle
        self._abort_timeout = abort_timeout
        self._sender = PartSender(transport, spec)
        self.committer = Committer(transport, spec)
        self.upload_id: str | None = None
        self.next_part = 1
        self._create_started = 0.0
        self._create_interrupted = False
        self.resumption = resumption or Resumption()
        self._checksummer = spec.checksummer
        self._journal: Journal | None = None
        self.schedule = schedule  # what parts are cut by; a journal records it
        self.lock_state: str | None = None  # check_lock()'s finding

    def record_error(self, exc: BaseException) -> None:
        """The first error wins: recorded in the pool (waking every waiter), and the writer
        becomes FAILED."""
        self._pool.record_error(exc)
        self._life.fail(exc)

    def send(
        self,
        buf: bytearray,
        length: int,
        fill: Callable[[bytearray], None] | None = None,
        digest: bytes | None = None,
    ) -> None:
        """Send the next part: the first ``length`` bytes of ``buf`` (creating the multipart
        upload first if needed; ``fill`` fills them on the worker thread and ``digest`` is
        their checksum if known, see submit_part). Blocks while the pool is full."""
        number = self.next_part
        self.next_part += 1
        charge = len(buf)
        if length < charge:
            del buf[length:]  # the last part: shrink in place instead of copying a slice
        if self.upload_id is None:
            self._create_started = time.time()
            try:
                self.upload_id = self._sender.create_upload(self._extra)
            except BaseException as exc:
                # An interrupt may come after the store created the upload: its id is then
                # unknown here, and abort() looks for it.
                self._create_interrupted = not isinstance(exc, Exception)
                self.record_error(exc)
                raise
            self._use_journal(
                new_journal(self.spec, self.resumption, self.upload_id, self.schedule, created=True)
            )
        submit_part(
            pool=self._pool,
            sender=self._sender,
            ledger=self._ledger,
            lifecycle=self._life,
            upload_id=self.upload_id,
            number=number,
            buf=buf,
            charge=charge,
            fill=fill,
            digest=digest,
        )

    def publish(
        self,
        tail: bytearray | None,
        length: int,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Send the tail (``length`` bytes of ``tail``), wait for every part and publish;
        a stream that never filled a part becomes one PutObject. ``before_commit`` runs once
        every part is sent, before the request that publishes (it may raise to stop it)."""
        if self.upload_id is None or (self.next_part == 1 and not length):
            # One part's worth at most, or resuming with an empty stream: one PutObject (a
            # pending upload then stays for the lifecycle rule or `uploads abort`).
            if before_commit is not None:
                before_commit()
            self._pool.seal()
            self._put_single(tail, length)
            self.check_lock()
            return
        if tail is not None and length:
            self.send(tail, length)
        elif tail is not None:
            self._pool.release_buffer(tail, len(tail), reuse=False)
        self._pool.drain(until_error=True)  # an abort() from another thread ends the wait
        if before_commit is not None:
            before_commit()
        self._pool.seal()  # raises the first error; else nothing interrupts the commit now
        self.committer.complete(
            self.upload_id, self._ledger.sorted_parts(), self._ledger.bytes_written
        )
        self._forget_journal()
        self.check_lock()

    def check_lock(self) -> None:
        """After the commit, with Object Lock asked for: does the object show it? Stores
        differ (RGW 16 keeps it from a PutObject, drops it from CreateMultipartUpload), so
        a lock missing is set now (PutObjectRetention, PutObjectLegalHold) and checked
        again. The object is published either way: what is left is ``lock_state``.

        All on the version the commit made: the key's current version may already be
        another writer's, which must get neither our verdict nor our lock."""
        wanted = requested_lock(self._extra)
        published = self.committer.published
        if wanted is None or published is None:
            return
        t, bucket, key = self._transport, self.bucket, self.key
        # Object Lock needs a versioned bucket, so the commit names its version; "null" is
        # the version of an unversioned bucket, where only the current one exists.
        ours = published.version_id if published.version_id != "null" else None
        try:
            info = t.head_object(bucket, key, ours)
            if info is not None and wanted.held_by(info.lock):
                self.lock_state = "kept"
                return
            log.warning(
                "the store did not keep the Object Lock of s3://%s/%s; setting it now", bucket, key
            )
            version = ours or (info.version_id if info else None)
            t.put_object_lock(bucket, key, version, wanted, extra=self.spec.part_extra)
            info = t.head_object(bucket, key, version)
            if info is not None and wanted.held_by(info.lock):
                self.lock_state = "applied"
                return
            problem = "the store shows no Object Lock on it"
        except S3SinkError as exc:
            problem = str(exc)
        self.lock_state = "missing"
        log.error(
            "s3://%s/%s is published but NOT protected by Object Lock: %s", bucket, key, problem
        )

    def _put_single(self, buf: bytearray | None, length: int) -> None:
        body: bytearray = buf if buf is not None else bytearray()
        charge = len(body)
        if length < len(body):
            del body[length:]
        acknowledged: int | None = None
        try:
            self.committer.put_single(body, self._ledger.start_sending(0))
            acknowledged = length
        finally:
            # Sending ends, and the bytes count as uploaded, in one step (no snapshot
            # between them shows the bytes gone).
            self._ledger.stop_sending(0, acknowledged)
            if buf is not None:
                self._pool.release_buffer(buf, charge, reuse=False)

    def abort(self, cause: BaseException) -> None:
        """Abort the multipart upload, if one was created, because of ``cause``; raise
        AbortFailedError (with ``cause`` as its context) when that fails. An abort that does
        not finish (a second Ctrl-C) is logged with the command that finishes it."""
        self._abort(cause)
        self._forget_journal()

    def keep(self, cause: BaseException) -> bool:
        """Resumable: end without publishing but keep the multipart upload and its journal
        for a resume. Waits (bounded) for parts in flight, so that what they stored is
        recorded. False when there is no upload to keep (it was aborted instead)."""
        if self.upload_id is None:
            self._abort(cause)
            return False
        if not self._pool.drain(self._abort_timeout):
            log.warning(
                "parts still in flight after %.0fs; keeping the upload anyway", self._abort_timeout
            )
        # What the store holds: the parts it listed when this run resumed, as replaced or
        # added by the parts this run sent.
        stored = {p.number: p.size for p in self._sender.stored.values()}
        stored.update((p.number, p.size) for p in self._ledger.parts.values())
        log.warning(
            "upload %s of s3://%s/%s was kept for a resume: %d parts (%s) are stored%s",
            self.upload_id,
            self.bucket,
            self.key,
            len(stored),
            format_size(sum(stored.values())),
            f"; journal {self._journal.path}" if self._journal is not None else "",
        )
        if self._journal is not None:
            self._journal.release()  # another run (or writer) may take it up now
        return True

    def _abort(self, cause: BaseException) -> None:
        if self.upload_id is None:
            if self._create_interrupted:
                report_unknown_uploads(self._transport, self.bucket, self.key, self._create_started)
            return
        try:
            abort_upload(
                self._transport,
                self._pool,
                bucket=self.bucket,
                key=self.key,
                upload_id=self.upload_id,
                timeout=self._abort_timeout,
            )
        except AbortFailedError as exc:
            exc.__context__ = cause
            raise
        except BaseException:
            log.warning(
                "the abort of upload %s did not finish; it may keep parts on the server "
                "until you run: %s",
                self.upload_id,
                cleanup_command(self.bucket, self.key, self.upload_id),
            )
            raise

    # -- resuming ----------------------------------------------------------------------
    def prepare_resume(self) -> None:
        """Resuming: find the pending upload for the key (its journal here, else
        ListMultipartUploads; ``upload_id`` picks one), list the parts it holds, and make
        :attr:`schedule` the one to cut this run's parts by (see adopt_schedule). Without
        one, a new upload starts, and says so. Whatever cannot work is refused here, before
        anything is read (UsageError)."""
        if not self.resumption.resume:
            return
        taken = take_up(self._transport, self.spec, self.resumption, self.schedule, self._pool.fits)
        if taken is None:
            log.warning(
                "no pending upload of s3://%s/%s to resume: starting a new one",
                self.bucket,
                self.key,
            )
            return
        self.upload_id = taken.upload_id
        self._sender.stored = taken.stored
        log.warning(
            "resuming upload %s of s3://%s/%s: the store holds %d parts (%s); parts with "
            "this run's bytes are not sent again",
            taken.upload_id,
            self.bucket,
            self.key,
            len(taken.stored),
            format_size(sum(p.size for p in taken.stored.values())),
        )
        self.schedule = taken.schedule
        self._use_journal(taken.journal)

    def _use_journal(self, journal: Journal | None) -> None:
        self._journal = journal
        if self._journal is not None:
            self._ledger.journal = self._journal.record

    def _forget_journal(self) -> None:
        if self._journal is not None:
            self._journal.remove()
            self._journal = None
            self._ledger.journal = None
