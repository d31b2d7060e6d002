"""The writer against a real S3 server (moto, in its own process on 127.0.0.1).

These go through botocore's real HTTP path: signing, pooling, retries, checksum headers.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from awscrt import checksums

import s3sink
from s3sink import S3MultipartWriter
from s3sink._store.client import build_client
from s3sink.errors import PartUploadError, PreconditionFailed, UploadError
from tests.support.localserver import FixedAnswerServer, free_port
from tests.support.motoserver import DUMMY_CREDENTIALS, make_client

MiB = 1024 * 1024


def pending_uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's in-progress multipart uploads."""
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def keys(client: Any, bucket: str) -> list[str]:
    """The bucket's object keys."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def read(client: Any, bucket: str, key: str) -> bytes:
    """An object's bytes."""
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def crc64(data: bytes) -> str:
    """CRC64NVME in S3's encoding, computed independently of s3sink."""
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def random_writes(writer: Any, data: bytes, seed: int, largest: int = 3 * MiB) -> None:
    """Write ``data`` in random-sized pieces, some of them bytearrays or memoryviews."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        n = rng.randint(1, largest)
        piece = data[pos : pos + n]
        kind = rng.randrange(3)
        writer.write(piece if kind == 0 else bytearray(piece) if kind == 1 else memoryview(piece))
        pos += n


@pytest.fixture
def capture(s3_client: Any) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """Records (operation, headers) of every request the client sends."""
    seen: list[tuple[str, dict[str, str]]] = []

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        seen.append((op, headers))

    s3_client.meta.events.register("before-send.s3", before_send)
    yield seen
    s3_client.meta.events.unregister("before-send.s3", before_send)


@pytest.mark.slow
def test_200_mib_random_writes_round_trip(s3_client: Any, bucket: str) -> None:
    """200 MiB written in random-sized pieces reads back identical, as one multipart object."""
    data = os.urandom(200 * MiB + 12345)
    with S3MultipartWriter(bucket, "big.bin", client=s3_client, part_size=8 * MiB) as w:
        random_writes(w, data, seed=1)
    assert read(s3_client, bucket, "big.bin") == data
    result = w.result
    expected_parts = -(-len(data) // (8 * MiB))
    assert result.parts == expected_parts
    assert result.etag.strip('"').endswith(f"-{expected_parts}")
    assert result.size == len(data)
    assert pending_uploads(s3_client, bucket) == []
    assert w.peak_memory <= (4 + 1) * 8 * MiB


def test_multipart_checksum_matches_head_object(s3_client: Any, bucket: str, capture: Any) -> None:
    """The FULL_OBJECT CRC64NVME reported equals HeadObject's and an independent one."""
    data = os.urandom(11 * MiB + 7)
    with S3MultipartWriter(bucket, "k", client=s3_client, part_size=5 * MiB) as w:
        random_writes(w, data, seed=2)
    head = s3_client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert w.result.checksum == crc64(data) == head["ChecksumCRC64NVME"]
    assert w.result.checksum_type == "FULL_OBJECT" == head.get("ChecksumType")
    complete = [h for op, h in capture if op == "CompleteMultipartUpload"]
    assert len(complete) == 1
    assert complete[0]["x-amz-checksum-crc64nvme"] == crc64(data)
    assert complete[0]["x-amz-checksum-type"] == "FULL_OBJECT"
    assert complete[0]["x-amz-mp-object-size"] == str(len(data))
    parts = [h for op, h in capture if op == "UploadPart"]
    assert len(parts) == 3
    assert all("x-amz-checksum-crc64nvme" in h for h in parts)


def test_small_stream_is_one_put_object(s3_client: Any, bucket: str, capture: Any) -> None:
    """A stream that ends inside the first part is a single PutObject with its checksum."""
    with s3sink.open(f"s3://{bucket}/small.txt", "wb", client=s3_client) as w:
        w.write(b"hello ")
        w.write(b"world")
    assert [op for op, _ in capture] == ["PutObject"]
    assert read(s3_client, bucket, "small.txt") == b"hello world"
    assert capture[0][1]["x-amz-checksum-crc64nvme"] == crc64(b"hello world")
    assert w.result.upload_id is None
    assert w.result.parts == 1
    assert pending_uploads(s3_client, bucket) == []


def test_empty_stream_is_an_empty_object(s3_client: Any, bucket: str) -> None:
    """Closing a writer that got no data publishes an empty object and leaves no upload."""
    with S3MultipartWriter(bucket, "empty", client=s3_client):
        pass
    assert read(s3_client, bucket, "empty") == b""
    assert pending_uploads(s3_client, bucket) == []


