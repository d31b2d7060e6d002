"""Once committed, the exit code is 0: a closed or broken stdout costs one stderr line, and
credentials in an endpoint URL never reach a message, tracebacks included."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.support.clirun import S3SINK, TIMEOUT, body, error_lines, run_cli


@pytest.mark.parametrize("how", ["broken-pipe", "closed-fd"])
def test_json_to_a_dead_stdout_after_the_commit_exits_0(
    env: dict[str, str], s3_client: Any, bucket: str, how: str
) -> None:
    """--json with stdout a pipe nobody reads (or fd 1 closed): the object is committed,
    exit 0, one warning line, no traceback."""
    argv = [*S3SINK, f"s3://{bucket}/k", "--json", "--endpoint-url", s3_client.meta.endpoint_url]
    if how == "broken-pipe":
        read_end, write_end = os.pipe()
        os.close(read_end)
        with os.fdopen(write_end, "wb") as stdout:
            result = subprocess.run(
                argv, input=b"data", stdout=stdout, stderr=subprocess.PIPE, env=env,
                timeout=TIMEOUT, check=False,
            )  # fmt: skip
    else:
        result = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *argv], input=b"data",
            stderr=subprocess.PIPE, env=env, timeout=TIMEOUT, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.decode()
    assert "the object was committed, but the result could not be written to stdout" in stderr
    assert "Traceback" not in stderr
    assert body(s3_client, bucket, "k") == b"data"


def test_credentials_in_the_endpoint_url_are_never_printed(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """An endpoint URL with user:secret that cannot be reached: neither the error line nor
    the --debug traceback shows the secret."""
    endpoint = "http://AKIDUSER:s3cr3tPASS@127.0.0.1:9"
    result = run_cli(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--debug", "--max-attempts", "1"],
        env,
        data=b"x" * 1000,
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" in stderr  # --debug: the traceback is there, redacted
    assert "s3cr3tPASS" not in stderr
    assert "AKIDUSER" not in stderr
    assert "***@127.0.0.1:9" in error_lines(result.stderr)[0]


def test_library_errors_do_not_carry_url_credentials(
    env: dict[str, str], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's error text hides the credentials of an endpoint URL too."""
    import s3sink
    from s3sink._store.client import build_client

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, env[name])
    client = build_client(
        concurrency=1, endpoint_url="http://AKIDUSER:s3cr3tPASS@127.0.0.1:9", max_attempts=1
    )
    w = s3sink.S3MultipartWriter(bucket, "k", client=client)
    w.write(b"x")
    with pytest.raises(s3sink.UploadError) as info:
        w.close()
    assert "s3cr3tPASS" not in str(info.value)
    assert "***@" in str(info.value)
    assert json.dumps(str(info.value))  # one printable line


@pytest.mark.parametrize(
    ("args", "code", "reason", "producer_status"),
    [
        (["--", "sh", "-c", "head -c 100 /dev/zero; exit 3"], 123, "producer-failed", 3),
        (["--", "sh", "-c", "kill -9 $$"], 125, "producer-failed", 137),
        (["--", "no-such-command-here"], 127, "producer-failed", None),
        (["--", "true"], 1, "empty", 0),
        (["--part-size", "1"], 2, "usage", None),
    ],
)
def test_json_failures_are_one_object_too(
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    args: list[str],
    code: int,
    reason: str,
    producer_status: int | None,
) -> None:
    """With --json a failure prints {"ok": false, "exit", "reason", ...} on stdout, so a
    script can tell the producer's own status (here 3 or 137) from s3sink's exit code;
    success carries "ok": true."""
    endpoint = s3_client.meta.endpoint_url
    result = run_cli([f"s3://{bucket}/k", "--json", "--endpoint-url", endpoint, *args], env)
    assert result.returncode == code, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] is False
    assert (record["exit"], record["reason"]) == (code, reason)
    assert record["producer_status"] == producer_status
    assert record["message"] in error_lines(result.stderr)[0]
    ok = run_cli([f"s3://{bucket}/k", "--json", "--endpoint-url", endpoint], env, data=b"x")
    assert json.loads(ok.stdout)["ok"] is True
