"""Checksums in aws-chunked trailers on each real store (moto, SeaweedFS, Ceph RGW): what each
does with a correct and a wrong trailer (s3sink._store.trailers) over HTTP and HTTPS (a TLS
relay in front), the doctor's ``upload_part.trailer`` verdict, and a store that takes any
trailer never passing for one that checks it (the fault proxy makes every trailer right on the
way to SeaweedFS)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from s3sink._doctor.probe import TRAILER, probe
from s3sink._doctor.probes import Probe
from s3sink._store.errors import error_code, http_status
from s3sink._store.trailers import put_object_with_trailer, upload_part_with_trailer
from s3sink.cli._doctor import render
from tests.support.doctor import s3sink_client
from tests.support.faultproxy import FaultProxy
from tests.support.stores import StoreServer
from tests.support.tlsrelay import TlsRelay

DATA = bytes(range(256)) * 80  # 20 KiB in 8 KiB chunks: 8, 8 and 4 KiB
CHUNK = 8 * 1024

#: What each store answered, the same over HTTP and HTTPS, measured 2026-12-05 on this machine
#: (moto 5.2.6, SeaweedFS 4.48, Ceph RGW 16.2): (UploadPart correct, UploadPart wrong,
#: PutObject correct, PutObject wrong): "200", or the error code and the HTTP status.
ANSWERS: dict[str, tuple[str, str, str, str]] = {
    "moto": ("200", "200", "200", "200"),  # decodes aws-chunked, checks no trailer
    "seaweedfs": ("200", "InvalidDigest 400", "200", "InvalidDigest 400"),
    # Pacific predates trailers: the literal is taken for a SHA-256 of the payload.
    "rgw": ("XAmzContentSHA256Mismatch 400",) * 4,
}
#: The doctor's verdict: only SeaweedFS refuses a wrong trailer.
VERDICTS = {"moto": "ignored", "seaweedfs": "validated", "rgw": "unsupported"}


def answer(call: Callable[[], Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]]:
    """ "200" and the response, or "CODE STATUS" (the store's refusal) and no response."""
    try:
        response = call()
    except Exception as exc:  # noqa: BLE001 - the store's refusal is what we record
        return f"{error_code(exc)} {http_status(exc)}", {}
    return str(response["ResponseMetadata"]["HTTPStatusCode"]), response


@pytest.fixture(params=["http", "https"])
def endpoint(
    request: Any, store: StoreServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store's endpoint over HTTP, or over HTTPS through a TLS relay (the CA trusted)."""
    if request.param == "http":
        yield store.endpoint_url
        return
    with TlsRelay(store.port, tmp_path) as relay:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(relay.ca_file))
        yield relay.endpoint_url


@pytest.mark.slow
def test_correct_and_wrong_trailers_on_each_store(
    store: StoreServer,
    endpoint: str,
    store_client: Any,
    store_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """UploadPart and PutObject, each with a correct then a wrong CRC64NVME trailer, over HTTP
    and HTTPS: each store does what ANSWERS says, and what it takes is the data (not its
    framing)."""
    client = s3sink_client(endpoint, monkeypatch, store.access_key, store.secret_key)
    created = client.create_multipart_upload(
        Bucket=store_bucket, Key="mpu", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )
    part = {"Bucket": store_bucket, "Key": "mpu", "UploadId": created["UploadId"], "Body": DATA}
    seen, responses = [], []
    for number, wrong in ((1, False), (2, True)):
        code, response = answer(
            lambda n=number, w=wrong: upload_part_with_trailer(
                client, chunk_size=CHUNK, wrong=w, PartNumber=n, **part
            )
        )
        seen.append(code)
        responses.append(response)
    for key, wrong in (("put-right", False), ("put-wrong", True)):
        code, response = answer(
            lambda k=key, w=wrong: put_object_with_trailer(
                client, chunk_size=CHUNK, wrong=w, Bucket=store_bucket, Key=k, Body=DATA
            )
        )
        seen.append(code)
    assert tuple(seen) == ANSWERS[store.name]
    md5 = hashlib.md5(DATA).hexdigest()  # noqa: S324 - the ETag's algorithm
    if seen[0] == "200":  # the part is the data: its ETag, its size
        assert responses[0]["ETag"].strip('"') == md5
        parts = client.list_parts(Bucket=store_bucket, Key="mpu", UploadId=created["UploadId"])
        assert [p["Size"] for p in parts["Parts"]][:1] == [len(DATA)]
    if seen[2] == "200":
        got = store_client.get_object(Bucket=store_bucket, Key="put-right")["Body"].read()
        assert got == DATA
    client.abort_multipart_upload(Bucket=store_bucket, Key="mpu", UploadId=created["UploadId"])
    client.close()


@pytest.mark.slow
def test_doctor_trailer_verdict_on_each_store(
    store: StoreServer, store_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The doctor's trailer step alone: each store's verdict, what it echoed, and the cleanup."""
    client = s3sink_client(store.endpoint_url, monkeypatch, store.access_key, store.secret_key)
    run = Probe(client, store_bucket, "t/")
    run.preflight()
    run.trailer()
    assert run.cleanup() == []
    client.close()
    finding = run.findings[TRAILER]
    assert finding.verdict == VERDICTS[store.name], finding
    facts = run.facts["trailer"]
    if store.name == "seaweedfs":  # echoes the right checksum, refuses the wrong one
        assert facts == {
            "correct": "HTTP 200",
            "wrong": "InvalidDigest (HTTP 400)",
            "echoed": True,
            "echoed_wrong": False,
            "etag_is_md5": True,
        }
    if store.name == "rgw":
        assert finding.detail == ("refused a correct trailer: XAmzContentSHA256Mismatch (HTTP 400)")
        assert facts["etag_is_md5"] is None


@pytest.mark.slow
# It needs a store that refuses a wrong trailer by itself: SeaweedFS.
@pytest.mark.parametrize("store", ["seaweedfs"], indirect=True)
def test_a_store_that_takes_any_trailer_is_not_validated(
    store: StoreServer, store_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS behind a proxy that makes every trailer right (a store that ignores the
    client's value, as moto does): both parts are taken, so the verdict is "ignored" and the
    doctor says parts must not stream with trailers -- acceptance alone proves nothing."""
    with FaultProxy(store.endpoint_url) as proxy:
        rule = proxy.fix_trailer(method="PUT", path=r"/part-trailer\?.*partNumber=2(&|$)")
        client = s3sink_client(proxy.endpoint_url, monkeypatch, store.access_key, store.secret_key)
        report = probe(client, store_bucket, "proxied/")
        client.close()
    assert rule.applied == 1
    assert report.capabilities()[TRAILER] == "ignored"
    assert report.trailers is False
    assert report.cleanup_errors == ()
    assert report.capabilities()["upload_part.checksum.crc64nvme"] == "validated"  # untouched
    assert (
        "checksums in aws-chunked trailers: not validated "
        "(the store accepted a wrong trailing checksum: "
    ) in render(report)
