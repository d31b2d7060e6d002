"""``s3sink mount`` through a real FUSE mount (libfuse 3, as root) against moto on 127.0.0.1:
files become objects as they are written, nothing is published partially, and every failure
reaches the program (errno) and the summary (exit code)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, pattern, pending
from tests.support.mounted import mounted

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the mount tests need /dev/fuse and root")
        pytest.skip("needs /dev/fuse and root")


def start(bucket: str, tmp_path: Path, env: dict[str, str], endpoint: str, *args: str) -> Any:
    return mounted(
        f"s3://{bucket}/backups",
        tmp_path / "mnt",
        env,
        "--endpoint-url",
        endpoint,
        "--part-size",
        "5MiB",
        *args,
    )


def keys(client: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def expect_errno(code: int, fn: Any, *args: Any) -> None:
    with pytest.raises(OSError, match=r".") as raised:
        fn(*args)
    assert raised.value.errno == code, raised.value


def test_files_and_directories_become_objects(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    big, small = pattern(12 * MiB + 5), b"a small file\n"
    with start(bucket, tmp_path, env, s3_endpoint, "--json") as mount:
        root = mount.path
        (root / "db" / "part1").mkdir(parents=True)
        (root / "db" / "part1" / "data.bin").write_bytes(big)
        (root / "notes.txt").write_bytes(small)
        (root / "empty").touch()
        assert keys(s3_client, bucket) == [
            "backups/db/part1/data.bin",
            "backups/empty",
            "backups/notes.txt",
        ]
        status = [json.loads(line) for line in (root / ".s3sink-status").read_text().splitlines()]
        assert {s["key"]: s["state"] for s in status} == {
            "backups/db/part1/data.bin": "committed",
            "backups/notes.txt": "committed",
            "backups/empty": "committed",
        }
        assert sorted(os.listdir(root)) == [".s3sink-status", "db", "empty", "notes.txt"]
        assert (root / "notes.txt").stat().st_size == len(small)
        code = mount.unmount()
    assert code == 0, mount.stderr
    assert body(s3_client, bucket, "backups/db/part1/data.bin") == big
    assert body(s3_client, bucket, "backups/empty") == b""
    summary = json.loads(mount.stdout)
    assert summary["ok"] is True
    assert len(summary["committed"]) == 3
    assert b"3 files committed" in mount.stderr
    assert pending(s3_client, bucket) == []


def test_a_write_at_another_offset_aborts_that_file(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
        os.write(fd, pattern(6 * MiB))
        expect_errno(errno.EINVAL, os.pwrite, fd, b"x", 100)
        os.close(fd)
        (mount.path / "good").write_bytes(b"fine")
        code = mount.unmount()
    assert code == 1
    assert b"write at offset 100 but 6,291,456 bytes were written" in mount.stderr
    assert b"1 files committed" in mount.stderr
    assert b"1 aborted" in mount.stderr
    assert keys(s3_client, bucket) == ["backups/good"]
    assert pending(s3_client, bucket) == []


def test_fsync_commits_and_a_later_write_fails(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"first")
        os.fsync(fd)
        assert body(s3_client, bucket, "backups/f") == b"first"
        expect_errno(errno.EIO, os.write, fd, b"second")
        os.close(fd)
        # Reopened read-only only to fsync it, as pg_dump and pg_basebackup do.
        again = os.open(mount.path / "f", os.O_RDONLY)
        os.fsync(again)
        os.close(again)
        assert mount.unmount() == 0, mount.stderr


def test_a_failed_commit_is_eio_and_publishes_nothing(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--no-overwrite and the key exists: the program sees EIO (at the write that starts the
    upload, or at close for a small file), the old object stays, the exit code is 1."""
    s3_client.put_object(Bucket=bucket, Key="backups/small", Body=b"yesterday")
    s3_client.put_object(Bucket=bucket, Key="backups/big", Body=b"yesterday")
    with start(bucket, tmp_path, env, s3_endpoint, "--no-overwrite") as mount:
        fd = os.open(mount.path / "small", os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"today")
        expect_errno(errno.EIO, os.close, fd)
        big = os.open(mount.path / "big", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError) as raised:  # noqa: PT011  # the errno is what counts
            for _ in range(3):
                os.write(big, pattern(4 * MiB))
        assert raised.value.errno == errno.EIO
        os.close(big)
        code = mount.unmount()
    assert code == 1
    assert body(s3_client, bucket, "backups/small") == b"yesterday"
    assert body(s3_client, bucket, "backups/big") == b"yesterday"
    assert b"2 failed" in mount.stderr
    assert pending(s3_client, bucket) == []


