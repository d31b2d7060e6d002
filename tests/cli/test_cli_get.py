"""``s3sink get`` and ``s3sink verify`` as real processes: a tree restore interrupted by a
signal while a GET hangs exits 143 at once, with no temporary or partial file left; and the
commands are reached through ``s3sink`` itself; --max-attempts is the retry policy of cat, get
and verify alike."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import S3SINK, run_cli, wait_for, wait_or_dump
from tests.support.faultproxy import FaultProxy


def test_sigterm_during_a_tree_restore_leaves_no_partial_file(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """SIGTERM while one object's GET hangs: the restore stops without waiting for it
    (the hung reader is closed, not joined), exits 143, and leaves neither the hanging
    file nor any temporary file; files committed before stay whole."""
    for name in ("a", "b", "c"):
        s3_client.put_object(Bucket=bucket, Key=f"t/{name}", Body=name.encode() * 1000)
    s3_client.put_object(Bucket=bucket, Key="t/slow", Body=b"s" * 100_000)
    hang = fault_proxy.stall(600, method="GET", path=r"/t/slow(\?|$)", times=None)
    target = tmp_path / "restore"
    args = ["get", f"s3://{bucket}/t/", str(target), "--endpoint-url", fault_proxy.endpoint_url]
    log = tmp_path / "stderr"
    with log.open("wb") as err:
        process = subprocess.Popen([*S3SINK, *args], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    try:
        wait_for(lambda: hang.matched >= 1, timeout=60.0)
        process.send_signal(signal.SIGTERM)
        code = wait_or_dump(process, timeout=60.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = log.read_text()
    assert code == 143, stderr
    assert "interrupted" in stderr
    assert not (target / "slow").exists()
    assert [p.name for p in tmp_path.rglob("*.s3sink-tmp")] == []
    for name in ("a", "b", "c"):
        path = target / name
        assert not path.exists() or path.read_bytes() == name.encode() * 1000


def test_verify_and_get_through_the_command(
    env: dict[str, str], s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """``s3sink verify`` and ``s3sink get`` are subcommands of the installed command."""
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"hello")
    endpoint = s3_client.meta.endpoint_url
    verified = run_cli(["verify", f"s3://{bucket}/k", "--endpoint-url", endpoint], env)
    assert verified.returncode == 0, verified.stderr
    line = f"ok        s3://{bucket}/k (5 B, CRC32 of the whole object)\n"
    assert verified.stdout.decode() == line
    got = run_cli(["get", f"s3://{bucket}/k", str(tmp_path / "k"), "--endpoint-url", endpoint],
                  env)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "k").read_bytes() == b"hello"


@pytest.mark.parametrize("command", ["cat", "get", "verify"])
@pytest.mark.parametrize("attempts", [1, 2])
def test_max_attempts_is_the_retry_policy_of_every_read_command(
    command: str,
    attempts: int,
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """One GET answered 503: with --max-attempts 1 the read fails (1), with 2 it is retried."""
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"hello")
    fault_proxy.respond(503, "SlowDown", method="GET", path=r"/k$", times=1)
    args = [command, f"s3://{bucket}/k"]
    args += {"cat": ["-o", str(tmp_path / "out")], "get": [str(tmp_path / "out")], "verify": []}[
        command
    ]
    args += ["--max-attempts", str(attempts), "--endpoint-url", fault_proxy.endpoint_url]
    done = run_cli(args, env)
    assert done.returncode == (1 if attempts == 1 else 0), done.stderr
    assert (tmp_path / "out").exists() == (attempts == 2 and command != "verify")
