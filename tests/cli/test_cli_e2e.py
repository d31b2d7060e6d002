"""The installed ``s3sink`` command as a real process: real pipes, FIFOs, signals and exit codes
against the moto server on 127.0.0.1, with the server's state checked through boto3.

Moto quirk worked around here: a part still uploading when its upload is aborted gets a 500
from moto (S3 answers 404), which botocore retries for ~15 s; failing producers therefore
pause a moment before exiting so that no part is in flight at the abort.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import (
    S3SINK,
    TIMEOUT,
    assert_nothing_written,
    body,
    error_lines,
    pattern,
    pending,
    wait_for,
    wait_or_dump,
)
from tests.support.clirun import run_cli as run
from tests.support.faultproxy import FaultProxy
from tests.support.localserver import free_port
from tests.support.motoserver import server_env

MiB = 1024 * 1024

# Writes 11 MiB (two 5 MiB parts), then trickles for up to a minute, keeping the pipe open.
SLOW_PRODUCER = """
import os, sys, time
out = sys.stdout.buffer
try:
    out.write(os.urandom(11 << 20)); out.flush()
    for _ in range(600):
        out.write(b"x" * 1024); out.flush(); time.sleep(0.1)
except BrokenPipeError:
    pass
os._exit(0)
"""


@pytest.fixture
def endpoint(s3_client: Any) -> str:
    """The (reset) moto server's endpoint URL."""
    url: str = s3_client.meta.endpoint_url
    return url


# Runs argv[1:] with SIGINT at its default disposition. A test suite started in the
# background of a non-interactive shell (as CI may do) inherits SIGINT ignored, and s3sink
# rightly leaves ignored signals ignored (nohup): a Ctrl-C test must start from a terminal's
# defaults. exec keeps a default disposition as it is.
WITH_DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


