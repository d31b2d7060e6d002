"""``s3sink mount`` through a real FUSE mount (libfuse 3, as root) against moto on 127.0.0.1:
files become objects as they are written, nothing is published partially, and every failure
reaches the program (errno) and the summary (exit code)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
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
        (root / "empty").touch()  # an empty file commits at release, just after close
        deadline = time.monotonic() + 10
        while len(keys(s3_client, bucket)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert keys(s3_client, bucket) == [
            "backups/db/",  # directories are markers, so that an empty one is kept
            "backups/db/part1/",
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
    assert b"1 file committed" in mount.stderr
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
        expect_errno(errno.EIO, os.close, big)  # the file was not stored
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


def test_common_tools_write_through_the_mount(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """tar -cf, cp, a shell redirect, dd with 4 KiB and 1 MiB blocks, split -b 7M."""
    source = tmp_path / "src"
    source.mkdir()
    for i in range(5):
        (source / f"file{i}").write_bytes(pattern(3 * MiB + i))
    data = pattern(13 * MiB + 3)
    (tmp_path / "data.bin").write_bytes(data)
    local_tar = tmp_path / "local.tar"
    tar = ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf"]
    subprocess.run([*tar, str(local_tar), "-C", str(tmp_path), "src"], check=True)
    with start(bucket, tmp_path, env, s3_endpoint) as mount:
        m = mount.path
        subprocess.run([*tar, str(m / "x.tar"), "-C", str(tmp_path), "src"], check=True)
        subprocess.run(["cp", str(tmp_path / "data.bin"), str(m / "cp.bin")], check=True)
        subprocess.run(
            ["sh", "-c", f"cat '{tmp_path / 'data.bin'}' > '{m / 'redirect.bin'}'"], check=True
        )
        for block in ("4k", "1M"):
            subprocess.run(
                [
                    "dd",
                    f"if={tmp_path / 'data.bin'}",
                    f"of={m / f'dd-{block}.bin'}",
                    f"bs={block}",
                    "status=none",
                ],
                check=True,
            )
        (m / "split").mkdir()
        subprocess.run(
            ["split", "-b", "7M", str(tmp_path / "data.bin"), str(m / "split" / "p")], check=True
        )
        assert mount.unmount() == 0, mount.stderr
    assert body(s3_client, bucket, "backups/x.tar") == local_tar.read_bytes()
    for name in ("cp.bin", "redirect.bin", "dd-4k.bin", "dd-1M.bin"):
        assert body(s3_client, bucket, f"backups/{name}") == data, name
    pieces = [k for k in keys(s3_client, bucket) if k.startswith("backups/split/p")]
    assert pieces == ["backups/split/paa", "backups/split/pab"]
    assert b"".join(body(s3_client, bucket, k) for k in pieces) == data
    assert pending(s3_client, bucket) == []


def test_server_gone_mid_file_is_eio_and_leaves_nothing(
    fault_proxy: Any, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The store goes away while a file is written: its close returns EIO, the status file
    says failed, nothing is published; the upload whose abort failed then is aborted at
    unmount, once the store is back, so nothing is left pending."""
    with start(bucket, tmp_path, env, fault_proxy.endpoint_url, "--max-attempts", "2") as mount:
        fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
        os.write(fd, pattern(6 * MiB))  # part 1 sent once the next byte arrives
        os.write(fd, b"x")
        deadline = time.monotonic() + 30
        while not pending(s3_client, bucket) and time.monotonic() < deadline:
            time.sleep(0.05)
        fault_proxy.refuse_all()
        with pytest.raises(OSError, match=r".") as raised:
            os.write(fd, pattern(5 * MiB))
            os.close(fd)
            fd = -1
        assert raised.value.errno == errno.EIO
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        status = (mount.path / ".s3sink-status").read_text()
        assert json.loads(status.splitlines()[0])["state"] == "failed"
        fault_proxy.accept_again()
        code = mount.unmount()
    assert code == 1
    assert keys(s3_client, bucket) == []
    assert pending(s3_client, bucket) == []


