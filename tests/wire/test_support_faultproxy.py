"""The test support works: FaultProxy between a plain boto3 client and a real moto server."""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import socket
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.support.faultproxy import FaultProxy, LogEntry
from tests.support.motoserver import MotoServer, make_client

MIB = 1024 * 1024
RETRYING = {"retries": {"max_attempts": 3, "mode": "standard"}, "connect_timeout": 2}
# Config(retries={"max_attempts": N}) means N retries (N + 1 attempts) in every mode; only
# total_max_attempts (or AWS_MAX_ATTEMPTS) counts the first attempt too.
ONE_ATTEMPT = {"retries": {"total_max_attempts": 1, "mode": "standard"}, "connect_timeout": 2}


@contextlib.contextmanager
def client_for(endpoint_url: str, **config: Any) -> Iterator[Any]:
    """A boto3 client that is closed afterwards (its pooled sockets must not leak)."""
    client = make_client(endpoint_url, **config)
    try:
        yield client
    finally:
        client.close()


def test_passthrough_round_trips_a_7_mib_object(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """PutObject and GetObject of 7 MiB pass through the proxy unchanged."""
    body = os.urandom(7 * MIB)
    with client_for(fault_proxy.endpoint_url, **RETRYING) as client:
        client.put_object(Bucket=bucket, Key="big", Body=body)
        got = client.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert got == body
    assert s3_client.get_object(Bucket=bucket, Key="big")["Body"].read() == body
    path = f"/{bucket}/big"
    assert fault_proxy.log == [("PUT", path, None, 200), ("GET", path, None, 200)]


def test_slowdown_503_is_retried_then_succeeds(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """An injected 503 SlowDown on PutObject is retried by botocore and the retry lands."""
    path = f"/{bucket}/obj"
    rule = fault_proxy.respond(
        503, "SlowDown", "Please reduce your request rate.", method="PUT", path=f"^{path}$"
    )
    with client_for(fault_proxy.endpoint_url, **RETRYING) as client:
        client.put_object(Bucket=bucket, Key="obj", Body=b"payload")
    assert fault_proxy.log == [
        LogEntry("PUT", path, "respond", 503),
        LogEntry("PUT", path, None, 200),
    ]
    assert (rule.matched, rule.applied) == (2, 1)
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"payload"


def test_reset_during_upload_part_body_is_retried(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """A connection reset 1 MiB into an UploadPart body is retried and the upload completes."""
    part1, part2 = os.urandom(5 * MIB), os.urandom(MIB)
    part1_path = r"[?&]partNumber=1(&|$)"
    fault_proxy.reset_after(MIB, method="PUT", path=part1_path)
    with client_for(fault_proxy.endpoint_url, **RETRYING) as client:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
        etags = [
            client.upload_part(
                Bucket=bucket, Key="mpu", UploadId=upload_id, PartNumber=n, Body=data
            )["ETag"]
            for n, data in ((1, part1), (2, part2))
        ]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="mpu",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
            },
        )
    part1_log = [(e.fault, e.status) for e in fault_proxy.log if re.search(part1_path, e.path)]
    assert part1_log == [("reset_after", None), (None, 200)]
    assert s3_client.get_object(Bucket=bucket, Key="mpu")["Body"].read() == part1 + part2
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_dropped_create_response_leaves_an_orphan_upload(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """A lost CreateMultipartUpload response makes botocore retry, orphaning the first upload."""
    fault_proxy.drop_response(method="POST", path=r"\?uploads")
    with client_for(fault_proxy.endpoint_url, **RETRYING) as client:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    uploads = s3_client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert len(uploads) == 2
    assert upload_id in {u["UploadId"] for u in uploads}
    assert [(e.method, e.fault, e.status) for e in fault_proxy.log] == [
        ("POST", "drop_response", 200),
        ("POST", None, 200),
    ]


def test_stall_past_read_timeout_is_retried(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """A response held longer than the client's read_timeout is retried and the retry succeeds."""
    s3_client.put_object(Bucket=bucket, Key="slow", Body=b"eventually")
    fault_proxy.stall(2.5, method="GET", path=f"^/{bucket}/slow$")
    config = {"read_timeout": 1, "retries": {"max_attempts": 3, "mode": "standard"}}
    with client_for(fault_proxy.endpoint_url, **config) as client:
        assert client.get_object(Bucket=bucket, Key="slow")["Body"].read() == b"eventually"
    assert [(e.fault, e.status) for e in fault_proxy.log] == [("stall", 200), (None, 200)]


@pytest.mark.parametrize("keep_listening", [False, True])
def test_refuse_all_then_accept_again(
    fault_proxy: FaultProxy, bucket: str, keep_listening: bool
) -> None:
    """refuse_all makes calls fail with a connection error; accept_again restores service."""
    with client_for(fault_proxy.endpoint_url, **ONE_ATTEMPT) as client:
        client.head_bucket(Bucket=bucket)  # leaves a kept-alive connection in the pool
        fault_proxy.refuse_all(keep_listening=keep_listening)
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
            client.head_bucket(Bucket=bucket)
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
            client.head_bucket(Bucket=bucket)
        fault_proxy.accept_again()
        client.head_bucket(Bucket=bucket)


def test_refuse_all_cuts_a_request_in_flight(fault_proxy: FaultProxy, bucket: str) -> None:
    """refuse_all resets a connection whose response is being held, without waiting for it."""
    fault_proxy.stall(30, method="HEAD")
    config = {**ONE_ATTEMPT, "read_timeout": 30}
    with client_for(fault_proxy.endpoint_url, **config) as client, ThreadPoolExecutor(1) as pool:
        call = pool.submit(client.head_bucket, Bucket=bucket)
        deadline = time.monotonic() + 10
        while not fault_proxy.log and time.monotonic() < deadline:
            time.sleep(0.01)  # the stall entry is logged when the response is held
        started = time.monotonic()
        fault_proxy.refuse_all()
        with pytest.raises(ConnectionClosedError):
            call.result(timeout=10)
        assert time.monotonic() - started < 5
    assert [(e.method, e.fault, e.status) for e in fault_proxy.log] == [("HEAD", "stall", 200)]


def test_nth_and_times_select_matching_requests(fault_proxy: FaultProxy, bucket: str) -> None:
    """nth=2, times=2 applies the fault to the 2nd and 3rd matching requests only."""
    rule = fault_proxy.respond(500, "InternalError", method="HEAD", nth=2, times=2)
    outcomes = []
    with client_for(fault_proxy.endpoint_url, **ONE_ATTEMPT) as client:
        for _ in range(4):
            try:
                client.head_bucket(Bucket=bucket)
                outcomes.append("ok")
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ok", "500", "500", "ok"]
    assert (rule.matched, rule.applied) == (4, 2)


def test_chunked_body_and_expect_continue_on_one_connection(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """Expect: 100-continue, GET and chunked PUT share one kept-alive client connection."""
    head = f"Host: 127.0.0.1\r\nAuthorization: {FAKE_SIGV4}\r\n"
    with socket.create_connection(("127.0.0.1", fault_proxy.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(
            f"PUT /{bucket}/k HTTP/1.1\r\n{head}Content-Length: 4\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        sock.sendall(b"body")
        assert _read_response(reader)[0] == 200
        sock.sendall(f"GET /{bucket}/k HTTP/1.1\r\n{head}\r\n".encode())
        assert _read_response(reader) == (200, b"body")
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        sock.sendall(
            f"PUT /{bucket}/k HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n".encode()
            + chunked
        )
        assert _read_response(reader)[0] == 200
        sock.sendall(f"GET /{bucket}/k HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
        assert _read_response(reader) == (200, b"hello world")
        assert reader.read() == b""  # the proxy honoured Connection: close
        reader.close()
    assert fault_proxy.accepted == 1
    assert [(e.method, e.status) for e in fault_proxy.log] == [("PUT", 200), ("GET", 200)] * 2
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello world"


# moto's server picks the service from the Authorization header's credential scope (any
# signature is accepted); an unsigned request to 127.0.0.1 is not routed to S3 (403).
FAKE_SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request,"
    " SignedHeaders=host, Signature=00"
)


def _read_response(reader: Any) -> tuple[int, bytes]:
    """Read one Content-Length-framed response from a socket file (enough for moto)."""
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, reader.read(length)


def test_moto_stores_real_crc64nvme_checksums(s3_client: Any, bucket: str) -> None:
    """moto's subprocess sees awscrt, so a CRC64NVME checksum is the real one, not CRC32."""
    from awscrt import checksums

    body = os.urandom(100_000)
    s3_client.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm="CRC64NVME")
    head = s3_client.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    expected = base64.b64encode(checksums.crc64nvme(body).to_bytes(8, "big")).decode()
    assert head["ChecksumCRC64NVME"] == expected


def test_restart_keeps_the_port_and_loses_the_state() -> None:
    """restart() serves on the same port again, with every bucket gone."""
    with MotoServer(env={"S3_UPLOAD_PART_MIN_SIZE": "1024"}) as server:
        port = server.port
        with client_for(server.endpoint_url, **ONE_ATTEMPT) as client:
            client.create_bucket(Bucket="before-restart")
            server.restart()
            assert server.port == port
            assert client.list_buckets()["Buckets"] == []
    assert not server.running
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", "/")
    conn.close()


def test_flip_byte_corrupts_one_byte_in_the_middle_of_a_body(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any
) -> None:
    """flip_byte inverts the middle byte of the first matching PutObject body, length kept;
    the next matching request passes unchanged."""
    data = os.urandom(MIB + 1)
    path = f"/{bucket}/flipped"
    rule = fault_proxy.flip_byte(method="PUT", path=f"^{path}$")
    plain = {**ONE_ATTEMPT, "request_checksum_calculation": "when_required"}
    with client_for(fault_proxy.endpoint_url, **plain) as client:
        client.put_object(Bucket=bucket, Key="flipped", Body=data)
        stored = s3_client.get_object(Bucket=bucket, Key="flipped")["Body"].read()
        client.put_object(Bucket=bucket, Key="flipped", Body=data)
    expected = bytearray(data)
    expected[len(data) // 2] ^= 0xFF
    assert stored == expected
    assert s3_client.get_object(Bucket=bucket, Key="flipped")["Body"].read() == data
    assert fault_proxy.log == [
        LogEntry("PUT", path, "flip_byte", 200),
        LogEntry("PUT", path, None, 200),
    ]
    assert (rule.matched, rule.applied) == (2, 1)


def _chunked(data: bytes, size: int) -> bytes:
    """``data`` in HTTP chunked framing, ``size`` bytes a chunk."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("transfer", "aws_chunked"),
    [("chunked", False), ("length", True), ("chunked", True)],
    ids=["chunked", "aws-chunked", "aws-chunked-in-chunked"],
)
def test_flip_byte_flips_payload_inside_chunk_framing(
    fault_proxy: FaultProxy, bucket: str, s3_client: Any, transfer: str, aws_chunked: bool
) -> None:
    """In chunked and aws-chunked bodies the flipped byte is the payload's middle one (or
    ``at``), never framing: the server decodes the body and stores the corrupted payload."""
    payload = b"hello world, flipped"  # 20 bytes: the middle one is index 10 (",")
    fault_proxy.flip_byte(method="PUT")
    fault_proxy.flip_byte(method="PUT", at=0, nth=2)  # every rule counts every match
    headers = f"Host: 127.0.0.1\r\nAuthorization: {FAKE_SIGV4}\r\n"
    content = payload
    if aws_chunked:
        headers += (
            "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
            "Content-Encoding: aws-chunked\r\n"
            f"x-amz-decoded-content-length: {len(payload)}\r\n"
            "x-amz-trailer: x-amz-checksum-crc32\r\n"
        )
        # aws-chunks of 8 bytes, then a trailer (moto does not check its value)
        content = _chunked(payload, 8)[: -len(b"\r\n")] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    if transfer == "chunked":  # HTTP chunks of 7 bytes: aws-chunks straddle them
        headers += "Transfer-Encoding: chunked\r\n"
        wire = _chunked(content, 7)
    else:
        headers += f"Content-Length: {len(content)}\r\n"
        wire = content
    stored = []
    with socket.create_connection(("127.0.0.1", fault_proxy.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(2):  # the first rule hits the first PUT, the second the second
            sock.sendall(f"PUT /{bucket}/k HTTP/1.1\r\n{headers}\r\n".encode() + wire)
            assert _read_response(reader)[0] == 200
            stored.append(s3_client.get_object(Bucket=bucket, Key="k")["Body"].read())
        reader.close()
    middle, first = bytearray(payload), bytearray(payload)
    middle[10] ^= 0xFF
    first[0] ^= 0xFF
    assert stored == [middle, first]
    assert [e.fault for e in fault_proxy.log] == ["flip_byte", "flip_byte"]


class _Recorder:
    """A one-request upstream on 127.0.0.1: keeps the request's body as it arrived, answers 200."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.body = b""

    def serve_one(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as reader:
            length, chunked = 0, False
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                length = int(value) if name.lower() == "content-length" else length
                chunked = chunked or name.lower() == "transfer-encoding"
            if chunked:  # up to the last chunk and the end of the (empty) HTTP trailer
                while not self.body.endswith(b"\r\n0\r\n\r\n"):
                    self.body += reader.read(1)
            else:
                self.body = reader.read(length)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.mark.parametrize("transfer", ["length", "chunked"])
def test_fix_trailer_puts_the_payloads_checksum_in_the_trailer(transfer: str) -> None:
    """fix_trailer rewrites a wrong aws-chunked trailer value to the payload's CRC (same length,
    same framing); everything else arrives as sent."""
    payload = b"hello world, trailer"
    right = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big"))
    content = _chunked(payload, 8)[: -len(b"\r\n")] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    headers = (
        "Host: 127.0.0.1\r\nContent-Encoding: aws-chunked\r\n"
        f"x-amz-decoded-content-length: {len(payload)}\r\nx-amz-trailer: x-amz-checksum-crc32\r\n"
    )
    if transfer == "chunked":  # HTTP chunks of 7 bytes around the aws-chunks
        wire = _chunked(content, 7)
        headers += "Transfer-Encoding: chunked\r\n"
    else:
        wire = content
        headers += f"Content-Length: {len(content)}\r\n"
    recorder = _Recorder()
    with (
        ThreadPoolExecutor(1) as pool,
        FaultProxy(f"http://127.0.0.1:{recorder.port}") as proxy,
    ):
        served = pool.submit(recorder.serve_one)
        rule = proxy.fix_trailer(method="PUT")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(f"PUT /b/k HTTP/1.1\r\n{headers}\r\n".encode() + wire)
            with sock.makefile("rb") as reader:
                assert _read_response(reader)[0] == 200
        served.result(timeout=10)
    recorder.listener.close()
    fixed = content.replace(b"AAAAAA==", right)
    assert recorder.body == (_chunked(fixed, 7) if transfer == "chunked" else fixed)
    assert rule.applied == 1
