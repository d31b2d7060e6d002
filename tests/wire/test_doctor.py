"""The doctor's probe engine (s3sink._doctor.probe) against moto: its verdicts, and that it
leaves nothing behind, even when interrupted. The recommended flags:
tests/unit/test_doctor_recommend.py; the real stores: tests/stores/test_doctor_stores.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3sink._doctor.probe import CAPABILITIES, ProbeFailed, probe
from s3sink._doctor.probes import Probe
from tests.support.doctor import MOTO, s3sink_client
from tests.support.localserver import free_port

MiB = 1024 * 1024


@pytest.fixture
def client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An s3sink-built client for the (reset) moto server."""
    built = s3sink_client(s3_endpoint, monkeypatch)
    yield built
    built.close()


def leftovers(s3_client: Any, bucket: str) -> dict[str, list[str]]:
    """Every object, object version and in-progress upload in the bucket."""
    objects = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    versions = s3_client.list_object_versions(Bucket=bucket)
    uploads = s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return {
        "objects": [o["Key"] for o in objects],
        "versions": [
            v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
        ],
        "uploads": [u["Key"] for u in uploads],
    }


NOTHING: dict[str, list[str]] = {"objects": [], "versions": [], "uploads": []}


def interrupt_at(step: int) -> Callable[[str], None]:
    """An on_step callback that raises KeyboardInterrupt at the ``step``-th step (1-based)."""
    seen: list[str] = []

    def on_step(title: str) -> None:
        seen.append(title)
        if len(seen) == step:
            raise KeyboardInterrupt

    return on_step


def test_moto_verdicts_and_facts(client: Any, s3_client: Any, bucket: str) -> None:
    """Against moto, every capability gets the verdict moto deserves, and nothing stays."""
    steps: list[str] = []
    report = probe(client, bucket, "backups/db", endpoint="http://moto", on_step=steps.append)
    assert report.capabilities() == MOTO
    assert list(report.capabilities()) == list(CAPABILITIES)
    assert report.cleanup_errors == ()
    assert leftovers(s3_client, bucket) == NOTHING
    assert (report.endpoint, report.bucket, report.prefix) == ("http://moto", bucket, "backups/db")
    assert report.facts["temporary_prefix"].startswith("backups/db/.s3sink-doctor-")
    assert steps[0] == "bucket access"
    assert len(steps) == 10

    details = {f.name: f.detail for f in report.findings}
    assert details["put_object.checksum.crc64nvme"] == (
        "accepted a wrong value (HTTP 200), echoed it, stored it"
    )
    assert (
        details["upload_part.checksum.crc64nvme"] == "accepted a wrong value (HTTP 200), echoed it"
    )
    assert details["complete.if_match"] == "accepted a wrong value (HTTP 200)"
    assert details["put_object.if_none_match"] == "PreconditionFailed (HTTP 412)"
    assert details["min_part_size"] == "EntityTooSmall (HTTP 400)"
    assert details["upload_part.trailer"] == (
        "accepted a wrong value (HTTP 200); correct trailer: HTTP 200, did not echo it"
    )
    assert not report.trailers  # moto takes a wrong trailer: never stream parts with one

    facts = report.facts
    assert facts["echoes"] == {
        "put_object": True,
        "put_object_wrong": True,
        "upload_part": True,
        "upload_part_wrong": True,  # echo without checking
        "upload_part_without_sdk_header": False,
        "upload_part_wrong_without_sdk_header": False,
        "complete": False,
    }
    assert facts["etag_is_md5"] == {"put_object": True, "upload_part": True}
    assert facts["trailer"] == {
        "correct": "HTTP 200",
        "wrong": "HTTP 200",
        "echoed": False,
        "echoed_wrong": False,
        "etag_is_md5": True,  # it decoded the aws-chunked framing
    }
    assert facts["list_parts_after_abort"] == "NoSuchUpload (HTTP 404)"
    assert facts["if_match_forms"]["put_object"] == {"quoted": True, "unquoted": True}
    assert facts["min_part_size"] == 5 * MiB
    assert facts["warnings"] == []
    # Echoes of wrong checksums would confirm corrupt parts: verify by Content-MD5 and ETags.
    assert report.recommended == ("--checksum", "off")


def test_wrong_values_reach_the_wire(client: Any, bucket: str) -> None:
    """botocore sends the probe's values as given (a checksum it did not compute, with the SDK's
    algorithm header), and the SigV4 probe signs its payload and sends no checksum header; the
    probe's hooks are gone afterwards."""
    sent: list[tuple[str, dict[str, str]]] = []

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        sent.append((request.url, headers))

    client.meta.events.register("before-send.s3.PutObject", before_send)
    probe(client, bucket, "w")
    crc_puts = [h for url, h in sent if url.endswith("/crc64nvme")]
    assert len({h["x-amz-checksum-crc64nvme"] for h in crc_puts}) == 2  # the right one, the wrong
    assert {h["x-amz-sdk-checksum-algorithm"] for h in crc_puts} == {"CRC64NVME"}
    signed = [h for url, h in sent if "/sigv4-" in url]
    assert len(signed) == 2
    assert all(len(h["x-amz-content-sha256"]) == 64 for h in signed)
    assert not [k for h in signed for k in h if k.startswith(("x-amz-checksum", "x-amz-sdk"))]

    sent.clear()
    client.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert sent[0][1]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"  # the client as it was