def _rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_fifty_files_open_at_once_stay_within_the_memory_bound(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """50 files open at once under --max-memory 64MiB with 5 MiB parts: each holds only the
    megabyte written to it (50 part buffers would need 250 MiB), and a 20 MiB file written
    meanwhile gets its part buffers from what is left. The mount process's peak RSS grows by
    no more than the budget (plus 24 MiB of Python and socket buffers) over its RSS mounted."""
    budget = 64 * MiB
    with start(bucket, tmp_path, env, s3_endpoint, "--max-memory", "64MiB", "-j", "2") as mount:
        pid = mount.process.pid
        baseline = _rss_kib(pid)
        fds = [os.open(mount.path / f"f{i:02}", os.O_WRONLY | os.O_CREAT) for i in range(50)]
        chunk = pattern(MiB)
        for fd in fds:
            os.write(fd, chunk)
        (mount.path / "big").write_bytes(pattern(20 * MiB))
        for fd in fds:
            os.close(fd)
        peak = _rss_peak_kib(pid)
        assert mount.unmount() == 0, mount.stderr
    grown = (peak - baseline) * 1024
    print(f"mount RSS: {baseline / 1024:.0f} MiB mounted, peak {peak / 1024:.0f} MiB")
    assert grown <= budget + 24 * MiB, f"peak grew {grown / MiB:.0f} MiB"
    assert len(keys(s3_client, bucket)) == 51
    assert body(s3_client, bucket, "backups/big") == pattern(20 * MiB)


def test_the_stream_options_apply_to_every_file(
    s3_client: Any, env: dict[str, str], tmp_path: Path, fault_proxy: Any
) -> None:
    """--compress and Object Lock on every file; --rate-limit is one cap for the whole mount:
    two files written at once share it (measured at the proxy)."""
    import threading

    import zstandard

    locked = f"locked-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    files = {"a.bin.zst": os.urandom(6 * MiB), "b.bin.zst": os.urandom(6 * MiB)}
    files["small.txt.zst"] = b"small file\n" * 100
    options = ["--compress", "zstd:1", "--rate-limit", "8MiB/s", "--legal-hold"]
    with start(locked, tmp_path, env, fault_proxy.endpoint_url, *options) as mount:
        writers = [
            threading.Thread(target=(mount.path / name).write_bytes, args=(data,))
            for name, data in files.items()
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        assert mount.unmount() == 0, mount.stderr
    unzstd = zstandard.ZstdDecompressor()
    for name, data in files.items():
        stored = body(s3_client, locked, f"backups/{name}")
        assert unzstd.decompressobj().decompress(stored) == data
        head = s3_client.head_object(Bucket=locked, Key=f"backups/{name}")
        assert head["ContentType"] == "application/zstd"
    starts = [
        h
        for m, t, h in fault_proxy.request_headers
        if (m == "POST" and t.endswith("?uploads"))
        or (m == "PUT" and "uploadId" not in t and "?legal-hold" not in t)
    ]
    assert len(starts) == len(files)
    assert all(h.get("x-amz-object-lock-legal-hold") == "ON" for h in starts)
    sent = [b for b in fault_proxy.bodies if b.method == "PUT" and b.nbytes > 0]
    total = sum(b.nbytes for b in sent)
    span = max(b.last for b in sent) - min(b.first for b in sent)
    assert total > 12 * MiB  # random bytes: zstd does not shrink them
    # One cap: 12 MiB at 8 MiB/s, less its burst, is over 1.2 s; two caps would take ~0.75 s.
    assert span > 1.2, (total, span)
    assert pending(s3_client, locked) == []


def test_a_compressed_file_shows_the_size_written_and_its_stored_size(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--compress: stat, the status file, --json and the summary give the size written;
    ``stored_size`` is the object's."""
    data = b"0123456789" * 300_000
    with start(bucket, tmp_path, env, s3_endpoint, "--compress", "zstd:1", "--json") as mount:
        (mount.path / "app.log.zst").write_bytes(data)
        assert (mount.path / "app.log.zst").stat().st_size == len(data)
        (status,) = (mount.path / ".s3sink-status").read_text().splitlines()
        assert mount.unmount() == 0, mount.stderr
    stored = s3_client.head_object(Bucket=bucket, Key="backups/app.log.zst")["ContentLength"]
    assert stored < len(data) // 100
    assert (json.loads(status)["size"], json.loads(status)["stored_size"]) == (len(data), stored)
    (committed,) = json.loads(mount.stdout)["committed"]
    assert (committed["size"], committed["stored_size"]) == (len(data), stored)
    assert b"1 file committed (2.9 MiB, " in mount.stderr
