"""The part-size schedule: S3's limits, growth, the expected-size hint and fixed mode."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._upload.policy import (
    FLAT_PARTS,
    GROWTH_EVERY,
    HINT_FLAT_PARTS,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    OVERLAP_PARTS,
    PartSchedule,
    check_part_size,
    fit_schedule,
    make_schedule,
    plan_memory,
)
from s3sink.errors import UsageError
from tests.support.fakes import parts_for

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB

part_sizes = st.integers(min_value=5 * MiB, max_value=64 * MiB)


def sizes(schedule: PartSchedule) -> list[int]:
    """Every part's size, part 1 first."""
    return [schedule.size_of(n) for n in range(1, MAX_PARTS + 1)]


def assert_within_s3_limits(schedule: PartSchedule) -> None:
    """Every part between 5 MiB and 5 GiB, sizes never shrinking, capacity consistent."""
    all_sizes = sizes(schedule)
    assert len(all_sizes) == MAX_PARTS
    assert min(all_sizes) >= MIN_PART_SIZE
    assert max(all_sizes) <= MAX_PART_SIZE
    assert all_sizes == sorted(all_sizes)
    assert schedule.capacity == sum(all_sizes)


def test_default_schedule_numbers() -> None:
    """Defaults: parts 1-2048 at 16 MiB, then doubling every 448 parts up to 1 GiB (6.0 TiB)."""
    schedule = make_schedule()
    assert (FLAT_PARTS, GROWTH_EVERY) == (2048, 448)
    assert schedule.size_of(1) == schedule.size_of(2048) == 16 * MiB
    assert schedule.size_of(2049) == schedule.size_of(2048 + 448) == 32 * MiB
    assert schedule.size_of(2048 + 448 + 1) == 64 * MiB
    assert schedule.size_of(2048 + 4 * 448) == 256 * MiB
    assert schedule.size_of(2048 + 5 * 448 + 1) == 1 * GiB
    assert schedule.size_of(MAX_PARTS) == 1 * GiB
    assert schedule.tiers() == [
        (1, 16 * MiB, 2048),
        (2049, 32 * MiB, 448),
        (2497, 64 * MiB, 448),
        (2945, 128 * MiB, 448),
        (3393, 256 * MiB, 448),
        (3841, 512 * MiB, 448),
        (4289, 1 * GiB, 5712),
    ]
    assert schedule.capacity == 6_326_272 * MiB
    assert 6 * TiB < schedule.capacity < 6.1 * TiB
    assert not schedule.fixed
    assert_within_s3_limits(schedule)


@settings(max_examples=30, deadline=None)
@given(part_size=part_sizes)
def test_capacity_at_least_5_tib_for_any_part_size_from_5_to_64_mib(part_size: int) -> None:
    """Any part size from 5 MiB to 64 MiB (byte-granular) covers 5 TiB within S3's limits."""
    schedule = make_schedule(part_size=part_size)
    assert schedule.capacity >= 5 * TiB
    assert schedule.size_of(1) == part_size
    assert_within_s3_limits(schedule)


@pytest.mark.parametrize("part_size", [5 * MiB, 8 * MiB, 16 * MiB, 64 * MiB])
def test_capacity_at_round_part_sizes(part_size: int) -> None:
    """The smallest legal part size still reaches 5 TiB; larger ones reach more."""
    capacity = make_schedule(part_size=part_size).capacity
    assert capacity >= 5 * TiB
    if part_size == 5 * MiB:
        assert capacity < 5.3 * TiB  # 448 was chosen to just clear 5 TiB here


def test_max_part_size_caps_growth() -> None:
    """A memory-derived ceiling caps the parts; capacity shrinks with it."""
    schedule = make_schedule(part_size=5 * MiB, max_part_size=15 * MiB)
    assert schedule.size_of(FLAT_PARTS + 1) == 10 * MiB
    assert schedule.size_of(FLAT_PARTS + GROWTH_EVERY + 1) == 15 * MiB
    assert schedule.size_of(MAX_PARTS) == 15 * MiB
    assert_within_s3_limits(schedule)


