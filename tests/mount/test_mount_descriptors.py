"""Descriptors shared through ``s3sink mount`` (moto): a file is committed when the last
reference to its open file goes away, not at the first close of a dup()ed or inherited copy,
and a failed commit is still an error at the close a program checks."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, keys, pattern, pending
from tests.support.mounted import mount_backups, needs_fuse

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    needs_fuse()


def test_a_shell_descriptor_written_twice_is_one_whole_file(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """``exec 3>f; echo first >&3; echo second >&3; exec 3>&-``: each echo dup2()s fd 3 to
    stdout and back, a close of one copy; the file is committed at ``exec 3>&-`` with both
    lines (it was committed with ``first`` and the second write failed with EIO)."""
    script = "exec 3>{f}; echo first >&3; echo second >&3; exec 3>&-"
    with mount_backups(bucket, tmp_path, env, s3_endpoint) as mount:
        f = mount.path / "f"
        shell = subprocess.run(["bash", "-c", script.format(f=f)], capture_output=True, check=False)
        big = mount.path / "big"
        shell_big = subprocess.run(
            [
                "bash",
                "-c",
                f"exec 3>{big}; head -c 6291456 /dev/zero | tr '\\0' x >&3; "
                f"echo end >&3; exec 3>&-",
            ],
            capture_output=True,
            check=False,
        )
        code = mount.unmount()
    assert (shell.returncode, shell.stderr) == (0, b"")
    assert (shell_big.returncode, shell_big.stderr) == (0, b"")
    assert code == 0, mount.stderr
    assert body(s3_client, bucket, "backups/f") == b"first\nsecond\n"
    assert body(s3_client, bucket, "backups/big") == b"x" * 6291456 + b"end\n"


CHILD = "import sys; sys.stdout.write('from the child\\n')"
LATE_CHILD = "import sys, time; time.sleep(0.5); sys.stdout.write('after the parent closed\\n')"


def test_a_file_shared_with_a_child_process_is_committed_whole(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """``f.write(header); subprocess.run(cmd, stdout=f)``, then more: the child's copies
    close first (at its exec and at its exit) and must not commit the file; and a child that
    still writes after the parent closed its copy has its bytes in the object too."""
    with mount_backups(bucket, tmp_path, env, s3_endpoint) as mount:
        with (mount.path / "report").open("wb") as f:
            f.write(b"header\n")
            f.flush()
            subprocess.run([sys.executable, "-c", CHILD], stdout=f, check=True)
            f.write(b"trailer\n")
        with (mount.path / "late").open("wb") as f:
            f.write(b"parent\n")
            f.flush()
            child = subprocess.Popen([sys.executable, "-c", LATE_CHILD], stdout=f)
        assert child.wait(timeout=30) == 0  # the parent's copy closed before the child wrote
        code = mount.unmount()
    assert code == 0, mount.stderr
    assert body(s3_client, bucket, "backups/report") == b"header\nfrom the child\ntrailer\n"
    assert body(s3_client, bucket, "backups/late") == b"parent\nafter the parent closed\n"
    assert pending(s3_client, bucket) == []


def test_a_failed_commit_is_still_an_error_at_the_last_close(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--no-overwrite and the key exists: the close that drops the last descriptor says EIO,
    after a dup()ed copy was closed first (which says nothing: the file is still open)."""
    s3_client.put_object(Bucket=bucket, Key="backups/f", Body=b"yesterday")
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--no-overwrite") as mount:
        fd = os.open(mount.path / "f", os.O_WRONLY | os.O_CREAT)
        copy = os.dup(fd)
        os.write(fd, pattern(MiB))
        os.close(copy)
        with pytest.raises(OSError, match=r".") as raised:
            os.close(fd)
        assert raised.value.errno == errno.EIO
        code = mount.unmount()
    assert code == 1
    assert keys(s3_client, bucket) == ["backups/f"]
    assert body(s3_client, bucket, "backups/f") == b"yesterday"
