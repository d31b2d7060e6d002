"""Sending parts and keeping their books: what in-flight tasks hold instead of the writer.

A task must never reference the writer: an unclosed writer has to stay collectable while its
parts are in flight, so that garbage collection aborts it. So a part's task holds only the
sender, the ledger, the pool and the lifecycle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from .._results import Progress
from .._store.checksums import Buffer, encode, etag_md5, md5_digest
from .._store.transport import (
    CompletedPart,
    Integrity,
    ListedPart,
    PartChecksum,
    PartReceipt,
    SendCounter,
    StoredObject,
    UploadTransport,
)
from ..errors import PartUploadError
from .pool import PartPool
from .spec import UploadSpec
from .state import Lifecycle

__all__ = ["VERIFY_ATTEMPTS", "PartLedger", "PartSender", "submit_part", "verify_receipt"]

log = logging.getLogger("s3sink")

VERIFY_ATTEMPTS = 3  # sends of a part whose ETag shows other bytes before giving up


class PartSender:
    """Creates the multipart upload, and checksums and sends each part."""

    def __init__(self, transport: UploadTransport, spec: UploadSpec) -> None:
        self.transport = transport
        self.bucket = spec.bucket
        self.key = spec.key
        self.extra = spec.part_extra
        self.checksummer = spec.checksummer
        self.content_md5 = spec.content_md5
        # Resuming: the parts the store already holds, by number (see send()).
        self.stored: Mapping[int, ListedPart] = {}

    def create_upload(self, extra: Mapping[str, Any]) -> str:
        """CreateMultipartUpload with the object's arguments and the checksum algorithm."""
        checksummer = self.checksummer
        return self.transport.create_multipart_upload(
            self.bucket,
            self.key,
            extra=extra,
            checksum_algorithm=checksummer.boto_name if checksummer else None,
            checksum_type=checksummer.checksum_type if checksummer else None,
        )

    def send(
        self,
        upload_id: str,
        number: int,
        body: bytearray,
        digest: bytes | None = None,
        sent: SendCounter | None = None,
    ) -> CompletedPart:
        """Runs on a worker thread: checksum the part once (unless ``digest``, its checksum
        folded in as it was written, is given), upload it, and verify that the store
        received these bytes before the buffer is let go; re-send on a mismatch. ``sent``
        counts the bytes of the attempt under way as they are sent."""
        part_checksum, digest, md5 = self._digests(body, digest)
        held = self.stored.get(number)
        if held is not None:
            kept = self._already_stored(held, body, part_checksum, digest, md5)
            if kept is not None:
                return kept
        etag = "-"
        for attempt in range(1, VERIFY_ATTEMPTS + 1):
            receipt = self._send_once(
                upload_id,
                number,
                body,
                part_checksum=part_checksum,
                md5=md5,
                attempt=attempt,
                sent=sent,
            )
            if receipt is None:
                continue  # refused as damaged on the way: sent again
            etag = receipt.etag
            integrity, md5 = verify_receipt(receipt, part_checksum, body, md5)
            if integrity is not None:
                return CompletedPart(
                    number, receipt.etag, len(body), part_checksum, digest, integrity
                )
            if attempt == VERIFY_ATTEMPTS:
                break
            log.warning(
                "part %d of s3://%s/%s: the store received other bytes than were sent "
                "(ETag %s, MD5 of the part %s); sending it again (attempt %d of %d)",
                number,
                self.bucket,
                self.key,
                receipt.etag,
                md5.hex() if md5 else "-",
                attempt + 1,
                VERIFY_ATTEMPTS,
            )
        raise PartUploadError(
            f"part {number}: the store received other bytes than were sent, "
            f"{VERIFY_ATTEMPTS} times (ETag {etag}, MD5 of the part "
            f"{md5.hex() if md5 else '-'}); the data is corrupted on the way to the store",
            bucket=self.bucket,
            key=self.key,
            upload_id=upload_id,
            part_number=number,
        )

    def _digests(
        self, body: bytearray, digest: bytes | None
    ) -> tuple[PartChecksum | None, bytes | None, bytes | None]:
        """The part's checksum header (from ``digest`` when it was folded in as the bytes
        were written, else computed here), its raw digest, and its MD5 when Content-MD5 is
        sent."""
        part_checksum = None
        if self.checksummer is not None:
            if digest is None:
                digest = self.checksummer.digest(body)
            part_checksum = PartChecksum(self.checksummer.param, encode(digest))
        else:
            digest = None
        md5 = md5_digest(body) if self.content_md5 else None
        return part_checksum, digest, md5

    def _send_once(
        self,
        upload_id: str,
        number: int,
        body: bytearray,
        *,
        part_checksum: PartChecksum | None,
        md5: bytes | None,
        attempt: int,
        sent: SendCounter | None,
    ) -> PartReceipt | None:
        """One UploadPart; None when the store refused the bytes as changed on the way and
        another attempt is left."""
        try:
            return self.transport.upload_part(
                self.bucket,
                self.key,
                upload_id,
                number,
                body,
                extra=self.extra,
                checksum=part_checksum,
                content_md5=encode(md5) if self.content_md5 and md5 is not None else None,
                sent=sent,
            )
        except PartUploadError as exc:
            # The store checked and refused: the bytes changed on the way. botocore does
            # not retry a 400, but another send may well arrive intact.
            if not exc.received_other_bytes or attempt == VERIFY_ATTEMPTS:
                raise
            log.warning(
                "%s; sending part %d again (attempt %d of %d)",
                exc,
                number,
                attempt + 1,
                VERIFY_ATTEMPTS,
            )
            return None

    def _already_stored(
        self,
        held: ListedPart,
        body: bytearray,
        part_checksum: PartChecksum | None,
        digest: bytes | None,
        md5: bytes | None,
    ) -> CompletedPart | None:
        """The part as the store holds it, when that is exactly ``body``: same size, and the
        same checksum (when ListParts gives the upload's) or else an ETag that is the MD5 of
        ``body``. None: send ``body``, replacing what the store holds."""
        if held.size != len(body):
            return None
        integrity: Integrity
        listed = held.checksums.get(part_checksum.param) if part_checksum else None
        if listed is not None and part_checksum is not None:
            if listed != part_checksum.value:
                return None
            integrity = "store-checksum"
        elif held.journal_checksum is not None and part_checksum is not None:
            # The store lists no checksum, but the journal ties this stored part (its ETag,
            # checked against the bytes when it was sent) to the checksum of those bytes.
            if held.journal_checksum != part_checksum.value:
                return None
            integrity = "etag-md5"
        else:
            expected = etag_md5(held.etag)
            if expected is None or (md5 or md5_digest(body)) != expected:
                return None
            integrity = "etag-md5"
        return CompletedPart(
            held.number, held.etag, held.size, part_checksum, digest, integrity, skipped=True
        )


