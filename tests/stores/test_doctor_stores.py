"""The doctor's probe against each real store (SeaweedFS, Ceph RGW, and moto): its own
verdicts and flags, and nothing of the probe left behind."""

from __future__ import annotations

from typing import Any

import pytest

from s3sink._doctor.probe import Verdict, probe
from tests.support.doctor import MOTO, s3sink_client
from tests.support.stores import StoreServer

MiB = 1024 * 1024

#: Where SeaweedFS and RGW differ from moto (TESTING-NOTES, and measured by this probe).
SEAWEEDFS: dict[str, Verdict] = {
    **MOTO,
    **{name: "validated" for name in MOTO if ".checksum." in name},  # BadDigest, all of them
    "content_md5": "validated",
    "complete.full_object_checksum": "validated",
    "complete.if_match": "validated",
    "upload_part.trailer": "validated",  # InvalidDigest (HTTP 400) for a wrong trailer
}


RGW: dict[str, Verdict] = {
    **MOTO,
    "upload_part.checksum_echo": "unsupported",  # it ignores the checksum headers altogether
    "content_md5": "validated",
    "sigv4_payload_hash": "validated",  # XAmzContentSHA256Mismatch
    "complete.if_none_match": "ignored",
    # 16.2 reads STREAMING-UNSIGNED-PAYLOAD-TRAILER as a payload hash: XAmzContentSHA256Mismatch
    "upload_part.trailer": "unsupported",
}


EXPECTED = {
    "moto": (MOTO, ("--checksum", "off")),  # echoes wrong checksums, ignores MD5: ETags
    "seaweedfs": (SEAWEEDFS, ()),  # checks every part checksum: the defaults are right
    "rgw": (RGW, ("--checksum", "md5")),  # checks Content-MD5, ignores the checksum headers
}


@pytest.mark.slow
def test_store_matrix(
    store: StoreServer, store_client: Any, store_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each real store gets its own verdicts and flags, and keeps nothing of the probe."""
    client = s3sink_client(store.endpoint_url, monkeypatch, store.access_key, store.secret_key)
    report = probe(client, store_bucket, "doctor/")
    client.close()
    verdicts, flags = EXPECTED[store.name]
    assert report.capabilities() == verdicts
    assert report.recommended == flags
    assert report.cleanup_errors == ()
    assert report.facts["warnings"] == []
    assert report.facts["etag_is_md5"] == {"put_object": True, "upload_part": True}
    assert report.facts["min_part_size"] == 5 * MiB
    objects = store_client.list_objects_v2(Bucket=store_bucket).get("Contents", [])
    uploads = store_client.list_multipart_uploads(Bucket=store_bucket).get("Uploads", [])
    assert (objects, uploads) == ([], [])
    echoes = report.facts["echoes"]
    if store.name == "moto":  # echoes a wrong checksum, but only with the SDK's header
        assert (echoes["upload_part_wrong"], echoes["upload_part_without_sdk_header"]) == (
            True,
            False,
        )
    if store.name == "seaweedfs":  # echoes what s3sink sends, and checked it
        assert (echoes["upload_part_without_sdk_header"], echoes["upload_part_wrong"]) == (
            True,
            False,
        )
    if store.name == "rgw":
        assert not any(echoes.values())
        assert report.facts["if_match_forms"]["put_object"] == {"quoted": False, "unquoted": True}
        assert report.facts["list_parts_after_abort"] == "NoSuchKey (HTTP 404)"
