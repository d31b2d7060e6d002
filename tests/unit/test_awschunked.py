"""aws-chunked framing with a trailing checksum (s3sink._store.awschunked): the exact bytes, the
trailer's value against checksums computed without s3sink, chunk sizes, the empty body, and the
Content-Length known before the data."""

from __future__ import annotations

import base64
import hashlib
import zlib

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._store.awschunked import (
    TRAILER_ALGORITHMS,
    ChunkEncoder,
    TrailerAlgorithm,
    encode_aws_chunked,
    encoded_length,
    iter_aws_chunked,
    trailer_header,
)
from tests.unit.test_checksum import crc64nvme_reference


def reference(algorithm: str, data: bytes) -> str:
    """The trailer value S3 expects, computed without s3sink (zlib, crc32c, a table CRC64)."""
    if algorithm == "crc64nvme":
        raw = crc64nvme_reference(data).to_bytes(8, "big")
    elif algorithm == "crc32c":
        raw = crc32c.crc32c(data).to_bytes(4, "big")
    elif algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    else:
        raw = hashlib.sha256(data).digest()
    return base64.b64encode(raw).decode()


def decode(body: bytes) -> tuple[bytes, list[int], bytes]:
    """A reference decoder: the data, the chunk sizes, and what follows the zero chunk."""
    data, sizes, pos = b"", [], 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol], 16)
        pos = eol + 2
        if size == 0:
            return data, sizes, body[pos:]
        sizes.append(size)
        data += body[pos : pos + size]
        assert body[pos + size : pos + size + 2] == b"\r\n"
        pos += size + 2


def test_exact_bytes_of_a_small_body() -> None:
    """Chunks of 5 bytes and a short last one, the zero chunk, the CRC32 trailer: byte for byte."""
    body = encode_aws_chunked(b"hello, world", "crc32", chunk_size=5)
    value = reference("crc32", b"hello, world")
    assert body == (
        b"5\r\nhello\r\n5\r\n, wor\r\n2\r\nld\r\n0\r\nx-amz-checksum-crc32:"
        + value.encode()
        + b"\r\n\r\n"
    )


def test_chunk_sizes_are_lower_case_hex() -> None:
    """A 64 KiB chunk's size line is ``10000``, a 4 KiB rest's ``1000``: hex, no padding."""
    data = bytes(range(256)) * 272  # 69,632 bytes
    body = encode_aws_chunked(data, "crc64nvme", chunk_size=65536)
    assert body.startswith(b"10000\r\n")
    assert b"\r\n1000\r\n" in body  # the rest: 69,632 - 65,536 = 4,096 = 0x1000
    decoded, sizes, trailer = decode(body)
    assert (decoded, sizes) == (data, [65536, 4096])
    assert trailer == f"x-amz-checksum-crc64nvme:{reference('crc64nvme', data)}\r\n\r\n".encode()


@pytest.mark.parametrize("algorithm", TRAILER_ALGORITHMS)
def test_trailer_value_is_the_checksum_of_the_data(algorithm: TrailerAlgorithm) -> None:
    """Each algorithm's trailer carries the checksum an independent implementation computes."""
    data = bytes(range(256)) * 100 + b"tail"
    _, _, trailer = decode(encode_aws_chunked(data, algorithm, chunk_size=8192))
    assert trailer == f"{trailer_header(algorithm)}:{reference(algorithm, data)}\r\n\r\n".encode()


def test_empty_body_is_the_zero_chunk_and_the_trailer() -> None:
    """No data: no data chunk at all (a zero chunk ends the body), and the CRC of nothing."""
    body = encode_aws_chunked(b"", "crc64nvme")
    assert body == b"0\r\nx-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n"
    assert len(body) == encoded_length(0, "crc64nvme")


def test_a_given_value_replaces_the_checksum_and_nothing_else() -> None:
    """``value=``: the trailer says it; the chunks are those of the right body."""
    right = encode_aws_chunked(b"x" * 100, "crc32c", chunk_size=64)
    wrong = encode_aws_chunked(b"x" * 100, "crc32c", chunk_size=64, value="AAAAAA==")
    assert wrong.endswith(b"\r\n0\r\nx-amz-checksum-crc32c:AAAAAA==\r\n\r\n")
    assert decode(wrong)[:2] == decode(right)[:2]


def test_pieces_are_views_of_the_callers_data() -> None:
    """The streaming form hands out the caller's bytes (no copy), framed around them."""
    data = bytearray(b"a" * 10)
    pieces = list(iter_aws_chunked(data, "crc32", chunk_size=4))
    assert [bytes(p) for p in pieces[:3]] == [b"4\r\n", b"aaaa", b"\r\n"]
    assert isinstance(pieces[1], memoryview)
    assert pieces[1].obj is data


def test_encoder_folds_chunks_of_any_size() -> None:
    """Chunks of uneven sizes, as a stream hands them: the trailer covers all of them."""
    encoder = ChunkEncoder("crc64nvme")
    out = b""
    for piece in (b"a", b"bc" * 5000, b"d" * 3):
        out += b"".join(bytes(p) for p in encoder.chunk(piece))
    out += encoder.finish()
    data = b"a" + b"bc" * 5000 + b"ddd"
    assert encoder.size == len(data)
    assert decode(out) == (
        data,
        [1, 10000, 3],
        f"x-amz-checksum-crc64nvme:{reference('crc64nvme', data)}\r\n\r\n".encode(),
    )


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=5000),
    chunk_size=st.integers(min_value=1, max_value=2048),
    algorithm=st.sampled_from(TRAILER_ALGORITHMS),
)
def test_encoded_length_is_known_before_the_data(
    size: int, chunk_size: int, algorithm: TrailerAlgorithm
) -> None:
    """encoded_length (the Content-Length) equals the length of the framed body, always."""
    data = b"\x5a" * size
    body = encode_aws_chunked(data, algorithm, chunk_size=chunk_size)
    assert len(body) == encoded_length(size, algorithm, chunk_size)
    decoded, sizes, _ = decode(body)
    assert decoded == data
    assert all(s == chunk_size for s in sizes[:-1])


def test_bad_arguments_are_refused() -> None:
    """Unknown algorithm, chunk size 0, an empty chunk, a negative size: ValueError."""
    with pytest.raises(ValueError, match="no trailing checksum"):
        ChunkEncoder("md5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        encode_aws_chunked(b"x", "crc32", chunk_size=0)
    with pytest.raises(ValueError, match="empty chunk"):
        ChunkEncoder("crc32").chunk(b"")
    with pytest.raises(ValueError, match="negative"):
        encoded_length(-1, "crc32")
