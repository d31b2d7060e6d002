"""The library's read half against moto over botocore's HTTP path: ``s3sink.open(uri, "rb")``
and ``"r"``, ``download_file``, for what every upload mode of s3sink leaves in the store,
and a stored checksum that does not match (moto keeps the value a PutObject claims)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

import s3sink
from s3sink.errors import IntegrityError, ReadError
from tests.support.fakes import MiB, b64, payload
from tests.support.motoserver import make_client

DATA = payload(12 * MiB + 7, seed=21)
EXPECTED = {
    "crc64nvme": ("checksum-full-object", "checksum-full-object"),
    "crc32c": ("checksum-full-object", "checksum-full-object"),
    "sha256": ("checksum-full-object", "checksum-composite"),
    "md5": ("etag-md5", "etag-md5"),
    "off": ("etag-md5", "etag-md5"),
}


def upload(client: Any, uri: str, data: bytes, **options: Any) -> None:
    options.setdefault("part_size", 5 * MiB)
    with s3sink.open(uri, "wb", client=client, **options) as writer:
        writer.write(data)


def wrong_stored_checksum(client: Any, bucket: str, key: str, data: bytes) -> None:
    """An object whose stored CRC64NVME is not its bytes': moto keeps the value a PutObject
    claims when x-amz-sdk-checksum-algorithm comes with it (it recomputes a multipart
    upload's FULL_OBJECT value itself, 5.2.5)."""
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ChecksumAlgorithm="CRC64NVME",
        ChecksumCRC64NVME=b64(b"\x01" * 8),
    )


@pytest.mark.parametrize("checksum", sorted(EXPECTED))
@pytest.mark.parametrize("size", [3 * MiB, len(DATA)], ids=["single", "multipart"])
def test_open_rb_reads_every_upload_mode_back_verified(
    s3_endpoint: str, s3_client: Any, bucket: str, checksum: str, size: int
) -> None:
    """What s3sink uploads in each checksum mode, single PutObject or multipart, reads back
    through ``open(uri, "rb")`` byte for byte, verified as expected (md5 and off: by the
    ETag, with a client that adds no checksum of its own, as the command builds it)."""
    uri = f"s3://{bucket}/k"
    if checksum in ("md5", "off"):
        plain = make_client(s3_endpoint, request_checksum_calculation="when_required")
        upload(plain, uri, DATA[:size], checksum=checksum)
        plain.close()
    else:
        upload(s3_client, uri, DATA[:size], checksum=checksum)
    with s3sink.open(uri, "rb", client=s3_client, part_size=2 * MiB, concurrency=3) as reader:
        assert reader.size == size
        data = reader.read()
        result = reader.result
    assert data == DATA[:size]
    assert result is not None
    assert result.verified
    assert result.verified_by == EXPECTED[checksum][size > 5 * MiB]
    assert result.stored == result.computed


def test_open_rb_is_a_file_object(s3_client: Any, bucket: str) -> None:
    """read(n), read1, readinto, readline, peek and iteration give the object's bytes in
    order across range boundaries; seek is not supported."""
    lines = b"".join(b"line %d %s\n" % (i, b"x" * (i % 50)) for i in range(40_000))
    uri = f"s3://{bucket}/lines"
    upload(s3_client, uri, lines)
    with s3sink.open(uri, "rb", client=s3_client, part_size=64 * 1024) as reader:
        assert reader.readable()
        assert not reader.seekable()
        with pytest.raises(io.UnsupportedOperation):
            reader.seek(0)
        got = reader.read(5)
        got += reader.peek()[:3] and reader.read1(3)
        buffer = bytearray(100_000)
        got += buffer[: reader.readinto(buffer)]
        got += reader.readline()
        got += b"".join(reader)
    assert got == lines


def test_open_r_gives_text(s3_client: Any, bucket: str) -> None:
    """Text mode: UTF-8 lines, split across ranges as they may be."""
    text = "".join(f"zeile {i} — äöü\n" for i in range(30_000))
    uri = f"s3://{bucket}/text"
    upload(s3_client, uri, text.encode())
    with s3sink.open(uri, "r", client=s3_client, part_size=100_000) as reader:
        assert reader.readline() == "zeile 0 — äöü\n"
        assert reader.read() == text[len("zeile 0 — äöü\n") :]


def test_a_wrong_stored_checksum_raises_from_the_read_of_the_last_bytes(
    s3_client: Any, bucket: str
) -> None:
    """The store recorded another checksum: reads return every range but the last, then
    IntegrityError, again on every read after it."""
    wrong_stored_checksum(s3_client, bucket, "bad", DATA)
    with s3sink.open(f"s3://{bucket}/bad", "rb", client=s3_client, part_size=4 * MiB) as reader:
        first = reader.read(9 * MiB)  # of the first three ranges of four, 3 MiB each
        assert first == DATA[: 9 * MiB]
        with pytest.raises(IntegrityError) as caught:
            reader.read()
        with pytest.raises(IntegrityError):
            reader.read(1)
        assert reader.result is None
    error = caught.value
    assert error.stored == b64(b"\x01" * 8)
    assert error.verified_by == "checksum-full-object"


def test_download_file_writes_the_verified_object(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """download_file: the file holds the object, and the result says how it was verified;
    no temporary file is left."""
    uri = f"s3://{bucket}/k"
    upload(s3_client, uri, DATA)
    target = tmp_path / "restored.bin"
    result = s3sink.download_file(uri, target, client=s3_client)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(DATA).digest()
    assert (result.verified, result.verified_by, result.size) == (
        True,
        "checksum-full-object",
        len(DATA),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored.bin"]


def test_download_file_of_a_bad_object_leaves_the_path_as_it_was(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A mismatch: IntegrityError, the existing file untouched, no temporary file left."""
    wrong_stored_checksum(s3_client, bucket, "bad", DATA)
    target = tmp_path / "restored.bin"
    target.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        s3sink.download_file(f"s3://{bucket}/bad", target, client=s3_client)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored.bin"]


def test_download_file_of_a_missing_object_creates_nothing(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A missing object: ReadError before any file is created."""
    with pytest.raises(ReadError, match="does not exist"):
        s3sink.download_file(f"s3://{bucket}/nope", tmp_path / "x", client=s3_client)
    assert list(tmp_path.iterdir()) == []


def test_open_rb_builds_its_client_from_the_connection_options(
    s3_endpoint: str, s3_client: Any, bucket: str, aws_env: None
) -> None:
    """endpoint_url/region build the client as the command does."""
    uri = f"s3://{bucket}/k"
    upload(s3_client, uri, b"hello")
    with s3sink.open(uri, "rb", endpoint_url=s3_endpoint, region="us-east-1") as reader:
        assert reader.read() == b"hello"
