"""One object checked, or written out: what ``s3sink verify`` and ``s3sink get`` do with each
object, over :class:`~s3sink._read.reader.ObjectReader`.

- :func:`verify_object` reads the object and drops the bytes: its result says how it was
  verified; a mismatch is :class:`~s3sink.errors.IntegrityError`, as for any read.
- :func:`read_into` writes the object into an output (an
  :class:`~s3sink._read.outfile.OutputFile`, stdout, a pipe), range by range in order; the
  last range comes only once the object checked out. With ``decompress`` the verified bytes
  go through :class:`~s3sink._read.decompress.DecompressingReader` (the codec from the
  Content-Type, else the first bytes), whose own checks (zstd's frame checksum, gzip's
  trailer) come on top; their failure is :class:`DecompressError`, and the last chunk of
  output is held back until both the object and the stream's end checked out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from .._results import ReadResult
from .._store.transport import ReadTransport
from .config import ReadConfig
from .decompress import CHUNK, DecompressingReader
from .fileobj import S3Reader
from .reader import ObjectReader
from .tree import Cancel

__all__ = ["Output", "read_into", "verify_object"]


class Output(Protocol):
    """Where an object's bytes go: all of ``data`` written, in order."""

    def write(self, data: memoryview, /) -> object: ...


def verify_object(
    transport: ReadTransport,
    bucket: str,
    key: str,
    config: ReadConfig,
    *,
    cancel: Cancel | None = None,
) -> ReadResult:
    """Read s3://bucket/key to its end, keeping nothing; how it was verified. ReadError,
    ObjectChangedError or IntegrityError as any read."""
    reader = ObjectReader(transport, bucket, key, config)
    with _closing(reader, cancel):
        reader.open()
        return reader.copy_to(_nowhere)


@contextlib.contextmanager
def _closing(reader: ObjectReader, cancel: Cancel | None) -> Iterator[None]:
    """Close ``reader`` at the end; on an interrupt, or when ``cancel`` is set from another
    thread, close it without joining its workers (one may be stuck in a stalled GET: it is
    a daemon thread, and stops at its next chunk)."""
    watch = contextlib.nullcontext() if cancel is None else cancel.watch(_abandon(reader))
    try:
        with watch:
            yield
    except BaseException:
        reader.close(wait=False)
        raise
    finally:
        reader.close()


def _abandon(reader: ObjectReader) -> Callable[[], None]:
    return lambda: reader.close(wait=False)


def _nowhere(view: memoryview) -> None:
    """Bytes checked and dropped."""


def read_into(
    reader: ObjectReader,
    out: Output,
    *,
    decompress: bool = False,
    on_decompressed: Callable[[str, int], None] | None = None,
    cancel: Cancel | None = None,
) -> ReadResult:
    """The object of ``reader`` written into ``out`` (see the module); the reader is closed
    at the end. With ``decompress``, ``on_decompressed(codec, bytes)`` is told the codec and
    the bytes written once the stream ended cleanly. ``cancel``: see :func:`_closing`."""
    with _closing(reader, cancel):
        head = reader.open()
        if not decompress:
            return reader.copy_to(out.write)
        raw = S3Reader(reader)
        try:
            name = f"s3://{reader.bucket}/{reader.key}"
            stream = DecompressingReader(raw, content_type=head.content_type, shown=name)
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            written = 0
            while got := stream.readinto(buffer):
                out.write(view[:got])
                written += got
            result = raw.result
        finally:
            raw.close()
        # The stream ends only after its source did (a frame scanner or gzip member saw the
        # end of the object), so the object was read, and verified, to its end.
        assert result is not None  # noqa: S101
        if on_decompressed is not None:
            on_decompressed(stream.codec, written)
        return result