def test_exactly_one_part_is_one_put_object(s3_client: Any, bucket: str, capture: Any) -> None:
    """A stream of exactly one part size is still a single PutObject (no multipart)."""
    data = os.urandom(5 * MiB)
    with S3MultipartWriter(bucket, "one", client=s3_client, part_size=5 * MiB) as w:
        w.write(data)
    assert [op for op, _ in capture] == ["PutObject"]
    assert read(s3_client, bucket, "one") == data


def test_exception_in_with_aborts(s3_client: Any, bucket: str) -> None:
    """An exception inside ``with`` after several parts leaves no object and no upload."""
    with (
        pytest.raises(RuntimeError, match="producer died"),
        S3MultipartWriter(bucket, "k", client=s3_client, part_size=5 * MiB) as w,
    ):
        w.write(os.urandom(16 * MiB))
        raise RuntimeError("producer died")
    assert keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


def test_text_mode_exception_aborts(s3_client: Any, bucket: str) -> None:
    """Text mode: an exception inside ``with`` aborts instead of completing (smart_open#763)."""
    with (
        pytest.raises(ValueError, match="bad row"),
        s3sink.open(f"s3://{bucket}/t.csv", "w", client=s3_client, part_size=5 * MiB) as f,
    ):
        for i in range(400_000):
            f.write(f"{i},row number {i}\n")
        raise ValueError("bad row")
    assert keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


def test_text_mode_round_trip(s3_client: Any, bucket: str) -> None:
    """Text mode encodes as UTF-8 and completes on a clean exit."""
    with s3sink.open(f"s3://{bucket}/t.txt", "w", client=s3_client) as f:
        f.write("grüße\n")
    assert read(s3_client, bucket, "t.txt") == "grüße\n".encode()


def test_garbage_collected_writer_aborts(s3_client: Any, bucket: str) -> None:
    """A writer dropped without close() aborts its upload and warns; nothing is published."""
    w = S3MultipartWriter(bucket, "gc", client=s3_client, part_size=5 * MiB)
    w.write(os.urandom(11 * MiB))
    assert w.upload_id is not None
    with pytest.warns(ResourceWarning, match="garbage-collected"):
        del w
        gc.collect()
    assert keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


def test_explicit_abort_discards(s3_client: Any, bucket: str) -> None:
    """abort() after parts were uploaded leaves nothing; close() afterwards is a no-op."""
    w = S3MultipartWriter(bucket, "ab", client=s3_client, part_size=5 * MiB)
    w.write(os.urandom(12 * MiB))
    w.abort()
    w.abort()
    w.close()
    assert w.closed
    assert keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


def test_missing_bucket_names_bucket_and_key(s3_client: Any, bucket: str) -> None:
    """A missing bucket fails with an error naming bucket and key, chained to botocore's."""
    with (
        pytest.raises(UploadError) as info,
        S3MultipartWriter("no-such-bucket-here", "k", client=s3_client) as w,
    ):
        w.write(b"x")
    assert "s3://no-such-bucket-here/k" in str(info.value)
    assert "NoSuchBucket" in str(info.value)
    assert info.value.__cause__ is not None


def test_part_failing_after_retries_aborts(s3_endpoint: str, bucket: str) -> None:
    """A part whose every attempt fails raises PartUploadError (with the part number) and
    aborts: no object, no pending upload."""
    from botocore.exceptions import ConnectionClosedError

    client = make_client(s3_endpoint, retries={"mode": "standard", "max_attempts": 2})

    def fail_part_2(request: Any, **_: Any) -> None:
        if "partNumber=2" in request.url:
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.s3.UploadPart", fail_part_2)
    with (
        pytest.raises(PartUploadError) as info,
        S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB) as w,
    ):
        w.write(os.urandom(16 * MiB))
    assert info.value.part_number == 2
    assert "part 2" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionClosedError)
    assert keys(client, bucket) == []
    assert pending_uploads(client, bucket) == []
    client.close()


def test_transient_reset_is_retried(s3_endpoint: str, bucket: str) -> None:
    """A connection reset on a part is retried by the client and the object completes intact."""
    from botocore.exceptions import ConnectionClosedError

    client = make_client(s3_endpoint, retries={"mode": "standard", "max_attempts": 3})
    failed: list[str] = []

    def fail_once(request: Any, **_: Any) -> None:
        if "partNumber=2" in request.url and not failed:
            failed.append(request.url)
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.s3.UploadPart", fail_once)
    data = os.urandom(12 * MiB)
    with S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB) as w:
        w.write(data)
    assert failed
    assert read(client, bucket, "k") == data
    client.close()


