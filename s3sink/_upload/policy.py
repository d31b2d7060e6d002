"""Part-size schedule: which size each part of a multipart upload gets.

S3 allows at most 10,000 parts of 5 MiB to 5 GiB (the last part may be smaller), so a
stream of unknown length cannot use one fixed part size: 8 MiB parts die at part 10,001,
78 GiB into the stream. The schedule here is deterministic and pure:

* **Unknown length** (the default): ``FLAT_PARTS`` parts of ``part_size`` (32 GiB at the
  default 16 MiB, so ordinary streams use flat memory), then the size doubles every
  ``GROWTH_EVERY`` parts, capped at ``max_part_size``. At the defaults (16 MiB, cap 1 GiB)
  the schedule covers 6.0 TiB; any part size from 5 MiB covers more than 5 TiB.
* **Expected size**: when the caller knows roughly how much is coming, the base part is the
  smallest MiB-aligned size that fits the stream in ``HINT_FLAT_PARTS`` equal parts; up to
  that many parts share it, as many as keep the capacity at least that of the schedule
  without a hint; then parts grow. So a hint only makes parts fit better: an underestimate
  can never make a stream fail that the schedule without a hint would have carried.
* **Fixed**: every part has the same size (some S3-compatible stores require equal parts);
  the stream fails with a clear error before part 10,001.

The schedule never asks for a part larger than ``max_part_size``; the writer sets that from
its memory budget, so growing parts lower the number of parts in flight instead of
exceeding the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from .._sizes import format_size
from ..errors import UsageError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB

DEFAULT_PART_SIZE = 16 * MiB
DEFAULT_MAX_PART_SIZE = 1 * GiB

FLAT_PARTS = 2048
# 448 (not a rounder 512) so that even 5 MiB parts reach 5 TiB with a 1 GiB ceiling.
GROWTH_EVERY = 448
HINT_FLAT_PARTS = 9000
HINT_GROWTH_EVERY = 100


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def check_part_size(size: int, *, what: str = "part size") -> int:
    """Return ``size`` if S3 accepts it for a non-final part, else raise UsageError."""
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
        raise UsageError(
            f"{what} {format_size(size)} is outside S3's limits "
            f"({format_size(MIN_PART_SIZE)} to {format_size(MAX_PART_SIZE)})"
        )
    return size


@dataclass(frozen=True)
class PartSchedule:
    """Part sizes by part number: ``flat_parts`` of ``base``, then doubling every
    ``growth_every`` parts up to ``max_part``. ``growth_every == 0`` means no growth."""

    base: int
    max_part: int
    flat_parts: int
    growth_every: int

    def __post_init__(self) -> None:
        check_part_size(self.base)
        check_part_size(self.max_part, what="largest part size")
        if self.max_part < self.base:
            raise UsageError(
                f"largest part size {format_size(self.max_part)} is smaller than "
                f"the part size {format_size(self.base)}"
            )
        if not 1 <= self.flat_parts <= MAX_PARTS or self.growth_every < 0:
            raise UsageError("invalid part schedule")

    @property
    def fixed(self) -> bool:
        """True when every part has the same size."""
        return self.growth_every == 0 or self.flat_parts >= MAX_PARTS

    def size_of(self, part_number: int) -> int:
        """Size of part ``part_number`` (1-based) if the stream goes on past it."""
        if not 1 <= part_number <= MAX_PARTS:
            raise ValueError(f"part number {part_number} outside 1..{MAX_PARTS}")
        if self.fixed or part_number <= self.flat_parts:
            return self.base
        steps = -(-(part_number - self.flat_parts) // self.growth_every)
        # Cap the exponent first: 2**steps for large steps would be a pointless bignum.
        if steps >= 40:
            return self.max_part
        return min(self.max_part, self.base << steps)

    @cached_property
    def capacity(self) -> int:
        """The longest stream (in bytes) that fits in ``MAX_PARTS`` parts."""
        return sum(size * count for _, size, count in self.tiers())

    def tiers(self) -> list[tuple[int, int, int]]:
        """``(first_part, size, count)`` runs of equal-sized parts, for docs and tests."""
        runs: list[tuple[int, int, int]] = []
        part = 1
        while part <= MAX_PARTS:
            end = self._tier_end(part)
            runs.append((part, self.size_of(part), end - part + 1))
            part = end + 1
        return runs

    def _tier_end(self, part: int) -> int:
        """Last part number with the same size as ``part``."""
        if self.fixed or self.size_of(part) == self.max_part:
            return MAX_PARTS
        if part <= self.flat_parts:
            return self.flat_parts
        steps = -(-(part - self.flat_parts) // self.growth_every)
        return min(MAX_PARTS, self.flat_parts + steps * self.growth_every)


def hinted_part_size(expected_size: int | None, part_size: int) -> int:
    """The base part of an expected-size schedule: the smallest MiB-aligned size (at least
    ``part_size``, at most 5 GiB) that fits ``expected_size`` in ``HINT_FLAT_PARTS`` parts."""
    if expected_size is None:
        return part_size
    fitted = _round_up(-(-expected_size // HINT_FLAT_PARTS), MiB)
    return max(part_size, min(MAX_PART_SIZE, fitted))


def _hinted(base: int, max_part: int, *, floor: int) -> PartSchedule:
    """The expected-size schedule: as many equal parts of ``base`` as keep the capacity at
    least ``floor`` (the schedule's without a hint), up to HINT_FLAT_PARTS; then parts grow.
    A hint only makes parts fit better: it never lowers how long the stream may grow (a
    large hint then keeps fewer equal parts, and the stream's end is in larger ones)."""
    low, high = 1, HINT_FLAT_PARTS
    # Fewer flat parts leave more parts to grow, so capacity falls as flat_parts rises:
    # find the most flat parts that still reach the floor.
    while low < high:
        mid = (low + high + 1) // 2
        if PartSchedule(base, max_part, mid, HINT_GROWTH_EVERY).capacity >= floor:
            low = mid
        else:
            high = mid - 1
    return PartSchedule(base, max_part, low, HINT_GROWTH_EVERY)


def make_schedule(
    *,
    part_size: int = DEFAULT_PART_SIZE,
    max_part_size: int = DEFAULT_MAX_PART_SIZE,
    expected_size: int | None = None,
    fixed: bool = False,
) -> PartSchedule:
    """Build the schedule for the writer's options; raise UsageError when none fits.

    ``max_part_size`` is the memory-derived ceiling (at most 5 GiB); it is raised to
    ``part_size`` when that is larger, since the caller asked for that part size explicitly.
    """
    check_part_size(part_size)
    max_part = max(min(max_part_size, MAX_PART_SIZE), part_size)
    if expected_size is not None:
        if expected_size < 0:
            raise UsageError(f"expected size must not be negative (got {expected_size})")
        if expected_size > MAX_OBJECT_SIZE:
            raise UsageError(
                f"expected size {format_size(expected_size)} exceeds S3's largest object "
                f"({format_size(MAX_OBJECT_SIZE)})"
            )
    if fixed:
        schedule = PartSchedule(part_size, part_size, MAX_PARTS, 0)
        if expected_size is not None and expected_size > schedule.capacity:
            needed = _round_up(-(-expected_size // MAX_PARTS), MiB)
            raise UsageError(
                f"expected size {format_size(expected_size)} needs a fixed part size of at "
                f"least {format_size(needed)} ({MAX_PARTS:,} parts at most)"
            )
        return schedule
    plain = PartSchedule(part_size, max_part, FLAT_PARTS, GROWTH_EVERY)
    if expected_size is None or expected_size <= FLAT_PARTS * part_size:
        return plain
    base = hinted_part_size(expected_size, part_size)
    if base > max_part:
        raise UsageError(
            f"expected size {format_size(expected_size)} needs parts of "
            f"{format_size(base)}, more than the memory budget allows "
            f"({format_size(max_part)} per part); raise max_memory"
        )
    return _hinted(base, max_part, floor=plain.capacity)


def fit_schedule(schedule: PartSchedule, fits: Callable[[int], bool]) -> PartSchedule | None:
    """``schedule`` (a resumed upload's) with its parts capped at the largest size that
    ``fits`` the memory budget, or None when not even its first part does. Capping changes
    only the parts that grow past the cap: the others keep the sizes the stored parts were
    cut by, and those cut otherwise are sent again."""
    if not fits(schedule.base):
        return None
    largest = max(size for _, size, _ in schedule.tiers() if fits(size))
    return schedule if largest == schedule.max_part else replace(schedule, max_part=largest)


DEFAULT_MAX_MEMORY = 1 * GiB
# Parts that may be charged at once even past the default budget: one being read while
# another is sent, so reading and sending keep overlapping however large parts grow.
OVERLAP_PARTS = 2


@dataclass(frozen=True)
class MemoryPlan:
    """The schedule a writer uses and the budget its part buffers live in."""

    schedule: PartSchedule
    max_memory: int  # the bound: part buffers never exceed it
    warning: str | None  # set when the budget caps how long the stream can grow
    budget: int = 0  # parts smaller than max_memory / OVERLAP_PARTS share this (0: max_memory)

    def limit_for(self, part_size: int) -> int:
        """What part buffers may be charged at once while parts are ``part_size``."""
        if not self.budget:
            return self.max_memory
        return min(self.max_memory, max(self.budget, OVERLAP_PARTS * part_size))


def plan_memory(
    *,
    part_size: int,
    max_memory: int | None,
    expected_size: int | None,
    fixed: bool,
) -> MemoryPlan:
    """The schedule under a memory budget.

    Without ``max_memory`` part buffers share 1 GiB, and once parts grow past half of that
    the budget becomes two parts of the current size (so at the defaults, 2 GiB from 466 GiB
    on, where parts are 1 GiB): one part is read while another is sent at every tier. The
    ceiling on part size is 1 GiB, raised to the hinted part so that a hint up to S3's
    largest object picks parts above 1 GiB instead of being refused for want of max_memory.
    An explicit ``max_memory`` is a hard budget that parts never exceed."""
    if max_memory is not None:
        ceiling = min(MAX_PART_SIZE, max_memory)
    else:
        ceiling = max(DEFAULT_MAX_PART_SIZE, hinted_part_size(expected_size, part_size))
    schedule = make_schedule(
        part_size=part_size, max_part_size=ceiling, expected_size=expected_size, fixed=fixed
    )
    if max_memory is None:
        bound = max(DEFAULT_MAX_MEMORY, OVERLAP_PARTS * schedule.max_part)
        return MemoryPlan(schedule, bound, None, budget=DEFAULT_MAX_MEMORY)
    warning = None
    if expected_size is None and not fixed:
        usual = make_schedule(part_size=part_size).capacity
        if schedule.capacity < usual:
            # Said at construction, not at part 10,001 after hours of streaming.
            warning = (
                f"a memory budget (max_memory) of {format_size(max_memory)} keeps parts at "
                f"{format_size(schedule.max_part)} or less, so the stream can reach "
                f"{format_size(schedule.capacity)} ({format_size(usual)} with the default "
                "budget)"
            )
    return MemoryPlan(schedule, max_memory, warning)
