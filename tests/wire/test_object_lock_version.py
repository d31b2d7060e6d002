"""Object Lock is read and set on the version the commit made, over botocore against moto
(which drops a multipart upload's lock, so s3sink sets it after the commit): another writer
who publishes the key in between gets neither our lock nor our verdict."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from s3sink import S3MultipartWriter
from tests.support.motoserver import make_client

MiB = 1024 * 1024


@pytest.fixture
def writer_client(s3_endpoint: str) -> Iterator[Any]:
    client = make_client(s3_endpoint)
    yield client
    client.close()


def test_a_concurrent_writer_between_commit_and_lock_check_gets_no_lock(
    writer_client: Any, s3_client: Any
) -> None:
    bucket = f"locked-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    def another_writer(**_: Any) -> None:  # right after our CompleteMultipartUpload
        s3_client.put_object(Bucket=bucket, Key="k", Body=b"theirs")

    writer_client.meta.events.register(
        "after-call.s3.CompleteMultipartUpload", another_writer, unique_id="test-race"
    )
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}
    with S3MultipartWriter(
        bucket, "k", client=writer_client, part_size=5 * MiB, extra_args=lock
    ) as w:
        w.write(b"x" * (5 * MiB + 1))
    ours = w.result.version_id
    theirs = s3_client.head_object(Bucket=bucket, Key="k")["VersionId"]
    assert ours != theirs
    assert w.result.object_lock == "applied"
    head = s3_client.head_object(Bucket=bucket, Key="k", VersionId=ours)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert "ObjectLockMode" not in s3_client.head_object(Bucket=bucket, Key="k", VersionId=theirs)
