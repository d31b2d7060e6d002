"""The s3sink command in-process (typer's CliRunner), its progress display and process plumbing.

Parsing is checked by capturing the parsed options; behaviour against a real S3 wire protocol
uses the moto server from conftest (and the fault proxy for errors moto cannot produce).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import json
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import s3sink
from s3sink import Progress, S3MultipartWriter, cli
from s3sink._exec import pipes as _pipes
from s3sink._exec import producer as _producer
from s3sink._exec import signals as _signals
from s3sink._exec.fifo import Fifo
from s3sink._exec.producer import Command
from s3sink._exec.signals import Interrupted, SignalGuard
from s3sink._store.transport import PendingUpload
from s3sink.cli._progress import PlainDisplay, choose_mode, format_line
from s3sink.errors import UsageError
from tests.support.faultproxy import FaultProxy
from tests.support.motoserver import DUMMY_CREDENTIALS

MiB = 1024 * 1024
SECRET = "s3sink-test-secret-never-printed"  # noqa: S105  # a dummy, checked for leaks


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, no profile/config files, no proxies: only 127.0.0.1 is reachable."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "*")
    for name in list(os.environ):
        if name.startswith("S3SINK_"):
            monkeypatch.delenv(name)


def invoke(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    """Run the sink command in-process; exceptions other than SystemExit propagate."""
    return CliRunner().invoke(cli.app, list(args), input=stdin, env=env, catch_exceptions=False)


def invoke_uploads(*args: str) -> Result:
    """Run ``s3sink uploads ...`` in-process."""
    return CliRunner().invoke(cli.uploads_app, list(args), catch_exceptions=False)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[cli.SinkOptions]:
    """Replace the upload with a recorder of the parsed options."""
    seen: list[cli.SinkOptions] = []

    def record(options: cli.SinkOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(cli, "run_sink", record)
    return seen


def pending_uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The server's unfinished multipart uploads in ``bucket``."""
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def object_keys(client: Any, bucket: str) -> list[str]:
    """The keys stored in ``bucket``."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def error_lines(result: Result) -> list[str]:
    """The ``s3sink: error:`` lines on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("s3sink: error: ")]


# -- parsing ----------------------------------------------------------------------------------
def test_version_prints_version_on_stdout() -> None:
    """--version prints the version on stdout and exits 0."""
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"s3sink {s3sink.__version__}\n"


def test_help_shows_exec_mode_and_exit_codes() -> None:
    """--help documents exec mode, env vars and exit codes."""
    result = invoke("--help")
    assert result.exit_code == 0
    assert "[-- COMMAND [ARG...]]" in result.stdout
    assert "S3SINK_PART_SIZE" in result.stdout
    assert "Exit codes" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8MiB", 8 * MiB), ("16M", 16 * MiB), ("1GiB", 1024 * MiB), ("5242880", 5 * MiB)],
)
def test_part_size_accepts_units(captured: list[cli.SinkOptions], text: str, expected: int) -> None:
    """--part-size parses IEC, single-letter and plain byte sizes."""
    assert invoke("s3://bkt/k", "--part-size", text).exit_code == 0
    assert captured[0].part_size == expected


def test_sizes_options_parse_decimal_units(captured: list[cli.SinkOptions]) -> None:
    """--expected-size and --max-memory accept SI decimals like 1.5GB."""
    assert invoke("s3://bkt/k", "--expected-size", "1.5GB", "--max-memory", "256MiB").exit_code == 0
    assert captured[0].expected_size == 1_500_000_000
    assert captured[0].max_memory == 256 * MiB


def test_everything_after_double_dash_is_the_command(captured: list[cli.SinkOptions]) -> None:
    """Arguments after -- are the command verbatim, never parsed as s3sink options."""
    result = invoke("s3://bkt/k", "--json", "--", "tar", "-czf", "-", "--json", "dir")
    assert result.exit_code == 0
    assert captured[0].command == ("tar", "-czf", "-", "--json", "dir")
    assert captured[0].json_output is True


