"""The benchmark's discard S3 endpoint (scripts/benchlib/discard_server.py) counts exactly."""

from __future__ import annotations

import http.client
import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MiB = 1024 * 1024
SERVER_PATH = Path(__file__).resolve().parents[1] / "scripts" / "benchlib" / "discard_server.py"


def _load_discard_server() -> ModuleType:
    """Import the script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_discard_server", SERVER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


discard = _load_discard_server()


@pytest.fixture
def server() -> Iterator[Any]:
    """A discard server on a free loopback port, stopped (threads joined) afterwards."""
    with discard.DiscardS3Server("127.0.0.1", 0) as srv:
        yield srv


def _client(endpoint: str, **kwargs: Any) -> Any:
    """A path-style boto3 S3 client with dummy credentials."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a dummy for a local server
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        **kwargs,
    )


@pytest.fixture
def s3(server: Any) -> Iterator[Any]:
    """A boto3 client for the server, closed afterwards."""
    client = _client(server.url)
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
    assert done["ETag"].strip('"').endswith("-3")
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
    files = discard.make_certificates(tmp_path)
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
