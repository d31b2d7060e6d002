"""Nothing to upload is a failure until the user says otherwise: an empty stream in pipe,
exec and fifo mode, and a FIFO the command never opened (a typo in its path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, error_lines, keys, pending, run_cli


@pytest.fixture
def yesterday(s3_client: Any, bucket: str) -> str:
    """The good backup already at the key, which a failed run must leave alone."""
    s3_client.put_object(Bucket=bucket, Key="db.dump", Body=b"yesterday's good dump")
    return f"s3://{bucket}/db.dump"


def run(s3_client: Any, env: dict[str, str], uri: str, *args: str) -> tuple[int, list[str]]:
    """Run s3sink with ARGS against moto; its exit code and error lines."""
    result = run_cli([uri, "--endpoint-url", s3_client.meta.endpoint_url, *args], env, data=b"")
    return result.returncode, error_lines(result.stderr)


@pytest.mark.parametrize("allow_empty", [False, True], ids=["default", "allow-empty"])
def test_a_fifo_the_command_never_opens_is_a_failure(
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    yesterday: str,
    tmp_path: Path,
    allow_empty: bool,
) -> None:
    """The command writes to another path and exits 0: exit 1, one line saying the FIFO was
    never opened, yesterday's object untouched, nothing pending (with --allow-empty too)."""
    fifo, typo = tmp_path / "db.fifo", tmp_path / "typo.fifo"
    args = ["--fifo", str(fifo), *(["--allow-empty"] if allow_empty else [])]
    code, lines = run(s3_client, env, yesterday, *args, "--", "sh", "-c", f"echo dump > {typo}")
    assert code == 1
    assert lines == [
        f"s3sink: error: sh exited without ever opening {fifo} for writing (is that the path "
        "it writes to?); nothing was uploaded"
    ]
    assert body(s3_client, bucket, "db.dump") == b"yesterday's good dump"
    assert pending(s3_client, bucket) == []
    assert not fifo.exists()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("pipe", "stdin was empty"),
        ("exec", "true wrote nothing"),
        ("fifo", "nothing was written to {fifo}"),
    ],
)
def test_an_empty_stream_is_refused_by_default(
    env: dict[str, str],
    s3_client: Any,
    bucket: str,
    yesterday: str,
    tmp_path: Path,
    mode: str,
    message: str,
) -> None:
    """A 0-byte stream (a failed producer, usually) exits 1 and replaces nothing; with
    --allow-empty it becomes an empty object."""
    fifo = tmp_path / "f.fifo"
    args = {
        "pipe": [],
        "exec": ["--", "true"],
        "fifo": ["--fifo", str(fifo), "--", "sh", "-c", f": > {fifo}"],
    }[mode]
    code, lines = run(s3_client, env, yesterday, *args)
    assert code == 1
    expected = message.format(fifo=fifo)
    assert lines == [
        f"s3sink: error: {expected}: nothing uploaded; --allow-empty uploads an empty object"
    ]
    assert body(s3_client, bucket, "db.dump") == b"yesterday's good dump"
    code, lines = run(s3_client, env, yesterday, "--allow-empty", *args)
    assert (code, lines) == (0, [])
    assert body(s3_client, bucket, "db.dump") == b""
    assert keys(s3_client, bucket) == ["db.dump"]
    assert pending(s3_client, bucket) == []
