"""UploadPart and PutObject with the checksum in an aws-chunked trailer (s3sink._store.trailers)
against moto over plain HTTP: what goes on the wire (framing, headers, the signature's payload
hash), what moto stores, retries, and that the client's other requests are left alone; then
over HTTPS (a TLS relay in front of moto), where botocore has a trailer of its own."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from s3sink._store.awschunked import encode_aws_chunked, encoded_length
from s3sink._store.trailers import (
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    install_trailer_hooks,
    put_object_with_trailer,
    sending_trailer,
    upload_part_with_trailer,
    wrong_checksum,
)
from tests.support.doctor import s3sink_client
from tests.support.motoserver import MotoServer
from tests.support.tlsrelay import TlsRelay

DATA = bytes(range(256)) * 80  # 20 KiB: two 8 KiB chunks and a 4 KiB one
CHUNK = 8 * 1024


@pytest.fixture(params=["default", "checksum-off", "signed"])
def client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: Any) -> Iterator[Any]:
    """An s3sink-built client: as the writer builds it (a CRC header, unsigned payloads), with
    no checksum (botocore adds none), and one that signs payloads (SHA-256, as over HTTP)."""
    kwargs: dict[str, Any] = {
        "default": {},
        "checksum-off": {"checksum": None},
        "signed": {"sign_payload": True},
    }[request.param]
    built = s3sink_client(s3_endpoint, monkeypatch, **kwargs)
    yield built
    built.close()


class Wire:
    """The requests a client sends (headers in lower case, the body as bytes)."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[dict[str, str], bytes]] = []
        client.meta.events.register("before-send.s3", self.record, unique_id="test-wire")

    def record(self, request: Any, **_: Any) -> None:
        body = request.body
        raw = body if isinstance(body, bytes) else body.read() if body is not None else b""
        if hasattr(body, "seek"):
            body.seek(0)
        headers = {
            k.lower(): v if isinstance(v, str) else v.decode() for k, v in request.headers.items()
        }
        self.sent.append((headers, raw))


def upload(client: Any, bucket: str) -> str:
    """A multipart upload of key ``k`` created as s3sink creates one (CRC64NVME, FULL_OBJECT)."""
    created = client.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )
    return str(created["UploadId"])


def test_upload_part_goes_aws_chunked_with_the_trailer(client: Any, bucket: str) -> None:
    """The body is the aws-chunked framing of the part, with a Content-Length (no HTTP chunked
    framing), signed as STREAMING-UNSIGNED-PAYLOAD-TRAILER with the trailer's headers, whatever
    the client would have sent; moto decodes it: the part is the data, its ETag the data's MD5."""
    upload_id, wire = upload(client, bucket), Wire(client)
    with sending_trailer(client, chunk_size=CHUNK) as sent:
        response = client.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=DATA
        )
    headers, body = wire.sent[-1]
    assert body == encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK)
    assert body.endswith(f"\r\n0\r\nx-amz-checksum-crc64nvme:{sent.checksum}\r\n\r\n".encode())
    assert sent.value == sent.checksum
    assert headers["x-amz-content-sha256"] == STREAMING_UNSIGNED_PAYLOAD_TRAILER
    assert headers["content-encoding"] == "aws-chunked"
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc64nvme"
    assert headers["x-amz-decoded-content-length"] == str(len(DATA))
    assert headers["content-length"] == str(encoded_length(len(DATA), "crc64nvme", CHUNK))
    assert "transfer-encoding" not in headers
    assert not [h for h in headers if h.startswith(("x-amz-checksum-", "x-amz-sdk-checksum"))]
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"x-amz-content-sha256", "x-amz-trailer", "x-amz-decoded-content-length"} <= set(signed)
    assert sent.headers == headers
    assert response["ETag"].strip('"') == hashlib.md5(DATA).hexdigest()  # noqa: S324 - ETag
    parts = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in parts] == [len(DATA)]


def test_a_wrong_trailer_changes_only_the_trailer(client: Any, bucket: str) -> None:
    """``wrong=True``: the same chunks, a trailer value of the right length that is not the
    data's checksum (moto takes it: it checks nothing, TESTING-NOTES)."""
    upload_id, wire = upload(client, bucket), Wire(client)
    upload_part_with_trailer(
        client,
        chunk_size=CHUNK,
        wrong=True,
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        PartNumber=2,
        Body=DATA,
    )
    _, body = wire.sent[-1]
    wrong = wrong_checksum("crc64nvme", DATA)
    assert body == encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK, value=wrong)
    assert len(wrong) == len(encode_aws_chunked(b"", "crc64nvme")) - len(
        b"0\r\nx-amz-checksum-crc64nvme:\r\n\r\n"
    )
    right = encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK)
    assert body != right
    assert len(body) == len(right)


