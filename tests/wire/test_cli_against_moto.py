"""The s3sink command in this process (typer's CliRunner) against the moto server: uploads
from stdin and in exec mode, its exit codes and error lines, housekeeping (``s3sink uploads``),
and the collector at start-up; the fault proxy for errors moto cannot produce."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from s3sink import S3MultipartWriter, cli
from tests.support.faultproxy import FaultProxy
from tests.support.inprocess import error_lines, invoke, invoke_uploads
from tests.support.motoserver import SECRET

MiB = 1024 * 1024


def pending_uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The server's unfinished multipart uploads in ``bucket``."""
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def object_keys(client: Any, bucket: str) -> list[str]:
    """The keys stored in ``bucket``."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


# -- uploads against moto ---------------------------------------------------------------------
def test_stdin_upload_round_trip_with_json(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--json prints one JSON object on stdout; the summary goes to stderr; bytes match."""
    data = os.urandom(12 * MiB + 17)
    endpoint = s3_client.meta.endpoint_url
    result = invoke(
        f"s3://{bucket}/dir/data.bin", "--endpoint-url", endpoint, "--part-size", "5MiB", "--json",
        stdin=data,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["size"] == len(data)
    assert record["parts"] == 3
    assert record["bucket"] == bucket
    assert record["key"] == "dir/data.bin"
    assert record["uri"] == f"s3://{bucket}/dir/data.bin"
    assert record["checksum_algorithm"] == "crc64nvme"
    assert {"etag", "version_id", "seconds", "upload_id", "checksum", "checksum_type"} <= set(
        record
    )
    assert result.stderr.startswith(f"s3sink: uploaded 12 MiB to s3://{bucket}/dir/data.bin in ")
    assert "3 parts, crc64nvme" in result.stderr
    assert s3_client.get_object(Bucket=bucket, Key="dir/data.bin")["Body"].read() == data
    assert pending_uploads(s3_client, bucket) == []


def test_without_json_stdout_stays_empty(aws_env: None, s3_client: Any, bucket: str) -> None:
    """Without --json nothing is printed on stdout; one summary line goes to stderr."""
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url, stdin=b"hello"
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "uploaded 5 B" in result.stderr


def test_quiet_silences_progress_and_summary(aws_env: None, s3_client: Any, bucket: str) -> None:
    """-q wins over --progress: stderr stays empty, --json still prints the result."""
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url,
        "-q", "--progress", "--progress-interval", "0.01", "--json",
        stdin=os.urandom(6 * MiB),
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["size"] == 6 * MiB


def test_metadata_and_tags_reach_the_object(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--metadata, --tag and --content-type are stored with the object."""
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url,
        "--metadata", "owner=ops", "--tag", "team=data ops", "--tag", "env=prod",
        "--content-type", "application/x-tar",
        stdin=b"payload",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    head = s3_client.head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"owner": "ops"}
    assert head["ContentType"] == "application/x-tar"
    tags = s3_client.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "data ops")]


def test_empty_stdin_is_refused_unless_allowed(aws_env: None, s3_client: Any, bucket: str) -> None:
    """An empty stream is refused (exit 1, nothing written, one line naming --allow-empty);
    with --allow-empty it is a valid empty object, with no dangling upload."""
    endpoint = s3_client.meta.endpoint_url
    result = invoke(f"s3://{bucket}/empty", "--endpoint-url", endpoint)
    assert result.exit_code == 1
    assert result.stderr == (
        "s3sink: error: stdin was empty: nothing uploaded; --allow-empty uploads an empty object\n"
    )
    assert object_keys(s3_client, bucket) == []
    result = invoke(f"s3://{bucket}/empty", "--endpoint-url", endpoint, "--allow-empty")
    assert result.exit_code == 0
    assert s3_client.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    assert pending_uploads(s3_client, bucket) == []


def test_missing_bucket_exits_1_and_says_so(aws_env: None, s3_client: Any) -> None:
    """A missing bucket exits 1 with 'bucket ... does not exist' and no traceback."""
    result = invoke(
        "s3://no-such-bucket-here/k", "--endpoint-url", s3_client.meta.endpoint_url,
        stdin=os.urandom(6 * MiB),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "bucket 'no-such-bucket-here' does not exist" in error_lines(result)[0]
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback_but_no_secret(aws_env: None, s3_client: Any) -> None:
    """--debug adds a traceback (no locals): the secret key never appears."""
    result = invoke(
        "s3://no-such-bucket-here/k", "--endpoint-url", s3_client.meta.endpoint_url, "--debug",
        stdin=b"x",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "does not exist" in error_lines(result)[0]
    assert SECRET not in result.stderr + result.stdout


def test_no_overwrite_refuses_existing_object(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--no-overwrite on an existing key exits 4 and leaves the object untouched."""
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"original")
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url, "--no-overwrite",
        stdin=b"replacement",
    )  # fmt: skip
    assert result.exit_code == 4
    assert "already exists" in error_lines(result)[0]
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


