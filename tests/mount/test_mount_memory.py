"""Memory through ``s3sink mount`` (moto): with --max-memory at the documented size for the
files written at once, ((files + 1) x part size), a file being streamed cannot starve another
one, and a write that waits for memory waits its real time."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, pattern, pending
from tests.support.mounted import mount_backups, needs_fuse

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    needs_fuse()


def dd(source: Path, target: Path) -> subprocess.Popen[bytes]:
    """Stream ``source`` into ``target`` in 1 MiB writes, from a process of its own (a file
    this process held open would be shared with every child it forks)."""
    return subprocess.Popen(
        ["dd", f"if={source}", f"of={target}", "bs=1M", "status=none"], stderr=subprocess.PIPE
    )


def written(root: Path, path: str) -> int:
    """How many bytes of ``path``, still being written, the mount has taken (its status)."""
    for line in (root / ".s3sink-status").read_text().splitlines():
        record = json.loads(line)
        if record["path"] == path:
            assert record["state"] == "writing", record
            size: int = record["size"]
            return size
    raise AssertionError(f"{path} is not in the status file")


def test_a_small_file_is_written_while_a_large_one_streams(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--part-size 5MiB --max-memory 15MiB (two files at once): ``echo hello > MNT/small``
    while a large file streams (120 MiB at 8 MiB/s, 15 s) gets its memory within the large
    file's next parts, while that file is still being written. It waited until the large file
    ended (the large file took back every buffer it released, as spares the small one could
    not use), or failed with EIO when the wake-ups, each counted as a second, reached 60."""
    big = pattern(120 * MiB)
    (tmp_path / "big").write_bytes(big)
    options = ("--max-memory", "15MiB", "--rate-limit", "8MiB/s")
    with mount_backups(bucket, tmp_path, env, s3_endpoint, *options) as mount:
        writer = dd(tmp_path / "big", mount.path / "big")
        time.sleep(1)  # the large file holds the budget
        shells, streaming = [], []
        for i in range(3):
            shells.append(
                subprocess.run(
                    ["bash", "-c", f"echo hello > '{mount.path}/small{i}'"],
                    capture_output=True,
                    check=False,
                )
            )
            streaming.append(written(mount.path, "/big"))
        _, dd_error = writer.communicate(timeout=120)
        code = mount.unmount()
    assert writer.returncode == 0, dd_error
    assert [s.stderr for s in shells if s.returncode != 0] == []
    # What the large file had been given when each small one was done: far from all of it.
    assert all(size < len(big) - 20 * MiB for size in streaming), streaming
    assert code == 0, mount.stderr
    assert body(s3_client, bucket, "backups/big") == big
    for i in range(3):
        assert body(s3_client, bucket, f"backups/small{i}") == b"hello\n"
    assert pending(s3_client, bucket) == []


def test_two_large_files_stream_at_once_within_the_documented_budget(
    s3_endpoint: str, s3_client: Any, bucket: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Two files written at once under --max-memory 15MiB (3 x 5 MiB): both go through."""
    data = {name: pattern(40 * MiB + i) for i, name in enumerate(("a", "b"))}
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
    options = ("--max-memory", "15MiB", "--rate-limit", "40MiB/s")
    with mount_backups(bucket, tmp_path, env, s3_endpoint, *options) as mount:
        writers = [dd(tmp_path / name, mount.path / name) for name in data]
        dd_errors = [w.communicate(timeout=120)[1] for w in writers]
        code = mount.unmount()
    assert [w.returncode for w in writers] == [0, 0], dd_errors
    assert code == 0, mount.stderr
    for name, content in data.items():
        assert body(s3_client, bucket, f"backups/{name}") == content
