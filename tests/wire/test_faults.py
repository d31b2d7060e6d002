"""Faults injected for real: a TCP proxy between the writer and moto's server.

Each test asserts the object's bytes (or its absence) and that no multipart upload is left
pending, unless its docstring says why one must be.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from s3sink import S3MultipartWriter
from s3sink.errors import AbortFailedError, CompleteError, PartUploadError, UploadError
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import make_client

MiB = 1024 * 1024
PART = r"[?&]partNumber=%d(&|$)"


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> Iterator[Any]:
    """A client that goes through the fault proxy, with quick retries and timeouts."""
    client = make_client(
        fault_proxy.endpoint_url,
        retries={"mode": "standard", "max_attempts": 4},
        read_timeout=2,
        connect_timeout=2,
    )
    yield client
    client.close()


def pending(client: Any, bucket: str) -> list[str]:
    """Upload ids still pending in the bucket."""
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [u["UploadId"] for u in uploads]


def objects(client: Any, bucket: str) -> list[str]:
    """Keys in the bucket."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def upload(client: Any, bucket: str, data: bytes, **options: Any) -> S3MultipartWriter:
    """Write ``data`` through a writer in 1 MiB pieces and close it."""
    options.setdefault("part_size", 5 * MiB)
    with S3MultipartWriter(bucket, "obj", client=client, **options) as w:
        for i in range(0, len(data), MiB):
            w.write(data[i : i + MiB])
    return w


def test_reset_mid_part_on_several_parts(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str
) -> None:
    """Connections reset halfway through the bodies of parts 1 and 3 are retried; the
    object completes with identical bytes."""
    fault_proxy.reset_after(2 * MiB, method="PUT", path=PART % 1)
    fault_proxy.reset_after(3 * MiB, method="PUT", path=PART % 3)
    data = os.urandom(17 * MiB)
    w = upload(proxied, bucket, data)
    assert [e.fault for e in fault_proxy.log].count("reset_after") == 2
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert w.result.parts == 4
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_server_error_bursts(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str, status: int, code: str
) -> None:
    """Bursts of 5xx answers on UploadPart and on CompleteMultipartUpload are retried."""
    fault_proxy.respond(status, code, method="PUT", path=PART % 2, times=2)
    fault_proxy.respond(status, code, method="POST", path=r"uploadId=", times=2)
    data = os.urandom(12 * MiB)
    upload(proxied, bucket, data)
    assert [e.fault for e in fault_proxy.log].count("respond") == 4
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert pending(s3_client, bucket) == []


def test_lost_complete_response_is_resolved(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str
) -> None:
    """The Complete response is lost after the server completed; the retried Complete fails
    (moto answers 500 where S3 answers NoSuchUpload) and s3sink confirms the object landed
    with our size and whole-object checksum, and reports success."""
    fault_proxy.drop_response(method="POST", path=r"uploadId=")
    data = os.urandom(11 * MiB)
    w = upload(proxied, bucket, data)
    assert "drop_response" in [e.fault for e in fault_proxy.log]
    assert w.result.size == len(data)
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert objects(s3_client, bucket) == ["obj"]
    assert pending(s3_client, bucket) == []


def test_lost_complete_response_with_other_object_fails(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str
) -> None:
    """When Complete fails for good and the key holds some other object, s3sink does not
    mistake it for ours: the error stands and the other object is untouched."""
    s3_client.put_object(Bucket=bucket, Key="obj", Body=b"someone else's")
    fault_proxy.respond(500, "InternalError", method="POST", path=r"uploadId=", times=None)
    with pytest.raises(CompleteError):
        upload(proxied, bucket, os.urandom(11 * MiB))
    fault_proxy.clear_rules()
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"someone else's"
    assert pending(s3_client, bucket) == []


def test_lost_create_response_leaves_documented_orphan(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str
) -> None:
    """A lost CreateMultipartUpload response makes botocore retry, which creates a second
    upload: the first one is an orphan s3sink never learns the id of. The upload completes;
    the orphan stays pending (documented) for `s3sink uploads abort` or a lifecycle rule."""
    fault_proxy.drop_response(method="POST", path=r"\?uploads")
    data = os.urandom(11 * MiB)
    w = upload(proxied, bucket, data)
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    orphans = pending(s3_client, bucket)
    assert len(orphans) == 1
    assert orphans[0] != w.result.upload_id


def test_stalled_part_is_retried(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str
) -> None:
    """A part whose response stalls beyond the read timeout is retried and completes."""
    fault_proxy.stall(4, method="PUT", path=PART % 2)
    data = os.urandom(12 * MiB)
    upload(proxied, bucket, data)
    assert "stall" in [e.fault for e in fault_proxy.log]
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert pending(s3_client, bucket) == []


