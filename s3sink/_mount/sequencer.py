"""The order of a mounted file's bytes: turns the writes the kernel sends (offset, data) into
the one sequential stream an upload can take, or refuses them. Two rules:

* bytes sent to the upload cannot change: a write before the end of what was sent, or past
  the end of the file, is refused;
* zeros are not sent while nothing but zeros follows them, so zeros at the end of a file may
  be written over. pg_basebackup zero-fills each WAL segment, then writes it from offset 0; a
  file left shorter than its zero fill keeps that length (the zeros go at the commit), as on a
  disk.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["NonSequential", "Sequencer", "zeros"]

_ZEROS = memoryview(bytes(1 << 20))


class NonSequential(Exception):  # a refusal with its reason
    """A write the file's stream cannot take; the message says why."""


def zeros(n: int) -> Iterator[memoryview]:
    """``n`` zero bytes, in chunks of at most 1 MiB (one shared buffer)."""
    while n > 0:
        chunk = min(n, len(_ZEROS))
        yield _ZEROS[:chunk]
        n -= chunk


class Sequencer:
    """One file's writes in, its stream out. Bytes ``sent`` .. ``size`` are zeros, held."""

    __slots__ = ("sent", "size")

    def __init__(self) -> None:
        self.sent = 0  # bytes given out as the stream
        self.size = 0  # the file's length: the end of the furthest write

    def accept(self, offset: int, data: bytes) -> Iterator[bytes | memoryview]:
        """Take a write; yields what can now be sent, in order. Raises NonSequential."""
        end = offset + len(data)
        if offset == self.sent == self.size and data and data[-1]:
            self.sent = self.size = end  # the common case: the next bytes, not ending in zero
            yield data
            return
        if not self.sent <= offset <= self.size:
            raise NonSequential(
                f"write at offset {offset:,} but "
                f"{self.sent if offset < self.sent else self.size:,} bytes were written: "
                "s3sink mount takes sequential writes only"
            )
        self.size = max(self.size, end)
        body = len(data.rstrip(b"\0")) if data and not data[-1] else len(data)
        if body == 0:
            return  # zeros over zeros, or past them: held
        start, self.sent = self.sent, offset + body
        yield from zeros(offset - start)  # held zeros that data now follows
        yield data if body == len(data) else memoryview(data)[:body]

    def finish(self) -> Iterator[memoryview]:
        """The rest of the stream, at the commit: the zeros held."""
        yield from zeros(self.size - self.sent)
        self.sent = self.size
