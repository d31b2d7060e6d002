"""``s3sink mount`` as a real process for tests: started on a fresh empty directory, waited
for until the kernel shows the mount, and always unmounted and reaped afterwards.

Its output goes to files, not pipes: nobody reads a pipe while the test works in the mount,
and once 64 KiB of log fill it, the mount's next log line blocks the FUSE operation that
writes it, and the program under test with it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.support.clirun import S3SINK, TIMEOUT


@dataclass
class Mounted:
    """A running mount: its directory, its process, and what it printed (kept after the end)."""

    path: Path
    process: subprocess.Popen[bytes]
    out: BinaryIO
    err: BinaryIO
    kept: tuple[bytes, bytes] | None = None  # both, once the files are closed

    @property
    def stdout(self) -> bytes:
        """What the mount printed on stdout so far."""
        return self.kept[0] if self.kept is not None else _contents(self.out)

    @property
    def stderr(self) -> bytes:
        """What the mount printed on stderr so far."""
        return self.kept[1] if self.kept is not None else _contents(self.err)

    def unmount(self) -> int:
        """fusermount3 -u, then the process's exit code."""
        subprocess.run(["fusermount3", "-u", str(self.path)], check=False, capture_output=True)
        return self.wait()

    def wait(self) -> int:
        return self.process.wait(timeout=TIMEOUT)


def _contents(file: BinaryIO) -> bytes:
    file.seek(0)
    return file.read()


@contextlib.contextmanager
def mounted(target: str, directory: Path, env: dict[str, str], *args: str) -> Iterator[Mounted]:
    """``s3sink mount TARGET DIRECTORY ARGS`` until the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*S3SINK, "mount", target, str(directory), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
        )
        mount = Mounted(directory, process, out, err)
        try:
            yield from _mounted(mount)
        finally:
            mount.kept = (mount.stdout, mount.stderr)


def _mounted(mount: Mounted) -> Iterator[Mounted]:
    directory, process = mount.path, mount.process
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(directory):
            if process.poll() is not None or time.monotonic() > deadline:
                mount.wait() if process.poll() is not None else process.kill()
                raise RuntimeError(f"s3sink mount did not mount: {mount.stderr.decode()}")
            time.sleep(0.05)
        yield mount
    finally:
        if os.path.ismount(directory):
            subprocess.run(["fusermount3", "-uz", str(directory)], check=False, capture_output=True)
        if process.poll() is None:
            try:
                mount.wait()
            except subprocess.TimeoutExpired:
                process.kill()
                mount.wait()


def needs_fuse() -> None:
    """Skip unless /dev/fuse is there and we are root (fail instead under CI=true)."""
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the mount tests need /dev/fuse and root")
        pytest.skip("needs /dev/fuse and root")


def mount_backups(
    bucket: str, tmp_path: Path, env: dict[str, str], endpoint: str, *args: str
) -> contextlib.AbstractContextManager[Mounted]:
    """``s3sink mount s3://BUCKET/backups TMP/mnt --part-size 5MiB ARGS`` for a block."""
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
