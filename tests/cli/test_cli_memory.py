"""The command's memory for a small stream: its part buffer grows with the data, so a 3-byte
upload at --part-size 1.5GiB peaks near the interpreter's baseline, not at the part size."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.support.clirun import S3SINK, TIMEOUT, body, pending

MiB = 1024 * 1024
# Far below the 1.5 GiB part, far above the command's baseline (about 60 MiB, 2026-12-04,
# plus about 40 MiB for zstd's compressor).
CEILING = 300 * MiB


def high_water(pid: int) -> int | None:
    """The process's peak RSS so far (VmHWM, bytes), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None  # a zombie: its memory is gone


def run_measured(
    args: list[str], env: dict[str, str], data: bytes, tmp: Path
) -> tuple[int, bytes, int]:
    """Run ``s3sink ARGS`` with ``data`` on its stdin; its exit code, stderr, and its peak
    RSS in bytes: VmHWM, read while it runs. Not ``ru_maxrss`` from wait4: a child spawned
    from this process starts its maximum at ours (the kernel carries the spawning memory's
    high-water mark across exec), and pytest's own is hundreds of MiB late in a suite."""
    peak = 0
    with (tmp / "out").open("wb") as out, (tmp / "err").open("w+b") as err:
        process = subprocess.Popen(
            [*S3SINK, *args], stdin=subprocess.PIPE, stdout=out, stderr=err, env=env
        )
        assert process.stdin is not None
        # Bytes are held back until the first reading, so that one is taken mid-run.
        while not peak and process.poll() is None:
            peak = high_water(process.pid) or 0
        process.stdin.write(data)
        process.stdin.close()
        deadline = time.monotonic() + TIMEOUT
        while process.poll() is None:
            # VmHWM only grows: the last reading before the exit holds the peak up to then.
            peak = max(peak, high_water(process.pid) or 0)
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail(f"s3sink still running after {TIMEOUT} s")
            time.sleep(0.01)
        err.seek(0)
        return process.returncode, err.read(), peak


@pytest.mark.parametrize("compress", [None, "zstd"])
def test_three_bytes_at_a_huge_part_size_stay_near_the_baseline(
    env: dict[str, str], s3_client: Any, bucket: str, tmp_path: Path, compress: str | None
) -> None:
    """`s3sink --part-size 1.5GiB` uploading 3 bytes (plain, or through zstd) peaks far
    below the part size, and the object is the 3 bytes."""
    args = [f"s3://{bucket}/k", "--endpoint-url", s3_client.meta.endpoint_url,
            "--part-size", "1.5GiB", "-q"]  # fmt: skip
    if compress is not None:
        args += ["--compress", compress]
    code, stderr, peak = run_measured(args, env, b"abc", tmp_path)
    assert code == 0, stderr
    assert peak < CEILING, f"peak RSS {peak / MiB:.0f} MiB for 3 bytes"
    stored = body(s3_client, bucket, "k")
    if compress is not None:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stored)) as reader:
            stored = reader.read()
    assert stored == b"abc"
    assert pending(s3_client, bucket) == []
