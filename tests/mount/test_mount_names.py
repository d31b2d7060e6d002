"""Renames through ``s3sink mount`` (moto): a file renamed while its upload is under way
keeps that upload's key until its commit, so no other file may be published under it in
the meantime (log rotation), and the status file matches the bucket."""

from __future__ import annotations

import errno
import json
import os
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


def test_log_rotation_never_loses_the_new_file(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """``mv app.log app.log.1`` while app.log's upload is under way (6 MiB, 5 MiB parts): a
    new app.log is refused (EBUSY) until the old descriptor is closed, since the old file
    is committed under logs/app.log before it moves; then app.log may be written again.
    Both objects are right and every committed line of the status file is in the bucket."""
    old_data = pattern(6 * MiB) + b"last line\n"
    with mount_backups(bucket, tmp_path, env, s3_endpoint, "--json") as mount:
        (mount.path / "logs").mkdir()
        log, rotated = mount.path / "logs" / "app.log", mount.path / "logs" / "app.log.1"
        old = os.open(log, os.O_WRONLY | os.O_CREAT)
        os.write(old, old_data[: 6 * MiB])  # part 1 goes out: the upload targets app.log
        os.rename(log, rotated)
        with pytest.raises(OSError, match=r".") as refused:
            log.write_bytes(b"new file\n")
        assert refused.value.errno == errno.EBUSY
        os.write(old, old_data[6 * MiB :])
        os.close(old)
        log.write_bytes(b"new file\n")
        lines = (mount.path / ".s3sink-status").read_text().splitlines()
        code = mount.unmount()
    assert code == 0, mount.stderr
    assert keys(s3_client, bucket) == [
        "backups/logs/",
        "backups/logs/app.log",
        "backups/logs/app.log.1",
    ]
    assert body(s3_client, bucket, "backups/logs/app.log.1") == old_data
    assert body(s3_client, bucket, "backups/logs/app.log") == b"new file\n"
    status = [json.loads(line) for line in lines]
    committed = {s["key"]: s["size"] for s in status if s["state"] == "committed"}
    assert committed == {"backups/logs/app.log.1": len(old_data), "backups/logs/app.log": 9}
    assert pending(s3_client, bucket) == []
