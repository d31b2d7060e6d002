"""The command's side of verification against moto: the ``integrity`` field, checksums a
single PUT stores, and conditions that stop a run before anything is read or started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, error_lines, keys, pattern, pending, run_cli

SIZE = 12 * 1024 * 1024


def sink(endpoint: str, uri: str, *args: str) -> list[str]:
    """The argv of one sink run."""
    return [uri, "--endpoint-url", endpoint, "--json", *args]


@pytest.mark.parametrize(
    ("checksum", "integrity"),
    [("crc64nvme", "etag-md5"), ("md5", "etag-md5"), ("off", "etag-md5")],
)
@pytest.mark.parametrize("size", [1000, SIZE], ids=["put", "multipart"])
def test_json_says_how_the_upload_was_verified(
    env: dict[str, str], s3_client: Any, bucket: str, checksum: str, integrity: str, size: int
) -> None:
    """--json carries "integrity"; moto echoes no part checksum, so parts are verified by
    ETag. (A single PutObject on moto echoes its checksum: "store-checksum".)"""
    endpoint = s3_client.meta.endpoint_url
    data = pattern(size)
    args = sink(endpoint, f"s3://{bucket}/k", "--checksum", checksum, "--part-size", "5MiB")
    result = run_cli(args, env, data=data)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    expected = "store-checksum" if size < SIZE and checksum == "crc64nvme" else integrity
    assert record["integrity"] == expected
    assert body(s3_client, bucket, "k") == data


def test_a_single_put_stores_its_checksum(env: dict[str, str], s3_client: Any, bucket: str) -> None:
    """A small object's checksum is stored as boto3's own PutObject stores it, so --json's
    checksum equals HeadObject(ChecksumMode=ENABLED)'s."""
    endpoint = s3_client.meta.endpoint_url
    result = run_cli(sink(endpoint, f"s3://{bucket}/small"), env, data=b"x" * 1000)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    head = s3_client.head_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    assert record["checksum"] == head["ChecksumCRC64NVME"]


@pytest.mark.parametrize("condition", ["--no-overwrite", "--if-match"])
def test_a_condition_that_fails_stops_before_the_command_starts(
    env: dict[str, str], s3_client: Any, bucket: str, tmp_path: Path, condition: str
) -> None:
    """--no-overwrite on an existing key (or --if-match with another ETag): exit 4 at once;
    the exec-mode command never starts, no upload is created, the object is untouched."""
    endpoint = s3_client.meta.endpoint_url
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"precious")
    marker = tmp_path / "started"
    extra = (
        ["--if-match", '"0123456789abcdef0123456789abcdef"']
        if condition == "--if-match"
        else [condition]
    )
    args = [
        *sink(endpoint, f"s3://{bucket}/k", *extra),
        "--",
        "sh",
        "-c",
        f"touch {marker}; head -c 9000000 /dev/zero",
    ]
    result = run_cli(args, env)
    assert result.returncode == 4, result.stderr
    assert len(error_lines(result.stderr)) == 1
    assert not marker.exists()
    assert pending(s3_client, bucket) == []
    assert body(s3_client, bucket, "k") == b"precious"


def test_a_condition_that_fails_reads_nothing_from_stdin(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """In pipe mode the check comes before the first read: nothing is created."""
    endpoint = s3_client.meta.endpoint_url
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"precious")
    result = run_cli(sink(endpoint, f"s3://{bucket}/k", "--no-overwrite"), env, data=pattern(SIZE))
    assert result.returncode == 4
    assert "already exists" in error_lines(result.stderr)[0]
    assert keys(s3_client, bucket) == ["k"]
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize("form", ["quoted", "bare"])
def test_if_match_takes_the_etag_with_or_without_quotes(
    env: dict[str, str], s3_client: Any, bucket: str, form: str
) -> None:
    """--if-match with the ETag as HeadObject prints it, or without its quotes."""
    endpoint = s3_client.meta.endpoint_url
    etag = s3_client.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    given = etag if form == "quoted" else etag.strip('"')
    result = run_cli(sink(endpoint, f"s3://{bucket}/k", "--if-match", given), env, data=b"v2")
    assert result.returncode == 0, result.stderr
    assert body(s3_client, bucket, "k") == b"v2"