def test_access_denied_exits_1(aws_env: None, fault_proxy: FaultProxy, bucket: str) -> None:
    """A 403 AccessDenied is reported as access denied (moto cannot produce it: the proxy does)."""
    fault_proxy.respond(403, "AccessDenied", "Access Denied", times=None)
    result = invoke(f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, stdin=b"x")
    assert result.exit_code == 1
    assert f"access denied to s3://{bucket}/k" in error_lines(result)[0]


def test_failed_abort_exits_3_with_upload_id(
    aws_env: None, fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A part fails and so does the abort: exit 3, the upload id printed for cleanup."""
    fault_proxy.respond(400, "InvalidArgument", "bad part", method="PUT", path="partNumber=2")
    fault_proxy.respond(403, "AccessDenied", "no abort", method="DELETE", times=None)
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "5MiB",
        stdin=os.urandom(16 * MiB),
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    (orphan,) = pending_uploads(s3_client, bucket)
    line = error_lines(result)[0]
    assert "part 2 failed: InvalidArgument" in line  # the first error, then the orphan
    assert orphan["UploadId"] in line
    lines = result.stderr.splitlines()
    command = lines[lines.index(line) + 1]  # alone on its line, to copy and paste
    assert command.startswith("  s3sink uploads abort ")
    assert f"--upload-id {orphan['UploadId']}" in command
    fault_proxy.clear_rules()
    cleanup = invoke_uploads(
        "abort", f"s3://{bucket}/k", "--upload-id", orphan["UploadId"],
        "--endpoint-url", fault_proxy.endpoint_url,
    )  # fmt: skip
    assert cleanup.exit_code == 0
    assert pending_uploads(s3_client, bucket) == []
    assert object_keys(s3_client, bucket) == []


def test_exec_mode_failure_exits_123(aws_env: None, s3_client: Any, bucket: str) -> None:
    """A command exiting 3 after writing 6 MiB: exit 123, no object, no pending upload."""
    # The pause lets part 1 finish first: moto answers a part that races an abort with a
    # 500 that botocore retries for ~15 s (S3 answers 404 at once).
    code = (
        "import sys, time; sys.stdout.buffer.write(b'x' * (6 << 20)); sys.stdout.flush(); "
        "time.sleep(0.5); sys.exit(3)"
    )
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url, "--part-size", "5MiB",
        "--", sys.executable, "-c", code,
    )  # fmt: skip
    assert result.exit_code == 123
    assert "exited with status 3" in error_lines(result)[0]
    assert object_keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


def test_exec_mode_command_not_found_exits_127(aws_env: None, s3_client: Any, bucket: str) -> None:
    """A command that does not exist exits 127 and says 'command not found'."""
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url,
        "--", "s3sink-no-such-command",
    )  # fmt: skip
    assert result.exit_code == 127
    assert error_lines(result) == ["s3sink: error: command not found: s3sink-no-such-command"]
    assert object_keys(s3_client, bucket) == []


def test_existing_fifo_path_is_refused(
    aws_env: None, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """--fifo on an existing path exits 2 and leaves the file alone."""
    existing = tmp_path / "data"
    existing.write_bytes(b"keep me")
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url,
        "--fifo", str(existing), "--", "true",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "already exists" in error_lines(result)[0]
    assert existing.read_bytes() == b"keep me"


@pytest.mark.timeout(30)
def test_signal_interrupts_a_write_waiting_for_a_part_slot(
    aws_env: None,
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    restore_signals: None,
) -> None:
    """SIGTERM while the writer waits for a part slot (parts stalled, -j 1): 143, aborted."""
    rule = fault_proxy.stall(2.0, method="PUT", path="partNumber=", times=None)

    def send_sigterm_once_a_part_is_stalled() -> None:
        deadline = time.monotonic() + 10
        while rule.matched < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the main thread is now blocked on the slot held by part 1
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=send_sigterm_once_a_part_is_stalled)
    killer.start()
    started = time.monotonic()
    result = invoke(
        f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url,
        "--part-size", "5MiB", "-j", "1", stdin=os.urandom(30 * MiB),
    )  # fmt: skip
    killer.join()
    assert result.exit_code == 143, result.stderr
    assert error_lines(result) == [
        "s3sink: error: interrupted by SIGTERM; the upload was aborted and nothing was written"
    ]
    assert time.monotonic() - started < 15
    assert object_keys(s3_client, bucket) == []
    assert pending_uploads(s3_client, bucket) == []


# -- housekeeping -----------------------------------------------------------------------------
def test_uploads_list_json_and_table(aws_env: None, s3_client: Any, bucket: str) -> None:
    """uploads list shows pending uploads under a prefix, as a table or a JSON array."""
    upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key="logs/a")["UploadId"]
    s3_client.create_multipart_upload(Bucket=bucket, Key="other/b")
    endpoint = s3_client.meta.endpoint_url
    result = invoke_uploads("list", f"s3://{bucket}/logs/", "--endpoint-url", endpoint, "--json")
    assert result.exit_code == 0
    (record,) = json.loads(result.stdout)
    assert (record["key"], record["upload_id"]) == ("logs/a", upload_id)
    assert record["age_seconds"] >= 0
    table = invoke_uploads("list", f"s3://{bucket}", "--endpoint-url", endpoint)
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["KEY", "UPLOAD", "ID", "INITIATED", "AGE", "RESUMABLE", "HERE"]
    assert sorted(row.split()[0] for row in rows) == ["logs/a", "other/b"]


def test_uploads_abort_dry_run_then_abort(aws_env: None, s3_client: Any, bucket: str) -> None:
    """--dry-run prints the upload and leaves it; a real run aborts it."""
    s3_client.create_multipart_upload(Bucket=bucket, Key="k")
    endpoint = s3_client.meta.endpoint_url
    dry = invoke_uploads("abort", f"s3://{bucket}", "--dry-run", "--endpoint-url", endpoint)
    assert dry.exit_code == 0
    assert dry.stdout.startswith(f"would abort s3://{bucket}/k upload ")
    assert len(pending_uploads(s3_client, bucket)) == 1
    real = invoke_uploads(
        "abort", f"s3://{bucket}", "--older-than", "0s", "--endpoint-url", endpoint
    )
    assert real.exit_code == 0
    assert real.stdout.startswith(f"aborted s3://{bucket}/k upload ")
    assert pending_uploads(s3_client, bucket) == []


def test_uploads_abort_failure_exits_1(
    aws_env: None, fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """uploads abort exits 1 when an abort fails, and the upload stays listed."""
    s3_client.create_multipart_upload(Bucket=bucket, Key="k")
    fault_proxy.respond(403, "AccessDenied", "no", method="DELETE", times=None)
    result = invoke_uploads("abort", f"s3://{bucket}", "--endpoint-url", fault_proxy.endpoint_url)
    assert result.exit_code == 1
    assert "access denied" in error_lines(result)[0]
    assert len(pending_uploads(s3_client, bucket)) == 1


def test_main_dispatches_uploads_subcommand(
    aws_env: None, s3_client: Any, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() sends 'uploads ...' to the housekeeping app and anything else to the sink."""
    with pytest.raises(SystemExit) as exit_info:
        endpoint = s3_client.meta.endpoint_url
        cli.main(["uploads", "list", f"s3://{bucket}", "--json", "--endpoint-url", endpoint])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out) == []
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("s3sink ")