def test_sigterm_with_a_file_open_aborts_it(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        fd = os.open(mount.path / "half.bin", os.O_WRONLY | os.O_CREAT)
        os.write(fd, pattern(11 * MiB))
        (mount.path / "done").write_bytes(b"ok")
        mount.process.send_signal(signal.SIGTERM)
        code = mount.wait()
        with contextlib.suppress(OSError):  # the mount is gone
            os.close(fd)
    assert code == 1, mount.stderr
    assert b"half.bin was still open at unmount" in mount.stderr
    assert keys(s3_client, bucket) == ["backups/done"]
    assert pending(s3_client, bucket) == []


def test_renames_before_and_after_the_commit(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """pg_basebackup writes backup_manifest.tmp and renames it once closed; a file renamed
    while still being written goes to its new name."""
    manifest, data = b'{"PostgreSQL-Backup-Manifest-Version": 1}', pattern(7 * MiB)
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        root = mount.path
        (root / "backup_manifest.tmp").write_bytes(manifest)
        os.rename(root / "backup_manifest.tmp", root / "backup_manifest")
        fd = os.open(root / "base.tar.tmp", os.O_WRONLY | os.O_CREAT)
        os.write(fd, data)
        os.rename(root / "base.tar.tmp", root / "base.tar")
        os.close(fd)
        assert mount.unmount() == 0, mount.stderr
    assert keys(s3_client, bucket) == ["backups/backup_manifest", "backups/base.tar"]
    assert body(s3_client, bucket, "backups/backup_manifest") == manifest
    assert body(s3_client, bucket, "backups/base.tar") == data


def test_what_cannot_be_done_is_refused_with_an_errno(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        f = mount.path / "f"
        f.write_bytes(b"committed")
        expect_errno(errno.EACCES, f.read_bytes)
        expect_errno(errno.EPERM, os.truncate, f, 3)
        expect_errno(errno.EPERM, os.link, f, mount.path / "g")
        expect_errno(errno.EPERM, os.symlink, f, mount.path / "h")
        expect_errno(errno.ENOTSUP, os.setxattr, f, "user.x", b"1")
        expect_errno(errno.EPERM, os.open, f, os.O_WRONLY | os.O_APPEND)
        expect_errno(errno.EPERM, os.unlink, f)
        assert mount.unmount() == 0, mount.stderr
    assert body(s3_client, bucket, "backups/f") == b"committed"


def test_exit_on_error_unmounts_at_the_first_failure(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    with start(bucket, tmp_path, env, s3_endpoint, "--exit-on-error") as mount:
        fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"abc")
        expect_errno(errno.EINVAL, os.pwrite, fd, b"x", 0)
        code = mount.wait()
        with contextlib.suppress(OSError):
            os.close(fd)
    assert code == 1
    assert not os.path.ismount(tmp_path / "mnt")
    assert b"--exit-on-error" in mount.stderr


def test_many_files_open_at_once_within_the_budget(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """30 files open at once under --max-memory 40MiB with 5 MiB parts: each holds only what
    was written to it (not a 5 MiB part buffer), so all of them go through."""
    with start(bucket, tmp_path, env, s3_endpoint, "--max-memory", "40MiB") as mount:
        fds = [os.open(mount.path / f"f{i}", os.O_WRONLY | os.O_CREAT) for i in range(30)]
        for i, fd in enumerate(fds):
            os.write(fd, pattern(MiB + i))
        for fd in fds:
            os.close(fd)
        deadline = time.monotonic() + 60
        while len(keys(s3_client, bucket)) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mount.unmount() == 0, mount.stderr
    assert len(keys(s3_client, bucket)) == 30
    assert body(s3_client, bucket, "backups/f7") == pattern(MiB + 7)


def test_mount_point_must_be_an_empty_directory(
    s3_endpoint: str, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").touch()
    from tests.support.clirun import run_cli

    result = run_cli(
        ["mount", f"s3://{bucket}", str(tmp_path / "full"), "--endpoint-url", s3_endpoint], env
    )
    assert result.returncode == 2
    assert b"is not empty" in result.stderr