def spawn(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start s3sink with ``args`` in the background (SIGINT at its default disposition),
    stdout and stderr piped."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(
        [*WITH_DEFAULT_SIGINT, *S3SINK, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **kwargs,
    )


class StderrTail:
    """Collects a process's stderr on a thread, so a test can wait for a line while it runs."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        self._stream = process.stderr
        self.data = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._stream.readline, b""):
            self.data += line

    def join(self) -> bytes:
        """Everything written to stderr (call once the process has exited)."""
        self._thread.join(timeout=10)
        return self.data


def stored_parts(client: Any, bucket: str) -> int:
    """Parts stored in the bucket's (single) unfinished upload, 0 if there is none."""
    uploads = pending(client, bucket)
    if not uploads:
        return 0
    upload = uploads[0]
    listed = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return len(listed.get("Parts", []))


# -- the unreachable endpoint (botocore retries ~25 s): started first, checked last ----------
@pytest.fixture(scope="module")
def unreachable_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    """s3sink against a closed port on 127.0.0.1, started early so its retries overlap the
    other tests instead of adding ~25 s to the file."""
    base = {k: v for k, v in server_env().items() if not k.startswith("S3SINK_")}
    closed = f"http://127.0.0.1:{free_port()}"
    data = tmp_path_factory.mktemp("unreachable") / "data"
    data.write_bytes(b"some bytes")
    with data.open("rb") as stdin:
        process = spawn(["s3://bucket-gone/k", "--endpoint-url", closed], base, stdin=stdin)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


@pytest.fixture(autouse=True)
def _start_unreachable_early(unreachable_run: subprocess.Popen[bytes]) -> None:
    """Make every test request the module fixture, so it starts with the first test."""


# -- pipes ------------------------------------------------------------------------------------
@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A real directory of ~13 MiB of mixed files: random binaries, text, small files."""
    root = tmp_path / "src"
    (root / "bin").mkdir(parents=True)
    (root / "text").mkdir()
    rng = random.Random(42)
    for i in range(3):
        (root / "bin" / f"blob{i}.dat").write_bytes(rng.randbytes(3 * MiB + i))
    lines = "".join(f"line {n}: {rng.random()}\n" for n in range(120_000))
    (root / "text" / "log.txt").write_text(lines)
    for i in range(50):
        (root / "text" / f"small{i}.cfg").write_text(f"key{i} = {i}\n")
    return root


def tar_command(directory: Path) -> list[str]:
    """A deterministic ``tar c`` of ``directory`` (same bytes every run)."""
    return [
        "tar", "c", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
        "-C", str(directory.parent), directory.name,
    ]  # fmt: skip


def test_tar_pipe_round_trip(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, source_dir: Path
) -> None:
    """tar c DIR | s3sink: several 5 MiB parts, bytes identical to the archive, JSON result."""
    tar = subprocess.Popen(tar_command(source_dir), stdout=subprocess.PIPE)
    assert tar.stdout is not None
    sink = spawn(
        [f"s3://{bucket}/archive.tar", "--endpoint-url", endpoint, "--part-size", "5MiB", "--json"],
        env,
        stdin=tar.stdout,
    )
    tar.stdout.close()  # only s3sink holds the read end now
    out, err = sink.communicate(timeout=TIMEOUT)
    assert tar.wait(timeout=10) == 0
    assert sink.returncode == 0, err
    expected = subprocess.run(tar_command(source_dir), capture_output=True, timeout=60, check=True)
    result = json.loads(out)
    assert result["size"] == len(expected.stdout) > 10 * MiB
    assert result["parts"] >= 3
    assert b"s3sink: uploaded" in err
    downloaded = body(s3_client, bucket, "archive.tar")
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(expected.stdout).digest()
    assert pending(s3_client, bucket) == []


def test_terminal_stdin_is_refused(env: dict[str, str], endpoint: str, bucket: str) -> None:
    """A terminal (a real pty) on stdin is refused with exit 2 and a hint."""
    primary, secondary = pty.openpty()
    try:
        result = run([f"s3://{bucket}/k", "--endpoint-url", endpoint], env, stdin=secondary)
    finally:
        os.close(primary)
        os.close(secondary)
    assert result.returncode == 2
    assert b"s3sink: error: stdin is a terminal" in result.stderr


# -- exec mode --------------------------------------------------------------------------------
def test_exec_mode_commits_on_success(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """-- COMMAND exiting 0: its stdout is the object; its stderr passes through."""
    code = (
        "import random, sys; sys.stderr.write('producer says hi\\n'); "
        "sys.stdout.buffer.write(random.Random(11 << 20).randbytes(11 << 20))"
    )
    result = run(
        [f"s3://{bucket}/exec.bin", "--endpoint-url", endpoint, "--part-size", "5MiB", "--json",
         "--", sys.executable, "-c", code],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"producer says hi" in result.stderr
    assert json.loads(result.stdout)["parts"] == 3
    assert body(s3_client, bucket, "exec.bin") == pattern(11 << 20)
    assert pending(s3_client, bucket) == []


def test_exec_mode_failure_aborts_with_exit_123(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A producer writing 12 MiB then exiting 3: exit 123 (xargs's "the command failed": never
    its own 3, which is s3sink's "the abort failed"), no object, no pending upload."""
    code = (
        "import sys, time; sys.stdout.buffer.write(b'x' * (12 << 20)); sys.stdout.flush(); "
        "time.sleep(0.5); sys.exit(3)"
    )
    result = run(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB",
         "--", sys.executable, "-c", code],
        env,
    )  # fmt: skip
    assert result.returncode == 123
    assert b"exited with status 3; the upload was aborted" in result.stderr
    assert_nothing_written(s3_client, bucket)