def test_part_size_above_ceiling_wins() -> None:
    """An explicit part size larger than the ceiling raises the ceiling to it (equal parts)."""
    schedule = make_schedule(part_size=2 * GiB, max_part_size=1 * GiB)
    assert set(sizes(schedule)) == {2 * GiB}
    assert schedule.capacity == MAX_PARTS * 2 * GiB


def test_fixed_mode_has_equal_parts() -> None:
    """Fixed mode: 10,000 equal parts, no growth."""
    schedule = make_schedule(part_size=8 * MiB, fixed=True)
    assert schedule.fixed
    assert set(sizes(schedule)) == {8 * MiB}
    assert schedule.capacity == MAX_PARTS * 8 * MiB
    assert schedule.tiers() == [(1, 8 * MiB, MAX_PARTS)]


def test_fixed_mode_rejects_expected_size_beyond_capacity() -> None:
    """Fixed mode refuses an expected size it cannot hold and names the part size needed."""
    make_schedule(part_size=5 * MiB, fixed=True, expected_size=MAX_PARTS * 5 * MiB)
    with pytest.raises(UsageError, match="needs a fixed part size of at least 6 MiB"):
        make_schedule(part_size=5 * MiB, fixed=True, expected_size=MAX_PARTS * 5 * MiB + 1)


def test_small_expected_size_keeps_the_default_schedule() -> None:
    """An expected size that fits the flat parts changes nothing."""
    assert make_schedule(expected_size=FLAT_PARTS * 16 * MiB) == make_schedule()
    assert make_schedule(expected_size=0) == make_schedule()


