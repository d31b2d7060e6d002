"""``s3sink mount --encrypt-to``: every file through the FUSE mount is stored as an age file
that the ``age`` binary decrypts to what was written (a small file handed over from staging,
and one of several parts); a directory's marker stays an empty object; a bad recipient
stops the mount before it mounts (exit 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, pattern, pending
from tests.support.clirun import run_cli as run
from tests.support.mounted import mount_backups, needs_fuse

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


def test_every_file_is_an_age_file_and_markers_stay_empty(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Two files (one small, one of three parts) in a directory, written through the mount
    with --encrypt-to: `age -d -i KEY` of each object is the file; the marker is empty."""
    needs_fuse()
    if shutil.which("age-keygen") is None:
        pytest.skip("age not installed")
    identity = tmp_path / "key"
    subprocess.run(["age-keygen", "-o", identity], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", identity], check=True, capture_output=True, text=True
    ).stdout.strip()
    big, small = pattern(12 * MiB + 5), b"a small file\n"
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--encrypt-to", public) as mount:
        (mount.path / "db").mkdir()
        (mount.path / "db" / "data.bin").write_bytes(big)
        (mount.path / "notes.txt").write_bytes(small)
        code = mount.unmount()
    assert code == 0, mount.stderr
    for key, data in (("backups/db/data.bin", big), ("backups/notes.txt", small)):
        done = subprocess.run(
            ["age", "-d", "-i", identity], input=body(s3_client, bucket, key),
            capture_output=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout == data
    assert body(s3_client, bucket, "backups/db/") == b""
    assert pending(s3_client, bucket) == []


def test_a_bad_recipient_exits_2_before_mounting(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A malformed --encrypt-to: exit 2 naming the option, nothing mounted."""
    needs_fuse()
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    result = run(["mount", f"s3://{bucket}/b", str(mountpoint), "--endpoint-url", s3_endpoint,
                  "--encrypt-to", "age1nope"], env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert b"--encrypt-to" in result.stderr
    assert not mountpoint.is_mount()
