"""The bucket checked before anything starts (#24 item 6), as real processes against moto on
127.0.0.1 (through a FaultProxy where the store's answer must be one moto does not give):
a missing bucket, refused credentials or an endpoint out of reach exit 1 before the
producer is spawned, a FIFO made or stdin read; a listing the credentials may not do
(AccessDenied: write-only credentials) lets the upload go on.

"Before anything starts" is shown by what did not happen (a producer that would create a
marker file, bytes still waiting in the stdin pipe), not by timing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import (
    assert_nothing_written,
    body,
    error_lines,
    pattern,
    run_cli,
)
from tests.support.faultproxy import FaultProxy
from tests.support.localserver import free_port

LIST = r"[?&]list-type=2(&|$)"  # ListObjectsV2: the bucket check


def touching(marker: Path) -> list[str]:
    """An exec-mode producer that leaves ``marker`` behind if it ever runs."""
    return ["--", "sh", "-c", 'touch "$1"; printf data', "sh", str(marker)]


def test_a_missing_bucket_stops_exec_mode_before_the_command_starts(
    s3_endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Exec mode, no such bucket: exit 1, the command never ran, and the error names the
    bucket and gives the command that creates it, alone on the next line."""
    marker = tmp_path / "started"
    args = ["s3://no-such-bucket/k", "--endpoint-url", s3_endpoint, *touching(marker)]
    result = run_cli(args, env)
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    lines = result.stderr.decode().splitlines()
    assert lines[0].startswith("s3sink: error: bucket 'no-such-bucket' does not exist at ")
    assert "sh was not started and nothing was written" in lines[0]
    assert lines[1:] == [
        "s3sink: check the bucket name and the endpoint (--endpoint-url, AWS_ENDPOINT_URL), "
        "or create the bucket:",
        f"  aws s3 mb s3://no-such-bucket --endpoint-url {s3_endpoint}",
    ]
    assert result.stdout == b""


def test_a_refused_endpoint_stops_exec_mode_before_the_command_starts(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Exec mode, nothing listens at the endpoint: exit 1, the command never ran."""
    marker = tmp_path / "started"
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_cli(["s3://bucket/k", "--endpoint-url", closed, *touching(marker)], env)
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"s3sink: error: cannot reach the S3 endpoint {closed} for bucket")
    assert "(Connection refused)" in line


def test_a_missing_bucket_stops_pipe_mode_before_stdin_is_read(
    s3_endpoint: str, env: dict[str, str]
) -> None:
    """Pipe mode: exit 1, and the bytes in the pipe are still there to read afterwards."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"waiting bytes")
    os.close(write_end)
    try:
        result = run_cli(
            ["s3://no-such-bucket/k", "--endpoint-url", s3_endpoint], env, stdin=read_end
        )
        left = os.read(read_end, 100)
    finally:
        os.close(read_end)
    assert result.returncode == 1, result.stderr
    assert left == b"waiting bytes"
    assert b"stdin was not read and nothing was written" in result.stderr


def test_a_missing_bucket_stops_fifo_mode_before_the_fifo_and_the_command(
    s3_endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    """FIFO mode: exit 1, no FIFO was made and the command never ran."""
    marker, fifo = tmp_path / "started", tmp_path / "pipe"
    producer = ["--", "sh", "-c", 'touch "$1"; printf data > "$2"', "sh", str(marker), str(fifo)]
    result = run_cli(
        ["s3://no-such-bucket/k", "--endpoint-url", s3_endpoint, "--fifo", str(fifo), *producer],
        env,
    )
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    assert not fifo.exists()


def test_a_missing_bucket_stops_file_mode(
    s3_endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    """File mode: exit 1 with the same message, nothing read."""
    source = tmp_path / "data"
    source.write_bytes(b"data")
    result = run_cli(
        ["s3://no-such-bucket/k", "--endpoint-url", s3_endpoint, "--file", str(source)], env
    )
    assert result.returncode == 1, result.stderr
    assert b"bucket 'no-such-bucket' does not exist" in result.stderr
    assert b"nothing was read or written" in result.stderr


def test_json_says_a_missing_bucket_in_one_object(
    s3_endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--json: one complete object on stdout, the message with the command to run in it."""
    marker = tmp_path / "started"
    result = run_cli(
        ["s3://no-such-bucket/k", "--endpoint-url", s3_endpoint, "--json", *touching(marker)],
        env,
    )
    assert result.returncode == 1
    assert not marker.exists()
    record = json.loads(result.stdout)
    assert (record["ok"], record["exit"], record["upload_id"]) == (False, 1, None)
    assert record["message"].endswith(
        f"create the bucket:\n  aws s3 mb s3://no-such-bucket --endpoint-url {s3_endpoint}"
    )


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "SignatureDoesNotMatch"])
def test_refused_credentials_stop_exec_mode_before_the_command_starts(
    code: str, fault_proxy: FaultProxy, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The store refuses the credentials (the proxy answers as S3 does: moto checks none):
    exit 1, the command never ran, the error says to check the credentials."""
    rule = fault_proxy.respond(403, code, method="GET", path=LIST)
    marker = tmp_path / "started"
    result = run_cli(
        [f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, *touching(marker)], env
    )
    assert result.returncode == 1, result.stderr
    assert rule.applied == 1
    assert not marker.exists()
    (line,) = error_lines(result.stderr)
    assert f"refused the credentials for bucket '{bucket}' ({code} (HTTP 403)" in line
    assert "s3sink: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.stderr.decode()


def test_credentials_that_may_not_list_still_upload(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str, env: dict[str, str]
) -> None:
    """AccessDenied on the bucket check (write-only credentials, a common backup policy)
    proves nothing: the upload goes on, silently, and commits."""
    rule = fault_proxy.respond(403, "AccessDenied", method="GET", path=LIST)
    result = run_cli(
        [f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, "--", "printf", "data"],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert rule.applied == 1
    assert body(s3_client, bucket, "k") == b"data"
    assert b"warning" not in result.stderr


def test_a_store_error_on_the_check_warns_and_goes_on(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str, env: dict[str, str]
) -> None:
    """An answer that proves nothing about the bucket (a 500 after the retries): one
    warning, and the upload goes on and commits."""
    rule = fault_proxy.respond(500, "InternalError", method="GET", path=LIST)
    where = ["--endpoint-url", fault_proxy.endpoint_url, "--max-attempts", "1"]
    result = run_cli([f"s3://{bucket}/k", *where], env, data=pattern(1000))
    assert result.returncode == 0, result.stderr
    assert rule.applied == 1
    assert body(s3_client, bucket, "k") == pattern(1000)
    assert b"s3sink: warning: could not check bucket" in result.stderr


def test_a_missing_bucket_stops_a_resume_too(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--resumable --resume on a missing bucket: the same exit 1 before the command, and
    nothing is kept or written anywhere."""
    marker = tmp_path / "started"
    state = {**env, "XDG_STATE_HOME": str(tmp_path / "state")}
    result = run_cli(
        [
            "s3://no-such-bucket/k", "--endpoint-url", s3_endpoint, "--resumable", "--resume",
            *touching(marker),
        ],
        state,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    assert b"\n  aws s3 mb s3://no-such-bucket " in result.stderr
    assert not list((tmp_path / "state").rglob("*.jsonl"))
    assert_nothing_written(s3_client, bucket)