@pytest.mark.parametrize("algorithm", ["crc32c", "crc32", "sha256"])
def test_put_object_with_trailer_stores_the_data(client: Any, bucket: str, algorithm: Any) -> None:
    """PutObject too, in each algorithm: the object read back is the data, not its framing."""
    wire = Wire(client)
    put_object_with_trailer(client, algorithm, chunk_size=CHUNK, Bucket=bucket, Key="p", Body=DATA)
    headers, _ = wire.sent[-1]
    assert headers["x-amz-trailer"] == f"x-amz-checksum-{algorithm}"
    assert client.get_object(Bucket=bucket, Key="p")["Body"].read() == DATA


def test_a_retried_part_is_framed_and_signed_again(client: Any, bucket: str) -> None:
    """A connection lost on the first attempt: botocore's retry sends the same framed body
    under the same payload hash (the hooks act on every attempt, not once)."""
    upload_id = upload(client, bucket)
    attempts: list[tuple[str, bytes]] = []

    def fail_first(request: Any, **_: Any) -> None:
        attempts.append((request.headers["X-Amz-Content-SHA256"], bytes(request.body)))
        if len(attempts) == 1:
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.s3.UploadPart", fail_first)
    upload_part_with_trailer(
        client,
        chunk_size=CHUNK,
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        PartNumber=1,
        Body=DATA,
    )
    framed = encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK)
    assert attempts == [(STREAMING_UNSIGNED_PAYLOAD_TRAILER.encode(), framed)] * 2


def test_other_requests_are_left_alone(client: Any, bucket: str) -> None:
    """Another thread's UploadPart during the block, and this thread's after it, go as the
    client sends them: no aws-chunked framing, no trailer."""
    upload_id, wire = upload(client, bucket), Wire(client)
    other: dict[str, Any] = {}

    def part_two() -> None:
        other["response"] = client.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=DATA
        )

    with sending_trailer(client, chunk_size=CHUNK):
        thread = threading.Thread(target=part_two)
        thread.start()
        thread.join()
    client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=3, Body=DATA)
    assert "response" in other
    for headers, body in wire.sent:
        assert "x-amz-trailer" not in headers
        assert headers["x-amz-content-sha256"] != STREAMING_UNSIGNED_PAYLOAD_TRAILER
        assert body == DATA


def test_blocks_do_not_nest_and_check_their_arguments(client: Any) -> None:
    """A nested block, an unknown algorithm, a chunk size of 0: refused before any request."""
    nested = pytest.raises(RuntimeError, match="nest")
    with sending_trailer(client), nested, sending_trailer(client):
        pass
    unknown = pytest.raises(ValueError, match="no trailing checksum")
    with unknown, sending_trailer(client, "md5"):  # type: ignore[arg-type]
        pass
    with pytest.raises(ValueError, match="chunk_size"), sending_trailer(client, chunk_size=0):
        pass


def test_over_https_the_trailer_is_ours_not_botocores(
    moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over HTTPS botocore sends a trailer of its own (HTTP chunked around its wrapper, CRC32):
    inside the block the part goes once, in s3sink's framing with a Content-Length, signed
    the same way, and moto stores the data."""
    with TlsRelay(moto_server.port, tmp_path) as relay:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(relay.ca_file))
        client = s3sink_client(relay.endpoint_url, monkeypatch)
        upload_id, wire = upload(client, bucket), Wire(client)
        part = {"Bucket": bucket, "Key": "k", "UploadId": upload_id, "Body": DATA}
        client.upload_part(PartNumber=1, **part)
        theirs, _ = wire.sent[-1]
        with sending_trailer(client, chunk_size=CHUNK) as sent:
            response = client.upload_part(PartNumber=2, **part)
        client.close()
    assert (theirs["transfer-encoding"], theirs["x-amz-trailer"]) == (
        "chunked",
        "x-amz-checksum-crc32",
    )
    headers, body = wire.sent[-1]
    assert body == encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK)
    assert "transfer-encoding" not in headers
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc64nvme"
    assert headers["x-amz-content-sha256"] == STREAMING_UNSIGNED_PAYLOAD_TRAILER
    assert sent.value == sent.checksum
    assert response["ETag"].strip('"') == hashlib.md5(DATA).hexdigest()  # noqa: S324 - ETag


def test_hooks_installed_again_frame_once(client: Any, bucket: str) -> None:
    """Installing the hooks again (every block does) registers nothing more: the second and
    third parts are framed once, like the first."""
    upload_id, wire = upload(client, bucket), Wire(client)
    install_trailer_hooks(client)
    for number in (1, 2, 3):
        install_trailer_hooks(client)
        upload_part_with_trailer(
            client,
            chunk_size=CHUNK,
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=number,
            Body=DATA,
        )
    framed = encode_aws_chunked(DATA, "crc64nvme", chunk_size=CHUNK)
    assert [body for _, body in wire.sent[-3:]] == [framed] * 3