def expected_base(expected: int, part_size: int) -> int:
    """The smallest MiB-aligned base (not below part_size) that fits in 9,000 parts."""
    for mib in itertools.count(part_size // MiB):
        base = max(part_size, mib * MiB)
        if base * HINT_FLAT_PARTS >= expected or base >= MAX_PART_SIZE:
            return min(base, MAX_PART_SIZE)
    raise AssertionError  # pragma: no cover


@settings(max_examples=60, deadline=None)
@given(
    expected=st.one_of(
        st.integers(min_value=0, max_value=MAX_OBJECT_SIZE),
        st.sampled_from(
            [
                FLAT_PARTS * 5 * MiB + 1,
                HINT_FLAT_PARTS * 5 * MiB,
                HINT_FLAT_PARTS * 5 * MiB + 1,
                HINT_FLAT_PARTS * MAX_PART_SIZE,
                HINT_FLAT_PARTS * MAX_PART_SIZE + 1,
                MAX_OBJECT_SIZE - 1,
                MAX_OBJECT_SIZE,
            ]
        ),
    )
)
def test_expected_size_picks_smallest_base_that_covers_it(expected: int) -> None:
    """An expected size gets the smallest MiB-aligned base fitting 9,000 parts, up to 48.8 TiB."""
    schedule = make_schedule(part_size=5 * MiB, max_part_size=MAX_PART_SIZE, expected_size=expected)
    assert schedule.capacity >= expected
    assert parts_for(schedule, expected) <= MAX_PARTS
    if expected > FLAT_PARTS * 5 * MiB:
        assert schedule.base == expected_base(expected, 5 * MiB)
        assert parts_for(schedule, expected) <= HINT_FLAT_PARTS or schedule.base == MAX_PART_SIZE


@pytest.mark.parametrize("expected", [100 * GiB, 2 * TiB, 40 * TiB, MAX_OBJECT_SIZE])
def test_expected_size_schedules_stay_within_s3_limits(expected: int) -> None:
    """Expected-size schedules obey 5 MiB..5 GiB and 10,000 parts, and cover the size."""
    schedule = make_schedule(part_size=5 * MiB, max_part_size=MAX_PART_SIZE, expected_size=expected)
    assert_within_s3_limits(schedule)
    assert schedule.capacity >= expected


def test_expected_size_tolerates_an_underestimate() -> None:
    """Parts after the hinted ones keep growing, so an underestimate still fits."""
    expected = 1 * TiB
    schedule = make_schedule(part_size=5 * MiB, max_part_size=MAX_PART_SIZE, expected_size=expected)
    assert schedule.flat_parts <= HINT_FLAT_PARTS
    assert schedule.size_of(schedule.flat_parts + 1) == 2 * schedule.base
    assert schedule.capacity > 2 * expected


@settings(max_examples=200, deadline=None)
@given(
    expected=st.integers(min_value=1, max_value=60 * TiB),
    part_mib=st.sampled_from([5, 8, 16, 64]),
    ceiling=st.sampled_from([GiB, 5 * GiB]),
)
def test_a_hint_never_lowers_capacity(expected: int, part_mib: int, ceiling: int) -> None:
    """Whatever the hint, the schedule carries at least what the schedule without one would
    (a 40 GiB hint used to cut 6 TiB to 738 GiB; 2x a 1 TiB hint failed at part 10,001)."""
    plain = make_schedule(part_size=part_mib * MiB, max_part_size=ceiling)
    try:
        hinted = make_schedule(
            part_size=part_mib * MiB, max_part_size=ceiling, expected_size=expected
        )
    except UsageError:  # the hint needs parts above the ceiling: refused, as documented
        return
    assert hinted.capacity >= plain.capacity
    assert hinted.capacity >= expected


def test_twice_a_one_tib_hint_fits() -> None:
    """The case a user hit: --expected-size 1TiB and a 2 TiB stream, at the default ceiling."""
    schedule = make_schedule(expected_size=1 * TiB)
    assert schedule.capacity >= 2 * TiB
    assert schedule.capacity >= make_schedule().capacity


def test_expected_size_beyond_memory_ceiling_is_a_usage_error() -> None:
    """An expected size whose base part exceeds the memory ceiling says to raise max_memory."""
    with pytest.raises(UsageError, match="raise max_memory"):
        make_schedule(part_size=5 * MiB, max_part_size=64 * MiB, expected_size=10 * TiB)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"part_size": 5 * MiB - 1}, "outside S3's limits"),
        ({"part_size": 0}, "outside S3's limits"),
        ({"part_size": MAX_PART_SIZE + 1}, "outside S3's limits"),
        ({"expected_size": -1}, "must not be negative"),
        ({"expected_size": MAX_OBJECT_SIZE + 1}, "exceeds S3's largest object"),
        ({"part_size": 4 * MiB, "fixed": True}, "outside S3's limits"),
    ],
)
def test_bad_inputs_are_usage_errors(kwargs: dict[str, Any], match: str) -> None:
    """Out-of-range part sizes and expected sizes raise UsageError (a ValueError too)."""
    with pytest.raises(UsageError, match=match) as info:
        make_schedule(**kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "args",
    [
        (4 * MiB, 16 * MiB, 2048, 448),  # base too small
        (16 * MiB, 6 * GiB, 2048, 448),  # ceiling above 5 GiB
        (16 * MiB, 8 * MiB, 2048, 448),  # ceiling below base
        (16 * MiB, 1 * GiB, 0, 448),  # no flat parts
        (16 * MiB, 1 * GiB, MAX_PARTS + 1, 448),
        (16 * MiB, 1 * GiB, 2048, -1),
    ],
)
def test_invalid_schedules_are_rejected(args: tuple[int, int, int, int]) -> None:
    """PartSchedule validates its own fields."""
    with pytest.raises(UsageError):
        PartSchedule(*args)


def test_check_part_size_bounds() -> None:
    """check_part_size accepts exactly 5 MiB..5 GiB."""
    assert check_part_size(MIN_PART_SIZE) == MIN_PART_SIZE
    assert check_part_size(MAX_PART_SIZE) == MAX_PART_SIZE
    with pytest.raises(UsageError, match="largest part"):
        check_part_size(MIN_PART_SIZE - 1, what="largest part size")


