"""An endpoint URL with credentials (``http://user:SECRET@127.0.0.1:PORT``) never shows: every
command, as a real process, in text and ``--json``, succeeding and failing (``--debug``
tracebacks included), and no file it leaves (the resume journal) holds the password.

botocore keeps the userinfo in ``client.meta.endpoint_url`` and in its error messages but
never sends it (urllib3 connects to host:port, no Authorization header comes from it), so
moto behind such a URL answers as usual: the reachable cases are real runs. The unreachable
endpoint is a closed port on 127.0.0.1, whose connection errors repeat the URL. The mount has
its own test (tests/mount/test_mount_redaction.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import pattern, run_cli, run_printed
from tests.support.faultproxy import FaultProxy
from tests.support.localserver import free_port

SECRET = b"SECRET"
PART = 5 * 1024 * 1024


@dataclass
class Ctx:
    """What a case builds its command line from."""

    reachable: str  # moto (through the fault proxy), with user:SECRET@
    unreachable: str  # a closed port on 127.0.0.1, with user:SECRET@
    bucket: str
    tmp: Path
    client: Any
    proxy: FaultProxy
    env: dict[str, str]  # of the s3sink processes (a case may run one first)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/k"

    def file(self, size: int = 1000) -> str:
        path = self.tmp / f"input-{size}"
        path.write_bytes(pattern(size))
        return str(path)

    def with_pending(self, *args: str) -> list[str]:
        """``args``, once an upload is pending in the bucket (for uploads list and abort)."""
        self.client.create_multipart_upload(Bucket=self.bucket, Key="pending")
        return list(args)


# A case: its command line (a list of arguments, or a printed command line to paste into sh),
# the stdin it gets, the exit code it must end with, and text one of its outputs must show
# (the URL was printed, redacted), or None.
Outcome = tuple["list[str] | str", bytes | None, int, bytes | None]
Case = Callable[[Ctx], Outcome]
FAIL_FAST = ["--debug", "--max-attempts", "1"]
REDACTED = b"***@127.0.0.1"
QUOTED = b"--endpoint-url 'http://***@127.0.0.1"  # in a command printed to run


def sink(c: Ctx, *args: str, reach: bool = True) -> list[str]:
    return [c.uri, "--endpoint-url", c.reachable if reach else c.unreachable, *args]


def fifo(c: Ctx) -> list[str]:
    path = str(c.tmp / "p")
    return ["--fifo", path, "--", "sh", "-c", 'printf data > "$1"', "sh", path]


def one_part_then_exit(c: Ctx, status: int) -> list[str]:
    """A producer that writes a part and a bit (so the upload exists), then fails."""
    size = PART + 100
    return ["--", "sh", "-c", f'head -c {size} "$1"; exit {status}', "sh", c.file(size)]


def bucket_command(c: Ctx, *args: str, reach: bool = True) -> list[str]:
    endpoint = c.reachable if reach else c.unreachable
    return [args[0], *args[1:], f"s3://{c.bucket}", "--endpoint-url", endpoint]


def _kept_then_printed(c: Ctx) -> Outcome:
    """A kept --resumable upload, then its printed resume command (which keeps it again)."""
    first = run_cli(
        sink(c, "--part-size", "5MiB", "--resumable", "--json", *one_part_then_exit(c, 3)), c.env
    )
    assert first.returncode == 123, first.stderr
    assert SECRET not in first.stdout + first.stderr
    return json.loads(first.stdout)["resume_command"], None, 123, QUOTED


def _kept_then_listed(c: Ctx, *args: str) -> Outcome:
    """A kept --resumable upload, then uploads list: the resume command its journal
    recorded shows the endpoint redacted (and the journal holds no password: every file
    under the state directory is read)."""
    first = run_cli(sink(c, "--part-size", "5MiB", "--resumable", *one_part_then_exit(c, 3)), c.env)
    assert first.returncode == 123, first.stderr
    return bucket_command(c, "uploads", "list", *args), None, 0, QUOTED


def _abort_fails(c: Ctx) -> Outcome:
    """The abort is refused: the cleanup command printed repeats --endpoint-url."""
    c.proxy.respond(403, "AccessDenied", method="DELETE", path=r"[?&]uploadId=", times=None)
    return sink(c, "--part-size", "5MiB", "--json", *one_part_then_exit(c, 5)), None, 3, QUOTED


def _store_gone_after_the_check(c: Ctx) -> Outcome:
    """The bucket check passes, then the upload's connection is cut: the upload's own error,
    which repeats the endpoint URL, is printed redacted."""
    c.proxy.reset_after(0, method="PUT", times=None)
    return sink(c, "--json", *FAIL_FAST), b"data", 1, REDACTED


def read_command(c: Ctx, *args: str, reach: bool = True) -> list[str]:
    """A read command (cat, get, verify) of s3://BUCKET/k, which holds b"data"."""
    c.client.put_object(Bucket=c.bucket, Key="k", Body=b"data")
    endpoint = c.reachable if reach else c.unreachable
    return [args[0], f"s3://{c.bucket}/k", *args[1:], "--endpoint-url", endpoint]