def verify_receipt(
    receipt: PartReceipt | StoredObject,
    sent: PartChecksum | None,
    body: Buffer,
    md5: bytes | None,
    *,
    check_etag_too: bool = False,
) -> tuple[Integrity | None, bytes | None]:
    """How the store's answer shows it received ``body``: ``store-checksum`` when it echoed
    the checksum sent, ``etag-md5`` when the ETag is the body's MD5, ``unverified`` when
    neither can tell (the ETag of SSE-KMS or SSE-C, or of another form); None when the ETag
    shows other bytes arrived. Also returns the body's MD5 if it had to be computed.

    An echo is trusted as the store's word (AWS and SeaweedFS verify before they echo);
    a store that echoes without checking (moto) needs ``checksum="md5"``, unless
    ``check_etag_too`` asks for the ETag comparison even after an echo (cheap for one
    small PutObject, the one request a false echo would let publish corrupted bytes).
    """
    echoed = False
    if sent is not None and receipt.checksum is not None:
        if receipt.checksum != sent.value:
            return None, md5  # the store computed another checksum over what it received
        echoed = True
    if echoed and not check_etag_too:
        return "store-checksum", md5
    expected = etag_md5(receipt.etag) if receipt.etag_is_md5 else None
    if expected is None:
        return ("store-checksum" if echoed else "unverified"), md5
    if md5 is None:
        md5 = md5_digest(body)
    if md5 != expected:
        return None, md5
    return ("store-checksum" if echoed else "etag-md5"), md5


