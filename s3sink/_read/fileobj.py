"""``S3Reader``: the library's readable file object, ``s3sink.open("s3://b/k", "rb")``.

A :class:`io.BufferedIOBase` over :class:`~.reader.ObjectReader`'s ranges: its buffers are the
file object's buffer, so ``read``, ``read1``, ``readinto``, ``readline``, ``peek`` and
iteration copy once, out of the range the workers read, and no second buffer
(``io.BufferedReader`` over a raw stream) sits in between. Not seekable: ``seek`` and
``tell`` raise :class:`io.UnsupportedOperation` (``bytes_read`` counts what was returned).

The read that would return bytes of the object's last range raises
:class:`~s3sink.errors.IntegrityError` when the object does not match what the store recorded;
so do all reads after it (the reader is poisoned, never at a clean end). ``result`` is the
:class:`~s3sink.ReadResult` once the end was reached. ``close()`` (or leaving ``with``, or
the garbage collector) stops the workers and frees the buffers at once.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._results import ReadResult
from .._store.transport import ObjectHead
from .decompress import CHUNK, DecompressingReader
from .decrypt import DecryptingReader
from .reader import ObjectReader

if TYPE_CHECKING:
    from .._crypt import Identity

__all__ = ["DecompressedReader", "DecryptedReader", "S3Reader"]

Buffer = bytearray | memoryview


class S3Reader(io.BufferedIOBase):
    """A readable binary file object over one S3 object, read ahead in parallel ranges and
    verified before its last bytes are returned (see the module docstring). Made by
    ``s3sink.open(uri, "rb")``, which asks HeadObject before returning it."""

    def __init__(self, reader: ObjectReader) -> None:
        super().__init__()
        self._reader = reader
        reader.open()
        self._chunks: Iterator[memoryview] | None = None
        self._view = memoryview(b"")  # the current range (its buffer's start)
        self._pos = 0  # bytes of it returned
        self._error: BaseException | None = None
        self._eof = False
        self.bytes_read = 0

    # -- what is being read --------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self._reader.bucket}/{self._reader.key}"

    @property
    def head(self) -> ObjectHead:
        """HeadObject's answer: size, ETag, version, checksums, Content-Type."""
        return self._reader.head

    @property
    def size(self) -> int:
        return self._reader.head.size

    @property
    def bucket(self) -> str:
        return self._reader.bucket

    @property
    def key(self) -> str:
        return self._reader.key

    @property
    def content_type(self) -> str | None:
        """The type of the bytes this reader returns (the stored object's)."""
        return self._reader.head.content_type

    @property
    def result(self) -> ReadResult | None:
        """How the object was read and verified, once its end was reached; None before."""
        return self._reader.result if self._eof else None

    def readable(self) -> bool:
        self._checkClosed()  # io's own check, as io.FileIO uses
        return True

    def seekable(self) -> bool:
        return False

    # -- reads ---------------------------------------------------------------------------------
    def _fill(self) -> int:
        """Bytes left in the current range, after moving on to the next range if it is used
        up; 0 at the end."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self._pos < len(self._view):
            return len(self._view) - self._pos
        if self._error is not None:
            raise self._error
        if self._eof:
            return 0
        if self._chunks is None:
            self._chunks = self._reader.chunks()
        try:
            self._view = next(self._chunks)
        except StopIteration:
            self._eof = True
            self._view = memoryview(b"")
        except BaseException as exc:
            self._error = exc
            self._view = memoryview(b"")
            raise
        finally:
            self._pos = 0
        return len(self._view)

    def _take(self, size: int) -> memoryview:
        left = self._fill()
        count = left if size < 0 else min(size, left)
        part = self._view[self._pos : self._pos + count]
        self._pos += count
        self.bytes_read += count
        return part

    def read1(self, size: int = -1) -> bytes:
        """At most ``size`` bytes (all the current range if negative) with at most one wait."""
        return bytes(self._take(size))

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes (fewer only at the end), or everything left if negative."""
        if size is None or size < 0:
            pieces = []
            while chunk := self._take(-1):
                pieces.append(bytes(chunk))
            return b"".join(pieces)
        out = bytearray(size)
        got = self.readinto(out)
        del out[got:]
        return bytes(out)

    def readinto1(self, buffer: Buffer) -> int:  # type: ignore[override]  # bytes-like
        target = memoryview(buffer).cast("B")
        part = self._take(len(target))
        target[: len(part)] = part
        return len(part)

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]  # bytes-like
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target):
            part = self._take(len(target) - done)
            if not part:
                break
            target[done : done + len(part)] = part
            done += len(part)
        return done

    def peek(self, size: int = 0) -> bytes:
        """The bytes the next read returns, without consuming them (at least one unless at
        the end; at most the rest of the current range)."""
        self._fill()
        return bytes(self._view[self._pos :])

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        line = bytearray()
        while limit < 0 or len(line) < limit:
            left = self._fill()
            if not left:
                break
            room = left if limit < 0 else min(left, limit - len(line))
            # The view is the start of its range's buffer: search the bytearray itself.
            buffer: bytearray = self._view.obj  # type: ignore[assignment]
            end = buffer.find(b"\n", self._pos, self._pos + room)
            line += self._take(room if end < 0 else end - self._pos + 1)
            if end >= 0:
                break
        return bytes(line)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    # -- the end -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop reading: the workers stop and the buffers go; idempotent."""
        if self.closed:
            return
        try:
            self._reader.close()
        finally:
            self._view = memoryview(b"")
            self._pos = 0
            super().close()

    def __del__(self) -> None:
        # Not IOBase's finaliser (it calls close(), which joins the workers): never wait in
        # a finaliser, which may run on any thread.
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close(wait=False)

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__}")


