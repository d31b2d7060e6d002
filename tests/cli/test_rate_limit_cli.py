"""``--rate-limit`` as the server side sees it: the installed command's request bodies measured
at the fault proxy in front of moto, from the first body byte received to the last. Parsing,
the token bucket and the metered bodies: tests/unit/test_rate_limit.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import body, pattern, pending
from tests.support.clirun import run_cli as run
from tests.support.faultproxy import BodyTiming, FaultProxy

MiB = 1024 * 1024


# -- the cap as the server sees it --------------------------------------------------------------
def _part_bodies(proxy: FaultProxy) -> list[BodyTiming]:
    return [b for b in proxy.bodies if b.method == "PUT" and "partNumber=" in b.path]


def _window(bodies: list[BodyTiming]) -> float:
    return max(b.last for b in bodies) - min(b.first for b in bodies)


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [[], ["-j", "8"], ["-j", "8", "--checksum", "off"]],
    ids=["j4", "j8", "j8-signed-payload"],
)
def test_60_mib_at_20_mib_s_takes_3_s_of_sending(
    env: dict[str, str],
    fault_proxy: FaultProxy,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    extra: list[str],
) -> None:
    """60 MiB at --rate-limit 20MiB/s: the proxy receives the part bodies over 2.7-4 s
    (3 s less a 50 ms burst), with 4 or 8 parts in flight, and when botocore also reads
    each body to hash it (--checksum off signs payloads): only the reads that send count."""
    source = tmp_path / "in.bin"
    data = pattern(60 * MiB)
    source.write_bytes(data)
    result = run(
        [f"s3://{bucket}/capped", "--endpoint-url", fault_proxy.endpoint_url,
         "--part-size", "5MiB", "--rate-limit", "20MiB/s", *extra, "--", "cat", str(source)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = _part_bodies(fault_proxy)
    assert sum(b.nbytes for b in bodies) == len(data)
    assert 2.7 <= _window(bodies) <= 4.0, _window(bodies)
    assert body(s3_client, bucket, "capped") == data
    assert pending(s3_client, bucket) == []


@pytest.mark.slow
def test_retries_are_paid_for(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A part cut after 4 MiB is sent again, and the cap covers both sends: everything the
    proxy received took at least its size at 20 MiB/s."""
    source = tmp_path / "in.bin"
    data = pattern(30 * MiB)
    source.write_bytes(data)
    fault_proxy.reset_after(4 * MiB, method="PUT", path=r"[?&]partNumber=2(&|$)", times=1)
    result = run(
        [f"s3://{bucket}/capped", "--endpoint-url", fault_proxy.endpoint_url,
         "--part-size", "5MiB", "--rate-limit", "20MiB/s", "-j", "8", "--", "cat", str(source)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = _part_bodies(fault_proxy)
    received = sum(b.nbytes for b in bodies)
    assert received >= len(data) + 4 * MiB
    burst = MiB  # 50 ms at 20 MiB/s
    assert _window(bodies) >= (received - burst) / (20 * MiB) * 0.97
    assert body(s3_client, bucket, "capped") == data


# Writes 60 MiB in 1 MiB writes, logging "SECONDS BYTES" (monotonic) after each one.
LOGGING_PRODUCER = """
import sys, time
out, log = sys.stdout.buffer, open(sys.argv[1], "w")
block, total = bytes(1 << 20), 0
for _ in range(60):
    out.write(block); out.flush(); total += len(block)
    log.write(f"{time.monotonic()} {total}\\n"); log.flush()
"""


@pytest.mark.slow
def test_the_cap_back_pressures_the_producer(
    env: dict[str, str], fault_proxy: FaultProxy, bucket: str, tmp_path: Path
) -> None:
    """Memory stays bounded under the cap: at every moment, what the producer has written
    exceeds what the proxy has received by no more than the part buffers (--max-memory
    15MiB), the pipe and one write."""
    log = tmp_path / "writes.log"
    result = run(
        [f"s3://{bucket}/bp", "--endpoint-url", fault_proxy.endpoint_url, "--part-size",
         "5MiB", "--max-memory", "15MiB", "-j", "8", "--rate-limit", "20MiB/s",
         "--", sys.executable, "-c", LOGGING_PRODUCER, str(log)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = _part_bodies(fault_proxy)
    writes = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]

    def received_by(moment: float) -> float:
        # Bodies received by then, each counted pro rata over its own arrival.
        total = 0.0
        for b in bodies:
            if moment >= b.last:
                total += b.nbytes
            elif moment > b.first:
                total += b.nbytes * (moment - b.first) / (b.last - b.first)
        return total

    # The part buffers, s3sink's pipe buffer, one write, and 1 MiB for the pro-rata estimate.
    slack = 15 * MiB + 3 * MiB
    excess = max(written - received_by(moment) for moment, written in writes)
    assert excess <= slack, excess / MiB


@pytest.mark.slow
def test_an_abort_stops_parts_being_sent_at_the_cap(
    env: dict[str, str], fault_proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """SIGTERM while four 5 MiB parts are being sent at 1 MiB/s: s3sink stops sending them
    (the proxy receives next to nothing after the signal, not the ~19 MiB they still had to
    go), exits 143, and nothing is published or left pending."""
    import signal
    import subprocess
    import time

    from tests.support.clirun import S3SINK, assert_nothing_written, wait_for, wait_or_dump

    producer = "import os, sys; sys.stdout.buffer.write(os.urandom(30 << 20))"
    process = subprocess.Popen(
        [*S3SINK, f"s3://{bucket}/k", "--endpoint-url", fault_proxy.endpoint_url,
         "--part-size", "5MiB", "--rate-limit", "1MiB/s", "--", sys.executable, "-c", producer],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: sum(b.nbytes for b in _part_bodies(fault_proxy)) > MiB, timeout=30)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = wait_or_dump(process)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=30)
    assert code == 143, stderr
    after = sum(
        b.nbytes * max(0.0, (b.last - signalled) / max(b.last - b.first, 1e-9))
        for b in _part_bodies(fault_proxy)
    )
    assert after < 1.5 * MiB, after / MiB
    assert_nothing_written(s3_client, bucket)


# -- the progress line under the cap ------------------------------------------------------------
_PLAIN_LINE = re.compile(
    rb"read, (?P<amount>\d[\d.]* \S+) (?:sent|uploaded), .*parts (?P<done>\d+) done"
)


def test_the_progress_line_moves_before_the_first_part_is_acknowledged(
    env: dict[str, str], s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """At 1 MiB/s with two 5 MiB parts in flight, the first part is acknowledged after
    seconds; the plain progress line shows bytes sent long before, on a line that still
    says ``parts 0 done`` (one snapshot: no timing involved). SIGTERM then aborts."""
    import signal
    import subprocess

    from tests.cli.test_cli_e2e import StderrTail
    from tests.support.clirun import S3SINK, assert_nothing_written, wait_for, wait_or_dump

    source = tmp_path / "in.bin"
    source.write_bytes(pattern(10 * MiB))
    process = subprocess.Popen(
        [*S3SINK, f"s3://{bucket}/k", "--endpoint-url", s3_endpoint, "--part-size", "5MiB",
         "--rate-limit", "1MiB/s", "--progress", "--progress-interval", "0.05",
         "--file", str(source)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    stderr = StderrTail(process)

    def moving() -> list[re.Match[bytes]]:
        lines = [_PLAIN_LINE.search(line) for line in stderr.data.splitlines()]
        return [m for m in lines if m is not None and not m["amount"].startswith(b"0 ")]

    try:
        wait_for(lambda: bool(moving()), timeout=30)
        first = moving()[0]
        process.send_signal(signal.SIGTERM)
        code = wait_or_dump(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        err = stderr.join()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert first["done"] == b"0", err.decode(errors="replace")
    assert code == 143, err.decode(errors="replace")
    assert_nothing_written(s3_client, bucket)
