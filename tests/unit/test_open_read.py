"""``s3sink.open(uri, "rb")`` / ``"r"`` on the in-memory store: the file object's reads
across range boundaries, its arguments, and a mismatch raised from the read of the last
bytes, again on every read after it."""

from __future__ import annotations

import io

import pytest

import s3sink
from s3sink.errors import IntegrityError, UsageError
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
