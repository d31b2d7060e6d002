"""``s3sink.open(uri, "rb")`` / ``"r"`` on the in-memory store: the file object's reads
across range boundaries, its arguments, and a mismatch raised from the read of the last
bytes, again on every read after it."""

from __future__ import annotations

import io

import pytest
import zstandard

import s3sink
from s3sink.errors import DecompressError, IntegrityError, NotCompressedError, UsageError
from tests.support.fakes import BUCKET, KEY, URI, FakeS3, b64

LINES = b"".join(b"%d %s\n" % (i, b"y" * (i % 37)) for i in range(3000))


def store_with(data: bytes, **seed: object) -> FakeS3:
    store = FakeS3()
    store.seed(BUCKET, KEY, data, **seed)  # type: ignore[arg-type]
    return store


def test_reads_of_every_kind_cross_range_boundaries() -> None:
    """Small ranges (1000 bytes): readline with and without a limit, read1, readinto1,
    read(n), peek and read() give the bytes in order."""
    with s3sink.open(URI, "rb", transport=store_with(LINES), part_size=1000) as reader:
        got = reader.readline()
        got += reader.readline(3)
        got += reader.read1(50)
        buffer = bytearray(10)
        got += buffer[: reader.readinto1(buffer)]
        got += reader.read(2500)
        assert reader.peek()
        got += reader.read()
        assert reader.read() == b""
        assert reader.bytes_read == len(LINES)
        assert reader.result is not None
        assert reader.result.verified
    assert got == LINES


def test_iteration_gives_lines() -> None:
    """A reader iterates over lines, the last without a newline too."""
    data = LINES + b"tail"
    with s3sink.open(URI, "rb", transport=store_with(data), part_size=777) as reader:
        lines = list(reader)
    assert b"".join(lines) == data
    assert lines[-1] == b"tail"
    assert all(line.endswith(b"\n") for line in lines[:-1])


def test_text_mode_decodes() -> None:
    """ "r": a TextIOWrapper (UTF-8), a character split between ranges included."""
    text = "äöü€" * 1000
    with s3sink.open(URI, "r", transport=store_with(text.encode()), part_size=999) as reader:
        assert isinstance(reader, io.TextIOWrapper)
        assert reader.read() == text


def test_a_mismatch_poisons_the_reader() -> None:
    """The read reaching the last range raises IntegrityError, and so does every read
    after it; the result stays None."""
    store = store_with(LINES, checksums={"ChecksumCRC32": b64(b"\0\0\0\1")})
    reader = s3sink.open(URI, "rb", transport=store, part_size=4096)
    reader.read(4096)
    with pytest.raises(IntegrityError):
        reader.read()
    with pytest.raises(IntegrityError):
        reader.readline()
    assert reader.result is None
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)


@pytest.mark.parametrize(
    ("mode", "options", "error"),
    [
        ("rb", {"encoding": "utf-8"}, UsageError),
        ("ab", {}, UsageError),
        ("rb", {"part_size": 0}, UsageError),
        ("rb", {"max_memory": 10, "part_size": 100}, UsageError),
        ("rb", {"no_such_option": 1}, TypeError),
        ("rb", {"client": object()}, UsageError),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    mode: str, options: dict[str, object], error: type[Exception]
) -> None:
    """Wrong mode, text options in binary mode, bad sizes, unknown options, and a client
    beside a transport: refused, nothing asked of the store."""
    store = store_with(b"x")
    with pytest.raises(error):
        s3sink.open(URI, mode, transport=store, **options)  # type: ignore[call-overload]
    assert store.count("read_head") == 0


def test_gzip_and_tarfile_read_through_the_reader() -> None:
    """The file object works under gzip.GzipFile and tarfile's stream mode (r|*), which
    only read, never seek."""
    import gzip
    import tarfile

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("lines.txt")
        info.size = len(LINES)
        tar.addfile(info, io.BytesIO(LINES))
    store = store_with(archive.getvalue())
    with s3sink.open(URI, "rb", transport=store, part_size=5000) as reader:
        assert gzip.GzipFile(fileobj=reader).read()[512 : 512 + len(LINES)] == LINES
    with (
        s3sink.open(URI, "rb", transport=store, part_size=5000) as reader,
        tarfile.open(fileobj=reader, mode="r|*") as tar,
    ):
        member = tar.next()
        assert member is not None
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert extracted.read() == LINES


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_decompress_reads_what_compress_wrote(codec: str) -> None:
    """open(uri, "rb", decompress=True): the writer's compress= output comes back as the
    source bytes (small ranges: frames cross them), the object verified; "r" decodes them."""
    store = FakeS3()
    with s3sink.open(URI, "wb", transport=store, compress=codec) as writer:
        writer.write(LINES)
    with s3sink.open(URI, "rb", transport=store, decompress=True, part_size=1000) as reader:
        assert reader.codec == codec
        assert reader.read() == LINES
        assert reader.result is not None
        assert reader.result.verified
    assert reader.source.closed
    with s3sink.open(URI, "r", transport=store, decompress=True) as text:
        assert text.readline() == "0 \n"


def test_decompress_of_plain_bytes_fails_before_any_output() -> None:
    """Not zstd nor gzip: NotCompressedError at open, and the S3 reader is closed."""
    with pytest.raises(NotCompressedError, match="neither zstd nor gzip"):
        s3sink.open(URI, "rb", transport=store_with(LINES), decompress=True)


def test_a_truncated_frame_fails_the_read_that_would_end_it() -> None:
    """A zstd frame cut short (the object itself verifies: it was stored so) raises
    DecompressError instead of returning a short stream."""
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(LINES)
    store = store_with(frame[:-7], extra={"ContentType": "application/zstd"})
    with (
        s3sink.open(URI, "rb", transport=store, decompress=True) as reader,
        pytest.raises(DecompressError),
    ):
        reader.read()
