"""Small things a new user meets first: -h, help text in words, uploads abort --json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.clirun import pending, run_cli


@pytest.mark.parametrize("command", [[], ["uploads"], ["uploads", "abort"], ["doctor"]])
def test_dash_h_is_help(env: dict[str, str], command: list[str]) -> None:
    """-h prints the same help as --help, exit 0."""
    short = run_cli([*command, "-h"], env)
    long = run_cli([*command, "--help"], env)
    assert short.returncode == 0, short.stderr
    assert short.stdout == long.stdout
    assert short.stdout.startswith(b"Usage: s3sink")


def test_help_says_ranges_in_words(env: dict[str, str]) -> None:
    """No click jargon such as x>=1 in the help; a bad count says it in words."""
    assert b"x>=" not in run_cli(["--help"], env).stdout
    result = run_cli(["s3://b/k", "-j", "0"], env)
    assert result.returncode == 2
    assert b"'0' is not a whole number of at least 1" in result.stderr


def test_uploads_abort_json(env: dict[str, str], s3_client: Any, bucket: str) -> None:
    """uploads abort --json prints one array: each upload, whether it was aborted."""
    upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key="a/b")["UploadId"]
    endpoint = s3_client.meta.endpoint_url
    dry = run_cli(["uploads", "abort", f"s3://{bucket}/a/", "--dry-run", "--json",
                   "--endpoint-url", endpoint], env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    (record,) = json.loads(dry.stdout)
    assert (record["upload_id"], record["aborted"], record["error"]) == (upload_id, False, None)
    done = run_cli(["uploads", "abort", f"s3://{bucket}/a/", "--json",
                    "--endpoint-url", endpoint], env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(done.stdout)
    assert record["key"] == "a/b"
    assert record["aborted"] is True
    assert pending(s3_client, bucket) == []