def test_if_none_match_refuses_existing_key(s3_client: Any, bucket: str) -> None:
    """if_none_match="*" refuses to overwrite (PreconditionFailed), for PutObject and for
    CompleteMultipartUpload alike; the original object stays, no upload is left."""
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"original")
    with (
        pytest.raises(PreconditionFailed),
        S3MultipartWriter(bucket, "k", client=s3_client, if_none_match="*") as w,
    ):
        w.write(b"small")
    with (
        pytest.raises(PreconditionFailed),
        S3MultipartWriter(bucket, "k", client=s3_client, if_none_match="*", part_size=5 * MiB) as w,
    ):
        w.write(os.urandom(11 * MiB))
    assert read(s3_client, bucket, "k") == b"original"
    assert pending_uploads(s3_client, bucket) == []


def test_extra_args_are_applied(s3_client: Any, bucket: str) -> None:
    """extra_args (content type, metadata, tagging) reach the object on both paths."""
    extra = {"ContentType": "application/x-tar", "Metadata": {"a": "1"}, "Tagging": "t=v"}
    for key, size in (("small", 10), ("multi", 11 * MiB)):
        with S3MultipartWriter(bucket, key, client=s3_client, extra_args=extra) as w:
            w.write(os.urandom(size))
        head = s3_client.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "application/x-tar"
        assert head["Metadata"] == {"a": "1"}
        tags = s3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        assert tags == [{"Key": "t", "Value": "v"}]


