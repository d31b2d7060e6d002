"""The retention policy (restic's ``forget`` rules over LastModified) on synthetic histories:
months of daily and hourly backups with gaps, a job that failed for a month, --keep-within
counted from the newest object, --min-size, and the properties every policy keeps (never an
empty kept set, the newest always kept, small objects never counted)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sink._retention.policy import Policy, Stamped, apply_policy, parse_keep_within
from s3sink.errors import UsageError

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # a Thursday
NOW = dt.datetime(2027, 1, 1, tzinfo=UTC)
GOOD = 100 << 20


def daily(days: int, *, start: dt.datetime = START, skip: range = range(0)) -> list[Stamped]:
    """One backup a day at 02:00 for ``days`` days, none on the days in ``skip``."""
    return [
        Stamped(f"db/{when:%Y-%m-%d}.dump", GOOD, when)
        for when in (start + dt.timedelta(days=n) for n in range(days) if n not in skip)
    ]


def kept(items: list[Stamped], policy: Policy) -> list[str]:
    """The keys the policy keeps, newest first."""
    return [d.item.key for d in apply_policy(items, policy, now=NOW) if d.keep]


def reasons(items: list[Stamped], policy: Policy) -> dict[str, tuple[str, ...]]:
    return {d.item.key: d.reasons for d in apply_policy(items, policy, now=NOW) if d.keep}


def test_the_cron_line_keeps_7_daily_4_weekly_12_monthly() -> None:
    """A year of nightly backups under --keep-daily 7 --keep-weekly 4 --keep-monthly 12: the
    last 7 days, the newest of each of the 4 last ISO weeks, the newest of each of 12
    months (restic's buckets, in UTC)."""
    items = daily(365)  # 2026-01-01 .. 2026-12-31
    keys = kept(items, Policy(daily=7, weekly=4, monthly=12))
    days = [f"db/2026-12-{d:02d}.dump" for d in range(31, 24, -1)]
    assert keys[:7] == days
    # Sundays end ISO weeks: 2026-12-27 (W52), 12-20, 12-13; W53 is the 28th-31st.
    assert "db/2026-12-20.dump" in keys
    assert "db/2026-12-13.dump" in keys
    ends = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30]
    months = [f"db/2026-{m:02d}-{ends[m - 1]:02d}.dump" for m in range(1, 12)]
    assert set(months) <= set(keys)
    assert len(keys) == len(set(days) | {"db/2026-12-20.dump", "db/2026-12-13.dump"} | set(months))
    why = reasons(items, Policy(daily=7, weekly=4, monthly=12))
    assert why["db/2026-12-31.dump"] == ("daily 2026-12-31", "weekly 2026-W53", "monthly 2026-12")
    assert why["db/2026-11-30.dump"] == ("monthly 2026-11",)


def test_a_job_that_failed_for_a_month_keeps_the_last_good_backups() -> None:
    """No backup for 40 days: --keep-daily 7 still keeps the 7 newest days that HAVE a
    backup (a lifecycle rule of 'older than 7 days' would have deleted them all)."""
    items = daily(120, skip=range(80, 120))  # the job stopped after day 79
    keys = kept(items, Policy(daily=7))
    assert keys == [items[-1 - n].key for n in range(7)]
    assert [d.keep for d in apply_policy(items, Policy(daily=7), now=NOW)].count(True) == 7


def test_gaps_do_not_use_up_counts_of_weeks_and_months() -> None:
    """Months without backups are not counted: --keep-monthly 3 reaches back past them."""
    items = daily(200, skip=range(31, 151))  # January, then June onwards
    keys = kept(items, Policy(monthly=3))
    assert keys == ["db/2026-07-19.dump", "db/2026-06-30.dump", "db/2026-01-31.dump"]


def test_hourly_backups_and_the_last_rule() -> None:
    """Hourly backups: --keep-hourly 5 keeps the newest of each of 5 hours; --keep-last 2
    the two newest objects whatever their hour."""
    items = [
        Stamped(f"h/{n:03d}", GOOD, START + dt.timedelta(minutes=20 * n)) for n in range(30)
    ]  # three an hour
    assert kept(items, Policy(hourly=5)) == ["h/029", "h/026", "h/023", "h/020", "h/017"]
    assert kept(items, Policy(last=2)) == ["h/029", "h/028"]
    assert reasons(items, Policy(last=2))["h/029"] == ("last",)


def test_oldest_object_kept_while_counts_remain() -> None:
    """restic's 'oldest' rule: --keep-daily 10 over 3 days keeps the oldest object too."""
    items = [Stamped(f"k{n}", GOOD, START + dt.timedelta(hours=8 * n)) for n in range(9)]
    why = reasons(items, Policy(daily=10))
    assert why["k0"] == ("oldest daily 2026-01-01",)
    assert set(why) == {"k8", "k5", "k2", "k0"}


