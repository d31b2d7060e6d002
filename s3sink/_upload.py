"""The store side of one writer: the multipart upload, created with the first part; parts
sent on the pool; then one commit or one abort.

The writer fills part buffers and hands each full one to :meth:`Upload.send`, which owns it
from then on (it goes back to the pool once sent). This keeps the writer to its io surface,
its state machine and its buffering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from ._abort import abort_upload
from ._checksum import Checksummer
from ._commit import Committer
from ._parts import PartLedger, PartSender, submit_part
from ._pool import PartPool
from ._state import Lifecycle
from ._transport import Transport, per_request
from .errors import AbortFailedError, S3SinkError

__all__ = ["Upload"]

log = logging.getLogger("s3sink")


class Upload:
    """Creates, feeds and ends one multipart upload (or publishes one PutObject)."""

    def __init__(
        self,
        transport: Transport,
        bucket: str,
        key: str,
        *,
        extra: Mapping[str, Any],
        checksummer: Checksummer | None,
        content_md5: bool,
        pool: PartPool,
        ledger: PartLedger,
        lifecycle: Lifecycle,
        if_none_match: str | None,
        if_match: str | None,
        abort_timeout: float,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self._transport = transport
        self._extra = extra
        self._pool = pool
        self._ledger = ledger
        self._life = lifecycle
        self._abort_timeout = abort_timeout
        self._sender = PartSender(
            transport, bucket, key, per_request(extra), checksummer, content_md5=content_md5
        )
        self.committer = Committer(
            transport,
            bucket,
            key,
            extra=extra,
            part_extra=per_request(extra),
            checksummer=checksummer,
            if_none_match=if_none_match,
            if_match=if_match,
            content_md5=content_md5,
        )
        self.upload_id: str | None = None
        self.next_part = 1
        self._create_started = 0.0
        self._create_interrupted = False

    def record_error(self, exc: BaseException) -> None:
        """The first error wins: recorded in the pool (waking every waiter), and the writer
        becomes FAILED."""
        self._pool.record_error(exc)
        self._life.fail(exc)

    def send(self, buf: bytearray, length: int) -> None:
        """Send the next part: the first ``length`` bytes of ``buf`` (creating the multipart
        upload first if needed). Blocks while the pool is full."""
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
        submit_part(
            pool=self._pool,
            sender=self._sender,
            ledger=self._ledger,
            lifecycle=self._life,
            upload_id=self.upload_id,
            number=number,
            buf=buf,
            charge=charge,
        )

    def publish(self, tail: bytearray | None, length: int) -> None:
        """Send the tail (``length`` bytes of ``tail``), wait for every part and publish;
        a stream that never filled a part becomes one PutObject."""
        if self.upload_id is None:
            self._pool.seal()
            self._put_single(tail, length)
            return
        if tail is not None and length:
            self.send(tail, length)
        elif tail is not None:
            self._pool.release_buffer(tail, len(tail), reuse=False)
        self._pool.drain(until_error=True)  # an abort() from another thread ends the wait
        self._pool.seal()  # raises the first error; else nothing interrupts the commit now
        self.committer.complete(
            self.upload_id, self._ledger.sorted_parts(), self._ledger.bytes_written
        )

    def _put_single(self, buf: bytearray | None, length: int) -> None:
        body: bytearray = buf if buf is not None else bytearray()
        charge = len(body)
        if length < len(body):
            del body[length:]
        try:
            self.committer.put_single(body)
        finally:
            if buf is not None:
                self._pool.release_buffer(buf, charge, reuse=False)
        self._ledger.bytes_uploaded = length

    def abort(self, cause: BaseException) -> None:
        """Abort the multipart upload, if one was created, because of ``cause``; raise
        AbortFailedError (with ``cause`` as its context) when that fails. An abort that does
        not finish (a second Ctrl-C) is logged with the command that finishes it."""
        if self.upload_id is None:
            if self._create_interrupted:
                self._report_unknown_uploads()
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
                self._cleanup_command(self.upload_id),
            )
            raise

    def _cleanup_command(self, upload_id: str) -> str:
        return f"s3sink uploads abort s3://{self.bucket}/{self.key} --upload-id {upload_id}"

    def _report_unknown_uploads(self) -> None:
        """CreateMultipartUpload was interrupted: the store may have created an upload whose
        id never reached us. Name the uploads for this key that started since (allowing a
        minute of clock skew) rather than report that nothing was left behind. They are not
        aborted here: another writer of the same key could own one."""
        try:
            found = [
                u
                for u in self._transport.list_uploads(self.bucket, self.key)
                if u.key == self.key and u.initiated.timestamp() >= self._create_started - 60
            ]
        except S3SinkError as exc:
            log.warning(
                "CreateMultipartUpload was interrupted, and listing uploads to find what it "
                "may have created failed (%s); check with: s3sink uploads list s3://%s/%s",
                exc,
                self.bucket,
                self.key,
            )
            return
        for upload in found:
            log.warning(
                "CreateMultipartUpload was interrupted, and upload %s (started %s) may be the "
                "one it created; remove it with: %s",
                upload.upload_id,
                upload.initiated.isoformat(timespec="seconds"),
                self._cleanup_command(upload.upload_id),
            )