class PartLedger:
    """Counters and parts uploaded so far, shared by the writer and its worker threads."""

    def __init__(self, on_progress: Callable[[Progress], None] | None) -> None:
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self.parts: dict[int, CompletedPart] = {}
        self.bytes_written = 0
        self.bytes_uploaded = 0
        self.part_size = 0
        self.parts_skipped = 0
        self.bytes_skipped = 0
        # Compressing: bytes read from the source (bytes_written counts compressed bytes).
        self.source_bytes: int | None = None
        # Resumable: each accepted part is appended to the journal as it completes.
        self.journal: Callable[[CompletedPart], None] | None = None
        # Requests under way, by part number (0: the one PutObject): what each has sent.
        self._sending: dict[int, SendCounter] = {}

    def progress(self, in_flight: int) -> Progress:
        """A snapshot of the counters. Under the lock: a part moves from sending to
        uploaded in one step (``record``), so no snapshot counts it twice or not at all."""
        with self._lock:
            sending = sum(counter.sent for counter in self._sending.values())
            uploaded = self.bytes_uploaded
            parts_done = len(self.parts)
        return Progress(
            bytes_written=self.bytes_written,
            bytes_uploaded=uploaded,
            parts_done=parts_done,
            parts_in_flight=max(0, in_flight),
            part_size=self.part_size,
            source_bytes=self.source_bytes,
            bytes_sending=sending,
        )

    def start_sending(self, number: int) -> SendCounter:
        """The counter for part ``number`` (0: the one PutObject), counted in progress
        until ``record`` (acknowledged) or ``stop_sending`` (failed)."""
        counter = SendCounter()
        with self._lock:
            self._sending[number] = counter
        return counter

    def stop_sending(self, number: int, uploaded: int | None = None) -> None:
        """Part ``number`` is no longer being sent: failed, or, with ``uploaded`` (the one
        PutObject), acknowledged with that many bytes."""
        with self._lock:
            self._sending.pop(number, None)
            if uploaded is not None:
                self.bytes_uploaded = uploaded

    def report(self, in_flight: int) -> None:
        """Call ``on_progress``; a failing callback is logged, never fatal to the upload."""
        if self._on_progress is None:
            return
        try:
            self._on_progress(self.progress(in_flight))
        except Exception as exc:  # noqa: BLE001  # a user's broken callback must not fail the upload
            log.warning("on_progress callback failed: %r", exc)

    def count_written(self, n: int) -> None:
        """``n`` more bytes read, from a worker thread (a file's part)."""
        with self._lock:
            self.bytes_written += n

    def count_source(self, n: int) -> None:
        """``n`` more source bytes read (compressing)."""
        with self._lock:
            self.source_bytes = (self.source_bytes or 0) + n

    def record(self, part: CompletedPart) -> None:
        """A part the store accepted."""
        with self._lock:
            self._sending.pop(part.number, None)
            self.parts[part.number] = part
            self.bytes_uploaded += part.size
            if part.skipped:
                self.parts_skipped += 1
                self.bytes_skipped += part.size
        journal = self.journal
        if journal is not None:
            journal(part)

    def sorted_parts(self) -> list[CompletedPart]:
        """The accepted parts by number, as CompleteMultipartUpload lists them."""
        with self._lock:
            return [self.parts[n] for n in sorted(self.parts)]


def submit_part(
    *,
    pool: PartPool,
    sender: PartSender,
    ledger: PartLedger,
    lifecycle: Lifecycle,
    upload_id: str,
    number: int,
    buf: bytearray,
    charge: int,
    fill: Callable[[bytearray], None] | None = None,
    digest: bytes | None = None,
) -> None:
    """Hand part ``number`` (all of ``buf``, charged ``charge`` bytes) to the pool; blocks
    while the pool is full. ``fill``, when given, fills ``buf`` first, on the worker thread
    (a file's positional read); ``digest`` is the checksum of ``buf`` if already known. A
    failure is recorded in the pool and fails the lifecycle."""

    sent: list[bool] = []

    def on_done(future: Future[CompletedPart]) -> None:
        exc = future.exception()
        if exc is None:
            ledger.record(future.result())
            sent.append(True)
        else:
            ledger.stop_sending(number)
            pool.record_error(exc)
            lifecycle.fail(exc)
        pool.release_buffer(buf, charge, reuse=len(buf) == charge)

    def report() -> None:  # after the slot is free: the callback may even abort the writer
        if sent:
            ledger.report(pool.in_flight)

    def task() -> CompletedPart:
        if fill is not None:
            fill(buf)
        return sender.send(upload_id, number, buf, digest, ledger.start_sending(number))

    pool.submit(task, on_done, report)