def test_keep_within_counts_from_the_newest_object_not_from_now() -> None:
    """--keep-within 10d keeps the 10 days before the newest backup, even a year later."""
    items = daily(60)
    keys = kept(items, Policy(within=dt.timedelta(days=10), within_text="10d"))
    assert len(keys) == 10  # strictly after newest - 10d
    assert reasons(items, Policy(within=dt.timedelta(days=10), within_text="10d"))[keys[0]] == (
        "within 10d",
    )


def test_keep_within_ignores_a_newest_object_in_the_future() -> None:
    """A LastModified ahead of now (a skewed store) is not 'the newest' for --keep-within."""
    items = [*daily(30), Stamped("future", GOOD, NOW + dt.timedelta(days=400))]
    keys = kept(items, Policy(within=dt.timedelta(days=3), within_text="3d"))
    assert keys[0] == "future"
    assert keys[1:] == [items[29].key, items[28].key, items[27].key]


def test_min_size_objects_do_not_count_and_are_deleted() -> None:
    """Tiny objects from a broken job neither use up --keep-last nor are kept; the good ones
    before them are."""
    good = daily(10)
    broken = [Stamped(f"db/broken-{n}", 0, START + dt.timedelta(days=10 + n)) for n in range(5)]
    decisions = apply_policy(good + broken, Policy(last=3, min_size=1 << 20), now=NOW)
    keep = [d.item.key for d in decisions if d.keep]
    assert keep == ["db/broken-4", good[9].key, good[8].key, good[7].key]
    assert decisions[0].reasons == ("newest object",)
    small = next(d for d in decisions if d.item.key == "db/broken-1")
    assert not small.keep
    assert "smaller than --min-size 1 MiB" in small.reasons[0]
    # Without --min-size, the broken ones push the good ones out.
    assert kept(good + broken, Policy(last=3)) == ["db/broken-4", "db/broken-3", "db/broken-2"]


def test_a_min_size_nothing_reaches_is_refused() -> None:
    """When no object is at least --min-size, nothing counts as a backup: refused."""
    with pytest.raises(UsageError, match="min-size"):
        apply_policy(daily(3), Policy(last=1, min_size=GOOD + 1), now=NOW)


@pytest.mark.parametrize(
    "policy", [Policy(), Policy(last=0, daily=0), Policy(within=dt.timedelta(0))]
)
def test_a_policy_that_keeps_nothing_is_refused(policy: Policy) -> None:
    """No rule at all (restic would keep everything), or only zeros: refused."""
    with pytest.raises(UsageError, match="keeps nothing"):
        apply_policy(daily(3), policy, now=NOW)


def test_ties_are_decided_by_key() -> None:
    """Objects with the same LastModified are ordered by key (the greater first)."""
    items = [Stamped(k, GOOD, START) for k in ("a", "c", "b")]
    assert kept(items, Policy(last=1)) == ["c"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("2w", 14 * 86400), ("36h", 36 * 3600), ("1w3d", 10 * 86400)],
)
def test_keep_within_durations(text: str, seconds: int) -> None:
    """--keep-within takes weeks, days and hours."""
    assert parse_keep_within(text) == (dt.timedelta(seconds=seconds), text)


@pytest.mark.parametrize("text", ["6m", "1y", "30", "0d", "-3d", "3M"])
def test_keep_within_refuses_ambiguous_or_empty_durations(text: str) -> None:
    """Months and years (m is minutes here, months in restic), bare numbers and zero."""
    with pytest.raises(UsageError):
        parse_keep_within(text)


_times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(UTC)
)
_items = st.lists(
    st.builds(Stamped, st.text("abcdef", min_size=1, max_size=6), st.integers(0, 50), _times),
    min_size=1,
    max_size=60,
    unique_by=lambda s: s.key,
)
_policies = st.builds(
    Policy,
    last=st.integers(0, 5),
    hourly=st.integers(0, 5),
    daily=st.integers(0, 5),
    weekly=st.integers(0, 5),
    monthly=st.integers(0, 5),
    yearly=st.integers(0, 3),
    within=st.one_of(st.none(), st.timedeltas(dt.timedelta(hours=1), dt.timedelta(days=90))),
    min_size=st.integers(0, 30),
).filter(lambda p: not p.keeps_nothing())


@settings(max_examples=300, deadline=None)
@given(_items, _policies)
def test_policy_properties(items: list[Stamped], policy: Policy) -> None:
    """Whatever the history and the policy: every object decided once, newest first; the
    kept set is never empty and holds the newest object; an object below --min-size is
    kept only as the newest; every decision gives its reasons."""
    if not any(i.size >= policy.min_size for i in items):
        with pytest.raises(UsageError):
            apply_policy(items, policy, now=NOW)
        return
    decisions = apply_policy(items, policy, now=NOW)
    assert sorted(d.item.key for d in decisions) == sorted(i.key for i in items)
    times = [d.item.last_modified for d in decisions]
    assert times == sorted(times, reverse=True)
    assert decisions[0].keep
    assert all(d.reasons for d in decisions)
    for d in decisions[1:]:
        if d.item.size < policy.min_size:
            assert not d.keep
    counted = [d for d in decisions if d.item.size >= policy.min_size]
    if policy.last:
        assert all(d.keep for d in counted[: policy.last])
