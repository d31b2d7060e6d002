"""``ReadConfig``: how one object is read back (range size, concurrency, the memory bound, the
version, what to insist on), checked once.

Defaults: 8 MiB ranges, 8 in flight, and a memory bound of (concurrency + 2) ranges, 80 MiB:
every worker busy, one range being handed to the consumer and one landed ahead of it, so a
consumer that is briefly slower does not stall the workers. The bound holds whatever the
consumer's speed: a range is asked for only when a buffer is free (see ``reader``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._sizes import format_size
from ..errors import UsageError

__all__ = [
    "DEFAULT_READ_CONCURRENCY",
    "DEFAULT_READ_PART_SIZE",
    "ReadConfig",
    "backoff",
]

MiB = 1024 * 1024
DEFAULT_READ_PART_SIZE = 8 * MiB
DEFAULT_READ_CONCURRENCY = 8
MAX_BACKOFF = 20.0  # seconds: botocore's standard retry mode's cap


def backoff(attempt: int) -> float:
    """Seconds to wait before ``attempt`` (2, 3, ...) of a broken range: botocore's standard
    retry mode (the upload's policy), full jitter over 2^(attempt-2) s, at most 20 s."""
    return random.random() * min(MAX_BACKOFF, 2.0 ** (attempt - 2))  # noqa: S311  # jitter


@dataclass(frozen=True)
class ReadConfig:
    """How to read one object. ``part_size`` is the size of each ranged GET (ranges follow
    the object's own parts when they are known); ``max_memory`` bounds the range buffers
    alive at once (default: ``concurrency + 2`` ranges); ``version_id`` reads that version;
    ``if_match`` insists on that ETag from the first request on (a listing's, say);
    ``require_checksum`` refuses an object with nothing to check its bytes against;
    ``max_attempts`` (default: the client's) is how often a range whose connection breaks is
    resumed; ``extra`` goes with every request (``SSECustomerKey``, ``RequestPayer``, ...)."""

    part_size: int = DEFAULT_READ_PART_SIZE
    concurrency: int = DEFAULT_READ_CONCURRENCY
    max_memory: int | None = None
    version_id: str | None = None
    if_match: str | None = None
    require_checksum: bool = False
    max_attempts: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    wait: Callable[[int], float] = backoff  # seconds before a broken range's next attempt

    def __post_init__(self) -> None:
        if not isinstance(self.part_size, int) or self.part_size < 1:
            raise UsageError(
                f"part_size must be a positive number of bytes, not {self.part_size!r}"
            )
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, not {self.concurrency!r}")
        if self.max_memory is not None and self.max_memory < self.part_size:
            raise UsageError(
                f"max_memory {format_size(self.max_memory)} cannot hold one range of "
                f"{format_size(self.part_size)} (part_size); raise max_memory or lower part_size"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise UsageError(f"max_attempts must be at least 1, not {self.max_attempts!r}")
        for name in ("version_id", "if_match"):
            value = getattr(self, name)
            if value is not None and not str(value).strip():
                raise UsageError(f"{name} is empty; give a value or leave it out")

    @property
    def memory(self) -> int:
        """The bound on range buffers, in bytes."""
        if self.max_memory is not None:
            return self.max_memory
        return (self.concurrency + 2) * self.part_size
