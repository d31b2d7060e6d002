"""The part being filled: :class:`PartBuffer` owns the current buffer, how full it is and its
running checksum, and sends a full part when the next byte arrives (so a stream that ends
exactly at a part's end is still one part, and one that fits one part one PutObject).

Every input path ends here: ``write()`` and the compressor copy in (:meth:`store`), a pipe
reads straight in (:meth:`read_from`), a file's parts are read on the workers
(:meth:`send_file`), the mount hands its staging buffer over (:meth:`adopt`). ``close()``
takes what is left (:meth:`take`), an abort gives it back (:meth:`release`).

The writer's first part buffer grows with the data (from ``GROW_FROM``, doubling, in place):
a stream that fits one part is the small case, and a 3-byte upload at a 1.5 GiB part size
takes 1 MiB, not 1.5 GiB. Once a part has filled, the next ones very likely will too: they
get their full size at once, and are recycled.
"""

from __future__ import annotations

from .._sizes import format_size
from .._store.checksums import Checksummer, RunningChecksum
from .._upload.multipart import MultipartUpload
from .._upload.parts import PartLedger
from .._upload.policy import MAX_PARTS, PartSchedule
from .._upload.pool import PartPool
from ..errors import PartLimitError
from .sources import FileSnapshot, Readable, pread_into, read_blocking

__all__ = ["GROW_FROM", "PartBuffer"]

# The first part buffer's size before it grows: a pipe's read (1 MiB, _exec.pipes) fits it,
# and doubling from here to a 16 MiB part is four in-place resizes.
GROW_FROM = 1024 * 1024


