"""``s3sink uploads list`` gives the command that resumes each upload resumable here (#24
item 5): alone on its own line in the text, ``resume_command`` in ``--json``; the command is
recorded in the journal when the upload starts, so it is there after a ``kill -9`` that could
print nothing; and pasted into a shell, it resumes. Real processes against moto on
127.0.0.1 (through a FaultProxy where a part must fail)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import (
    S3SINK,
    body,
    pattern,
    pending,
    run_cli,
    run_printed,
    wait_for,
    wait_or_dump,
)
from tests.support.faultproxy import FaultProxy

PART = 5 * 1024 * 1024
SIZE = 2 * PART + 100  # two parts stored, then the tail


@pytest.fixture
def state_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The s3sink environment with its journals in a directory of this test's."""
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def journal_parts(env: dict[str, str]) -> int:
    """Parts recorded in the one journal there is (0 while there is none)."""
    found = list((Path(env["XDG_STATE_HOME"]) / "s3sink" / "uploads").glob("*.jsonl"))
    return len(found[0].read_text().splitlines()) - 1 if found else 0


def producer(tmp_path: Path, then: str) -> list[str]:
    """Exec mode's command: writes SIZE bytes of a file, then ``then`` (exit 3, sleep 60)
    unless the file ``go`` exists, which makes the same command line succeed later."""
    data = tmp_path / "data"
    data.write_bytes(pattern(SIZE))
    script = f'head -c {SIZE} "$1"; test -e "$2" || {then}'
    return ["--", "sh", "-c", script, "sh", str(data), str(tmp_path / "go")]


def listed(bucket: str, endpoint: str, env: dict[str, str]) -> tuple[list[str], Any]:
    """``uploads list``'s text lines and its --json records."""
    where = [f"s3://{bucket}", "--endpoint-url", endpoint]
    text = run_cli(["uploads", "list", *where], env)
    assert text.returncode == 0, text.stderr
    records = run_cli(["uploads", "list", *where, "--json"], env)
    assert records.returncode == 0, records.stderr
    return text.stdout.decode().splitlines(), json.loads(records.stdout)


def test_a_kept_upload_is_listed_with_the_command_that_resumes_it(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """Exec mode kept its upload (the command failed): the listing says how to resume it,
    the command alone on the line after, the same in --json; pasted, it resumes."""
    where = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB"]
    first = run_cli([*where, "--resumable", *producer(tmp_path, "exit 3")], state_env)
    assert first.returncode == 123, first.stderr
    (upload,) = pending(s3_client, bucket)
    lines, (record,) = listed(bucket, s3_endpoint, state_env)
    command = record["resume_command"]
    at = lines.index(f"resume k (upload {upload['UploadId']}):")
    assert lines[at + 1] == f"  {command}"
    assert lines[at + 2 :] == []
    assert command.startswith(f"s3sink s3://{bucket}/k --endpoint-url {s3_endpoint} ")
    assert f" --resumable --resume --upload-id {upload['UploadId']} -- sh -c " in command
    (tmp_path / "go").touch()
    resumed = run_printed(command, state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert b"2 already stored" in resumed.stderr
    assert body(s3_client, bucket, "k") == pattern(SIZE)
    assert pending(s3_client, bucket) == []


def test_after_kill_9_uploads_list_gives_the_command_and_it_resumes(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """kill -9 of s3sink (and its command) mid-stream: nothing could be printed, but the
    journal recorded the command when the upload started; uploads list gives it, and it
    resumes (the parts stored are not sent again)."""
    where = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB"]
    process = subprocess.Popen(
        [*S3SINK, *where, "--resumable", *producer(tmp_path, "sleep 60")],
        env=state_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: journal_parts(state_env) >= 2, timeout=30)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        wait_or_dump(process)
    lines, (record,) = listed(bucket, s3_endpoint, state_env)
    assert record["resumable"] is True
    assert f"  {record['resume_command']}" in lines
    (tmp_path / "go").touch()
    resumed = run_printed(record["resume_command"], state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert b"2 already stored" in resumed.stderr
    assert body(s3_client, bucket, "k") == pattern(SIZE)


def test_pipe_mode_is_resumed_with_the_same_stream_and_the_listings_endpoint(
    fault_proxy: FaultProxy, s3_client: Any, bucket: str, state_env: dict[str, str]
) -> None:
    """A pipe-mode upload whose endpoint came from AWS_ENDPOINT_URL, kept when its last part
    failed: the listing (given --endpoint-url) says to give it the same stream on stdin, and
    its command carries that --endpoint-url, so it resumes without the variable."""
    fault_proxy.respond(500, "InternalError", method="PUT", path=r"[?&]partNumber=3(&|$)")
    from_env = {**state_env, "AWS_ENDPOINT_URL": fault_proxy.endpoint_url}
    args = [f"s3://{bucket}/k", "--part-size", "5MiB", "--max-attempts", "1", "--resumable"]
    first = run_cli(args, from_env, data=pattern(SIZE))
    assert first.returncode == 1, first.stderr
    lines, (record,) = listed(bucket, fault_proxy.endpoint_url, state_env)
    command = record["resume_command"]
    assert command.endswith(
        f" --resumable --resume --upload-id {record['upload_id']} "
        f"--endpoint-url {fault_proxy.endpoint_url}"
    )
    assert lines[-2:] == [
        f"resume k (upload {record['upload_id']}) with the same stream on stdin:",
        f"  {command}",
    ]
    resumed = run_printed(command, state_env, data=pattern(SIZE))
    assert resumed.returncode == 0, resumed.stderr
    assert body(s3_client, bucket, "k") == pattern(SIZE)


def test_an_upload_not_resumable_here_has_no_command(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str]
) -> None:
    """An upload without a journal here (started elsewhere): resume_command is null, and
    the text shows the table alone."""
    s3_client.create_multipart_upload(Bucket=bucket, Key="elsewhere")
    lines, (record,) = listed(bucket, s3_endpoint, state_env)
    assert (record["resumable"], record["resume_command"]) == (False, None)
    assert len(lines) == 2  # the header and the upload
