"""``s3sink mount`` as a real process for tests: started on a fresh empty directory, waited
for until the kernel shows the mount, and always unmounted and reaped afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.clirun import S3SINK, TIMEOUT


@dataclass
class Mounted:
    """A running mount: its directory and its process."""

    path: Path
    process: subprocess.Popen[bytes]
    stdout: bytes = b""
    stderr: bytes = b""

    def unmount(self) -> int:
        """fusermount3 -u, then the process's exit code (its output kept)."""
        subprocess.run(["fusermount3", "-u", str(self.path)], check=False, capture_output=True)
        return self.wait()

    def wait(self) -> int:
        out, err = self.process.communicate(timeout=TIMEOUT)
        self.stdout += out
        self.stderr += err
        return self.process.returncode


@contextlib.contextmanager
def mounted(target: str, directory: Path, env: dict[str, str], *args: str) -> Iterator[Mounted]:
    """``s3sink mount TARGET DIRECTORY ARGS`` until the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [*S3SINK, "mount", target, str(directory), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    mount = Mounted(directory, process)
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