def _replaced_while_read(c: Ctx) -> Outcome:
    """cat of an object replaced between its ranges: the failure names the object, not the
    endpoint."""
    command = read_command(c, "cat", "--part-size", "5MiB", "-j", "1", "--json")
    c.client.put_object(Bucket=c.bucket, Key="k", Body=b"x" * (PART + 10))
    c.proxy.on_request(
        lambda: c.client.put_object(Bucket=c.bucket, Key="k", Body=b"new"),
        method="GET", path=r"/k$", nth=2,
    )  # fmt: skip
    return command, None, 4, None


CASES: dict[str, Case] = {
    # the sink, in each input mode
    "pipe": lambda c: (sink(c), b"data", 0, None),
    "pipe-json": lambda c: (sink(c, "--json"), b"data", 0, None),
    "pipe-failed": lambda c: (sink(c, "--max-attempts", "1", reach=False), b"data", 1, REDACTED),
    "pipe-failed-debug-json": lambda c: (
        sink(c, "--json", *FAIL_FAST, reach=False),
        b"data",
        1,
        REDACTED,
    ),
    "pipe-failed-after-the-bucket-check": _store_gone_after_the_check,
    "missing-bucket-json": lambda c: (
        ["s3://no-such-bucket-r/k", "--endpoint-url", c.reachable, "--json", "--debug"],
        b"data",
        1,
        QUOTED,  # the command that creates the bucket
    ),
    "exec-json": lambda c: (sink(c, "--json", "--", "printf", "data"), None, 0, None),
    "exec-producer-failed": lambda c: (
        sink(c, "--json", "--", "sh", "-c", "printf x; exit 3"),
        None,
        123,
        None,
    ),
    "exec-failed-debug": lambda c: (
        sink(c, *FAIL_FAST, "--", "printf", "data", reach=False),
        None,
        1,
        REDACTED,
    ),
    "fifo-json": lambda c: (sink(c, "--json", *fifo(c)), None, 0, None),
    "fifo-failed-debug-json": lambda c: (
        sink(c, "--json", *FAIL_FAST, *fifo(c), reach=False),
        None,
        1,
        REDACTED,
    ),
    "file": lambda c: (sink(c, "--file", c.file()), None, 0, None),
    "file-failed-debug-json": lambda c: (
        sink(c, "--json", *FAIL_FAST, "--file", c.file(), reach=False),
        None,
        1,
        REDACTED,
    ),
    "usage-error-json": lambda c: (
        [c.uri, "--endpoint-url", "http://user:SECRET@127.0.0.1:0", "--json"],
        b"x",
        2,
        REDACTED,
    ),
    "resumable-kept": lambda c: (
        sink(c, "--part-size", "5MiB", "--resumable", *one_part_then_exit(c, 3)),
        None,
        123,
        QUOTED,
    ),
    "resumable-kept-json": lambda c: (
        sink(c, "--part-size", "5MiB", "--resumable", "--json", *one_part_then_exit(c, 3)),
        None,
        123,
        QUOTED,
    ),
    "resume-command-as-printed": _kept_then_printed,
    "abort-failed-json": _abort_fails,
    # uploads list | abort | lifecycle
    "uploads-list": lambda c: (
        c.with_pending(*bucket_command(c, "uploads", "list")),
        None,
        0,
        None,
    ),
    "uploads-list-json": lambda c: (
        c.with_pending(*bucket_command(c, "uploads", "list", "--json")),
        None,
        0,
        None,
    ),
    "uploads-list-resume-command": _kept_then_listed,
    "uploads-list-resume-command-json": lambda c: _kept_then_listed(c, "--json"),
    "uploads-list-failed-debug": lambda c: (
        bucket_command(c, "uploads", "list", "--debug", reach=False),
        None,
        1,
        REDACTED,
    ),
    "uploads-abort": lambda c: (
        c.with_pending(*bucket_command(c, "uploads", "abort")),
        None,
        0,
        None,
    ),
    "uploads-abort-dry-run-json": lambda c: (
        c.with_pending(*bucket_command(c, "uploads", "abort", "--dry-run", "--json")),
        None,
        0,
        None,
    ),
    "uploads-abort-failed-debug": lambda c: (
        bucket_command(c, "uploads", "abort", "--debug", reach=False),
        None,
        1,
        REDACTED,
    ),
    "lifecycle-missing": lambda c: (bucket_command(c, "uploads", "lifecycle"), None, 1, QUOTED),
    "lifecycle-missing-json": lambda c: (
        bucket_command(c, "uploads", "lifecycle", "--json"),
        None,
        1,
        QUOTED,
    ),
    "lifecycle-add-json": lambda c: (
        bucket_command(c, "uploads", "lifecycle", "--days", "3", "--json"),
        None,
        0,
        None,
    ),
    "lifecycle-failed-debug": lambda c: (
        bucket_command(c, "uploads", "lifecycle", "--debug", reach=False),
        None,
        1,
        REDACTED,
    ),
    # the read half
    "cat": lambda c: (read_command(c, "cat"), None, 0, None),
    "cat-json-to-a-file": lambda c: (
        read_command(c, "cat", "--json", "-o", str(c.tmp / "out")),
        None,
        0,
        None,
    ),
    "cat-failed-debug-json": lambda c: (
        read_command(c, "cat", "--json", *FAIL_FAST, reach=False),
        None,
        1,
        REDACTED,
    ),
    "cat-missing-key": lambda c: (
        ["cat", f"s3://{c.bucket}/nothing", "--endpoint-url", c.reachable, "--debug"],
        None,
        1,
        None,
    ),
    "cat-replaced-while-read": _replaced_while_read,
    "get-json": lambda c: (read_command(c, "get", str(c.tmp / "got"), "--json"), None, 0, None),
    "get-failed-debug": lambda c: (
        read_command(c, "get", str(c.tmp / "got"), "--debug", reach=False),
        None,
        1,
        REDACTED,
    ),
    "verify-json": lambda c: (read_command(c, "verify", "--json"), None, 0, None),
    "verify-recursive-failed-debug-json": lambda c: (
        [
            "verify",
            f"s3://{c.bucket}/",
            "--recursive",
            "--json",
            "--debug",
            "--endpoint-url",
            c.unreachable,
        ],
        None,
        1,
        REDACTED,
    ),
    # doctor
    "doctor": lambda c: (bucket_command(c, "doctor"), None, 0, None),
    "doctor-json": lambda c: (
        bucket_command(c, "doctor", "--json"),
        None,
        0,
        b'"endpoint": "http://***@127.0.0.1',
    ),
    "doctor-failed-debug": lambda c: (
        bucket_command(c, "doctor", "--debug", reach=False),
        None,
        1,
        REDACTED,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_no_output_and_no_file_shows_the_endpoints_password(
    name: str,
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The case's stdout and stderr, and every file under its state and work directories,
    hold no SECRET; where the URL is printed, it shows as http://***@."""
    state = {**env, "XDG_STATE_HOME": str(tmp_path / "state")}
    ctx = Ctx(
        reachable=fault_proxy.endpoint_url.replace("http://", "http://user:SECRET@"),
        unreachable=f"http://user:SECRET@127.0.0.1:{free_port()}",
        bucket=bucket,
        tmp=tmp_path,
        client=s3_client,
        proxy=fault_proxy,
        env=state,
    )
    command, stdin, code, shown = CASES[name](ctx)
    if isinstance(command, str):
        result = run_printed(command, state)
    else:
        result = run_cli(command, state, data=stdin)
    output = result.stdout + result.stderr
    assert result.returncode == code, output.decode(errors="replace")
    assert SECRET not in output
    if shown is not None:
        assert shown in output
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET in p.read_bytes()]
    assert leaked == []
