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
- With ``identities``, an age object is decrypted (:mod:`~s3sink._read.decrypt`) before it
  is decompressed: the header before any output (a wrong identity: NoIdentityError), each
  chunk as it authenticates, the final one only after the object verified (DecryptError
  otherwise); the result says ``encryption="age"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from .._crypt.magic import looks_like_age
from .._results import ReadResult
from .._store.transport import ReadTransport
from .config import ReadConfig
from .decompress import CHUNK, DecompressingReader
from .decrypt import DecryptingReader, decrypted
from .fileobj import S3Reader
from .reader import ObjectReader
from .tree import Cancel

if TYPE_CHECKING:
    from .._crypt import Identity

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
    identities: Sequence[Identity] = (),
) -> ReadResult:
    """Read s3://bucket/key to its end, keeping nothing; how it was verified. ReadError,
    ObjectChangedError or IntegrityError as any read. With ``identities``, the age object
    is decrypted too (and the plaintext dropped): its header and every chunk authenticated
    (NoIdentityError, DecryptError)."""
    reader = ObjectReader(transport, bucket, key, config)
    with _closing(reader, cancel):
        head = reader.open()
        if not identities:
            return reader.copy_to(_nowhere)
        for _ in decrypted(reader.chunks(), identities, bucket=bucket, key=key,
                           version_id=head.version_id):  # fmt: skip
            pass
        return _age(reader.result)


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
    identities: Sequence[Identity] = (),
    on_decompressed: Callable[[str, int], None] | None = None,
    on_encrypted: Callable[[], None] | None = None,
    cancel: Cancel | None = None,
) -> ReadResult:
    """The object of ``reader`` written into ``out`` (see the module); the reader is closed
    at the end. With ``decompress``, ``on_decompressed(codec, bytes)`` is told the codec and
    the bytes written once the stream ended cleanly. Without ``identities``,
    ``on_encrypted()`` is told, before any byte is written, that the object is age (written
    as stored). ``cancel``: see :func:`_closing`."""
    with _closing(reader, cancel):
        head = reader.open()
        if not decompress and not identities:
            write = out.write if on_encrypted is None else _sniffing(out.write, on_encrypted)
            return reader.copy_to(write)
        if not decompress:
            plain_chunks = decrypted(
                reader.chunks(), identities, bucket=reader.bucket, key=reader.key,
                version_id=head.version_id,
            )  # fmt: skip
            for plain in plain_chunks:
                out.write(plain if isinstance(plain, memoryview) else memoryview(plain))
            return _age(reader.result)
        raw = S3Reader(reader)
        try:
            name = f"s3://{reader.bucket}/{reader.key}"
            source: S3Reader | DecryptingReader = raw
            content_type = head.content_type
            if identities:
                source = DecryptingReader(
                    raw, identities, bucket=reader.bucket, key=reader.key,
                    version_id=head.version_id,
                )  # fmt: skip
                content_type = None  # the stored bytes' type: the codec is the plaintext's
            stream = DecompressingReader(source, content_type=content_type, shown=name)
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
        return _age(result) if identities else result


def _sniffing(
    write: Callable[[memoryview], object], on_encrypted: Callable[[], None]
) -> Callable[[memoryview], object]:
    """``write``, after ``on_encrypted()`` if the first bytes are age's."""
    first = True

    def sniff(view: memoryview) -> object:
        nonlocal first
        if first and view:
            first = False
            if looks_like_age(view[:22]):
                on_encrypted()
        return write(view)

    return sniff


def _age(result: ReadResult | None) -> ReadResult:
    """The result of a read that decrypted the object."""
    assert result is not None  # noqa: S101  # the chunks ended: the reader has its result
    return dataclasses.replace(result, encryption="age")