def test_env_vars_supply_options(captured: list[cli.SinkOptions]) -> None:
    """S3SINK_* variables set the options they name."""
    env = {
        "S3SINK_PART_SIZE": "32MiB",
        "S3SINK_CONCURRENCY": "8",
        "S3SINK_CHECKSUM": "crc32c",
        "S3SINK_NO_OVERWRITE": "1",
        "S3SINK_METADATA": "a=1 b=2",
        "S3SINK_PROGRESS": "0",
        "S3SINK_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    assert invoke("s3://bkt/k", env=env).exit_code == 0
    opts = captured[0]
    assert (opts.part_size, opts.concurrency, opts.checksum) == (32 * MiB, 8, "crc32c")
    assert opts.no_overwrite is True
    assert opts.metadata == ("a=1", "b=2")
    assert opts.progress is False
    assert opts.endpoint_url == "http://127.0.0.1:9"


def test_command_line_beats_env_var(captured: list[cli.SinkOptions]) -> None:
    """An option on the command line overrides its S3SINK_* variable."""
    assert invoke("s3://bkt/k", "-j", "2", env={"S3SINK_CONCURRENCY": "8"}).exit_code == 0
    assert captured[0].concurrency == 2


def test_defaults_leave_aws_settings_to_botocore(captured: list[cli.SinkOptions]) -> None:
    """Without options, endpoint, region and profile stay None (botocore's own chain)."""
    assert invoke("s3://bkt/k").exit_code == 0
    opts = captured[0]
    assert (opts.endpoint_url, opts.region, opts.profile) == (None, None, None)
    assert opts.checksum == "crc64nvme"
    assert opts.progress is None


def test_metadata_tags_and_sse_become_request_parameters() -> None:
    """Metadata, URL-encoded tags, SSE-KMS and content headers map to S3 parameters."""
    opts = cli.SinkOptions(
        uri="s3://bkt/k",
        metadata=("owner=ops team", "empty="),
        tags=("team=data ops", "path=a/b&c"),
        sse_kms_key_id="alias/backup",
        content_type="application/x-tar",
        storage_class="STANDARD_IA",
    )
    assert cli._options.extra_args(opts) == {
        "Metadata": {"owner": "ops team", "empty": ""},
        "Tagging": "team=data%20ops&path=a%2Fb%26c",
        "SSEKMSKeyId": "alias/backup",
        "ServerSideEncryption": "aws:kms",
        "ContentType": "application/x-tar",
        "StorageClass": "STANDARD_IA",
    }


def test_no_overwrite_sends_if_none_match() -> None:
    """--no-overwrite becomes If-None-Match: * on the final request."""
    options = cli._options.writer_options(cli.SinkOptions(uri="s3://bkt/k", no_overwrite=True))
    assert options["if_none_match"] == "*"
    assert options["if_match"] is None


# -- usage errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bad://bucket/key"], "does not start with s3://"),
        (["s3://bucket"], "object key is missing"),
        (["s3://bkt/k", "--part-size", "8XB"], "invalid size '8XB'"),
        (["s3://bkt/k", "--part-size", "1MiB"], "outside S3's limits"),
        (["s3://bkt/k", "--part-size", "6GiB"], "outside S3's limits"),
        (["s3://bkt/k", "--metadata", "novalue"], "expected KEY=VALUE"),
        (["s3://bkt/k", "--tag", "a=1", "--tag", "a=2"], "given twice"),
        (["s3://bkt/k", "--sse", "AES256", "--sse-kms-key-id", "k"], "needs --sse aws:kms"),
        (["s3://bkt/k", "--no-overwrite", "--if-match", "abc"], "cannot be combined"),
        (["s3://bkt/k", "--checksum", "adler32"], "'adler32' is not one of"),
        (["s3://bkt/k", "-j", "0"], "--concurrency"),
        (["s3://bkt/k", "--bogus"], "--bogus"),
        (["s3://bkt/k", "extra"], "unexpected extra argument"),
        (["s3://bkt/k", "--"], "nothing after '--'"),
        (["s3://bkt/k", "--", ""], "the command after -- is empty"),
        ([], "Missing argument"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    aws_env: None, args: list[str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input exits 2 with exactly one 's3sink: error:' line and no traceback."""
    monkeypatch.setattr("s3sink._store.client.build_client", _no_client)
    result = invoke(*args)
    assert result.exit_code == 2, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def _no_client(**kwargs: Any) -> Any:
    """A stand-in for build_client in usage tests: they must never get this far."""
    return object()


def test_terminal_stdin_is_refused_with_a_hint(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal on stdin is refused (exit 2) with a hint at pipes and exec mode."""
    monkeypatch.setattr(cli._sink, "_stdin_is_terminal", lambda: True)
    result = invoke("s3://bkt/k")
    assert result.exit_code == 2
    assert "stdin is a terminal" in result.stderr
    assert "-- COMMAND" in result.stderr


def test_unknown_profile_is_a_usage_error(aws_env: None) -> None:
    """A profile botocore cannot find exits 2 and names it."""
    result = invoke("s3://bkt/k", "--profile", "no-such-profile")
    assert result.exit_code == 2
    assert "no-such-profile" in error_lines(result)[0]


def test_invalid_endpoint_is_a_usage_error(aws_env: None) -> None:
    """An endpoint URL botocore rejects exits 2."""
    result = invoke("s3://bkt/k", "--endpoint-url", "not a url")
    assert result.exit_code == 2
    assert "endpoint" in error_lines(result)[0].lower()


def test_scrub_hides_credentials_in_urls() -> None:
    """user:password in a URL never reaches an error line."""
    assert cli._report.scrub("cannot reach http://AKIA:secret@127.0.0.1:9/x") == (
        "cannot reach http://***@127.0.0.1:9/x"
    )


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
    assert "s3sink uploads abort" in line
    fault_proxy.clear_rules()
    cleanup = invoke_uploads(
        "abort", f"s3://{bucket}/k", "--upload-id", orphan["UploadId"],
        "--endpoint-url", fault_proxy.endpoint_url,
    )  # fmt: skip
    assert cleanup.exit_code == 0
    assert pending_uploads(s3_client, bucket) == []
    assert object_keys(s3_client, bucket) == []


def test_exec_mode_failure_returns_command_status(
    aws_env: None, s3_client: Any, bucket: str
) -> None:
    """A command exiting 3 after writing 6 MiB: exit 3, no object, no pending upload."""
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
    assert result.exit_code == 3
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


@pytest.mark.parametrize(("older_than", "selected"), [("5m", True), ("1h", False)])
def test_uploads_abort_selects_by_age(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, older_than: str, selected: bool
) -> None:
    """--older-than selects by upload age (moto reports a fixed 2010 date, so faked here)."""
    initiated = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    upload = PendingUpload(key="k", upload_id="id-1", initiated=initiated)
    monkeypatch.setattr(cli._uploads, "_pending", lambda location, client: [upload])
    result = invoke_uploads(
        "abort", "s3://bucket", "--older-than", older_than, "--dry-run",
        "--endpoint-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert result.exit_code == 0
    assert (result.stdout != "") is selected
    assert ("would abort s3://bucket/k upload id-1" in result.stdout) is selected


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


def test_uploads_bad_duration_exits_2() -> None:
    """A malformed --older-than is a usage error."""
    result = invoke_uploads("abort", "s3://bucket", "--older-than", "soon")
    assert result.exit_code == 2
    assert "invalid duration 'soon'" in error_lines(result)[0]


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


# -- progress display -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("progress", "quiet", "tty", "mode"),
    [
        (None, False, True, "rich"),
        (None, False, False, "off"),
        (True, False, False, "plain"),
        (True, False, True, "rich"),
        (False, False, True, "off"),
        (True, True, True, "off"),
    ],
)
def test_progress_mode_choice(progress: bool | None, quiet: bool, tty: bool, mode: str) -> None:
    """A bar on a TTY by default, plain lines when forced elsewhere, nothing with -q."""
    assert choose_mode(progress=progress, quiet=quiet, stderr_is_tty=tty) == mode


def test_progress_line_format() -> None:
    """A plain line shows bytes read and uploaded, rate, parts and elapsed time."""
    snapshot = Progress(
        bytes_written=30 * MiB,
        bytes_uploaded=20 * MiB,
        parts_done=4,
        parts_in_flight=2,
        part_size=5 * MiB,
    )
    assert format_line(snapshot, 3.0) == (
        "s3sink: 30 MiB read, 20 MiB uploaded, 10 MiB/s, parts 4 done / 2 in flight, 3s"
    )


@pytest.mark.timeout(10)
def test_plain_display_prints_periodically() -> None:
    """PlainDisplay writes lines at its interval until stopped, then nothing more."""
    stream = io.StringIO()
    snapshot = Progress(1, 0, 0, 1, 5 * MiB)
    display = PlainDisplay(lambda: snapshot, stream=lambda: stream, interval=0.01)
    display.start()
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    display.stop()
    printed = stream.getvalue()
    assert printed.count("\n") >= 3
    time.sleep(0.05)
    assert stream.getvalue() == printed


# -- process plumbing -------------------------------------------------------------------------
def test_exit_status_like_a_shell() -> None:
    """A returncode -N (killed by signal N) maps to 128+N; others stay."""
    assert _producer.exit_status(-signal.SIGKILL) == 137
    assert _producer.exit_status(3) == 3


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """Put back the handlers of the forwarded signals after the test."""
    saved = {s: signal.getsignal(s) for s in _signals.FORWARDED_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_signal_guard_raises_interrupted(restore_signals: None) -> None:
    """SIGTERM inside the guard raises Interrupted(143); the old handler is restored after."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info, SignalGuard():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted: the handler raises here
    assert info.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_signal_guard_defers_and_disarms(restore_signals: None) -> None:
    """A deferred signal is raised when the block ends; after disarm none is raised."""
    with SignalGuard() as guard:
        with pytest.raises(Interrupted), guard.deferred():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.01)  # the handler runs, but only records it
            assert guard.received == signal.SIGHUP
        guard.disarm()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # nothing raised


def test_signal_guard_keeps_ignored_signals_ignored(restore_signals: None) -> None:
    """A signal ignored at start (nohup, background job) stays ignored."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with SignalGuard():
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.01)


def test_grow_pipe_sets_one_mebibyte() -> None:
    """grow_pipe gives a pipe a 1 MiB buffer."""
    read_fd, write_fd = os.pipe()
    try:
        _pipes.grow_pipe(read_fd)
        assert fcntl.fcntl(read_fd, fcntl.F_GETPIPE_SZ) == _pipes.PIPE_SIZE
    finally:
        os.close(read_fd)
        os.close(write_fd)


@pytest.mark.timeout(10)
def test_nonblocking_input_waits_instead_of_ending() -> None:
    """An O_NONBLOCK stdin with no data yet is waited on, not taken for EOF."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    reader = _pipes.reader_for_fd(read_fd, closefd=True)
    timer = threading.Timer(0.1, os.write, (write_fd, b"late"))
    timer.start()
    buf = bytearray(16)
    try:
        assert reader.readinto(memoryview(buf)) == 4
        assert bytes(buf[:4]) == b"late"
    finally:
        timer.join()
        os.close(write_fd)
        reader.close()


def test_fifo_is_private_and_removed(tmp_path: Path) -> None:
    """The FIFO is created 0600 and removed afterwards; an existing path is refused."""
    path = tmp_path / "pipe"
    with Fifo(str(path)):
        info = path.stat()
        assert stat.S_ISFIFO(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        with pytest.raises(UsageError, match="already exists"):
            Fifo(str(path)).create()
    assert not path.exists()


@pytest.mark.timeout(10)
def test_fifo_reader_is_released_when_command_never_opens(tmp_path: Path) -> None:
    """A command that exits without opening the FIFO does not leave the reader blocked."""
    path = tmp_path / "pipe"
    with Fifo(str(path)) as fifo, open(os.devnull, "wb") as devnull:
        command = Command.start(["sh", "-c", "exit 5"], stdout=devnull.fileno())
        fifo.release_when_exits(command)
        reader = fifo.open_reader()
        try:
            assert reader.readinto(memoryview(bytearray(10))) == 0
        finally:
            reader.close()
        assert command.wait() == 5


@pytest.mark.timeout(10)
def test_command_stop_escalates_to_kill() -> None:
    """stop() sends SIGTERM after the grace period, then SIGKILL to a command ignoring it."""
    with open(os.devnull, "wb") as devnull:
        command = Command.start(
            ["sh", "-c", "trap '' TERM; echo ready; sleep 30"], stdout=devnull.fileno()
        )
        time.sleep(0.2)  # let the shell install its trap
        assert command.stop(grace=0.2) == -signal.SIGKILL


def test_retry_and_signing_options_reach_the_client(
    captured: list[cli.SinkOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--max-attempts / S3SINK_MAX_ATTEMPTS and --sign-payload are handed to build_client;
    without them build_client decides (AWS_MAX_ATTEMPTS, the checksum)."""
    assert invoke("s3://bkt/k", "--max-attempts", "2", "--sign-payload").exit_code == 0
    assert (captured[0].max_attempts, captured[0].sign_payload) == (2, True)
    assert invoke("s3://bkt/k", env={"S3SINK_MAX_ATTEMPTS": "5"}).exit_code == 0
    assert (captured[1].max_attempts, captured[1].sign_payload) == (5, False)
    assert invoke("s3://bkt/k", "--max-attempts", "0").exit_code == 2

    import s3sink._store.client

    built: list[dict[str, Any]] = []
    monkeypatch.setattr(s3sink._store.client, "build_client", lambda **kw: built.append(kw))
    cli._options.client_for(captured[0], concurrency=1)
    cli._options.client_for(captured[1], concurrency=1)
    assert [(b["max_attempts"], b["sign_payload"]) for b in built] == [(2, True), (None, None)]


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
