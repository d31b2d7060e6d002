"""Object Lock and --expected-bucket-owner through the real command into moto (which keeps
Object Lock on a bucket created with it): the headers on the requests, seen at the fault
proxy, the retention and legal hold on the object, and bad values refused (exit 2) before
anything is read. The library's checks and a lock the store dropped:
tests/unit/test_object_lock.py."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import run_cli
from tests.support.faultproxy import FaultProxy

MiB = 1024 * 1024
OWNER = "123456789012"  # moto's account


@pytest.fixture
def locked_bucket(s3_client: Any) -> str:
    name = f"locked-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def writes(proxy: FaultProxy) -> list[tuple[str, str, dict[str, str]]]:
    return [h for h in proxy.request_headers if h[0] in ("PUT", "POST")]


@pytest.mark.parametrize("size", [1000, 12 * MiB + 3], ids=["put", "multipart"])
def test_retention_and_legal_hold_reach_the_object(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, locked_bucket: str, size: int
) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    args = [
        f"s3://{locked_bucket}/db.dump",
        "--endpoint-url",
        fault_proxy.endpoint_url,
        "--part-size",
        "5MiB",
        "--object-lock-mode",
        "compliance",
        "--object-lock-retain-until",
        "30d",
        "--legal-hold",
        "--expected-bucket-owner",
        OWNER,
        "--json",
    ]
    started = dt.datetime.now(dt.timezone.utc)
    result = run_cli(args, env, data=data)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size"] == size
    # moto drops a multipart upload's lock: s3sink sets it after the commit.
    assert report["object_lock"] == ("kept" if size < 5 * MiB else "applied")
    seen = writes(fault_proxy)
    until = dt.datetime.fromisoformat(
        seen[0][2]["x-amz-object-lock-retain-until-date"].replace("Z", "+00:00")
    )
    assert dt.timedelta(days=30) - dt.timedelta(seconds=1) <= until - started
    assert until - started < dt.timedelta(days=30, minutes=5)
    # On the object too (HeadObject: moto 5's GetObjectRetention answers 500, measured with
    # boto3 alone).
    head = s3_client.head_object(Bucket=locked_bucket, Key="db.dump")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs(head["ObjectLockRetainUntilDate"] - until) < dt.timedelta(seconds=1)
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    first = seen[0][2]  # CreateMultipartUpload, or the PutObject
    assert first["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert first["x-amz-object-lock-legal-hold"] == "ON"
    for method, target, headers in seen:
        # S3 refuses a locked object's bodies without an integrity header.
        if "?retention" in target or "?legal-hold" in target:
            assert "x-amz-checksum-crc32" in headers or "content-md5" in headers, target
        elif ("uploads" not in target and "uploadId" not in target) or "partNumber" in target:
            assert "x-amz-checksum-crc64nvme" in headers, (method, target)
        assert headers["x-amz-expected-bucket-owner"] == OWNER, (method, target)
    # create, 3 parts, complete; then PutObjectRetention and PutObjectLegalHold
    assert len(seen) == (1 if size < 5 * MiB else 7)


def test_governance_retention_on_a_date(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, locked_bucket: str
) -> None:
    args = [f"s3://{locked_bucket}/k", "--endpoint-url", s3_endpoint]
    args += ["--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", "2099-01-31"]
    result = run_cli(args, env, data=b"backup")
    assert result.returncode == 0, result.stderr
    head = s3_client.head_object(Bucket=locked_bucket, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc)
    assert "ObjectLockLegalHoldStatus" not in head


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--object-lock-mode", "GOVERNANCE"], "needs --object-lock-retain-until"),
        (["--object-lock-retain-until", "30d"], "needs --object-lock-mode"),
        (["--object-lock-mode", "FOREVER", "--object-lock-retain-until", "1d"], "GOVERNANCE or"),
        (["--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", "2001-01-01"], "past"),
        (["--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", "soon"], "duration"),
        (["--legal-hold", "--checksum", "off"], "integrity header"),
        (["--expected-bucket-owner", "12345"], "account ID"),
    ],
    ids=["mode-alone", "date-alone", "bad-mode", "past", "bad-date", "no-checksum", "owner"],
)
def test_bad_lock_values_exit_2_before_anything_is_read(
    env: dict[str, str],
    fault_proxy: FaultProxy,
    locked_bucket: str,
    tmp_path: Path,
    extra: list[str],
    needle: str,
) -> None:
    marker = tmp_path / "ran"
    args = [f"s3://{locked_bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, *extra]
    result = run_cli([*args, "--", "sh", "-c", f"touch {marker}; echo data"], env)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr.decode()
    assert not marker.exists()  # the producer never ran
    assert fault_proxy.request_headers == []  # nor was the store asked anything
