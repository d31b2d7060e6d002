"""What the doctor's tests share (tests/unit/test_doctor_recommend.py, tests/wire/test_doctor.py,
tests/stores/test_doctor_stores.py): the verdicts moto deserves, and a client built the way
the command builds it."""

from __future__ import annotations

from typing import Any

import pytest

from s3sink._doctor.probe import Verdict
from s3sink._store.client import build_client

#: What moto 5.2 answers (TESTING-NOTES: stores checksums but never checks them, echoes part
#: checksums only with x-amz-sdk-checksum-algorithm and then even wrong ones, ignores IfMatch on
#: Complete, honours IfNoneMatch, enforces the 5 MiB minimum part size).
MOTO: dict[str, Verdict] = {
    **{f"put_object.checksum.{a}": "ignored" for a in ("crc64nvme", "crc32c", "crc32", "sha256")},
    **{f"upload_part.checksum.{a}": "ignored" for a in ("crc64nvme", "crc32c", "crc32", "sha256")},
    "upload_part.checksum_echo": "supported",
    "upload_part.trailer": "ignored",  # decodes aws-chunked, takes a wrong trailer (HTTP 200)
    "content_md5": "ignored",
    "abort_multipart_upload": "supported",
    "sigv4_payload_hash": "ignored",
    "complete.full_object_checksum": "ignored",
    "complete.mpu_object_size": "ignored",
    "put_object.if_none_match": "validated",
    "put_object.if_match": "validated",
    "complete.if_none_match": "validated",
    "complete.if_match": "ignored",
    "list_multipart_uploads": "supported",
    "list_parts": "supported",
    "unequal_part_sizes": "supported",
    "min_part_size": "validated",
    "etag_md5": "supported",
}


def s3sink_client(
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    key: str = "x",
    secret: str = "x",  # noqa: S107 - a dummy value, as moto accepts any
    **kwargs: Any,
) -> Any:
    """A client built the way the CLI builds it, with these credentials and few attempts."""
    for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return build_client(concurrency=1, endpoint_url=endpoint, **{"max_attempts": 2, **kwargs})
