"""``SeekableReader``: a seekable file over one object, for the readers that seek (pyarrow
reads a Parquet file's footer first, Dask reads text in blocks).

Read from the start without a seek, every byte comes through the verified :class:`S3Reader`
(parallel ranges, and ``IntegrityError`` instead of the last bytes of an object that does not
match what the store recorded). The first read away from where that reader stands closes it
and goes on with plain ranged GETs of ``block_size`` (one block cached), each with If-Match on
the ETag the reader saw: bytes of two versions are never put together, but S3 records no
checksum of an arbitrary range, so ``verified`` then stays False.
"""

from __future__ import annotations

import io
from typing import Any

from .._store.transport import RangeBroken, RangeStream, ReadTransport
from ..errors import ReadError
from .fileobj import S3Reader

__all__ = ["DEFAULT_BLOCK_SIZE", "SeekableReader"]

DEFAULT_BLOCK_SIZE = 8 << 20

Buffer = bytearray | memoryview


class SeekableReader(io.BufferedIOBase):
    """A readable, seekable binary file over ``reader``'s object (see the module docstring).
    ``transport`` serves the ranged GETs after a seek."""

    def __init__(
        self, reader: S3Reader, transport: ReadTransport, *, block_size: int | None = None
    ) -> None:
        super().__init__()
        self._verified_reader: S3Reader | None = reader
        self._transport = transport
        head = reader.head
        self.bucket, self.key = _location(reader.name)
        self._etag = head.etag
        self._version_id = head.version_id
        self.size = head.size
        self._block_size = block_size or DEFAULT_BLOCK_SIZE
        self._pos = 0
        self._block = bytearray()
        self._block_start = 0
        self._ranged = False

    @property
    def name(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def verified(self) -> bool:
        """True once the whole object was read through the verified reader (and matched)."""
        reader = self._verified_reader
        return not self._ranged and reader is not None and reader.result is not None

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        want = self.size - self._pos if size is None or size < 0 else size
        want = max(0, min(want, self.size - self._pos))
        if not want:
            return b""
        reader = self._verified_reader
        if not self._ranged and reader is not None and reader.bytes_read == self._pos:
            data = reader.read(want)
            self._pos += len(data)
            if self._pos == self.size and reader.read(1):  # the end, so the result is known
                raise ReadError("the object grew as it was read", bucket=self.bucket, key=self.key)
            return data
        self._leave_verified()
        return self._read_ranged(want)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]  # bytes-like
        target = memoryview(buffer).cast("B")
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def _leave_verified(self) -> None:
        self._ranged = True
        reader, self._verified_reader = self._verified_reader, None
        if reader is not None:
            reader.close()

    def _read_ranged(self, want: int) -> bytes:
        out = bytearray()
        while len(out) < want:
            offset = self._pos - self._block_start
            if not 0 <= offset < len(self._block):
                self._fetch(self._pos, max(want - len(out), self._block_size))
                offset = 0
            piece = self._block[offset : offset + want - len(out)]
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def _fetch(self, start: int, length: int) -> None:
        end = min(self.size, start + length)
        buffer = bytearray(end - start)
        view = memoryview(buffer)
        done, attempts = 0, 0
        while done < len(buffer):
            stream = self._transport.get_range(
                self.bucket,
                self.key,
                start + done,
                end,
                if_match=self._etag,
                version_id=self._version_id,
            )
            try:
                got, broke = _fill(stream, view[done:])
                done += got
            finally:
                stream.close()
            if broke is not None:
                attempts += 1
                if attempts >= self._transport.max_attempts:
                    raise ReadError(
                        f"GetObject of bytes {start}-{end - 1} broke {attempts} times: {broke}",
                        bucket=self.bucket,
                        key=self.key,
                    ) from broke
        self._block, self._block_start = buffer, start

    def close(self) -> None:
        if self.closed:
            return
        try:
            reader, self._verified_reader = self._verified_reader, None
            if reader is not None:
                reader.close()
        finally:
            self._block = bytearray()
            super().close()

    def __del__(self) -> None:
        # Not IOBase's finaliser (close() joins the reader's workers): the S3Reader left
        # behind has its own, which does not wait.
        return

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__}")


def _fill(stream: RangeStream, view: memoryview) -> tuple[int, RangeBroken | None]:
    """Read ``stream`` into ``view``: the bytes read, and why it ended early if it did (the
    next GET starts where it broke)."""
    done = 0
    while done < len(view):
        try:
            got = stream.readinto(view[done:])
        except RangeBroken as exc:
            return done, exc
        if not got:
            return done, RangeBroken("the range ended early")
        done += got
    return done, None


def _location(name: str) -> tuple[str, str]:
    bucket, _, key = name.removeprefix("s3://").partition("/")
    return bucket, key
