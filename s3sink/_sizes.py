"""Byte sizes and durations as people type and read them.

Options such as ``--part-size 16MiB`` or ``--older-than 7d`` arrive as text from argv and
``S3SINK_*`` variables, and messages show sizes back to people, so both directions live here,
free of I/O. Parsing is exact (integer arithmetic, no floats), so a size either names a whole
number of bytes or is refused: a part size that silently rounds is a part size nobody asked for.
Ranges (a part must be at least 5 MiB, ...) are the caller's business; zero parses fine.
"""

from __future__ import annotations

import math
import re

from s3sink.errors import UsageError

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_SIZE_EXAMPLE = "expected a size like 8MiB, 16M, 1.5GB or 1048576"
_DURATION_EXAMPLE = "expected a duration like 90s, 30m, 12h, 7d, 2w or 1h30m"

# Longer input is a mistake, not a size; the cap also keeps int() far from its digit limit.
_MAX_SIZE_TEXT = 64

# Suffix (lower case) -> bytes. IEC and single letters are 1024-based (single letters as in
# GNU coreutils' ``16M``); SI ``KB``/``MB``/... are 1000-based, as disk vendors and S3's
# console use them. P is accepted so that everything format_size prints parses back.
_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _SIZE_UNITS[_letter] = 1024**_power
    _SIZE_UNITS[f"{_letter}ib"] = 1024**_power
    _SIZE_UNITS[f"{_letter}b"] = 1000**_power
del _power, _letter

# re.ASCII: without it, [a-z] under IGNORECASE also matches the Kelvin sign and "long s",
# and \s matches exotic spaces.
_SIZE_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?\s*([a-z]*)", re.ASCII | re.IGNORECASE)

_IEC_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")

_DURATION_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_BARE_SECONDS_RE = re.compile(_NUMBER, re.ASCII)
_DURATION_RE = re.compile(rf"(?:{_NUMBER}[wdhms])+", re.ASCII)
_DURATION_PART_RE = re.compile(rf"({_NUMBER})([wdhms])", re.ASCII)


def _size_error(text: str | int, reason: str | None = None) -> UsageError:
    detail = f"{reason}; {_SIZE_EXAMPLE}" if reason else _SIZE_EXAMPLE
    return UsageError(f"invalid size {str(text)!r}: {detail}")


def parse_size(text: str | int) -> int:
    """Return the number of bytes that ``text`` names, e.g. ``"1.5 GiB"`` -> 1610612736.

    Accepts a plain byte count (``1048576`` or ``"1048576"``) or a number with a
    case-insensitive unit: ``KiB``..``PiB`` and ``K``..``P`` (1024-based), ``KB``..``PB``
    (1000-based) or ``B``. Decimals need a unit and must come to whole bytes. Raises
    :class:`UsageError` otherwise.
    """
    if isinstance(text, int):
        if isinstance(text, bool) or text < 0:
            raise _size_error(text, "a size must be a non-negative whole number of bytes")
        return text
    stripped = text.strip()
    if len(stripped) > _MAX_SIZE_TEXT:
        raise _size_error(text, "too long")
    match = _SIZE_RE.fullmatch(stripped)
    if match is None:
        if stripped.startswith("-"):
            raise _size_error(text, "a size cannot be negative")
        raise _size_error(text)
    whole: str = match.group(1)
    fraction: str | None = match.group(2)
    suffix: str = match.group(3)
    multiplier = _SIZE_UNITS.get(suffix.lower())
    if multiplier is None:
        raise _size_error(text, f"unknown unit {suffix!r}")
    if fraction is None:
        return int(whole) * multiplier
    if not suffix:
        raise _size_error(text, "a plain byte count must be a whole number")
    scale: int = 10 ** len(fraction)  # int ** int is typed Any (a negative power is a float)
    nbytes, remainder = divmod(int(whole + fraction) * multiplier, scale)
    if remainder:
        raise _size_error(text, "that is not a whole number of bytes")
    return nbytes


def format_size(n: int) -> str:
    """Return ``n`` bytes for people: ``"1023 B"``, ``"16 MiB"``, ``"1.5 GiB"``.

    IEC units up to PiB, rounded half up to at most one decimal, without a trailing ``.0``.
    Exact values (whole or half units) parse back with :func:`parse_size`.
    """
    if n < 0:
        raise ValueError(f"a size cannot be negative, got {n}")
    if n < 1024:
        return f"{n} B"
    exponent = min(len(_IEC_UNITS), (n.bit_length() - 1) // 10)
    unit = 1024**exponent
    tenths = (n * 20 + unit) // (unit * 2)  # integer round-half-up to 0.1 unit
    if tenths >= 10240 and exponent < len(_IEC_UNITS):  # 1023.96 KiB prints as 1 MiB
        exponent += 1
        unit *= 1024
        tenths = (n * 20 + unit) // (unit * 2)
    whole, tenth = divmod(tenths, 10)
    number = f"{whole}.{tenth}" if tenth else str(whole)
    return f"{number} {_IEC_UNITS[exponent - 1]}"


def _duration_error(text: str, reason: str | None = None) -> UsageError:
    detail = f"{reason}; {_DURATION_EXAMPLE}" if reason else _DURATION_EXAMPLE
    return UsageError(f"invalid duration {text!r}: {detail}")


def parse_duration(text: str) -> float:
    """Return the seconds that ``text`` names: ``"90s"``, ``"12h"``, ``"1h30m"``, ``"45"``.

    Units are ``w d h m s`` (lower case, so ``M`` is never read as months); a bare number is
    seconds. Combined units go from largest to smallest, each once, so a typo such as
    ``"30m1h"`` is refused rather than guessed at. Raises :class:`UsageError` otherwise.
    """
    stripped = text.strip()
    if _BARE_SECONDS_RE.fullmatch(stripped):
        seconds = float(stripped)
    elif _DURATION_RE.fullmatch(stripped):
        seconds = 0.0
        previous = math.inf
        for number, unit in _DURATION_PART_RE.findall(stripped):
            unit_seconds = _DURATION_UNITS[unit]
            if unit_seconds >= previous:
                raise _duration_error(text, "units must go from largest to smallest, once each")
            previous = unit_seconds
            seconds += float(number) * unit_seconds
    elif stripped.startswith("-"):
        raise _duration_error(text, "a duration cannot be negative")
    else:
        raise _duration_error(text)
    if not math.isfinite(seconds):
        raise _duration_error(text, "too large")
    return seconds


def format_duration(seconds: float) -> str:
    """Return a compact duration for progress lines: ``"0.4s"``, ``"3m05s"``, ``"3d04h"``.

    Two units at most, the smaller zero-padded so columns stay aligned; tenths of a second
    only below ten seconds, where they still carry information.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be finite and non-negative, got {seconds!r}")
    tenths = round(seconds * 10)
    if tenths < 100:
        whole, tenth = divmod(tenths, 10)
        return f"{whole}.{tenth}s" if tenth else f"{whole}s"
    total = max(10, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3_600:
        minutes, secs = divmod(total, 60)
        return f"{minutes}m{secs:02d}s"
    total_minutes = (total + 30) // 60
    if total_minutes < 24 * 60:
        hours, minutes = divmod(total_minutes, 60)
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod((total + 1_800) // 3_600, 24)
    return f"{days}d{hours:02d}h"
