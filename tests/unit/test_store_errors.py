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


@pytest.mark.parametrize(
    ("status", "sse_c", "hint"),
    [
        (400, False, "is read with its key (--sse-c-key-file)"),
        (403, True, "is this the key the object was written with?"),
        (400, None, None),  # not a HeadObject: no guess
        (500, False, None),
    ],
)
def test_a_refused_head_object_says_what_sse_c_has_to_do_with_it(
    status: int, sse_c: bool | None, hint: str | None
) -> None:
    """A HEAD's 400 or 403 has no body to explain it: with or without an SSE-C key sent,
    the error says what the key most likely has to do with it."""
    from s3sink._store.errors import translate_read

    error = translate_read(
        ClientError(str(status), status), "HeadObject", bucket="b", key="k",
        version_id=None, started=False, sse_c=sse_c,
    )  # fmt: skip
    if hint is None:
        assert "SSE-C" not in str(error)
    else:
        assert hint in str(error)