class GcRecorder:
    """Stands in for the gc module in cli: records what main() asks of the collector."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self.events.append("disable")

    def enable(self) -> None:
        self.enabled = True
        self.events.append("enable")

    def isenabled(self) -> bool:
        return self.enabled

    def freeze(self) -> None:
        self.events.append("freeze")


def test_collector_is_off_during_start_up_and_on_while_streaming(
    aws_env: None, s3_client: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """main() keeps the cyclic collector off while botocore and the client are built, then
    freezes that start-up state and turns it back on before any data flows."""
    events: list[str] = []
    monkeypatch.setattr(cli._startup, "gc", GcRecorder(events))
    import s3sink._store.client

    real_build_client = s3sink._store.client.build_client

    def build_client(**kwargs: Any) -> Any:
        events.append("client")
        return real_build_client(**kwargs)

    real_readinto_from = S3MultipartWriter.readinto_from

    def readinto_from(self: S3MultipartWriter, *args: Any, **kwargs: Any) -> int:
        events.append("stream")
        return real_readinto_from(self, *args, **kwargs)

    monkeypatch.setattr(s3sink._store.client, "build_client", build_client)
    monkeypatch.setattr(S3MultipartWriter, "readinto_from", readinto_from)
    uri, endpoint = f"s3://{bucket}/k", s3_client.meta.endpoint_url
    with CliRunner().isolation(input=b"x" * 1000), pytest.raises(SystemExit) as exit_info:
        cli.main([uri, "--endpoint-url", endpoint, "-q"])
    assert exit_info.value.code == 0
    assert events == ["disable", "client", "freeze", "enable", "stream", "enable"]
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1000
