"""--sse-c-key-file as real processes against moto on 127.0.0.1: a bad key file stops the
command before the producer starts; the key (raw, base64, hex or its MD5) never reaches
stdout, stderr, --json or the resume journal; a resume needs the key again; cat, get and
verify read with it. moto ignores SSE-C (it stores the bytes in clear): that the store
encrypts and insists on the key is tested on SeaweedFS (tests/stores/test_store_ssec.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import assert_nothing_written, body, pattern, run_printed
from tests.support.clirun import run_cli as run

MiB = 1024 * 1024
PART = 5 * MiB
KEY = bytes(range(7, 39))
SECRETS = [
    KEY,
    base64.b64encode(KEY),
    KEY.hex().encode(),
    base64.b64encode(hashlib.md5(KEY).digest()),  # noqa: S324  # the header S3 gets
    hashlib.md5(KEY).hexdigest().encode(),  # noqa: S324
]


@pytest.fixture
def state_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def leaks(*texts: bytes, directory: Path | None = None) -> list[str]:
    """Which forms of the key appear in ``texts`` or any file below ``directory``."""
    found = [s.decode("latin-1")[:6] for s in SECRETS for t in texts if s in t]
    if directory is not None:
        files = [p for p in directory.rglob("*") if p.is_file()]
        found += [str(p) for p in files for s in SECRETS if s in p.read_bytes()]
    return found


@pytest.mark.parametrize("content", [b"", b"short", base64.b64encode(KEY[:16])])
def test_a_bad_key_file_exits_2_before_the_producer_starts(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path,
    content: bytes,
) -> None:  # fmt: skip
    """No 32-byte key in the file: exit 2, one error line naming the file, no byte of it
    shown, the producer never run, nothing in the bucket."""
    key_file, marker = tmp_path / "key", tmp_path / "ran"
    key_file.write_bytes(content)
    producer = ["--", "sh", "-c", 'touch "$1"; echo data', "sh", str(marker)]
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--sse-c-key-file", str(key_file)]
    result = run([*args, "--json", *producer], env)
    assert result.returncode == 2, result.stderr
    assert not marker.exists()
    message = json.loads(result.stdout)["message"]
    assert str(key_file) in message
    if content:
        assert content not in result.stdout + result.stderr
    assert_nothing_written(s3_client, bucket)


def test_the_key_is_never_printed_nor_journaled_and_a_resume_needs_it(
    s3_endpoint: str, s3_client: Any, bucket: str, state_env: dict[str, str], tmp_path: Path
) -> None:
    """--resumable with a failing producer keeps the upload: no form of the key in the output,
    the --json record or any file of the state directory; the resume without the key exits 2
    saying to give it again; with it (the printed command), the object is published."""
    data = pattern(2 * PART + 5)
    source, ready, key_file = tmp_path / "data", tmp_path / "ready", tmp_path / "key.b64"
    source.write_bytes(data)
    key_file.write_bytes(base64.b64encode(KEY) + b"\n")
    producer = ["--", "sh", "-c", 'cat "$1" && test -e "$2"', "sh", str(source), str(ready)]
    base = [f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB"]
    ssec = ["--sse-c-key-file", str(key_file)]
    first = run([*base, *ssec, "--resumable", "--json", "--debug", *producer], state_env)
    assert first.returncode == 123, first.stderr
    state = Path(state_env["XDG_STATE_HOME"])
    assert leaks(first.stdout, first.stderr, directory=state) == []
    command = json.loads(first.stdout)["resume_command"]
    assert f"--sse-c-key-file {key_file}" in command
    ready.touch()
    refused = run([*base, "--resume", "--json", *producer], state_env)
    assert refused.returncode == 2, refused.stderr
    assert "give the same key again" in json.loads(refused.stdout)["message"]
    resumed = run_printed(command, state_env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["parts_skipped"] == 2
    assert leaks(resumed.stdout, resumed.stderr, directory=state) == []
    assert body(s3_client, bucket, "k") == data


def test_cat_get_and_verify_take_the_key_file(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """An upload with --sse-c-key-file (raw key) reads back with it through cat, get and
    verify, exit 0, the key in no output."""
    data = pattern(PART + 3)
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    conn = ["--endpoint-url", s3_endpoint, "--sse-c-key-file", str(key_file)]
    up = run([f"s3://{bucket}/k", *conn, "--json"], env, data=data)
    assert up.returncode == 0, up.stderr
    cat = run(["cat", f"s3://{bucket}/k", *conn], env)
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == data
    got = run(["get", f"s3://{bucket}/k", str(tmp_path / "out"), *conn, "--json"], env)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out").read_bytes() == data
    checked = run(["verify", f"s3://{bucket}/k", *conn, "--json"], env)
    assert checked.returncode == 0, checked.stderr
    outputs = (up.stdout, up.stderr, cat.stderr, got.stdout, got.stderr, checked.stdout)
    assert leaks(*outputs, checked.stderr) == []


@pytest.mark.parametrize("command", ["cat", "get", "verify"])
def test_a_read_with_a_bad_key_file_exits_2(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path, command: str
) -> None:
    """cat, get and verify refuse a key file without a key: exit 2, nothing read."""
    key_file = tmp_path / "key"
    key_file.write_bytes(b"0123456789")
    args = [command, f"s3://{bucket}/k"] + ([str(tmp_path / "out")] if command == "get" else [])
    result = run([*args, "--endpoint-url", s3_endpoint, "--sse-c-key-file", str(key_file)], env)
    assert result.returncode == 2, result.stderr
    assert b"--sse-c-key-file" in result.stderr
    assert b"0123456789" not in result.stderr + result.stdout