@pytest.mark.parametrize("number", [0, -1, MAX_PARTS + 1])
def test_size_of_outside_part_range(number: int) -> None:
    """Part numbers outside 1..10,000 have no size."""
    with pytest.raises(ValueError, match="outside"):
        make_schedule().size_of(number)


@pytest.mark.parametrize(
    "schedule",
    [
        make_schedule(),
        make_schedule(part_size=5 * MiB, max_part_size=15 * MiB),
        make_schedule(part_size=5 * MiB, fixed=True),
        make_schedule(part_size=7 * MiB + 3, max_part_size=MAX_PART_SIZE, expected_size=4 * TiB),
    ],
    ids=["default", "capped", "fixed", "expected"],
)
def test_tiers_are_contiguous_runs_of_size_of(schedule: PartSchedule) -> None:
    """tiers() covers parts 1..10,000 without gaps, each run matching size_of."""
    expected = 1
    for first, size, count in schedule.tiers():
        assert first == expected
        assert count >= 1
        assert {schedule.size_of(n) for n in range(first, first + count)} == {size}
        expected = first + count
    assert expected == MAX_PARTS + 1
    runs = [(size, len(list(group))) for size, group in itertools.groupby(sizes(schedule))]
    assert runs == [(size, count) for _, size, count in schedule.tiers()]


@settings(max_examples=60, deadline=None)
@given(
    part_size=part_sizes,
    expected=st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_OBJECT_SIZE)),
)
def test_default_budget_keeps_two_parts_overlapping_at_every_tier(
    part_size: int, expected: int | None
) -> None:
    """Issue #12 item 10: with the default budget, every tier has room for one part being
    read while another is sent; the budget stays 1 GiB while parts are at most 512 MiB, and
    max_memory is the true bound."""
    plan = plan_memory(part_size=part_size, max_memory=None, expected_size=expected, fixed=False)
    limits = []
    for _, size, _ in plan.schedule.tiers():
        limit = plan.limit_for(size)
        assert limit >= OVERLAP_PARTS * size
        if size <= 512 * MiB:
            assert limit == GiB
        limits.append(limit)
    assert plan.max_memory == max(limits)


def test_default_budget_at_the_defaults() -> None:
    """1 GiB up to the 512 MiB tier; two 1 GiB parts (2 GiB) in the last one."""
    plan = plan_memory(part_size=16 * MiB, max_memory=None, expected_size=None, fixed=False)
    assert [plan.limit_for(size) for _, size, _ in plan.schedule.tiers()] == [GiB] * 6 + [2 * GiB]
    assert plan.max_memory == 2 * GiB
    assert plan.schedule.capacity == 6_326_272 * MiB  # capacity unchanged


def test_an_explicit_budget_is_a_hard_ceiling() -> None:
    """max_memory given: no part size raises it (the user's machine, the user's call)."""
    plan = plan_memory(part_size=16 * MiB, max_memory=GiB, expected_size=None, fixed=False)
    assert plan.max_memory == GiB
    assert {plan.limit_for(size) for _, size, _ in plan.schedule.tiers()} == {GiB}


def test_fit_schedule_caps_only_the_parts_past_the_budget() -> None:
    """A resumed upload's schedule under a smaller budget: the parts that fit keep their
    sizes (so stored parts still match), the larger ones are capped; None when not even
    the first part fits."""
    journal = make_schedule(part_size=16 * MiB)  # grows to 1 GiB
    fitted = fit_schedule(journal, lambda size: size <= 100 * MiB)
    assert fitted is not None
    assert fitted.max_part == 64 * MiB
    assert all(
        fitted.size_of(n) == journal.size_of(n) for n in range(1, 2048 + 2 * 448 + 1)
    )  # 16, 32, 64 MiB
    assert fitted.size_of(10_000) == 64 * MiB
    assert fit_schedule(journal, lambda size: True) is journal
    assert fit_schedule(journal, lambda size: size <= 10 * MiB) is None
