"""``--rate-limit`` (library ``rate_limit=``): parsing rates, the shared token bucket, the
request bodies that take its tokens. The cap as the server side sees it:
tests/cli/test_rate_limit_cli.py."""

from __future__ import annotations

import threading

import pytest

from s3sink import UsageError
from s3sink._store.body import BufferBody, start_sending
from s3sink._store.ratelimit import CHUNK, RateLimiter, parse_rate

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
