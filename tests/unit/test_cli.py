"""The s3sink command in-process (typer's CliRunner), its progress display and process plumbing.

Parsing is checked by capturing the parsed options, usage errors end before any client is
built; behaviour against a real S3 wire protocol is in tests/wire/test_cli_against_moto.py,
exec mode's children in tests/cli/test_exec_children.py.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import s3sink
from s3sink import Progress
from s3sink._exec import pipes as _pipes
from s3sink._exec import producer as _producer
from s3sink._exec.fifo import Fifo
from s3sink._exec.signals import Interrupted, SignalGuard
from s3sink._store.transport import PendingUpload
from s3sink.cli import _input, _report, _settings, _sink, _uploads
from s3sink.cli._progress import PlainDisplay, choose_mode, format_line
from s3sink.cli._settings import SinkOptions
from s3sink.errors import UsageError
from tests.support.inprocess import error_lines, invoke, invoke_uploads

MiB = 1024 * 1024


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[SinkOptions]:
    """Replace the upload with a recorder of the parsed options."""
    seen: list[SinkOptions] = []

    def record(options: SinkOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(_sink, "run_sink", record)
    return seen


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
def test_part_size_accepts_units(captured: list[SinkOptions], text: str, expected: int) -> None:
    """--part-size parses IEC, single-letter and plain byte sizes."""
    assert invoke("s3://bkt/k", "--part-size", text).exit_code == 0
    assert captured[0].part_size == expected


def test_sizes_options_parse_decimal_units(captured: list[SinkOptions]) -> None:
    """--expected-size and --max-memory accept SI decimals like 1.5GB."""
    assert invoke("s3://bkt/k", "--expected-size", "1.5GB", "--max-memory", "256MiB").exit_code == 0
    assert captured[0].expected_size == 1_500_000_000
    assert captured[0].max_memory == 256 * MiB


def test_everything_after_double_dash_is_the_command(captured: list[SinkOptions]) -> None:
    """Arguments after -- are the command verbatim, never parsed as s3sink options."""
    result = invoke("s3://bkt/k", "--json", "--", "tar", "-czf", "-", "--json", "dir")
    assert result.exit_code == 0
    assert captured[0].command == ("tar", "-czf", "-", "--json", "dir")
    assert captured[0].json_output is True


def test_env_vars_supply_options(captured: list[SinkOptions]) -> None:
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


def test_command_line_beats_env_var(captured: list[SinkOptions]) -> None:
    """An option on the command line overrides its S3SINK_* variable."""
    assert invoke("s3://bkt/k", "-j", "2", env={"S3SINK_CONCURRENCY": "8"}).exit_code == 0
    assert captured[0].concurrency == 2


def test_defaults_leave_aws_settings_to_botocore(captured: list[SinkOptions]) -> None:
    """Without options, endpoint, region and profile stay None (botocore's own chain)."""
    assert invoke("s3://bkt/k").exit_code == 0
    opts = captured[0]
    assert (opts.endpoint_url, opts.region, opts.profile) == (None, None, None)
    assert opts.checksum == "crc64nvme"
    assert opts.progress is None


def test_metadata_tags_and_sse_become_request_parameters() -> None:
    """Metadata, URL-encoded tags, SSE-KMS and content headers map to S3 parameters."""
    opts = SinkOptions(
        uri="s3://bkt/k",
        metadata=("owner=ops team", "empty="),
        tags=("team=data ops", "path=a/b&c"),
        sse_kms_key_id="alias/backup",
        content_type="application/x-tar",
        storage_class="STANDARD_IA",
    )
    assert _settings.extra_args(opts) == {
        "Metadata": {"owner": "ops team", "empty": ""},
        "Tagging": "team=data%20ops&path=a%2Fb%26c",
        "SSEKMSKeyId": "alias/backup",
        "ServerSideEncryption": "aws:kms",
        "ContentType": "application/x-tar",
        "StorageClass": "STANDARD_IA",
    }


def test_no_overwrite_sends_if_none_match() -> None:
    """--no-overwrite becomes If-None-Match: * on the final request."""
    options = _settings.writer_options(SinkOptions(uri="s3://bkt/k", no_overwrite=True))
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
        (["s3://bkt/k", "extra"], "a command to run goes after '--'"),
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
    monkeypatch.setattr(_input, "_stdin_is_terminal", lambda: True)
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
    assert _report.scrub("cannot reach http://AKIA:secret@127.0.0.1:9/x") == (
        "cannot reach http://***@127.0.0.1:9/x"
    )


def test_everything_a_command_prints_goes_through_the_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Within a command, even a line written without scrub() hides the credentials (the
    streams are put back afterwards)."""
    stdout, stderr = sys.stdout, sys.stderr
    with _report.command_logging(debug=False):
        print('{"endpoint": "http://user:SECRET@127.0.0.1:9"}')  # not scrubbed by the caller
        sys.stderr.write("reaching http://user:SECRET@127.0.0.1:9/bkt failed\n")
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    out, err = capsys.readouterr()
    assert out == '{"endpoint": "http://***@127.0.0.1:9"}\n'
    assert err == "reaching http://***@127.0.0.1:9/bkt failed\n"


@pytest.mark.parametrize(("older_than", "selected"), [("5m", True), ("1h", False)])
def test_uploads_abort_selects_by_age(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, older_than: str, selected: bool
) -> None:
    """--older-than selects by upload age (moto reports a fixed 2010 date, so faked here)."""
    initiated = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    upload = PendingUpload(key="k", upload_id="id-1", initiated=initiated)
    monkeypatch.setattr(_uploads, "_pending", lambda location, client: [upload])
    result = invoke_uploads(
        "abort", "s3://bucket", "--older-than", older_than, "--dry-run",
        "--endpoint-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert result.exit_code == 0
    assert (result.stdout != "") is selected
    assert ("would abort s3://bucket/k upload id-1" in result.stdout) is selected


def test_uploads_bad_duration_exits_2() -> None:
    """A malformed --older-than is a usage error."""
    result = invoke_uploads("abort", "s3://bucket", "--older-than", "soon")
    assert result.exit_code == 2
    assert "invalid duration 'soon'" in error_lines(result)[0]


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
    """A plain line shows bytes read and sent (acknowledged, and on their way in parts in
    flight), the rate of what was sent, parts and elapsed time."""
    snapshot = Progress(
        bytes_written=30 * MiB,
        bytes_uploaded=20 * MiB,
        parts_done=4,
        parts_in_flight=2,
        part_size=5 * MiB,
        bytes_sending=4 * MiB,
    )
    assert format_line(snapshot, 3.0) == (
        "s3sink: 30 MiB read, 24 MiB sent, 8 MiB/s, parts 4 done / 2 in flight, 3s"
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


def test_retry_and_signing_options_reach_the_client(
    captured: list[SinkOptions], monkeypatch: pytest.MonkeyPatch
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
    _settings.client_for(captured[0], concurrency=1)
    _settings.client_for(captured[1], concurrency=1)
    assert [(b["max_attempts"], b["sign_payload"]) for b in built] == [(2, True), (5, None)]


@pytest.mark.parametrize(
    ("args", "fixed"),
    [
        (["s3://b/k", "pg_dump", "-Fc", "my db"], "s3sink s3://b/k -- pg_dump -Fc 'my db'"),
        (
            ["--compress", "zstd", "-j", "2", "s3://b/k", "tar", "-cf", "-", "."],
            "s3sink --compress zstd -j 2 s3://b/k -- tar -cf - .",
        ),
        (["s3://b/k", "--json", "mysqldump"], "s3sink s3://b/k --json -- mysqldump"),
    ],
)
def test_a_command_without_dashes_gets_the_command_line_that_works(
    aws_env: None, args: list[str], fixed: str, captured: list[SinkOptions]
) -> None:
    """A command given without '--' is refused (exit 2) with the fixed command line alone on
    the next line, ready to paste; nothing runs."""
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("s3sink: error: unexpected argument")
    assert "after '--'" in lines[0]
    assert lines[1] == f"  {fixed}"
    assert captured == []


def test_a_bad_value_names_the_variable_only_when_it_came_from_there(aws_env: None) -> None:
    """A bad --compress on the command line names the option alone; the same value from
    S3SINK_COMPRESS names the variable, which is where the user must look."""
    typed = invoke("s3://bkt/k", "--compress", "zip")
    assert typed.exit_code == 2
    (line,) = error_lines(typed)
    assert "'--compress'" in line
    assert "S3SINK_COMPRESS" not in line
    from_env = invoke("s3://bkt/k", env={"S3SINK_COMPRESS": "zip"})
    assert from_env.exit_code == 2
    (line,) = error_lines(from_env)
    assert "S3SINK_COMPRESS" in line


def test_mount_usage_errors_are_one_line(aws_env: None) -> None:
    """`s3sink mount` with a bad option value: one error line naming the option, exit 2,
    as the other commands do."""
    from s3sink.cli._mount import mount_app

    result = CliRunner().invoke(mount_app, ["s3://b/k", "/nonexistent", "--part-size", "1x"])
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert "'--part-size'" in line
    assert "S3SINK_PART_SIZE" not in line
    assert "Usage:" not in result.stderr


def test_a_command_to_run_is_printed_alone_on_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An error that names a command to run prints it on a line of its own (two spaces, no
    prefix, no period stuck to its last argument), and further sentences as s3sink lines."""
    message = _report.command_apart(
        "could not abort multipart upload U; it keeps its parts on the server until you run: "
        "s3sink uploads abort s3://b/k --upload-id U."
    )
    _report.error_line(message + "\nkept uploads cost storage:\n  s3sink uploads lifecycle s3://b")
    assert capsys.readouterr().err.splitlines() == [
        "s3sink: error: could not abort multipart upload U; it keeps its parts on the server "
        "until you run:",
        "  s3sink uploads abort s3://b/k --upload-id U",
        "s3sink: kept uploads cost storage:",
        "  s3sink uploads lifecycle s3://b",
    ]