def test_report_is_json_ready(client: Any, bucket: str) -> None:
    """The report (findings, facts) serialises to JSON as it is, for ``doctor --json``."""
    report = probe(client, bucket)
    data = json.loads(json.dumps(asdict(report)))
    assert data["prefix"] == ""
    assert data["facts"]["temporary_prefix"].startswith(".s3sink-doctor-")
    assert all(f["detail"] for f in data["findings"])


@pytest.mark.parametrize("step", range(1, 11))
def test_keyboard_interrupt_at_any_step_leaves_nothing(
    client: Any, s3_client: Any, bucket: str, step: int
) -> None:
    """A KeyboardInterrupt between any two steps propagates after everything is removed."""
    with pytest.raises(KeyboardInterrupt):
        probe(client, bucket, "p/", on_step=interrupt_at(step))
    assert leftovers(s3_client, bucket) == NOTHING


@pytest.mark.parametrize("operation", ["CreateMultipartUpload", "PutObject", "UploadPart"])
def test_interrupt_after_the_store_answered_leaves_nothing(
    client: Any, s3_client: Any, bucket: str, operation: str
) -> None:
    """Interrupted once the store acted but before the probe heard of it (an upload id it never
    saw): the cleanup finds the leftovers by listing the prefix."""
    calls: list[str] = []

    def after_call(**_: Any) -> None:
        calls.append(operation)
        if len(calls) == 3:
            raise KeyboardInterrupt

    client.meta.events.register(f"after-call.s3.{operation}", after_call)
    with pytest.raises(KeyboardInterrupt):
        probe(client, bucket, "p")
    assert leftovers(s3_client, bucket) == NOTHING


def test_cleanup_failures_are_reported(client: Any, s3_client: Any, bucket: str) -> None:
    """Objects the store refuses to delete are named in cleanup_errors, not swallowed."""

    def refuse(**_: Any) -> None:
        error = {"Code": "AccessDenied", "Message": "no"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Delete")

    client.meta.events.register("before-call.s3.DeleteObject", refuse)
    report = probe(client, bucket, "p")
    assert any("AccessDenied (HTTP 403)" in e for e in report.cleanup_errors)
    assert any(e.startswith("left behind: object p/.s3sink-doctor-") for e in report.cleanup_errors)
    assert leftovers(s3_client, bucket)["uploads"] == []


def test_cleanup_failures_after_an_interrupt_are_notes(client: Any, bucket: str) -> None:
    """When interrupted, what could not be removed is in the exception's notes."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "DeleteObject")

    client.meta.events.register("before-call.s3.DeleteObject", refuse)
    with pytest.raises(KeyboardInterrupt) as caught:
        probe(client, bucket, "p", on_step=interrupt_at(4))
    notes = getattr(caught.value, "__notes__", [])
    assert any("left behind: object p/.s3sink-doctor-" in n for n in notes)


def test_versioned_bucket_keeps_no_versions(client: Any, s3_client: Any, bucket: str) -> None:
    """On a versioned bucket the probe removes every version and delete marker it caused."""
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    report = probe(client, bucket, "v")
    assert report.facts["bucket_versioning"] == "Enabled"
    assert report.cleanup_errors == ()
    assert leftovers(s3_client, bucket) == NOTHING


def test_missing_bucket_fails_the_probe(client: Any, s3_client: Any) -> None:
    """A bucket that does not exist: ProbeFailed with the reason, and nothing created."""
    with pytest.raises(ProbeFailed, match=r"bucket 'no-such-bucket' does not exist: 404"):
        probe(client, "no-such-bucket")
    assert s3_client.list_buckets()["Buckets"] == []


def test_unreachable_endpoint_fails_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody listening: ProbeFailed saying the bucket cannot be reached."""
    client = s3sink_client(f"http://127.0.0.1:{free_port()}", monkeypatch, max_attempts=1)
    with pytest.raises(ProbeFailed, match="cannot be reached: EndpointConnectionError"):
        probe(client, "bucket")
    client.close()


def test_trailer_framing_stored_as_data_is_an_error(
    client: Any, s3_client: Any, bucket: str
) -> None:
    """A store that takes the aws-chunked framing for the part's bytes (here moto, the
    aws-chunked headers removed on the way) gets "error": a part whose ETag is not the MD5 of its
    bytes must never pass for a trailer the store understood."""

    def strip_encoding(request: Any, **_: Any) -> None:
        if request.headers.get("X-Amz-Trailer"):
            for name in ("Content-Encoding", "X-Amz-Decoded-Content-Length", "X-Amz-Trailer"):
                del request.headers[name]
            request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"

    client.meta.events.register("before-send.s3.UploadPart", strip_encoding)
    run = Probe(client, bucket, "t/")
    run.preflight()
    run.trailer()
    assert run.cleanup() == []
    finding = run.findings["upload_part.trailer"]
    assert finding.verdict == "error"
    assert finding.detail.startswith("the part's ETag is not the MD5 of its bytes; ")
    assert run.facts["trailer"]["etag_is_md5"] is False
    assert leftovers(s3_client, bucket) == NOTHING
