"""How botocore's errors are read: which answers mean a multipart upload is gone."""

from __future__ import annotations

import pytest

from s3sink._store.errors import upload_is_gone


class ClientError(Exception):
    """What botocore's ClientError carries that s3sink reads."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize(
    ("code", "status", "gone"),
    [
        ("NoSuchUpload", 404, True),  # S3, moto, SeaweedFS
        ("NoSuchKey", 404, True),  # Ceph RGW: ListParts of an aborted or unknown upload
        ("NotFound", 404, False),  # a proxy, a wrong endpoint
        ("404", 404, False),  # a 404 without an S3 error body
        ("NoSuchBucket", 404, False),
        ("AccessDenied", 403, False),
    ],
)
def test_only_the_stores_own_answer_means_an_upload_is_gone(
    code: str, status: int, gone: bool
) -> None:
    assert upload_is_gone(ClientError(code, status)) is gone
