"""The discard server's read answers (scripts/benchlib/discard_server/reads.py) for the read
table: a synthetic object's bytes, ranges and parts, its ETag and stored CRC64NVME (checked
against awscrt over the bytes served), conditions, and the byte it flips on request."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from awscrt import checksums

from tests.support.benchlib import load

MiB = 1024 * 1024
discard = load("discard_server.server")
synthetic_data = load("synthetic_data")
SIZE = 21 * MiB + 12_345  # two full 8 MiB parts and a short third, not a whole block
PART = 8 * MiB


def expected(start: int = 0, length: int = SIZE) -> bytes:
    """The synthetic object's bytes [start, start + length)."""
    block = synthetic_data.block()
    whole = block * ((start + length) // len(block) + 1)
    return whole[start : start + length]


def crc64nvme_b64(data: bytes) -> str:
    """CRC64NVME as S3 writes it, by awscrt (independent of the server's own arithmetic)."""
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


@pytest.fixture
def server() -> Iterator[Any]:
    """A discard server on a free loopback port."""
    with discard.DiscardS3Server("127.0.0.1", 0) as srv:
        yield srv


def _synthetic(server: Any, key: str, size: int = SIZE, **extra: object) -> dict[str, Any]:
    """Make a synthetic object through ``POST /__synthetic``; its record."""
    query = "&".join(f"{k}={v}" for k, v in {"size": size, **extra}.items())
    status, _, body = _request(server, "POST", f"/__synthetic?bucket=bench&key={key}&{query}")
    assert status == 200, body
    record: dict[str, Any] = json.loads(body)
    return record


def _request(
    server: Any, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def s3(server: Any) -> Iterator[Any]:
    """A path-style boto3 client with dummy credentials."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a dummy for a local server
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    yield client
    client.close()


@pytest.mark.parametrize("size", [0, 1, 4095, MiB, MiB + 1, 3 * MiB + 777])
def test_stored_crc64nvme_is_that_of_the_bytes(size: int) -> None:
    """The server's CRC of an object, from the block's CRC and the combine rule, is the CRC
    awscrt computes over the object's bytes."""
    mine = synthetic_data.object_crc64nvme(size)
    assert mine == checksums.crc64nvme(expected(0, size))


def test_whole_get_serves_the_bytes_and_their_checksum(server: Any, s3: Any) -> None:
    """A whole GetObject with checksum mode: every byte of the pattern, and the stored
    FULL_OBJECT CRC64NVME is the CRC of those bytes."""
    _synthetic(server, "obj", part_size=PART)
    answer = s3.get_object(Bucket="bench", Key="obj", ChecksumMode="ENABLED")
    body = answer["Body"].read()
    assert body == expected()
    assert answer["ChecksumCRC64NVME"] == crc64nvme_b64(body)
    assert answer["ChecksumType"] == "FULL_OBJECT"


def test_head_reports_checksum_only_when_asked(server: Any, s3: Any) -> None:
    """HeadObject gives the checksum with ChecksumMode=ENABLED only, as S3 does."""
    _synthetic(server, "obj", part_size=PART)
    asked = s3.head_object(Bucket="bench", Key="obj", ChecksumMode="ENABLED")
    assert asked["ContentLength"] == SIZE
    assert asked["ChecksumCRC64NVME"] == crc64nvme_b64(expected())
    assert "ChecksumCRC64NVME" not in s3.head_object(Bucket="bench", Key="obj")


@pytest.mark.parametrize(
    ("header", "start", "length"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=1000-2000000", 1000, 1_999_001),
        (f"bytes={SIZE - 10}-", SIZE - 10, 10),
        ("bytes=-5000", SIZE - 5000, 5000),
        (f"bytes=5-{SIZE * 2}", 5, SIZE - 5),
    ],
)
def test_ranges_serve_their_bytes_without_checksum(
    server: Any, header: str, start: int, length: int
) -> None:
    """A Range answers 206 with its bytes and Content-Range, and no checksum (a ranged GET
    carries none on S3 either)."""
    _synthetic(server, "obj")
    headers = {"Range": header, "x-amz-checksum-mode": "ENABLED"}
    status, answer, body = _request(server, "GET", "/bench/obj", headers)
    assert status == 206
    assert body == expected(start, length)
    assert answer["content-range"] == f"bytes {start}-{start + length - 1}/{SIZE}"
    assert not any(name.startswith("x-amz-checksum") for name in answer)


def test_range_past_the_end_is_refused(server: Any) -> None:
    """A range that starts past the last byte is InvalidRange (416)."""
    _synthetic(server, "obj")
    status, _, body = _request(server, "GET", "/bench/obj", {"Range": f"bytes={SIZE}-"})
    assert status == 416
    assert b"InvalidRange" in body


def test_parts_serve_their_ranges_and_count(server: Any, s3: Any) -> None:
    """partNumber=N answers part N's bytes, its Content-Range and the parts count; HeadObject
    with a part number its size; a part past the last is refused."""
    _synthetic(server, "obj", part_size=PART)
    for number, start in ((1, 0), (2, PART), (3, 2 * PART)):
        length = min(PART, SIZE - start)
        answer = s3.get_object(Bucket="bench", Key="obj", PartNumber=number)
        assert answer["PartsCount"] == 3
        assert answer["Body"].read() == expected(start, length)
        assert answer["ContentRange"] == f"bytes {start}-{start + length - 1}/{SIZE}"
        head = s3.head_object(Bucket="bench", Key="obj", PartNumber=number)
        assert head["ContentLength"] == length
    status, _, _ = _request(server, "GET", "/bench/obj?partNumber=4")
    assert status == 416


def test_etags_are_s3s(server: Any, s3: Any) -> None:
    """A multipart object's ETag is the MD5 of its parts' MD5s and "-N"; one part's is the
    MD5 of the bytes."""
    _synthetic(server, "multi", part_size=PART)
    _synthetic(server, "single", size=3 * MiB + 5)
    md5s = b"".join(
        hashlib.md5(expected(s, min(PART, SIZE - s)), usedforsecurity=False).digest()
        for s in range(0, SIZE, PART)
    )
    multi = hashlib.md5(md5s, usedforsecurity=False).hexdigest()
    assert s3.head_object(Bucket="bench", Key="multi")["ETag"] == f'"{multi}-3"'
    single = hashlib.md5(expected(0, 3 * MiB + 5), usedforsecurity=False).hexdigest()
    assert s3.head_object(Bucket="bench", Key="single")["ETag"] == f'"{single}"'


def test_if_match_and_if_none_match(server: Any) -> None:
    """If-Match with another ETag is 412, with its own 200/206; If-None-Match with its own
    ETag is 304."""
    etag = '"' + _synthetic(server, "obj")["etag"] + '"'
    assert _request(server, "GET", "/bench/obj", {"If-Match": '"other"'})[0] == 412
    assert _request(server, "HEAD", "/bench/obj", {"If-Match": '"other"'})[0] == 412
    ranged = {"If-Match": etag, "Range": "bytes=0-9"}
    assert _request(server, "GET", "/bench/obj", ranged)[0] == 206
    assert _request(server, "GET", "/bench/obj", {"If-None-Match": etag})[0] == 304


def test_corrupt_flips_one_byte_and_keeps_the_checksum(server: Any, s3: Any) -> None:
    """corrupt=OFFSET flips that byte in any response that covers it (a range too), while
    the stored checksum and ETag stay those of the right bytes."""
    offset = 9 * MiB + 3
    _synthetic(server, "bad", part_size=PART, corrupt=offset)
    status, answer, body = _request(
        server, "GET", "/bench/bad", {"x-amz-checksum-mode": "ENABLED"}
    )  # raw: past botocore's own check of the checksum
    good = expected()
    assert status == 200
    assert len(body) == SIZE
    assert [i for i in range(offset - 2, offset + 3) if body[i] != good[i]] == [offset]
    assert body[:offset] == good[:offset]
    assert body[offset + 1 :] == good[offset + 1 :]
    assert answer["x-amz-checksum-crc64nvme"] == crc64nvme_b64(good)
    with pytest.raises(Exception, match="did not match"):  # botocore's check catches it
        s3.get_object(Bucket="bench", Key="bad", ChecksumMode="ENABLED")["Body"].read()
    status, _, part = _request(server, "GET", "/bench/bad", {"Range": f"bytes={offset}-{offset}"})
    assert status == 206
    assert part == bytes([good[offset] ^ 0xFF])


def test_checksum_none_stores_none(server: Any, s3: Any) -> None:
    """checksum=none: an object with only its ETag (as on Ceph RGW)."""
    _synthetic(server, "plain", checksum="none")
    head = s3.head_object(Bucket="bench", Key="plain", ChecksumMode="ENABLED")
    assert not any(name.startswith("Checksum") for name in head)


def test_an_uploaded_object_still_has_no_bytes(server: Any, s3: Any) -> None:
    """An object an upload made is counted, not kept: its GetObject is NotImplemented, its
    HeadObject works."""
    s3.put_object(Bucket="bench", Key="up", Body=b"x" * 100)
    assert s3.head_object(Bucket="bench", Key="up")["ContentLength"] == 100
    status, _, body = _request(server, "GET", "/bench/up")
    assert status == 501
    assert b"NotImplemented" in body


@pytest.mark.parametrize(
    "query",
    ["bucket=bench&key=k", "bucket=bench&key=k&size=9&checksum=md5", "bucket=b&key=k&size=x",
     "bucket=b&key=k&size=99&part_size=1000"],
)  # fmt: skip
def test_synthetic_checks_its_arguments(server: Any, query: str) -> None:
    """/__synthetic without a size, with an unknown checksum, a bad number or a part size
    that is not a multiple of 1 MiB is InvalidArgument."""
    status, _, body = _request(server, "POST", f"/__synthetic?{query}")
    assert status == 400
    assert b"InvalidArgument" in body
