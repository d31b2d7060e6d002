"""Run the installed ``s3sink`` command as a real process, and read the server's state back.

Shared by the end-to-end tests that need nothing more than a process, its exit code and its
output: the environment has dummy credentials, no AWS profiles or config files and no proxies,
so the only server a child can reach is the one on 127.0.0.1 its arguments name.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.motoserver import server_env

TIMEOUT = 60  # seconds: the bound on every s3sink process


def _s3sink_command() -> list[str]:
    script = Path(sys.executable).with_name("s3sink")
    return [str(script)] if script.exists() else [sys.executable, "-m", "s3sink"]


#: The console script of the venv running the tests (``python -m s3sink`` without one).
S3SINK = _s3sink_command()


def cli_env() -> dict[str, str]:
    """The environment of s3sink processes: no S3SINK_* settings from the caller, and UTF-8
    mode, so that undecodable argv bytes reach s3sink as lone surrogates whatever the locale."""
    env = {k: v for k, v in server_env().items() if not k.startswith("S3SINK_")}
    env["PYTHONUTF8"] = "1"
    return env


def run_cli(
    args: list[str], env: dict[str, str], *, data: bytes | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run ``s3sink ARGS`` to completion (bounded by TIMEOUT), ``data`` on its stdin."""
    if data is None:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [*S3SINK, *args],
        input=data,
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        **kwargs,
    )


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.05)


def pattern(size: int) -> bytes:
    """Deterministic, incompressible bytes (a producer can regenerate them)."""
    return random.Random(size).randbytes(size)


def error_lines(stderr: bytes) -> list[str]:
    """The ``s3sink: error:`` lines of a process's stderr."""
    text = stderr.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.startswith("s3sink: error: ")]


def pending(client: Any, bucket: str) -> list[dict[str, Any]]:
    """Unfinished multipart uploads on the server."""
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def keys(client: Any, bucket: str) -> list[str]:
    """Object keys on the server."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def body(client: Any, bucket: str, key: str) -> bytes:
    """An object's bytes."""
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def assert_nothing_written(client: Any, bucket: str) -> None:
    """No object and no unfinished upload remain on the server."""
    assert keys(client, bucket) == []
    assert pending(client, bucket) == []


def wait_or_dump(process: subprocess.Popen[bytes], timeout: float = TIMEOUT) -> int:
    """Wait for ``process``; if it is still running after ``timeout``, fail the test with its
    threads' stacks (py-spy, when installed) so that a hang explains itself."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        spy = Path(sys.executable).with_name("py-spy")
        dump = "(py-spy is not installed: no stacks)"
        if spy.exists():
            result = subprocess.run(
                [str(spy), "dump", "--pid", str(process.pid)],
                capture_output=True,
                timeout=30,
                check=False,
            )
            dump = (result.stdout + result.stderr).decode("utf-8", "replace")
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"s3sink still running after {timeout} s; its threads:\n{dump}")


def run_printed(
    command: str, env: dict[str, str], *, data: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a command line s3sink printed (``s3sink ...``) as a user would paste it: through
    ``sh -c``, with this venv's ``s3sink`` first on PATH (and ``data`` on its stdin)."""
    bin_dir = str(Path(sys.executable).parent)
    path = f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
    return subprocess.run(
        ["sh", "-c", command],
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        env={**env, "PATH": path},
        timeout=TIMEOUT,
        check=False,
    )
