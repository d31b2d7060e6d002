"""Which backups a retention policy keeps: restic's ``forget`` vocabulary over objects.

The semantics are restic's (``internal/data/snapshot_policy.go``, restic 0.17), over each
object's LastModified in UTC:

- Objects are taken newest first (ties: the greater key first).
- ``--keep-last N`` keeps the N newest. ``--keep-hourly/daily/weekly/monthly/yearly N`` keep
  the newest object of each of the N most recent hours, days, ISO weeks, months or years
  *that have an object*: a month without backups does not use up a count, so a job that
  failed for a month still leaves the last good backups in place.
- When a rule still has counts left at the oldest object, that object is kept too ("oldest
  daily"): history as long as the counts allow.
- ``--keep-within D`` keeps every object newer than the newest object's time minus D (the
  newest that is not in the future), not "now" minus D: a job that stopped keeps its last
  D of backups however long ago that was.
- An object is kept if any rule keeps it, and says which rules did.

Beyond restic: a policy with no rule keeps nothing and is refused (restic keeps everything
then); the newest object is always kept; objects smaller than ``min_size`` do not count as
backups (no rule counts or keeps them: an empty object from a broken job does not push a good
one out of ``--keep-last``), and when nothing reaches ``min_size`` the run is refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._sizes import format_size, parse_duration
from ..errors import UsageError

__all__ = [
    "RULES",
    "Decision",
    "Policy",
    "Stamped",
    "apply_policy",
    "parse_keep_within",
]

# The rules that count, as restic orders them: name, the period an object falls in (its
# label; ``last`` has none: each object is its own period).
_Period = Callable[[dt.datetime], str]


def _iso_week(t: dt.datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


RULES: tuple[tuple[str, _Period | None], ...] = (
    ("last", None),
    ("hourly", lambda t: t.strftime("%Y-%m-%dT%H")),
    ("daily", lambda t: t.strftime("%Y-%m-%d")),
    ("weekly", _iso_week),
    ("monthly", lambda t: t.strftime("%Y-%m")),
    ("yearly", lambda t: t.strftime("%Y")),
)

_AMBIGUOUS_UNIT = re.compile(r"[0-9.]\s*[mMyY]")


@dataclass(frozen=True)
class Stamped:
    """What the policy knows of an object: its key, size and LastModified (aware)."""

    key: str
    size: int
    last_modified: dt.datetime


@dataclass(frozen=True)
class Policy:
    """The counts of restic's rules (0: the rule is off), ``within`` and ``min_size``."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: dt.timedelta | None = None
    within_text: str | None = None  # as given (``30d``), for the reasons
    min_size: int = 0

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name, _ in RULES}

    def keeps_nothing(self) -> bool:
        """No rule would keep anything (restic's "empty policy")."""
        within = self.within is not None and self.within > dt.timedelta(0)
        return not within and not any(self.counts().values())

    def describe(self) -> str:
        """``keep-daily 7, keep-weekly 4, keep-within 30d``, as the options said it."""
        parts = [f"keep-{name} {n}" for name, n in self.counts().items() if n]
        if self.within is not None and self.within > dt.timedelta(0):
            parts.append(f"keep-within {self.within_text or self.within}")
        if self.min_size:
            parts.append(f"min-size {format_size(self.min_size)}")
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class Decision:
    """One object's fate: kept (``reasons``: the rules that keep it, e.g. ``daily
    2026-12-04``) or not (``reasons``: why, e.g. ``not kept by any rule``)."""

    item: Stamped
    keep: bool
    reasons: tuple[str, ...]


