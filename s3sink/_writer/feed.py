"""What stands in front of the part buffer: the writer's three input paths (bytes, a reader,
a file) go through a feed, which passes them straight to the :class:`PartBuffer`
(:class:`DirectFeed`) or through a stage first (:class:`StagedFeed`: the compressor, the
age encryptor, or both in that order). The writer picks one at construction and never asks
again whether it compresses or encrypts."""

from __future__ import annotations

from typing import Protocol

from .._upload.parts import PartLedger
from .buffer import PartBuffer
from .sources import FileSnapshot, Readable, pread_into, read_blocking

__all__ = ["COMPRESS_CHUNK", "DirectFeed", "Feed", "Stage", "StagedFeed"]

# Source bytes read (and handed to the compressor) at a time when compressing: enough for
# libzstd's and ISA-L's threads to have whole jobs, small beside the part buffers.
COMPRESS_CHUNK = 1024 * 1024


class Stage(Protocol):
    """What bytes go through before the part buffer (compression, encryption)."""

    def start(self, source_size: int | None) -> None:
        """Be ready for a source of ``source_size`` bytes (None: unknown)."""

    def process(self, data: memoryview) -> memoryview:
        """The output ready so far for ``data`` (valid until the next call)."""
        ...

    def finish(self) -> memoryview:
        """The end of the output."""
        ...

    def close(self) -> None:
        """Free the stage's resources (idempotent)."""


class Feed(Protocol):
    """The input paths of one writer; each returns or stores what it took."""

    def write(self, flat: memoryview) -> int: ...
    def read_from(self, source: Readable, max_bytes: int | None) -> int: ...
    def write_file(self, snapshot: FileSnapshot, offset: int, size: int) -> None: ...
    def finish(self) -> None:
        """Put what the feed still holds into the buffer (close() is next)."""

    def close(self) -> None:
        """Free the feed's resources (idempotent; the writer is ending)."""


class DirectFeed:
    """Bytes go into the part buffer as they are: pipes read straight into it, files are
    read part by part on the workers."""

    def __init__(self, buffer: PartBuffer) -> None:
        self.buffer = buffer

    def write(self, flat: memoryview) -> int:
        return self.buffer.store(flat)

    def read_from(self, source: Readable, max_bytes: int | None) -> int:
        return self.buffer.read_from(source, max_bytes)

    def write_file(self, snapshot: FileSnapshot, offset: int, size: int) -> None:
        self.buffer.send_file(snapshot, offset, size)

    def finish(self) -> None:
        return

    def close(self) -> None:
        return


class StagedFeed:
    """Bytes go through the stage, and what it returns into the part buffer; the ledger
    counts the source bytes apart from the stored ones."""

    def __init__(self, stage: Stage, buffer: PartBuffer, ledger: PartLedger) -> None:
        self.stage = stage
        self.buffer = buffer
        self.ledger = ledger

    def write(self, flat: memoryview) -> int:
        self.buffer.store(self.stage.process(flat))
        self.ledger.count_source(flat.nbytes)
        return flat.nbytes

    def read_from(self, source: Readable, max_bytes: int | None) -> int:
        """Source bytes are read into one chunk buffer, and what the stage returns is
        copied into the part buffers."""
        chunk = bytearray(COMPRESS_CHUNK)
        total = 0
        with memoryview(chunk) as view:
            while max_bytes is None or total < max_bytes:
                self.buffer.raise_failure()
                room = (
                    COMPRESS_CHUNK if max_bytes is None else min(COMPRESS_CHUNK, max_bytes - total)
                )
                n = read_blocking(source, view[:room])
                if not n:
                    break
                self.write(view[:n])
                total += n
        return total

    def write_file(self, snapshot: FileSnapshot, offset: int, size: int) -> None:
        """A file read in order on this thread (the stored bytes are not the file's, so
        parts cannot be cut from the file), its size in the zstd frame header."""
        self.stage.start(size)
        upload = self.buffer.upload
        chunk = bytearray(min(COMPRESS_CHUNK, max(size, 1)))
        done = 0
        with memoryview(chunk) as view:
            while done < size:
                self.buffer.raise_failure()
                n = min(len(chunk), size - done)
                read = pread_into(
                    snapshot, offset + done, self.ledger.count_source, upload.bucket, upload.key
                )
                read(view[:n])
                self.buffer.store(self.stage.process(view[:n]))
                done += n

    def finish(self) -> None:
        tail = self.stage.finish()
        self.stage.close()  # frees libzstd's buffers (and the file key) before close() waits
        self.buffer.store(tail)

    def close(self) -> None:
        self.stage.close()