class PartBuffer:
    """The current part buffer of one writer, fed under the writer's lock."""

    def __init__(
        self,
        upload: MultipartUpload,
        pool: PartPool,
        ledger: PartLedger,
        checksummer: Checksummer | None,
    ) -> None:
        self.upload = upload
        self.pool = pool
        self.ledger = ledger
        self.checksummer = checksummer
        self.current: bytearray | None = None
        self.fill = 0
        # The current part's size: len(current) once that buffer has grown to it.
        self.size = 0
        # Whether the next buffer starts small and grows (only until a part has filled).
        self.grows = True
        # The current buffer's checksum, folded in as store() and read_from() put bytes in
        # it, while they are in cache. Bytes put there any other way (a file's read, an
        # adopted buffer) are not in its ``covered``: such a part is checksummed whole on
        # the worker before it is sent.
        self.running: RunningChecksum | None = None

    @property
    def schedule(self) -> PartSchedule:
        """The upload's part schedule (a resume may replace it before the first byte)."""
        return self.upload.schedule

    def raise_failure(self) -> None:
        """Raise the first error a part met, if any."""
        error = self.pool.error
        if error is not None:
            raise error

    def store(self, flat: memoryview) -> int:
        """Copy ``flat`` (the stored bytes: compressed already, with ``compress``) into part
        buffers, sending each full one."""
        total = flat.nbytes
        pos = 0
        while pos < total:
            buf = self.room()
            take = min(total - pos, len(buf) - self.fill)
            buf[self.fill : self.fill + take] = flat[pos : pos + take]
            if self.running is not None:  # from the buffer: ``flat`` may be strided
                # Released here, not when the last reference goes: a sampling profiler
                # (Dask's workers run one) may hold the callee's frame, and with it the
                # slice, and a live export would stop the buffer growing (BufferError).
                with memoryview(buf) as view, view[self.fill : self.fill + take] as part:
                    self.running.update(part)
            self.fill += take
            self.ledger.bytes_written += take
            pos += take
        return total

    def read_from(self, source: Readable, max_bytes: int | None) -> int:
        """Read ``source`` to EOF (or ``max_bytes``) straight into part buffers: each
        ``readinto`` lands in the part buffer itself, with no bytes objects in between."""
        total = 0
        while max_bytes is None or total < max_bytes:
            self.raise_failure()
            if self.current is not None and self.fill == self.size:
                # The part is full: send it only once more data turns up (as store() does),
                # so a stream ending exactly here stays a single PutObject.
                probe = bytearray(1)
                if not read_blocking(source, memoryview(probe)):
                    break
                total += self.store(memoryview(probe))
                continue
            buf = self.room()
            room = len(buf) - self.fill
            if max_bytes is not None:
                room = min(room, max_bytes - total)
            with memoryview(buf) as view:  # slices released here: see store()
                with view[self.fill : self.fill + room] as target:
                    n = read_blocking(source, target)
                if self.running is not None:
                    with view[self.fill : self.fill + n] as part:
                        self.running.update(part)
            if not n:
                break
            self.fill += n
            self.ledger.bytes_written += n
            total += n
        return total

    def send_file(self, snapshot: FileSnapshot, offset: int, size: int) -> None:
        """``size`` bytes of a file from ``offset``, each part read by the worker that sends
        it (positional reads, in parallel); at most one part is read here, and close()
        makes it one PutObject."""
        bucket, key = self.upload.bucket, self.upload.key
        count = self.ledger.count_written
        if size <= self.schedule.size_of(1):
            buf = self.room()
            self.pool.grow_buffer(buf, size, self.size)  # no larger than the file
            pread_into(snapshot, offset, count, bucket, key)(memoryview(buf)[:size])
            self.fill = size
            return
        done = 0
        while done < size:
            self.raise_failure()
            number = self.upload.next_part
            if number > MAX_PARTS:
                raise PartLimitError(
                    f"{format_size(size)} does not fit the part schedule ({MAX_PARTS:,} parts)",
                    bucket=bucket,
                    key=key,
                    upload_id=self.upload.upload_id,
                )
            charge = self.schedule.size_of(number)
            length = min(charge, size - done)
            self.ledger.part_size = charge
            buf = self.pool.acquire_buffer(charge)
            self.upload.send(buf, length, pread_into(snapshot, offset + done, count, bucket, key))
            done += length

    def adopt(self, buf: bytearray) -> bool:
        """Take ``buf`` (charged to the shared budget already; at most one part, before any
        write, as the writer checked) as the first part, full, without copying it. Returns
        whether it is the whole stream (shorter than a part)."""
        first = self.schedule.size_of(1)
        self.pool.adopt_buffer(len(buf))
        self.current, self.fill, self.running = buf, len(buf), None
        self.size = first
        self.ledger.part_size = first
        self.ledger.bytes_written = len(buf)
        return len(buf) < first

    def take(self) -> tuple[bytearray | None, int]:
        """The last part's buffer and fill, which leave this object (close() sends them)."""
        buf, self.current = self.current, None
        return buf, self.fill

    def release(self) -> None:
        """Give the current buffer back to the pool, unsent (the writer is ending)."""
        buf, self.current = self.current, None
        if buf is not None:
            self.pool.release_buffer(buf, len(buf), reuse=False)

    def room(self) -> bytearray:
        """The current part buffer with room in it, sending a full one first."""
        buf = self.current
        if buf is not None and self.fill < len(buf):
            return buf
        if buf is not None and len(buf) < self.size:
            # Growing needs no view of the buffer alive: none is, between two reads.
            self.pool.grow_buffer(buf, min(self.size, 2 * len(buf)), self.size)
            return buf
        if buf is not None:
            # The buffer is full and more data is coming: it is not the last part. It leaves
            # this object before it is sent, so that an interrupt inside send() can never
            # leave one buffer both in flight and current (sent twice, or overwritten).
            fill, self.current, self.fill = self.fill, None, 0
            running, self.running = self.running, None
            digest = running.digest() if running is not None and running.covered == fill else None
            self.grows = False
            self.upload.send(buf, fill, digest=digest)
        if self.upload.next_part > MAX_PARTS:
            exc = PartLimitError(
                f"the stream outgrew {MAX_PARTS:,} parts "
                f"({format_size(self.ledger.bytes_written)} written); pass a larger part size "
                "or expected_size"
                + ("" if not self.schedule.fixed else ", or drop fixed part size"),
                bucket=self.upload.bucket,
                key=self.upload.key,
                upload_id=self.upload.upload_id,
            )
            self.upload.record_error(exc)
            raise exc
        size = self.schedule.size_of(self.upload.next_part)
        self.ledger.part_size = size
        self.current = self.pool.acquire_buffer(size, initial=GROW_FROM if self.grows else None)
        self.size = size
        self.fill = 0
        self.running = self.checksummer.running() if self.checksummer is not None else None
        return self.current
