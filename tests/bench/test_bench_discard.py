"""The benchmark's discard S3 endpoint (scripts/benchlib/discard_server/) counts exactly."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.benchlib import load

MiB = 1024 * 1024
discard = load("discard_server.server")
discard_s3 = load("discard_server.s3")
discard_tls = load("discard_server.tls")


@pytest.fixture
def server() -> Iterator[Any]:
    """A discard server on a free loopback port, stopped (threads joined) afterwards."""
    with discard.DiscardS3Server("127.0.0.1", 0) as srv:
        yield srv


def _client(endpoint: str, *, checksums: bool = True, **kwargs: Any) -> Any:
    """A path-style boto3 S3 client with dummy credentials; ``checksums=False``: no
    x-amz-checksum-* unless required (so the server hashes payloads for their ETags)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    when = "when_supported" if checksums else "when_required"
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a dummy for a local server
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation=when,
        ),
        **kwargs,
    )


@pytest.fixture
def s3(server: Any) -> Iterator[Any]:
    """A boto3 client for the server, closed afterwards."""
    client = _client(server.url)
    yield client
    client.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _put(
    conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """One raw PUT; returns (status, lower-cased headers, body)."""
    conn.request("PUT", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _aws_chunked(pieces: list[bytes], trailer: str = "") -> bytes:
    """An aws-chunked body (signed chunk framing) of ``pieces``, then an optional trailer."""
    body = b"".join(
        f"{len(p):x};chunk-signature={'0' * 64}\r\n".encode() + p + b"\r\n" for p in pieces
    )
    body += b"0;chunk-signature=" + b"1" * 64 + b"\r\n"
    return body + (f"{trailer}\r\n" if trailer else "").encode() + b"\r\n"


@pytest.fixture
def s3_plain(server: Any) -> Iterator[Any]:
    """A boto3 client that sends no checksum of its own (as ``s3sink --checksum off``)."""
    client = _client(server.url, checksums=False)
    yield client
    client.close()


@pytest.fixture
def conn(server: Any) -> Iterator[http.client.HTTPConnection]:
    """A raw http.client connection to the server, closed afterwards."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    yield connection
    connection.close()


def test_put_object_is_counted(server: Any, s3: Any) -> None:
    """PutObject's payload is counted and HeadObject reports it."""
    s3.put_object(Bucket="bench", Key="one/put", Body=b"x" * 123_457)
    assert server.object_size("bench", "one/put") == 123_457
    assert s3.head_object(Bucket="bench", Key="one/put")["ContentLength"] == 123_457


def test_three_part_multipart_upload_is_counted(server: Any, s3: Any) -> None:
    """A 3-part upload of 5 MiB parts is counted at Complete as the sum of its parts."""
    upload = s3.create_multipart_upload(Bucket="bench", Key="mpu")
    parts = []
    for number in (1, 2, 3):
        body = bytes([number]) * (5 * MiB)
        answer = s3.upload_part(
            Bucket="bench", Key="mpu", UploadId=upload["UploadId"], PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    assert server.object_size("bench", "mpu") is None
    done = s3.complete_multipart_upload(
        Bucket="bench", Key="mpu", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    part_md5s = b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in parts)
    assert done["ETag"] == f'"{_md5(part_md5s)}-3"'
    assert server.object_size("bench", "mpu") == 15 * MiB
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="bench")


def test_complete_rejects_a_part_never_uploaded(server: Any, s3: Any) -> None:
    """Complete listing a missing part fails with InvalidPart and counts nothing."""
    upload = s3.create_multipart_upload(Bucket="bench", Key="gap")
    answer = s3.upload_part(
        Bucket="bench", Key="gap", UploadId=upload["UploadId"], PartNumber=1, Body=b"a"
    )
    listed = [{"PartNumber": 1, "ETag": answer["ETag"]}, {"PartNumber": 2, "ETag": '"x"'}]
    with pytest.raises(Exception, match="InvalidPart"):
        s3.complete_multipart_upload(
            Bucket="bench",
            Key="gap",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": listed},
        )
    assert server.object_size("bench", "gap") is None


def test_expect_100_continue_is_answered_before_the_body(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """With Expect: 100-continue the server answers 100 before the body is sent."""
    body = b"e" * 300_000
    conn.putrequest("PUT", "/bench/expect")
    conn.putheader("Content-Length", str(len(body)))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    assert conn.sock is not None
    interim = b""
    while b"\r\n\r\n" not in interim:
        chunk = conn.sock.recv(1024)
        assert chunk
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
    conn.send(body)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert server.object_size("bench", "expect") == len(body)


def test_chunked_body_is_counted(server: Any, conn: http.client.HTTPConnection) -> None:
    """A Transfer-Encoding: chunked body counts its decoded bytes, not the framing."""
    pieces = [b"a" * 1000, b"b" * 70_000, b"c" * 3]
    conn.request("PUT", "/bench/chunked", body=iter(pieces), encode_chunked=True)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert server.object_size("bench", "chunked") == 71_003


def test_aws_chunked_body_counts_the_decoded_payload(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """aws-chunked framing, signatures and trailers are not counted; the trailer is echoed."""
    data = b"p" * 70_000
    body = (
        f"{len(data):x};chunk-signature={'0' * 64}\r\n".encode()
        + data
        + b"\r\n0;chunk-signature="
        + b"1" * 64
        + b"\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    )
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    conn.request("PUT", "/bench/aws-chunked", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.getheader("x-amz-checksum-crc32") == "AAAAAA=="
    assert server.object_size("bench", "aws-chunked") == len(data)


def test_https_with_the_generated_ca(tmp_path: Path) -> None:
    """HTTPS works with a client that trusts only the generated CA."""
    pytest.importorskip("cryptography")
    files = discard_tls.make_certificates(tmp_path)
    with discard.DiscardS3Server(tls_context=files.server_context()) as srv:
        client = _client(srv.url, verify=str(files.ca_file))
        try:
            client.put_object(Bucket="bench", Key="tls", Body=b"t" * 4096)
        finally:
            client.close()
        assert srv.object_size("bench", "tls") == 4096


def test_stop_cuts_idle_keep_alive_connections() -> None:
    """stop() returns promptly even while a client holds an idle keep-alive connection."""
    with discard.DiscardS3Server() as srv:
        idle = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            idle.sendall(b"GET /__health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            srv.stop(timeout=5)
            assert idle.recv(4096) == b""
        finally:
            idle.close()


def test_virtual_host_style_names_the_bucket_in_the_host(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """Host: bucket.localhost addresses the bucket; the whole path is the key."""
    conn.request("PUT", "/v/key", body=b"v" * 10, headers={"Host": f"vb.localhost:{server.port}"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert server.object_size("vb", "v/key") == 10


def test_put_object_etag_is_the_payload_md5(server: Any, s3_plain: Any) -> None:
    """PutObject answers the payload's MD5 as its ETag, and HeadObject keeps it."""
    s3 = s3_plain
    body = bytes(range(256)) * 4099
    answer = s3.put_object(Bucket="bench", Key="md5/put", Body=body)
    assert answer["ETag"] == f'"{_md5(body)}"'
    assert s3.head_object(Bucket="bench", Key="md5/put")["ETag"] == f'"{_md5(body)}"'
    assert s3.put_object(Bucket="bench", Key="md5/empty", Body=b"")["ETag"] == f'"{_md5(b"")}"'


@pytest.mark.parametrize("content_md5", [False, True])
def test_upload_part_etag_is_the_payload_md5(
    server: Any, conn: http.client.HTTPConnection, content_md5: bool
) -> None:
    """UploadPart without a checksum answers the part's MD5, with or without Content-MD5;
    a body much larger than the receive buffer is hashed whole."""
    upload_id = server_upload(server, "md5/part")
    body = b"0123456789abcdef" * (3 * MiB // 16 + 7)
    headers = {"Content-MD5": _b64_md5(body)} if content_md5 else {}
    status, answer, _ = _put(
        conn, f"/bench/md5/part?partNumber=1&uploadId={upload_id}", body, headers
    )
    assert status == 200
    assert answer["etag"] == f'"{_md5(body)}"'
    assert server.stats()["counters"]["md5_bytes"] == len(body)


def test_etag_md5_spans_bytes_already_buffered_and_received(server: Any) -> None:
    """Head and body in one send (part of the body is already buffered when the head is
    parsed), a second request right behind it: each ETag is its own payload's MD5."""
    first, second = b"a" * 300_001 + b"z", b"q" * 17
    wire = b"".join(
        f"PUT /bench/pipelined/{n} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(b)}\r\n\r\n".encode()
        + b
        for n, b in ((1, first), (2, second))
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(wire)
        received = b""
        while received.count(b"HTTP/1.1 200") < 2:
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    assert f'ETag: "{_md5(first)}"'.encode() in received
    assert f'ETag: "{_md5(second)}"'.encode() in received


def test_checksum_without_content_md5_is_echoed_and_not_hashed(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """By default a part's payload sent with an x-amz-checksum-* (and no Content-MD5) is not
    hashed: its checksum is echoed, and its ETag is well-formed but not the payload's MD5."""
    body = b"c" * 100_000
    target = f"/bench/crc?partNumber=1&uploadId={server_upload(server, 'crc')}"
    status, answer, _ = _put(conn, target, body, {"x-amz-checksum-crc32": "AAAAAA=="})
    assert status == 200
    assert answer["x-amz-checksum-crc32"] == "AAAAAA=="
    etag = answer["etag"].strip('"')
    assert len(etag) == 32
    assert etag != _md5(body)
    assert "md5_bytes" not in server.stats()["counters"]


def test_a_client_that_skips_the_md5_is_not_hashed_unless_it_sent_content_md5(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """x-discard-skip-md5: 1 (the bench's floor sender) spares a payload without a checksum
    its MD5 (a made-up ETag); with a Content-MD5 it is still hashed and checked."""
    body = b"f" * 100_000
    target = f"/bench/skip?partNumber=1&uploadId={server_upload(server, 'skip')}"
    status, answer, _ = _put(conn, target, body, {"x-discard-skip-md5": "1"})
    assert status == 200
    assert answer["etag"].strip('"') != _md5(body)
    assert "md5_bytes" not in server.stats()["counters"]
    headers = {"x-discard-skip-md5": "1", "Content-MD5": _b64_md5(body[:-1] + b"g")}
    status, _, data = _put(conn, "/bench/skip-md5", body, headers)
    assert status == 400
    assert b"BadDigest" in data
    assert server.stats()["counters"]["md5_bytes"] == len(body)


def test_without_etag_md5_only_a_content_md5_is_hashed() -> None:
    """etag_md5=False (scripts/bench's server): a part without a checksum is not hashed (a
    made-up ETag), and a Content-MD5 is still checked."""
    body = b"n" * 100_000
    with discard.DiscardS3Server(etag_md5=False) as srv:
        connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            target = f"/bench/plain?partNumber=1&uploadId={server_upload(srv, 'plain')}"
            status, answer, _ = _put(connection, target, body, {})
            assert status == 200
            assert answer["etag"].strip('"') != _md5(body)
            assert "md5_bytes" not in srv.stats()["counters"]
            wrong = {"Content-MD5": _b64_md5(body + b"!")}
            status, _, data = _put(connection, "/bench/md5", body, wrong)
        finally:
            connection.close()
        assert status == 400
        assert b"BadDigest" in data
        assert srv.stats()["counters"]["md5_bytes"] == len(body)


def test_a_put_object_etag_is_always_the_payload_md5() -> None:
    """A PutObject is hashed whatever it carries and however the server runs: its ETag is the
    object's, which s3sink checks on a single PUT on top of the echoed checksum."""
    body = b"p" * 100_000
    with discard.DiscardS3Server(etag_md5=False) as srv:
        connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            headers = {"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-discard-skip-md5": "1"}
            status, answer, _ = _put(connection, "/bench/put", body, headers)
        finally:
            connection.close()
    assert status == 200
    assert answer["x-amz-checksum-crc64nvme"] == "AAAAAAAAAAA="
    assert answer["etag"] == f'"{_md5(body)}"'


def test_always_md5_hashes_payloads_sent_with_a_checksum() -> None:
    """With always_md5 a payload with a checksum gets the echo and its real MD5 as ETag."""
    body = b"k" * 200_000
    with discard.DiscardS3Server(always_md5=True) as srv:
        connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            headers = {"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}
            status, answer, _ = _put(connection, "/bench/always", body, headers)
        finally:
            connection.close()
    assert status == 200
    assert answer["x-amz-checksum-crc64nvme"] == "AAAAAAAAAAA="
    assert answer["etag"] == f'"{_md5(body)}"'


def test_checksum_and_content_md5_are_both_honoured(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """A checksum plus a Content-MD5: the checksum is echoed and the ETag is the real MD5."""
    body = b"b" * 70_000
    headers = {"x-amz-checksum-crc32c": "AAAAAA==", "Content-MD5": _b64_md5(body)}
    status, answer, _ = _put(conn, "/bench/both", body, headers)
    assert status == 200
    assert answer["x-amz-checksum-crc32c"] == "AAAAAA=="
    assert answer["etag"] == f'"{_md5(body)}"'


def test_boto3_upload_part_with_checksum_is_echoed(server: Any, s3: Any) -> None:
    """boto3 with a flexible checksum gets it back; its value is the one boto3 computed."""
    upload = s3.create_multipart_upload(Bucket="bench", Key="sdk", ChecksumAlgorithm="CRC32")
    answer = s3.upload_part(
        Bucket="bench",
        Key="sdk",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"s" * 9000,
        ChecksumAlgorithm="CRC32",
    )
    crc = base64.b64encode(zlib.crc32(b"s" * 9000).to_bytes(4, "big")).decode()
    assert answer["ChecksumCRC32"] == crc


def test_content_md5_mismatch_is_bad_digest(server: Any, conn: http.client.HTTPConnection) -> None:
    """A Content-MD5 that does not match the body is refused with BadDigest and no object;
    the connection stays usable."""
    body = b"d" * 50_000
    headers = {"Content-MD5": _b64_md5(body + b"!")}
    status, _, answer = _put(conn, "/bench/bad", body, headers)
    assert status == 400
    assert b"<Code>BadDigest</Code>" in answer
    assert server.object_size("bench", "bad") is None
    status, _, answer = _put(conn, "/bench/bad", body, {"Content-MD5": "not base64!"})
    assert status == 400
    assert b"<Code>InvalidDigest</Code>" in answer
    status, headers_back, _ = _put(conn, "/bench/bad", body, {"Content-MD5": _b64_md5(body)})
    assert status == 200
    assert headers_back["etag"] == f'"{_md5(body)}"'


def test_content_md5_mismatch_on_a_part_is_bad_digest(server: Any, s3: Any) -> None:
    """boto3's upload_part with a wrong ContentMD5 fails with BadDigest; the part is not kept."""
    upload = s3.create_multipart_upload(Bucket="bench", Key="badpart")
    with pytest.raises(Exception, match="BadDigest"):
        s3.upload_part(
            Bucket="bench",
            Key="badpart",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"x" * 1000,
            ContentMD5=_b64_md5(b"y" * 1000),
        )
    assert "Parts" not in s3.list_parts(Bucket="bench", Key="badpart", UploadId=upload["UploadId"])


@pytest.mark.parametrize("trailer", [False, True])
def test_aws_chunked_etag_is_the_decoded_payload_md5(
    server: Any, conn: http.client.HTTPConnection, trailer: bool
) -> None:
    """aws-chunked: the ETag is the MD5 of the decoded payload (framing and signatures left
    out), with Content-MD5 checked against it; with a checksum trailer on a part, the trailer
    is echoed and (default) the payload is not hashed."""
    pieces = [b"p" * 70_000, b"q" * 65_536, b"r" * 5]
    data = b"".join(pieces)
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    }
    if trailer:
        headers["x-amz-content-sha256"] = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
        body = _aws_chunked(pieces, "x-amz-checksum-crc32:AAAAAA==")
    else:
        body = _aws_chunked(pieces)
    target = "/bench/chunked-md5"
    if trailer:  # a part: a PutObject is always hashed (its ETag is the object's)
        target += f"?partNumber=1&uploadId={server_upload(server, 'chunked-md5')}"
    status, answer, _ = _put(conn, target, body, headers)
    assert status == 200
    if trailer:
        assert answer["x-amz-checksum-crc32"] == "AAAAAA=="
        assert answer["etag"] != f'"{_md5(data)}"'
    else:
        assert answer["etag"] == f'"{_md5(data)}"'
        headers["Content-MD5"] = _b64_md5(data)
        assert _put(conn, "/bench/chunked-md5", body, headers)[0] == 200
        headers["Content-MD5"] = _b64_md5(data[:-1])
        status, _, error = _put(conn, "/bench/chunked-md5", body, headers)
        assert status == 400
        assert b"<Code>BadDigest</Code>" in error


def test_transfer_chunked_etag_is_the_payload_md5(
    server: Any, conn: http.client.HTTPConnection
) -> None:
    """A Transfer-Encoding: chunked body's ETag is the MD5 of its decoded bytes."""
    pieces = [b"a" * 1000, b"b" * 70_000, b"c" * 3]
    conn.request("PUT", "/bench/te-md5", body=iter(pieces), encode_chunked=True)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.getheader("ETag") == f'"{_md5(b"".join(pieces))}"'


def test_multipart_etag_follows_the_s3_rule(server: Any, s3_plain: Any) -> None:
    """Complete's ETag is md5(concatenated binary part MD5s)-N, small last part included."""
    s3 = s3_plain
    upload = s3.create_multipart_upload(Bucket="bench", Key="rule")
    bodies = [b"1" * (5 * MiB), b"2" * 123]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket="bench", Key="rule", UploadId=upload["UploadId"], PartNumber=number, Body=body
        )
        assert answer["ETag"] == f'"{_md5(body)}"'
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket="bench", Key="rule", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    expected = _md5(b"".join(hashlib.md5(b, usedforsecurity=False).digest() for b in bodies))
    expected += "-2"
    assert done["ETag"] == f'"{expected}"'
    assert s3.head_object(Bucket="bench", Key="rule")["ETag"] == f'"{expected}"'


def server_upload(server: Any, key: str) -> str:
    """Start a multipart upload for bench/KEY on the server directly; return its id."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", f"/bench/{key}?uploads")
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    return body.split("<UploadId>", 1)[1].split("</UploadId>", 1)[0]


def _request(server: Any, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One raw request on its own connection; returns (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_list_parts_pages_with_max_parts_and_the_marker(server: Any, s3: Any) -> None:
    """ListParts lists each part as UploadPart recorded it (number, size, ETag, checksum),
    max-parts at a time from part-number-marker on, as S3 pages it."""
    upload_id = s3.create_multipart_upload(Bucket="bench", Key="lp")["UploadId"]
    sent = {}
    for number in (1, 2, 3, 5, 8):  # gaps: the listing follows the numbers, not positions
        body = bytes([number]) * (1000 + number)
        answer = s3.upload_part(
            Bucket="bench",
            Key="lp",
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        sent[number] = (len(body), answer["ETag"], answer["ChecksumCRC32"])
    first = s3.list_parts(Bucket="bench", Key="lp", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    second = s3.list_parts(
        Bucket="bench", Key="lp", UploadId=upload_id, MaxParts=2, PartNumberMarker=2
    )
    assert [p["PartNumber"] for p in second["Parts"]] == [3, 5]
    assert second["PartNumberMarker"] == 2
    assert second["IsTruncated"] is True
    last = s3.list_parts(
        Bucket="bench", Key="lp", UploadId=upload_id, MaxParts=2, PartNumberMarker=5
    )
    assert [p["PartNumber"] for p in last["Parts"]] == [8]
    assert last["IsTruncated"] is False
    pages = s3.get_paginator("list_parts").paginate(
        Bucket="bench", Key="lp", UploadId=upload_id, PaginationConfig={"PageSize": 2}
    )
    listed = [p for page in pages for p in page["Parts"]]
    assert {p["PartNumber"]: (p["Size"], p["ETag"], p["ChecksumCRC32"]) for p in listed} == sent
    status, body = _request(server, "GET", f"/bench/lp?uploadId={upload_id}&max-parts=0")
    assert status == 400
    assert b"InvalidArgument" in body


def test_list_parts_of_an_unknown_upload_is_no_such_upload(s3: Any) -> None:
    """ListParts of an upload id the server never handed out answers NoSuchUpload."""
    with pytest.raises(Exception, match="NoSuchUpload"):
        s3.list_parts(Bucket="bench", Key="nope", UploadId="never-created")


def test_fault_switch_fails_parts_above_n_for_the_prefix_only(
    server: Any, s3: Any, conn: http.client.HTTPConnection
) -> None:
    """POST /__fault?upload_part_above=N&prefix=P answers 503 SlowDown to UploadPart above
    part N of keys under P (the body dropped, not counted); other keys and parts are stored;
    DELETE /__fault turns it off."""
    status, body = _request(server, "POST", "/__fault?upload_part_above=2&prefix=bench/hit/")
    assert status == 200
    assert json.loads(body) == {"upload_part_above": 2, "status": 503, "prefix": "bench/hit/"}
    hit = s3.create_multipart_upload(Bucket="bench", Key="hit/one")["UploadId"]
    miss = s3.create_multipart_upload(Bucket="bench", Key="miss")["UploadId"]
    payload = b"p" * 4096
    for number in (1, 2):
        s3.upload_part(Bucket="bench", Key="hit/one", UploadId=hit, PartNumber=number, Body=payload)
    before = server.stats()["counters"]["payload_bytes"]
    status, _, answer = _put(conn, f"/bench/hit/one?partNumber=3&uploadId={hit}", payload, {})
    assert status == 503
    assert b"<Code>SlowDown</Code>" in answer
    counters = server.stats()["counters"]
    assert counters["payload_bytes"] == before
    assert counters["faults_injected"] == 1
    s3.upload_part(Bucket="bench", Key="miss", UploadId=miss, PartNumber=3, Body=payload)
    listed = s3.list_parts(Bucket="bench", Key="hit/one", UploadId=hit)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]
    assert server.stats()["part_fault"] == {
        "upload_part_above": 2,
        "status": 503,
        "prefix": "bench/hit/",
    }
    status, body = _request(server, "DELETE", "/__fault")
    assert (status, json.loads(body)) == (200, None)
    s3.upload_part(Bucket="bench", Key="hit/one", UploadId=hit, PartNumber=3, Body=payload)
    listed = s3.list_parts(Bucket="bench", Key="hit/one", UploadId=hit)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]


def test_fault_switch_keeps_the_connection_in_sync(server: Any) -> None:
    """A refused part's body is drained before the error, so the next request on the same
    keep-alive connection is read right; the status is the one asked for."""
    server.set_part_fault(discard_s3.PartFault(0, status=500))
    upload_id = server_upload(server, "sync")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, _, body = _put(
            connection, f"/bench/sync?partNumber=1&uploadId={upload_id}", b"x" * 70_000, {}
        )
        assert status == 500
        assert b"InternalError" in body
        connection.request("GET", "/__fault")
        response = connection.getresponse()
        assert json.loads(response.read())["status"] == 500
    finally:
        connection.close()
    assert server.stats()["counters"].get("protocol_errors", 0) == 0


def test_fault_switch_arguments_are_checked_and_reset_clears_it(server: Any) -> None:
    """A switch without a part number, or with a status outside 4xx/5xx, is refused;
    POST /__reset turns a set switch off."""
    assert _request(server, "POST", "/__fault")[0] == 400
    assert _request(server, "POST", "/__fault?upload_part_above=x")[0] == 400
    assert _request(server, "POST", "/__fault?upload_part_above=1&status=200")[0] == 400
    assert _request(server, "PUT", "/__fault?upload_part_above=1")[0] == 405
    assert _request(server, "GET", "/__fault") == (200, b"null")
    assert _request(server, "POST", "/__fault?upload_part_above=1")[0] == 200
    assert _request(server, "POST", "/__reset")[0] == 200
    assert _request(server, "GET", "/__fault") == (200, b"null")


def test_checksum_counters_tell_what_each_request_carried(server: Any, s3: Any) -> None:
    """checksum_sent:ALGORITHM counts data requests by the checksum they carried (Content-MD5
    too) and checksum_complete:ALGORITHM the full-object checksums sent to Complete."""
    upload_id = s3.create_multipart_upload(
        Bucket="bench", Key="ck", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    body = b"c" * (5 * MiB)
    answer = s3.upload_part(
        Bucket="bench",
        Key="ck",
        UploadId=upload_id,
        PartNumber=1,
        Body=body,
        ChecksumAlgorithm="CRC32",
    )
    whole = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    s3.complete_multipart_upload(
        Bucket="bench",
        Key="ck",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": answer["ETag"]}]},
        ChecksumCRC32=whole,
        ChecksumType="FULL_OBJECT",
    )
    counters = server.stats()["counters"]
    assert counters["checksum_sent:crc32"] == 1
    assert counters["checksum_complete:crc32"] == 1
    assert "checksum_sent:content-md5" not in counters
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, _, _ = _put(
            connection, "/bench/md5", b"m" * 10, {"Content-MD5": _b64_md5(b"m" * 10)}
        )
    finally:
        connection.close()
    assert status == 200
    assert server.stats()["counters"]["checksum_sent:content-md5"] == 1
