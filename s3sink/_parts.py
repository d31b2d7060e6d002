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

from ._checksum import Checksummer, encode
from ._pool import PartPool
from ._results import Progress
from ._state import Lifecycle
from ._transport import CompletedPart, PartChecksum, Transport

__all__ = ["PartLedger", "PartSender", "submit_part"]

log = logging.getLogger("s3sink")


class PartSender:
    """Creates the multipart upload, and checksums and sends each part."""

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


class PartLedger:
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
        """A part the store accepted."""
        with self._lock:
            self.parts[part.number] = part
            self.bytes_uploaded += part.size

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
) -> None:
    """Hand part ``number`` (all of ``buf``, charged ``charge`` bytes) to the pool; blocks
    while the pool is full. A failure is recorded in the pool and fails the lifecycle."""

    def on_done(future: Future[CompletedPart]) -> None:
        exc = future.exception()
        if exc is None:
            ledger.record(future.result())
        else:
            pool.record_error(exc)
            lifecycle.fail(exc)
        pool.release_buffer(buf, charge, reuse=len(buf) == charge)
        if exc is None:
            ledger.report(pool.in_flight - 1)  # this part still holds its slot

    pool.submit(lambda: sender.send(upload_id, number, buf), on_done)