class DecryptedReader(io.BufferedReader):
    """``s3sink.open(uri, "rb", identity=...)``: an age object's plaintext (see
    :mod:`.decrypt`): its header is read here (NoIdentityError when no identity opens it),
    each chunk returned once authenticated, the last once the object verified too.
    ``result`` says ``encryption="age"``; closing it closes the S3 reader under it."""

    def __init__(self, source: S3Reader, identities: Sequence[Identity]) -> None:
        try:
            raw = DecryptingReader(
                source,
                identities,
                bucket=source.bucket,
                key=source.key,
                version_id=source.head.version_id,
            )
        except BaseException:
            source.close()  # nothing else holds it: its workers stop now, not at GC
            raise
        super().__init__(raw, buffer_size=CHUNK)
        self.source = source

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def content_type(self) -> str | None:
        """The plaintext's type is not stored: None (the codec then comes from its bytes)."""
        return None

    @property
    def result(self) -> ReadResult | None:
        """The read's result once the whole object was read, verified and authenticated."""
        result = self.source.result
        return None if result is None else dataclasses.replace(result, encryption="age")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.source.close()


class DecompressedReader(io.BufferedReader):
    """``s3sink.open(uri, "rb", decompress=True)``: the object's verified bytes, decompressed
    (zstd or gzip, as ``--compress`` wrote them; see :mod:`.decompress`). ``result`` and
    ``codec`` as the command reports them; closing it closes the S3 reader under it. Over a
    :class:`DecryptedReader` (``identity=`` too), the plaintext is decompressed."""

    def __init__(self, source: S3Reader | DecryptedReader) -> None:
        try:
            raw = DecompressingReader(source, content_type=source.content_type, shown=source.name)
        except BaseException:
            source.close()  # nothing else holds it: its workers stop now, not at GC
            raise
        super().__init__(raw, buffer_size=CHUNK)
        self.source = source
        self.codec = raw.codec

    @property
    def result(self) -> ReadResult | None:
        """The read's result once the whole object was read (and verified), else None."""
        return self.source.result

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.source.close()