def test_exec_mode_producer_killed_by_signal(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A producer killed by SIGKILL mid-stream: exit 125 (xargs's "killed by a signal"; 137
    would read as s3sink itself killed), nothing written."""
    code = (
        "import os, signal, sys, time; sys.stdout.buffer.write(b'x' * (6 << 20)); "
        "sys.stdout.flush(); time.sleep(0.5); os.kill(os.getpid(), signal.SIGKILL)"
    )
    result = run(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB",
         "--", sys.executable, "-c", code],
        env,
    )  # fmt: skip
    assert result.returncode == 125
    assert b"was killed by SIGKILL" in result.stderr
    assert_nothing_written(s3_client, bucket)


def test_exec_mode_command_not_found(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A command that does not exist: exit 127, 'command not found', nothing written."""
    result = run([f"s3://{bucket}/k", "--endpoint-url", endpoint, "--", "no-such-cmd-xyz"], env)
    assert result.returncode == 127
    assert result.stderr == b"s3sink: error: command not found: no-such-cmd-xyz\n"
    assert_nothing_written(s3_client, bucket)


# -- FIFOs ------------------------------------------------------------------------------------
def test_fifo_with_separate_writer(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """--fifo alone: another process writes into the named pipe; then it is removed."""
    fifo = tmp_path / "in.fifo"
    data = pattern(7 * MiB)
    sink = spawn([f"s3://{bucket}/f", "--endpoint-url", endpoint, "--fifo", str(fifo)], env)
    try:
        wait_for(fifo.exists, timeout=20.0)
        writer = (
            f"import random; open({str(fifo)!r}, 'wb')"
            f".write(random.Random({len(data)}).randbytes({len(data)}))"
        )
        subprocess.run([sys.executable, "-c", writer], timeout=TIMEOUT, check=True)
        _, err = sink.communicate(timeout=TIMEOUT)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.communicate(timeout=10)
    assert sink.returncode == 0, err
    assert body(s3_client, bucket, "f") == data
    assert not fifo.exists()
    assert pending(s3_client, bucket) == []


def test_fifo_with_exec_mode(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """--fifo with a command that writes to the path: committed; its stdout goes to stderr."""
    fifo = tmp_path / "db.fifo"
    code = (
        "import random, sys; print('to stdout'); "
        f"open(sys.argv[1], 'wb').write(random.Random({6 * MiB}).randbytes({6 * MiB}))"
    )
    result = run(
        [f"s3://{bucket}/db.dump", "--endpoint-url", endpoint, "--fifo", str(fifo), "--json",
         "--", sys.executable, "-c", code, str(fifo)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["size"] == 6 * MiB  # stdout: only the JSON result
    assert b"to stdout" in result.stderr
    assert body(s3_client, bucket, "db.dump") == pattern(6 * MiB)
    assert not fifo.exists()


def test_fifo_command_failing_before_opening_does_not_hang(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A command that fails without ever opening the FIFO: exit 123 promptly, its status
    in the message, no object."""
    fifo = tmp_path / "never.fifo"
    started = time.monotonic()
    result = run(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--fifo", str(fifo),
         "--", "sh", "-c", "echo 'cannot connect' >&2; exit 7"],
        env,
    )  # fmt: skip
    assert result.returncode == 123
    assert time.monotonic() - started < 15
    assert b"sh exited with status 7" in result.stderr
    assert not fifo.exists()
    assert_nothing_written(s3_client, bucket)


# -- signals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exec_mode", "signum"),
    [(False, signal.SIGINT), (False, signal.SIGTERM), (True, signal.SIGTERM)],
)
def test_signal_mid_stream_aborts(
    env: dict[str, str],
    endpoint: str,
    s3_client: Any,
    bucket: str,
    exec_mode: bool,
    signum: signal.Signals,
) -> None:
    """A signal to s3sink mid-stream: 128+N, no object, no pending upload (exec mode:
    the signal is forwarded and the producer is gone afterwards)."""
    args = [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--part-size", "5MiB",
            "--progress", "--progress-interval", "0.1"]  # fmt: skip
    producer = None
    if exec_mode:
        sink = spawn([*args, "--", sys.executable, "-c", SLOW_PRODUCER], env)
    else:
        producer = subprocess.Popen([sys.executable, "-c", SLOW_PRODUCER], stdout=subprocess.PIPE)
        assert producer.stdout is not None
        sink = spawn(args, env, stdin=producer.stdout)
        producer.stdout.close()
    stderr = StderrTail(sink)
    try:
        wait_for(
            lambda: stored_parts(s3_client, bucket) >= 2 and b" read, " in stderr.data,
            timeout=20.0,
        )
        children = Path(f"/proc/{sink.pid}/task/{sink.pid}/children").read_text().split()
        sink.send_signal(signum)
        wait_or_dump(sink)
        err = stderr.join()
    finally:
        for process in (sink, producer):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        stderr.join()
        for stream in (sink.stdout, sink.stderr):
            if stream is not None:
                stream.close()
    assert sink.returncode == 128 + signum, err
    assert f"s3sink: error: interrupted by {signum.name}".encode() in err
    assert_nothing_written(s3_client, bucket)
    if exec_mode:
        assert children  # the producer ran as s3sink's child ...
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # ... and is gone


# -- conditional writes -----------------------------------------------------------------------
def test_no_overwrite_second_run_exits_4(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """--no-overwrite: the first run writes, the second (multipart) exits 4, original kept."""
    first = run([f"s3://{bucket}/k", "--endpoint-url", endpoint, "--no-overwrite"], env, data=b"v1")
    assert first.returncode == 0, first.stderr
    second = run(
        [f"s3://{bucket}/k", "--endpoint-url", endpoint, "--no-overwrite", "--part-size", "5MiB"],
        env,
        data=pattern(11 * MiB),
    )
    assert second.returncode == 4
    assert b"already exists (--no-overwrite)" in second.stderr
    assert body(s3_client, bucket, "k") == b"v1"
    assert pending(s3_client, bucket) == []


# -- housekeeping -----------------------------------------------------------------------------
def test_uploads_list_and_abort(
    env: dict[str, str], endpoint: str, s3_client: Any, bucket: str
) -> None:
    """uploads list shows a pending upload; abort --dry-run keeps it; abort removes it."""
    upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key="orphan")["UploadId"]
    where = [f"s3://{bucket}", "--endpoint-url", endpoint]
    listed = run(["uploads", "list", *where, "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert [(u["key"], u["upload_id"]) for u in json.loads(listed.stdout)] == [
        ("orphan", upload_id)
    ]
    dry = run(["uploads", "abort", *where, "--older-than", "0s", "--dry-run"], env)
    assert dry.returncode == 0
    assert f"would abort s3://{bucket}/orphan upload {upload_id}".encode() in dry.stdout
    assert len(pending(s3_client, bucket)) == 1
    real = run(["uploads", "abort", *where, "--older-than", "0s"], env)
    assert real.returncode == 0
    assert f"aborted s3://{bucket}/orphan upload {upload_id}".encode() in real.stdout
    assert pending(s3_client, bucket) == []


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["s3:/bucket/key"], 2, b"does not start with s3://"),
        (["s3://BUCKET"], 2, b"invalid S3 location"),
        (["{uri}", "--part-size", "lots"], 2, b"invalid size 'lots'"),
        (["{uri}", "--part-size", "4MiB"], 2, b"outside S3's limits"),
        (["s3://no-such-bucket-e2e/k"], 1, b"bucket 'no-such-bucket-e2e' does not exist"),
    ],
)
def test_bad_input_exit_codes(
    env: dict[str, str],
    endpoint: str,
    s3_client: Any,
    bucket: str,
    args: list[str],
    code: int,
    needle: bytes,
) -> None:
    """Bad input: the right exit code, one error line (only its advice and a command to run
    may follow: the one that creates a missing bucket, alone), nothing left on the server."""
    argv = [a.format(uri=f"s3://{bucket}/k") for a in args]
    result = run([*argv, "--endpoint-url", endpoint], env, data=pattern(6 * MiB))
    assert result.returncode == code
    assert result.stderr.startswith(b"s3sink: error: ")
    assert len(error_lines(result.stderr)) == 1
    assert all(
        line.startswith((b"  aws s3 mb ", b"s3sink: check "))
        for line in result.stderr.splitlines()[1:]
    )
    assert needle in result.stderr
    assert result.stdout == b""
    assert_nothing_written(s3_client, bucket)


def test_access_denied_exits_1(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """403 AccessDenied (injected by the proxy: moto does not enforce IAM): exit 1, says so."""
    fault_proxy.respond(403, "AccessDenied", "Access Denied", times=None)
    result = run(
        [f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url, "--part-size", "5MiB"],
        env,
        data=pattern(6 * MiB),
    )
    assert result.returncode == 1
    assert f"s3sink: error: access denied to s3://{bucket}/k".encode() in result.stderr
    assert_nothing_written(s3_client, bucket)


def test_unreachable_endpoint_exits_1(unreachable_run: subprocess.Popen[bytes]) -> None:
    """A closed port on 127.0.0.1: exit 1 after botocore's retries, 'cannot reach'."""
    _, err = unreachable_run.communicate(timeout=TIMEOUT)
    assert unreachable_run.returncode == 1
    assert err.startswith(b"s3sink: error: cannot reach the S3 endpoint")
    assert b"Traceback" not in err


def test_a_producer_that_ignores_signals_is_reported_and_killed_on_a_second_ctrl_c(
    env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    """Ctrl-C with a producer that ignores SIGINT and SIGTERM: s3sink says what it waits for,
    a second Ctrl-C kills the producer at once, and the outcome is s3sink's own (130, "the
    command did not exit and was killed"), not the producer's SIGKILL (137)."""
    producer = ["sh", "-c", 'trap "" INT TERM; head -c 6000000 /dev/urandom; exec sleep 60']
    uri = f"s3://{bucket}/obj"
    args = [uri, "--endpoint-url", s3_client.meta.endpoint_url, "--part-size", "5MiB"]
    process = spawn([*args, "--", *producer], env)
    tail = StderrTail(process)
    try:
        wait_for(lambda: bool(pending(s3_client, bucket)), timeout=30)  # streaming
        process.send_signal(signal.SIGINT)
        wait_for(lambda: b"waiting for sh to exit; SIGKILL in" in tail.data, timeout=30)
        process.send_signal(signal.SIGINT)
        assert wait_or_dump(process, timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        err = tail.join()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    lines = error_lines(err)
    assert lines == [
        "s3sink: error: interrupted by SIGINT; the command did not exit and was killed; "
        "the upload was aborted and nothing was written"
    ]
    assert_nothing_written(s3_client, bucket)