def test_server_gone_mid_stream_reports_orphan(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """The server disappears after part 1: the part fails, the abort cannot reach the server,
    and the error names the orphaned upload id; once the server is back, aborting that id
    leaves nothing."""
    client = make_client(
        fault_proxy.endpoint_url,
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=1,
        read_timeout=2,
    )
    writer = S3MultipartWriter(bucket, "obj", client=client, part_size=5 * MiB, abort_timeout=5)
    writer.write(os.urandom(6 * MiB))  # part 1 is submitted once part 2 begins
    upload_id = writer.upload_id
    assert upload_id is not None
    fault_proxy.refuse_all()
    with pytest.raises((AbortFailedError, PartUploadError)) as info:
        writer.write(os.urandom(10 * MiB))
        writer.close()
    error = info.value
    if not isinstance(error, AbortFailedError):
        # The part's failure surfaced first; closing now aborts, and the abort fails.
        with pytest.raises(AbortFailedError) as abort_info:
            writer.close()
            writer.abort()
        error = abort_info.value
    assert error.upload_id == upload_id
    assert upload_id in str(error)
    fault_proxy.accept_again()
    assert pending(s3_client, bucket) == [upload_id]
    s3_client.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id)
    assert pending(s3_client, bucket) == []
    assert objects(s3_client, bucket) == []
    client.close()


class Boom(Exception):
    """The producer's failure."""


def test_a_404_from_something_not_the_store_keeps_the_resume_journal(
    fault_proxy: FaultProxy, proxied: Any, s3_client: Any, bucket: str, tmp_path: Any
) -> None:
    """A proxy (or a wrong endpoint) answering ListParts with a plain 404 NotFound: the resume
    fails, but the journal stays, and once the store answers again the upload resumes.
    Only NoSuchUpload (and RGW's NoSuchKey) mean the upload is gone."""
    data = os.urandom(2 * 5 * MiB + 7)
    w = S3MultipartWriter(
        bucket, "obj", client=proxied, part_size=5 * MiB, resumable=True, journal_dir=tmp_path
    )
    with pytest.raises(Boom), w:
        w.write(data)
        raise Boom
    (journal,) = tmp_path.iterdir()
    fault_proxy.respond(
        404, "NotFound", "no such route", method="GET", path=r"[?&]uploadId=", times=None
    )
    resuming = S3MultipartWriter(
        bucket, "obj", client=proxied, part_size=5 * MiB, resume=True, journal_dir=tmp_path
    )
    with pytest.raises(UploadError, match=r"ListParts failed: NotFound \(HTTP 404\)"):
        resuming.write(data)
    resuming.abort()
    assert journal.exists()
    assert len(pending(s3_client, bucket)) == 1
    fault_proxy.clear_rules()
    with S3MultipartWriter(
        bucket, "obj", client=proxied, part_size=5 * MiB, resume=True, journal_dir=tmp_path
    ) as again:
        again.write(data)
    assert again.result.parts_skipped == 2
    assert s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sign", [True, False], ids=["signed-payload", "unsigned-payload"])
def test_bytes_sent_count_once_across_a_retry(
    fault_proxy: FaultProxy, bucket: str, sign: bool
) -> None:
    """Through botocore and a real connection: a part whose connection is reset after 2 MiB
    is sent again; its SendCounter counts what the HTTP layer read to send (not the signer's
    hashing read), is 0 as each attempt starts sending, and ends at the part's size, not
    size + 2 MiB."""
    from s3sink._store.boto import BotoTransport
    from s3sink._store.transport import SendCounter

    client = make_client(
        fault_proxy.endpoint_url,
        retries={"mode": "standard", "max_attempts": 3},
        s3={"payload_signing_enabled": sign},
    )
    transport = BotoTransport(client)
    counter = SendCounter()
    at_send: list[int] = []
    # Registered after BotoTransport's: runs once the payload was hashed (when signed),
    # just before the body goes out.
    client.meta.events.register(
        "before-send.s3.UploadPart", lambda **_: at_send.append(counter.sent)
    )
    fault_proxy.reset_after(2 * MiB, method="PUT", path=PART % 1)
    data = os.urandom(5 * MiB)
    upload_id = transport.create_multipart_upload(
        bucket, "obj", extra={}, checksum_algorithm=None, checksum_type=None
    )
    try:
        transport.upload_part(
            bucket, "obj", upload_id, 1, data, extra={}, checksum=None, sent=counter
        )
    finally:
        transport.abort_multipart_upload(bucket, "obj", upload_id)
        client.close()
    assert [e.fault for e in fault_proxy.log].count("reset_after") == 1
    hashes = {
        h.get("x-amz-content-sha256")
        for m, t, h in fault_proxy.request_headers
        if "partNumber" in t
    }
    assert (hashes == {"UNSIGNED-PAYLOAD"}) is not sign, hashes
    assert at_send == [0, 0]
    assert counter.sent == 5 * MiB  # the part once, not 7 MiB
