"""The bandwidth cap (``--rate-limit``, library ``rate_limit=``): ``50MiB/s``-style rates and
a token bucket shared by every request body in flight.

Request bodies take tokens as botocore's HTTP layer reads them to send (``_boto.BufferBody``),
in reads of at most :data:`CHUNK` bytes, so the cap covers all parts in flight and every
retry (a retried part is read, and so paid for, again), and the bytes sent are smooth within
about :data:`BURST_SECONDS`. A sender without tokens sleeps for exactly the time the bucket
needs to refill: no busy wait. The producer is never throttled directly: it waits, as
always, for a free part buffer, so memory stays within ``max_memory``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from fractions import Fraction

from .._sizes import format_size, parse_size
from ..errors import UsageError

__all__ = [
    "BURST_SECONDS",
    "CHUNK",
    "MIN_RATE",
    "RateLimiter",
    "SendingStopped",
    "format_rate",
    "parse_rate",
]

CHUNK = 64 * 1024  # bytes a body hands over per token request
BURST_SECONDS = 0.05  # a bucket holds this long of sending at the full rate (at least a CHUNK)
MIN_RATE = 1024  # bytes/s: below that a 5 MiB part takes over an hour; surely a typo

_RATE_EXAMPLE = "expected a rate like 50MiB/s, 50M/s, 200Mbit/s, 1.5GB/s or 1048576 (bytes/s)"
# Bits per second: SI prefixes as network speeds are quoted (200Mbit/s = 25,000,000 B/s).
_BIT_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)bits?", re.ASCII | re.IGNORECASE)
_BIT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_rate(text: str | int) -> int:
    """Bytes per second from ``50MiB/s``, ``50M/s``, ``200Mbit/s``, ``1.5GB/s`` or a plain
    number of bytes per second (the ``/s`` is optional); sizes as ``parse_size`` reads them.
    At least :data:`MIN_RATE`. Raises UsageError."""
    if isinstance(text, int) and not isinstance(text, bool):
        rate = text
    else:
        stripped = str(text).strip()
        body = stripped[:-2].rstrip() if stripped.lower().endswith("/s") else stripped
        bits = _BIT_RE.fullmatch(body)
        if bits is not None:
            rate = int(Fraction(bits.group(1)) * _BIT_UNITS[bits.group(2).lower()] / 8)
        else:
            try:
                rate = parse_size(body)
            except UsageError as exc:
                raise UsageError(f"invalid rate {str(text)!r}: {_RATE_EXAMPLE}") from exc
    if rate < MIN_RATE:
        raise UsageError(
            f"invalid rate {str(text)!r}: at least {format_size(MIN_RATE)}/s "
            "(slower, one 5 MiB part would take over an hour)"
        )
    return rate


class SendingStopped(BaseException):  # not an error: an abort's way out
    """Raised from a capped body's read once its writer aborts, so that a part still being
    sent at the cap stops at once instead of holding the abort for as long as the rest of
    it takes at that rate. A BaseException, like KeyboardInterrupt, because botocore turns
    every Exception raised while sending into a retryable HTTPClientError."""


def format_rate(rate: float) -> str:
    """``20 MiB/s``."""
    return f"{format_size(int(rate))}/s"


class RateLimiter:
    """A token bucket of ``rate`` bytes per second; thread-safe, shared by many bodies (one
    writer's parts, or every writer of a mount given the same limiter).

    ``take(n)`` may drive the bucket into debt and then sleeps until the debt is repaid, so
    concurrent senders queue in order and the long-run rate is exactly ``rate``: in any
    window of T seconds at most ``burst + rate * T`` bytes are let through.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < MIN_RATE:
            raise UsageError(f"rate_limit must be at least {MIN_RATE} bytes/s, not {rate!r}")
        self.rate = float(rate)
        self.burst = burst if burst is not None else max(CHUNK, int(rate * BURST_SECONDS))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = clock()
        self.taken = 0  # bytes let through, for tests and progress

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        """Wait until ``n`` bytes may be sent; raise SendingStopped if ``stop`` is set
        before (or while waiting)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            self.taken += n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if stop is not None:
            if stop.wait(wait) if wait > 0 else stop.is_set():
                raise SendingStopped
        elif wait > 0:
            self._sleep(wait)

    def __repr__(self) -> str:
        return f"<RateLimiter {format_rate(self.rate)}>"


def resolve_rate_limit(rate_limit: int | float | RateLimiter | None) -> RateLimiter | None:
    """The library's ``rate_limit=``: bytes per second, or a limiter to share."""
    if rate_limit is None or isinstance(rate_limit, RateLimiter):
        return rate_limit
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
        raise TypeError(
            f"rate_limit must be bytes per second or a RateLimiter, not {type(rate_limit).__name__}"
        )
    return RateLimiter(rate_limit)
