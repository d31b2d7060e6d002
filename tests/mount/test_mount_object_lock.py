"""Object Lock through ``s3sink mount`` (moto, a bucket with Object Lock): a retention given
as a duration counts from each file's commit, and a file that cannot be stored is refused
where the program sees it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import keys, pattern
from tests.support.mounted import mount_backups, needs_fuse

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
SLACK = dt.timedelta(seconds=1)  # stores keep whole seconds


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    needs_fuse()


@pytest.fixture
def locked(s3_client: Any) -> str:
    name = f"locked-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def retained_until(client: Any, bucket: str, key: str) -> dt.datetime:
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until: dt.datetime = head["ObjectLockRetainUntilDate"]
    return until


def test_a_retention_duration_counts_from_each_files_commit(
    s3_endpoint: str, s3_client: Any, locked: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--object-lock-retain-until 5s: a file written once the mount is 5 s old is stored and
    retained until 5 s after its own commit (the mount's one date had passed: it was refused,
    and ``echo`` exited 0); a file past its first part counts from its commit too, not from
    its first part."""
    lock = ("--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", "5s")
    with mount_backups(locked, tmp_path, env, s3_endpoint, *lock) as mount:
        started = now()
        time.sleep(6)  # the mount's start + 5 s is past
        before_late = now()
        shell = subprocess.run(["bash", "-c", f"echo x > '{mount.path}/late'"], check=False)
        after_late = now()
        fd = os.open(mount.path / "big", os.O_WRONLY | os.O_CREAT)
        os.write(fd, pattern(6 * MiB))  # its upload begins: part 1 goes out
        time.sleep(3)
        before_big = now()
        os.close(fd)
        after_big = now()
        assert mount.unmount() == 0, mount.stderr
    assert shell.returncode == 0
    assert keys(s3_client, locked) == ["backups/big", "backups/late"]
    late = retained_until(s3_client, locked, "backups/late")
    assert before_late + dt.timedelta(seconds=5) - SLACK <= late
    assert late <= after_late + dt.timedelta(seconds=5) + SLACK
    assert late > started + dt.timedelta(seconds=5)
    big = retained_until(s3_client, locked, "backups/big")
    assert before_big + dt.timedelta(seconds=5) - SLACK <= big
    assert big <= after_big + dt.timedelta(seconds=5) + SLACK


def test_a_file_that_cannot_be_stored_is_refused_at_its_open(
    s3_endpoint: str, s3_client: Any, locked: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A retention date that has passed while mounted: ``echo x > MNT/f`` fails (the open
    says EIO) instead of exiting 0 with nothing stored; the summary counts it (exit 1)."""
    until = (now() + dt.timedelta(seconds=4)).replace(microsecond=0)
    lock = ("--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", until.isoformat())
    with mount_backups(locked, tmp_path, env, s3_endpoint, *lock) as mount:
        (mount.path / "early").write_bytes(b"in time")
        while now() <= until + SLACK:
            time.sleep(0.2)
        shell = subprocess.run(
            ["bash", "-c", f"echo x > '{mount.path}/late'"], check=False, capture_output=True
        )
        code = mount.unmount()
    assert shell.returncode != 0
    assert b"Input/output error" in shell.stderr
    assert keys(s3_client, locked) == ["backups/early"]
    assert code == 1
    assert b"retention ends in the past" in mount.stderr
    assert b"1 failed" in mount.stderr
