"""``--rate-limit`` (library ``rate_limit=``): parsing rates, the shared token bucket, the
request bodies that take its tokens, and the cap as the server side sees it: measured at the
fault proxy in front of moto, from the first body byte received to the last."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from s3sink import UsageError
from s3sink._store.boto import BufferBody, start_sending
from s3sink._store.ratelimit import CHUNK, RateLimiter, parse_rate
from tests.support.clirun import body, pattern, pending
from tests.support.clirun import run_cli as run
from tests.support.faultproxy import BodyTiming, FaultProxy

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("50MiB/s", 50 * MiB),
        ("50M/s", 50 * MiB),
        ("50 MiB/s", 50 * MiB),
        ("200Mbit/s", 25_000_000),
        ("1Gbit/s", 125_000_000),
        ("1.5Gbit/s", 187_500_000),
        ("800kbit/s", 100_000),
        ("1.5GB/s", 1_500_000_000),
        ("1048576", MiB),
        ("1048576/s", MiB),
        ("20MiB", 20 * MiB),
    ],
)
def test_rates_parse(text: str, rate: int) -> None:
    """Sizes per second as parse_size reads them, bits per second with SI prefixes, or a
    plain number of bytes per second."""
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "text", ["", "0", "100", "fast", "50MiB/h", "-1MiB/s", "50Mibit/s", "1.5", "MiB/s"]
)
def test_bad_rates_are_refused(text: str) -> None:
    """Zero, below 1 KiB/s, other units of time, unknown units: UsageError."""
    with pytest.raises(UsageError, match="rate"):
        parse_rate(text)


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_the_bucket_lets_through_rate_times_time_plus_the_burst() -> None:
    """Taking 100 MiB in 64 KiB pieces at 10 MiB/s takes 10 s less the burst."""
    clock = FakeClock()
    limiter = RateLimiter(10 * MiB, clock=clock, sleep=clock.sleep)
    for _ in range(100 * MiB // CHUNK):
        limiter.take(CHUNK)
    assert clock.now == pytest.approx((100 * MiB - limiter.burst) / (10 * MiB))
    assert limiter.taken == 100 * MiB


def test_the_bucket_is_shared_by_concurrent_takers() -> None:
    """Eight threads taking at once together get the rate, not eight times it."""
    clock = FakeClock()
    limiter = RateLimiter(8 * MiB, clock=clock, sleep=clock.sleep)

    def sender() -> None:
        for _ in range(8 * MiB // CHUNK):
            limiter.take(CHUNK)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 64 MiB at 8 MiB/s: each sleep advances the shared clock, so the total is at least
    # the 8 s the cap demands (sleeps overlap in reality; here they add up, so more).
    assert clock.now >= (64 * MiB - limiter.burst) / (8 * MiB)


def test_a_body_pays_only_for_the_reads_that_send_it() -> None:
    """Reads before botocore's before-send (the signer hashing the payload) are free; after
    it, each read is at most a CHUNK and takes its tokens; a seek (a retry's rewind) stops
    the count until the next before-send, and the retry pays again."""
    limiter = RateLimiter(100 * MiB)
    data = bytes(3 * CHUNK + 5)
    stream = BufferBody(data, limiter)
    assert bytes(stream.read(MiB)) == data  # hashing
    stream.seek(0)
    assert limiter.taken == 0
    request = type("Request", (), {"body": stream})()
    start_sending(request=request)
    pieces = [bytes(p) for p in iter(lambda: stream.read(MiB), b"")]
    assert b"".join(pieces) == data
    assert max(map(len, pieces)) == CHUNK
    assert limiter.taken == len(data)
    stream.seek(0)  # a retry
    stream.read(MiB)
    assert limiter.taken == len(data)
    start_sending(request=request)
    stream.seek(0)
    assert not stream.sending  # the rewind after before-send: the next before-send counts
    start_sending(request=request)
    b"".join(bytes(p) for p in iter(lambda: stream.read(MiB), b""))
    assert limiter.taken == 2 * len(data)
    stream.close()


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


def test_the_library_takes_a_rate_or_a_shared_limiter() -> None:
    """rate_limit= takes bytes per second or a RateLimiter (shared as it is); anything else is
    a TypeError, and a transport of one's own (no botocore body to meter) is refused."""
    from s3sink import RateLimiter as Exported
    from s3sink._store.ratelimit import resolve_rate_limit
    from tests.support.fakes import FakeS3, make_writer

    shared = Exported(MiB)
    assert resolve_rate_limit(shared) is shared
    made = resolve_rate_limit(2 * MiB)
    assert made is not None
    assert made.rate == 2 * MiB
    with pytest.raises(TypeError, match="rate_limit"):
        resolve_rate_limit("20MiB/s")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="at least"):
        resolve_rate_limit(10)
    with pytest.raises(UsageError, match="pass a client"):
        make_writer(FakeS3(), rate_limit=MiB)


def test_a_stopped_body_raises_at_its_next_read_or_while_it_waits() -> None:
    """Once the writer's stop is set, a capped body's next read raises SendingStopped (a
    BaseException: botocore retries every Exception), and so does a read waiting for
    tokens, at once rather than after the wait."""
    from s3sink._store.ratelimit import SendingStopped

    stop = threading.Event()
    limiter = RateLimiter(MIN_RATE_FOR_TEST)
    stream = BufferBody(bytes(4 * CHUNK), limiter, stop)
    stream.sending = True
    stream.read(CHUNK)  # within the burst
    waiter_error: list[BaseException] = []

    def read() -> None:
        try:
            stream.read(CHUNK)  # 64 KiB at 1 KiB/s: a minute's wait
        except SendingStopped as exc:
            waiter_error.append(exc)

    waiter = threading.Thread(target=read)
    waiter.start()
    stop.set()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert len(waiter_error) == 1
    with pytest.raises(SendingStopped):
        stream.read(CHUNK)
    stream.close()


MIN_RATE_FOR_TEST = 1024


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