def test_sha256_is_composite(s3_client: Any, bucket: str) -> None:
    """checksum="sha256" stores a COMPOSITE checksum of the part checksums ("-N")."""
    data = os.urandom(11 * MiB)
    with S3MultipartWriter(
        bucket, "k", client=s3_client, part_size=5 * MiB, checksum="sha256"
    ) as w:
        w.write(data)
    digests = [hashlib.sha256(data[i : i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    expected = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode() + "-3"
    assert w.result.checksum == expected
    assert read(s3_client, bucket, "k") == data


def test_checksum_off_sends_no_checksum_headers(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checksum=None with a client built for it (request_checksum_calculation
    "when_required") sends no checksum header on any request, small or multipart."""
    from s3sink._store.client import build_client

    # Dummy credentials, and never ask an instance metadata service for real ones.
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    client = build_client(concurrency=2, checksum=None, endpoint_url=s3_endpoint)
    seen: list[tuple[str, list[str]]] = []

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        names = [k.lower() for k in request.headers]
        seen.append((event_name.rsplit(".", 1)[-1], [n for n in names if "checksum" in n]))

    client.meta.events.register("before-send.s3", before_send)
    for key, size in (("small", 100), ("multi", 11 * MiB)):
        with S3MultipartWriter(bucket, key, client=client, part_size=5 * MiB, checksum=None) as w:
            w.write(os.urandom(size))
        assert w.result.checksum is None
    ops = [op for op, _ in seen]
    assert "PutObject" in ops
    assert "UploadPart" in ops
    assert "CompleteMultipartUpload" in ops
    assert [headers for _, headers in seen if headers] == []
    client.close()


@pytest.fixture
def dummy_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """Dummy credentials and region, no instance metadata, and an AWS config file of our own
    (returned) so the user's ~/.aws/config cannot change what a built client does."""
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = tmp_path / "aws-config"
    config.write_text("[default]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def content_sha256_by_operation(client: Any) -> dict[str, set[str]]:
    """Record the x-amz-content-sha256 header of every request, by operation."""
    seen: dict[str, set[str]] = {}

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        value = request.headers.get("X-Amz-Content-SHA256", b"")
        text = value.decode() if isinstance(value, bytes) else str(value)
        seen.setdefault(event_name.rsplit(".", 1)[-1], set()).add(text)

    client.meta.events.register("before-send.s3", before_send)
    return seen


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 a signed payload carries."""
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("checksum", "sign_payload", "signed"),
    [
        ("crc64nvme", None, False),  # the CRC guards the bytes: no SHA-256 of every byte
        ("crc64nvme", True, True),
        (None, None, True),  # no checksum at all: the signature is the only guard
        ("crc32c", False, False),
    ],
)
def test_built_client_signs_payloads_only_when_nothing_else_guards_them(
    s3_endpoint: str,
    bucket: str,
    s3_client: Any,
    dummy_credentials: Any,
    checksum: str | None,
    sign_payload: bool | None,
    signed: bool,
) -> None:
    """Over plain HTTP botocore hashes every payload byte for SigV4 unless told not to;
    the built client skips it when each part carries a checksum the store verifies."""
    from s3sink._store.client import build_client

    client = build_client(
        concurrency=2,
        checksum=checksum,
        endpoint_url=s3_endpoint,
        sign_payload=sign_payload,
    )
    seen = content_sha256_by_operation(client)
    data = os.urandom(11 * MiB)
    with S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB, checksum=checksum) as w:
        w.write(data)
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    expected = {sha256_hex(p) for p in parts} if signed else {"UNSIGNED-PAYLOAD"}
    assert seen["UploadPart"] == expected
    assert read(s3_client, bucket, "k") == data
    client.close()


def test_aws_config_file_choice_of_payload_signing_wins(
    s3_endpoint: str, bucket: str, dummy_credentials: Any
) -> None:
    """payload_signing_enabled in the AWS config file overrides the automatic choice."""
    from s3sink._store.client import build_client

    dummy_credentials.write_text("[default]\ns3 =\n    payload_signing_enabled = true\n")
    client = build_client(concurrency=2, endpoint_url=s3_endpoint)
    seen = content_sha256_by_operation(client)
    with S3MultipartWriter(bucket, "k", client=client, part_size=5 * MiB) as w:
        w.write(b"x" * 100)
    assert seen["PutObject"] == {sha256_hex(b"x" * 100)}
    client.close()


def tries_against_a_failing_port(max_attempts: int | None) -> int:
    """How many requests a built client sends to a server that answers every one with 503
    (retried by botocore). A port that refuses connections would not do: built clients do not
    retry an endpoint that never answered (test_an_endpoint_never_reached_is_tried_once)."""
    from botocore.exceptions import ClientError

    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with FixedAnswerServer(answer) as server:
        client = build_client(
            concurrency=1, endpoint_url=server.endpoint_url, max_attempts=max_attempts
        )
        tries: list[str] = []
        client.meta.events.register("before-send.s3", lambda **_: tries.append("x"))
        try:
            with pytest.raises(ClientError):
                client.head_bucket(Bucket="b")
        finally:
            client.close()
    return len(tries)


def test_built_client_max_attempts_counts_every_try(dummy_credentials: Any) -> None:
    """max_attempts is the total number of tries: 1 means no retry at all."""
    from s3sink._store.client import build_client

    assert tries_against_a_failing_port(1) == 1
    assert tries_against_a_failing_port(3) == 3
    with pytest.raises(ValueError, match="max_attempts"):
        build_client(concurrency=1, max_attempts=0)


def test_built_client_takes_max_attempts_from_the_environment_unless_given(
    dummy_credentials: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_MAX_ATTEMPTS (and the config file's max_attempts) stay botocore's settings: they
    replace s3sink's default of 10, and an explicit max_attempts replaces them."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert tries_against_a_failing_port(None) == 2
    assert tries_against_a_failing_port(1) == 1
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    dummy_credentials.write_text("[default]\nmax_attempts = 3\n")
    assert tries_against_a_failing_port(None) == 3


def test_botocore_computing_its_own_checksum_reads_the_body_correctly(
    s3_client: Any, bucket: str
) -> None:
    """With checksum=None on a default client, botocore computes a CRC32 of its own by
    reading the body (views of the part buffer); the header must match the bytes."""
    sent: list[tuple[bytes, str]] = []

    def before_send(request: Any, **_: Any) -> None:
        value = request.headers.get("x-amz-checksum-crc32")
        if value is not None:
            body = request.body
            body.seek(0)
            sent.append((b"".join(bytes(c) for c in iter(lambda: body.read(MiB), b"")), value))
            body.seek(0)

    s3_client.meta.events.register("before-send.s3.UploadPart", before_send)
    data = os.urandom(11 * MiB + 3)
    try:
        with S3MultipartWriter(
            bucket, "k", client=s3_client, part_size=5 * MiB, checksum=None
        ) as w:
            w.write(data)
    finally:
        s3_client.meta.events.unregister("before-send.s3.UploadPart", before_send)
    assert read(s3_client, bucket, "k") == data
    assert sorted(len(part) for part, _ in sent) == [MiB + 3, 5 * MiB, 5 * MiB]
    for part, value in sent:
        expected = base64.b64encode(checksums.crc32(part).to_bytes(4, "big")).decode()
        assert (value.decode() if isinstance(value, bytes) else value) == expected


# -- clients built by s3sink ------------------------------------------------------------------
def test_open_builds_the_client_from_endpoint_region_and_profile(
    s3_client: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3sink.open(uri, endpoint_url=..., region=...) reaches the store as the command does."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    endpoint = s3_client.meta.endpoint_url
    with s3sink.open(f"s3://{bucket}/t.txt", "w", endpoint_url=endpoint, region="eu-west-1") as f:
        f.write("hello")
    assert s3_client.get_object(Bucket=bucket, Key="t.txt")["Body"].read() == b"hello"


def test_an_endpoint_never_reached_is_tried_once(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused before the store ever answered: one attempt, not ten, and the
    error names the endpoint."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = build_client(concurrency=1, endpoint_url=f"http://127.0.0.1:{free_port()}")
    sent: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **kw: sent.append(request.url))
    w = s3sink.S3MultipartWriter(bucket, "k", client=client)
    w.write(b"x")
    with pytest.raises(s3sink.UploadError, match="Could not connect"):
        w.close()
    assert len(sent) == 1