def parse_keep_within(text: str) -> tuple[dt.timedelta, str]:
    """``30d``, ``2w``, ``36h``, ``1w3d`` as a duration, and the text as given. Months and
    years are refused: ``m`` is minutes in s3sink's durations and months in restic's, and a
    retention that keeps minutes where months were meant deletes backups."""
    stripped = text.strip()
    if _AMBIGUOUS_UNIT.search(stripped):
        raise UsageError(
            f"invalid --keep-within {text!r}: months and years are not units here (m is "
            "minutes in s3sink, months in restic); give days or weeks: 180d, 52w, 365d"
        )
    if stripped and stripped[-1].isdigit():
        raise UsageError(f"invalid --keep-within {text!r}: give a unit: 30d, 2w, 36h")
    seconds = parse_duration(stripped)
    if seconds <= 0:
        raise UsageError(f"invalid --keep-within {text!r}: it must be longer than zero")
    return dt.timedelta(seconds=seconds), stripped


def _sorted(items: Sequence[Stamped]) -> list[Stamped]:
    return sorted(items, key=lambda i: (i.last_modified, i.key), reverse=True)


def _latest(counted: Sequence[Stamped], now: dt.datetime) -> dt.datetime:
    """The newest time that is not in the future (restic's ``findLatestTimestamp``); the
    newest of all when every one is (a store's clock ahead of ours)."""
    past = [i.last_modified for i in counted if i.last_modified < now]
    return max(past) if past else counted[0].last_modified


def _rule_reasons(
    policy: Policy, counted: Sequence[Stamped], now: dt.datetime
) -> dict[int, list[str]]:
    """restic's buckets over ``counted`` (newest first): index -> the rules that keep it."""
    left = policy.counts()
    last_period: dict[str, str | None] = {name: None for name, _ in RULES}
    cutoff = None
    if policy.within is not None and policy.within > dt.timedelta(0):
        cutoff = _latest(counted, now) - policy.within
    reasons: dict[int, list[str]] = {}
    oldest = len(counted) - 1
    for nr, item in enumerate(counted):
        why: list[str] = []
        if cutoff is not None and item.last_modified > cutoff:
            why.append(f"within {policy.within_text or policy.within}")
        when = item.last_modified.astimezone(dt.timezone.utc)
        for name, period in RULES:
            if left[name] <= 0:
                continue
            label = str(nr) if period is None else period(when)
            if label != last_period[name]:
                why.append(name if period is None else f"{name} {label}")
            elif nr == oldest:
                why.append(f"oldest {name}" if period is None else f"oldest {name} {label}")
            else:
                continue
            last_period[name] = label
            left[name] -= 1
        if why:
            reasons[nr] = why
    return reasons


def apply_policy(
    items: Sequence[Stamped], policy: Policy, *, now: dt.datetime | None = None
) -> list[Decision]:
    """Each of ``items`` kept or not by ``policy``, newest first. ``now`` (default: the
    clock) only tells which times lie in the future. Raises :class:`UsageError` for a policy
    that keeps nothing, and when no object reaches ``min_size`` (nothing would count as a
    backup: the size is more likely wrong than every backup)."""
    if policy.keeps_nothing():
        raise UsageError(
            "this policy keeps nothing: give at least one of --keep-last, --keep-hourly, "
            "--keep-daily, --keep-weekly, --keep-monthly, --keep-yearly (at least 1) or "
            "--keep-within"
        )
    ordered = _sorted(items)
    if not ordered:
        return []
    counted = [n for n, item in enumerate(ordered) if item.size >= policy.min_size]
    if not counted:
        raise UsageError(
            f"no object here is at least --min-size {format_size(policy.min_size)}: none "
            "would count as a backup, so nothing is deleted; check --min-size"
        )
    now = now or dt.datetime.now(dt.timezone.utc)
    kept = _rule_reasons(policy, [ordered[n] for n in counted], now)
    reasons = {counted[nr]: why for nr, why in kept.items()}
    decisions = []
    for nr, item in enumerate(ordered):
        why = reasons.get(nr) or (["newest object"] if nr == 0 else [])
        if why:
            decisions.append(Decision(item, True, tuple(why)))
        elif item.size < policy.min_size:
            small = f"smaller than --min-size {format_size(policy.min_size)}: not a backup"
            decisions.append(Decision(item, False, (small,)))
        else:
            decisions.append(Decision(item, False, ("not kept by any rule",)))
    return decisions
