"""aws-chunked framing with a trailing checksum, as S3 takes it under
``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER``: a body whose checksum is known
only once its last byte has been read.

The body on the wire::

    <hex length>\\r\\n<data>\\r\\n ... 0\\r\\nx-amz-checksum-<alg>:<base64>\\r\\n\\r\\n

with ``Content-Encoding: aws-chunked``, ``x-amz-decoded-content-length`` (the data's length),
``x-amz-trailer: x-amz-checksum-<alg>`` and a ``Content-Length`` of the framed body, which
:func:`encoded_length` gives before a byte is read when every chunk but the last is
``chunk_size`` long. Pure: no botocore here (sending is :mod:`s3sink._store.trailers`).

:class:`ChunkEncoder` frames a body chunk by chunk (the pieces are the caller's bytes, not
copies: a streaming sender hands them to the socket while they are in cache) and folds each
chunk into the running checksum; :func:`encode_aws_chunked` is the whole body at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from .checksums import Buffer, Digest, encode

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "TRAILER_ALGORITHMS",
    "ChunkEncoder",
    "TrailerAlgorithm",
    "encode_aws_chunked",
    "encoded_length",
    "frame_chunks",
    "iter_aws_chunked",
    "trailer_header",
]

TrailerAlgorithm = Literal["crc64nvme", "crc32c", "crc32", "sha256"]
TRAILER_ALGORITHMS: tuple[TrailerAlgorithm, ...] = ("crc64nvme", "crc32c", "crc32", "sha256")
#: 64 KiB: a chunk still in the CPU's cache when it is sent (TESTING-NOTES, "Benchmarks at
#: equal work"); S3 asks at least 8 KiB of every chunk but the last for signed chunks.
DEFAULT_CHUNK_SIZE = 64 * 1024
_DIGEST_BYTES = {"crc64nvme": 8, "crc32c": 4, "crc32": 4, "sha256": 32}
CRLF = b"\r\n"


def trailer_header(algorithm: TrailerAlgorithm) -> str:
    """The trailer's name, also the value of ``x-amz-trailer``: ``x-amz-checksum-<alg>``."""
    if algorithm not in _DIGEST_BYTES:
        raise ValueError(f"no trailing checksum {algorithm!r}; one of {TRAILER_ALGORITHMS}")
    return f"x-amz-checksum-{algorithm}"


def _final(algorithm: TrailerAlgorithm, value: str) -> bytes:
    return b"0\r\n%s:%s\r\n\r\n" % (trailer_header(algorithm).encode(), value.encode("ascii"))


def encoded_length(
    size: int, algorithm: TrailerAlgorithm, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> int:
    """The framed length of ``size`` data bytes sent in ``chunk_size`` chunks (the last one
    shorter): the request's Content-Length, known before the data is."""
    if size < 0 or chunk_size < 1:
        raise ValueError(f"size {size} and chunk_size {chunk_size}: neither can be negative")
    full, rest = divmod(size, chunk_size)
    framing = full * (len(f"{chunk_size:x}") + 4)
    if rest:
        framing += len(f"{rest:x}") + 4
    base64_len = 4 * ((_DIGEST_BYTES[algorithm] + 2) // 3)
    return size + framing + len(_final(algorithm, "=" * base64_len))


class ChunkEncoder:
    """One aws-chunked body: :meth:`chunk` per piece of data, in order, then :meth:`finish`.

    The running checksum covers exactly the data framed so far, so the trailer it ends with
    is the checksum of the bytes the store received, whatever the sizes of the chunks.
    """

    __slots__ = ("_digest", "algorithm", "size")

    def __init__(self, algorithm: TrailerAlgorithm) -> None:
        trailer_header(algorithm)  # an unknown algorithm fails here, not at the end
        self.algorithm = algorithm
        self._digest = Digest(algorithm)
        self.size = 0  # data bytes framed so far (the decoded content length)

    def chunk(self, data: Buffer) -> tuple[bytes, Buffer, bytes]:
        """The frame of one non-empty chunk: (size line, the data itself, CRLF)."""
        length = memoryview(data).nbytes
        if not length:
            raise ValueError("an empty chunk ends an aws-chunked body: call finish()")
        self._digest.update(data)
        self.size += length
        return b"%x\r\n" % length, data, CRLF

    def checksum(self) -> str:
        """The base64 checksum of the data framed so far (what the trailer carries)."""
        return encode(self._digest.digest())

    def finish(self, value: str | None = None) -> bytes:
        """The closing zero-length chunk and the trailer: the checksum of the data, or
        ``value`` instead (the doctor's deliberately wrong trailer)."""
        return _final(self.algorithm, self.checksum() if value is None else value)


def frame_chunks(encoder: ChunkEncoder, data: Buffer, chunk_size: int) -> Iterator[Buffer]:
    """``data`` framed by ``encoder`` in ``chunk_size`` chunks, piece by piece (views of
    ``data``), without the closing trailer: ``encoder.finish`` gives it, once its value (the
    checksum the encoder now holds, or another) is known."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    view = memoryview(data).cast("B")
    for start in range(0, view.nbytes, chunk_size):
        yield from encoder.chunk(view[start : start + chunk_size])


def iter_aws_chunked(
    data: Buffer,
    algorithm: TrailerAlgorithm,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    value: str | None = None,
) -> Iterator[Buffer]:
    """``data`` framed in ``chunk_size`` chunks, piece by piece (views of ``data``), ending
    with the trailer (``value`` in place of the checksum, when given)."""
    encoder = ChunkEncoder(algorithm)
    yield from frame_chunks(encoder, data, chunk_size)
    yield encoder.finish(value)


def encode_aws_chunked(
    data: Buffer,
    algorithm: TrailerAlgorithm,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    value: str | None = None,
) -> bytes:
    """The whole aws-chunked body of ``data`` at once (see :func:`iter_aws_chunked`)."""
    return b"".join(iter_aws_chunked(data, algorithm, chunk_size=chunk_size, value=value))
